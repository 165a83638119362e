//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's rules: a replica takes
//! the lease when it is free, released, or has not changed for `lease_duration` *as this replica
//! observed it* (its own clock only, so clock skew between nodes does not matter); the leader
//! renews every `retry_period`. Every write is a replace at the resourceVersion read, so two
//! candidates never both win. On a clean shutdown the leader releases the lease and a standby
//! takes over at once.
//!
//! **Fencing.** The leader holds the lease until `renew_deadline` after the start of its last
//! successful renewal, by its own monotonic clock: a standby takes it no earlier than
//! `lease_duration` after that renewal was written, so the two never act at once. Each renewal's
//! calls are bounded by the time left (a hung call cannot keep a replica leading past its
//! deadline), and the [`Fence`] handed to the reconcilers refuses every step once the hold ends,
//! judged by the clock at each check, whatever the renewer is doing.
//!
//! Nothing here assumes one lease per process: each [`acquire`] holds the lease its
//! [`LeaseConfig`] names, with a [`Fence`] of its own (the scale issue's shards hold one each).

mod members;
mod store;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::ObjectMeta;
use kube::{Api, Client};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use self::members::Observed;
pub use self::members::{Members, Seen};
pub use self::store::LeaseStore;
use crate::reconcile::context::{Fence, Hold, Holder};

/// How leadership is taken and kept.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name and a random suffix).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// `namespace/name`, in log lines and errors.
    pub fn lease(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The lease as held: renewed in the background until [`Leadership::release`] or loss.
pub struct Leadership<S: LeaseStore = Api<Lease>> {
    fence: Fence,
    holder: Arc<Holder>,
    renewer: tokio::task::JoinHandle<()>,
    store: S,
    config: LeaseConfig,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// Whether `lease` may be taken by `me` at `now` (this process's clock), given what was observed
/// of it before.
fn takeable(lease: &Lease, me: &str, seen: &mut Option<Observed>, lease_duration: Duration, now: Instant) -> bool {
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.filter(|h| !h.is_empty());
    let changed = seen
        .as_ref()
        .is_none_or(|o| o.holder != holder || o.renew != spec.renew_time);
    if changed {
        *seen = Some(Observed {
            holder: holder.clone(),
            renew: spec.renew_time.clone(),
            at: now,
        });
    }
    match holder {
        None => true,
        Some(h) if h == me => true,
        Some(_) => seen
            .as_ref()
            .is_some_and(|o| now.saturating_duration_since(o.at) >= lease_duration),
    }
}

/// One attempt to take or renew the lease: `Ok(true)` when this replica holds it now.
async fn try_acquire<S: LeaseStore>(
    store: &S,
    c: &LeaseConfig,
    seen: &mut Option<Observed>,
) -> Result<bool, kube::Error> {
    let Some(mut lease) = store.get(&c.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(c.name.clone()),
                namespace: Some(c.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(c.identity.clone()),
                lease_duration_seconds: Some(secs(c.lease_duration)),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return store.create(&lease).await;
    };
    if !takeable(&lease, &c.identity, seen, c.lease_duration, Instant::now()) {
        return Ok(false);
    }
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let mine = spec.holder_identity.as_deref() == Some(c.identity.as_str());
    if !mine {
        spec.holder_identity = Some(c.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(secs(c.lease_duration));
    spec.renew_time = Some(now());
    // A replace at the resourceVersion read: a concurrent writer makes this a conflict, never two leaders.
    store.replace(&c.name, &lease).await
}

/// Waits until this replica holds the lease, then keeps renewing it in the background.
pub async fn acquire(client: Client, config: LeaseConfig) -> Leadership {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    acquire_in(api, config).await
}

/// [`acquire`] with the lease read and written through `store`.
pub async fn acquire_in<S: LeaseStore>(store: S, config: LeaseConfig) -> Leadership<S> {
    let retry = config.retry_period;
    let mut candidate = Candidate::new(store, config);
    let mut waiting_logged = false;
    loop {
        let started = Instant::now();
        if let Some(leadership) = candidate.attempt().await {
            return leadership;
        }
        if !waiting_logged && candidate.seen.is_some() {
            let holder = candidate.holder().unwrap_or_default();
            tracing::info!(lease = %candidate.config.lease(), %holder, "waiting for leadership");
            waiting_logged = true;
        }
        sleep_until(started + retry).await;
    }
}

/// A replica's candidacy for one lease, across attempts: what it last saw of the lease and when,
/// by its own clock, so that an expiry is timed from the last change it saw.
pub struct Candidate<S: LeaseStore = Api<Lease>> {
    store: S,
    config: LeaseConfig,
    seen: Option<Observed>,
}

impl<S: LeaseStore> Candidate<S> {
    pub fn new(store: S, config: LeaseConfig) -> Self {
        Candidate {
            store,
            config,
            seen: None,
        }
    }

    /// Notes the lease as read elsewhere (`None`: it does not exist), e.g. by one LIST of all the
    /// leases: whether this candidate could take it now.
    pub fn observe(&mut self, lease: Option<&Lease>) -> bool {
        lease.is_none_or(|l| {
            takeable(
                l,
                &self.config.identity,
                &mut self.seen,
                self.config.lease_duration,
                Instant::now(),
            )
        })
    }

    /// The holder it saw last (none: free or released).
    pub fn holder(&self) -> Option<String> {
        self.seen.as_ref().and_then(|o| o.holder.clone())
    }

    /// One attempt to take the lease, bounded by the renew deadline (an attempt that has not
    /// answered by then could not lead anyway: its hold would be over before it began): the
    /// lease, held and renewed in the background, when it succeeded.
    pub async fn attempt(&mut self) -> Option<Leadership<S>> {
        let c = &self.config;
        let lease = c.lease();
        let started = Instant::now();
        match timeout(c.renew_deadline, try_acquire(&self.store, c, &mut self.seen)).await {
            Ok(Ok(true)) => {
                let until = started + c.renew_deadline;
                tracing::info!(%lease, identity = %c.identity, "acquired leadership");
                let (holder, fence) = Fence::new(&lease, Hold::Until(until));
                let holder = Arc::new(holder);
                let renewer = tokio::spawn(renew(self.store.clone(), c.clone(), holder.clone(), until));
                Some(Leadership {
                    fence,
                    holder,
                    renewer,
                    store: self.store.clone(),
                    config: c.clone(),
                })
            }
            Ok(Ok(false)) => None,
            Ok(Err(e)) => {
                tracing::warn!(%lease, error = %e, "leader election: cannot read or write the lease");
                None
            }
            Err(_) => {
                tracing::warn!(%lease, "leader election: the lease did not answer within the renew deadline");
                None
            }
        }
    }
}

/// Renews every `retry_period`, each renewal bounded by the time left of the hold, and extends the
/// hold to `renew_deadline` after the start of each one that succeeded (its write happened no
/// earlier, so a standby's `lease_duration` runs from no earlier either). Ends the hold when
/// another holds the lease or no renewal succeeded in time.
async fn renew<S: LeaseStore>(store: S, config: LeaseConfig, holder: Arc<Holder>, mut until: Instant) {
    let lease = config.lease();
    let mut seen = None;
    loop {
        sleep_until((Instant::now() + config.retry_period).min(until)).await;
        let started = Instant::now();
        if started >= until {
            tracing::error!(%lease, "leadership lost: no renewal succeeded within the renew deadline");
            break;
        }
        match timeout_at(until, try_acquire(&store, &config, &mut seen)).await {
            Ok(Ok(true)) => {
                until = started + config.renew_deadline;
                if !holder.hold_until(until) {
                    tracing::error!(%lease, "leadership lost: the renewal answered after the renew deadline");
                    break;
                }
            }
            Ok(Ok(false)) => {
                tracing::error!(%lease, "leadership lost: another replica holds the lease");
                break;
            }
            Ok(Err(e)) => tracing::warn!(%lease, error = %e, "cannot renew the lease"),
            Err(_) => {
                tracing::error!(%lease, "leadership lost: the renewal did not answer within the renew deadline");
                break;
            }
        }
    }
    holder.lose();
}

impl<S: LeaseStore> Leadership<S> {
    /// Resolves when leadership is lost (at the end of the hold at the latest).
    pub async fn lost(&self) {
        self.fence.lost().await;
    }

    /// Whether this replica still leads: cheap, judged by the clock.
    pub fn is_leading(&self) -> bool {
        self.fence.is_leading()
    }

    /// The check the reconcilers make before every change: it holds as long as this lease.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Stops renewing and frees the lease, so that a standby takes over without waiting for it to
    /// expire. Nothing is changed under this lease's fence from here on. A failure (or no answer
    /// within the renew deadline) only means the standby waits out the lease duration.
    pub async fn release(self) {
        self.renewer.abort();
        self.holder.lose();
        let lease = self.config.lease();
        match timeout(self.config.renew_deadline, self.free()).await {
            Ok(Ok(true)) => tracing::info!(%lease, "released leadership"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(%lease, error = %e, "could not release the lease"),
            Err(_) => tracing::warn!(%lease, "could not release the lease: no answer"),
        }
    }

    /// Clears the holder, if it is still this replica: `Ok(true)` when released.
    async fn free(&self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.store.get(&self.config.name).await? else {
            return Ok(false);
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        self.store.replace(&self.config.name, &lease).await
    }
}

impl<S: LeaseStore> Drop for Leadership<S> {
    /// No longer renewed: its fences refuse from now on.
    fn drop(&mut self) {
        self.renewer.abort();
        self.holder.lose();
    }
}

/// This replica's identity: `POD_NAME` (or the host name) and a random suffix, so that a restarted
/// process is a new candidate.
pub fn identity() -> String {
    let base = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()))
        .unwrap_or_else(|_| "webstack-operator".into());
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{base}_{suffix}")
}

#[cfg(test)]
mod tests;
