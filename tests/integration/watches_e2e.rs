//! What requeues a stack: a change of a child that the stack reads (its spec, its Ready
//! condition, a target group's ARN) does; a status-only write of a child (a service's task counts
//! while it rolls, a message) does not, so a stack is not observed whole (some 27 AWS calls) for
//! every status write of each of its children. Counted by a call only the stack's observation
//! makes (DescribeSubnets), with a re-check period far longer than the test.

use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};
use webstack_operator::api::TargetGroup;

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::manifest::{apply_all, parse, wait_ready};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;

const FILE: &str = "\
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
spec: {network: {cidr: 10.0.0.0/16, natGateways: none}}
---
apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {name: api}
spec: {stackRef: {name: shop}, protocol: HTTP, port: 8080, targetType: ip, healthCheck: {path: /health}}
";

#[tokio::test]
async fn a_childs_status_write_does_not_requeue_its_stack() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "watches").await;
    let moto = Moto::start();
    let op = Operator::start(&moto, &ns, "600s");
    let objects = parse(FILE);
    apply_all(&client, &ns, &objects).await;
    wait_ready(&client, &ns, &objects, &op, 120).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stack_observed = |from: usize| {
        moto.calls()[from..]
            .iter()
            .filter(|c| c.action == "DescribeSubnets")
            .count()
    };
    let groups: Api<TargetGroup> = Api::namespaced(client.clone(), &ns);

    // A status-only write of the child (what the stack does not read): the stack stays put.
    let mark = moto.calls().len();
    let note = serde_json::json!({"status": {"name": "written-by-the-test"}});
    groups
        .patch_status("api", &PatchParams::default(), &Patch::Merge(&note))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        stack_observed(mark),
        0,
        "a status-only write of a child requeued the stack"
    );

    // A spec change of the child (a new generation): the stack is reconciled.
    let mark = moto.calls().len();
    let edit = serde_json::json!({"spec": {"healthCheck": {"path": "/ready"}}});
    groups
        .patch("api", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stack_observed(mark) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a child's new generation did not requeue the stack\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
