//! The steps of a WebStack plan: one AWS change each, in the planner's terms. `Display` is what
//! Events, `paused` and `plan` print.

use std::fmt;

use crate::model::stack::{Ingress, SgRole};

pub use crate::model::stack::PUBLIC_ROUTE_TABLE;

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
    /// Tag a load balancer named by `webstack.io/external-id` as the stack's.
    AdoptLoadBalancer {
        arn: String,
    },
    /// A stack being deleted stops forwarding: the listener answers 503 and releases its target groups.
    ReleaseListener {
        arn: String,
        port: i32,
    },
    /// `deletionPolicy: Retain`: remove the ownership tags, keep the resources.
    UntagEc2 {
        ids: Vec<String>,
    },
    UntagLoadBalancer {
        arns: Vec<String>,
    },
    UntagCluster {
        arn: String,
    },
    /// The database, the cache and their credentials.
    Data(super::data::DataStep),
    /// NAT gateways, Elastic IPs, private route tables and VPC endpoints.
    Egress(super::egress::EgressStep),
    /// The task execution role.
    Role(super::role::RoleStep),
    /// The EC2 capacity: instance role and profile, launch template, Auto Scaling group, capacity provider.
    Capacity(super::capacity::CapacityStep),
    /// An inline service's or the static site's child object.
    Child(crate::model::children::ChildStep),
    /// VPC flow logs, their log group and delivery role.
    FlowLogs(super::flowlogs::FlowLogStep),
    /// An ECR repository of `spec.registries`.
    Registry(super::registry::RegistryStep),
    /// The alarms, their SNS topic and the dashboard.
    Alarms(super::alarms::AlarmStep),
    /// Route 53 alias records and their ownership records, one name at a time.
    Dns(super::dns::DnsStep),
}

impl crate::reconcile::Step for Step {
    /// The AWS action, for the Event's `action` field (`CreateVpc`, `ModifyListener`, ...).
    fn action(&self) -> &'static str {
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
            Step::AdoptLoadBalancer { .. } => "AddTags",
            Step::ReleaseListener { .. } => "ModifyListener",
            Step::UntagEc2 { .. } => "DeleteTags",
            Step::UntagLoadBalancer { .. } => "RemoveTags",
            Step::UntagCluster { .. } => "UntagResource",
            Step::Data(d) => d.action(),
            Step::Egress(e) => e.action(),
            Step::Role(r) => r.action(),
            Step::Capacity(c) => c.action(),
            Step::FlowLogs(f) => f.action(),
            Step::Registry(r) => r.action(),
            Step::Alarms(a) => a.action(),
            Step::Dns(d) => d.action(),
            Step::Child(crate::model::children::ChildStep::Apply { .. }) => "ApplyChild",
            Step::Child(crate::model::children::ChildStep::Delete { .. }) => "DeleteChild",
        }
    }

    fn reason(&self) -> Option<&'static str> {
        matches!(self, Step::AdoptLoadBalancer { .. }).then_some("Adopted")
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
            Step::AdoptLoadBalancer { arn } => write!(f, "adopt load balancer {arn} (tag it as the stack's)"),
            Step::ReleaseListener { port, .. } => {
                write!(
                    f,
                    "stop forwarding on the listener on port {port} (answer 503 while the stack is deleted)"
                )
            }
            Step::UntagEc2 { ids } => write!(f, "remove the ownership tags of {}", ids.join(", ")),
            Step::UntagLoadBalancer { arns } => {
                write!(
                    f,
                    "remove the ownership tags of {} load balancer resource(s)",
                    arns.len()
                )
            }
            Step::UntagCluster { arn } => write!(f, "remove the ownership tags of ECS cluster {arn}"),
            Step::Data(d) => d.fmt(f),
            Step::Egress(e) => e.fmt(f),
            Step::Role(r) => r.fmt(f),
            Step::Capacity(c) => c.fmt(f),
            Step::FlowLogs(l) => l.fmt(f),
            Step::Alarms(a) => a.fmt(f),
            Step::Child(c) => c.fmt(f),
            Step::Registry(r) => r.fmt(f),
            Step::Dns(d) => d.fmt(f),
        }
    }
}
