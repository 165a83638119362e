//! Argo CD's health of the project's kinds: `deploy/argocd/health.lua` run as Argo CD runs it, in
//! gopher-lua (Lua 5.1, the VM Argo CD embeds; `tests/luahealth`, built by
//! `tests/scripts/build-luahealth.sh`) with the object as the global `obj` and the returned table's
//! `{status, message}`, on sample objects of each state the operator reports (the conditions
//! `src/reconcile/status.rs` writes).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::harness::{repo_root, script_output};

fn health(obj: &Value) -> (String, String) {
    static LUAHEALTH: OnceLock<std::path::PathBuf> = OnceLock::new();
    let bin = LUAHEALTH.get_or_init(|| script_output("build-luahealth.sh"));
    let mut child = Command::new(bin)
        .arg(repo_root().join("deploy/argocd/health.lua"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run luahealth");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(obj.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "luahealth: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hs: Value = serde_json::from_slice(&out.stdout).expect("luahealth prints JSON");
    (
        hs["status"].as_str().unwrap().to_string(),
        hs["message"].as_str().unwrap().to_string(),
    )
}

fn object(generation: i64, observed: i64, conditions: Value) -> Value {
    json!({
        "apiVersion": "webstack.io/v1alpha1", "kind": "WebStack",
        "metadata": {"name": "netflux", "namespace": "movies", "generation": generation},
        "spec": {},
        "status": {"observedGeneration": observed, "conditions": conditions}
    })
}

fn conditions(ready: (&str, &str, &str), reconciling: (&str, &str), stalled: (&str, &str, &str)) -> Value {
    json!([
        {"type": "Ready", "status": ready.0, "reason": ready.1, "message": ready.2},
        {"type": "Reconciling", "status": reconciling.0, "reason": ready.1, "message": reconciling.1},
        {"type": "Stalled", "status": stalled.0, "reason": stalled.1, "message": stalled.2},
    ])
}

#[test]
fn every_state_maps_to_argo_health() {
    let cases = [
        (
            "ready",
            object(
                3,
                3,
                conditions(
                    ("True", "Ready", "AWS matches the spec"),
                    ("False", ""),
                    ("False", "Ready", ""),
                ),
            ),
            ("Healthy", "AWS matches the spec"),
        ),
        (
            "provisioning",
            object(
                2,
                2,
                conditions(
                    ("False", "Provisioning", "database d is creating"),
                    ("True", "database d is creating"),
                    ("False", "Provisioning", ""),
                ),
            ),
            ("Progressing", "database d is creating"),
        ),
        (
            "stalled",
            object(
                1,
                1,
                conditions(
                    ("False", "InvalidSpec", "spec.network.cidr: bad"),
                    ("False", ""),
                    ("True", "InvalidSpec", "spec.network.cidr: bad"),
                ),
            ),
            ("Degraded", "InvalidSpec: spec.network.cidr: bad"),
        ),
        (
            "a new generation not yet seen",
            object(
                4,
                3,
                conditions(("True", "Ready", "ok"), ("False", ""), ("False", "Ready", "")),
            ),
            ("Progressing", "Waiting for webstack-operator to observe generation 4"),
        ),
        (
            "paused",
            object(
                1,
                1,
                conditions(
                    ("True", "Paused", "paused: AWS matches the spec"),
                    ("False", ""),
                    ("False", "Paused", ""),
                ),
            ),
            ("Suspended", "paused: AWS matches the spec"),
        ),
    ];
    for (what, obj, (status, message)) in cases {
        assert_eq!(health(&obj), (status.to_string(), message.to_string()), "{what}");
    }
    let fresh = json!({"apiVersion": "webstack.io/v1alpha1", "kind": "TargetGroup", "metadata": {"name": "x", "generation": 1}, "spec": {}});
    assert_eq!(health(&fresh).0, "Progressing", "no status yet");
}
