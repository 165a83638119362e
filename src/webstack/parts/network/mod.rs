//! The network part (pure planner): the VPC (created, or adopted and never changed), one public
//! and one private subnet per zone, the internet gateway, the public route table, and the stack's
//! security groups with their ingress rules. Deletion in reverse order; `Retain`, or a retained
//! database that keeps the network it sits in, untags instead (the egress's ids with it).
//! Its I/O is in [`io`].

pub mod io;

use std::collections::BTreeSet;
use std::fmt;

use crate::model::egress::retained_ids;
use crate::model::ownership::MANAGED_BY;
use crate::model::stack::{
    DesiredNetwork, DesiredStack, DesiredSubnet, Ingress, ObservedStack, ObservedSubnet, PUBLIC_ROUTE_TABLE, SgRole,
};
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part, missing};

/// The network part.
pub struct Network;

/// One change to the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkStep {
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
    /// Put back tags removed or changed by hand (`keys` are the tags to write).
    RestoreTags {
        component: String,
        id: String,
        keys: Vec<String>,
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
    /// `deletionPolicy: Retain`: remove the ownership tags, keep the resources.
    UntagEc2 {
        ids: Vec<String>,
    },
}

impl crate::reconcile::Step for NetworkStep {
    fn action(&self) -> &'static str {
        match self {
            NetworkStep::CreateVpc { .. } => "CreateVpc",
            NetworkStep::CreateSubnet { .. } => "CreateSubnet",
            NetworkStep::CreateInternetGateway => "CreateInternetGateway",
            NetworkStep::AttachInternetGateway => "AttachInternetGateway",
            NetworkStep::CreateRouteTable { .. } => "CreateRouteTable",
            NetworkStep::CreateDefaultRoute => "CreateRoute",
            NetworkStep::AssociateRouteTable { .. } => "AssociateRouteTable",
            NetworkStep::CreateSecurityGroup { .. } => "CreateSecurityGroup",
            NetworkStep::AuthorizeIngress { .. } => "AuthorizeSecurityGroupIngress",
            NetworkStep::RevokeIngress { .. } => "RevokeSecurityGroupIngress",
            NetworkStep::RestoreTags { .. } => "CreateTags",
            NetworkStep::DeleteSecurityGroup { .. } => "DeleteSecurityGroup",
            NetworkStep::DeleteSubnet { .. } => "DeleteSubnet",
            NetworkStep::DisassociateRouteTable { .. } => "DisassociateRouteTable",
            NetworkStep::DeleteRouteTable { .. } => "DeleteRouteTable",
            NetworkStep::DetachInternetGateway { .. } => "DetachInternetGateway",
            NetworkStep::DeleteInternetGateway { .. } => "DeleteInternetGateway",
            NetworkStep::DeleteVpc { .. } => "DeleteVpc",
            NetworkStep::UntagEc2 { .. } => "DeleteTags",
        }
    }
}

impl fmt::Display for NetworkStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkStep::CreateVpc { cidr } => write!(f, "create VPC {cidr}"),
            NetworkStep::CreateSubnet {
                component,
                cidr,
                availability_zone,
            } => {
                write!(f, "create {component} {cidr} in {availability_zone}")
            }
            NetworkStep::CreateInternetGateway => write!(f, "create internet gateway"),
            NetworkStep::AttachInternetGateway => write!(f, "attach internet gateway to the VPC"),
            NetworkStep::CreateRouteTable { component } => write!(f, "create route table {component}"),
            NetworkStep::CreateDefaultRoute => {
                write!(f, "route 0.0.0.0/0 of {PUBLIC_ROUTE_TABLE} to the internet gateway")
            }
            NetworkStep::AssociateRouteTable { subnet_component } => {
                write!(f, "associate {subnet_component} with {PUBLIC_ROUTE_TABLE}")
            }
            NetworkStep::CreateSecurityGroup { role } => {
                write!(f, "create security group {}", role.component())
            }
            NetworkStep::AuthorizeIngress { role, rules } => {
                write!(f, "authorize {} ingress rule(s) on {}", rules.len(), role.component())
            }
            NetworkStep::RevokeIngress { role, rules } => {
                write!(f, "revoke {} ingress rule(s) on {}", rules.len(), role.component())
            }
            NetworkStep::RestoreTags { component, id, keys } => {
                write!(f, "restore tags {} on {component} ({id})", keys.join(", "))
            }
            NetworkStep::DeleteSecurityGroup { role, id } => {
                write!(f, "delete security group {} ({id})", role.component())
            }
            NetworkStep::DeleteSubnet { id } => write!(f, "delete subnet {id}"),
            NetworkStep::DisassociateRouteTable { association_id } => {
                write!(f, "remove route table association {association_id}")
            }
            NetworkStep::DeleteRouteTable { id } => write!(f, "delete route table {id}"),
            NetworkStep::DetachInternetGateway { id, vpc_id } => {
                write!(f, "detach internet gateway {id} from {vpc_id}")
            }
            NetworkStep::DeleteInternetGateway { id } => write!(f, "delete internet gateway {id}"),
            NetworkStep::DeleteVpc { id } => write!(f, "delete VPC {id}"),
            NetworkStep::UntagEc2 { ids } => write!(f, "remove the ownership tags of {}", ids.join(", ")),
        }
    }
}

impl Part for Network {
    type Step = NetworkStep;

    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<NetworkStep> {
        let mut steps = Vec::new();
        if let DesiredNetwork::Create { cidr, subnets, .. } = &desired.network {
            plan_network(desired, &cidr.to_string(), subnets, observed, &mut steps);
            plan_duplicates(observed, &mut steps);
        }
        plan_security_groups(desired, observed, &mut steps);
        steps
    }

    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<NetworkStep> {
        if how.retain || how.keep_network {
            plan_retain(observed)
        } else {
            plan_delete(observed)
        }
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), crate::reconcile::Blocked> {
        io::observe(cx, observed).await
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &NetworkStep) -> Result<(), ApplyError> {
        io::apply(cx, step).await
    }
}

fn restore_tags(
    desired: &DesiredStack,
    component: &str,
    id: &str,
    have: &crate::model::TagMap,
    steps: &mut Vec<NetworkStep>,
) {
    let keys = missing(desired, component, have);
    if !keys.is_empty() {
        steps.push(NetworkStep::RestoreTags {
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
    steps: &mut Vec<NetworkStep>,
) {
    if observed.vpc.is_none() {
        steps.push(NetworkStep::CreateVpc { cidr: cidr.into() });
    }
    let igw = observed.internet_gateway.as_ref();
    if igw.is_none() {
        steps.push(NetworkStep::CreateInternetGateway);
    }
    let attached_here = match (igw, &observed.vpc) {
        (Some(g), Some(v)) => g.attached_vpc.as_deref() == Some(v.id.as_str()),
        _ => false,
    };
    if !attached_here {
        steps.push(NetworkStep::AttachInternetGateway);
    }
    for s in subnets {
        match observed.match_subnet(s) {
            Some(o) => restore_tags(desired, &s.component, &o.id, &o.tags, steps),
            None => steps.push(NetworkStep::CreateSubnet {
                component: s.component.clone(),
                cidr: s.cidr.to_string(),
                availability_zone: s.availability_zone.clone(),
            }),
        }
    }
    let table = observed.route_tables.iter().find(|t| t.component == PUBLIC_ROUTE_TABLE);
    match table {
        Some(t) => restore_tags(desired, PUBLIC_ROUTE_TABLE, &t.id, &t.tags, steps),
        None => steps.push(NetworkStep::CreateRouteTable {
            component: PUBLIC_ROUTE_TABLE.into(),
        }),
    }
    let routed = match (table, igw) {
        (Some(t), Some(g)) => t.default_route.as_deref() == Some(g.id.as_str()),
        _ => false,
    };
    if !routed {
        steps.push(NetworkStep::CreateDefaultRoute);
    }
    for s in subnets.iter().filter(|s| s.public) {
        let associated = match (table, observed.match_subnet(s)) {
            (Some(t), Some(o)) => t.associated_subnets.contains(&o.id),
            _ => false,
        };
        if !associated {
            steps.push(NetworkStep::AssociateRouteTable {
                subnet_component: s.component.clone(),
            });
        }
    }
}

/// Copies a retried create made (never used: nothing was built on them) are deleted.
fn plan_duplicates(observed: &ObservedStack, steps: &mut Vec<NetworkStep>) {
    for g in &observed.duplicate_gateways {
        if let Some(vpc_id) = &g.attached_vpc {
            steps.push(NetworkStep::DetachInternetGateway {
                id: g.id.clone(),
                vpc_id: vpc_id.clone(),
            });
        }
        steps.push(NetworkStep::DeleteInternetGateway { id: g.id.clone() });
    }
    for v in &observed.duplicate_vpcs {
        steps.push(NetworkStep::DeleteVpc { id: v.id.clone() });
    }
}

fn plan_security_groups(desired: &DesiredStack, observed: &ObservedStack, steps: &mut Vec<NetworkStep>) {
    for g in &desired.security_groups {
        match observed.security_groups.iter().find(|o| o.role == g.role) {
            Some(o) => restore_tags(desired, g.role.component(), &o.id, &o.tags, steps),
            None => steps.push(NetworkStep::CreateSecurityGroup { role: g.role }),
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
            steps.push(NetworkStep::RevokeIngress {
                role: g.role,
                rules: remove,
            });
        }
        if !add.is_empty() {
            steps.push(NetworkStep::AuthorizeIngress {
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
            steps.push(NetworkStep::DeleteSecurityGroup {
                role: o.role,
                id: o.id.clone(),
            });
        }
    }
}

/// Kept (`Retain`, or a retained database's network): every resource the delete plan would
/// delete keeps existing, its ownership tags removed, the egress's with them.
pub fn plan_retain(observed: &ObservedStack) -> Vec<NetworkStep> {
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
    ids.extend(retained_ids(&observed.egress));
    if ids.is_empty() {
        Vec::new()
    } else {
        vec![NetworkStep::UntagEc2 { ids }]
    }
}

/// Towards nothing, in reverse dependency order (after the load balancer and the egress). An
/// adopted VPC and its subnets are never deleted (they are not observed as managed). In a VPC the
/// stack created, a subnet whose tags were removed by hand (untagged, not another owner's) is
/// deleted too: the VPC cannot go while it remains.
pub fn plan_delete(observed: &ObservedStack) -> Vec<NetworkStep> {
    let mut steps = Vec::new();
    // Referencing groups first: database refers to services, services to the load balancer.
    for role in [
        SgRole::Endpoints,
        SgRole::Database,
        SgRole::Services,
        SgRole::LoadBalancer,
    ] {
        if let Some(id) = observed.group_id(role) {
            steps.push(NetworkStep::DeleteSecurityGroup { role, id: id.into() });
        }
    }
    let managed_vpc = observed.vpc.as_ref().filter(|v| v.managed);
    let stripped =
        |s: &&ObservedSubnet| managed_vpc.is_some_and(|v| v.id == s.vpc_id) && !s.tags.contains_key(MANAGED_BY);
    for s in observed.subnets.iter().filter(|s| s.component.is_some() || stripped(s)) {
        steps.push(NetworkStep::DeleteSubnet { id: s.id.clone() });
    }
    // AWS drops the associations of deleted subnets; removing them first also covers a subnet
    // that survives (and the emulator, which keeps them).
    for t in &observed.route_tables {
        for a in &t.association_ids {
            steps.push(NetworkStep::DisassociateRouteTable {
                association_id: a.clone(),
            });
        }
        steps.push(NetworkStep::DeleteRouteTable { id: t.id.clone() });
    }
    for g in observed.internet_gateway.iter().chain(&observed.duplicate_gateways) {
        if let Some(vpc_id) = &g.attached_vpc {
            steps.push(NetworkStep::DetachInternetGateway {
                id: g.id.clone(),
                vpc_id: vpc_id.clone(),
            });
        }
        steps.push(NetworkStep::DeleteInternetGateway { id: g.id.clone() });
    }
    for v in managed_vpc.into_iter().chain(&observed.duplicate_vpcs) {
        steps.push(NetworkStep::DeleteVpc { id: v.id.clone() });
    }
    steps
}
