//! A platform team's WebStackPolicy, end to end (real API server, emulator): an unknown NAT mode
//! refused at admission; a namespace selected
//! by its labels; a stack without the required tag is Stalled (`PolicyViolation`, naming the field,
//! the rule and the policy) with no mutating AWS call; with the tag it is built; a policy tightened
//! after the stack is Ready stalls it with nothing changed in AWS; a second policy selecting the
//! same namespace stalls everything there and both policies report the conflict in their status.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use webstack_operator::api::WebStackPolicy;

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::manifest::{api_for, apply_all, condition, parse, wait_all, wait_ready};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;

fn policy(name: &str, label: &str, nat: &str) -> WebStackPolicy {
    serde_yaml::from_str(&format!(
        "apiVersion: webstack.io/v1alpha1
kind: WebStackPolicy
metadata: {{name: {name}}}
spec:
  namespaceSelector: {{matchLabels: {{policy-test: {label}}}}}
  limits: {{natGateways: [{nat}], maxStacks: 2}}
  requiredTags: {{cost-center: []}}"
    ))
    .unwrap()
}

fn stalled_by(rule: &'static str, field: &'static str, policy: String) -> impl Fn(Option<&DynamicObject>) -> bool {
    move |o| {
        o.and_then(|o| condition(o, "Stalled"))
            .is_some_and(|(status, reason, message)| {
                status == "True"
                    && reason == "PolicyViolation"
                    && message.starts_with(&format!("{field}: "))
                    && message.contains(&format!("(rule {rule} of WebStackPolicy {policy})"))
            })
    }
}

#[tokio::test]
async fn a_policy_governs_its_namespaces() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "governed").await;
    // The namespace gets the label its policy selects (unique: the API server is shared).
    let label = serde_json::json!({"metadata": {"labels": {"policy-test": ns}}});
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let policies: Api<WebStackPolicy> = Api::all(client.clone());
    // A NAT mode that does not exist is refused by the API server, naming the field.
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match policies
        .create(&dry_run, &policy(&format!("{ns}-bad"), &ns, "sometimes"))
        .await
    {
        Err(kube::Error::Api(e)) => assert!(
            e.code == 422
                && e.message.contains("spec.limits.natGateways")
                && e.message.contains("single, perZone, none"),
            "{e:?}"
        ),
        other => panic!("an unknown NAT mode was not refused: {other:?}"),
    }
    let ssa = PatchParams::apply("platform-team").force();
    let name = format!("{ns}-team");
    policies
        .patch(&name, &ssa, &Patch::Apply(&policy(&name, &ns, "single")))
        .await
        .unwrap();

    let moto = Moto::start();
    let op = Operator::start(&moto, &ns, "3s");
    let untagged = parse(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\nspec: {network: {cidr: 10.0.0.0/16}}",
    );
    let mark = moto.calls().len();
    apply_all(&client, &ns, &untagged).await;
    wait_all(
        &client,
        &ns,
        &untagged,
        &op,
        "PolicyViolation",
        60,
        stalled_by("requiredTags", "spec.tags.cost-center", name.clone()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mutations: Vec<_> = moto.calls()[mark..].iter().filter(|c| c.mutates()).cloned().collect();
    assert!(mutations.is_empty(), "{mutations:#?}");

    // The policy's status names the namespace.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = policies.get(&name).await.unwrap();
        let matched = p
            .status
            .as_ref()
            .map(|s| s.matched_namespaces.clone())
            .unwrap_or_default();
        if matched == [ns.clone()] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "status of {name}: {:?}", p.status);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Tagged: built.
    let tagged = parse(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\nspec: {network: {cidr: 10.0.0.0/16}, tags: {cost-center: '42'}}",
    );
    apply_all(&client, &ns, &tagged).await;
    wait_ready(&client, &ns, &tagged, &op, 150).await;

    // Tightened after the stack is Ready: Stalled, nothing in AWS changes.
    policies
        .patch(&name, &ssa, &Patch::Apply(&policy(&name, &ns, "none")))
        .await
        .unwrap();
    wait_all(
        &client,
        &ns,
        &tagged,
        &op,
        "PolicyViolation after tightening",
        60,
        stalled_by("natGateways", "spec.network.natGateways", name.clone()),
    )
    .await;
    let mark = moto.calls().len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mutations: Vec<_> = moto.calls()[mark..].iter().filter(|c| c.mutates()).cloned().collect();
    assert!(mutations.is_empty(), "{mutations:#?}");

    // A second policy selecting the namespace: both report the conflict, the stack stalls on it.
    let second = format!("{ns}-second");
    policies
        .patch(&second, &ssa, &Patch::Apply(&policy(&second, &ns, "single")))
        .await
        .unwrap();
    wait_all(&client, &ns, &tagged, &op, "a conflict", 60, |o| {
        o.and_then(|o| condition(o, "Stalled"))
            .is_some_and(|(s, reason, message)| {
                s == "True" && reason == "PolicyViolation" && message.contains("several WebStackPolicies")
            })
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = policies.get(&name).await.unwrap();
        let conflicts = p.status.as_ref().map(|s| s.conflicts.clone()).unwrap_or_default();
        if conflicts == [format!("{ns}: {second}")] {
            assert!(!webstack_operator::reconcile::status::is_ready(
                &p.status.unwrap().conditions
            ));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "status of {name}: {:?}", p.status);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Deletion cleans up whatever the policies say.
    api_for(&client, &ns, &tagged[0])
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap();
    crate::harness::manifest::wait_gone(&client, &ns, &tagged, &op, 120).await;
    for p in [&name, &second] {
        policies.delete(p, &DeleteParams::default()).await.unwrap();
    }
    let left = crate::harness::leftovers::leftovers(&moto.sdk_config().await, &ns).await;
    assert!(left.is_empty(), "{left:#?}");
}
