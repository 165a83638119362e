//! A WebStack in domain terms: what it should be ([`DesiredStack`], the output of validation),
//! what AWS holds of it ([`ObservedStack`]) and how to find that ([`StackKey`]). Pure data, no I/O.

use std::collections::BTreeSet;

use super::action::ListenerAction;
use super::cidr::Ipv4Net;
use super::ownership::{Owner, TagMap};

/// The public route table's component tag.
pub const PUBLIC_ROUTE_TABLE: &str = "rtb/public";

/// Everything the stack should be, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredStack {
    pub owner: Owner,
    pub tags: TagMap,
    pub network: DesiredNetwork,
    pub security_groups: Vec<DesiredSecurityGroup>,
    pub load_balancer: Option<DesiredLoadBalancer>,
    pub cluster: DesiredCluster,
    /// `webstack.io/external-id`: the ARN of a load balancer to adopt instead of creating one.
    pub external_load_balancer: Option<String>,
    pub database: Option<super::data::DesiredDatabase>,
    pub cache: Option<super::data::DesiredCache>,
    /// `cluster.capacity`: EC2 instances for `launchType: EC2` services.
    pub capacity: Option<super::capacity::DesiredCapacity>,
    /// The inline services and static site as child objects.
    pub children: Vec<super::children::DesiredChild>,
    /// The task execution role its services use.
    pub execution_role: super::execution::DesiredRole,
    /// `spec.dns`: Route 53 alias records.
    pub dns: Option<super::dns::DesiredDns>,
    /// `network.flowLogs` when enabled.
    pub flow_logs: Option<super::flowlogs::DesiredFlowLogs>,
    /// `spec.registries`: ECR repositories.
    pub registries: super::registry::DesiredRegistries,
    /// `spec.alarms`: the alarms, their topic and the dashboard.
    pub alarms: Option<super::alarms::DesiredAlarms>,
}

/// Adopt a VPC or create one.
#[derive(Clone, Debug, PartialEq)]
pub enum DesiredNetwork {
    Adopt {
        vpc_id: String,
        public_subnet_ids: Vec<String>,
        private_subnet_ids: Vec<String>,
    },
    Create {
        cidr: Ipv4Net,
        subnets: Vec<DesiredSubnet>,
        /// NAT gateways, private route tables and VPC endpoints.
        egress: super::egress::DesiredEgress,
    },
}

/// A subnet to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredSubnet {
    /// `subnet/public/<i>` or `subnet/private/<i>`.
    pub component: String,
    pub cidr: Ipv4Net,
    pub availability_zone: String,
    pub public: bool,
}

/// The security groups of a stack (the endpoints group only with interface VPC endpoints).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SgRole {
    LoadBalancer,
    Services,
    Database,
    Endpoints,
}

impl SgRole {
    pub const ALL: [SgRole; 4] = [
        SgRole::LoadBalancer,
        SgRole::Services,
        SgRole::Database,
        SgRole::Endpoints,
    ];

    /// The `webstack.io/component` tag value.
    pub fn component(self) -> &'static str {
        match self {
            SgRole::LoadBalancer => "sg/load-balancer",
            SgRole::Services => "sg/services",
            SgRole::Database => "sg/database",
            SgRole::Endpoints => "sg/endpoints",
        }
    }

    pub fn from_component(c: &str) -> Option<SgRole> {
        SgRole::ALL.into_iter().find(|r| r.component() == c)
    }
}

/// Where ingress traffic may come from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Cidr(String),
    /// One of the stack's own groups.
    Group(SgRole),
    /// A group that is not one of the stack's (only ever observed, never desired).
    OtherGroup(String),
}

/// One TCP ingress permission.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ingress {
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
}

/// A security group and exactly the ingress it should have.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSecurityGroup {
    pub role: SgRole,
    pub name: String,
    pub description: String,
    pub ingress: BTreeSet<Ingress>,
}

/// The load balancer.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredLoadBalancer {
    pub name: String,
    pub internal: bool,
    pub idle_timeout_seconds: i32,
    pub listeners: Vec<DesiredListener>,
}

/// A listener.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredListener {
    pub name: String,
    pub port: i32,
    pub https: bool,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
    pub default_action: ListenerAction,
    /// Forwards to a TargetGroup that is not ready yet (named here): the listener is neither
    /// created, changed nor deleted until it is, while the rest of the stack converges.
    pub pending: Option<String>,
}

/// The ECS cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCluster {
    pub name: String,
    pub container_insights: bool,
}

impl DesiredStack {
    /// TargetGroups that listeners wait for.
    pub fn pending(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .load_balancer
            .iter()
            .flat_map(|lb| &lb.listeners)
            .filter_map(|l| l.pending.clone())
            .collect();
        names.dedup();
        names
    }

    /// Every tag a resource of `component` carries: ownership tags, a Name, the stack's tags.
    pub fn tags_for(&self, component: &str) -> TagMap {
        let name = format!("{}-{}", self.owner.aws_name("ws", 200), component.replace('/', "-"));
        self.owner.tags(&self.tags, component, &name)
    }

    /// How to find this stack's resources.
    pub fn key(&self) -> StackKey {
        StackKey {
            owner: self.owner.clone(),
            adopted_vpc: match &self.network {
                DesiredNetwork::Adopt { vpc_id, .. } => Some(vpc_id.clone()),
                DesiredNetwork::Create { .. } => None,
            },
            adopted_subnets: match &self.network {
                DesiredNetwork::Adopt {
                    public_subnet_ids,
                    private_subnet_ids,
                    ..
                } => public_subnet_ids.iter().chain(private_subnet_ids).cloned().collect(),
                DesiredNetwork::Create { .. } => Vec::new(),
            },
            known_vpc: None,
            load_balancer_name: load_balancer_name(&self.owner),
            external_load_balancer: self.external_load_balancer.clone(),
            cluster_name: self.cluster.name.clone(),
            every_copy: false,
            role_name: self.execution_role.name.clone(),
        }
    }
}

/// How to find a stack's resources: derived from the spec without validating it, so that deletion
/// never depends on a spec being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackKey {
    pub owner: Owner,
    pub adopted_vpc: Option<String>,
    /// With `adopted_vpc`: the subnets the spec names, read by id to check they exist and belong to it.
    pub adopted_subnets: Vec<String>,
    /// The VPC recorded in status: its subnets are then read by VPC, so a subnet whose ownership
    /// tags were removed by hand is still found (and re-tagged) rather than created twice.
    pub known_vpc: Option<String>,
    pub load_balancer_name: String,
    /// `webstack.io/external-id`: adopt this load balancer (by ARN) instead of the named one.
    pub external_load_balancer: Option<String>,
    pub cluster_name: String,
    /// Deletion: read every copy of what is found by tag (a VPC or gateway created twice by a
    /// retried call), not only the one in use, so that all are deleted.
    pub every_copy: bool,
    /// The task execution role's name.
    pub role_name: String,
}

/// The load balancer's deterministic name (32 characters at most).
pub fn load_balancer_name(owner: &Owner) -> String {
    owner.aws_name("ws", 32)
}

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
    /// Further VPCs tagged with the stack's uid (CreateVpc has no client token, so a retried call
    /// can create a second one): never used, deleted.
    pub duplicate_vpcs: Vec<ObservedVpc>,
    /// Further internet gateways tagged with the stack's uid, likewise.
    pub duplicate_gateways: Vec<ObservedGateway>,
    pub data: super::data::ObservedData,
    /// NAT gateways, Elastic IPs and VPC endpoints (private route tables are in `route_tables`).
    pub egress: super::egress::ObservedEgress,
    /// The task execution role.
    pub execution_role: Option<super::role::ObservedRole>,
    pub capacity: super::capacity::ObservedCapacity,
    /// The VPC flow logs, their log group and delivery role.
    pub flow_logs: super::flowlogs::ObservedFlowLogs,
    /// The stack's children, and objects holding a child's name, in the namespace.
    pub children: Vec<super::children::ObservedChild>,
    /// The stack's ECR repositories (those of the spec and of status).
    pub registries: Vec<super::registry::ObservedRepository>,
    /// The alarms, their topic and the dashboard.
    pub alarms: super::alarms::ObservedAlarms,
    /// Route 53: the stack's hosted zones (their relevant records) and pending changes.
    pub dns: super::dns::ObservedDns,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedVpc {
    pub id: String,
    pub cidr: String,
    /// Created by the operator (false for an adopted VPC).
    pub managed: bool,
    /// Empty when the VPC is known from its subnets (not read itself).
    pub tags: TagMap,
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
    /// Empty when the gateway is known from the route table's default route (not read itself).
    pub tags: TagMap,
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
    /// The Route 53 zone of its DNS name (alias records name it).
    pub canonical_hosted_zone_id: String,
    /// IP address type `dualstack` (or `dualstack-without-public-ipv4`): it serves IPv6 too.
    pub dualstack: bool,
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
    /// Its capacity providers and default strategy.
    pub capacity_providers: super::capacity::ClusterProviders,
}

impl ObservedStack {
    /// The observed subnet that is `s`: by component tag, else (its tags removed by hand) the
    /// subnet of the stack's VPC with the same CIDR.
    pub fn match_subnet(&self, s: &DesiredSubnet) -> Option<&ObservedSubnet> {
        let by_tag = self
            .subnets
            .iter()
            .find(|o| o.component.as_deref() == Some(s.component.as_str()));
        let vpc = self.vpc.as_ref().map(|v| v.id.as_str());
        by_tag.or_else(|| {
            let cidr = s.cidr.to_string();
            self.subnets
                .iter()
                .find(|o| o.component.is_none() && Some(o.vpc_id.as_str()) == vpc && o.cidr == cidr)
        })
    }

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
