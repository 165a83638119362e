//! Egress plans (pure) for a VPC the stack created: NAT gateways with Elastic IPs in the public
//! subnets, one private route table per zone routing `0.0.0.0/0` to its NAT gateway, and VPC
//! endpoints (S3 on the private route tables; interface endpoints in the private subnets, in the
//! endpoints group). Deletion goes endpoints, NAT gateways, then (once AWS has released them from
//! the gateways) the Elastic IPs, which cost money while they exist.

pub mod io;

use std::fmt;

use crate::model::egress::{
    DesiredEgress, Endpoint, ObservedEgress, address_component, index_of, nat_component, private_table_component,
};
use crate::model::ownership::missing_tags;
use crate::model::stack::{DesiredNetwork, DesiredStack, ObservedStack, SgRole};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// One change to the private subnets' egress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EgressStep {
    AllocateAddress {
        index: usize,
    },
    /// In public subnet `index`, with Elastic IP `index`.
    CreateNatGateway {
        index: usize,
    },
    DeleteNatGateway {
        id: String,
    },
    ReleaseAddress {
        allocation_id: String,
    },
    CreatePrivateRouteTable {
        zone: usize,
    },
    AssociatePrivateRouteTable {
        zone: usize,
    },
    /// `0.0.0.0/0` of zone `zone`'s table to NAT gateway `nat` (created or replaced).
    SetPrivateRoute {
        zone: usize,
        nat: usize,
    },
    DeletePrivateRoute {
        zone: usize,
    },
    CreateEndpoint {
        endpoint: Endpoint,
    },
    /// Route tables (S3), or subnets and the group (interface endpoints), set to the stack's.
    ModifyEndpoint {
        id: String,
        endpoint: Endpoint,
        changes: Vec<&'static str>,
    },
    DeleteEndpoint {
        id: String,
        endpoint: Endpoint,
    },
    /// Put back tags removed or changed by hand (`keys` are the tags to write).
    RestoreTags {
        component: String,
        id: String,
        keys: Vec<String>,
    },
    /// NAT gateways or endpoints are being deleted; the subnets and groups they sit in (and the
    /// Elastic IPs) cannot go before them.
    AwaitEgressGone {
        what: String,
    },
}

impl EgressStep {
    pub fn action(&self) -> &'static str {
        match self {
            EgressStep::AllocateAddress { .. } => "AllocateAddress",
            EgressStep::CreateNatGateway { .. } => "CreateNatGateway",
            EgressStep::DeleteNatGateway { .. } => "DeleteNatGateway",
            EgressStep::ReleaseAddress { .. } => "ReleaseAddress",
            EgressStep::CreatePrivateRouteTable { .. } => "CreateRouteTable",
            EgressStep::AssociatePrivateRouteTable { .. } => "AssociateRouteTable",
            EgressStep::SetPrivateRoute { .. } => "CreateRoute",
            EgressStep::DeletePrivateRoute { .. } => "DeleteRoute",
            EgressStep::CreateEndpoint { .. } => "CreateVpcEndpoint",
            EgressStep::ModifyEndpoint { .. } => "ModifyVpcEndpoint",
            EgressStep::DeleteEndpoint { .. } => "DeleteVpcEndpoints",
            EgressStep::RestoreTags { .. } => "CreateTags",
            EgressStep::AwaitEgressGone { .. } => "DescribeNatGateways",
        }
    }

    /// Steps that change nothing (a wait).
    pub fn is_wait(&self) -> bool {
        matches!(self, EgressStep::AwaitEgressGone { .. })
    }
}

impl fmt::Display for EgressStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EgressStep::AllocateAddress { index } => write!(f, "allocate Elastic IP {index} for a NAT gateway"),
            EgressStep::CreateNatGateway { index } => write!(f, "create NAT gateway {index} in public subnet {index}"),
            EgressStep::DeleteNatGateway { id } => write!(f, "delete NAT gateway {id}"),
            EgressStep::ReleaseAddress { allocation_id } => write!(f, "release Elastic IP {allocation_id}"),
            EgressStep::CreatePrivateRouteTable { zone } => write!(f, "create the private route table of zone {zone}"),
            EgressStep::AssociatePrivateRouteTable { zone } => {
                write!(f, "associate private subnet {zone} with its route table")
            }
            EgressStep::SetPrivateRoute { zone, nat } => {
                write!(f, "route 0.0.0.0/0 of private zone {zone} to NAT gateway {nat}")
            }
            EgressStep::DeletePrivateRoute { zone } => write!(f, "remove the 0.0.0.0/0 route of private zone {zone}"),
            EgressStep::CreateEndpoint { endpoint } => write!(f, "create VPC endpoint {}", endpoint.service()),
            EgressStep::ModifyEndpoint { id, endpoint, changes } => {
                write!(
                    f,
                    "set {} of VPC endpoint {} ({id})",
                    changes.join(", "),
                    endpoint.service()
                )
            }
            EgressStep::DeleteEndpoint { id, endpoint } => {
                write!(f, "delete VPC endpoint {} ({id})", endpoint.service())
            }
            EgressStep::RestoreTags { component, id, keys } => {
                write!(f, "restore tags {} on {component} ({id})", keys.join(", "))
            }
            EgressStep::AwaitEgressGone { what } => write!(f, "wait until {what} deleted"),
        }
    }
}

/// The ids the plan compares against: private route tables and subnets per zone, the endpoints group.
struct Known<'a> {
    desired: &'a DesiredStack,
    observed: &'a ObservedStack,
}

impl Known<'_> {
    fn table(&self, zone: usize) -> Option<&crate::model::stack::ObservedRouteTable> {
        let c = private_table_component(zone);
        self.observed.route_tables.iter().find(|t| t.component == c)
    }

    /// Found as the network plan finds it (by tag, else by CIDR in the stack's VPC).
    fn private_subnet(&self, zone: usize) -> Option<&str> {
        let c = format!("subnet/private/{zone}");
        let DesiredNetwork::Create { subnets, .. } = &self.desired.network else {
            return None;
        };
        let s = subnets.iter().find(|s| s.component == c)?;
        self.observed.match_subnet(s).map(|o| o.id.as_str())
    }
}

/// Steps that give the private subnets of `zones` zones the egress `want`.
pub fn plan(desired: &DesiredStack, want: &DesiredEgress, zones: usize, observed: &ObservedStack) -> Vec<EgressStep> {
    let o = &observed.egress;
    let known = Known { desired, observed };
    let mut steps = Vec::new();
    let gateways = want.nat.gateways(zones);
    // NAT gateways, each with its Elastic IP.
    for &i in &gateways {
        match o.nat(i) {
            Some(n) => restore(desired, &nat_component(i), &n.id, &n.tags, &mut steps),
            None => {
                if o.address(i).is_none() {
                    steps.push(EgressStep::AllocateAddress { index: i });
                }
                steps.push(EgressStep::CreateNatGateway { index: i });
            }
        }
        if let Some(a) = o.address(i) {
            restore(desired, &address_component(i), &a.allocation_id, &a.tags, &mut steps);
        }
    }
    // Private route tables: one per zone, routing to the zone's NAT gateway once it is available.
    for zone in 0..zones {
        let table = known.table(zone);
        match table {
            Some(t) => {
                let (id, tags) = (t.id.clone(), t.tags.clone());
                restore(desired, &private_table_component(zone), &id, &tags, &mut steps);
            }
            None => steps.push(EgressStep::CreatePrivateRouteTable { zone }),
        }
        let associated = match (table, known.private_subnet(zone)) {
            (Some(t), Some(s)) => t.associated_subnets.iter().any(|a| a == s),
            _ => false,
        };
        if !associated {
            steps.push(EgressStep::AssociatePrivateRouteTable { zone });
        }
        let route = table.and_then(|t| t.default_route.as_deref());
        match want.nat.route_for(zone) {
            Some(i) => {
                // Routed once the gateway is available: a pending one is waited for (status says
                // so), an absent one is created above and routed to by a later reconcile.
                if let Some(n) = o.nat(i).filter(|n| n.state == "available")
                    && route != Some(n.id.as_str())
                {
                    steps.push(EgressStep::SetPrivateRoute { zone, nat: i });
                }
            }
            None if route.is_some() => steps.push(EgressStep::DeletePrivateRoute { zone }),
            None => {}
        }
    }
    // Gateways no zone routes to any more (after the routes moved), and failed ones (replaced
    // above: failed ones are not live).
    for n in &o.nat_gateways {
        let wanted = index_of(&n.component, "nat").is_some_and(|i| gateways.contains(&i));
        if n.state == "failed" || (n.live() && !wanted) {
            steps.push(EgressStep::DeleteNatGateway { id: n.id.clone() });
        }
    }
    // Elastic IPs nothing wants any more, once AWS has released them from their gateway; and a
    // copy a retried AllocateAddress made (it takes no client token), never used.
    for a in &o.addresses {
        let index = index_of(&a.component, "eip").filter(|i| gateways.contains(i));
        let in_use = index.and_then(|i| o.address(i)).map(|u| u.allocation_id.as_str());
        if in_use != Some(a.allocation_id.as_str()) && a.association_id.is_none() {
            steps.push(EgressStep::ReleaseAddress {
                allocation_id: a.allocation_id.clone(),
            });
        }
    }
    plan_endpoints(desired, want, zones, observed, &mut steps);
    steps
}

fn plan_endpoints(
    desired: &DesiredStack,
    want: &DesiredEgress,
    zones: usize,
    observed: &ObservedStack,
    steps: &mut Vec<EgressStep>,
) {
    let known = Known { desired, observed };
    let o = &observed.egress;
    // What an endpoint should be attached to, when all of it is known.
    let tables: Option<Vec<String>> = (0..zones).map(|z| known.table(z).map(|t| t.id.clone())).collect();
    let subnets: Option<Vec<String>> = (0..zones).map(|z| known.private_subnet(z).map(String::from)).collect();
    let group = observed.group_id(SgRole::Endpoints).map(String::from);
    for &e in &want.endpoints {
        let Some(have) = o.endpoints.iter().find(|h| h.endpoint == e && !h.deleting()) else {
            steps.push(EgressStep::CreateEndpoint { endpoint: e });
            continue;
        };
        restore(desired, &e.component(), &have.id, &have.tags, steps);
        let mut changes = Vec::new();
        if e.gateway() {
            if tables.as_ref().is_some_and(|t| sorted(t) != have.route_table_ids) {
                changes.push("route tables");
            }
        } else {
            if subnets.as_ref().is_some_and(|s| sorted(s) != have.subnet_ids) {
                changes.push("subnets");
            }
            if group.as_ref().is_some_and(|g| have.security_group_ids != [g.clone()]) {
                changes.push("security groups");
            }
        }
        if !changes.is_empty() {
            steps.push(EgressStep::ModifyEndpoint {
                id: have.id.clone(),
                endpoint: e,
                changes,
            });
        }
    }
    for h in &o.endpoints {
        if !want.endpoints.contains(&h.endpoint) && !h.deleting() {
            steps.push(EgressStep::DeleteEndpoint {
                id: h.id.clone(),
                endpoint: h.endpoint,
            });
        }
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn restore(
    desired: &DesiredStack,
    component: &str,
    id: &str,
    have: &crate::model::TagMap,
    steps: &mut Vec<EgressStep>,
) {
    let keys = missing_tags(&desired.tags_for(component), have);
    if !keys.is_empty() {
        steps.push(EgressStep::RestoreTags {
            component: component.into(),
            id: id.into(),
            keys,
        });
    }
}

/// Deletion, before the subnets and groups: endpoints and NAT gateways go, then (when AWS has
/// finished deleting them) the Elastic IPs are released.
pub fn plan_cleanup(o: &ObservedEgress) -> Vec<EgressStep> {
    let mut steps = Vec::new();
    for h in o.endpoints.iter().filter(|h| !h.deleting()) {
        steps.push(EgressStep::DeleteEndpoint {
            id: h.id.clone(),
            endpoint: h.endpoint,
        });
    }
    for n in o.nat_gateways.iter().filter(|n| n.state != "deleting") {
        steps.push(EgressStep::DeleteNatGateway { id: n.id.clone() });
    }
    let mut going = Vec::new();
    if !o.nat_gateways.is_empty() {
        going.push(format!("{} NAT gateway(s)", o.nat_gateways.len()));
    }
    if !o.endpoints.is_empty() {
        going.push(format!("{} VPC endpoint(s)", o.endpoints.len()));
    }
    if going.is_empty() {
        for a in &o.addresses {
            steps.push(EgressStep::ReleaseAddress {
                allocation_id: a.allocation_id.clone(),
            });
        }
    } else {
        steps.push(EgressStep::AwaitEgressGone {
            what: format!("{} are", going.join(" and ")),
        });
    }
    steps
}

/// Why egress is not ready yet: a NAT gateway being created.
pub fn waiting_for(o: &ObservedEgress) -> Option<String> {
    o.nat_gateways
        .iter()
        .find(|n| n.state == "pending")
        .map(|n| format!("NAT gateway {} is pending (AWS takes a few minutes)", n.id))
}

impl crate::reconcile::Step for EgressStep {
    fn action(&self) -> &'static str {
        EgressStep::action(self)
    }
}

/// The egress part.
pub struct Egress;

impl Part for Egress {
    type Step = EgressStep;

    /// Only for a VPC the stack created: an adopted VPC is never changed.
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<EgressStep> {
        match &desired.network {
            DesiredNetwork::Create { subnets, egress, .. } => {
                let zones = subnets.iter().filter(|s| !s.public).count();
                plan(desired, egress, zones, observed)
            }
            DesiredNetwork::Adopt { .. } => Vec::new(),
        }
    }

    /// A kept network keeps its egress (untagged with it by the network part).
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<EgressStep> {
        if how.retain || how.keep_network {
            Vec::new()
        } else {
            plan_cleanup(&observed.egress)
        }
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        io::observe(cx, observed).await
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &EgressStep) -> Result<(), ApplyError> {
        io::apply_step(cx, step).await
    }
}

#[cfg(test)]
mod tests;
