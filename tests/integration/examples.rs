//! Every manifest under `examples/` is accepted by the real API server (server-side apply, dry run),
//! which runs the CRDs' structural schema, defaulting and CEL validation on it.

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::manifest::{api_for, load_manifests};
use crate::harness::repo_root;

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
