//! The statuses `plan` gives objects that do not exist yet (or whose AWS identity a step
//! replaces), so that what refers to them is planned through the controllers' own loads: ids AWS
//! will assign read `(known after apply)`, names the operator derives are derived as it will.

use std::collections::BTreeSet;

use crate::api::{
    CapacityStatus, DatabaseStatus, EndpointStatus, LoadBalancerStatus, SecurityGroupsStatus, TargetGroup,
    TargetGroupStatus, WebStack, WebStackStatus,
};
use crate::model::change::KNOWN_AFTER_APPLY;
use crate::model::{Health, Owner};
use crate::reconcile::spec;
use crate::reconcile::status::{conditions, now};
use crate::reconcile::vouched::{Network, Vouched};

fn ready(generation: Option<i64>) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    let health = Health::Ready {
        message: "planned: not applied yet".into(),
    };
    conditions(&[], &health, generation, &now())
}

fn k() -> String {
    KNOWN_AFTER_APPLY.to_string()
}

/// The status a stack that does not exist yet will have once Ready, as its children read it.
pub fn stack_status(ws: &WebStack, owner: &Owner, region: &str) -> WebStackStatus {
    let spec = &ws.spec;
    let cluster = spec::cluster_name(spec, owner);
    WebStackStatus {
        observed_generation: ws.metadata.generation,
        conditions: ready(ws.metadata.generation),
        vpc_id: Some(k()),
        public_subnet_ids: vec![k()],
        private_subnet_ids: vec![k()],
        security_groups: Some(SecurityGroupsStatus {
            load_balancer: Some(k()),
            services: Some(k()),
            database: spec.database.as_ref().map(|_| k()),
        }),
        load_balancer: spec.load_balancer.as_ref().map(|lb| LoadBalancerStatus {
            arn: Some(k()),
            dns_name: Some(k()),
            listeners: lb.listeners.iter().map(|l| (l.name.clone(), k())).collect(),
        }),
        cluster_arn: Some(format!("arn:aws:ecs:{region}:{KNOWN_AFTER_APPLY}:cluster/{cluster}")),
        database: spec.database.as_ref().map(|_| DatabaseStatus {
            endpoint: Some(k()),
            secret_arn: Some(k()),
            ..DatabaseStatus::default()
        }),
        cache: spec.cache.as_ref().map(|_| EndpointStatus {
            endpoint: Some(k()),
            secret_arn: Some(k()),
            ..EndpointStatus::default()
        }),
        execution_role_arn: Some(format!(
            "arn:aws:iam::{KNOWN_AFTER_APPLY}:role/{}",
            crate::model::execution::role_name(owner)
        )),
        capacity: spec
            .cluster
            .as_ref()
            .and_then(|c| c.capacity.as_ref())
            .map(|_| CapacityStatus {
                capacity_provider: Some(k()),
                ..CapacityStatus::default()
            }),
        registries: spec.registries.iter().map(|r| (r.clone(), k())).collect(),
        ..WebStackStatus::default()
    }
}

/// What the stack's own observation will vouch for once it exists: its subnets and group
/// (`(known after apply)`), for its ContainerServices' loads.
pub fn vouch(vouched: &Vouched, ws: &WebStack) {
    let ids: BTreeSet<String> = [k()].into();
    vouched.record(
        &ws.metadata.namespace.clone().unwrap_or_default(),
        &ws.metadata.name.clone().unwrap_or_default(),
        Network {
            uid: ws.metadata.uid.clone().unwrap_or_default(),
            subnets: ids.clone(),
            groups: ids,
        },
    );
}

/// The status a target group that a plan creates (or replaces) will have once Ready: its ARN
/// not known before apply, behind a load balancer when something forwards to it.
pub fn target_group_status(tg: &TargetGroup, forwarded: bool) -> TargetGroupStatus {
    let previous = tg.status.clone().unwrap_or_default();
    TargetGroupStatus {
        observed_generation: tg.metadata.generation,
        conditions: ready(tg.metadata.generation),
        arn: Some(k()),
        load_balancer_arns: if forwarded { vec![k()] } else { Vec::new() },
        replaced_arns: previous.arn.into_iter().chain(previous.replaced_arns).collect(),
        ..previous
    }
}
