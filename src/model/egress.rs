//! Egress of a created VPC's private subnets: NAT gateways with their Elastic IPs, the private route
//! tables that use them, and VPC endpoints. Pure data, no I/O.

use std::collections::BTreeSet;

use super::ownership::TagMap;

/// How many NAT gateways, and which zone routes to which.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NatMode {
    /// One NAT gateway (in zone 0's public subnet) for every zone.
    #[default]
    Single,
    /// One per zone.
    PerZone,
    None,
}

impl NatMode {
    /// The indices of the NAT gateways (and Elastic IPs) wanted with `zones` zones.
    pub fn gateways(self, zones: usize) -> Vec<usize> {
        match self {
            NatMode::Single => vec![0],
            NatMode::PerZone => (0..zones).collect(),
            NatMode::None => Vec::new(),
        }
    }

    /// The NAT gateway zone `zone` routes to.
    pub fn route_for(self, zone: usize) -> Option<usize> {
        match self {
            NatMode::Single => Some(0),
            NatMode::PerZone => Some(zone),
            NatMode::None => None,
        }
    }
}

/// A VPC endpoint, as created: `ecr` in the spec is two of them (`ecr.api` and `ecr.dkr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    S3,
    EcrApi,
    EcrDkr,
    Logs,
    SecretsManager,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::S3,
        Endpoint::EcrApi,
        Endpoint::EcrDkr,
        Endpoint::Logs,
        Endpoint::SecretsManager,
    ];

    /// The service suffix: `com.amazonaws.<region>.<suffix>`.
    pub fn service(self) -> &'static str {
        match self {
            Endpoint::S3 => "s3",
            Endpoint::EcrApi => "ecr.api",
            Endpoint::EcrDkr => "ecr.dkr",
            Endpoint::Logs => "logs",
            Endpoint::SecretsManager => "secretsmanager",
        }
    }

    /// The service name in `region`.
    pub fn service_name(self, region: &str) -> String {
        format!("com.amazonaws.{region}.{}", self.service())
    }

    /// S3 is a gateway endpoint (route tables); the others are interface endpoints (subnets, a group).
    pub fn gateway(self) -> bool {
        self == Endpoint::S3
    }

    /// The `webstack.io/component` tag value.
    pub fn component(self) -> String {
        format!("vpce/{}", self.service())
    }

    pub fn from_component(c: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.component() == c)
    }
}

/// What the private subnets' egress should be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredEgress {
    pub nat: NatMode,
    pub endpoints: BTreeSet<Endpoint>,
}

impl DesiredEgress {
    /// Interface endpoints need their own security group.
    pub fn interface_endpoints(&self) -> bool {
        self.endpoints.iter().any(|e| !e.gateway())
    }
}

/// The component tags: `nat/<i>`, `eip/<i>`, `rtb/private/<i>`.
pub fn nat_component(i: usize) -> String {
    format!("nat/{i}")
}

pub fn address_component(i: usize) -> String {
    format!("eip/{i}")
}

pub fn private_table_component(i: usize) -> String {
    format!("rtb/private/{i}")
}

/// The index in a component such as `nat/1`.
pub fn index_of(component: &str, prefix: &str) -> Option<usize> {
    component.strip_prefix(prefix)?.strip_prefix('/')?.parse().ok()
}

/// An Elastic IP of the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedAddress {
    pub allocation_id: String,
    pub component: String,
    /// Set while it is associated (with a NAT gateway's interface).
    pub association_id: Option<String>,
    pub tags: TagMap,
}

/// A NAT gateway of the stack (deleted ones are left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedNatGateway {
    pub id: String,
    pub component: String,
    /// `pending`, `available`, `deleting` or `failed`.
    pub state: String,
    pub subnet_id: String,
    pub tags: TagMap,
}

impl ObservedNatGateway {
    /// Pending or available: in use, or about to be.
    pub fn live(&self) -> bool {
        self.state == "pending" || self.state == "available"
    }
}

/// A VPC endpoint of the stack (deleted ones are left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedEndpoint {
    pub id: String,
    pub endpoint: Endpoint,
    /// AWS's state, lower case: `pending`, `available`, `deleting`, `failed`, ...
    pub state: String,
    /// Sorted.
    pub route_table_ids: Vec<String>,
    /// Sorted.
    pub subnet_ids: Vec<String>,
    /// Sorted.
    pub security_group_ids: Vec<String>,
    pub tags: TagMap,
}

impl ObservedEndpoint {
    pub fn deleting(&self) -> bool {
        self.state == "deleting"
    }
}

/// The stack's egress as found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedEgress {
    pub nat_gateways: Vec<ObservedNatGateway>,
    pub endpoints: Vec<ObservedEndpoint>,
    pub addresses: Vec<ObservedAddress>,
}

impl ObservedEgress {
    /// The live NAT gateway with index `i`.
    pub fn nat(&self, i: usize) -> Option<&ObservedNatGateway> {
        let c = nat_component(i);
        self.nat_gateways.iter().find(|n| n.component == c && n.live())
    }

    /// Elastic IP `i`: the one associated (with its gateway), else the first by allocation id.
    pub fn address(&self, i: usize) -> Option<&ObservedAddress> {
        let c = address_component(i);
        let mut mine = self.addresses.iter().filter(|a| a.component == c);
        let first = mine.clone().next();
        mine.find(|a| a.association_id.is_some()).or(first)
    }
}

/// `Retain`: the ids to untag.
pub fn retained_ids(o: &ObservedEgress) -> Vec<String> {
    let nats = o.nat_gateways.iter().map(|n| n.id.clone());
    let endpoints = o.endpoints.iter().map(|e| e.id.clone());
    let addresses = o.addresses.iter().map(|a| a.allocation_id.clone());
    nats.chain(endpoints).chain(addresses).collect()
}
