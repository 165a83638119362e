//! The WebStack status and health, computed from what was observed (pure).

use std::collections::BTreeMap;

use super::parts::data::waiting_for;
use super::parts::{Step, alarms, dns, egress, registries};
use crate::api::{
    CapacityStatus, DatabaseStatus, EndpointStatus, InlineServiceStatus, LoadBalancerStatus, SecurityGroupsStatus,
    WebStackStatus,
};
use crate::model::Health;
use crate::model::children::{ChildKind, not_ready};
use crate::model::stack::{DesiredNetwork, DesiredStack, ObservedStack, SgRole};
use crate::reconcile::vouched::Network;

/// Status fields and health; conditions are added by the driver.
pub fn status(desired: &DesiredStack, observed: &ObservedStack, remaining: &[Step]) -> (WebStackStatus, Health) {
    let health = if remaining.is_empty() {
        settled(desired, observed)
    } else {
        Health::progressing("Provisioning", "converging")
    };
    (fields(desired, observed), health)
}

/// Health once nothing is left to change: Ready, unless a listener waits for a TargetGroup, or the
/// load balancer is still provisioning (an ALB takes minutes) or has failed.
pub fn settled(desired: &DesiredStack, observed: &ObservedStack) -> Health {
    let pending = desired.pending();
    if !pending.is_empty() {
        return Health::waiting(format!(
            "waiting for TargetGroup {} to be Ready (its listener is not created yet)",
            pending.join(", ")
        ));
    }
    if let Some(waiting) = dns::waiting_for(desired.dns.as_ref(), &observed.dns) {
        return Health::progressing("Provisioning", waiting);
    }
    if let Some(waiting) = egress::waiting_for(&observed.egress) {
        return Health::progressing("Provisioning", waiting);
    }
    if let Some(waiting) = waiting_for(desired.database.as_ref(), desired.cache.as_ref(), &observed.data) {
        return Health::progressing("Provisioning", waiting);
    }
    if let Some((role, left)) = observed.execution_role.as_ref().and_then(|r| Some((r, r.young_for?))) {
        return Health::progressing(
            "Provisioning",
            format!(
                "task execution role {} was just created: it is handed to the services in {}s, once ECS \
                 can assume it (IAM is eventually consistent)",
                role.name,
                left.as_secs().max(1)
            ),
        );
    }
    match observed.load_balancer.as_ref().map(|lb| lb.state.as_str()) {
        None | Some("active") => children_health(desired, observed),
        Some("failed") => Health::Stalled {
            reason: "AwsError",
            message: "the load balancer is in state failed".into(),
        },
        Some(state) => Health::progressing("Provisioning", format!("the load balancer is {state}")),
    }
}

/// Ready once every child is: the message names those that are not.
fn children_health(desired: &DesiredStack, observed: &ObservedStack) -> Health {
    let waiting = not_ready(&desired.children, &observed.children);
    let kept = registries::kept(&desired.registries, &observed.registries);
    if waiting.is_empty() && !kept.is_empty() {
        Health::ready(format!(
            "AWS matches the spec; ECR repository {} is no longer in spec.registries but holds images, so it is kept: delete its images to have it deleted",
            kept.join(", ")
        ))
    } else if waiting.is_empty() {
        Health::ready("AWS matches the spec")
    } else {
        Health::waiting(format!("waiting for {}", waiting.join(", ")))
    }
}

/// Per inline service: Ready when all of its children are, and its ContainerService's figures.
fn services(desired: &DesiredStack, observed: &ObservedStack) -> Vec<InlineServiceStatus> {
    let mut names: Vec<&str> = Vec::new();
    for s in desired.children.iter().filter_map(|c| c.service.as_deref()) {
        if !names.contains(&s) {
            names.push(s);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mine: Vec<_> = desired
                .children
                .iter()
                .filter(|c| c.service.as_deref() == Some(name))
                .cloned()
                .collect();
            let figures = mine
                .iter()
                .filter(|c| c.kind == ChildKind::ContainerService)
                .find_map(|c| {
                    observed
                        .children
                        .iter()
                        .find(|o| o.kind == c.kind && o.name == c.name)?
                        .figures
                        .clone()
                })
                .unwrap_or_default();
            InlineServiceStatus {
                name: name.to_string(),
                ready: not_ready(&mine, &observed.children).is_empty(),
                running_count: figures.running,
                desired_count: figures.desired,
                task_definition_revision: figures.revision,
            }
        })
        .collect()
}

/// The EC2 capacity, when there is any; the provider only once the cluster has it.
fn capacity(o: &crate::model::capacity::ObservedCapacity) -> Option<CapacityStatus> {
    if !o.anything() {
        return None;
    }
    let template = o.template.as_ref();
    Some(CapacityStatus {
        capacity_provider: o.usable_provider().map(String::from),
        auto_scaling_group: o.group.as_ref().map(|g| g.name.clone()),
        instances: o.group.as_ref().map(|g| g.instances),
        launch_template_id: template.map(|t| t.id.clone()),
        launch_template_version: template.map(|t| t.latest_version),
        image_id: template.map(|t| t.latest.image_id.clone()),
    })
}

/// What this observation vouches for as the stack's: the subnets and the services' group its
/// status names (found by the stack's ownership tags, or in the adopted VPC).
pub fn vouched(ws: &crate::api::WebStack, desired: &DesiredStack, observed: &ObservedStack) -> Network {
    let status = fields(desired, observed);
    let subnets = status.public_subnet_ids.into_iter().chain(status.private_subnet_ids);
    Network {
        uid: ws.metadata.uid.clone().unwrap_or_default(),
        subnets: subnets.collect(),
        groups: status.security_groups.and_then(|g| g.services).into_iter().collect(),
    }
}

/// Status fields from the observed resources.
fn fields(desired: &DesiredStack, observed: &ObservedStack) -> WebStackStatus {
    let subnets = |public: bool| -> Vec<String> {
        match &desired.network {
            DesiredNetwork::Adopt {
                public_subnet_ids,
                private_subnet_ids,
                ..
            } => {
                if public {
                    public_subnet_ids.clone()
                } else {
                    private_subnet_ids.clone()
                }
            }
            DesiredNetwork::Create { subnets, .. } => subnets
                .iter()
                .filter(|s| s.public == public)
                .filter_map(|s| {
                    observed
                        .subnets
                        .iter()
                        .find(|o| o.component.as_deref() == Some(&s.component))
                })
                .map(|o| o.id.clone())
                .collect(),
        }
    };
    let group = |r: SgRole| observed.group_id(r).map(String::from);
    let listeners: BTreeMap<String, String> = desired
        .load_balancer
        .iter()
        .flat_map(|lb| &lb.listeners)
        .filter_map(|d| {
            Some((
                d.name.clone(),
                observed.listeners.iter().find(|l| l.port == d.port)?.arn.clone(),
            ))
        })
        .collect();
    WebStackStatus {
        vpc_id: observed.vpc.as_ref().map(|v| v.id.clone()),
        public_subnet_ids: subnets(true),
        private_subnet_ids: subnets(false),
        security_groups: Some(SecurityGroupsStatus {
            load_balancer: group(SgRole::LoadBalancer),
            services: group(SgRole::Services),
            database: group(SgRole::Database),
        }),
        load_balancer: observed.load_balancer.as_ref().map(|lb| LoadBalancerStatus {
            arn: Some(lb.arn.clone()),
            dns_name: Some(lb.dns_name.clone()),
            listeners,
        }),
        cluster_arn: observed.cluster.as_ref().filter(|c| c.active).map(|c| c.arn.clone()),
        // Handed to the services once ECS can assume it (a task started with a younger role may fail).
        execution_role_arn: observed
            .execution_role
            .as_ref()
            .filter(|r| r.young_for.is_none())
            .map(|r| r.arn.clone()),
        database: observed.data.database.as_ref().map(|db| DatabaseStatus {
            endpoint: db.endpoint.as_ref().map(|e| e.0.clone()),
            port: db.endpoint.as_ref().map(|e| e.1),
            status: Some(db.status.clone()),
            secret_arn: observed.data.db_secret.as_ref().map(|s| s.arn.clone()),
        }),
        cache: observed.data.cache.as_ref().map(|c| EndpointStatus {
            endpoint: c.endpoint.as_ref().map(|e| e.0.clone()),
            port: c.endpoint.as_ref().map(|e| e.1),
            secret_arn: observed.data.cache_secret.as_ref().map(|s| s.arn.clone()),
        }),
        capacity: capacity(&observed.capacity),
        services: services(desired, observed),
        dns: dns::status(&desired.owner, desired.dns.as_ref(), &observed.dns),
        flow_logs: flow_logs(&observed.flow_logs),
        registries: registries::status(&observed.registries),
        alarms: alarms::status(desired, observed),
        ..WebStackStatus::default()
    }
}

/// The flow log and its group, while either exists (a disabled stack's group keeps its history).
fn flow_logs(o: &crate::model::flowlogs::ObservedFlowLogs) -> Option<crate::api::FlowLogsStatus> {
    let log = o.flow_logs.first();
    (log.is_some() || o.log_group.is_some()).then(|| crate::api::FlowLogsStatus {
        flow_log_id: log.map(|l| l.id.clone()),
        log_group: o.log_group.as_ref().map(|g| g.name.clone()),
        delivery: log.and_then(|l| l.delivery.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Owner;
    use crate::model::stack::ObservedLoadBalancer;

    /// A stack with nothing pending.
    fn nothing() -> DesiredStack {
        let spec: crate::api::WebStackSpec = serde_yaml::from_str("network: {cidr: 10.0.0.0/16}").unwrap();
        let owner = Owner {
            cluster_id: "c".into(),
            namespace: "n".into(),
            kind: "WebStack",
            name: "s".into(),
            uid: "u".into(),
        };
        super::super::validate::validate(&spec, owner, &["z".into(), "y".into()], &Default::default()).unwrap()
    }

    #[test]
    fn ready_waits_for_an_active_load_balancer() {
        let with = |state: &str| ObservedStack {
            load_balancer: Some(ObservedLoadBalancer {
                arn: "arn".into(),
                dns_name: String::new(),
                canonical_hosted_zone_id: String::new(),
                dualstack: false,
                internal: false,
                idle_timeout_seconds: Some(60),
                tags: Default::default(),
                vpc_id: String::new(),
                state: state.into(),
                security_groups: Vec::new(),
            }),
            ..ObservedStack::default()
        };
        assert!(matches!(settled(&nothing(), &with("active")), Health::Ready { .. }));
        assert!(matches!(
            settled(&nothing(), &ObservedStack::default()),
            Health::Ready { .. }
        ));
        assert_eq!(
            settled(&nothing(), &with("provisioning")),
            Health::progressing("Provisioning", "the load balancer is provisioning")
        );
        assert!(matches!(settled(&nothing(), &with("failed")), Health::Stalled { .. }));
    }

    /// A task execution role created seconds ago is not handed to the services (a task started
    /// with it may fail to assume it, enough failures trip a new service's circuit breaker): the
    /// stack waits, naming the role, and publishes it once it is old enough.
    #[test]
    fn a_new_execution_role_is_handed_out_once_ecs_can_assume_it() {
        use crate::model::role::{ObservedRole, PROPAGATION, young_for};
        let role = |young: Option<std::time::Duration>| ObservedStack {
            execution_role: Some(ObservedRole {
                young_for: young,
                ..ObservedRole::known(
                    crate::model::execution::EXECUTION_ROLE,
                    "webstack-exec-s",
                    "arn:aws:iam::1:role/webstack-exec-s",
                )
            }),
            ..ObservedStack::default()
        };
        let young = role(young_for(std::time::Duration::from_secs(3)));
        let (fields, health) = status(&nothing(), &young, &[]);
        assert_eq!(fields.execution_role_arn, None);
        match health {
            Health::Progressing { reason, message } => {
                assert_eq!(reason, "Provisioning");
                assert!(
                    message.contains("webstack-exec-s") && message.contains("in 7s"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(young_for(PROPAGATION), None);
        let (fields, health) = status(&nothing(), &role(young_for(PROPAGATION)), &[]);
        assert_eq!(
            fields.execution_role_arn.as_deref(),
            Some("arn:aws:iam::1:role/webstack-exec-s")
        );
        assert!(matches!(health, Health::Ready { .. }), "{health:?}");
    }

    /// A repository removed from `spec.registries` but holding images: Ready, saying it is kept.
    #[test]
    fn ready_names_a_kept_repository() {
        let kept = ObservedStack {
            registries: vec![crate::model::registry::ObservedRepository {
                name: "old".into(),
                aws_name: "n/s/old".into(),
                arn: "arn".into(),
                uri: "1.dkr.ecr.us-east-1.amazonaws.com/n/s/old".into(),
                scan_on_push: true,
                tag_mutability: "IMMUTABLE".into(),
                tags: Default::default(),
                lifecycle_policy: None,
                has_images: Some(true),
            }],
            ..ObservedStack::default()
        };
        match settled(&nothing(), &kept) {
            Health::Ready { message } => assert!(message.contains("n/s/old") && message.contains("holds images")),
            other => panic!("{other:?}"),
        }
        let (fields, _) = status(&nothing(), &kept, &[]);
        assert_eq!(fields.registries["old"], "1.dkr.ecr.us-east-1.amazonaws.com/n/s/old");
    }
}
