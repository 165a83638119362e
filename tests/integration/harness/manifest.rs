//! Manifests driven the way users drive them: `kubectl apply -f` (server-side apply of every
//! document), waiting for every object to be Ready, and `kubectl delete -f` (every object deleted
//! at once, then waiting until all are gone).

use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use super::operator::Operator;

/// Parses a multi-document YAML file into objects.
pub fn load_manifests(path: &Path) -> Vec<DynamicObject> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse(&text)
}

/// Parses multi-document YAML into objects.
pub fn parse(text: &str) -> Vec<DynamicObject> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("YAML document");
            serde_json::from_value(value).expect("a Kubernetes object")
        })
        .collect()
}

/// The API of an object's kind in a namespace.
pub fn api_for(client: &Client, ns: &str, obj: &DynamicObject) -> Api<DynamicObject> {
    let types = obj.types.as_ref().expect("apiVersion and kind");
    let (group, version) = types.api_version.split_once('/').expect("group/version");
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let plural = format!("{}s", types.kind.to_lowercase());
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, &plural))
}

/// `Kind/name` of an object.
pub fn id(obj: &DynamicObject) -> String {
    format!(
        "{}/{}",
        obj.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("?"),
        obj.name_any()
    )
}

/// Applies every object (server-side apply, as `kubectl apply --server-side`).
pub async fn apply_all(client: &Client, ns: &str, objects: &[DynamicObject]) {
    let ssa = PatchParams::apply("e2e-user");
    for obj in objects {
        api_for(client, ns, obj)
            .patch(&obj.name_any(), &ssa, &Patch::Apply(obj))
            .await
            .unwrap_or_else(|e| panic!("apply {}: {e}", id(obj)));
    }
}

/// Whether an object's `Ready` condition is `True`.
pub fn is_ready(obj: &DynamicObject) -> bool {
    condition(obj, "Ready").is_some_and(|(status, _, _)| status == "True")
}

/// A condition's status, reason and message.
pub fn condition(obj: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    let c = condition_json(obj, type_)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// A condition of the object's status as the API server holds it (every field).
pub fn condition_json<'a>(obj: &'a DynamicObject, type_: &str) -> Option<&'a serde_json::Value> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until every object satisfies `done`, for at most `secs` seconds; returns how long it took.
pub async fn wait_all(
    client: &Client,
    ns: &str,
    objects: &[DynamicObject],
    op: &Operator,
    what: &str,
    secs: u64,
    done: impl Fn(Option<&DynamicObject>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let mut pending = Vec::new();
        for obj in objects {
            let now = api_for(client, ns, obj).get_opt(&obj.name_any()).await.unwrap();
            if !done(now.as_ref()) {
                let detail = now
                    .as_ref()
                    .and_then(|o| condition(o, "Ready"))
                    .map(|(s, r, m)| format!("Ready={s} {r}: {m}"))
                    .unwrap_or_else(|| "absent or no status".into());
                pending.push(format!("{} ({detail})", id(obj)));
            }
        }
        if pending.is_empty() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "after {secs}s, not {what}: {}\noperator log:\n{}",
            pending.join("; "),
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until every object is Ready.
pub async fn wait_ready(client: &Client, ns: &str, objects: &[DynamicObject], op: &Operator, secs: u64) -> Duration {
    wait_all(client, ns, objects, op, "Ready", secs, |o| o.is_some_and(is_ready)).await
}

/// Deletes every object at once, in the order given (as `kubectl delete -f` does).
pub async fn delete_all(client: &Client, ns: &str, objects: &[DynamicObject]) {
    for obj in objects {
        api_for(client, ns, obj)
            .delete(&obj.name_any(), &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {}: {e}", id(obj)));
    }
}

/// Waits until every object is gone; returns how long it took.
pub async fn wait_gone(client: &Client, ns: &str, objects: &[DynamicObject], op: &Operator, secs: u64) -> Duration {
    wait_all(client, ns, objects, op, "deleted", secs, |o| o.is_none()).await
}
