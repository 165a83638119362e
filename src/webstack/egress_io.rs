//! Egress I/O: running egress steps with the ids known at this point (observed, then created by
//! earlier steps of the same apply). Observation is in `observe.rs`.

use std::collections::BTreeMap;

use super::egress::EgressStep;
use crate::aws::egress::{self, Attachment};
use crate::aws::{AwsError, Clients, ec2};
use crate::model::egress::{ObservedEgress, address_component, nat_component, private_table_component};
use crate::model::ownership::select;
use crate::model::stack::{DesiredNetwork, DesiredStack, SgRole};

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
