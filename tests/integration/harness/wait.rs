//! Waiting on the API server in end-to-end tests, with the operator's log in every timeout message.

use std::time::Duration;

use kube::Api;

use super::operator::Operator;

/// Polls `name` until `done` holds, for at most `secs` seconds; returns the object.
pub async fn until<K, F>(api: &Api<K>, name: &str, op: &Operator, what: &str, secs: u64, done: F) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(&K) -> bool,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let last = match api.get_opt(name).await.unwrap() {
            Some(obj) if done(&obj) => return obj,
            last => last,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {last:#?}\noperator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until `name` is gone (its finalizer removed), for at most `secs` seconds.
pub async fn gone<K>(api: &Api<K>, name: &str, op: &Operator, secs: u64)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while let Some(last) = api.get_opt(name).await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} not deleted; last seen: {last:#?}\noperator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
