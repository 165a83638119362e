//! What the operator left in AWS for a namespace, read back through the SDK: every resource whose
//! `webstack.io/owner` tag names the namespace (ECS services, clusters and task definitions only
//! when ACTIVE: the emulator keeps deleted ones listed as INACTIVE), and any ECS scalable target.
//! Final DB snapshots are not leftovers: `deletionPolicy: Snapshot` keeps them on purpose.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::Filter;

type Tags = BTreeMap<String, String>;

const OWNER: &str = "webstack.io/owner";

fn ours(tags: &Tags, ns: &str) -> bool {
    tags.get(OWNER).is_some_and(|o| o.starts_with(&format!("{ns}/")))
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// The egress of the stack with `uid` that AWS still holds: NAT gateways and VPC endpoints not
/// deleted (deleted ones stay listed for a while, on AWS too) and Elastic IPs, as
/// `(nat gateways, elastic ips, vpc endpoints)`.
pub async fn egress_of(ec2: &aws_sdk_ec2::Client, uid: &str) -> (usize, usize, usize) {
    let by_uid = || Filter::builder().name("tag:webstack.io/uid").values(uid).build();
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    let nats = nats
        .nat_gateways()
        .iter()
        .filter(|g| ec2_tags(g.tags()).get("webstack.io/uid").map(String::as_str) == Some(uid))
        .filter(|g| g.state().map(|s| s.as_str()) != Some("deleted"))
        .count();
    let addresses = ec2.describe_addresses().filters(by_uid()).send().await.unwrap();
    let endpoints = ec2.describe_vpc_endpoints().filters(by_uid()).send().await.unwrap();
    let endpoints = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|e| e.state().map(|s| s.as_str().to_lowercase()).as_deref() != Some("deleted"))
        .count();
    (nats, addresses.addresses().len(), endpoints)
}

/// `kind id` of every AWS resource still tagged for `ns`.
pub async fn leftovers(config: &SdkConfig, ns: &str) -> Vec<String> {
    let mut left = Vec::new();
    let ec2 = aws_sdk_ec2::Client::new(config);
    let tagged = || Filter::builder().name("tag-key").values(OWNER).build();
    let out = ec2.describe_vpcs().filters(tagged()).send().await.unwrap();
    for v in out.vpcs().iter().filter(|v| ours(&ec2_tags(v.tags()), ns)) {
        left.push(format!("VPC {}", v.vpc_id().unwrap_or_default()));
    }
    let out = ec2.describe_subnets().filters(tagged()).send().await.unwrap();
    for s in out.subnets().iter().filter(|s| ours(&ec2_tags(s.tags()), ns)) {
        left.push(format!("subnet {}", s.subnet_id().unwrap_or_default()));
    }
    let out = ec2.describe_security_groups().filters(tagged()).send().await.unwrap();
    for g in out.security_groups().iter().filter(|g| ours(&ec2_tags(g.tags()), ns)) {
        left.push(format!("security group {}", g.group_id().unwrap_or_default()));
    }
    let out = ec2.describe_internet_gateways().filters(tagged()).send().await.unwrap();
    for g in out.internet_gateways().iter().filter(|g| ours(&ec2_tags(g.tags()), ns)) {
        left.push(format!(
            "internet gateway {}",
            g.internet_gateway_id().unwrap_or_default()
        ));
    }
    let out = ec2.describe_route_tables().filters(tagged()).send().await.unwrap();
    for t in out.route_tables().iter().filter(|t| ours(&ec2_tags(t.tags()), ns)) {
        left.push(format!("route table {}", t.route_table_id().unwrap_or_default()));
    }
    // Deleted NAT gateways and endpoints stay listed for a while on AWS too.
    let out = ec2.describe_nat_gateways().send().await.unwrap();
    for g in out.nat_gateways().iter().filter(|g| ours(&ec2_tags(g.tags()), ns)) {
        if g.state().map(|s| s.as_str()) != Some("deleted") {
            left.push(format!("NAT gateway {}", g.nat_gateway_id().unwrap_or_default()));
        }
    }
    let out = ec2.describe_addresses().filters(tagged()).send().await.unwrap();
    for a in out.addresses().iter().filter(|a| ours(&ec2_tags(a.tags()), ns)) {
        left.push(format!("Elastic IP {}", a.allocation_id().unwrap_or_default()));
    }
    let out = ec2.describe_vpc_endpoints().filters(tagged()).send().await.unwrap();
    for e in out.vpc_endpoints().iter().filter(|e| ours(&ec2_tags(e.tags()), ns)) {
        if e.state().map(|s| s.as_str().to_lowercase()).as_deref() != Some("deleted") {
            left.push(format!("VPC endpoint {}", e.vpc_endpoint_id().unwrap_or_default()));
        }
    }
    let out = ec2.describe_flow_logs().filter(tagged()).send().await.unwrap();
    for l in out.flow_logs().iter().filter(|l| ours(&ec2_tags(l.tags()), ns)) {
        left.push(format!("flow log {}", l.flow_log_id().unwrap_or_default()));
    }

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let mut arns: Vec<(String, String)> = Vec::new();
    for lb in elb.describe_load_balancers().send().await.unwrap().load_balancers() {
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        for l in elb
            .describe_listeners()
            .load_balancer_arn(&arn)
            .send()
            .await
            .unwrap()
            .listeners()
        {
            let listener = l.listener_arn().unwrap_or_default().to_string();
            let rules = elb.describe_rules().listener_arn(&listener).send().await.unwrap();
            for r in rules.rules().iter().filter(|r| r.is_default() != Some(true)) {
                arns.push(("listener rule".into(), r.rule_arn().unwrap_or_default().into()));
            }
            arns.push(("listener".into(), listener));
        }
        arns.push(("load balancer".into(), arn));
    }
    for tg in elb.describe_target_groups().send().await.unwrap().target_groups() {
        arns.push(("target group".into(), tg.target_group_arn().unwrap_or_default().into()));
    }
    for (kind, arn) in arns {
        let out = elb.describe_tags().resource_arns(&arn).send().await.unwrap();
        let tags: Tags = out
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        if ours(&tags, ns) {
            left.push(format!("{kind} {arn}"));
        }
    }

    let ecs = aws_sdk_ecs::Client::new(config);
    let ecs_tags = |tags: &[aws_sdk_ecs::types::Tag]| -> Tags {
        tags.iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect()
    };
    let clusters = ecs.list_clusters().send().await.unwrap().cluster_arns().to_vec();
    if !clusters.is_empty() {
        let described = ecs
            .describe_clusters()
            .set_clusters(Some(clusters.clone()))
            .include(aws_sdk_ecs::types::ClusterField::Tags)
            .send()
            .await
            .unwrap();
        for c in described.clusters() {
            if c.status() == Some("ACTIVE") && ours(&ecs_tags(c.tags()), ns) {
                left.push(format!("ECS cluster {}", c.cluster_arn().unwrap_or_default()));
            }
        }
    }
    for cluster in &clusters {
        let services = ecs.list_services().cluster(cluster).send().await.unwrap();
        for arn in services.service_arns() {
            let d = ecs
                .describe_services()
                .cluster(cluster)
                .services(arn)
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .send()
                .await
                .unwrap();
            for s in d.services() {
                if s.status() == Some("ACTIVE") && ours(&ecs_tags(s.tags()), ns) {
                    left.push(format!("ECS service {arn}"));
                }
            }
        }
    }
    let defs = ecs
        .list_task_definitions()
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    for arn in defs.task_definition_arns() {
        let d = ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        if ours(&ecs_tags(d.tags()), ns) {
            left.push(format!("task definition {arn}"));
        }
    }

    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    for g in logs.describe_log_groups().send().await.unwrap().log_groups() {
        let arn = g.arn().unwrap_or_default().trim_end_matches(":*").to_string();
        let tags = logs.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
        if ours(&tags.tags().cloned().unwrap_or_default().into_iter().collect(), ns) {
            left.push(format!("log group {}", g.log_group_name().unwrap_or_default()));
        }
    }

    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build());
    for b in s3.list_buckets().send().await.unwrap().buckets() {
        let name = b.name().unwrap_or_default();
        let tags: Tags = match s3.get_bucket_tagging().bucket(name).send().await {
            Ok(t) => t
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(_) => Tags::new(),
        };
        if ours(&tags, ns) {
            left.push(format!("bucket {name}"));
        }
    }
    let cf = aws_sdk_cloudfront::Client::new(config);
    let list = cf.list_distributions().send().await.unwrap();
    for d in list.distribution_list().map(|l| l.items()).unwrap_or_default() {
        let tags = cf.list_tags_for_resource().resource(d.arn()).send().await.unwrap();
        let tags: Tags = tags
            .tags()
            .map(|t| t.items())
            .unwrap_or_default()
            .iter()
            .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
            .collect();
        if ours(&tags, ns) {
            left.push(format!("distribution {}", d.id()));
        }
    }
    // Origin Access Controls have no tags: their names start with the namespace.
    let oacs = cf.list_origin_access_controls().send().await.unwrap();
    let prefix: String = format!("wss-{ns}").chars().take(40).collect();
    for o in oacs.origin_access_control_list().map(|l| l.items()).unwrap_or_default() {
        if o.name().starts_with(&prefix) {
            left.push(format!("origin access control {}", o.id()));
        }
    }

    let rds = aws_sdk_rds::Client::new(config);
    let rds_tags = |tags: &[aws_sdk_rds::types::Tag]| -> Tags {
        tags.iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect()
    };
    for db in rds.describe_db_instances().send().await.unwrap().db_instances() {
        if ours(&rds_tags(db.tag_list()), ns) {
            left.push(format!(
                "DB instance {}",
                db.db_instance_identifier().unwrap_or_default()
            ));
        }
    }
    for g in rds.describe_db_subnet_groups().send().await.unwrap().db_subnet_groups() {
        let arn = g.db_subnet_group_arn().unwrap_or_default();
        let tags = rds.list_tags_for_resource().resource_name(arn).send().await.unwrap();
        if ours(&rds_tags(tags.tag_list()), ns) {
            left.push(format!(
                "DB subnet group {}",
                g.db_subnet_group_name().unwrap_or_default()
            ));
        }
    }
    let cache = aws_sdk_elasticache::Client::new(config);
    let mut cache_arns: Vec<(String, String)> = Vec::new();
    for g in cache
        .describe_replication_groups()
        .send()
        .await
        .unwrap()
        .replication_groups()
    {
        cache_arns.push(("replication group".into(), g.arn().unwrap_or_default().into()));
    }
    for g in cache
        .describe_cache_subnet_groups()
        .send()
        .await
        .unwrap()
        .cache_subnet_groups()
    {
        cache_arns.push(("cache subnet group".into(), g.arn().unwrap_or_default().into()));
    }
    for (kind, arn) in cache_arns {
        let out = cache.list_tags_for_resource().resource_name(&arn).send().await.unwrap();
        let tags: Tags = out
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        if ours(&tags, ns) {
            left.push(format!("{kind} {arn}"));
        }
    }
    let secrets = aws_sdk_secretsmanager::Client::new(config);
    for s in secrets.list_secrets().send().await.unwrap().secret_list() {
        let tags: Tags = s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        if ours(&tags, ns) {
            left.push(format!("secret {}", s.name().unwrap_or_default()));
        }
    }

    // IAM roles (the task execution role): ListRoles has no tags, ListRoleTags does.
    let iam = aws_sdk_iam::Client::new(config);
    for r in iam.list_roles().send().await.unwrap().roles() {
        if !r.role_name().starts_with("webstack-") {
            continue;
        }
        let tags = iam.list_role_tags().role_name(r.role_name()).send().await.unwrap();
        let tags: Tags = tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if ours(&tags, ns) {
            left.push(format!("IAM role {}", r.role_name()));
        }
    }

    let scaling = aws_sdk_applicationautoscaling::Client::new(config);
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    for t in targets.scalable_targets() {
        left.push(format!("scalable target {}", t.resource_id()));
    }
    left.extend(super::leftovers_capacity::leftovers(config, ns).await);
    left.extend(super::leftovers_registries::leftovers(config, ns).await);
    left.extend(super::leftovers_alarms::leftovers(config, ns).await);
    left.extend(super::leftovers_dns::leftovers(config, ns).await);
    left
}
