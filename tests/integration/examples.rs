//! Every manifest under `examples/` is accepted by the real API server (server-side apply, dry run),
//! which runs the CRDs' structural schema, defaulting and CEL validation on it.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, ResourceExt};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::repo_root;

/// Parses a multi-document YAML file into objects.
pub fn load_manifests(path: &std::path::Path) -> Vec<DynamicObject> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("YAML document");
            serde_json::from_value(value).expect("a Kubernetes object")
        })
        .collect()
}

/// The API of an object's kind in a namespace.
pub fn api_for(client: &kube::Client, ns: &str, obj: &DynamicObject) -> Api<DynamicObject> {
    let types = obj.types.as_ref().expect("apiVersion and kind");
    let (group, version) = types.api_version.split_once('/').expect("group/version");
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let plural = format!("{}s", types.kind.to_lowercase());
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, &plural))
}

#[tokio::test]
async fn every_example_is_accepted() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "examples").await;
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "one example per reference architecture");
    let params = PatchParams::apply("webstack-examples-test").dry_run();
    let mut applied = 0;
    for file in &files {
        for obj in load_manifests(file) {
            let api = api_for(&client, &ns, &obj);
            let name = obj.name_any();
            let accepted = api
                .patch(&name, &params, &Patch::Apply(&obj))
                .await
                .unwrap_or_else(|e| panic!("{}: {name} refused: {e}", file.display()));
            // Defaulting ran: the API server filled the spec's defaults.
            assert_eq!(
                accepted.data["spec"]["deletionPolicy"],
                "Delete",
                "{}: {name}: defaults not applied",
                file.display()
            );
            applied += 1;
        }
    }
    assert_eq!(applied, 21, "every document of every example was applied");
}
