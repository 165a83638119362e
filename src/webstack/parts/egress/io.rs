//! Egress I/O: reading the NAT gateways, endpoints and Elastic IPs of a VPC the stack created, and
//! running egress steps with the ids known at this point (observed, then created by earlier steps
//! of the same apply).

use std::collections::BTreeMap;

use super::EgressStep;
use crate::aws::egress::{self, Attachment};
use crate::aws::{AwsError, Clients, ec2};
use crate::model::egress::{ObservedEgress, address_component, nat_component, private_table_component};
use crate::model::ownership::select;
use crate::model::stack::{DesiredNetwork, DesiredStack, ObservedStack, SgRole};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, ObserveCx};

/// What egress steps read and write: ids by component or index, shared with the rest of the apply.
pub struct EgressApply<'a> {
    pub clients: &'a Clients,
    pub desired: Option<&'a DesiredStack>,
    pub observed: &'a ObservedEgress,
    pub vpc: Option<&'a str>,
    /// Subnets by component (`subnet/private/0`).
    pub subnets: &'a BTreeMap<String, String>,
    pub groups: &'a BTreeMap<SgRole, String>,
    /// Private route tables by component, NAT gateways and Elastic IPs by index: created ones added.
    pub tables: &'a mut BTreeMap<String, String>,
    pub nats: &'a mut BTreeMap<usize, String>,
    pub addresses: &'a mut BTreeMap<usize, String>,
}

/// Why an egress step could not run.
#[derive(Debug)]
pub enum EgressError {
    Aws(AwsError),
    /// A prerequisite no earlier step produced.
    Missing(&'static str),
    /// A wait (gateways or endpoints being deleted).
    Waiting(String),
}

/// Egress of a VPC the stack created (an adopted one is never read for it): NAT gateways by VPC,
/// endpoints and Elastic IPs by uid. Addresses are read every time: one is released only once AWS
/// has freed it from a deleted gateway, which may be long after the stack settled.
pub async fn observe(cx: &ObserveCx<'_>, o: &mut ObservedStack) -> Result<(), Blocked> {
    let Some(vpc) = o.vpc.as_ref().filter(|v| v.managed).map(|v| v.id.clone()) else {
        return Ok(());
    };
    let c = &cx.clients.ec2;
    for n in egress::nat_gateways(c, &vpc).await? {
        if cx.keep("NAT gateway", &n.id, &n.tags)? {
            o.egress.nat_gateways.push(n);
        }
    }
    for e in egress::endpoints(c, &cx.owner.uid).await? {
        if cx.keep("VPC endpoint", &e.id, &e.tags)? {
            o.egress.endpoints.push(e);
        }
    }
    for a in egress::addresses(c, &cx.owner.uid).await? {
        if cx.keep("Elastic IP", &a.allocation_id, &a.tags)? {
            o.egress.addresses.push(a);
        }
    }
    Ok(())
}

/// Runs one egress step with the ids of this pass.
pub async fn apply_step(cx: &mut ApplyCx<'_>, step: &EgressStep) -> Result<(), ApplyError> {
    let ids = &mut cx.ids;
    let mut a = EgressApply {
        clients: cx.clients,
        desired: cx.desired,
        observed: &cx.observed.egress,
        vpc: ids.vpc.as_deref(),
        subnets: &ids.subnets,
        groups: &ids.groups,
        tables: &mut ids.tables,
        nats: &mut ids.nats,
        addresses: &mut ids.addresses,
    };
    apply(&mut a, step).await.map_err(|err| match err {
        EgressError::Aws(e) => ApplyError::Aws(e),
        EgressError::Missing(missing) => ApplyError::Missing {
            step: step.to_string(),
            missing,
        },
        EgressError::Waiting(w) => ApplyError::Blocked(Blocked::waiting(w)),
    })
}

impl From<AwsError> for EgressError {
    fn from(e: AwsError) -> EgressError {
        EgressError::Aws(e)
    }
}

fn need<T: Clone>(v: Option<&T>, missing: &'static str) -> Result<T, EgressError> {
    v.cloned().ok_or(EgressError::Missing(missing))
}

impl EgressApply<'_> {
    fn desired(&self) -> Result<&DesiredStack, EgressError> {
        self.desired.ok_or(EgressError::Missing("the desired state"))
    }

    fn subnet(&self, kind: &str, zone: usize) -> Result<String, EgressError> {
        need(self.subnets.get(&format!("subnet/{kind}/{zone}")), "the subnet")
    }

    fn table(&self, zone: usize) -> Result<String, EgressError> {
        need(self.tables.get(&private_table_component(zone)), "the route table")
    }

    /// Where endpoints attach: every private table and subnet, and the endpoints group.
    fn attachment(&self) -> Result<Attachment, EgressError> {
        let zones = match &self.desired()?.network {
            DesiredNetwork::Create { subnets, .. } => subnets.iter().filter(|s| !s.public).count(),
            DesiredNetwork::Adopt { .. } => 0,
        };
        let mut at = Attachment {
            route_tables: (0..zones)
                .filter_map(|z| self.tables.get(&private_table_component(z)).cloned())
                .collect(),
            subnets: (0..zones).filter_map(|z| self.subnet("private", z).ok()).collect(),
            security_group: self.groups.get(&SgRole::Endpoints).cloned(),
        };
        at.route_tables.sort();
        at.subnets.sort();
        Ok(at)
    }
}

pub async fn apply(a: &mut EgressApply<'_>, step: &EgressStep) -> Result<(), EgressError> {
    let c = &a.clients.ec2;
    match step {
        EgressStep::AllocateAddress { index } => {
            let id = egress::allocate_address(c, &a.desired()?.tags_for(&address_component(*index))).await?;
            a.addresses.insert(*index, id);
        }
        EgressStep::CreateNatGateway { index } => {
            let subnet = a.subnet("public", *index)?;
            let eip = need(a.addresses.get(index), "the Elastic IP")?;
            let tags = a.desired()?.tags_for(&nat_component(*index));
            let id = egress::create_nat_gateway(c, &subnet, &eip, &tags).await?;
            a.nats.insert(*index, id);
        }
        EgressStep::DeleteNatGateway { id } => egress::delete_nat_gateway(c, id).await?,
        EgressStep::ReleaseAddress { allocation_id } => egress::release_address(c, allocation_id).await?,
        EgressStep::CreatePrivateRouteTable { zone } => {
            let component = private_table_component(*zone);
            let vpc = need(a.vpc.as_ref(), "the VPC")?;
            let id = ec2::create_route_table(c, vpc, &a.desired()?.tags_for(&component)).await?;
            a.tables.insert(component, id);
        }
        EgressStep::AssociatePrivateRouteTable { zone } => {
            ec2::associate_route_table(c, &a.table(*zone)?, &a.subnet("private", *zone)?).await?;
        }
        EgressStep::SetPrivateRoute { zone, nat } => {
            let nat = need(a.nats.get(nat), "the NAT gateway")?;
            ec2::set_default_route(c, &a.table(*zone)?, ec2::RouteTarget::NatGateway(&nat)).await?;
        }
        EgressStep::DeletePrivateRoute { zone } => egress::delete_default_route(c, &a.table(*zone)?).await?,
        EgressStep::CreateEndpoint { endpoint } => {
            let vpc = need(a.vpc.as_ref(), "the VPC")?;
            let at = a.attachment()?;
            if !endpoint.gateway() && at.security_group.is_none() {
                return Err(EgressError::Missing("the endpoints security group"));
            }
            let tags = a.desired()?.tags_for(&endpoint.component());
            egress::create_endpoint(c, vpc, *endpoint, &a.clients.region(), &at, &tags).await?;
        }
        EgressStep::ModifyEndpoint { id, .. } => {
            let have = a.observed.endpoints.iter().find(|h| &h.id == id);
            let have = need(have, "the endpoint")?;
            egress::modify_endpoint(c, &have, &a.attachment()?).await?;
        }
        EgressStep::DeleteEndpoint { id, .. } => egress::delete_endpoint(c, id).await?,
        EgressStep::RestoreTags { component, id, keys } => {
            ec2::tag(c, id, &select(&a.desired()?.tags_for(component), keys)).await?;
        }
        EgressStep::AwaitEgressGone { what } => return Err(EgressError::Waiting(format!("{what} being deleted"))),
    }
    Ok(())
}
