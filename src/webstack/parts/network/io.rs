//! The network's I/O: reads the VPC, subnets, gateway, route tables and groups in as few EC2 calls
//! as possible (each checked for ownership), and runs the network's steps. Every create writes the
//! ownership tags in the create call itself.

use super::NetworkStep;
use crate::aws::ec2::{self, DeleteKind};
use crate::model::TagMap;
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::stack::{Ingress, ObservedStack, RawIngress, Source};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Ids, ObserveCx, need, wanted};

/// Found by the uid tag: the cluster tag decides. A subnet of the stack's own VPC whose tags were
/// removed by hand has no component and is kept (it is re-tagged, never created twice).
pub async fn observe(cx: &ObserveCx<'_>, o: &mut ObservedStack) -> Result<(), Blocked> {
    let net = ec2::observe(&cx.clients.ec2, cx.key).await?;
    for s in net.subnets {
        if s.component.is_none() || cx.keep("subnet", &s.id, &s.tags)? {
            o.subnets.push(s);
        }
    }
    for t in net.route_tables {
        if cx.keep("route table", &t.id, &t.tags)? {
            o.route_tables.push(t);
        }
    }
    for g in net.security_groups {
        if cx.keep("security group", &g.id, &g.tags)? {
            o.security_groups.push(g);
        }
    }
    // A VPC or gateway known from the subnets or the route (no tags read) is the stack's own.
    let read = |tags: &TagMap| !tags.is_empty();
    o.vpc = match net.vpc {
        Some(v) if v.managed && read(&v.tags) && !cx.keep("VPC", &v.id, &v.tags)? => None,
        other => other,
    };
    o.internet_gateway = match net.internet_gateway {
        Some(g) if read(&g.tags) && !cx.keep("internet gateway", &g.id, &g.tags)? => None,
        other => other,
    };
    o.duplicate_vpcs = net
        .duplicate_vpcs
        .into_iter()
        .filter(|v| cx.owner.owns(&v.tags))
        .collect();
    o.duplicate_gateways = net
        .duplicate_gateways
        .into_iter()
        .filter(|g| cx.owner.owns(&g.tags))
        .collect();
    Ok(())
}

fn raw(rules: &[Ingress], ids: &Ids, step: &NetworkStep) -> Result<Vec<RawIngress>, ApplyError> {
    rules
        .iter()
        .map(|r| {
            let (cidr, group_id) = match &r.source {
                Source::Cidr(c) => (Some(c.clone()), None),
                Source::Group(role) => (
                    None,
                    Some(need(ids.groups.get(role), step, "a security group")?.to_string()),
                ),
                Source::OtherGroup(g) => (None, Some(g.clone())),
            };
            Ok(RawIngress {
                from_port: r.from_port,
                to_port: r.to_port,
                cidr,
                group_id,
            })
        })
        .collect()
}

/// Runs one network step, recording the ids it creates.
pub async fn apply(cx: &mut ApplyCx<'_>, step: &NetworkStep) -> Result<(), ApplyError> {
    let (c, desired, ids) = (&cx.clients.ec2, cx.desired, &mut cx.ids);
    let want = || wanted(desired, step);
    match step {
        NetworkStep::CreateVpc { cidr } => {
            let tags = want()?.tags_for("vpc");
            ids.vpc = Some(ec2::create_vpc(c, cidr, &tags).await?)
        }
        NetworkStep::CreateInternetGateway => {
            let tags = want()?.tags_for("igw");
            ids.igw = Some(ec2::create_internet_gateway(c, &tags).await?)
        }
        NetworkStep::AttachInternetGateway => {
            ec2::attach_internet_gateway(
                c,
                need(ids.igw.as_ref(), step, "the gateway")?,
                need(ids.vpc.as_ref(), step, "the VPC")?,
            )
            .await?;
        }
        NetworkStep::CreateSubnet {
            component,
            cidr,
            availability_zone,
        } => {
            let tags = want()?.tags_for(component);
            let vpc = need(ids.vpc.as_ref(), step, "the VPC")?;
            let id = ec2::create_subnet(c, vpc, cidr, availability_zone, &tags).await?;
            ids.subnets.insert(component.clone(), id);
        }
        NetworkStep::CreateRouteTable { component } => {
            let tags = want()?.tags_for(component);
            let vpc = need(ids.vpc.as_ref(), step, "the VPC")?;
            ids.table = Some(ec2::create_route_table(c, vpc, &tags).await?);
        }
        NetworkStep::CreateDefaultRoute => {
            let igw = ec2::RouteTarget::InternetGateway(need(ids.igw.as_ref(), step, "the gateway")?);
            ec2::set_default_route(c, need(ids.table.as_ref(), step, "the route table")?, igw).await?;
        }
        NetworkStep::AssociateRouteTable { subnet_component } => {
            let subnet = need(ids.subnets.get(subnet_component), step, "the subnet")?;
            ec2::associate_route_table(c, need(ids.table.as_ref(), step, "the route table")?, subnet).await?;
        }
        NetworkStep::CreateSecurityGroup { role } => {
            let d = want()?;
            let g = d
                .security_groups
                .iter()
                .find(|g| g.role == *role)
                .expect("planned from desired");
            let vpc = need(ids.vpc.as_ref(), step, "the VPC")?;
            let id = ec2::create_security_group(c, vpc, &g.name, &g.description, &d.tags_for(role.component())).await?;
            ids.groups.insert(*role, id);
        }
        NetworkStep::AuthorizeIngress { role, rules } => {
            let group = need(ids.groups.get(role), step, "the security group")?;
            ec2::authorize_ingress(c, group, &raw(rules, ids, step)?).await?;
        }
        NetworkStep::RevokeIngress { role, rules } => {
            let group = need(ids.groups.get(role), step, "the security group")?;
            ec2::revoke_ingress(c, group, &raw(rules, ids, step)?).await?;
        }
        NetworkStep::RestoreTags { component, id, keys } => {
            let tags = want()?.tags_for(component);
            ec2::tag(c, id, &select(&tags, keys)).await?
        }
        NetworkStep::DeleteSecurityGroup { id, .. } => ec2::delete(c, DeleteKind::SecurityGroup, id).await?,
        NetworkStep::DeleteSubnet { id } => ec2::delete(c, DeleteKind::Subnet, id).await?,
        NetworkStep::DisassociateRouteTable { association_id } => {
            ec2::disassociate_route_table(c, association_id).await?
        }
        NetworkStep::DeleteRouteTable { id } => ec2::delete(c, DeleteKind::RouteTable, id).await?,
        NetworkStep::DetachInternetGateway { id, vpc_id } => ec2::detach_internet_gateway(c, id, vpc_id).await?,
        NetworkStep::DeleteInternetGateway { id } => ec2::delete(c, DeleteKind::InternetGateway, id).await?,
        NetworkStep::DeleteVpc { id } => ec2::delete(c, DeleteKind::Vpc, id).await?,
        NetworkStep::UntagEc2 { ids } => ec2::untag(c, ids, &OWNERSHIP_KEYS).await?,
    }
    Ok(())
}
