//! Egress I/O: observing NAT gateways, Elastic IPs and VPC endpoints, and running egress steps.

use super::apply::{ApplyError, Ids, need};
use super::egress::EgressStep;
use super::observe::ObserveError;
use super::step::Step;
use crate::aws::Clients;
use crate::aws::egress::{self, Attachment};
use crate::model::egress::{ObservedEgress, address_component, nat_component, private_table_component};
use crate::model::stack::{DesiredNetwork, DesiredStack, ObservedStack, SgRole};
use crate::model::{Conflict, Owner};
use crate::reconcile::Blocked;

/// What observation needs: the VPC (NAT gateways are read by VPC), the owner (endpoints and
/// addresses are read by uid tag) and whether this is a deletion.
pub struct EgressKey<'a> {
    pub vpc: Option<&'a str>,
    pub owner: &'a Owner,
    pub deleting: bool,
}

/// Reads the stack's egress. Found by VPC or uid; the cluster tag decides ownership: while
/// converging, another's resource stops the reconcile; while deleting it is left out.
pub async fn observe(clients: &Clients, key: &EgressKey<'_>) -> Result<ObservedEgress, ObserveError> {
    let c = &clients.ec2;
    let mut o = ObservedEgress::default();
    let Some(vpc) = key.vpc else {
        return Ok(o);
    };
    let keep = |kind: &'static str, id: &str, tags: &crate::model::TagMap| -> Result<bool, Conflict> {
        match key.owner.check(kind, id, tags) {
            Ok(()) => Ok(true),
            Err(_) if key.deleting => Ok(false),
            Err(conflict) => Err(conflict),
        }
    };
    for n in egress::nat_gateways(c, vpc).await? {
        if keep("NAT gateway", &n.id, &n.tags)? {
            o.nat_gateways.push(n);
        }
    }
    for e in egress::endpoints(c, &key.owner.uid).await? {
        if keep("VPC endpoint", &e.id, &e.tags)? {
            o.endpoints.push(e);
        }
    }
    // Read every time: an address is released only once AWS has freed it from a deleted gateway,
    // which may be long after the stack settled (a NAT gateway takes minutes to delete).
    for a in egress::addresses(c, &key.owner.uid).await? {
        if keep("Elastic IP", &a.allocation_id, &a.tags)? {
            o.addresses.push(a);
        }
    }
    Ok(o)
}

/// Where endpoints attach, as known at this point: every private table, subnet and the endpoints group.
fn attachment(desired: &DesiredStack, ids: &Ids) -> Attachment {
    let zones = match &desired.network {
        DesiredNetwork::Create { subnets, .. } => subnets.iter().filter(|s| !s.public).count(),
        DesiredNetwork::Adopt { .. } => 0,
    };
    let mut at = Attachment {
        route_tables: (0..zones)
            .filter_map(|z| ids.tables.get(&private_table_component(z)).cloned())
            .collect(),
        subnets: (0..zones)
            .filter_map(|z| ids.subnets.get(&format!("subnet/private/{z}")).cloned())
            .collect(),
        security_group: ids.groups.get(&SgRole::Endpoints).cloned(),
    };
    at.route_tables.sort();
    at.subnets.sort();
    at
}

pub(super) async fn apply(
    clients: &Clients,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    ids: &mut Ids,
    step: &Step,
    e: &EgressStep,
) -> Result<(), ApplyError> {
    let c = &clients.ec2;
    let desired = || {
        desired.ok_or_else(|| ApplyError::Missing {
            step: step.to_string(),
            missing: "the desired state",
        })
    };
    match e {
        EgressStep::AllocateAddress { index } => {
            let id = egress::allocate_address(c, &desired()?.tags_for(&address_component(*index))).await?;
            ids.addresses.insert(*index, id);
        }
        EgressStep::CreateNatGateway { index } => {
            let subnet = need(
                &ids.subnets.get(&format!("subnet/public/{index}")).cloned(),
                step,
                "the public subnet",
            )?
            .to_string();
            let eip = need(&ids.addresses.get(index).cloned(), step, "the Elastic IP")?.to_string();
            let tags = desired()?.tags_for(&nat_component(*index));
            let id = egress::create_nat_gateway(c, &subnet, &eip, &tags).await?;
            ids.nats.insert(*index, id);
        }
        EgressStep::DeleteNatGateway { id } => egress::delete_nat_gateway(c, id).await?,
        EgressStep::ReleaseAddress { allocation_id } => egress::release_address(c, allocation_id).await?,
        EgressStep::CreatePrivateRouteTable { zone } => {
            let component = private_table_component(*zone);
            let vpc = need(&ids.vpc, step, "the VPC")?;
            let id = crate::aws::ec2::create_route_table(c, vpc, &desired()?.tags_for(&component)).await?;
            ids.tables.insert(component, id);
        }
        EgressStep::AssociatePrivateRouteTable { zone } => {
            let table = need(
                &ids.tables.get(&private_table_component(*zone)).cloned(),
                step,
                "the route table",
            )?
            .to_string();
            let subnet = need(
                &ids.subnets.get(&format!("subnet/private/{zone}")).cloned(),
                step,
                "the private subnet",
            )?
            .to_string();
            crate::aws::ec2::associate_route_table(c, &table, &subnet).await?;
        }
        EgressStep::SetPrivateRoute { zone, nat } => {
            let table = need(
                &ids.tables.get(&private_table_component(*zone)).cloned(),
                step,
                "the route table",
            )?
            .to_string();
            let nat = need(&ids.nats.get(nat).cloned(), step, "the NAT gateway")?.to_string();
            egress::set_nat_route(c, &table, &nat).await?;
        }
        EgressStep::DeletePrivateRoute { zone } => {
            let table = need(
                &ids.tables.get(&private_table_component(*zone)).cloned(),
                step,
                "the route table",
            )?
            .to_string();
            egress::delete_default_route(c, &table).await?;
        }
        EgressStep::CreateEndpoint { endpoint } => {
            let d = desired()?;
            let vpc = need(&ids.vpc, step, "the VPC")?.to_string();
            let at = attachment(d, ids);
            if !endpoint.gateway() && at.security_group.is_none() {
                return Err(ApplyError::Missing {
                    step: step.to_string(),
                    missing: "the endpoints security group",
                });
            }
            let tags = d.tags_for(&endpoint.component());
            egress::create_endpoint(c, &vpc, *endpoint, &clients.region(), &at, &tags).await?;
        }
        EgressStep::ModifyEndpoint { id, .. } => {
            let have = observed
                .egress
                .endpoints
                .iter()
                .find(|h| &h.id == id)
                .expect("planned from observed");
            egress::modify_endpoint(c, have, &attachment(desired()?, ids)).await?;
        }
        EgressStep::DeleteEndpoint { id, .. } => egress::delete_endpoint(c, id).await?,
        EgressStep::AwaitEgressGone { what } => {
            return Err(ApplyError::Blocked(Blocked::waiting(format!("{what} being deleted"))));
        }
    }
    Ok(())
}
