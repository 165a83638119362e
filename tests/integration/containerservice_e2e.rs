//! ContainerService end to end: reference architecture 2's backend (Fargate, 0.5 vCPU / 2 GB)
//! behind its target group in the stack's cluster; changing the image tag registers a new revision,
//! the service moves to it and status follows; deletion removes the service, its revisions and its
//! log group. Autoscaling (2..8 tasks on 60% CPU and memory) is set up, never fought over the
//! desired count, narrowed, and removed. The emulator starts each deployment's tasks over
//! MOTO_ECS_DEPLOY_SECONDS (tests/moto/ecs_services.py). A register whose answer was lost leaves
//! no second revision behind.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use webstack_operator::api::ContainerService;

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::wait::gone;

fn backend(tag: &str) -> serde_json::Value {
    backend_scaled(
        tag,
        serde_json::json!({"minCapacity": 2, "maxCapacity": 8, "targetCpuPercent": 60, "targetMemoryPercent": 60}),
    )
}

fn backend_scaled(tag: &str, autoscaling: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "ContainerService", "metadata": {"name": "backend"},
        "spec": {"stackRef": {"name": "webapp"}, "cpu": "512", "memory": "2048", "desiredCount": 2,
                 "containers": [{"name": "flask", "image": format!("docker.io/webapp/backend:{tag}"),
                                 "portMappings": [{"containerPort": 5000}], "env": {"FLASK_ENV": "production"}}],
                 "loadBalancer": {"targetGroupRef": {"name": "backend"}, "containerName": "flask", "containerPort": 5000},
                 "logs": {"retentionDays": 14}, "autoscaling": autoscaling}})
}

/// Applies one manifest with server-side apply as `ssa`'s field manager.
async fn apply(client: &kube::Client, ns: &str, ssa: &PatchParams, manifest: serde_json::Value) {
    let obj: kube::api::DynamicObject = serde_json::from_value(manifest).unwrap();
    crate::harness::manifest::api_for(client, ns, &obj)
        .patch(&obj.metadata.name.clone().unwrap(), ssa, &Patch::Apply(&obj))
        .await
        .unwrap();
}

async fn until(
    api: &Api<ContainerService>,
    op: &Operator,
    what: &str,
    done: impl Fn(&ContainerService) -> bool,
) -> ContainerService {
    crate::harness::wait::until(api, "backend", op, what, 90, done).await
}

fn ready(s: &ContainerService) -> bool {
    s.status
        .as_ref()
        .is_some_and(|st| st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn fargate_service_rolls_to_a_new_image() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-cs").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let op = Operator::start(&moto, &ns, "3s");
    let ssa = PatchParams::apply("e2e-user");
    for manifest in [
        serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "WebStack", "metadata": {"name": "webapp"},
            "spec": {"network": {"cidr": "10.20.0.0/16"}, "loadBalancer": {"listeners": [{"name": "http", "port": 80}]}}}),
        serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "TargetGroup", "metadata": {"name": "backend"},
            "spec": {"stackRef": {"name": "webapp"}, "port": 5000, "healthCheck": {"path": "/healthz"}}}),
    ] {
        apply(&client, &ns, &ssa, manifest).await;
    }
    let api: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    api.patch("backend", &ssa, &Patch::Apply(backend("1.8.0")))
        .await
        .unwrap();
    // No listener or rule forwards to the group yet: ECS would refuse it (the emulator does), so
    // the service waits, naming why, and no service is created.
    until(&api, &op, "waiting for the group to be behind a load balancer", |s| {
        s.status.as_ref().is_some_and(|st| {
            st.conditions.iter().any(|c| {
                c.type_ == "Reconciling" && c.status == "True" && c.message.contains("to be behind a load balancer")
            })
        })
    })
    .await;
    let creates = moto.calls().iter().filter(|c| c.action == "CreateService").count();
    assert_eq!(creates, 0, "CreateService before the group was behind a load balancer");
    // A rule forwarding to it: the service is created and rolls out.
    let rule: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "webstack.io/v1alpha1", "kind": "ListenerRule", "metadata": {"name": "backend-api"},
        "spec": {"stackRef": {"name": "webapp"}, "listener": "http", "priority": 10,
                 "conditions": {"pathPatterns": ["/api/*"]},
                 "action": {"forward": {"targetGroups": [{"name": "backend"}]}}}
    }))
    .unwrap();
    crate::harness::manifest::api_for(&client, &ns, &rule)
        .patch("backend-api", &ssa, &Patch::Apply(&rule))
        .await
        .unwrap();
    let s = until(&api, &op, "Ready", ready).await;
    let st = s.status.clone().unwrap();
    assert_eq!((st.desired_count, st.running_count), (Some(2), Some(2)));
    assert_eq!(st.rollout.as_ref().and_then(|r| r.state.as_deref()), Some("COMPLETED"));
    let first = st.task_definition_arn.clone().unwrap();
    assert!(first.ends_with(":1"), "{first}");

    // Read back: the service in the stack's cluster, Fargate, zero-downtime deployment, the target group.
    let service_arn = st.service_arn.clone().unwrap();
    let cluster = service_arn.split('/').nth(1).unwrap().to_string();
    // Emulator gap: moto 5.2.5 does not keep deploymentConfiguration from CreateService (AWS
    // always returns it), only from UpdateService. The operator sees it missing, corrects it as
    // drift, and then it is there; wait for that instead of racing it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let described = loop {
        let d = ecs
            .describe_services()
            .cluster(&cluster)
            .services(&service_arn)
            .send()
            .await
            .unwrap();
        if d.services()[0].deployment_configuration().is_some() {
            break d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no deployment configuration:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let svc = &described.services()[0];
    assert_eq!(svc.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    let dc = svc.deployment_configuration().unwrap();
    assert_eq!(
        (dc.maximum_percent(), dc.minimum_healthy_percent()),
        (Some(200), Some(100))
    );
    assert!(
        dc.deployment_circuit_breaker()
            .is_some_and(|b| b.enable() && b.rollback())
    );
    assert_eq!(svc.load_balancers()[0].container_port(), Some(5000));
    let td = ecs
        .describe_task_definition()
        .task_definition(&first)
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!((td.cpu(), td.memory()), (Some("512"), Some("2048")));
    let log_group = td.container_definitions()[0]
        .log_configuration()
        .unwrap()
        .options()
        .unwrap()["awslogs-group"]
        .clone();
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(&log_group)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14));

    // Steady state registers nothing new (several re-checks at 3 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let revisions = ecs
        .list_task_definitions()
        .send()
        .await
        .unwrap()
        .task_definition_arns()
        .len();
    assert_eq!(revisions, 1, "an unchanged spec never registers a revision");

    // Autoscaling: the scalable target and both target-tracking policies.
    let scaling = aws_sdk_applicationautoscaling::Client::new(&config);
    let resource = format!("service/{cluster}/{}", service_arn.rsplit('/').next().unwrap());
    let ns_ecs = aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs;
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(ns_ecs.clone())
        .resource_ids(&resource)
        .send()
        .await
        .unwrap();
    let bounds: Vec<_> = targets
        .scalable_targets()
        .iter()
        .map(|t| (t.min_capacity(), t.max_capacity()))
        .collect();
    assert_eq!(bounds, [(2, 8)]);
    let policies =
        |out: aws_sdk_applicationautoscaling::operation::describe_scaling_policies::DescribeScalingPoliciesOutput| {
            let mut got: Vec<(String, f64)> = out
                .scaling_policies()
                .iter()
                .filter_map(|p| {
                    let c = p.target_tracking_scaling_policy_configuration()?;
                    Some((
                        c.predefined_metric_specification()?
                            .predefined_metric_type()
                            .as_str()
                            .to_string(),
                        c.target_value(),
                    ))
                })
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            got
        };
    let got = policies(
        scaling
            .describe_scaling_policies()
            .service_namespace(ns_ecs.clone())
            .resource_id(&resource)
            .send()
            .await
            .unwrap(),
    );
    let both = [
        ("ECSServiceAverageCPUUtilization".to_string(), 60.0),
        ("ECSServiceAverageMemoryUtilization".to_string(), 60.0),
    ];
    assert_eq!(got, both);
    // The scaler moves the desired count (done by hand here): the operator leaves it alone.
    ecs.update_service()
        .cluster(&cluster)
        .service(&service_arn)
        .desired_count(5)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .services(&service_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.services()[0].desired_count(),
        5,
        "the scaler's count is never reset"
    );
    // Dropping a metric removes its policy.
    let cpu_only = serde_json::json!({"minCapacity": 2, "maxCapacity": 8, "targetCpuPercent": 60});
    api.patch(
        "backend",
        &ssa,
        &Patch::Apply(backend_scaled("1.8.0", cpu_only.clone())),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = policies(
            scaling
                .describe_scaling_policies()
                .service_namespace(ns_ecs.clone())
                .resource_id(&resource)
                .send()
                .await
                .unwrap(),
        );
        if got == both[..1] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "memory policy not removed: {got:?}\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A new image tag: a new revision, the service moves to it, status follows.
    api.patch("backend", &ssa, &Patch::Apply(backend_scaled("1.9.0", cpu_only)))
        .await
        .unwrap();
    let s = until(&api, &op, "the new revision", |s| {
        ready(s)
            && s.status
                .as_ref()
                .and_then(|st| st.task_definition_arn.as_deref())
                .is_some_and(|a| a.ends_with(":2"))
    })
    .await;
    let second = s.status.unwrap().task_definition_arn.unwrap();
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .services(&service_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.services()[0].task_definition(), Some(second.as_str()));
    let td = ecs
        .describe_task_definition()
        .task_definition(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(
        td.task_definition().unwrap().container_definitions()[0].image(),
        Some("docker.io/webapp/backend:1.9.0")
    );

    // Delete: service, revisions and log group go.
    api.delete("backend", &DeleteParams::default()).await.unwrap();
    gone(&api, "backend", &op, 90).await;
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .services(&service_arn)
        .send()
        .await
        .unwrap();
    assert!(
        described.services().iter().all(|s| s.status() != Some("ACTIVE")),
        "service deleted"
    );
    let active = ecs
        .list_task_definitions()
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    assert!(
        active.task_definition_arns().is_empty(),
        "{:?}",
        active.task_definition_arns()
    );
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(&log_group)
        .send()
        .await
        .unwrap();
    assert!(groups.log_groups().is_empty(), "log group deleted");
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(ns_ecs)
        .resource_ids(&resource)
        .send()
        .await
        .unwrap();
    assert!(targets.scalable_targets().is_empty(), "autoscaling removed");
}

/// Reference architecture 5 applied from `examples/`: three EC2 services on the stack's capacity provider,
/// bridge networking, container cpu 256 / memory reservation 256, port 3000 on dynamic host ports,
/// behind instance target groups with 2/2/5 s/6 s health checks and a path rule each.
#[tokio::test]
async fn ec2_bridge_microservices_from_the_example() {
    use crate::harness::manifest::{api_for, load_manifests};
    use crate::harness::repo_root;
    use kube::ResourceExt;

    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-ec2").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (ecs, elb) = (
        aws_sdk_ecs::Client::new(&config),
        aws_sdk_elasticloadbalancingv2::Client::new(&config),
    );
    let op = Operator::start(&moto, &ns, "3s");
    let ssa = PatchParams::apply("e2e-user");
    for obj in load_manifests(&repo_root().join("examples/5-ec2-microservices-bridge.yaml")) {
        api_for(&client, &ns, &obj)
            .patch(&obj.name_any(), &ssa, &Patch::Apply(&obj))
            .await
            .unwrap();
    }
    let api: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    for name in ["posts", "threads", "users"] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let s = loop {
            if let Some(s) = api.get_opt(name).await.unwrap()
                && ready(&s)
            {
                break s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not Ready; operator log:\n{}",
                op.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let st = s.status.unwrap();
        let service_arn = st.service_arn.unwrap();
        let cluster = service_arn.split('/').nth(1).unwrap().to_string();
        assert_eq!(cluster, "forum", "the cluster named in the example");
        let described = ecs
            .describe_services()
            .cluster(&cluster)
            .services(&service_arn)
            .send()
            .await
            .unwrap();
        let svc = &described.services()[0];
        // The example declares EC2 capacity: the services run on its capacity provider (a
        // strategy instead of the EC2 launch type; AWS takes one or the other).
        assert_eq!(svc.launch_type(), None);
        let strategy = svc.capacity_provider_strategy();
        assert_eq!(strategy.len(), 1);
        assert!(
            strategy[0].capacity_provider().starts_with("webstack-ec2-"),
            "{strategy:?}"
        );
        // AWS omits networkConfiguration in bridge mode; moto returns an empty one.
        let awsvpc = svc.network_configuration().and_then(|n| n.awsvpc_configuration());
        assert!(awsvpc.is_none(), "bridge mode has no awsvpc configuration");
        let tg_arn = svc.load_balancers()[0].target_group_arn().unwrap().to_string();
        let td = ecs
            .describe_task_definition()
            .task_definition(st.task_definition_arn.unwrap())
            .send()
            .await
            .unwrap();
        let td = td.task_definition().unwrap();
        assert_eq!(td.network_mode().map(|m| m.as_str()), Some("bridge"));
        let c = &td.container_definitions()[0];
        assert_eq!((c.cpu(), c.memory_reservation()), (256, Some(256)));
        assert_eq!(
            (c.port_mappings()[0].container_port(), c.port_mappings()[0].host_port()),
            (Some(3000), Some(0))
        );
        let tg = elb
            .describe_target_groups()
            .target_group_arns(&tg_arn)
            .send()
            .await
            .unwrap();
        let tg = &tg.target_groups()[0];
        assert_eq!(tg.target_type().map(|t| t.as_str()), Some("instance"));
        let checks = (
            tg.healthy_threshold_count(),
            tg.unhealthy_threshold_count(),
            tg.health_check_timeout_seconds(),
            tg.health_check_interval_seconds(),
        );
        assert_eq!(checks, (Some(2), Some(2), Some(5), Some(6)));
    }
}

/// A log group under the service's deterministic name that is someone else's is never taken over
/// (nor its retention changed, nor deleted): the service stalls naming it, creating nothing.
#[tokio::test]
async fn a_foreign_log_group_is_never_taken_over() {
    use kube::ResourceExt;
    use webstack_operator::model::Owner;

    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-logs").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (ecs, logs) = (
        aws_sdk_ecs::Client::new(&config),
        aws_sdk_cloudwatchlogs::Client::new(&config),
    );
    let op = Operator::start(&moto, &ns, "3s");
    let ssa = PatchParams::apply("e2e-user");
    let stack = serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "WebStack",
        "metadata": {"name": "webapp"}, "spec": {"network": {"cidr": "10.0.0.0/16"}}});
    let stacks: Api<webstack_operator::api::WebStack> = Api::namespaced(client.clone(), &ns);
    stacks.patch("webapp", &ssa, &Patch::Apply(&stack)).await.unwrap();
    let service = serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "ContainerService",
        "metadata": {"name": "backend", "annotations": {"webstack.io/paused": "true"}},
        "spec": {"stackRef": {"name": "webapp"}, "cpu": "256", "memory": "512",
                 "containers": [{"name": "flask", "image": "docker.io/webapp/backend:1"}]}});
    let api: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    let created = api.patch("backend", &ssa, &Patch::Apply(&service)).await.unwrap();
    let owner = Owner {
        cluster_id: "e2e".into(),
        namespace: ns.clone(),
        kind: "ContainerService",
        name: "backend".into(),
        uid: created.uid().unwrap(),
    };
    let name = format!("/webstack/{}", owner.aws_name("wcs", 200));
    let foreign = std::collections::HashMap::from([
        ("webstack.io/managed-by".to_string(), "webstack-operator".to_string()),
        ("webstack.io/cluster".to_string(), "another-cluster".to_string()),
    ]);
    logs.create_log_group()
        .log_group_name(&name)
        .set_tags(Some(foreign.clone()))
        .send()
        .await
        .unwrap();
    logs.put_retention_policy()
        .log_group_name(&name)
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    let unpause = serde_json::json!({"metadata": {"annotations": {"webstack.io/paused": null}}});
    api.patch("backend", &PatchParams::default(), &Patch::Merge(&unpause))
        .await
        .unwrap();
    let stalled = until(&api, &op, "a conflict over the log group", |s| {
        s.status.as_ref().is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == "OwnershipConflict")
        })
    })
    .await;
    let message = &stalled
        .status
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap()
        .message
        .clone();
    assert!(
        message.contains("log group") && message.contains("another-cluster"),
        "{message}"
    );
    let group = logs
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        group.log_groups()[0].retention_in_days(),
        Some(7),
        "retention untouched"
    );
    let clusters = ecs.list_clusters().send().await.unwrap();
    for cluster in clusters.cluster_arns() {
        let services = ecs.list_services().cluster(cluster).send().await.unwrap();
        assert!(services.service_arns().is_empty(), "no service created");
    }
    // Deleting the service leaves the other's log group where it is.
    api.delete("backend", &DeleteParams::default()).await.unwrap();
    gone(&api, "backend", &op, 60).await;
    let group = logs
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(group.log_groups().len(), 1, "the other's log group is kept");
}

/// RegisterTaskDefinition takes no client token: its first answer lost after ECS registered the
/// revision (the fault layer's `after` reset, once), the SDK's retry registers a second. The
/// service runs the second, and the first, used by nothing, is deregistered: one active revision.
#[tokio::test]
async fn a_register_whose_answer_was_lost_leaves_no_copy() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-cs-lost").await;
    let moto = Moto::start();
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    moto.faults_json(&serde_json::json!({
        "RegisterTaskDefinition": {"reset": true, "after": true, "times": 1},
    }));
    let op = Operator::start(&moto, &ns, "3s");
    let ssa = PatchParams::apply("e2e-user");
    for manifest in [
        serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "WebStack", "metadata": {"name": "webapp"},
            "spec": {"network": {"cidr": "10.21.0.0/16", "natGateways": "none"}, "loadBalancer": {"listeners": [{"name": "http", "port": 80}]}}}),
        serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "TargetGroup", "metadata": {"name": "backend"},
            "spec": {"stackRef": {"name": "webapp"}, "port": 5000, "healthCheck": {"path": "/healthz"}}}),
        serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "ListenerRule", "metadata": {"name": "backend-api"},
            "spec": {"stackRef": {"name": "webapp"}, "listener": "http", "priority": 10,
                     "conditions": {"pathPatterns": ["/api/*"]},
                     "action": {"forward": {"targetGroups": [{"name": "backend"}]}}}}),
        {
            let mut service = backend_scaled("1.8.0", serde_json::Value::Null);
            service["spec"].as_object_mut().unwrap().remove("autoscaling");
            service
        },
    ] {
        apply(&client, &ns, &ssa, manifest).await;
    }
    let api: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    let s = until(&api, &op, "Ready", ready).await;
    let injected = moto.fault_counts()["injected"]["RegisterTaskDefinition"].as_u64();
    assert_eq!(injected, Some(1), "the first register's answer was lost");
    let running = s.status.and_then(|st| st.task_definition_arn).unwrap();
    assert!(
        running.ends_with(":2"),
        "the retry registered the second revision: {running}"
    );
    let family = running
        .rsplit('/')
        .next()
        .and_then(|f| f.split(':').next())
        .unwrap()
        .to_string();
    let active = ecs
        .list_task_definitions()
        .family_prefix(&family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(
        active.task_definition_arns(),
        std::slice::from_ref(&running),
        "the copy the lost answer made is deregistered:\n{}",
        op.log_tail()
    );
}
