//! What the process keeps per object (its retry backoff, its condition in the metrics, the AWS
//! identifiers drift events map to it, its policy violation, the network a stack vouched for) goes
//! with the object: its last reconcile drops it. An object that goes without one (its finalizer
//! removed by hand, a deletion the watch missed while it re-listed) or whose namespace the
//! `--namespace-selector` no longer selects has no last reconcile, so each reconcile context also
//! drops, every re-check period, what it keeps for the objects of its scope that are no longer in
//! its caches or no longer selected, and the AWS clients (with their STS session) of a namespace
//! acting with its policy's role once the namespace has no object left or acts with another role.
//! What is kept is then bounded by what exists, however long the process runs, and no policy
//! lists a violation of an object that is gone.

use std::sync::Arc;

use super::context::Context;
use super::scope::Scope;

/// How many entries of each table one pass dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub backoff: usize,
    pub vouched: usize,
    pub metrics: usize,
    pub events: usize,
    pub violations: usize,
    /// AWS clients of a namespace's role (see [`Context::forget_tenant_clients`]).
    pub tenant_clients: usize,
}

impl Forgotten {
    pub fn total(&self) -> usize {
        self.backoff + self.vouched + self.metrics + self.events + self.violations + self.tenant_clients
    }
}

/// Drops what `ctx` keeps for the objects `gone` says are gone (kind, namespace, name), and the
/// AWS clients of the namespaces `used` says have no object left.
pub fn forget(ctx: &Context, gone: impl Fn(&str, &str, &str) -> bool, used: impl Fn(&str) -> bool) -> Forgotten {
    // `Kind/namespace/name`, the key of the backoff, the metrics and the violations.
    let gone_key = |key: &str| {
        let mut parts = key.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(kind), Some(namespace), Some(name)) => gone(kind, namespace, name),
            _ => false,
        }
    };
    Forgotten {
        backoff: ctx.backoff.forget_where(gone_key),
        vouched: ctx
            .vouched
            .forget_where(|namespace, name| gone("WebStack", namespace, name)),
        metrics: crate::metrics::METRICS.forget_resources(gone_key),
        events: ctx.events.forget_where(|o| gone(o.kind, &o.namespace, &o.name)),
        violations: ctx.tenants.as_ref().map_or(0, |t| t.forget_outcomes(gone_key)),
        tenant_clients: ctx.forget_tenant_clients(used),
    }
}

/// Every re-check period until `scope` stops (or SIGINT/SIGTERM): drops what `ctx` keeps for the
/// objects of `scope` that its caches no longer hold or whose namespace is no longer selected.
/// Nothing without caches (`plan`), and nothing before every cache's first listing is in (an
/// empty store then says nothing about what exists).
pub async fn run(ctx: Arc<Context>, scope: Scope) {
    let Some(caches) = ctx.source.caches().cloned() else {
        return;
    };
    // Ends with the controllers: when the scope stops, or on SIGINT/SIGTERM (else the process
    // would wait for it after its controllers shut down).
    let stopped = scope.stopped();
    let shutdown = super::tenants::shutdown_signal();
    tokio::pin!(stopped, shutdown);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = &mut shutdown => return,
            () = tokio::time::sleep(ctx.resync) => {}
        }
        if !caches.ready_now() {
            continue;
        }
        let deselected = |namespace: &str| ctx.selects_namespace(namespace) == Some(false);
        let gone = |kind: &str, namespace: &str, name: &str| {
            // The process's metrics and drift events hold every shard's objects: only this
            // scope's are its to judge.
            scope.covers(namespace) && (deselected(namespace) || caches.holds(kind, namespace, name) == Some(false))
        };
        let namespaces = caches.namespaces();
        let used = |namespace: &str| namespaces.contains(namespace) && !deselected(namespace);
        let forgotten = forget(&ctx, gone, used);
        if forgotten.total() > 0 {
            tracing::info!(?forgotten, "forgot objects that went without a last reconcile");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::reconcile::backoff::Wait;
    use crate::reconcile::events::ObjectKey;
    use crate::reconcile::vouched::Network;

    /// A context whose clients point at a port nothing answers (nothing here calls them).
    fn context() -> Context {
        Context::for_tests("http://127.0.0.1:9")
    }

    /// What a reconcile of `kind` `ns/name` leaves behind in each table.
    fn remember(ctx: &Context, kind: &'static str, ns: &str, name: &str) {
        let key = format!("{kind}/{ns}/{name}");
        ctx.backoff.next(&key, Wait::Poll, Duration::from_secs(600), false);
        crate::metrics::METRICS.resource(&key, Some("Stalled"));
        let object = ObjectKey::new(kind, ns, name);
        let id = format!("{kind}-{ns}-{name}");
        ctx.events.index.record(&object, BTreeSet::from([id]), true);
        if kind == "WebStack" {
            let network = Network {
                uid: format!("uid-{name}"),
                ..Network::default()
            };
            ctx.vouched.record(ns, name, network);
        }
    }

    /// Only what belongs to a gone object is dropped; the objects that exist keep theirs, and a
    /// second pass finds nothing more.
    #[tokio::test]
    async fn only_what_gone_objects_left_behind_is_dropped() {
        let ctx = context();
        // The metrics are the process's: namespaces of this test alone.
        let (ns, other) = ("departed-test-a", "departed-test-b");
        remember(&ctx, "WebStack", ns, "shop");
        remember(&ctx, "WebStack", ns, "kept");
        remember(&ctx, "TargetGroup", ns, "shop");
        remember(&ctx, "WebStack", other, "shop");
        // Gone: the WebStack ns/shop only (not the TargetGroup of the same name, not another
        // namespace's).
        let gone = |kind: &str, namespace: &str, name: &str| kind == "WebStack" && namespace == ns && name == "shop";
        let forgotten = forget(&ctx, gone, |_| true);
        assert_eq!(
            forgotten,
            Forgotten {
                backoff: 1,
                vouched: 1,
                metrics: 1,
                events: 1,
                violations: 0,
                tenant_clients: 0,
            }
        );
        let owners = |id: &str| ctx.events.index.owners([id]);
        assert!(owners(&format!("WebStack-{ns}-shop")).is_empty());
        assert_eq!(owners(&format!("WebStack-{ns}-kept")).len(), 1);
        assert_eq!(owners(&format!("WebStack-{other}-shop")).len(), 1);
        assert_eq!(owners(&format!("TargetGroup-{ns}-shop")).len(), 1);
        let vouched = |ns: &str, name: &str| ctx.vouched.check(ns, name, &format!("uid-{name}"), &[], &[]);
        assert!(vouched(ns, "shop").is_err());
        assert!(vouched(ns, "kept").is_ok());
        assert!(vouched(other, "shop").is_ok());
        let shop = format!("WebStack/{ns}/shop");
        assert_eq!(crate::metrics::METRICS.forget_resources(|k| k == shop), 0);
        assert_eq!(forget(&ctx, gone, |_| true), Forgotten::default());
        // The others are still there to drop.
        let rest = forget(&ctx, |_, namespace, _| namespace == ns || namespace == other, |_| true);
        assert_eq!((rest.backoff, rest.metrics, rest.events, rest.vouched), (3, 3, 3, 2));
    }
}
