//! TargetGroup end to end, with the WebStack that uses it (reference architecture 4's group):
//! created in the stack's VPC with every setting; a health-check change is made in place; a port
//! change creates a new group, the stack's listener is repointed, and only then is the old group
//! deleted; deleting the group while the listener still forwards to it waits, naming the user.

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::{TargetGroup, WebStack};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::wait::{gone, until};

fn stack(forward: bool) -> serde_json::Value {
    let action = if forward {
        serde_json::json!({"forward": {"targetGroups": [{"name": "movies"}]}})
    } else {
        serde_json::json!({"fixedResponse": {"statusCode": 404}})
    };
    serde_json::json!({
        "apiVersion": "webstack.io/v1alpha1", "kind": "WebStack", "metadata": {"name": "netflux"},
        "spec": {"network": {"cidr": "10.0.0.0/16"},
                 "loadBalancer": {"listeners": [{"name": "http", "port": 80, "defaultAction": action}]}}
    })
}

fn group(port: i32, interval: i32) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "webstack.io/v1alpha1", "kind": "TargetGroup", "metadata": {"name": "movies"},
        "spec": {"stackRef": {"name": "netflux"}, "port": port, "deregistrationDelaySeconds": 30,
                 "healthCheck": {"path": "/actuator/health", "healthyThreshold": 3, "unhealthyThreshold": 3,
                                 "timeoutSeconds": 5, "intervalSeconds": interval, "matcher": "200"}}
    })
}

fn ready(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> bool {
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

#[tokio::test]
async fn target_group_lifecycle_with_its_stack() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-tg").await;
    let moto = Moto::start();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk_config().await);
    let op = Operator::start(&moto, &ns, "3s");
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let groups: Api<TargetGroup> = Api::namespaced(client.clone(), &ns);
    let ssa = PatchParams::apply("e2e-user");

    // The stack forwards to a group that needs the stack's VPC: both must converge.
    stacks.patch("netflux", &ssa, &Patch::Apply(stack(true))).await.unwrap();
    groups
        .patch("movies", &ssa, &Patch::Apply(group(8080, 30)))
        .await
        .unwrap();
    let tg = until(&groups, "movies", &op, "TargetGroup Ready", 90, |t| {
        t.status.as_ref().is_some_and(|s| ready(&s.conditions))
    })
    .await;
    let ws = until(&stacks, "netflux", &op, "WebStack Ready", 90, |w| {
        w.status.as_ref().is_some_and(|s| ready(&s.conditions))
    })
    .await;
    let arn = tg.status.as_ref().unwrap().arn.clone().unwrap();
    let vpc = ws.status.as_ref().unwrap().vpc_id.clone().unwrap();

    // Every setting, read back through the SDK.
    let described = elb
        .describe_target_groups()
        .target_group_arns(&arn)
        .send()
        .await
        .unwrap();
    let t = &described.target_groups()[0];
    assert_eq!((t.port(), t.vpc_id()), (Some(8080), Some(vpc.as_str())));
    assert_eq!(t.health_check_path(), Some("/actuator/health"));
    assert_eq!(
        (t.healthy_threshold_count(), t.unhealthy_threshold_count()),
        (Some(3), Some(3))
    );
    assert_eq!(
        (t.health_check_timeout_seconds(), t.health_check_interval_seconds()),
        (Some(5), Some(30))
    );
    assert_eq!(t.matcher().and_then(|m| m.http_code()), Some("200"));
    let attrs = elb
        .describe_target_group_attributes()
        .target_group_arn(&arn)
        .send()
        .await
        .unwrap();
    let delay = attrs
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .unwrap();
    assert_eq!(delay.value(), Some("30"));
    let lb_arn = ws
        .status
        .as_ref()
        .unwrap()
        .load_balancer
        .as_ref()
        .unwrap()
        .arn
        .clone()
        .unwrap();
    let forwards_to =
        |listeners: aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput| {
            listeners.listeners()[0].default_actions()[0].forward_config().map(|f| {
                f.target_groups()
                    .iter()
                    .filter_map(|t| t.target_group_arn().map(String::from))
                    .collect::<Vec<_>>()
            })
        };
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(forwards_to(listeners), Some(vec![arn.clone()]));

    // A health-check change is made in place: same ARN.
    groups
        .patch("movies", &ssa, &Patch::Apply(group(8080, 10)))
        .await
        .unwrap();
    until(&groups, "movies", &op, "interval 10", 90, |t| {
        t.status
            .as_ref()
            .is_some_and(|s| s.observed_generation == Some(2) && ready(&s.conditions))
    })
    .await;
    let described = elb
        .describe_target_groups()
        .target_group_arns(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.target_groups()[0].health_check_interval_seconds(), Some(10));

    // A port change replaces the group without dropping traffic: new group, listener repointed,
    // then the old group deleted.
    groups
        .patch("movies", &ssa, &Patch::Apply(group(8081, 10)))
        .await
        .unwrap();
    let tg = until(&groups, "movies", &op, "the replacement", 90, |t| {
        t.status
            .as_ref()
            .is_some_and(|s| s.arn.as_deref() != Some(arn.as_str()) && s.replaced_arns.is_empty())
    })
    .await;
    let new_arn = tg.status.as_ref().unwrap().arn.clone().unwrap();
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        forwards_to(listeners),
        Some(vec![new_arn.clone()]),
        "the listener follows the new group"
    );
    let old = elb.describe_target_groups().target_group_arns(&arn).send().await;
    assert!(
        old.is_err() || old.unwrap().target_groups().is_empty(),
        "the old group is gone"
    );

    // Deleting the group while the stack's listener forwards to it waits, naming the user.
    groups.delete("movies", &DeleteParams::default()).await.unwrap();
    let waiting = until(&groups, "movies", &op, "the deletion to wait", 90, |t| {
        t.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Reconciling" && c.reason == "Deleting" && c.message.contains("WebStack/netflux"))
        })
    })
    .await;
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        elb.describe_target_groups()
            .target_group_arns(&new_arn)
            .send()
            .await
            .unwrap()
            .target_groups()
            .len(),
        1
    );
    stacks
        .patch("netflux", &ssa, &Patch::Apply(stack(false)))
        .await
        .unwrap();
    gone(&groups, "movies", &op, 90).await;
    let deleted = elb.describe_target_groups().target_group_arns(&new_arn).send().await;
    assert!(
        deleted.is_err() || deleted.unwrap().target_groups().is_empty(),
        "the group is deleted in AWS"
    );

    stacks.delete("netflux", &DeleteParams::default()).await.unwrap();
    gone(&stacks, "netflux", &op, 90).await;
    let _ = ws.uid();
}
