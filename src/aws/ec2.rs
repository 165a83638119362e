//! EC2: availability zones, VPC, subnets, internet gateway, route tables and security groups of a
//! stack, found by the `webstack.io/uid` tag the create calls write.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, RouteTable, Tag, TagSpecification, UserIdGroupPair,
};

use super::{AwsError, TagMap, classify, deleted, sdk_tags, tag_map};
use crate::model::ownership::{COMPONENT, MANAGED_BY, UID};
use crate::model::stack::{
    ObservedGateway, ObservedRouteTable, ObservedSecurityGroup, ObservedSubnet, ObservedVpc, RawIngress, SgRole,
    StackKey,
};

/// What EC2 holds of one stack.
#[derive(Clone, Debug, Default)]
pub struct Ec2Observed {
    pub vpc: Option<ObservedVpc>,
    pub subnets: Vec<ObservedSubnet>,
    pub internet_gateway: Option<ObservedGateway>,
    pub route_tables: Vec<ObservedRouteTable>,
    pub security_groups: Vec<ObservedSecurityGroup>,
    /// Further VPCs and gateways tagged with the stack's uid (see [`ObservedStack`]).
    pub duplicate_vpcs: Vec<ObservedVpc>,
    pub duplicate_gateways: Vec<ObservedGateway>,
}

pub(super) fn by_uid(uid: &str) -> Filter {
    Filter::builder().name(format!("tag:{UID}")).values(uid).build()
}

pub(super) fn tag_map(tags: &[Tag]) -> TagMap {
    tag_map!(tags)
}

pub(super) fn tag_spec(kind: ResourceType, tags: &TagMap) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

/// The region's available zones of type `availability-zone`, sorted by name. Local Zones and
/// Wavelength Zones an account opted into are listed too (their names, `us-west-2-lax-1a`, sort
/// before the region's own) but lack services a stack needs (NAT gateways, RDS, ALB in most).
pub async fn availability_zones(c: &Client) -> Result<Vec<String>, AwsError> {
    let out = c
        .describe_availability_zones()
        .filters(Filter::builder().name("state").values("available").build())
        .filters(Filter::builder().name("zone-type").values("availability-zone").build())
        .send()
        .await
        .map_err(|e| classify("DescribeAvailabilityZones", e))?;
    let zones = out
        .availability_zones()
        .iter()
        .filter_map(|z| Some((z.zone_name()?, z.zone_type().unwrap_or("availability-zone"))));
    Ok(usable_zones(zones))
}

/// The zones a stack may use, sorted: `(name, zone type)` pairs of type `availability-zone`
/// (checked here as well as in the request filter).
pub fn usable_zones<'a>(zones: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut names: Vec<String> = zones
        .into_iter()
        .filter(|(_, kind)| *kind == "availability-zone")
        .map(|(name, _)| name.to_string())
        .collect();
    names.sort();
    names
}

/// Observes the stack's EC2 resources. An adopted VPC (`spec.network.vpcId`) and its subnets are
/// read but never managed. A VPC the operator created is known from its subnets' `VpcId` when it
/// has any (a VPC cannot be deleted while subnets remain), saving a DescribeVpcs per reconcile,
/// and the gateway from the public route table's default route; `key.every_copy` (deletion) reads
/// both by tag instead, so that every copy a retried create made is found.
///
/// With `key.known_vpc` (the VPC in status) subnets are read by VPC rather than by tag, so one whose
/// tags were removed by hand is still seen (with no component) and can be re-tagged.
pub async fn observe(c: &Client, key: &StackKey) -> Result<Ec2Observed, AwsError> {
    let uid = key.owner.uid.as_str();
    let mut o = Ec2Observed::default();
    if let Some(vpc) = &key.adopted_vpc {
        // Adopted: read the named VPC and subnets (never managed), then the stack's own groups.
        o.vpc = describe_vpcs(c, Some(vpc), None)
            .await?
            .into_iter()
            .next()
            .map(|mut v| {
                v.managed = false;
                v
            });
        o.subnets = describe_subnets(c, &key.adopted_subnets).await?;
        o.security_groups = security_groups(c, uid).await?;
        return Ok(o);
    }
    // The VPC in status is taken as the stack's only when it holds one of the stack's subnets, or
    // (all their tags removed by hand: one more call) is itself tagged as the stack's. Status is
    // not trusted: a VPC id written there by anyone else is never treated as the stack's.
    let mut known = key.known_vpc.clone();
    let found = loop {
        let filter = match &known {
            Some(vpc) => Filter::builder().name("vpc-id").values(vpc).build(),
            None => by_uid(uid),
        };
        let subnets = c
            .describe_subnets()
            .filters(filter)
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", e))?;
        let found: Vec<ObservedSubnet> = subnets.subnets().iter().map(|s| subnet(s, true)).collect();
        let ours = |s: &ObservedSubnet| s.tags.get(UID).map(String::as_str) == Some(uid);
        let Some(vpc) = known.as_deref() else { break found };
        if found.is_empty() || found.iter().any(ours) {
            break found;
        }
        let tagged = describe_vpcs(c, Some(vpc), None).await?;
        if tagged.iter().any(|v| v.tags.get(UID).map(String::as_str) == Some(uid)) {
            break found;
        }
        known = None;
    };
    for mut s in found {
        if s.tags.get(UID).map(String::as_str) != Some(uid) {
            if s.tags.contains_key(MANAGED_BY) {
                continue; // another stack's subnet: never the stack's
            }
            s.component = None;
        }
        o.subnets.push(s);
    }
    let in_use = o.subnets.first().map(|s| s.vpc_id.clone());
    match (&in_use, key.every_copy) {
        (Some(id), false) => {
            o.vpc = Some(ObservedVpc {
                id: id.clone(),
                cidr: String::new(),
                managed: true,
                tags: TagMap::new(),
            })
        }
        _ => {
            let preferred = in_use.as_ref().or(key.known_vpc.as_ref());
            let (vpc, copies) = pick(describe_vpcs(c, None, Some(uid)).await?, |v| Some(&v.id) == preferred);
            o.vpc = vpc;
            o.duplicate_vpcs = copies;
        }
    }
    let tables = c
        .describe_route_tables()
        .filters(by_uid(uid))
        .send()
        .await
        .map_err(|e| classify("DescribeRouteTables", e))?;
    o.route_tables = tables.route_tables().iter().filter_map(route_table).collect();
    // The gateway from the public table's route (private tables route to NAT gateways).
    let routed = o
        .route_tables
        .iter()
        .filter(|t| t.component == crate::model::stack::PUBLIC_ROUTE_TABLE)
        .find_map(|t| t.default_route.clone());
    match (routed, &o.vpc, key.every_copy) {
        (Some(route), Some(vpc), false) => {
            o.internet_gateway = Some(ObservedGateway {
                id: route,
                attached_vpc: Some(vpc.id.clone()),
                tags: TagMap::new(),
            })
        }
        _ => {
            let vpc = o.vpc.as_ref().map(|v| v.id.clone());
            let (igw, copies) = pick(internet_gateways(c, uid).await?, |g| {
                vpc.is_some() && g.attached_vpc == vpc
            });
            o.internet_gateway = igw;
            o.duplicate_gateways = copies;
        }
    }
    o.security_groups = security_groups(c, uid).await?;
    Ok(o)
}

/// The one to use of several copies (the first that is `preferred`, else the first by id) and the rest.
fn pick<T>(mut all: Vec<T>, preferred: impl Fn(&T) -> bool) -> (Option<T>, Vec<T>) {
    if all.is_empty() {
        return (None, all);
    }
    let at = all.iter().position(preferred).unwrap_or(0);
    let chosen = all.remove(at);
    (Some(chosen), all)
}

/// The stack's security groups (by uid tag) with their ingress and tags.
async fn security_groups(c: &Client, uid: &str) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
    let mut found = Vec::new();
    let groups = c
        .describe_security_groups()
        .filters(by_uid(uid))
        .send()
        .await
        .map_err(|e| classify("DescribeSecurityGroups", e))?;
    for g in groups.security_groups() {
        let tags = tag_map(g.tags());
        let (Some(id), Some(role)) = (
            g.group_id(),
            tags.get(COMPONENT).and_then(|c| SgRole::from_component(c)),
        ) else {
            continue;
        };
        let mut ingress = Vec::new();
        for p in g.ip_permissions() {
            let (from, to) = (p.from_port().unwrap_or(0), p.to_port().unwrap_or(65535));
            for r in p.ip_ranges() {
                ingress.push(RawIngress {
                    from_port: from,
                    to_port: to,
                    cidr: r.cidr_ip().map(String::from),
                    group_id: None,
                });
            }
            for pair in p.user_id_group_pairs() {
                ingress.push(RawIngress {
                    from_port: from,
                    to_port: to,
                    cidr: None,
                    group_id: pair.group_id().map(String::from),
                });
            }
        }
        ingress.sort();
        found.push(ObservedSecurityGroup {
            id: id.into(),
            role,
            ingress,
            tags,
        });
    }
    found.sort_by_key(|g| g.role);
    Ok(found)
}

/// The internet gateways tagged with the stack's uid, sorted by id.
async fn internet_gateways(c: &Client, uid: &str) -> Result<Vec<ObservedGateway>, AwsError> {
    let out = c
        .describe_internet_gateways()
        .filters(by_uid(uid))
        .send()
        .await
        .map_err(|e| classify("DescribeInternetGateways", e))?;
    let mut found: Vec<ObservedGateway> = out
        .internet_gateways()
        .iter()
        .filter_map(|g| {
            Some(ObservedGateway {
                id: g.internet_gateway_id()?.to_string(),
                attached_vpc: g
                    .attachments()
                    .iter()
                    .find(|a| {
                        a.state()
                            .is_some_and(|s| s.as_str() == "available" || s.as_str() == "attached")
                    })
                    .and_then(|a| a.vpc_id().map(String::from)),
                tags: tag_map(g.tags()),
            })
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// VPCs by id or by uid tag, sorted by id (an unknown id is none).
async fn describe_vpcs(c: &Client, id: Option<&str>, uid: Option<&str>) -> Result<Vec<ObservedVpc>, AwsError> {
    let mut req = c.describe_vpcs();
    if let Some(id) = id {
        req = req.vpc_ids(id);
    }
    if let Some(uid) = uid {
        req = req.filters(by_uid(uid));
    }
    match req.send().await.map_err(|e| classify("DescribeVpcs", e)) {
        Ok(out) => {
            let mut vpcs: Vec<ObservedVpc> = out
                .vpcs()
                .iter()
                .filter_map(|v| {
                    Some(ObservedVpc {
                        id: v.vpc_id()?.to_string(),
                        cidr: v.cidr_block()?.to_string(),
                        managed: true,
                        tags: tag_map(v.tags()),
                    })
                })
                .collect();
            vpcs.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(vpcs)
        }
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn subnet(s: &aws_sdk_ec2::types::Subnet, managed: bool) -> ObservedSubnet {
    let tags = tag_map(s.tags());
    ObservedSubnet {
        id: s.subnet_id().unwrap_or_default().into(),
        vpc_id: s.vpc_id().unwrap_or_default().into(),
        cidr: s.cidr_block().unwrap_or_default().into(),
        availability_zone: s.availability_zone().unwrap_or_default().into(),
        component: if managed { tags.get(COMPONENT).cloned() } else { None },
        tags,
    }
}

fn route_table(t: &RouteTable) -> Option<ObservedRouteTable> {
    let tags = tag_map(t.tags());
    let component = tags.get(COMPONENT).cloned()?;
    let default_route = t
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0") && r.state().is_none_or(|s| s.as_str() == "active"))
        .and_then(|r| r.gateway_id().or(r.nat_gateway_id()).map(String::from));
    Some(ObservedRouteTable {
        id: t.route_table_id()?.into(),
        component,
        default_route,
        associated_subnets: t
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(String::from))
            .collect(),
        association_ids: t
            .associations()
            .iter()
            .filter(|a| a.subnet_id().is_some())
            .filter_map(|a| a.route_table_association_id().map(String::from))
            .collect(),
        tags,
    })
}

/// Subnets by id (for an adopted network): id and VPC of each one that exists.
pub async fn describe_subnets(c: &Client, ids: &[String]) -> Result<Vec<ObservedSubnet>, AwsError> {
    match c.describe_subnets().set_subnet_ids(Some(ids.to_vec())).send().await {
        Ok(out) => Ok(out.subnets().iter().map(|s| subnet(s, false)).collect()),
        Err(e) => {
            let e = classify("DescribeSubnets", e);
            if e.is_not_found() { Ok(Vec::new()) } else { Err(e) }
        }
    }
}

/// Creates a VPC (tags in the call). CreateVpc takes no client token: a copy a retried call makes
/// is found by its tags and deleted (see [`observe`]).
pub async fn create_vpc(c: &Client, cidr: &str, tags: &TagMap) -> Result<String, AwsError> {
    let out = c
        .create_vpc()
        .cidr_block(cidr)
        .tag_specifications(tag_spec(ResourceType::Vpc, tags))
        .send()
        .await
        .map_err(|e| classify("CreateVpc", e))?;
    Ok(out.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().into())
}

pub async fn create_subnet(c: &Client, vpc: &str, cidr: &str, zone: &str, tags: &TagMap) -> Result<String, AwsError> {
    let out = c
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(zone)
        .tag_specifications(tag_spec(ResourceType::Subnet, tags))
        .send()
        .await
        .map_err(|e| classify("CreateSubnet", e))?;
    Ok(out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().into())
}

pub async fn create_internet_gateway(c: &Client, tags: &TagMap) -> Result<String, AwsError> {
    let out = c
        .create_internet_gateway()
        .tag_specifications(tag_spec(ResourceType::InternetGateway, tags))
        .send()
        .await
        .map_err(|e| classify("CreateInternetGateway", e))?;
    Ok(out
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap_or_default()
        .into())
}

pub async fn attach_internet_gateway(c: &Client, igw: &str, vpc: &str) -> Result<(), AwsError> {
    c.attach_internet_gateway()
        .internet_gateway_id(igw)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(|e| classify("AttachInternetGateway", e))?;
    Ok(())
}

pub async fn create_route_table(c: &Client, vpc: &str, tags: &TagMap) -> Result<String, AwsError> {
    let out = c
        .create_route_table()
        .vpc_id(vpc)
        // The SDK fills one in when absent; set here so that it is plain that this create is idempotent.
        .client_token(super::token())
        .tag_specifications(tag_spec(ResourceType::RouteTable, tags))
        .send()
        .await
        .map_err(|e| classify("CreateRouteTable", e))?;
    Ok(out
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default()
        .into())
}

/// Where a default route goes: an internet gateway (public table) or a NAT gateway (private ones).
#[derive(Clone, Copy, Debug)]
pub enum RouteTarget<'a> {
    InternetGateway(&'a str),
    NatGateway(&'a str),
}

/// Points `0.0.0.0/0` of the table at `target`, replacing a route that points elsewhere.
pub async fn set_default_route(c: &Client, table: &str, target: RouteTarget<'_>) -> Result<(), AwsError> {
    let (igw, nat) = match target {
        RouteTarget::InternetGateway(id) => (Some(id.to_string()), None),
        RouteTarget::NatGateway(id) => (None, Some(id.to_string())),
    };
    let created = c
        .create_route()
        .route_table_id(table)
        .destination_cidr_block("0.0.0.0/0")
        .set_gateway_id(igw.clone())
        .set_nat_gateway_id(nat.clone())
        .send()
        .await
        .map_err(|e| classify("CreateRoute", e));
    match created {
        Err(e) if e.code == "RouteAlreadyExists" => {
            c.replace_route()
                .route_table_id(table)
                .destination_cidr_block("0.0.0.0/0")
                .set_gateway_id(igw)
                .set_nat_gateway_id(nat)
                .send()
                .await
                .map_err(|e| classify("ReplaceRoute", e))?;
            Ok(())
        }
        other => other.map(drop),
    }
}

pub async fn associate_route_table(c: &Client, table: &str, subnet: &str) -> Result<(), AwsError> {
    c.associate_route_table()
        .route_table_id(table)
        .subnet_id(subnet)
        .send()
        .await
        .map_err(|e| classify("AssociateRouteTable", e))?;
    Ok(())
}

pub async fn create_security_group(
    c: &Client,
    vpc: &str,
    name: &str,
    description: &str,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_security_group()
        .vpc_id(vpc)
        .group_name(name)
        .description(description)
        .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags))
        .send()
        .await
        .map_err(|e| classify("CreateSecurityGroup", e))?;
    Ok(out.group_id().unwrap_or_default().into())
}

/// TCP permissions from (from port, to port, CIDR or group id).
fn permissions(rules: &[RawIngress]) -> Vec<IpPermission> {
    rules
        .iter()
        .map(|r| {
            let mut p = IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(r.from_port)
                .to_port(r.to_port);
            if let Some(c) = &r.cidr {
                p = p.ip_ranges(IpRange::builder().cidr_ip(c).build());
            }
            if let Some(g) = &r.group_id {
                p = p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build());
            }
            p.build()
        })
        .collect()
}

pub async fn authorize_ingress(c: &Client, group: &str, rules: &[RawIngress]) -> Result<(), AwsError> {
    c.authorize_security_group_ingress()
        .group_id(group)
        .set_ip_permissions(Some(permissions(rules)))
        .send()
        .await
        .map_err(|e| classify("AuthorizeSecurityGroupIngress", e))?;
    Ok(())
}

pub async fn revoke_ingress(c: &Client, group: &str, rules: &[RawIngress]) -> Result<(), AwsError> {
    c.revoke_security_group_ingress()
        .group_id(group)
        .set_ip_permissions(Some(permissions(rules)))
        .send()
        .await
        .map_err(|e| classify("RevokeSecurityGroupIngress", e))?;
    Ok(())
}

/// Deletes by id, tolerating what is already gone.
pub async fn delete(c: &Client, kind: DeleteKind, id: &str) -> Result<(), AwsError> {
    match kind {
        DeleteKind::SecurityGroup => deleted(
            "DeleteSecurityGroup",
            c.delete_security_group().group_id(id).send().await,
            &[],
        ),
        DeleteKind::Subnet => deleted("DeleteSubnet", c.delete_subnet().subnet_id(id).send().await, &[]),
        DeleteKind::RouteTable => deleted(
            "DeleteRouteTable",
            c.delete_route_table().route_table_id(id).send().await,
            &[],
        ),
        DeleteKind::InternetGateway => deleted(
            "DeleteInternetGateway",
            c.delete_internet_gateway().internet_gateway_id(id).send().await,
            &[],
        ),
        DeleteKind::Vpc => deleted("DeleteVpc", c.delete_vpc().vpc_id(id).send().await, &[]),
    }
}

/// What [`delete`] deletes.
#[derive(Clone, Copy, Debug)]
pub enum DeleteKind {
    SecurityGroup,
    Subnet,
    RouteTable,
    InternetGateway,
    Vpc,
}

/// Removes a subnet association, tolerating one already gone.
pub async fn disassociate_route_table(c: &Client, association_id: &str) -> Result<(), AwsError> {
    deleted(
        "DisassociateRouteTable",
        c.disassociate_route_table().association_id(association_id).send().await,
        &[],
    )
}

pub async fn detach_internet_gateway(c: &Client, igw: &str, vpc: &str) -> Result<(), AwsError> {
    let result = c
        .detach_internet_gateway()
        .internet_gateway_id(igw)
        .vpc_id(vpc)
        .send()
        .await;
    deleted("DetachInternetGateway", result, &["Gateway.NotAttached"])
}

/// Adds or overwrites tags.
pub async fn tag(c: &Client, id: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.create_tags()
        .resources(id)
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateTags", e))?;
    Ok(())
}

/// Removes the ownership tags (`deletionPolicy: Retain`), leaving the resources in place.
pub async fn untag(c: &Client, ids: &[String], keys: &[&str]) -> Result<(), AwsError> {
    if ids.is_empty() {
        return Ok(());
    }
    c.delete_tags()
        .set_resources(Some(ids.to_vec()))
        .set_tags(Some(keys.iter().map(|k| Tag::builder().key(*k).build()).collect()))
        .send()
        .await
        .map_err(|e| classify("DeleteTags", e))?;
    Ok(())
}
