//! Test harness: the real components the integration tests run against, started by the tests
//! themselves. A real kube-apiserver (built from Go modules by `tests/scripts/build-apiserver.sh`)
//! once per test binary, every test in its own namespace; a `moto_server` (installed by
//! `tests/scripts/moto-venv.sh`) per test that needs AWS.

pub mod events;
pub mod iam;
pub mod kstatus;
pub mod kube;
pub mod leftovers;
pub mod leftovers_alarms;
pub mod leftovers_capacity;
pub mod leftovers_dns;
pub mod leftovers_registries;
pub mod manifest;
pub mod moto;
pub mod operator;
pub mod plan;
pub mod wait;

use std::path::PathBuf;
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs one of `tests/scripts/*.sh`, which install or build a component if needed and print its path.
pub fn script_output(script: &str) -> PathBuf {
    let path = repo_root().join("tests/scripts").join(script);
    let out = Command::new("bash")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A name unique within this test run, for namespaces and AWS resources.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{:x}{n}", (std::process::id() ^ nanos) & 0xfffff)
}
