//! AWS smoke test: the real AWS SDK against the moto emulator — create a VPC and a target group
//! with ownership tags, and read both back.

use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, Tag, TargetTypeEnum};

use crate::harness::moto::Moto;

#[tokio::test]
async fn create_and_describe_a_target_group() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);

    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();

    let created = elbv2
        .create_target_group()
        .name("smoke-movies")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/actuator/health")
        .healthy_threshold_count(3)
        .unhealthy_threshold_count(3)
        .health_check_timeout_seconds(5)
        .health_check_interval_seconds(30)
        .tags(
            Tag::builder()
                .key("webstack.io/managed-by")
                .value("webstack-operator")
                .build(),
        )
        .send()
        .await
        .expect("CreateTargetGroup");
    let arn = created.target_groups()[0].target_group_arn().expect("arn").to_string();

    let described = elbv2
        .describe_target_groups()
        .target_group_arns(&arn)
        .send()
        .await
        .expect("DescribeTargetGroups");
    let tg = &described.target_groups()[0];
    assert_eq!(tg.target_group_name(), Some("smoke-movies"));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.protocol(), Some(&ProtocolEnum::Http));
    assert_eq!(tg.target_type(), Some(&TargetTypeEnum::Ip));
    assert_eq!(tg.vpc_id(), Some(vpc_id.as_str()));
    assert_eq!(tg.health_check_path(), Some("/actuator/health"));
    assert_eq!(tg.healthy_threshold_count(), Some(3));

    let tags = elbv2
        .describe_tags()
        .resource_arns(&arn)
        .send()
        .await
        .expect("DescribeTags");
    let tag = tags.tag_descriptions()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("webstack.io/managed-by"));
    assert_eq!(tag.and_then(|t| t.value()), Some("webstack-operator"));
}

/// ECS refuses a service on a target group no listener or rule forwards to, as AWS does
/// (`tests/moto/ecs_services.py`); once a listener forwards to it, DescribeTargetGroups lists the
/// load balancer and the same CreateService succeeds.
#[tokio::test]
async fn ecs_refuses_a_target_group_without_a_load_balancer() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (ec2, elbv2, ecs) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_elasticloadbalancingv2::Client::new(&config),
        aws_sdk_ecs::Client::new(&config),
    );
    let vpc = ec2.create_vpc().cidr_block("10.1.0.0/16").send().await.unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.1.0.0/24", "us-east-1a"), ("10.1.1.0/24", "us-east-1b")] {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let tg = elbv2
        .create_target_group()
        .name("unattached")
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_string();
    ecs.create_cluster().cluster_name("smoke").send().await.unwrap();
    let td = ecs
        .register_task_definition()
        .family("smoke")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let td_arn = td.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    let create = || {
        ecs.create_service()
            .cluster("smoke")
            .service_name("web")
            .task_definition(&td_arn)
            .desired_count(1)
            .load_balancers(
                aws_sdk_ecs::types::LoadBalancer::builder()
                    .target_group_arn(&tg_arn)
                    .container_name("web")
                    .container_port(80)
                    .build(),
            )
            .send()
    };
    let err = create().await.expect_err("a target group without a load balancer");
    let service_err = err.into_service_error();
    assert!(service_err.is_invalid_parameter_exception(), "{service_err:?}");
    assert!(
        format!("{service_err:?}").contains("does not have an associated load balancer"),
        "{service_err:?}"
    );
    // A listener forwarding to it.
    let lb = elbv2
        .create_load_balancer()
        .name("smoke")
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    elbv2
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(&tg_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let described = elbv2
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.target_groups()[0].load_balancer_arns(), [lb_arn]);
    create()
        .await
        .expect("CreateService once a listener forwards to the group");
}

/// CreateRole answering `EntityAlreadyExists` (IAM is eventually consistent: a lost answer, or a
/// GetRole that did not show the role yet) is success when the role carries the owner's ownership
/// tags, and stays a refusal for anyone else's role of that name.
#[tokio::test]
async fn an_existing_role_of_ours_is_created_an_existing_role_of_others_is_not() {
    use webstack_operator::aws::iam::apply_role;
    use webstack_operator::model::execution::EXECUTION_ROLE;
    use webstack_operator::model::role::{DesiredRole, RoleChange, RoleStep};
    let moto = Moto::start();
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config().await);
    let owner = webstack_operator::model::Owner {
        cluster_id: "smoke".into(),
        namespace: "shop".into(),
        kind: "WebStack",
        name: "web".into(),
        uid: "5f0c1d2e-0000-4000-8000-000000000001".into(),
    };
    let want = DesiredRole {
        kind: EXECUTION_ROLE,
        name: "webstack-smoke-role".into(),
        description: "smoke".into(),
        trust: serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        policy: None,
        managed: vec![],
        tags: owner.tags(&Default::default(), "execution-role", "webstack-smoke-role"),
    };
    let create = RoleStep::new(EXECUTION_ROLE, "webstack-smoke-role", RoleChange::Create);
    let first = apply_role(&iam, Some(&want), &create).await.unwrap().unwrap();
    let again = apply_role(&iam, Some(&want), &create).await.expect("ours: success");
    assert_eq!(again, Some(first));
    // Another stack's desired role of the same name: the existing role is not its own.
    let other = DesiredRole {
        tags: webstack_operator::model::Owner {
            uid: "5f0c1d2e-0000-4000-8000-000000000002".into(),
            ..owner
        }
        .tags(&Default::default(), "execution-role", "webstack-smoke-role"),
        ..want
    };
    let err = apply_role(&iam, Some(&other), &create)
        .await
        .expect_err("someone else's role");
    assert_eq!(err.code, "EntityAlreadyExists", "{err}");
}

/// The fault layer answers in each protocol's own error shape, so the SDK reads the injected code:
/// EC2's `<Response><Errors>`, the query protocols' `<ErrorResponse>`, JSON, CloudWatch's Smithy
/// RPC v2 CBOR, S3's unwrapped `<Error>` (a HEAD: the status alone), and CloudFront's and Route
/// 53's `<ErrorResponse>` (`tests/moto/faults.py`). A REST operation is told by its method, path and
/// query, so CreateBucket (`PUT /{Bucket}`) is not PutBucketTagging (`PUT /{Bucket}?tagging`).
#[tokio::test]
async fn injected_faults_parse_as_the_right_error_in_every_protocol() {
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    moto.faults(&[
        ("DescribeVpcs", 503, "Unavailable"),
        ("ListClusters", 400, "ThrottlingException"),
        ("DescribeDBInstances", 403, "AccessDenied"),
        ("DescribeAlarms", 400, "LimitExceeded"),
        ("PutBucketTagging", 403, "AccessDenied"),
        ("GetBucketTagging", 409, "OperationAborted"),
        ("HeadBucket", 403, "AccessDenied"),
        ("GetDistribution", 404, "NoSuchDistribution"),
        ("GetHostedZone", 404, "NoSuchHostedZone"),
        ("ChangeResourceRecordSets", 400, "InvalidChangeBatch"),
    ]);
    let check = |what: &str, code: Option<&str>, message: Option<&str>, want: &str| {
        assert_eq!(code, Some(want), "{what}");
        assert!(message.unwrap_or_default().contains("injected"), "{what}: {message:?}");
    };
    let e = aws_sdk_ec2::Client::new(&config)
        .describe_vpcs()
        .send()
        .await
        .unwrap_err();
    check("EC2", e.code(), e.message(), "Unavailable");
    let e = aws_sdk_ecs::Client::new(&config)
        .list_clusters()
        .send()
        .await
        .unwrap_err();
    check("ECS", e.code(), e.message(), "ThrottlingException");
    let e = aws_sdk_rds::Client::new(&config)
        .describe_db_instances()
        .send()
        .await
        .unwrap_err();
    check("RDS", e.code(), e.message(), "AccessDenied");
    let e = aws_sdk_cloudwatch::Client::new(&config)
        .describe_alarms()
        .send()
        .await
        .unwrap_err();
    check("CloudWatch", e.code(), e.message(), "LimitExceeded");
    // S3, path-style as the product addresses an endpoint of its own.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("faults")
        .send()
        .await
        .expect("CreateBucket is not PutBucketTagging");
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(aws_sdk_s3::types::Tag::builder().key("k").value("v").build().unwrap())
        .build()
        .unwrap();
    let e = s3
        .put_bucket_tagging()
        .bucket("faults")
        .tagging(tagging)
        .send()
        .await
        .unwrap_err();
    check("S3 PutBucketTagging", e.code(), e.message(), "AccessDenied");
    let e = s3.get_bucket_tagging().bucket("faults").send().await.unwrap_err();
    check("S3 GetBucketTagging", e.code(), e.message(), "OperationAborted");
    // A HEAD answer has no body: the SDK sees the status alone and names only a 404 (NotFound).
    let e = s3.head_bucket().bucket("faults").send().await.unwrap_err();
    assert_eq!(e.code(), None, "S3 HeadBucket: {e:?}");
    assert_eq!(
        e.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "S3 HeadBucket: {e:?}"
    );
    let e = aws_sdk_cloudfront::Client::new(&config)
        .get_distribution()
        .id("E000000000000")
        .send()
        .await
        .unwrap_err();
    check("CloudFront", e.code(), e.message(), "NoSuchDistribution");
    let route53 = aws_sdk_route53::Client::new(&config);
    let e = route53.get_hosted_zone().id("Z000000000000").send().await.unwrap_err();
    check("Route 53 GetHostedZone", e.code(), e.message(), "NoSuchHostedZone");
    let record = aws_sdk_route53::types::ResourceRecordSet::builder()
        .name("www.example.test")
        .r#type(aws_sdk_route53::types::RrType::A)
        .ttl(60)
        .resource_records(
            aws_sdk_route53::types::ResourceRecord::builder()
                .value("192.0.2.10")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = route53
        .change_resource_record_sets()
        .hosted_zone_id("Z000000000000")
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Upsert)
                        .resource_record_set(record)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    check(
        "Route 53 ChangeResourceRecordSets",
        e.code(),
        e.message(),
        "InvalidChangeBatch",
    );
    moto.faults(&[]);
    aws_sdk_ec2::Client::new(&config)
        .describe_vpcs()
        .send()
        .await
        .expect("faults cleared");
    s3.head_bucket().bucket("faults").send().await.expect("faults cleared");
}

/// Every status `read` gives, in order and each once, until `stop` (a status, or the error code
/// of a resource gone), within 20 s.
async fn statuses_until<F, R>(stop: &str, read: F) -> Vec<String>
where
    F: Fn() -> R,
    R: std::future::Future<Output = String>,
{
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let state = read().await;
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == stop {
            return seen;
        }
        assert!(std::time::Instant::now() < deadline, "never {stop}: {seen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// RDS, its whole life as AWS runs it (`tests/moto/data.py`, times compressed): `creating` without
/// an Endpoint (MOTO_RDS_CREATE_SECONDS, 2 s by default, 5 here), then `backing-up`
/// (MOTO_RDS_BACKUP_SECONDS, 1 s: the first automated backup), then `available`; ModifyDBInstance
/// is refused with InvalidDBInstanceState until then. A class change applied at once puts it in
/// `modifying` (MOTO_RDS_MODIFY_SECONDS, 2 s by default, 4 here), refusing another change
/// meanwhile. DeleteDBInstance leaves it `deleting` (MOTO_RDS_DELETE_SECONDS, 2 s), refusing a
/// second deletion, then it is gone.
#[tokio::test]
async fn rds_takes_time_in_every_state_and_refuses_changes_meanwhile() {
    use aws_sdk_rds::error::ProvideErrorMetadata;
    // Longer than the defaults: a loaded machine must not let a state pass between two calls.
    let moto = Moto::start_with_env(&[("MOTO_RDS_CREATE_SECONDS", "5"), ("MOTO_RDS_MODIFY_SECONDS", "4")]);
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    rds.create_db_instance()
        .db_instance_identifier("smoke")
        .db_instance_class("db.t4g.micro")
        .engine("postgres")
        .allocated_storage(20)
        .backup_retention_period(7)
        .master_username("smoke")
        .master_user_password("smoke-password-1")
        .send()
        .await
        .unwrap();
    // The instance's status, or the error code once it is gone.
    let status = || async {
        match rds.describe_db_instances().db_instance_identifier("smoke").send().await {
            Ok(out) => {
                let db = &out.db_instances()[0];
                let state = db.db_instance_status().unwrap_or_default().to_string();
                assert_eq!(db.endpoint().is_some(), state != "creating", "endpoint while {state}");
                state
            }
            Err(e) => e.code().unwrap_or_default().to_string(),
        }
    };
    let walk = |stop: &'static str| statuses_until(stop, status);
    let modify = |class: &'static str| {
        rds.modify_db_instance()
            .db_instance_identifier("smoke")
            .db_instance_class(class)
            .apply_immediately(true)
            .send()
    };
    let err = modify("db.t4g.small").await.expect_err("modified while creating");
    assert_eq!(err.code(), Some("InvalidDBInstanceState"), "{err:?}");
    assert_eq!(walk("available").await, ["creating", "backing-up", "available"]);
    modify("db.t4g.small").await.unwrap();
    let err = modify("db.t4g.medium").await.expect_err("modified while modifying");
    assert_eq!(err.code(), Some("InvalidDBInstanceState"), "{err:?}");
    assert_eq!(walk("available").await, ["modifying", "available"]);
    let out = rds
        .describe_db_instances()
        .db_instance_identifier("smoke")
        .send()
        .await
        .unwrap();
    assert_eq!(out.db_instances()[0].db_instance_class(), Some("db.t4g.small"));
    let delete = || {
        rds.delete_db_instance()
            .db_instance_identifier("smoke")
            .skip_final_snapshot(true)
            .send()
    };
    delete().await.unwrap();
    let err = delete().await.expect_err("deleted twice");
    assert_eq!(err.code(), Some("InvalidDBInstanceState"), "{err:?}");
    assert_eq!(walk("DBInstanceNotFound").await, ["deleting", "DBInstanceNotFound"]);
}

/// ElastiCache: a new replication group is `creating` without endpoints
/// (MOTO_ELASTICACHE_CREATE_SECONDS, 2 s by default, 5 here) and refuses changes meanwhile; changed
/// (here automatic failover toggled) it is `modifying` for a while (MOTO_ELASTICACHE_MODIFY_SECONDS,
/// 2 s by default, 4 here) and
/// refuses a replica-count change meanwhile with InvalidReplicationGroupState, as AWS does; deleted
/// it is `deleting` (MOTO_ELASTICACHE_DELETE_SECONDS, 2 s), then gone (`tests/moto/data.py`).
#[tokio::test]
async fn a_replication_group_takes_time_in_every_state_and_refuses_changes_meanwhile() {
    use aws_sdk_elasticache::error::ProvideErrorMetadata;
    // Longer than the defaults: a loaded machine must not let a state pass between two calls.
    let moto = Moto::start_with_env(&[
        ("MOTO_ELASTICACHE_CREATE_SECONDS", "5"),
        ("MOTO_ELASTICACHE_MODIFY_SECONDS", "4"),
    ]);
    let cache = aws_sdk_elasticache::Client::new(&moto.sdk_config().await);
    cache
        .create_replication_group()
        .replication_group_id("smoke")
        .replication_group_description("smoke")
        .engine("redis")
        .cache_node_type("cache.t4g.micro")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .unwrap();
    // The group's status, or the error code once it is gone.
    let status = || async {
        match cache
            .describe_replication_groups()
            .replication_group_id("smoke")
            .send()
            .await
        {
            Ok(out) => {
                let group = &out.replication_groups()[0];
                let state = group.status().unwrap_or_default().to_string();
                let endpoint = group.node_groups().first().and_then(|g| g.primary_endpoint());
                assert_eq!(endpoint.is_some(), state != "creating", "endpoint while {state}");
                state
            }
            Err(e) => e.code().unwrap_or_default().to_string(),
        }
    };
    let walk = |stop: &'static str| statuses_until(stop, status);
    let failover = |on: bool| {
        cache
            .modify_replication_group()
            .replication_group_id("smoke")
            .automatic_failover_enabled(on)
            .apply_immediately(true)
            .send()
    };
    let err = failover(false).await.expect_err("modified while creating");
    assert_eq!(err.code(), Some("InvalidReplicationGroupState"), "{err:?}");
    assert_eq!(walk("available").await, ["creating", "available"]);
    failover(false).await.unwrap();
    let err = cache
        .increase_replica_count()
        .replication_group_id("smoke")
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("a replica-count change right after a failover toggle");
    assert_eq!(err.code(), Some("InvalidReplicationGroupState"), "{err:?}");
    assert_eq!(walk("available").await, ["modifying", "available"]);
    cache
        .increase_replica_count()
        .replication_group_id("smoke")
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .expect("available again");
    walk("available").await;
    let delete = || cache.delete_replication_group().replication_group_id("smoke").send();
    delete().await.unwrap();
    let err = delete().await.expect_err("deleted twice");
    assert_eq!(err.code(), Some("InvalidReplicationGroupState"), "{err:?}");
    assert_eq!(
        walk("ReplicationGroupNotFoundFault").await,
        ["deleting", "ReplicationGroupNotFoundFault"]
    );
}

/// IAM is eventually consistent: tasks whose execution role was created less than
/// MOTO_IAM_ROLE_PROPAGATION_SECONDS ago fail to start (`tests/moto/ecs_services.py`). Two tasks
/// started at once with a brand-new role reach the circuit breaker's threshold (3) and the first
/// deployment FAILS; a single task rides it out with a failed task or two and completes once the
/// role is usable; started once the role is old enough, tasks start with no failure. The product
/// reads the role's age (`read_role`'s `young_for`) and hands it to services only after
/// `PROPAGATION`, longer than the emulator's window.
#[tokio::test]
async fn a_new_role_is_usable_by_tasks_only_seconds_after_creation() {
    use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration};
    use webstack_operator::model::execution::EXECUTION_ROLE;
    // With 2 s phases, a role window of W seconds left when the services start fails W tasks of
    // the two-task service (FAILED once W >= 3) and W/2 of the one-task one (riding it out while
    // W < 6): 5 s, with the services created right after the role, leaves room for a slow machine.
    let moto = Moto::start_with_env(&[
        ("MOTO_IAM_ROLE_PROPAGATION_SECONDS", "5"),
        ("MOTO_ECS_DEPLOY_SECONDS", "2"),
    ]);
    let config = moto.sdk_config().await;
    let (iam, ecs) = (aws_sdk_iam::Client::new(&config), aws_sdk_ecs::Client::new(&config));
    ecs.create_cluster().cluster_name("smoke").send().await.unwrap();
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let role = iam
        .create_role()
        .role_name("webstack-young")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();
    let td = ecs
        .register_task_definition()
        .family("smoke")
        .execution_role_arn(&role_arn)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let td_arn = td.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    let create = |name: &'static str, count: i32| {
        ecs.create_service()
            .cluster("smoke")
            .service_name(name)
            .task_definition(&td_arn)
            .desired_count(count)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
                    .build(),
            )
            .send()
    };
    // The rollout state and failed tasks of the service's first deployment once it settles.
    let settled = |name: &'static str| {
        let ecs = ecs.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let out = ecs
                    .describe_services()
                    .cluster("smoke")
                    .services(name)
                    .send()
                    .await
                    .unwrap();
                let d = out.services()[0].deployments()[0].clone();
                let state = d.rollout_state().map(|s| s.as_str().to_string()).unwrap_or_default();
                if state != "IN_PROGRESS" {
                    return (state, d.failed_tasks());
                }
                assert!(std::time::Instant::now() < deadline, "{name} still in progress: {d:?}");
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
    };
    create("two-at-once", 2).await.unwrap();
    create("one-at-once", 1).await.unwrap();
    let read = webstack_operator::aws::iam::read_role(&iam, EXECUTION_ROLE, "webstack-young")
        .await
        .unwrap()
        .unwrap();
    assert!(read.young_for.is_some(), "a role created just now is young: {read:?}");
    let (state, failed) = settled("two-at-once").await;
    assert_eq!(state, "FAILED", "two tasks with a new role: {failed} failed");
    assert!(failed >= 3, "{failed}");
    let (state, failed) = settled("one-at-once").await;
    assert_eq!(state, "COMPLETED", "one task rides it out: {failed} failed");
    assert!((1..3).contains(&failed), "{failed}");
    // one-at-once completed after the role became usable: it is old enough now.
    create("two-later", 2).await.unwrap();
    assert_eq!(settled("two-later").await, ("COMPLETED".to_string(), 0));
}

/// DescribeNatGateways applies tag filters as AWS does (`tests/moto/egress.py`, 4): the sweep's
/// `tag:webstack.io/cluster` filter reads the cluster's gateways only.
#[tokio::test]
async fn nat_gateways_are_filtered_by_tag() {
    use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
    let moto = Moto::start();
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let vpc = ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.9.0.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().and_then(|s| s.subnet_id()).unwrap().to_string();
    let mut ids = Vec::new();
    for cluster in ["blue", "green"] {
        let eip = ec2.allocate_address().send().await.unwrap();
        let nat = ec2
            .create_nat_gateway()
            .subnet_id(&subnet)
            .allocation_id(eip.allocation_id().unwrap())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Natgateway)
                    .tags(Tag::builder().key("webstack.io/cluster").value(cluster).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ids.push(nat.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap().to_string());
    }
    let found = |filter: Filter| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2.describe_nat_gateways().filter(filter).send().await.unwrap();
            let mut ids: Vec<String> = out
                .nat_gateways()
                .iter()
                .filter_map(|n| n.nat_gateway_id().map(String::from))
                .collect();
            ids.sort_unstable();
            ids
        }
    };
    let tag = |value: &str| Filter::builder().name("tag:webstack.io/cluster").values(value).build();
    assert_eq!(found(tag("blue")).await, [ids[0].clone()]);
    assert!(found(tag("red")).await.is_empty());
    let mut both = ids.clone();
    both.sort_unstable();
    let key = Filter::builder().name("tag-key").values("webstack.io/cluster").build();
    assert_eq!(found(key).await, both);
    // moto's own filters still apply with them.
    let in_vpc = Filter::builder().name("vpc-id").values(&vpc).build();
    let out = ec2
        .describe_nat_gateways()
        .filter(in_vpc)
        .filter(tag("green"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.nat_gateways().len(), 1);
}

/// The fault layer's resets (`tests/moto/faults.py`): a reset request gets no answer (a
/// connection error, not an AWS error) and changes nothing; with `after`, the emulator acts and
/// only the answer is lost. EC2 (query) and CloudWatch Logs (JSON).
#[tokio::test]
async fn a_reset_loses_the_request_or_only_its_answer() {
    use aws_sdk_ec2::error::SdkError;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let once = aws_sdk_ec2::config::retry::RetryConfig::disabled();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&config)
            .retry_config(once.clone())
            .build(),
    );
    let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::config::Builder::from(&config)
            .retry_config(once)
            .build(),
    );
    let vpcs = |cidr: &'static str| {
        let ec2 = ec2.clone();
        async move {
            let filter = aws_sdk_ec2::types::Filter::builder().name("cidr").values(cidr).build();
            ec2.describe_vpcs().filters(filter).send().await.unwrap().vpcs().len()
        }
    };
    let groups = |name: &'static str| {
        let logs = logs.clone();
        async move {
            let out = logs
                .describe_log_groups()
                .log_group_name_prefix(name)
                .send()
                .await
                .unwrap();
            out.log_groups().len()
        }
    };
    for after in [false, true] {
        moto.faults_json(&serde_json::json!({
            "CreateVpc": {"reset": true, "after": after},
            "CreateLogGroup": {"reset": true, "after": after},
        }));
        let (cidr, group) = if after {
            ("10.43.0.0/16", "/reset/after")
        } else {
            ("10.42.0.0/16", "/reset/before")
        };
        let vpc = ec2.create_vpc().cidr_block(cidr).send().await;
        assert!(
            matches!(vpc, Err(SdkError::DispatchFailure(_) | SdkError::ResponseError(_))),
            "a connection error, not an answer: {vpc:?}"
        );
        let created = logs.create_log_group().log_group_name(group).send().await;
        assert!(
            matches!(created, Err(SdkError::DispatchFailure(_) | SdkError::ResponseError(_))),
            "a connection error, not an answer: {created:?}"
        );
        moto.faults_json(&serde_json::json!({}));
        let made = usize::from(after);
        assert_eq!(vpcs(cidr).await, made, "after: {after}");
        assert_eq!(groups(group).await, made, "after: {after}");
    }
    let injected = &moto.fault_counts()["injected"];
    assert_eq!(injected["CreateVpc"], 2, "{injected}");
    assert_eq!(injected["CreateLogGroup"], 2, "{injected}");
}

/// EC2 client tokens as AWS honours them (`tests/moto/idempotency.py`): a CreateNatGateway whose
/// answer was lost (the fault layer's `after` reset), sent again with its token, gets the gateway
/// the first one made; the token with other parameters is refused.
#[tokio::test]
async fn an_ec2_client_token_makes_a_retry_return_the_first_answer() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&config)
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .build(),
    );
    let vpc = ec2.create_vpc().cidr_block("10.8.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let mut subnets = Vec::new();
    for cidr in ["10.8.0.0/24", "10.8.1.0/24"] {
        let out = ec2.create_subnet().vpc_id(&vpc).cidr_block(cidr).send().await.unwrap();
        subnets.push(out.subnet().and_then(|s| s.subnet_id()).unwrap().to_string());
    }
    let eip = ec2.allocate_address().send().await.unwrap();
    let allocation = eip.allocation_id().unwrap().to_string();
    let create = |subnet: String| {
        ec2.create_nat_gateway()
            .subnet_id(subnet)
            .allocation_id(&allocation)
            .client_token("retry-me")
            .send()
    };
    moto.faults_json(&serde_json::json!({"CreateNatGateway": {"reset": true, "after": true}}));
    assert!(create(subnets[0].clone()).await.is_err(), "the answer was lost");
    moto.faults_json(&serde_json::json!({}));
    let again = create(subnets[0].clone()).await.unwrap();
    let first = again
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .unwrap()
        .to_string();
    let in_vpc = aws_sdk_ec2::types::Filter::builder()
        .name("vpc-id")
        .values(&vpc)
        .build();
    let all = ec2.describe_nat_gateways().filter(in_vpc).send().await.unwrap();
    let ids: Vec<&str> = all.nat_gateways().iter().filter_map(|n| n.nat_gateway_id()).collect();
    assert_eq!(ids, [first.as_str()], "the retry made no second gateway");
    let other = create(subnets[1].clone()).await;
    let code = other
        .as_ref()
        .err()
        .and_then(|e| e.as_service_error())
        .and_then(|e| aws_sdk_ec2::error::ProvideErrorMetadata::code(e));
    assert_eq!(code, Some("IdempotentParameterMismatch"), "{other:?}");
}
