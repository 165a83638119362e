//! What the observe step found in AWS for one stack, as domain types (no SDK types).

use super::desired::{Ingress, ListenerAction, SgRole, Source};
use crate::aws::TagMap;

/// The stack's AWS resources as found (by ownership tags, deterministic names or ids in status).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedStack {
    pub vpc: Option<ObservedVpc>,
    pub subnets: Vec<ObservedSubnet>,
    pub internet_gateway: Option<ObservedGateway>,
    pub route_tables: Vec<ObservedRouteTable>,
    pub security_groups: Vec<ObservedSecurityGroup>,
    pub load_balancer: Option<ObservedLoadBalancer>,
    pub listeners: Vec<ObservedListener>,
    pub cluster: Option<ObservedCluster>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedVpc {
    pub id: String,
    pub cidr: String,
    /// Created by the operator (false for an adopted VPC).
    pub managed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSubnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr: String,
    pub availability_zone: String,
    /// `webstack.io/component` for subnets the operator created; `None` for adopted ones and for
    /// subnets of the stack's VPC whose ownership tags were removed.
    pub component: Option<String>,
    pub tags: TagMap,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedGateway {
    pub id: String,
    pub attached_vpc: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRouteTable {
    pub id: String,
    pub component: String,
    /// Target of the `0.0.0.0/0` route, if any.
    pub default_route: Option<String>,
    pub associated_subnets: Vec<String>,
    /// Association ids of those subnets, removed before the table is deleted.
    pub association_ids: Vec<String>,
    pub tags: TagMap,
}

/// An ingress permission as AWS reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawIngress {
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: Option<String>,
    pub group_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSecurityGroup {
    pub id: String,
    pub role: SgRole,
    pub ingress: Vec<RawIngress>,
    pub tags: TagMap,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedLoadBalancer {
    pub arn: String,
    pub dns_name: String,
    pub internal: bool,
    pub idle_timeout_seconds: Option<i32>,
    pub tags: TagMap,
    pub vpc_id: String,
    /// AWS state: `provisioning`, `active`, `active_impaired` or `failed`.
    pub state: String,
    /// Attached security groups, sorted.
    pub security_groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedListener {
    pub arn: String,
    pub port: i32,
    pub https: bool,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
    pub default_action: Option<ListenerAction>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedCluster {
    pub arn: String,
    pub name: String,
    pub active: bool,
    pub container_insights: bool,
    pub tags: TagMap,
}

impl ObservedStack {
    /// The id of the stack's group with this role.
    pub fn group_id(&self, role: SgRole) -> Option<&str> {
        self.security_groups
            .iter()
            .find(|g| g.role == role)
            .map(|g| g.id.as_str())
    }

    /// Raw ingress in the planner's terms: group ids of the stack's own groups become roles.
    pub fn ingress(&self, raw: &RawIngress) -> Ingress {
        let source = match (&raw.cidr, &raw.group_id) {
            (Some(c), _) => Source::Cidr(c.clone()),
            (None, Some(g)) => match self.security_groups.iter().find(|s| &s.id == g) {
                Some(ours) => Source::Group(ours.role),
                None => Source::OtherGroup(g.clone()),
            },
            (None, None) => Source::OtherGroup(String::new()),
        };
        Ingress {
            from_port: raw.from_port,
            to_port: raw.to_port,
            source,
        }
    }
}
