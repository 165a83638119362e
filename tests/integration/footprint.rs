//! The operator's memory, measured (not asserted): its resident set idle, with the five reference
//! architectures applied and settled, and after they are deleted. A measurement for the notes,
//! so it is ignored by default; run it with
//!
//! ```sh
//! cargo test --test integration footprint -- --ignored --nocapture
//! WEBSTACK_OPERATOR_BINARY=path/to/release/webstack-operator cargo test ...   # another build
//! ```

use std::time::Duration;

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::manifest::{apply_all, delete_all, load_manifests, wait_gone, wait_ready};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::repo_root;

/// `VmRSS` and `VmHWM` (peak) of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the operator's /proc status");
    let kib = |field: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement for the notes: run with --ignored --nocapture"]
async fn footprint_idle_and_with_the_five_examples() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "footprint").await;
    let moto = Moto::start();
    let resync = 20;
    let op = Operator::start(&moto, &ns, &format!("{resync}s"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (rss, _) = memory(op.pid());
    println!("footprint: idle (watches started, nothing to do): RSS {rss:.1} MiB");

    let mut objects = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        moto.certificates_named_in(&text, "webapp.example");
        moto.hosted_zones_named_in(&text, "webapp.example");
        objects.extend(load_manifests(path));
    }
    apply_all(&client, &ns, &objects).await;
    let ready = wait_ready(&client, &ns, &objects, &op, 600).await;
    let (rss, peak) = memory(op.pid());
    println!(
        "footprint: {} files, {} objects Ready in {:.1}s: RSS {rss:.1} MiB (peak {peak:.1} MiB)",
        files.len(),
        objects.len(),
        ready.as_secs_f64()
    );
    // Two resync periods at steady state: every object re-checked against AWS twice.
    tokio::time::sleep(Duration::from_secs(2 * resync)).await;
    let (rss, peak) = memory(op.pid());
    println!("footprint: settled, after two resyncs: RSS {rss:.1} MiB (peak {peak:.1} MiB)");

    // Architecture 3's database has deletion protection: the user turns it off to delete it.
    let off = serde_json::json!({"spec": {"database": {"deletionProtection": false}}});
    kube::Api::<webstack_operator::api::WebStack>::namespaced(client.clone(), &ns)
        .patch(
            "monolith",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&off),
        )
        .await
        .unwrap();
    delete_all(&client, &ns, &objects).await;
    let gone = wait_gone(&client, &ns, &objects, &op, 600).await;
    let (rss, peak) = memory(op.pid());
    println!(
        "footprint: all deleted in {:.1}s: RSS {rss:.1} MiB (peak {peak:.1} MiB)",
        gone.as_secs_f64()
    );
}
