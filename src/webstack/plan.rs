//! plan: a pure function from desired and observed state to the steps that make AWS match,
//! in dependency order. No I/O. The same steps are what drift reports and `paused` show.

use std::collections::BTreeSet;

pub use super::step::{PUBLIC_ROUTE_TABLE, Step};
use super::{capacity, data};
use crate::model::TagMap;
use crate::model::data::{DataDeletion, ObservedData};
use crate::model::ownership::{MANAGED_BY, missing_tags};
use crate::model::stack::{
    DesiredListener, DesiredNetwork, DesiredStack, DesiredSubnet, Ingress, ObservedListener, ObservedStack,
    ObservedSubnet, SgRole,
};

/// Steps that make `observed` match `desired`, in dependency order.
pub fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<Step> {
    let mut steps = Vec::new();
    if let DesiredNetwork::Create { cidr, subnets, .. } = &desired.network {
        plan_network(desired, &cidr.to_string(), subnets, observed, &mut steps);
        plan_duplicates(observed, &mut steps);
    }
    plan_security_groups(desired, observed, &mut steps);
    // Egress after the groups: interface endpoints sit in the endpoints group.
    if let DesiredNetwork::Create { subnets, egress, .. } = &desired.network {
        let zones = subnets.iter().filter(|s| !s.public).count();
        steps.extend(
            super::egress::plan(desired, egress, zones, observed)
                .into_iter()
                .map(Step::Egress),
        );
    }
    plan_flow_logs(desired, observed, &mut steps);
    plan_load_balancer(desired, observed, &mut steps);
    plan_cluster(desired, observed, &mut steps);
    // Repositories before the role that pulls from them and the services that name them.
    let registries = super::registry::plan(&desired.registries, &observed.registries, |name| {
        desired.tags_for(&crate::model::registry::component(name))
    });
    steps.extend(registries.into_iter().map(Step::Registry));
    steps.extend(super::role::plan(desired, observed).into_iter().map(Step::Role));
    plan_capacity(desired, observed, &mut steps);
    // Children before the data tier: services start while RDS creates the database.
    let children = crate::model::children::plan(&desired.children, &observed.children);
    steps.extend(children.into_iter().map(Step::Child));
    // DNS records once their targets exist (the load balancer above, the static site's child).
    let dns = super::dns::plan(
        &desired.owner,
        desired.dns.as_ref(),
        observed.load_balancer.as_ref(),
        &observed.dns,
    );
    steps.extend(dns.into_iter().map(Step::Dns));
    plan_data(desired, observed, &mut steps);
    steps.extend(
        super::alarms::plan_stack(desired, observed)
            .into_iter()
            .map(Step::Alarms),
    );
    steps
}

/// The private subnets' ids, sorted, when every one is known.
pub fn private_subnets(desired: &DesiredStack, observed: &ObservedStack) -> Option<Vec<String>> {
    let mut ids = match &desired.network {
        DesiredNetwork::Adopt { private_subnet_ids, .. } => private_subnet_ids.clone(),
        DesiredNetwork::Create { subnets, .. } => subnets
            .iter()
            .filter(|s| !s.public)
            .map(|s| match_subnet(s, observed).map(|o| o.id.clone()))
            .collect::<Option<Vec<_>>>()?,
    };
    ids.sort();
    Some(ids)
}

/// Flow logs once the VPC exists (a created VPC's id comes from observation); disabled, the flow
/// logs and their role go.
fn plan_flow_logs(desired: &DesiredStack, observed: &ObservedStack, steps: &mut Vec<Step>) {
    use super::flowlogs::{self, LOG_GROUP, ROLE, Tags};
    let o = &observed.flow_logs;
    let planned = match &desired.flow_logs {
        Some(want) => {
            let mut want = want.clone();
            if want.vpc_id.is_none() {
                want.vpc_id = observed.vpc.as_ref().filter(|v| v.managed).map(|v| v.id.clone());
            }
            let tags = Tags {
                log_group: desired.tags_for(LOG_GROUP),
                role: desired.tags_for(ROLE),
            };
            flowlogs::plan(&want, o, &tags)
        }
        None => flowlogs::plan_disabled(o),
    };
    steps.extend(planned.into_iter().map(Step::FlowLogs));
}

/// EC2 capacity after the cluster and network it joins, before the services that run on it; a
/// capacity the spec no longer has is deleted.
fn plan_capacity(desired: &DesiredStack, observed: &ObservedStack, steps: &mut Vec<Step>) {
    let tags = desired.tags_for("capacity");
    let cx = capacity::Context {
        tags: &tags,
        private_subnets: private_subnets(desired, observed),
        services_group: observed.group_id(SgRole::Services).map(String::from),
    };
    let planned = match &desired.capacity {
        Some(c) => capacity::plan(c, &observed.capacity, &cx),
        None => capacity::plan_cleanup(&observed.capacity, false),
    };
    steps.extend(planned.into_iter().map(Step::Capacity));
}

/// The data tier, last: its waits (RDS takes minutes) hold nothing else up. A database or cache
/// the spec no longer has is deleted (after a final snapshot: the default policy).
fn plan_data(desired: &DesiredStack, observed: &ObservedStack, steps: &mut Vec<Step>) {
    let o = &observed.data;
    let subnets = private_subnets(desired, observed);
    let mut data = Vec::new();
    let db_tags = desired.tags_for("database");
    let cx = |tags| data::Context {
        owner: &desired.owner,
        tags,
        private_subnets: subnets.clone(),
    };
    match &desired.database {
        Some(d) => data.extend(data::plan_database(d, o, &cx(&db_tags))),
        None => {
            let gone = ObservedData {
                database: o.database.clone(),
                db_subnet_group: o.db_subnet_group.clone(),
                db_secret: o.db_secret.clone(),
                db_connection: o.db_connection,
                ..ObservedData::default()
            };
            data.extend(data::plan_cleanup(
                &gone,
                data::DataCleanup {
                    deletion: DataDeletion::Snapshot,
                    protection_wanted: false,
                },
            ));
        }
    }
    let cache_tags = desired.tags_for("cache");
    match &desired.cache {
        Some(c) => data.extend(data::plan_cache(c, o, &cx(&cache_tags))),
        None => {
            let gone = ObservedData {
                cache: o.cache.clone(),
                cache_subnet_group: o.cache_subnet_group.clone(),
                cache_secret: o.cache_secret.clone(),
                cache_connection: o.cache_connection,
                ..ObservedData::default()
            };
            data.extend(data::plan_cleanup(
                &gone,
                data::DataCleanup {
                    deletion: DataDeletion::Delete,
                    protection_wanted: false,
                },
            ));
        }
    }
    steps.extend(data.into_iter().map(Step::Data));
}

/// The observed subnet that is `s` (see [`ObservedStack::match_subnet`]).
pub fn match_subnet<'a>(s: &DesiredSubnet, observed: &'a ObservedStack) -> Option<&'a ObservedSubnet> {
    observed.match_subnet(s)
}

fn restore_tags(desired: &DesiredStack, component: &str, id: &str, have: &TagMap, steps: &mut Vec<Step>) {
    let keys = missing_tags(&desired.tags_for(component), have);
    if !keys.is_empty() {
        steps.push(Step::RestoreTags {
            component: component.into(),
            id: id.into(),
            keys,
        });
    }
}

fn plan_network(
    desired: &DesiredStack,
    cidr: &str,
    subnets: &[DesiredSubnet],
    observed: &ObservedStack,
    steps: &mut Vec<Step>,
) {
    if observed.vpc.is_none() {
        steps.push(Step::CreateVpc { cidr: cidr.into() });
    }
    let igw = observed.internet_gateway.as_ref();
    if igw.is_none() {
        steps.push(Step::CreateInternetGateway);
    }
    let attached_here = match (igw, &observed.vpc) {
        (Some(g), Some(v)) => g.attached_vpc.as_deref() == Some(v.id.as_str()),
        _ => false,
    };
    if !attached_here {
        steps.push(Step::AttachInternetGateway);
    }
    for s in subnets {
        match match_subnet(s, observed) {
            Some(o) => restore_tags(desired, &s.component, &o.id, &o.tags, steps),
            None => steps.push(Step::CreateSubnet {
                component: s.component.clone(),
                cidr: s.cidr.to_string(),
                availability_zone: s.availability_zone.clone(),
            }),
        }
    }
    let table = observed.route_tables.iter().find(|t| t.component == PUBLIC_ROUTE_TABLE);
    match table {
        Some(t) => restore_tags(desired, PUBLIC_ROUTE_TABLE, &t.id, &t.tags, steps),
        None => steps.push(Step::CreateRouteTable {
            component: PUBLIC_ROUTE_TABLE.into(),
        }),
    }
    let routed = match (table, igw) {
        (Some(t), Some(g)) => t.default_route.as_deref() == Some(g.id.as_str()),
        _ => false,
    };
    if !routed {
        steps.push(Step::CreateDefaultRoute);
    }
    for s in subnets.iter().filter(|s| s.public) {
        let associated = match (table, match_subnet(s, observed)) {
            (Some(t), Some(o)) => t.associated_subnets.contains(&o.id),
            _ => false,
        };
        if !associated {
            steps.push(Step::AssociateRouteTable {
                subnet_component: s.component.clone(),
            });
        }
    }
}

/// Copies a retried create made (never used: nothing was built on them) are deleted.
fn plan_duplicates(observed: &ObservedStack, steps: &mut Vec<Step>) {
    for g in &observed.duplicate_gateways {
        if let Some(vpc_id) = &g.attached_vpc {
            steps.push(Step::DetachInternetGateway {
                id: g.id.clone(),
                vpc_id: vpc_id.clone(),
            });
        }
        steps.push(Step::DeleteInternetGateway { id: g.id.clone() });
    }
    for v in &observed.duplicate_vpcs {
        steps.push(Step::DeleteVpc { id: v.id.clone() });
    }
}

fn plan_security_groups(desired: &DesiredStack, observed: &ObservedStack, steps: &mut Vec<Step>) {
    for g in &desired.security_groups {
        match observed.security_groups.iter().find(|o| o.role == g.role) {
            Some(o) => restore_tags(desired, g.role.component(), &o.id, &o.tags, steps),
            None => steps.push(Step::CreateSecurityGroup { role: g.role }),
        }
    }
    // Rules after every group exists, since rules reference groups.
    for g in &desired.security_groups {
        let have: BTreeSet<Ingress> = observed
            .security_groups
            .iter()
            .filter(|o| o.role == g.role)
            .flat_map(|o| o.ingress.iter().map(|r| observed.ingress(r)))
            .collect();
        let add: Vec<_> = g.ingress.difference(&have).cloned().collect();
        let remove: Vec<_> = have.difference(&g.ingress).cloned().collect();
        if !remove.is_empty() {
            steps.push(Step::RevokeIngress {
                role: g.role,
                rules: remove,
            });
        }
        if !add.is_empty() {
            steps.push(Step::AuthorizeIngress {
                role: g.role,
                rules: add,
            });
        }
    }
    // A group the spec no longer needs (the database group once database and cache are gone from
    // the spec, and from AWS: their network interfaces hold it until they are deleted).
    let data_left = observed.data.database.is_some() || observed.data.cache.is_some();
    for o in &observed.security_groups {
        let wanted = desired.security_groups.iter().any(|g| g.role == o.role);
        let endpoints_left = observed.egress.endpoints.iter().any(|e| !e.endpoint.gateway());
        let held = (o.role == SgRole::Database && data_left) || (o.role == SgRole::Endpoints && endpoints_left);
        if !wanted && !held {
            steps.push(Step::DeleteSecurityGroup {
                role: o.role,
                id: o.id.clone(),
            });
        }
    }
}

fn plan_load_balancer(desired: &DesiredStack, observed: &ObservedStack, steps: &mut Vec<Step>) {
    let Some(lb) = &desired.load_balancer else {
        if let Some(o) = &observed.load_balancer {
            for l in &observed.listeners {
                steps.push(Step::DeleteListener {
                    arn: l.arn.clone(),
                    port: l.port,
                });
            }
            steps.push(Step::DeleteLoadBalancer { arn: o.arn.clone() });
        }
        return;
    };
    let existing = observed.load_balancer.as_ref().filter(|o| o.internal == lb.internal);
    if let Some(o) = observed.load_balancer.as_ref().filter(|o| o.internal != lb.internal) {
        // The scheme cannot change in place: replace the load balancer.
        for l in &observed.listeners {
            steps.push(Step::DeleteListener {
                arn: l.arn.clone(),
                port: l.port,
            });
        }
        steps.push(Step::DeleteLoadBalancer { arn: o.arn.clone() });
    }
    match existing {
        None => {
            steps.push(Step::CreateLoadBalancer { name: lb.name.clone() });
            steps.push(Step::ModifyIdleTimeout {
                from: None,
                to: lb.idle_timeout_seconds,
            });
            for l in lb.listeners.iter().filter(|l| l.pending.is_none()) {
                steps.push(Step::CreateListener {
                    name: l.name.clone(),
                    port: l.port,
                });
            }
        }
        Some(o) => {
            if o.tags.contains_key(MANAGED_BY) {
                restore_tags(desired, "load-balancer", &o.arn, &o.tags, steps);
            } else {
                steps.push(Step::AdoptLoadBalancer { arn: o.arn.clone() });
            }
            let ours = observed.group_id(SgRole::LoadBalancer);
            if ours.is_none_or(|g| o.security_groups != [g]) {
                steps.push(Step::SetLoadBalancerSecurityGroups { arn: o.arn.clone() });
            }
            if o.idle_timeout_seconds != Some(lb.idle_timeout_seconds) {
                steps.push(Step::ModifyIdleTimeout {
                    from: o.idle_timeout_seconds,
                    to: lb.idle_timeout_seconds,
                });
            }
            // Listeners are matched by port: a port is unique per load balancer.
            for l in &observed.listeners {
                if !lb.listeners.iter().any(|d| d.port == l.port) {
                    steps.push(Step::DeleteListener {
                        arn: l.arn.clone(),
                        port: l.port,
                    });
                }
            }
            for d in lb.listeners.iter().filter(|d| d.pending.is_none()) {
                match observed.listeners.iter().find(|l| l.port == d.port) {
                    None => steps.push(Step::CreateListener {
                        name: d.name.clone(),
                        port: d.port,
                    }),
                    Some(l) => {
                        let changes = listener_changes(d, l);
                        if !changes.is_empty() {
                            steps.push(Step::ModifyListener {
                                arn: l.arn.clone(),
                                name: d.name.clone(),
                                changes,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// The fields of a listener that differ; AWS's default SSL policy counts as "unset".
pub fn listener_changes(d: &DesiredListener, o: &ObservedListener) -> Vec<&'static str> {
    let mut changes = Vec::new();
    if d.https != o.https {
        changes.push("protocol");
    }
    if d.https && d.certificate_arn != o.certificate_arn {
        changes.push("certificate");
    }
    if d.https && d.ssl_policy.is_some() && d.ssl_policy != o.ssl_policy {
        changes.push("ssl policy");
    }
    if o.default_action.as_ref() != Some(&d.default_action) {
        changes.push("default action");
    }
    changes
}

fn plan_cluster(desired: &DesiredStack, observed: &ObservedStack, steps: &mut Vec<Step>) {
    let Some(c) = observed.cluster.as_ref().filter(|c| c.active) else {
        steps.push(Step::CreateCluster {
            name: desired.cluster.name.clone(),
        });
        return;
    };
    restore_tags(desired, "cluster", &c.arn, &c.tags, steps);
    if c.container_insights != desired.cluster.container_insights {
        steps.push(Step::UpdateClusterSettings {
            container_insights: desired.cluster.container_insights,
        });
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(crate) mod tests;
