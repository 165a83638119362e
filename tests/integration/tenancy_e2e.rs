//! An attacker's namespace, end to end (real API server, emulator): each way a tenant could reach
//! another team's resources through a spec field is refused, `Stalled` with reason
//! `PolicyViolation` naming the field and the rule, with zero mutating AWS calls; another team's
//! VPC (its subnets, route table and internet gateway) and an untagged load balancer are never
//! touched, tags included; no task definition is registered. And the chart's admission policy
//! refuses a change of `webstack.io/external-id` at apply time.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};

use crate::harness::kube::{apply_all as apply_cluster, client, deploy_manifest, install_crds, namespace};
use crate::harness::manifest::{api_for, apply_all, condition, id, parse, wait_all};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;

/// What another team has: a VPC with two subnets, a route table routing to an internet gateway,
/// and a load balancer nobody tagged for adoption. Returns (vpc, subnets, load balancer ARN).
async fn another_teams_network(config: &aws_config::SdkConfig) -> (String, Vec<String>, String) {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let team = aws_sdk_ec2::types::Tag::builder().key("team").value("victims").build();
    let vpc = ec2.create_vpc().cidr_block("10.80.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.80.0.0/24", "us-east-1a"), ("10.80.1.0/24", "us-east-1b")] {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let igw = ec2.create_internet_gateway().send().await.unwrap();
    let igw = igw
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_string();
    ec2.attach_internet_gateway()
        .vpc_id(&vpc)
        .internet_gateway_id(&igw)
        .send()
        .await
        .unwrap();
    let table = ec2.create_route_table().vpc_id(&vpc).send().await.unwrap();
    let table = table.route_table().unwrap().route_table_id().unwrap().to_string();
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&vpc)
        .resources(&subnets[0])
        .resources(&subnets[1])
        .resources(&igw)
        .resources(&table)
        .tags(team)
        .send()
        .await
        .unwrap();
    let lb = elb
        .create_load_balancer()
        .name("victims-alb")
        .set_subnets(Some(subnets.clone()))
        .send()
        .await
        .unwrap();
    let lb = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    (vpc, subnets, lb)
}

/// Every tag of every EC2 resource in the VPC and of the load balancer, its security groups and
/// its listeners: what must stay exactly as it was.
async fn snapshot(config: &aws_config::SdkConfig, vpc: &str, lb: &str) -> BTreeMap<String, String> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let in_vpc = aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc).build();
    let mut out = BTreeMap::new();
    let tags = |t: &[aws_sdk_ec2::types::Tag]| {
        let mut v: Vec<String> = t
            .iter()
            .map(|t| format!("{}={}", t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect();
        v.sort();
        v.join(",")
    };
    for v in ec2.describe_vpcs().vpc_ids(vpc).send().await.unwrap().vpcs() {
        out.insert(format!("vpc {vpc}"), tags(v.tags()));
    }
    let subnets = ec2.describe_subnets().filters(in_vpc.clone()).send().await.unwrap();
    for s in subnets.subnets() {
        out.insert(format!("subnet {}", s.subnet_id().unwrap()), tags(s.tags()));
    }
    let tables = ec2
        .describe_route_tables()
        .filters(in_vpc.clone())
        .send()
        .await
        .unwrap();
    for t in tables.route_tables() {
        let routes: Vec<String> = t
            .routes()
            .iter()
            .map(|r| format!("{:?}->{:?}", r.destination_cidr_block(), r.gateway_id()))
            .collect();
        out.insert(
            format!("route table {}", t.route_table_id().unwrap()),
            format!("{} {routes:?} {}", tags(t.tags()), t.associations().len()),
        );
    }
    let attached = aws_sdk_ec2::types::Filter::builder()
        .name("attachment.vpc-id")
        .values(vpc)
        .build();
    for g in ec2
        .describe_internet_gateways()
        .filters(attached)
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        out.insert(format!("gateway {}", g.internet_gateway_id().unwrap()), tags(g.tags()));
    }
    let groups = ec2.describe_security_groups().filters(in_vpc).send().await.unwrap();
    out.insert(
        "security groups in the VPC".into(),
        groups.security_groups().len().to_string(),
    );
    let lbs = elb
        .describe_load_balancers()
        .load_balancer_arns(lb)
        .send()
        .await
        .unwrap();
    out.insert(
        "load balancer groups".into(),
        format!("{:?}", lbs.load_balancers()[0].security_groups()),
    );
    let lb_tags = webstack_operator::aws::elbv2::tags(&elb, lb).await.unwrap();
    out.insert("load balancer tags".into(), format!("{lb_tags:?}"));
    let listeners = elb.describe_listeners().load_balancer_arn(lb).send().await.unwrap();
    out.insert("listeners".into(), listeners.listeners().len().to_string());
    out
}

/// Each finding, tried as a tenant would: Stalled with `PolicyViolation` naming the field and the
/// rule, before any AWS call that changes anything.
#[tokio::test]
async fn an_attackers_namespace_changes_nothing() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "attacker").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (vpc, subnets, lb) = another_teams_network(&config).await;
    let before = snapshot(&config, &vpc, &lb).await;
    let vpcs_before = aws_sdk_ec2::Client::new(&config)
        .describe_vpcs()
        .send()
        .await
        .unwrap()
        .vpcs()
        .len();

    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret";
    let victims_role = "arn:aws:iam::123456789012:role/webstack-exec-victims-shop-1a2b3c4d";
    let manifests = format!(
        "apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {{name: take-vpc}}
spec:
  network: {{vpcId: {vpc}, publicSubnetIds: [{s0}], privateSubnetIds: [{s1}]}}
  loadBalancer: {{listeners: [{{name: http, port: 80}}]}}
---
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {{name: take-lb, annotations: {{webstack.io/external-id: '{lb}'}}}}
spec:
  network: {{cidr: 10.1.0.0/16}}
  loadBalancer: {{listeners: [{{name: http, port: 80}}]}}
---
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {{name: inline}}
spec:
  network: {{cidr: 10.2.0.0/16}}
  services:
    - name: api
      container:
        cpu: '256'
        memory: '512'
        taskRoleArn: {victims_role}
        containers: [{{name: api, image: 'api:1'}}]
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {{name: every-secret}}
spec:
  stackRef: {{name: inline}}
  cpu: '256'
  memory: '512'
  containers: [{{name: a, image: 'a:1', secrets: [{{name: ALL, valueFrom: '*'}}]}}]
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {{name: their-database}}
spec:
  stackRef: {{name: inline}}
  cpu: '256'
  memory: '512'
  containers:
    - name: a
      image: 'a:1'
      secrets: [{{name: DB, valueFrom: '{secret}:webstack/victims/shop-1a2b3c4d/database-AbCdEf'}}]
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {{name: their-role}}
spec:
  stackRef: {{name: inline}}
  cpu: '256'
  memory: '512'
  executionRoleArn: {victims_role}
  containers: [{{name: a, image: 'a:1'}}]
",
        s0 = subnets[0],
        s1 = subnets[1],
    );
    let objects = parse(&manifests);
    let expected = [
        ("spec.network.vpcId", "adopt-tagged-only"),
        ("metadata.annotations[webstack.io/external-id]", "adopt-tagged-only"),
        ("spec.services[0].container.taskRoleArn", "no-operator-roles"),
        ("spec.containers[0].secrets[0].valueFrom", "no-wildcard-secrets"),
        ("spec.containers[0].secrets[0].valueFrom", "own-namespace-secrets"),
        ("spec.executionRoleArn", "no-operator-roles"),
    ];
    let mark = moto.calls().len();
    let op = Operator::start(&moto, &ns, "3s");
    apply_all(&client, &ns, &objects).await;
    for (obj, (field, rule)) in objects.iter().zip(expected) {
        wait_all(
            &client,
            &ns,
            std::slice::from_ref(obj),
            &op,
            "PolicyViolation",
            60,
            |o| {
                o.and_then(|o| condition(o, "Stalled"))
                    .is_some_and(|(status, reason, message)| {
                        status == "True"
                            && reason == "PolicyViolation"
                            && message.starts_with(&format!("{field}: "))
                            && message.contains(&format!("rule {rule} "))
                    })
            },
        )
        .await;
    }
    // Two more re-checks of every object, then: not one call that changes anything.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let calls = moto.calls()[mark..].to_vec();
    assert!(!calls.is_empty(), "the objects were observed");
    let mutations: Vec<_> = calls.iter().filter(|c| c.mutates()).collect();
    assert!(mutations.is_empty(), "mutating calls: {mutations:#?}");
    assert_eq!(
        snapshot(&config, &vpc, &lb).await,
        before,
        "another team's resources changed"
    );
    let ec2 = aws_sdk_ec2::Client::new(&config);
    assert_eq!(ec2.describe_vpcs().send().await.unwrap().vpcs().len(), vpcs_before);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let families = ecs.list_task_definitions().send().await.unwrap();
    assert!(
        families.task_definition_arns().is_empty(),
        "{:?}",
        families.task_definition_arns()
    );
    // No child of the refused inline service was written.
    let children = api_for(
        &client,
        &ns,
        &parse("apiVersion: webstack.io/v1alpha1\nkind: ContainerService\nmetadata: {name: inline-api}")[0],
    )
    .get_opt("inline-api")
    .await
    .unwrap();
    assert!(children.is_none(), "inline-api written");
    drop(op);
}

/// The chart's admission policy: a WebStack's `webstack.io/external-id` cannot change or be
/// removed once set, with the operator's message; other changes pass. (Bound here to the test's
/// namespace only: the test API server is shared.)
#[tokio::test]
async fn the_external_id_cannot_change_at_apply_time() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "external-id").await;
    let mut policy = None;
    let mut binding = None;
    for obj in deploy_manifest() {
        match obj.types.as_ref().map(|t| t.kind.as_str()) {
            Some("ValidatingAdmissionPolicy") if obj.name_any().ends_with("external-id") => policy = Some(obj),
            Some("ValidatingAdmissionPolicyBinding") if obj.name_any().ends_with("external-id") => binding = Some(obj),
            _ => {}
        }
    }
    let (mut policy, mut binding) = (policy.expect("the policy"), binding.expect("its binding"));
    let name = format!("external-id-{ns}");
    policy.metadata.name = Some(name.clone());
    binding.metadata.name = Some(name.clone());
    binding.data["spec"]["policyName"] = serde_json::json!(name);
    binding.data["spec"]["matchResources"] = serde_json::json!({
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}
    });
    apply_cluster(&client, &[policy, binding]).await;

    let stack: DynamicObject = parse(
        "apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: adopting, annotations: {webstack.io/external-id: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/a/1'}}
spec: {network: {cidr: 10.0.0.0/16}}",
    )
    .remove(0);
    let api = api_for(&client, &ns, &stack);
    api.create(&PostParams::default(), &stack).await.expect("create");
    // The API server picks a new policy up within a second or two: a probe's annotation is changed
    // (to a new value each time) until that is refused.
    let mut probe = stack.clone();
    probe.metadata.name = Some("probe".into());
    api.create(&PostParams::default(), &probe)
        .await
        .expect("create the probe");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        let change = serde_json::json!({"metadata": {"annotations": {"webstack.io/external-id": format!("arn:probe/{attempt}")}}});
        match api
            .patch("probe", &PatchParams::default(), &Patch::Merge(&change))
            .await
        {
            Ok(_) => assert!(
                std::time::Instant::now() < deadline,
                "the policy is not in force after 30 s"
            ),
            Err(_) => break,
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let other = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/b/2";
    let changes = [
        serde_json::json!({"metadata": {"annotations": {"webstack.io/external-id": other}}}),
        serde_json::json!({"metadata": {"annotations": {"webstack.io/external-id": null}}}),
    ];
    for change in changes {
        match api
            .patch("adopting", &PatchParams::default(), &Patch::Merge(&change))
            .await
        {
            Err(kube::Error::Api(resp)) => {
                assert_eq!(resp.code, 422, "{}", resp.message);
                assert!(
                    resp.message
                        .contains("metadata.annotations[webstack.io/external-id]: cannot change or be removed")
                        && resp.message.contains("rule external-id-immutable"),
                    "{}",
                    resp.message
                );
            }
            other => panic!("{change}: {other:?}"),
        }
    }
    let ok = serde_json::json!({"metadata": {"labels": {"team": "a"}}, "spec": {"tags": {"team": "a"}}});
    api.patch("adopting", &PatchParams::default(), &Patch::Merge(&ok))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", id(&stack)));
}
