//! Routing end to end: reference architecture 1 applied from `examples/` (host-header rules to two
//! target groups, a catch-all 404), read back through the SDK; a rule without a priority gets a
//! free one and keeps it; an explicit priority held by another rule is Stalled naming the holder,
//! never stolen; a rule deleted by hand comes back; deleting a TargetGroup a rule still forwards
//! to waits, naming the rule.

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::{ListenerRule, TargetGroup, WebStack};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::manifest::{api_for, load_manifests};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::repo_root;
use crate::harness::wait::{gone, until};

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
    let front = until(&rules, "frontend-host", &op, "frontend rule Ready", 90, ready).await;
    until(&rules, "backend-host", &op, "backend rule Ready", 90, ready).await;
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
    let docs = until(&rules, "docs", &op, "docs Ready", 90, ready).await;
    let allocated = docs.status.as_ref().unwrap().priority.unwrap();
    assert!((10_000..=50_000).contains(&allocated), "{allocated}");

    // An explicit priority another rule holds: Stalled naming the holder; nothing stolen.
    let thief = serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "ListenerRule", "metadata": {"name": "thief"},
        "spec": {"stackRef": {"name": "shop"}, "listener": "http", "priority": 10, "conditions": {"pathPatterns": ["/steal"]},
                 "action": {"fixedResponse": {"statusCode": 200}}}});
    rules.patch("thief", &ssa, &Patch::Apply(&thief)).await.unwrap();
    let stalled = until(&rules, "thief", &op, "thief Stalled", 90, |r| {
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
    let restored = until(&rules, "frontend-host", &op, "the rule restored", 90, |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.arn.as_deref().is_some_and(|a| a != front_arn))
    })
    .await;
    assert_eq!(restored.status.as_ref().unwrap().priority, Some(10));

    // Deleting a TargetGroup a rule forwards to waits, naming the rule; deleting the rule frees it.
    groups.delete("backend", &DeleteParams::default()).await.unwrap();
    until(&groups, "backend", &op, "the group to wait", 90, |t| {
        t.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason == "Deleting" && c.message.contains("ListenerRule/backend-host"))
        })
    })
    .await;
    rules.delete("backend-host", &DeleteParams::default()).await.unwrap();
    gone(&rules, "backend-host", &op, 90).await;
    gone(&groups, "backend", &op, 90).await;
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

/// Reference architecture 4 ("Netflux") as separate resources: default fixed 404 with a custom
/// body, two groups with health checks 3/3/5 s/30 s/200 and a 30 s deregistration delay, path rules
/// at 500 and an allocated priority. Bad input: an unknown listener is Stalled naming the listener;
/// a forward to a TargetGroup that does not exist waits and converges once it is created (through
/// the TargetGroup watch). Moving a rule to another priority keeps it (same ARN).
#[tokio::test]
async fn netflux_path_routing_bad_input_and_reordering() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-netflux").await;
    let moto = Moto::start();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk_config().await);
    let op = Operator::start(&moto, &ns, "3s");
    let ssa = PatchParams::apply("e2e-user");
    let rules: Api<ListenerRule> = Api::namespaced(client.clone(), &ns);
    let groups: Api<TargetGroup> = Api::namespaced(client.clone(), &ns);
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);

    let stack = serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "WebStack", "metadata": {"name": "netflux"},
        "spec": {"network": {"cidr": "10.0.0.0/16"}, "loadBalancer": {"listeners": [{"name": "http", "port": 80,
            "defaultAction": {"fixedResponse": {"statusCode": 404, "contentType": "text/plain", "messageBody": "Netflux: nothing here :("}}}]}}});
    stacks.patch("netflux", &ssa, &Patch::Apply(&stack)).await.unwrap();
    let group = |name: &str| {
        serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "TargetGroup", "metadata": {"name": name},
            "spec": {"stackRef": {"name": "netflux"}, "port": 8080, "deregistrationDelaySeconds": 30,
                     "healthCheck": {"path": "/actuator/health", "healthyThreshold": 3, "unhealthyThreshold": 3,
                                     "timeoutSeconds": 5, "intervalSeconds": 30, "matcher": "200"}}})
    };
    let rule = |name: &str, priority: Option<i32>, path: &str, tg: &str, listener: &str| {
        let mut spec = serde_json::json!({"stackRef": {"name": "netflux"}, "listener": listener,
            "conditions": {"pathPatterns": [path]}, "action": {"forward": {"targetGroups": [{"name": tg}]}}});
        if let Some(p) = priority {
            spec["priority"] = serde_json::json!(p);
        }
        serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "ListenerRule", "metadata": {"name": name}, "spec": spec})
    };
    groups
        .patch("movies", &ssa, &Patch::Apply(group("movies")))
        .await
        .unwrap();
    rules
        .patch(
            "movies",
            &ssa,
            &Patch::Apply(rule("movies", Some(500), "/api/movies*", "movies", "http")),
        )
        .await
        .unwrap();
    // customers: the rule first, its group later.
    rules
        .patch(
            "customers",
            &ssa,
            &Patch::Apply(rule("customers", None, "/api/customers/*", "customers", "http")),
        )
        .await
        .unwrap();
    // A listener the stack does not have.
    rules
        .patch(
            "typo",
            &ssa,
            &Patch::Apply(rule("typo", Some(600), "/x", "movies", "htp")),
        )
        .await
        .unwrap();

    let cond = |r: &ListenerRule, t: &str| r.status.as_ref().and_then(|s| condition(&s.conditions, t).cloned());
    let typo = until(&rules, "typo", &op, "typo Stalled", 90, |r| {
        cond(r, "Stalled").is_some()
    })
    .await;
    let c = cond(&typo, "Stalled").unwrap();
    assert_eq!(c.reason, "InvalidSpec");
    assert!(
        c.message.contains("spec.listener") && c.message.contains("it has: http"),
        "{}",
        c.message
    );
    // First it waits for the stack's listener, then for the missing group.
    let waiting = until(&rules, "customers", &op, "customers waiting for its group", 90, |r| {
        cond(r, "Reconciling").is_some_and(|c| c.message.contains("does not exist"))
    })
    .await;
    let c = cond(&waiting, "Reconciling").unwrap();
    assert_eq!(c.reason, "DependencyNotReady");
    assert!(
        c.message
            .contains("spec.action.forward.targetGroups[0]: TargetGroup customers does not exist"),
        "{}",
        c.message
    );

    groups
        .patch("customers", &ssa, &Patch::Apply(group("customers")))
        .await
        .unwrap();
    let customers = until(&rules, "customers", &op, "customers Ready", 90, |r| {
        cond(r, "Ready").is_some()
    })
    .await;
    let movies = until(&rules, "movies", &op, "movies Ready", 90, |r| {
        cond(r, "Ready").is_some()
    })
    .await;
    assert_eq!(movies.status.as_ref().unwrap().priority, Some(500));

    // Read back through the SDK.
    let ws = stacks.get("netflux").await.unwrap();
    let listener = ws.status.as_ref().unwrap().load_balancer.as_ref().unwrap().listeners["http"].clone();
    let described = elb.describe_rules().listener_arn(&listener).send().await.unwrap();
    let default = described.rules().iter().find(|r| r.is_default() == Some(true)).unwrap();
    assert_eq!(
        default.actions()[0].fixed_response_config().unwrap().message_body(),
        Some("Netflux: nothing here :(")
    );
    let paths: Vec<(String, String)> = described
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .map(|r| {
            (
                r.priority().unwrap().to_string(),
                r.conditions()[0].path_pattern_config().unwrap().values()[0].clone(),
            )
        })
        .collect();
    let customers_priority = customers.status.as_ref().unwrap().priority.unwrap().to_string();
    assert!(paths.contains(&("500".into(), "/api/movies*".into())), "{paths:?}");
    assert!(
        paths.contains(&(customers_priority, "/api/customers/*".into())),
        "{paths:?}"
    );
    for name in ["movies", "customers"] {
        let arn = groups.get(name).await.unwrap().status.unwrap().arn.unwrap();
        let t = elb
            .describe_target_groups()
            .target_group_arns(&arn)
            .send()
            .await
            .unwrap();
        let t = &t.target_groups()[0];
        let got = (
            t.healthy_threshold_count(),
            t.unhealthy_threshold_count(),
            t.health_check_timeout_seconds(),
            t.health_check_interval_seconds(),
        );
        assert_eq!(got, (Some(3), Some(3), Some(5), Some(30)), "{name}");
        assert_eq!(t.matcher().and_then(|m| m.http_code()), Some("200"));
    }

    // Replacing a group (new port) repoints the rule that forwards to it, then the old group goes.
    let old_movies = groups.get("movies").await.unwrap().status.unwrap().arn.unwrap();
    let mut moved_group = group("movies");
    moved_group["spec"]["port"] = serde_json::json!(8081);
    groups.patch("movies", &ssa, &Patch::Apply(&moved_group)).await.unwrap();
    let replaced = until(&groups, "movies", &op, "movies replaced", 90, |t| {
        t.status
            .as_ref()
            .is_some_and(|s| s.arn.as_deref() != Some(old_movies.as_str()) && s.replaced_arns.is_empty())
    })
    .await;
    let new_movies = replaced.status.unwrap().arn.unwrap();
    let described = elb.describe_rules().listener_arn(&listener).send().await.unwrap();
    let movies_rule = described
        .rules()
        .iter()
        .find(|r| r.rule_arn() == movies.status.as_ref().unwrap().arn.as_deref())
        .unwrap();
    let target = movies_rule.actions()[0].forward_config().unwrap().target_groups()[0].target_group_arn();
    assert_eq!(target, Some(new_movies.as_str()), "the rule follows the new group");
    let old = elb.describe_target_groups().target_group_arns(&old_movies).send().await;
    assert!(
        old.is_err() || old.unwrap().target_groups().is_empty(),
        "the old group is deleted"
    );
    let movies = until(&rules, "movies", &op, "movies Ready again", 90, |r| {
        cond(r, "Ready").is_some()
    })
    .await;

    // Reordering moves the rule in place: same ARN, new priority.
    let before = movies.status.as_ref().unwrap().arn.clone();
    rules
        .patch(
            "movies",
            &ssa,
            &Patch::Apply(rule("movies", Some(450), "/api/movies*", "movies", "http")),
        )
        .await
        .unwrap();
    let moved = until(&rules, "movies", &op, "priority 450", 90, |r| {
        r.status.as_ref().is_some_and(|s| s.priority == Some(450))
    })
    .await;
    assert_eq!(
        moved.status.as_ref().unwrap().arn,
        before,
        "the rule was moved, not replaced"
    );
    let described = elb.describe_rules().listener_arn(&listener).send().await.unwrap();
    let moved_rule = described
        .rules()
        .iter()
        .find(|r| r.rule_arn() == before.as_deref())
        .unwrap();
    assert_eq!(moved_rule.priority(), Some("450"));
}
