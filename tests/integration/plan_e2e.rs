//! `webstack-operator plan` where nothing needs applying first: an object the API server refuses
//! (a CEL rule) and one a WebStackPolicy refuses are errors (exit 1, even beside changes), the
//! JSON carries its format version, the kubectl plugin name works, and the read-only guard
//! refuses a mutation before it reaches AWS. The examples' plans (empty account, after Ready,
//! edits, `--delete`, `--live`, plan and controller agreeing) are in `examples_e2e`.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::moto::Moto;
use crate::harness::plan::{self, objects};

const STACK: &str = "\
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
spec: {network: {cidr: 10.0.0.0/16, natGateways: none}}
";

#[tokio::test]
async fn refusals_are_errors_and_the_guard_holds() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "plan").await;
    let moto = Moto::start();

    // A CEL rule of the CRD, evaluated by the API server's dry-run: exit 1 even though the valid
    // stack beside it changes something.
    let twice = "\
---
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: twice}
spec: {network: {cidr: 10.1.0.0/16, natGateways: none}, registries: [posts, posts]}
";
    let run = plan::of_text(&moto, &ns, &format!("{STACK}{twice}"), &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["format_version"], "1");
    let found = objects(&json);
    let (_, shop) = found.iter().find(|(id, _)| id == "WebStack/shop").unwrap();
    assert_eq!(shop["outcome"]["result"], "changes");
    assert_eq!(shop["new"], true);
    let (_, bad) = found.iter().find(|(id, _)| id == "WebStack/twice").unwrap();
    assert_eq!(bad["outcome"]["result"], "error", "{bad}");
    let message = bad["outcome"]["message"].as_str().unwrap();
    assert!(message.contains("each registry name once"), "{message}");
    println!("plan of a new stack: {:.2}s\n{}", run.secs, run.stderr);

    // A WebStackPolicy that requires a tag: the stack's plan is the rule's message.
    let policy_name = format!("{ns}-plan");
    let policy: serde_json::Value = serde_yaml::from_str(&format!(
        "apiVersion: webstack.io/v1alpha1
kind: WebStackPolicy
metadata: {{name: {policy_name}}}
spec:
  namespaceSelector: {{matchLabels: {{plan-test: {ns}}}}}
  requiredTags: {{cost-center: []}}"
    ))
    .unwrap();
    let policies: Api<webstack_operator::api::WebStackPolicy> = Api::all(client.clone());
    let ssa = PatchParams::apply("test").force();
    policies
        .patch(&policy_name, &ssa, &Patch::Apply(&policy))
        .await
        .unwrap();
    let label = serde_json::json!({"metadata": {"labels": {"plan-test": ns}}});
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let run = plan::of_text(&moto, &ns, STACK, &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    let (_, shop) = objects(&json).into_iter().next().unwrap();
    assert_eq!(shop["outcome"]["reason"], "PolicyViolation", "{shop}");
    assert!(
        shop["outcome"]["message"].as_str().unwrap().contains("cost-center"),
        "{shop}"
    );
    policies.delete(&policy_name, &Default::default()).await.unwrap();

    // The kubectl plugin: the same binary under the name kubectl looks for.
    let dir = std::env::temp_dir().join(crate::harness::unique("kubectl-plugin"));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("kubectl-webstack");
    std::os::unix::fs::symlink(plan::binary(), &link).unwrap();
    let mark = moto.calls().len();
    let run = plan::run_as(Some(&link), &moto, &ns, &["-f", "-"], Some(STACK));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("WebStack"), "{}", run.stdout);
    assert!(run.stdout.contains("+ create VPC"), "{}", run.stdout);
    assert!(run.stdout.contains("Plan: "), "{}", run.stdout);
    // Every AWS call of the plans above was a read.
    let key = moto.operator_key();
    let calls = moto.calls();
    let writes: Vec<_> = calls[mark..]
        .iter()
        .filter(|c| c.access_key == key.id && c.mutates())
        .map(|c| c.action.clone())
        .collect();
    assert!(writes.is_empty(), "plan changed AWS: {writes:?}");
    assert!(calls[mark..].iter().any(|c| c.access_key == key.id), "plan read AWS");

    // The guard itself: a mutation through read-only clients fails before it is sent.
    let config = moto.sdk_config_as(&key).await;
    let clients = webstack_operator::aws::Clients::read_only(&config, "own");
    let mark = moto.calls().len();
    let refused = clients
        .ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .send()
        .await
        .expect_err("a mutation through read-only clients");
    let err = webstack_operator::aws::classify("CreateVpc", refused);
    assert_eq!(err.code, "ReadOnlyViolation", "{err}");
    assert!(moto.calls()[mark..].is_empty(), "nothing reached the emulator");
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    assert!(vpcs.vpcs().iter().all(|v| v.cidr_block() != Some("10.99.0.0/16")));
    // Reads pass.
    clients.ec2.describe_vpcs().send().await.unwrap();
}
