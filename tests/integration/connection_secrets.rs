//! Connection Secrets are never someone else's. End to end (API server, emulator, the operator as
//! the chart's ServiceAccount): a Secret that is not the stack's, named by
//! `spec.database.connectionSecretName`, stays byte-identical, the stack is `Stalled` naming the
//! field and nothing of its data tier is made in AWS, and deleting the stack leaves that Secret;
//! a stack's own Secret is written, kept equal to AWS (an edit reverted in place, what else it
//! carries kept) and deleted. Then the writes themselves, against the API server: a Secret that
//! changed, appeared or was swapped between observe and apply is never touched.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use webstack_operator::api::WebStack;
use webstack_operator::model::Owner;
use webstack_operator::model::data::{Holder, Sensitive};
use webstack_operator::reconcile::Blocked;
use webstack_operator::webstack::parts::data::io::{delete_connection, observe_connection, write_connection};

use crate::harness::kube::{chart_identity_kubeconfig_path, client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::manifest::{apply_all, delete_all, parse, wait_gone, wait_ready};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::wait::{gone, until};

const STACK_LABEL: &str = "webstack.io/stack";

/// A Secret the user made: labels, an ownerReference to their own ConfigMap, data.
fn users_secret(name: &str, config_map: &ConfigMap) -> Secret {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": name,
            "labels": {"team": "payments"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": config_map.name_any(),
                                 "uid": config_map.uid().unwrap()}],
        },
        "type": "Opaque",
        "stringData": {"password": "the payments team's"},
    }))
    .unwrap()
}

async fn config_map(client: &Client, ns: &str, name: &str) -> ConfigMap {
    let cm: ConfigMap = serde_json::from_value(
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
    )
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
}

/// The whole object as the API server returns it: equal JSON is the same bytes, version and all.
async fn snapshot(secrets: &Api<Secret>, name: &str) -> serde_json::Value {
    serde_json::to_value(secrets.get(name).await.unwrap()).unwrap()
}

#[tokio::test]
async fn someone_elses_connection_secret_is_never_touched() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "conn-secret").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let cm = config_map(&client, &ns, "payments").await;
    secrets
        .create(&PostParams::default(), &users_secret("payments-db", &cm))
        .await
        .unwrap();
    let before = snapshot(&secrets, "payments-db").await;

    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let op = Operator::start(&moto, &ns, "3s");
    // `thief` names the payments team's Secret; `own` has a cache and its own Secret. No NAT
    // gateways: nothing to wait for in AWS but what the test is about.
    let thief = parse(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: thief}
spec:
  network: {cidr: 10.66.0.0/16, natGateways: none}
  database: {engine: postgres, connectionSecretName: payments-db, deletionPolicy: Delete}
"#,
    );
    let own = parse(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: own}
spec:
  network: {cidr: 10.67.0.0/16, natGateways: none}
  cache: {}
"#,
    );
    apply_all(&client, &ns, &thief).await;
    apply_all(&client, &ns, &own).await;
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);

    let stalled = until(&stacks, "thief", &op, "thief Stalled on the Secret", 90, |s| {
        s.status.as_ref().is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == "OwnershipConflict")
        })
    })
    .await;
    let message = stalled
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap()
        .message;
    assert!(
        message.contains("spec.database.connectionSecretName")
            && message.contains(&format!("Secret {ns}/payments-db"))
            && message.contains("no ownerReference to WebStack thief"),
        "{message}"
    );
    wait_ready(&client, &ns, &own, &op, 90).await;
    // Meanwhile the stalled stack was retried: nothing of its data tier was made in AWS (the
    // database would be the only RDS call; the cache's are `own`'s).
    let data_calls: Vec<String> = moto
        .calls()
        .into_iter()
        .filter(|c| c.mutates() && (c.service == "rds" || (c.service == "secretsmanager" && c.body.contains("thief"))))
        .map(|c| c.action)
        .collect();
    assert!(data_calls.is_empty(), "thief's data tier in AWS: {data_calls:?}");
    assert_eq!(
        snapshot(&secrets, "payments-db").await,
        before,
        "the payments team's Secret untouched"
    );

    // `own`'s Secret: the stack's ownerReference and label, kept equal to AWS. An edit is reverted
    // in place (same object), and what else a user put on it stays.
    let own_uid = stacks.get("own").await.unwrap().uid().unwrap();
    let written = secrets.get("own-cache").await.unwrap();
    assert_eq!(written.labels().get(STACK_LABEL).map(String::as_str), Some("own"));
    let refs: Vec<(&str, &str)> = written
        .owner_references()
        .iter()
        .map(|r| (r.kind.as_str(), r.uid.as_str()))
        .collect();
    assert_eq!(refs, [("WebStack", own_uid.as_str())]);
    let token = written.data.as_ref().unwrap()["password"].0.clone();
    let edit = serde_json::json!({"metadata": {"annotations": {"example.com/note": "kept"}},
                                  "stringData": {"password": "edited-by-hand"}});
    secrets
        .patch("own-cache", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let reverted = until(&secrets, "own-cache", &op, "the edit reverted", 30, |s| {
        s.data.as_ref().and_then(|d| d.get("password")).map(|p| &p.0) == Some(&token)
    })
    .await;
    assert_eq!(reverted.uid(), written.uid(), "replaced in place, not re-created");
    assert_eq!(
        reverted.annotations().get("example.com/note").map(String::as_str),
        Some("kept")
    );

    // Deleting `thief` leaves the payments team's Secret as it was; deleting `own` deletes its own.
    delete_all(&client, &ns, &thief).await;
    delete_all(&client, &ns, &own).await;
    gone(&stacks, "thief", &op, 90).await;
    wait_gone(&client, &ns, &own, &op, 90).await;
    assert!(
        secrets.get_opt("own-cache").await.unwrap().is_none(),
        "own's Secret deleted"
    );
    assert_eq!(
        snapshot(&secrets, "payments-db").await,
        before,
        "still untouched after deletion"
    );
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
}

/// A client of an impersonating kubeconfig.
async fn client_of(kubeconfig: &Path) -> Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

fn data(password: &str) -> BTreeMap<String, Sensitive> {
    BTreeMap::from([("password".to_string(), Sensitive::new(password))])
}

fn password(s: &Secret) -> Vec<u8> {
    s.data.as_ref().unwrap()["password"].0.clone()
}

/// `Err(Waiting)`: nothing was written, the next pass reads the Secret again.
fn waits(result: Result<(), Blocked>, what: &str) {
    match result {
        Err(Blocked::Waiting { message }) => assert!(message.contains("since it was read"), "{what}: {message}"),
        other => panic!("{what}: {other:?}"),
    }
}

/// The operator's own writes, as the chart's ServiceAccount: each is made at the version observed,
/// so a Secret changed, re-created or made by someone else in between is never touched.
#[tokio::test]
async fn a_secret_changed_or_swapped_between_observe_and_apply_is_never_touched() {
    let admin = client().await;
    install_crds(&admin).await;
    let ns = namespace(&admin, "conn-swap").await;
    let operator = client_of(&chart_identity_kubeconfig_path()).await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    // A real stack to own the Secret (with no operator running: nothing else happens to it).
    let stack = parse("apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\nspec: {}\n");
    apply_all(&admin, &ns, &stack).await;
    let uid = Api::<WebStack>::namespaced(admin.clone(), &ns)
        .get("shop")
        .await
        .unwrap()
        .uid()
        .unwrap();
    let owner = Owner {
        cluster_id: "e2e".into(),
        namespace: ns.clone(),
        kind: "WebStack",
        name: "shop".into(),
        uid,
    };
    let name = "shop-db";

    // Absent, then created with the stack's ownerReference and label.
    let (digest, holder) = observe_connection(&operator, &owner, name, false).await.unwrap();
    assert_eq!((digest, &holder), (None, &Holder::Absent));
    write_connection(&operator, &owner, name, &holder, data("one"))
        .await
        .unwrap();
    let (digest, ours) = observe_connection(&operator, &owner, name, false).await.unwrap();
    assert!(digest.is_some() && matches!(ours, Holder::Ours(_)), "{ours:?}");

    // Changed after it was observed: neither replaced nor deleted at the old version.
    let edit = serde_json::json!({"metadata": {"annotations": {"example.com/note": "kept"}}});
    secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let edited = snapshot(&secrets, name).await;
    waits(
        write_connection(&operator, &owner, name, &ours, data("two")).await,
        "a replace at an old version",
    );
    waits(
        delete_connection(&operator, &owner, name, &ours).await,
        "a delete at an old version",
    );
    assert_eq!(snapshot(&secrets, name).await, edited);
    // Read again, it is written, keeping what else it carries.
    let (_, ours) = observe_connection(&operator, &owner, name, false).await.unwrap();
    write_connection(&operator, &owner, name, &ours, data("two"))
        .await
        .unwrap();
    let written = secrets.get(name).await.unwrap();
    assert_eq!(password(&written), b"two");
    assert_eq!(
        written.annotations().get("example.com/note").map(String::as_str),
        Some("kept")
    );

    // Swapped for someone else's Secret of the same name after it was observed: untouched.
    let (_, ours) = observe_connection(&operator, &owner, name, false).await.unwrap();
    secrets.delete(name, &DeleteParams::default()).await.unwrap();
    let cm = config_map(&admin, &ns, "payments").await;
    secrets
        .create(&PostParams::default(), &users_secret(name, &cm))
        .await
        .unwrap();
    let theirs = snapshot(&secrets, name).await;
    waits(
        write_connection(&operator, &owner, name, &ours, data("three")).await,
        "a replace of a swapped Secret",
    );
    waits(
        delete_connection(&operator, &owner, name, &ours).await,
        "a delete of a swapped Secret",
    );
    assert_eq!(snapshot(&secrets, name).await, theirs);
    // Observed now, it is someone else's: never written, never deleted.
    let (digest, foreign) = observe_connection(&operator, &owner, name, false).await.unwrap();
    assert_eq!(digest, None, "its data is not even compared");
    assert!(matches!(&foreign, Holder::Foreign(why) if why.contains("no ownerReference to WebStack shop")));
    match write_connection(&operator, &owner, name, &foreign, data("four")).await {
        Err(Blocked::Stalled { reason, .. }) => assert_eq!(reason, "OwnershipConflict"),
        other => panic!("a write of someone else's Secret: {other:?}"),
    }
    delete_connection(&operator, &owner, name, &foreign).await.unwrap();
    assert_eq!(snapshot(&secrets, name).await, theirs);

    // Absent when observed, someone else's when created: the create fails, theirs stays.
    let other = "shop-cache";
    let (_, absent) = observe_connection(&operator, &owner, other, false).await.unwrap();
    assert_eq!(absent, Holder::Absent);
    secrets
        .create(&PostParams::default(), &users_secret(other, &cm))
        .await
        .unwrap();
    let theirs = snapshot(&secrets, other).await;
    waits(
        write_connection(&operator, &owner, other, &absent, data("five")).await,
        "a create over a Secret that appeared",
    );
    assert_eq!(snapshot(&secrets, other).await, theirs);

    // The stack's own, at the version observed: deleted.
    secrets.delete(name, &DeleteParams::default()).await.unwrap();
    write_connection(&operator, &owner, name, &Holder::Absent, data("six"))
        .await
        .unwrap();
    let (_, ours) = observe_connection(&operator, &owner, name, false).await.unwrap();
    delete_connection(&operator, &owner, name, &ours).await.unwrap();
    assert!(secrets.get_opt(name).await.unwrap().is_none());
}
