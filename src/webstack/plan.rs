//! plan: a pure function from desired and observed state to the steps that make AWS match,
//! in dependency order. No I/O. The same steps are what drift reports and `paused` show.

use std::collections::BTreeSet;
use std::fmt;

use super::desired::{DesiredListener, DesiredNetwork, DesiredStack, DesiredSubnet, Ingress, SgRole};
use super::observed::{ObservedListener, ObservedStack, ObservedSubnet};
use crate::aws::TagMap;

/// The public route table's component tag.
pub const PUBLIC_ROUTE_TABLE: &str = "rtb/public";

/// One change to AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    CreateVpc {
        cidr: String,
    },
    CreateSubnet {
        component: String,
        cidr: String,
        availability_zone: String,
    },
    CreateInternetGateway,
    AttachInternetGateway,
    CreateRouteTable {
        component: String,
    },
    CreateDefaultRoute,
    AssociateRouteTable {
        subnet_component: String,
    },
    CreateSecurityGroup {
        role: SgRole,
    },
    AuthorizeIngress {
        role: SgRole,
        rules: Vec<Ingress>,
    },
    RevokeIngress {
        role: SgRole,
        rules: Vec<Ingress>,
    },
    CreateLoadBalancer {
        name: String,
    },
    ModifyIdleTimeout {
        from: Option<i32>,
        to: i32,
    },
    CreateListener {
        name: String,
        port: i32,
    },
    ModifyListener {
        arn: String,
        name: String,
        changes: Vec<&'static str>,
    },
    /// Attach exactly the stack's load-balancer group.
    SetLoadBalancerSecurityGroups {
        arn: String,
    },
    /// Put back tags removed or changed by hand (`keys` are the tags to write).
    RestoreTags {
        component: String,
        id: String,
        keys: Vec<String>,
    },
    DeleteListener {
        arn: String,
        port: i32,
    },
    DeleteLoadBalancer {
        arn: String,
    },
    CreateCluster {
        name: String,
    },
    UpdateClusterSettings {
        container_insights: bool,
    },
    DeleteSecurityGroup {
        role: SgRole,
        id: String,
    },
    DeleteSubnet {
        id: String,
    },
    DisassociateRouteTable {
        association_id: String,
    },
    DeleteRouteTable {
        id: String,
    },
    DetachInternetGateway {
        id: String,
        vpc_id: String,
    },
    DeleteInternetGateway {
        id: String,
    },
    DeleteVpc {
        id: String,
    },
    DeleteCluster {
        arn: String,
    },
}

impl Step {
    /// The AWS action, for the Event's `action` field (`CreateVpc`, `ModifyListener`, ...).
    pub fn action(&self) -> &'static str {
        match self {
            Step::CreateVpc { .. } => "CreateVpc",
            Step::CreateSubnet { .. } => "CreateSubnet",
            Step::CreateInternetGateway => "CreateInternetGateway",
            Step::AttachInternetGateway => "AttachInternetGateway",
            Step::CreateRouteTable { .. } => "CreateRouteTable",
            Step::CreateDefaultRoute => "CreateRoute",
            Step::AssociateRouteTable { .. } => "AssociateRouteTable",
            Step::CreateSecurityGroup { .. } => "CreateSecurityGroup",
            Step::AuthorizeIngress { .. } => "AuthorizeSecurityGroupIngress",
            Step::RevokeIngress { .. } => "RevokeSecurityGroupIngress",
            Step::CreateLoadBalancer { .. } => "CreateLoadBalancer",
            Step::ModifyIdleTimeout { .. } => "ModifyLoadBalancerAttributes",
            Step::CreateListener { .. } => "CreateListener",
            Step::ModifyListener { .. } => "ModifyListener",
            Step::DeleteListener { .. } => "DeleteListener",
            Step::RestoreTags { .. } => "CreateTags",
            Step::SetLoadBalancerSecurityGroups { .. } => "SetSecurityGroups",
            Step::DeleteLoadBalancer { .. } => "DeleteLoadBalancer",
            Step::CreateCluster { .. } => "CreateCluster",
            Step::UpdateClusterSettings { .. } => "UpdateClusterSettings",
            Step::DeleteSecurityGroup { .. } => "DeleteSecurityGroup",
            Step::DeleteSubnet { .. } => "DeleteSubnet",
            Step::DisassociateRouteTable { .. } => "DisassociateRouteTable",
            Step::DeleteRouteTable { .. } => "DeleteRouteTable",
            Step::DetachInternetGateway { .. } => "DetachInternetGateway",
            Step::DeleteInternetGateway { .. } => "DeleteInternetGateway",
            Step::DeleteVpc { .. } => "DeleteVpc",
            Step::DeleteCluster { .. } => "DeleteCluster",
        }
    }

    /// Whether this step changes a resource that already existed (as opposed to creating a missing
    /// one): what a drift report calls a correction.
    pub fn corrects_existing(&self) -> bool {
        matches!(
            self,
            Step::AuthorizeIngress { .. }
                | Step::RevokeIngress { .. }
                | Step::ModifyIdleTimeout { from: Some(_), .. }
                | Step::ModifyListener { .. }
                | Step::DeleteListener { .. }
                | Step::RestoreTags { .. }
                | Step::SetLoadBalancerSecurityGroups { .. }
                | Step::UpdateClusterSettings { .. }
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateVpc { cidr } => write!(f, "create VPC {cidr}"),
            Step::CreateSubnet {
                component,
                cidr,
                availability_zone,
            } => {
                write!(f, "create {component} {cidr} in {availability_zone}")
            }
            Step::CreateInternetGateway => write!(f, "create internet gateway"),
            Step::AttachInternetGateway => write!(f, "attach internet gateway to the VPC"),
            Step::CreateRouteTable { component } => write!(f, "create route table {component}"),
            Step::CreateDefaultRoute => write!(f, "route 0.0.0.0/0 of {PUBLIC_ROUTE_TABLE} to the internet gateway"),
            Step::AssociateRouteTable { subnet_component } => {
                write!(f, "associate {subnet_component} with {PUBLIC_ROUTE_TABLE}")
            }
            Step::CreateSecurityGroup { role } => {
                write!(f, "create security group {}", role.component())
            }
            Step::AuthorizeIngress { role, rules } => {
                write!(f, "authorize {} ingress rule(s) on {}", rules.len(), role.component())
            }
            Step::RevokeIngress { role, rules } => {
                write!(f, "revoke {} ingress rule(s) on {}", rules.len(), role.component())
            }
            Step::CreateLoadBalancer { name } => write!(f, "create load balancer {name}"),
            Step::ModifyIdleTimeout { from, to } => match from {
                Some(from) => write!(f, "change idle timeout from {from}s to {to}s"),
                None => write!(f, "set idle timeout to {to}s"),
            },
            Step::CreateListener { name, port } => {
                write!(f, "create listener {name} on port {port}")
            }
            Step::ModifyListener { name, changes, .. } => {
                write!(f, "modify listener {name}: {}", changes.join(", "))
            }
            Step::DeleteListener { port, .. } => write!(f, "delete listener on port {port}"),
            Step::SetLoadBalancerSecurityGroups { .. } => {
                write!(f, "attach security group sg/load-balancer (only) to the load balancer")
            }
            Step::RestoreTags { component, id, keys } => {
                write!(f, "restore tags {} on {component} ({id})", keys.join(", "))
            }
            Step::DeleteLoadBalancer { arn } => write!(f, "delete load balancer {arn}"),
            Step::CreateCluster { name } => write!(f, "create ECS cluster {name}"),
            Step::UpdateClusterSettings { container_insights } => {
                write!(
                    f,
                    "set container insights {}",
                    if *container_insights { "enabled" } else { "disabled" }
                )
            }
            Step::DeleteSecurityGroup { role, id } => {
                write!(f, "delete security group {} ({id})", role.component())
            }
            Step::DeleteSubnet { id } => write!(f, "delete subnet {id}"),
            Step::DisassociateRouteTable { association_id } => {
                write!(f, "remove route table association {association_id}")
            }
            Step::DeleteRouteTable { id } => write!(f, "delete route table {id}"),
            Step::DetachInternetGateway { id, vpc_id } => {
                write!(f, "detach internet gateway {id} from {vpc_id}")
            }
            Step::DeleteInternetGateway { id } => write!(f, "delete internet gateway {id}"),
            Step::DeleteVpc { id } => write!(f, "delete VPC {id}"),
            Step::DeleteCluster { arn } => write!(f, "delete ECS cluster {arn}"),
        }
    }
}

/// Steps that make `observed` match `desired`, in dependency order.
pub fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<Step> {
    let mut steps = Vec::new();
    if let DesiredNetwork::Create { cidr, subnets } = &desired.network {
        plan_network(desired, &cidr.to_string(), subnets, observed, &mut steps);
    }
    plan_security_groups(desired, observed, &mut steps);
    plan_load_balancer(desired, observed, &mut steps);
    plan_cluster(desired, observed, &mut steps);
    steps
}

/// The observed subnet that is `s`: by component tag, else (its tags removed by hand) the subnet of
/// the stack's VPC with the same CIDR.
pub fn match_subnet<'a>(s: &DesiredSubnet, observed: &'a ObservedStack) -> Option<&'a ObservedSubnet> {
    let by_tag = observed
        .subnets
        .iter()
        .find(|o| o.component.as_deref() == Some(s.component.as_str()));
    let vpc = observed.vpc.as_ref().map(|v| v.id.as_str());
    by_tag.or_else(|| {
        let cidr = s.cidr.to_string();
        observed
            .subnets
            .iter()
            .find(|o| o.component.is_none() && Some(o.vpc_id.as_str()) == vpc && o.cidr == cidr)
    })
}

/// Keys of `want` that `have` lacks or holds with another value.
fn missing_tags(want: &TagMap, have: &TagMap) -> Vec<String> {
    want.iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
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
    // A group the spec no longer needs (the database group once database and cache are gone).
    for o in &observed.security_groups {
        if !desired.security_groups.iter().any(|g| g.role == o.role) {
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
            restore_tags(desired, "load-balancer", &o.arn, &o.tags, steps);
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

/// Plan towards nothing: delete what the operator created, in reverse dependency order. An adopted
/// VPC and its subnets are never deleted (they are not observed as managed).
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
    for role in [SgRole::Database, SgRole::Services, SgRole::LoadBalancer] {
        if let Some(id) = observed.group_id(role) {
            steps.push(Step::DeleteSecurityGroup { role, id: id.into() });
        }
    }
    let managed_vpc = observed.vpc.as_ref().filter(|v| v.managed);
    for s in observed.subnets.iter().filter(|s| s.component.is_some()) {
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
    if let Some(g) = &observed.internet_gateway {
        if let Some(vpc_id) = &g.attached_vpc {
            steps.push(Step::DetachInternetGateway {
                id: g.id.clone(),
                vpc_id: vpc_id.clone(),
            });
        }
        steps.push(Step::DeleteInternetGateway { id: g.id.clone() });
    }
    if let Some(v) = managed_vpc {
        steps.push(Step::DeleteVpc { id: v.id.clone() });
    }
    if let Some(c) = observed.cluster.as_ref().filter(|c| c.active) {
        steps.push(Step::DeleteCluster { arn: c.arn.clone() });
    }
    steps
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
