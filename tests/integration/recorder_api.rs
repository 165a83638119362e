//! The operator's Event recorder against the real API server: equal Events are one Event whose
//! series counts them (the fold is a merge patch of `series` alone, which the API server's
//! validation of `events.k8s.io/v1` accepts), and a different action is an Event of its own.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::events::{Event, EventType, Reporter};
use webstack_operator::reconcile::recorder::Recorder;

use crate::harness::kube::{client, namespace};

#[tokio::test]
async fn equal_events_become_one_counted_series_in_the_api_server() {
    let client = client().await;
    let ns = namespace(&client, "recorder").await;
    let reporter = Reporter {
        controller: "webstack-operator".into(),
        instance: Some("test".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let regarding = ObjectReference {
        api_version: Some("webstack.io/v1alpha1".into()),
        kind: Some("TargetGroup".into()),
        namespace: Some(ns.clone()),
        name: Some("web".into()),
        uid: Some("7d0c8a52-5a8e-4c1e-9d53-2f0a2b7f0c11".into()),
        ..ObjectReference::default()
    };
    let event = |action: &str| Event {
        type_: EventType::Warning,
        reason: "ReconcileFailed".into(),
        note: Some("the stack has no VPC yet".into()),
        action: action.into(),
        secondary: None,
    };
    for _ in 0..3 {
        recorder.publish(&event("Reconcile"), &regarding).await.unwrap();
    }
    recorder.publish(&event("CreateTargetGroup"), &regarding).await.unwrap();

    let events: Vec<K8sEvent> = Api::<K8sEvent>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let by_action =
        |action: &str| -> Vec<&K8sEvent> { events.iter().filter(|e| e.action.as_deref() == Some(action)).collect() };
    let folded = by_action("Reconcile");
    assert_eq!(folded.len(), 1, "one Event for three equal ones: {events:?}");
    assert_eq!(folded[0].series.as_ref().map(|s| s.count), Some(3), "{:?}", folded[0]);
    assert_eq!(
        folded[0].regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("web")
    );
    let other = by_action("CreateTargetGroup");
    assert_eq!(other.len(), 1);
    assert!(other[0].series.is_none(), "{:?}", other[0]);
}
