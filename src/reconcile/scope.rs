//! Which objects a set of controllers reconciles (one namespace, one shard, or all), and when it
//! stops: the main watch and every watch of a related kind drop what is out of scope.

use kube::{Api, Client};

use super::status::Kind;

/// The API of kind `K`: one namespace, or all.
pub fn api<K: Kind>(client: &Client, namespace: Option<&str>) -> Api<K> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Which objects a controller reconciles, and when it stops.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// One namespace (`--namespace`), else all.
    pub namespace: Option<String>,
    /// `(shard, shards)`: only the namespaces of this shard
    /// ([`shard_of`](crate::model::shards::shard_of)); the others' objects are not even cached.
    pub shard: Option<(u32, u32)>,
    /// Stops the controller once `true` (or once its sender is gone): no reconcile starts after
    /// it, the running ones finish. SIGINT/SIGTERM stop it too.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Scope {
    /// Whether objects of `namespace` are this scope's (the namespace option aside: the watch
    /// itself is limited to it).
    pub fn holds(&self, namespace: &str) -> bool {
        self.shard
            .is_none_or(|(shard, shards)| crate::model::shards::shard_of(namespace, shards) == shard)
    }

    /// Whether objects of `namespace` are this scope's, the namespace option included.
    pub fn covers(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace) && self.holds(namespace)
    }

    /// Resolves when the scope is stopped (never without a `stop`).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let stop = self.stop.clone();
        async move {
            match stop {
                Some(mut rx) => {
                    let _ = rx.wait_for(|stop| *stop).await;
                }
                None => std::future::pending().await,
            }
        }
    }
}
