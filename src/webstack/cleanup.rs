//! Plans for deletion (pure): towards nothing, in reverse dependency order; `Retain` untags
//! instead; and the release a stack makes while its children are still being deleted.

use super::capacity;
use super::data::{self, DataCleanup};
use super::step::Step;
use crate::api::DeletionPolicy;
use crate::model::data::DataDeletion;
use crate::model::ownership::MANAGED_BY;
use crate::model::stack::{ObservedStack, SgRole};

/// The cleanup plan for `policy`; `data` is what the spec says of the database. The data tier goes
/// first (the rest cannot go while it sits in the network). A retained database keeps the network
/// it lives in: the VPC, its subnets, tables, gateway and groups are untagged, not deleted (the
/// load balancer and the cluster go as usual).
pub fn plan_cleanup(observed: &ObservedStack, policy: DeletionPolicy, data: DataCleanup) -> Vec<Step> {
    // DNS records first (already gone in the release, normally): they point at the load balancer.
    let dns: Vec<Step> = super::dns::plan_cleanup(&observed.dns)
        .into_iter()
        .map(Step::Dns)
        .collect();
    // EC2 capacity first: its instances sit in the network; the services on it are gone already.
    let retain = policy == DeletionPolicy::Retain;
    // Alarms first: they only watch the rest.
    let alarms = super::alarms::plan_cleanup(&observed.alarms, retain)
        .into_iter()
        .map(Step::Alarms);
    let capacity = capacity::plan_cleanup(&observed.capacity, retain)
        .into_iter()
        .map(Step::Capacity);
    // Flow logs before the VPC they watch (a retained network keeps no flow logs of the stack's).
    let flow_logs: Vec<Step> = super::flowlogs::plan_cleanup(&observed.flow_logs, retain)
        .into_iter()
        .map(Step::FlowLogs)
        .collect();
    if retain {
        let mut steps = dns;
        steps.extend(alarms);
        steps.extend(flow_logs);
        steps.extend(plan_retain(observed));
        steps.extend(capacity);
        steps.extend(
            data::plan_cleanup(
                &observed.data,
                DataCleanup {
                    deletion: DataDeletion::Retain,
                    ..data
                },
            )
            .into_iter()
            .map(Step::Data),
        );
        steps.extend(role_cleanup(observed, true));
        return steps;
    }
    let mut steps: Vec<Step> = dns;
    steps.extend(alarms);
    steps.extend(capacity);
    steps.extend(flow_logs);
    steps.extend(data::plan_cleanup(&observed.data, data).into_iter().map(Step::Data));
    let data_stays =
        data.deletion == DataDeletion::Retain && (observed.data.database.is_some() || observed.data.cache.is_some());
    if data_stays {
        let rest = ObservedStack {
            vpc: None,
            subnets: Vec::new(),
            internet_gateway: None,
            route_tables: Vec::new(),
            security_groups: Vec::new(),
            duplicate_vpcs: Vec::new(),
            duplicate_gateways: Vec::new(),
            ..observed.clone()
        };
        let network = ObservedStack {
            load_balancer: None,
            listeners: Vec::new(),
            cluster: None,
            ..observed.clone()
        };
        steps.extend(plan_delete(&rest));
        steps.extend(plan_retain(&network));
        steps.extend(role_cleanup(observed, false));
        return steps;
    }
    steps.extend(
        super::egress::plan_cleanup(&observed.egress)
            .into_iter()
            .map(Step::Egress),
    );
    steps.extend(plan_delete(observed));
    steps.extend(role_cleanup(observed, false));
    steps
}

/// The task execution role's cleanup, after everything that uses it.
fn role_cleanup(observed: &ObservedStack, retain: bool) -> Vec<Step> {
    let role = observed.execution_role.as_ref();
    super::role::plan_cleanup(role, retain)
        .into_iter()
        .map(Step::Role)
        .collect()
}

/// While its children are being deleted, a stack stops forwarding to target groups from its
/// listeners' default actions: it never waits on a reference that it holds itself.
pub fn plan_release(observed: &ObservedStack) -> Vec<Step> {
    // Its own children are deleted first (their finalizers delete their AWS resources): the
    // garbage collector would only get to them once the stack is gone, which waits for them.
    // DNS records go first: none may point at a distribution or load balancer being deleted
    // (`Retain` keeps them, releasing their ownership records).
    let mut steps: Vec<Step> = super::dns::plan_cleanup(&observed.dns)
        .into_iter()
        .map(Step::Dns)
        .collect();
    let children = crate::model::children::prune(&[], &observed.children);
    steps.extend(children.into_iter().map(Step::Child));
    steps.extend(
        observed
            .listeners
            .iter()
            .filter(|l| l.default_action.as_ref().is_some_and(|a| a.forwards()))
            .map(|l| Step::ReleaseListener {
                arn: l.arn.clone(),
                port: l.port,
            }),
    );
    steps
}

/// `Retain`: every resource the delete plan would delete keeps existing, its ownership tags removed.
pub fn plan_retain(observed: &ObservedStack) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut ids: Vec<String> = observed
        .subnets
        .iter()
        .filter(|s| s.component.is_some())
        .map(|s| s.id.clone())
        .collect();
    let vpcs = observed
        .vpc
        .iter()
        .filter(|v| v.managed)
        .chain(&observed.duplicate_vpcs);
    ids.extend(vpcs.map(|v| v.id.clone()));
    let gateways = observed.internet_gateway.iter().chain(&observed.duplicate_gateways);
    ids.extend(gateways.map(|g| g.id.clone()));
    ids.extend(observed.route_tables.iter().map(|t| t.id.clone()));
    ids.extend(observed.security_groups.iter().map(|g| g.id.clone()));
    ids.extend(super::egress::retained_ids(&observed.egress));
    if !ids.is_empty() {
        steps.push(Step::UntagEc2 { ids });
    }
    let mut arns: Vec<String> = observed.load_balancer.iter().map(|l| l.arn.clone()).collect();
    if !arns.is_empty() {
        arns.extend(observed.listeners.iter().map(|l| l.arn.clone()));
        steps.push(Step::UntagLoadBalancer { arns });
    }
    if let Some(c) = observed.cluster.as_ref().filter(|c| c.active) {
        steps.push(Step::UntagCluster { arn: c.arn.clone() });
    }
    steps
}

/// Plan towards nothing: delete what the operator created, in reverse dependency order. An adopted
/// VPC and its subnets are never deleted (they are not observed as managed). In a VPC the stack
/// created, a subnet whose tags were removed by hand (untagged, not another owner's) is deleted
/// too: the VPC cannot go while it remains.
pub fn plan_delete(observed: &ObservedStack) -> Vec<Step> {
    let mut steps = Vec::new();
    for l in &observed.listeners {
        steps.push(Step::DeleteListener {
            arn: l.arn.clone(),
            port: l.port,
        });
    }
    if let Some(lb) = &observed.load_balancer {
        steps.push(Step::DeleteLoadBalancer { arn: lb.arn.clone() });
    }
    // Referencing groups first: database refers to services, services to the load balancer.
    for role in [
        SgRole::Endpoints,
        SgRole::Database,
        SgRole::Services,
        SgRole::LoadBalancer,
    ] {
        if let Some(id) = observed.group_id(role) {
            steps.push(Step::DeleteSecurityGroup { role, id: id.into() });
        }
    }
    let managed_vpc = observed.vpc.as_ref().filter(|v| v.managed);
    let stripped = |s: &&crate::model::stack::ObservedSubnet| {
        managed_vpc.is_some_and(|v| v.id == s.vpc_id) && !s.tags.contains_key(MANAGED_BY)
    };
    for s in observed.subnets.iter().filter(|s| s.component.is_some() || stripped(s)) {
        steps.push(Step::DeleteSubnet { id: s.id.clone() });
    }
    // AWS drops the associations of deleted subnets; removing them first also covers a subnet
    // that survives (and the emulator, which keeps them).
    for t in &observed.route_tables {
        for a in &t.association_ids {
            steps.push(Step::DisassociateRouteTable {
                association_id: a.clone(),
            });
        }
        steps.push(Step::DeleteRouteTable { id: t.id.clone() });
    }
    for g in observed.internet_gateway.iter().chain(&observed.duplicate_gateways) {
        if let Some(vpc_id) = &g.attached_vpc {
            steps.push(Step::DetachInternetGateway {
                id: g.id.clone(),
                vpc_id: vpc_id.clone(),
            });
        }
        steps.push(Step::DeleteInternetGateway { id: g.id.clone() });
    }
    for v in managed_vpc.into_iter().chain(&observed.duplicate_vpcs) {
        steps.push(Step::DeleteVpc { id: v.id.clone() });
    }
    if let Some(c) = observed.cluster.as_ref().filter(|c| c.active) {
        steps.push(Step::DeleteCluster { arn: c.arn.clone() });
    }
    steps
}
