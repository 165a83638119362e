//! The test API server runs kube-controller-manager's garbage-collector and namespace controllers
//! (tests/apiserver/controllers.go): ownerReferences are honoured with Background and Foreground
//! propagation, and a deleted namespace is emptied and goes away.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::harness::kube::{client, namespace};

/// How long any controller may take to act.
const TIMEOUT: Duration = Duration::from_secs(60);
/// A finalizer of the test's own, to hold a dependent in place while it is being deleted.
const HOLD: &str = "webstack.io/test-hold";

/// Creates a ConfigMap named `name`; with `owner`, it has an ownerReference to that ConfigMap.
async fn config_map(api: &Api<ConfigMap>, name: &str, owner: Option<(&ConfigMap, bool)>, finalizer: bool) -> ConfigMap {
    let owner_references: Vec<serde_json::Value> = owner
        .into_iter()
        .map(|(o, block)| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap", "name": o.name_any(),
                "uid": o.uid().expect("owner uid"), "blockOwnerDeletion": block,
            })
        })
        .collect();
    let finalizers: Vec<&str> = if finalizer { vec![HOLD] } else { vec![] };
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": owner_references, "finalizers": finalizers},
        "data": {"k": "v"},
    }))
    .expect("ConfigMap object");
    api.create(&PostParams::default(), &cm)
        .await
        .unwrap_or_else(|e| panic!("create ConfigMap {name}: {e}"))
}

/// Polls until `done` holds for the (possibly absent) object `name`; returns what it saw last.
async fn poll<K, F>(api: &Api<K>, name: &str, what: &str, done: F) -> Option<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(Option<&K>) -> bool,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let seen = api.get_opt(name).await.unwrap_or_else(|e| panic!("get {name}: {e}"));
        if done(seen.as_ref()) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting for {what}; last seen: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn gone<K>(api: &Api<K>, name: &str, what: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    poll(api, name, what, |o| o.is_none()).await;
}

/// Deletes a test's namespace without waiting (the namespace controller empties it).
async fn drop_namespace(client: &Client, ns: &str) {
    Api::<Namespace>::all(client.clone())
        .delete(ns, &DeleteParams::default())
        .await
        .expect("delete the test namespace");
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let client = client().await;
    let ns = namespace(&client, "gc-background").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let owner = config_map(&api, "owner", None, false).await;
    config_map(&api, "dependent", Some((&owner, false)), false).await;

    api.delete("owner", &DeleteParams::background())
        .await
        .expect("delete the owner");
    gone(&api, "owner", "the owner to be deleted").await;
    gone(&api, "dependent", "the garbage collector to delete the dependent").await;
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let client = client().await;
    let ns = namespace(&client, "gc-foreground").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let owner = config_map(&api, "owner", None, false).await;
    // The dependent carries a finalizer of ours, so it stays (being deleted) until the test lets go.
    config_map(&api, "dependent", Some((&owner, true)), true).await;

    let deleted = api
        .delete("owner", &DeleteParams::foreground())
        .await
        .expect("delete the owner")
        .left()
        .expect("a foreground deletion keeps the owner until its dependents are gone");
    assert!(deleted.metadata.deletion_timestamp.is_some());
    assert!(deleted.finalizers().iter().any(|f| f == "foregroundDeletion"));

    // The garbage collector deletes the dependent...
    let dependent = poll(
        &api,
        "dependent",
        "the garbage collector to delete the dependent",
        |d| d.is_some_and(|d| d.metadata.deletion_timestamp.is_some()),
    )
    .await
    .expect("the dependent is held by its finalizer");
    // ...and while the dependent exists, the owner stays, still with foregroundDeletion.
    let owner = api.get_opt("owner").await.expect("get the owner");
    assert!(
        owner
            .as_ref()
            .is_some_and(|o| o.finalizers().iter().any(|f| f == "foregroundDeletion")),
        "the owner must wait for its blocking dependent; owner: {owner:#?}\ndependent: {dependent:#?}"
    );

    // Let the dependent go: then both are gone.
    release(&api, "dependent").await;
    gone(&api, "dependent", "the dependent to be deleted once released").await;
    gone(
        &api,
        "owner",
        "the garbage collector to finish the owner's foreground deletion",
    )
    .await;
    drop_namespace(&client, &ns).await;
}

/// Removes the test's finalizer from `name`, leaving any others (the garbage collector's).
async fn release(api: &Api<ConfigMap>, name: &str) {
    loop {
        let cm = api.get(name).await.expect("get the held object");
        let rest: Vec<&String> = cm.finalizers().iter().filter(|f| *f != HOLD).collect();
        let patch = serde_json::json!({
            "metadata": {"finalizers": rest, "resourceVersion": cm.resource_version()}
        });
        match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => return,
            // The garbage collector updated it meanwhile (its own finalizer): read it again.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => panic!("remove finalizer {HOLD} from {name}: {e}"),
        }
    }
}

#[tokio::test]
async fn namespace_deletion_finishes() {
    let client = client().await;
    let ns = namespace(&client, "gc-namespace").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    config_map(&api, "content", None, false).await;

    drop_namespace(&client, &ns).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    gone(
        &namespaces,
        &ns,
        "the namespace controller to empty and remove the namespace",
    )
    .await;
    assert!(
        api.get_opt("content").await.expect("get the ConfigMap").is_none(),
        "the namespace's ConfigMap outlived it"
    );
}
