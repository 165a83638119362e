//! kstatus, the status Flux (and kpt, cli-utils' applier) computes for any object, by the rules of
//! `sigs.k8s.io/cli-utils/pkg/kstatus/status` (`Compute`, `checkGenericProperties`,
//! `checkGeneration`) for kinds without type-specific rules, which custom resources are:
//! 1. `metadata.deletionTimestamp` set → Terminating;
//! 2. `status.observedGeneration` present and ≠ `metadata.generation` → InProgress;
//! 3. a condition `Reconciling=True` → InProgress; `Stalled=True` → Failed (first found wins);
//! 4. otherwise → Current (also when there is no status at all: kstatus cannot tell).

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KStatus {
    InProgress,
    Failed,
    Current,
    Terminating,
}

/// The kstatus of an object as the API server returns it.
pub fn compute(obj: &Value) -> KStatus {
    let meta = &obj["metadata"];
    if meta["deletionTimestamp"].as_str().is_some_and(|t| !t.is_empty()) {
        return KStatus::Terminating;
    }
    if let (Some(generation), Some(observed)) = (
        meta["generation"].as_i64(),
        obj["status"]["observedGeneration"].as_i64(),
    ) && generation != observed
    {
        return KStatus::InProgress;
    }
    for c in obj["status"]["conditions"].as_array().into_iter().flatten() {
        match (c["type"].as_str(), c["status"].as_str()) {
            (Some("Reconciling"), Some("True")) => return KStatus::InProgress,
            (Some("Stalled"), Some("True")) => return KStatus::Failed,
            _ => {}
        }
    }
    KStatus::Current
}

/// The kstatus of a typed object.
pub fn of<K: serde::Serialize>(obj: &K) -> KStatus {
    compute(&serde_json::to_value(obj).expect("object as JSON"))
}

#[test]
fn rules_in_order() {
    use serde_json::json;
    let obj = |generation: i64, observed: Option<i64>, conditions: Value| {
        let mut o = json!({"metadata": {"generation": generation}, "status": {"conditions": conditions}});
        if let Some(g) = observed {
            o["status"]["observedGeneration"] = json!(g);
        }
        o
    };
    let ready = json!([{"type": "Ready", "status": "True"}]);
    assert_eq!(compute(&obj(2, Some(2), ready.clone())), KStatus::Current);
    assert_eq!(compute(&obj(2, Some(1), ready.clone())), KStatus::InProgress);
    assert_eq!(
        compute(&obj(1, Some(1), json!([{"type": "Reconciling", "status": "True"}]))),
        KStatus::InProgress
    );
    assert_eq!(
        compute(&obj(1, Some(1), json!([{"type": "Stalled", "status": "True"}]))),
        KStatus::Failed
    );
    let mut deleting = obj(1, Some(1), ready);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-11-23T00:00:00Z");
    assert_eq!(compute(&deleting), KStatus::Terminating);
    assert_eq!(compute(&json!({"metadata": {"generation": 1}})), KStatus::Current);
}
