//! The batched sweep's reads (`--events-sweep-period`): per service, not per object. Each read
//! lists every resource of a type at once (tag-filtered EC2 describes, ELBv2 describes by page,
//! tags 20 ARNs a call, log groups and alarms by name prefix), and hands each resource over as an
//! [`Item`] as its answer is read: its identifier and a print of what can drift (volatile fields,
//! such as an alarm's state, left out). The caller folds and compares prints between sweeps.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ec2::types::Filter;

use super::{AwsError, Clients, classify};
use crate::model::ownership::CLUSTER;

/// One resource as a sweep found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its id or ARN, as the reconciles that made it named it.
    pub id: String,
    /// The kind of object whose own resource it is (`WebStack`, `TargetGroup`): a sweep covers
    /// that kind's objects, and only them, for this resource.
    pub kind: &'static str,
    /// What can drift, printed and hashed (the SDK's `Debug` of a target group, say, is often a
    /// kilobyte).
    pub print: u64,
}

fn item(id: Option<&str>, kind: &'static str, print: String) -> Option<Item> {
    Some(Item {
        id: id?.to_string(),
        kind,
        print: crate::model::hash_of(&print),
    })
}

/// The kind of object a swept resource is the own resource of, by its identifier as reconciles
/// name it (`None`: not a type the sweep reads): what a replica that does not run the sweep
/// itself (sharded) takes as covered. EC2's tagged types, load balancers, log groups and alarms
/// are a WebStack's; target groups a TargetGroup's.
pub fn own_kind(id: &str) -> Option<&'static str> {
    const EC2: [&str; 10] = [
        "vpc-",
        "subnet-",
        "igw-",
        "nat-",
        "eipalloc-",
        "vpce-",
        "rtb-",
        "sg-",
        "lt-",
        "fl-",
    ];
    if id.starts_with("arn:") {
        if id.contains(":targetgroup/") {
            Some(TARGET_GROUP)
        } else if id.contains(":loadbalancer/app/")
            || id.contains(":log-group:/webstack/")
            || id.contains(":alarm:webstack-")
        {
            Some(WEBSTACK)
        } else {
            None
        }
    } else if EC2.iter().any(|p| id.starts_with(p)) {
        Some(WEBSTACK)
    } else {
        None
    }
}

const WEBSTACK: &str = "WebStack";
const TARGET_GROUP: &str = "TargetGroup";

/// ELBv2's largest page of load balancers and target groups.
const ELB_PAGE: i32 = 400;
/// Security groups a page: each with its rules and tags is a kilobyte or two of XML, and an
/// answer is held whole, then parsed whole, so a page bounds the sweep's transient (a few more
/// calls a sweep than at 1,000 a page).
const SECURITY_GROUP_PAGE: i32 = 200;
/// DescribeTags takes at most 20 ARNs.
const TAGS_PER_CALL: usize = 20;

/// Which load balancers and target groups a sweep reads: those whose ARN the caller knows as the
/// operator's (only those have their tags read), or, when the caller cannot know them all (the
/// other shards' are named by other replicas' reconciles), every one's tags are read and those
/// tagged with the cluster id kept.
pub enum Known<'a> {
    Arns(&'a (dyn Fn(&str) -> bool + Sync)),
    Tagged,
}

/// Where a sweep's resources go, each as soon as its answer is read: a sweep never holds them
/// all (some 24,000 at 1,000 stacks, with their answers, were its memory's peak).
pub type Found<'a> = &'a mut (dyn FnMut(Item) + Send);

/// Every resource of the types a sweep reads, in the clients' region, handed to `found`. EC2
/// reads only what is tagged with `cluster_id` (`webstack.io/cluster`); ELBv2 what `known` says.
/// An error ends the read: what was handed over is then not a whole sweep.
pub async fn read(c: &Clients, cluster_id: &str, known: Known<'_>, found: Found<'_>) -> Result<(), AwsError> {
    ec2(c, cluster_id, found).await?;
    elbv2(c, cluster_id, known, found).await?;
    log_groups(c, found).await?;
    alarms(c, found).await
}

fn sorted_tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<&str, &str> {
    tags.iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
        .collect()
}

/// A permission with its ranges, groups and prefix lists in a fixed order (AWS promises none).
fn sorted_permission(p: &aws_sdk_ec2::types::IpPermission) -> aws_sdk_ec2::types::IpPermission {
    let mut p = p.clone();
    if let Some(r) = p.ip_ranges.as_mut() {
        r.sort_by(|a, b| a.cidr_ip.cmp(&b.cidr_ip));
    }
    if let Some(r) = p.ipv6_ranges.as_mut() {
        r.sort_by(|a, b| a.cidr_ipv6.cmp(&b.cidr_ipv6));
    }
    if let Some(g) = p.user_id_group_pairs.as_mut() {
        g.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    }
    if let Some(l) = p.prefix_list_ids.as_mut() {
        l.sort_by(|a, b| a.prefix_list_id.cmp(&b.prefix_list_id));
    }
    p
}

/// Each entry printed, in a fixed order (AWS promises none for rules and routes).
fn sorted_prints<T: std::fmt::Debug>(list: &[T]) -> Vec<String> {
    let mut prints: Vec<String> = list.iter().map(|x| format!("{x:?}")).collect();
    prints.sort_unstable();
    prints
}

/// The EC2 resource types whose existence the sweep reads (DescribeTags' `resource-type` names).
const SWEPT_TYPES: [&str; 10] = [
    "vpc",
    "subnet",
    "internet-gateway",
    "natgateway",
    "elastic-ip",
    "vpc-endpoint",
    "route-table",
    "security-group",
    "launch-template",
    "vpc-flow-log",
];

/// Every page of a listing, its items handed to `found` page by page: `page` asks for the page
/// after `token` (none: the first), and answers its items and the next token.
async fn pages<F, Fut>(found: Found<'_>, mut page: F) -> Result<(), AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<Item>, Option<String>), AwsError>>,
{
    let mut token = None;
    loop {
        let (items, next) = page(token).await?;
        items.into_iter().for_each(&mut *found);
        token = next;
        if token.is_none() {
            return Ok(());
        }
    }
}

/// The cluster's EC2 resources: which exist (DescribeTags on the cluster tag), and the settings
/// of those whose drift matters most between events: security groups' rules, route tables'
/// routes and associations, NAT gateways' state (AWS fails one without an API call). One call
/// per type and 1,000 resources (route tables: 100, security groups: [`SECURITY_GROUP_PAGE`]).
async fn ec2(c: &Clients, cluster_id: &str, found: Found<'_>) -> Result<(), AwsError> {
    let ours = || {
        Filter::builder()
            .name(format!("tag:{CLUSTER}"))
            .values(cluster_id)
            .build()
    };
    let ec2 = &c.ec2;
    // Existence of everything else EC2 holds of the cluster's (VPCs, subnets, gateways,
    // endpoints, Elastic IPs, launch templates, ...): one row per resource.
    pages(found, |token| async move {
        let out = ec2
            .describe_tags()
            .filters(Filter::builder().name("key").values(CLUSTER).build())
            .filters(Filter::builder().name("value").values(cluster_id).build())
            // Not instances and volumes: EC2 capacity's come and go as its group scales, and are
            // the group's business, not drift.
            .filters(
                Filter::builder()
                    .name("resource-type")
                    .set_values(Some(SWEPT_TYPES.map(String::from).to_vec()))
                    .build(),
            )
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("DescribeTags", e))?;
        let items = out
            .tags()
            .iter()
            .filter_map(|t| item(t.resource_id(), WEBSTACK, format!("{:?}", t.resource_type())))
            .collect();
        Ok((items, out.next_token().map(String::from)))
    })
    .await?;
    pages(found, |token| async move {
        let out = ec2
            .describe_route_tables()
            .filters(ours())
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("DescribeRouteTables", e))?;
        let items = out
            .route_tables()
            .iter()
            .filter_map(|t| {
                let mut associations: Vec<_> = t
                    .associations()
                    .iter()
                    .map(|a| (a.subnet_id(), a.gateway_id(), a.main()))
                    .collect();
                associations.sort();
                let print = format!(
                    "{:?} {:?} {:?}",
                    sorted_prints(t.routes()),
                    associations,
                    sorted_tags(t.tags())
                );
                item(t.route_table_id(), WEBSTACK, print)
            })
            .collect();
        Ok((items, out.next_token().map(String::from)))
    })
    .await?;
    pages(found, |token| async move {
        let out = ec2
            .describe_security_groups()
            .filters(ours())
            .max_results(SECURITY_GROUP_PAGE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("DescribeSecurityGroups", e))?;
        let permissions = |list: &[aws_sdk_ec2::types::IpPermission]| {
            sorted_prints(&list.iter().map(sorted_permission).collect::<Vec<_>>())
        };
        let items = out
            .security_groups()
            .iter()
            .filter_map(|g| {
                let print = format!(
                    "{:?} {:?} {:?} {:?}",
                    g.vpc_id(),
                    permissions(g.ip_permissions()),
                    permissions(g.ip_permissions_egress()),
                    sorted_tags(g.tags())
                );
                item(g.group_id(), WEBSTACK, print)
            })
            .collect();
        Ok((items, out.next_token().map(String::from)))
    })
    .await?;
    pages(found, |token| async move {
        let out = ec2
            .describe_nat_gateways()
            .filter(ours())
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("DescribeNatGateways", e))?;
        let items = out
            .nat_gateways()
            .iter()
            .filter_map(|n| {
                let mut addresses: Vec<_> = n.nat_gateway_addresses().iter().map(|a| a.allocation_id()).collect();
                addresses.sort_unstable();
                let print = format!(
                    "{:?} {:?} {:?} {:?}",
                    n.state(),
                    n.subnet_id(),
                    addresses,
                    sorted_tags(n.tags())
                );
                item(n.nat_gateway_id(), WEBSTACK, print)
            })
            .collect();
        Ok((items, out.next_token().map(String::from)))
    })
    .await
}

/// Every load balancer and target group (400 a page), and the tags of the operator's (20 a call).
async fn elbv2(c: &Clients, cluster_id: &str, known: Known<'_>, found: Found<'_>) -> Result<(), AwsError> {
    let elb = &c.elbv2;
    let tagged_only = matches!(known, Known::Tagged);
    let known = &|arn: &str| match &known {
        Known::Arns(f) => f(arn),
        Known::Tagged => true,
    };
    // Held until their tags are read: some 3,000 at 1,000 stacks, an identifier and a hash each.
    let mut listed = Vec::new();
    let list: Found<'_> = &mut |i| listed.push(i);
    pages(&mut *list, |marker| async move {
        let out = elb
            .describe_load_balancers()
            .page_size(ELB_PAGE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("DescribeLoadBalancers", e))?;
        let items = out
            .load_balancers()
            .iter()
            .filter(|lb| lb.load_balancer_arn().is_some_and(known))
            .filter_map(|lb| {
                let mut zones: Vec<_> = lb.availability_zones().iter().map(|z| z.subnet_id()).collect();
                zones.sort();
                let mut groups = lb.security_groups().to_vec();
                groups.sort();
                let print = format!(
                    "{:?} {:?} {:?} {:?} {:?} {:?}",
                    lb.scheme(),
                    lb.r#type(),
                    lb.state().and_then(|s| s.code()),
                    lb.ip_address_type(),
                    zones,
                    groups
                );
                item(lb.load_balancer_arn(), WEBSTACK, print)
            })
            .collect();
        Ok((items, out.next_marker().map(String::from)))
    })
    .await?;
    pages(&mut *list, |marker| async move {
        let out = elb
            .describe_target_groups()
            .page_size(ELB_PAGE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("DescribeTargetGroups", e))?;
        let items = out
            .target_groups()
            .iter()
            .filter(|tg| tg.target_group_arn().is_some_and(known))
            .filter_map(|tg| {
                let mut tg = tg.clone();
                // Attached or not is the rules' business (and changes as they come and go).
                tg.load_balancer_arns = None;
                let arn = tg.target_group_arn.clone();
                item(arn.as_deref(), TARGET_GROUP, format!("{tg:?}"))
            })
            .collect();
        Ok((items, out.next_marker().map(String::from)))
    })
    .await?;
    // Each resource's tags as each answer arrives, the answer then dropped: their print, and
    // whether they say the resource is this cluster's; the resources of a call are handed over
    // once its answer is read (every answer and a copy of every tag were held until the last call).
    let read = |out: aws_sdk_elasticloadbalancingv2::operation::describe_tags::DescribeTagsOutput,
                tagged: &mut HashMap<String, (u64, bool)>| {
        for d in out.tag_descriptions() {
            let Some(arn) = d.resource_arn() else { continue };
            let tags: BTreeMap<&str, &str> = d
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
                .collect();
            let ours = tags.get(CLUSTER).is_some_and(|c| *c == cluster_id);
            tagged.insert(arn.to_string(), (crate::model::hash_of(&tags), ours));
        }
    };
    let describe = |arns: Vec<String>| async move {
        elb.describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .map_err(|e| classify("DescribeTags", e))
    };
    for chunk in listed.chunks(TAGS_PER_CALL) {
        let mut tagged = HashMap::new();
        match describe(chunk.iter().map(|i| i.id.clone()).collect()).await {
            Ok(out) => read(out, &mut tagged),
            // One ARN deleted since the describe fails the whole call: ask one at a time, and
            // leave out what is gone (the next sweep does not list it).
            Err(e) if e.is_not_found() => {
                for i in chunk {
                    match describe(vec![i.id.clone()]).await {
                        Ok(out) => read(out, &mut tagged),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        for i in chunk {
            let tags = tagged.get(&i.id);
            if tagged_only && !tags.is_some_and(|(_, ours)| *ours) {
                continue;
            }
            found(Item {
                id: i.id.clone(),
                kind: i.kind,
                print: crate::model::hash_of(&(i.print, tags.map(|(print, _)| print))),
            });
        }
    }
    Ok(())
}

/// The log groups under `/webstack/` (the services' and the flow logs'), 50 a page: retention,
/// encryption, deletion protection (not the bytes stored).
async fn log_groups(c: &Clients, found: Found<'_>) -> Result<(), AwsError> {
    let logs = &c.logs;
    pages(found, |token| async move {
        let out = logs
            .describe_log_groups()
            .log_group_name_prefix("/webstack/")
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("DescribeLogGroups", e))?;
        let items = out
            .log_groups()
            .iter()
            .filter_map(|g| {
                let print = format!(
                    "{:?} {:?} {:?} {:?}",
                    g.retention_in_days(),
                    g.kms_key_id(),
                    g.deletion_protection_enabled(),
                    g.log_group_class()
                );
                // The flow logs' group is its stack's, a service's its ContainerService's: a
                // change reconciles whoever named the ARN, but only a stack counts as covered (a
                // service's own resource, the ECS service, is not swept).
                item(Some(&super::logs::arn_of(g)?), WEBSTACK, print)
            })
            .collect();
        Ok((items, out.next_token().map(String::from)))
    })
    .await
}

/// The metric alarms named `webstack-…` (the stacks' alarms), as the alarms part reads and
/// compares them ([`super::cloudwatch::alarms`]: no state, dimensions and actions sorted).
async fn alarms(c: &Clients, found: Found<'_>) -> Result<(), AwsError> {
    let alarms = super::cloudwatch::alarms(&c.cloudwatch, "webstack-").await?;
    alarms
        .into_iter()
        .filter_map(|a| item(Some(&a.arn), WEBSTACK, format!("{:?}", a.def)))
        .for_each(found);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swept_identifiers_are_the_own_resources_of_their_kind() {
        assert_eq!(own_kind("sg-0123456789abcdef0"), Some(WEBSTACK));
        assert_eq!(own_kind("vpc-1a2b3c4d"), Some(WEBSTACK));
        assert_eq!(
            own_kind("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc6c495c0c9188"),
            Some(WEBSTACK)
        );
        assert_eq!(
            own_kind("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/api/73e2d6bc24d8a067"),
            Some(TARGET_GROUP)
        );
        assert_eq!(
            own_kind("arn:aws:logs:us-east-1:1:log-group:/webstack/shop/web"),
            Some(WEBSTACK)
        );
        assert_eq!(
            own_kind("arn:aws:cloudwatch:us-east-1:1:alarm:webstack-shop-web-5xx"),
            Some(WEBSTACK)
        );
        // Not swept: listener rules, ECS, IAM, another stack's instances.
        assert_eq!(
            own_kind("arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/web/5/6/7"),
            None
        );
        assert_eq!(own_kind("arn:aws:ecs:us-east-1:1:service/c/web"), None);
        assert_eq!(own_kind("i-0123456789abcdef0"), None);
    }
}
