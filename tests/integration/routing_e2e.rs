//! Routing end to end: reference architecture 1 applied from `examples/` (host-header rules to two
//! target groups, a catch-all 404), read back through the SDK; a rule without a priority gets a
//! free one and keeps it; an explicit priority held by another rule is Stalled naming the holder,
//! never stolen; a rule deleted by hand comes back; deleting a TargetGroup a rule still forwards
//! to waits, naming the rule.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::{ListenerRule, TargetGroup, WebStack};

use crate::examples::{api_for, load_manifests};
use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::repo_root;

async fn until<K, F>(api: &Api<K>, name: &str, op: &Operator, what: &str, done: F) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(&K) -> bool,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(obj) = api.get_opt(name).await.unwrap()
            && done(&obj)
        {
            return obj;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; operator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn condition<'a>(
    cs: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    t: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    cs.iter().find(|c| c.type_ == t && c.status == "True")
}

#[tokio::test]
async fn host_routing_priorities_drift_and_deletion() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-routing").await;
    let moto = Moto::start();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk_config().await);
    let op = Operator::start(&moto, &ns, "3s");
    let ssa = PatchParams::apply("e2e-user");

    // Reference architecture 1, as the example has it (its ContainerServices have no controller yet).
    for obj in load_manifests(&repo_root().join("examples/1-host-routing-two-services.yaml")) {
        if obj.types.as_ref().is_some_and(|t| t.kind != "ContainerService") {
            api_for(&client, &ns, &obj)
                .patch(&obj.name_any(), &ssa, &Patch::Apply(&obj))
                .await
                .unwrap();
        }
    }
    let rules: Api<ListenerRule> = Api::namespaced(client.clone(), &ns);
    let groups: Api<TargetGroup> = Api::namespaced(client.clone(), &ns);
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let ready = |r: &ListenerRule| {
        r.status
            .as_ref()
            .is_some_and(|s| condition(&s.conditions, "Ready").is_some())
    };
    let front = until(&rules, "frontend-host", &op, "frontend rule Ready", ready).await;
    until(&rules, "backend-host", &op, "backend rule Ready", ready).await;
    let ws = stacks.get("shop").await.unwrap();
    let listener = ws.status.as_ref().unwrap().load_balancer.as_ref().unwrap().listeners["http"].clone();
    let tg_arn = |name: &'static str| {
        let groups = groups.clone();
        async move { groups.get(name).await.unwrap().status.unwrap().arn.unwrap() }
    };
    let (frontend_tg, backend_tg) = (tg_arn("frontend").await, tg_arn("backend").await);

    // Read back: two host-header rules at 10 and 20 forwarding to their groups, default 404.
    let described = elb.describe_rules().listener_arn(&listener).send().await.unwrap();
    let mut seen: Vec<(String, String, String)> = described
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .map(|r| {
            let host = r.conditions()[0].host_header_config().unwrap().values()[0].clone();
            let target = r.actions()[0].forward_config().unwrap().target_groups()[0]
                .target_group_arn()
                .unwrap()
                .to_string();
            (r.priority().unwrap().to_string(), host, target)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("10".to_string(), "app.example.com".to_string(), frontend_tg.clone()),
            ("20".to_string(), "api.example.com".to_string(), backend_tg.clone()),
        ]
    );
    let default = described.rules().iter().find(|r| r.is_default() == Some(true)).unwrap();
    assert_eq!(
        default.actions()[0].fixed_response_config().unwrap().status_code(),
        Some("404")
    );
    assert_eq!(front.status.as_ref().unwrap().priority, Some(10));

    // No priority: a free one is allocated, recorded and kept.
    let auto = serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "ListenerRule", "metadata": {"name": "docs"},
        "spec": {"stackRef": {"name": "shop"}, "listener": "http", "conditions": {"pathPatterns": ["/docs/*"]},
                 "action": {"fixedResponse": {"statusCode": 200, "messageBody": "docs"}}}});
    rules.patch("docs", &ssa, &Patch::Apply(&auto)).await.unwrap();
    let docs = until(&rules, "docs", &op, "docs Ready", ready).await;
    let allocated = docs.status.as_ref().unwrap().priority.unwrap();
    assert!((10_000..=50_000).contains(&allocated), "{allocated}");

    // An explicit priority another rule holds: Stalled naming the holder; nothing stolen.
    let thief = serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "ListenerRule", "metadata": {"name": "thief"},
        "spec": {"stackRef": {"name": "shop"}, "listener": "http", "priority": 10, "conditions": {"pathPatterns": ["/steal"]},
                 "action": {"fixedResponse": {"statusCode": 200}}}});
    rules.patch("thief", &ssa, &Patch::Apply(&thief)).await.unwrap();
    let stalled = until(&rules, "thief", &op, "thief Stalled", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| condition(&s.conditions, "Stalled").is_some())
    })
    .await;
    let c = condition(&stalled.status.as_ref().unwrap().conditions, "Stalled").unwrap();
    assert_eq!(c.reason, "PriorityConflict");
    assert!(c.message.contains("ListenerRule/frontend-host"), "{}", c.message);
    let count = |d: aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput| d.rules().len();
    assert_eq!(
        count(elb.describe_rules().listener_arn(&listener).send().await.unwrap()),
        4,
        "3 rules + default"
    );
    rules.delete("thief", &DeleteParams::default()).await.unwrap();

    // A rule deleted by hand is restored by the next re-check.
    let front_arn = front.status.as_ref().unwrap().arn.clone().unwrap();
    elb.delete_rule().rule_arn(&front_arn).send().await.unwrap();
    let restored = until(&rules, "frontend-host", &op, "the rule restored", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.arn.as_deref().is_some_and(|a| a != front_arn))
    })
    .await;
    assert_eq!(restored.status.as_ref().unwrap().priority, Some(10));

    // Deleting a TargetGroup a rule forwards to waits, naming the rule; deleting the rule frees it.
    groups.delete("backend", &DeleteParams::default()).await.unwrap();
    until(&groups, "backend", &op, "the group to wait", |t| {
        t.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason == "Deleting" && c.message.contains("ListenerRule/backend-host"))
        })
    })
    .await;
    rules.delete("backend-host", &DeleteParams::default()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while groups.get_opt("backend").await.unwrap().is_some() || rules.get_opt("backend-host").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not deleted; operator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let gone = elb.describe_target_groups().target_group_arns(&backend_tg).send().await;
    assert!(
        gone.is_err() || gone.unwrap().target_groups().is_empty(),
        "backend group deleted in AWS"
    );
    assert_eq!(
        count(elb.describe_rules().listener_arn(&listener).send().await.unwrap()),
        3,
        "2 rules + default"
    );
}
