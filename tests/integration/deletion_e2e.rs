//! Deletion as users do it, end to end: a whole manifest applied until every object is Ready, then
//! every object deleted at once (`kubectl delete -f`), in the file's order or another. Every object
//! must be gone within the bound each test states, and nothing tagged for the test's namespace may
//! remain in AWS, read back through the SDK. Also: `webstack.io/paused` on every kind, deletion
//! included, makes no mutating AWS call (counted by the emulator's recorder); cleanup finds what to
//! delete with every status wiped; denied AWS calls back off.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{DynamicObject, Patch, PatchParams};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::manifest::{
    api_for, apply_all, condition, delete_all, id, load_manifests, parse, wait_all, wait_gone, wait_ready,
};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::repo_root;

/// How long a whole-manifest deletion may take (the emulator's resources go at once; the bound is
/// for the operator's ordering: stop routing, services, target groups, load balancer, groups, network).
const DELETE_WITHIN: u64 = 90;

/// The common way to write a stack: the listener's default action forwards to a TargetGroup, which
/// a service is attached to and a rule also forwards to.
const FORWARDING: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
spec:
  network: {cidr: 10.50.0.0/16}
  loadBalancer:
    listeners:
      - {name: http, port: 80, defaultAction: {forward: {targetGroups: [{name: web}]}}}
---
apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {name: web}
spec: {stackRef: {name: shop}, port: 8080, healthCheck: {path: /health}}
---
apiVersion: webstack.io/v1alpha1
kind: ListenerRule
metadata: {name: web-api}
spec:
  stackRef: {name: shop}
  listener: http
  conditions: {pathPatterns: ["/api/*"]}
  action: {forward: {targetGroups: [{name: web}]}}
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: web}
spec:
  stackRef: {name: shop}
  cpu: "256"
  memory: "512"
  desiredCount: 2
  containers:
    - {name: web, image: registry.example.com/shop/web:1.0.0, portMappings: [{containerPort: 8080}]}
  loadBalancer: {targetGroupRef: {name: web}}
"#;

/// Applies `objects`, waits until all are Ready, deletes them all at once in `order`, waits until
/// all are gone and checks AWS. Returns (time to Ready, time to gone).
async fn whole_manifest(prefix: &str, objects: Vec<DynamicObject>, reverse: bool) -> (Duration, Duration) {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, prefix).await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let op = Operator::start(&moto, &ns, "3s");
    apply_all(&client, &ns, &objects).await;
    let ready = wait_ready(&client, &ns, &objects, &op, 150).await;
    assert!(!leftovers(&config, &ns).await.is_empty(), "the stack exists in AWS");
    steady_state_calls(&op).await;
    let mut order = objects.clone();
    if reverse {
        order.reverse();
    }
    delete_all(&client, &ns, &order).await;
    let gone = wait_gone(&client, &ns, &objects, &op, DELETE_WITHIN).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
    println!(
        "{prefix}: {} objects Ready in {:.1}s, all deleted in {:.1}s",
        objects.len(),
        ready.as_secs_f64(),
        gone.as_secs_f64()
    );
    (ready, gone)
}

/// AWS calls per steady-state reconcile, by kind, must not grow: at most these many reads. A
/// WebStack makes 8, plus 5 with EC2 capacity (example 5: the AMI parameter, the instance
/// profile, the launch template's latest version, the group and the capacity provider), plus 1
/// with registries (example 5: one DescribeRepositories for all of the stack's repositories).
const STEADY_CALLS: [(&str, u32); 4] = [
    ("WebStack", 19),
    ("TargetGroup", 3),
    ("ListenerRule", 2),
    ("ContainerService", 4),
];

/// Waits for two drift re-checks (3 s here), then checks the calls of each settled reconcile.
async fn steady_state_calls(op: &Operator) {
    let before = op.steady_reconciles().len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut most = std::collections::BTreeMap::new();
    for (kind, calls) in op.steady_reconciles().into_iter().skip(before) {
        let m = most.entry(kind).or_insert(0);
        *m = calls.max(*m);
    }
    println!("AWS calls per steady-state reconcile, most seen: {most:?}");
    for (kind, bound) in STEADY_CALLS {
        if let Some(calls) = most.get(kind) {
            assert!(
                *calls <= bound,
                "{kind}: {calls} calls in a steady-state reconcile (at most {bound})"
            );
        }
    }
}

#[tokio::test]
async fn deleting_a_forwarding_stack_at_once_finishes() {
    // The stack first: it must release its own listener's forward rather than wait on it.
    whole_manifest("del-fwd", parse(FORWARDING), false).await;
}

#[tokio::test]
async fn deleting_a_forwarding_stack_in_reverse_order_finishes() {
    whole_manifest("del-fwd-rev", parse(FORWARDING), true).await;
}

#[tokio::test]
async fn deleting_example_1_at_once_finishes() {
    let objects = load_manifests(&repo_root().join("examples/1-host-routing-two-services.yaml"));
    whole_manifest("del-ex1", objects, false).await;
}

#[tokio::test]
async fn deleting_example_5_at_once_finishes() {
    let objects = load_manifests(&repo_root().join("examples/5-ec2-microservices-bridge.yaml"));
    whole_manifest("del-ex5", objects, false).await;
}

/// Sets or removes `webstack.io/paused` on every object.
async fn pause(client: &kube::Client, ns: &str, objects: &[DynamicObject], paused: bool) {
    let value = if paused {
        serde_json::json!("true")
    } else {
        serde_json::Value::Null
    };
    let patch = serde_json::json!({"metadata": {"annotations": {"webstack.io/paused": value}}});
    for obj in objects {
        api_for(client, ns, obj)
            .patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("pause {}: {e}", id(obj)));
    }
}

fn paused_saying(o: Option<&DynamicObject>, text: &str) -> bool {
    o.and_then(|o| condition(o, "Ready"))
        .is_some_and(|(_, reason, message)| reason == "Paused" && message.contains(text))
}

/// Paused on each kind makes no mutating AWS call: not for a spec change, not for a deletion (each
/// object reports what it would delete and waits). With every status then wiped, as after lost
/// status writes, unpausing deletes everything: cleanup finds the resources by names and tags.
#[tokio::test]
async fn paused_objects_never_mutate_aws_and_cleanup_needs_no_status() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "paused").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let mut op = Operator::start(&moto, &ns, "3s");
    let objects = parse(FORWARDING);
    apply_all(&client, &ns, &objects).await;
    wait_ready(&client, &ns, &objects, &op, 150).await;

    pause(&client, &ns, &objects, true).await;
    wait_all(&client, &ns, &objects, &op, "Paused", 30, |o| {
        paused_saying(o, "paused")
    })
    .await;
    let mark = moto.calls().len();
    // A spec change while paused is reported, not applied.
    let mut tg = objects[1].clone();
    tg.data["spec"]["healthCheck"]["intervalSeconds"] = serde_json::json!(10);
    apply_all(&client, &ns, std::slice::from_ref(&tg)).await;
    wait_all(&client, &ns, &objects[1..2], &op, "the paused plan", 30, |o| {
        paused_saying(o, "modify health check: interval")
    })
    .await;
    // Deleted while paused: each object stays, saying what it would delete.
    delete_all(&client, &ns, &objects).await;
    wait_all(&client, &ns, &objects, &op, "a paused deletion", 30, |o| {
        paused_saying(o, "deletion waits")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(7)).await; // two more re-checks of every object
    let calls = moto.calls()[mark..].to_vec();
    let mutations: Vec<_> = calls.iter().filter(|c| c.mutates()).collect();
    assert!(mutations.is_empty(), "paused objects mutated AWS: {mutations:#?}");
    assert!(!calls.is_empty(), "paused objects are still observed");
    assert!(
        !leftovers(&config, &ns).await.is_empty(),
        "nothing deleted while paused"
    );

    // Every status wiped (lost status writes), then unpaused: everything goes all the same. The
    // operator is stopped meanwhile (a paused object's re-check writes its observed status back)
    // and a new one started, as after a restart.
    op.kill();
    for obj in &objects {
        let wipe = serde_json::json!({"status": null});
        api_for(&client, &ns, obj)
            .patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&wipe))
            .await
            .unwrap();
    }
    for obj in &objects {
        let now = api_for(&client, &ns, obj).get(&obj.name_any()).await.unwrap();
        let fields: Vec<&String> = now.data["status"]
            .as_object()
            .map(|s| s.keys().collect())
            .unwrap_or_default();
        assert!(
            fields.iter().all(|k| *k == "conditions" || *k == "observedGeneration"),
            "{}: {fields:?}",
            id(obj)
        );
    }
    pause(&client, &ns, &objects, false).await;
    let op = Operator::start(&moto, &ns, "3s");
    wait_gone(&client, &ns, &objects, &op, DELETE_WITHIN).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion without status: {left:#?}");
}

/// A TargetGroup whose AWS calls are denied backs off: over two minutes it calls AWS far fewer
/// times than a 10 s retry loop would (12). The operator runs as an IAM user of the emulator
/// whose policy denies the target-group calls; everything else is allowed.
#[tokio::test]
async fn denied_calls_back_off() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "denied").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    iam.create_user().user_name("operator").send().await.unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:CreateTargetGroup"], "Resource": "*"}
    ]});
    iam.put_user_policy()
        .user_name("operator")
        .policy_name("all-but-target-groups")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let key = iam.create_access_key().user_name("operator").send().await.unwrap();
    let key = key.access_key().unwrap();
    let (id_, secret) = (key.access_key_id().to_string(), key.secret_access_key().to_string());
    moto.moto_api("reset-auth", "0"); // IAM enforced from now on
    let kubeconfig = crate::harness::kube::chart_identity_kubeconfig_path();
    let op = Operator::start_with(
        &moto,
        &ns,
        "10m",
        &kubeconfig,
        &[("AWS_ACCESS_KEY_ID", &id_), ("AWS_SECRET_ACCESS_KEY", &secret)],
    );
    let objects = parse(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
spec: {network: {cidr: 10.60.0.0/16}, loadBalancer: {listeners: [{name: http, port: 80}]}}
---
apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {name: web}
spec: {stackRef: {name: shop}, port: 8080}
"#,
    );
    apply_all(&client, &ns, &objects).await;
    wait_ready(&client, &ns, &objects[..1], &op, 90).await;
    wait_all(&client, &ns, &objects[1..], &op, "Stalled on AccessDenied", 60, |o| {
        o.and_then(|o| condition(o, "Stalled"))
            .is_some_and(|(status, reason, _)| status == "True" && reason == "AccessDenied")
    })
    .await;
    let denied = |calls: &[crate::harness::moto::Call]| {
        calls
            .iter()
            .filter(|c| c.access_key == id_ && c.action == "DescribeTargetGroups")
            .count()
    };
    let before = denied(&moto.calls());
    tokio::time::sleep(Duration::from_secs(120)).await;
    let during = denied(&moto.calls()) - before;
    println!("denied target group: {during} DescribeTargetGroups in 120 s (a 10 s loop: 12)");
    assert!(during <= 5, "{during} calls in 120 s: no backoff");
    assert!(during >= 1, "still retried");
}
