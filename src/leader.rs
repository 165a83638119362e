//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's rules: a replica takes
//! the lease when it is free, released, or has not changed for `lease_duration` *as this replica
//! observed it* (its own clock only, so clock skew between nodes does not matter); the leader
//! renews every `retry_period` and gives up, stopping the process, when it could not renew for
//! `renew_deadline`. Every write is a replace at the resourceVersion read, so two candidates never
//! both win. On a clean shutdown the leader releases the lease and a standby takes over at once.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

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

/// What a candidate saw of the lease last, and when (by its own clock).
#[derive(Debug)]
struct Observed {
    holder: Option<String>,
    renew: Option<MicroTime>,
    at: Instant,
}

/// The lease as held: renewed in the background until [`Leadership::release`] or loss.
pub struct Leadership {
    lost: watch::Receiver<bool>,
    renewer: tokio::task::JoinHandle<()>,
    api: Api<Lease>,
    config: LeaseConfig,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// Whether `lease` may be taken by `me` now, given what was observed of it before.
fn takeable(lease: &Lease, me: &str, seen: &mut Option<Observed>, lease_duration: Duration) -> bool {
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.filter(|h| !h.is_empty());
    let changed = seen
        .as_ref()
        .is_none_or(|o| o.holder != holder || o.renew != spec.renew_time);
    if changed {
        *seen = Some(Observed {
            holder: holder.clone(),
            renew: spec.renew_time.clone(),
            at: Instant::now(),
        });
    }
    match holder {
        None => true,
        Some(h) if h == me => true,
        Some(_) => seen.as_ref().is_some_and(|o| o.at.elapsed() >= lease_duration),
    }
}

/// One attempt to take or renew the lease: `Ok(true)` when this replica holds it now.
async fn try_acquire(api: &Api<Lease>, c: &LeaseConfig, seen: &mut Option<Observed>) -> Result<bool, kube::Error> {
    let Some(mut lease) = api.get_opt(&c.name).await? else {
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
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    if !takeable(&lease, &c.identity, seen, c.lease_duration) {
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
    // A replace at the resourceVersion read: a concurrent writer makes this a 409, never two leaders.
    match api.replace(&c.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the lease, then keeps renewing it in the background.
pub async fn acquire(client: Client, config: LeaseConfig) -> Leadership {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut seen = None;
    let mut waiting_logged = false;
    loop {
        match try_acquire(&api, &config, &mut seen).await {
            Ok(true) => break,
            Ok(false) => {
                if !waiting_logged {
                    let holder = seen.as_ref().and_then(|o| o.holder.clone()).unwrap_or_default();
                    tracing::info!(lease = %config.name, %holder, "waiting for leadership");
                    waiting_logged = true;
                }
            }
            Err(e) => {
                tracing::warn!(lease = %config.name, error = %e, "leader election: cannot read or write the lease")
            }
        }
        tokio::time::sleep(config.retry_period).await;
    }
    tracing::info!(lease = %config.name, identity = %config.identity, "acquired leadership");
    let (tx, lost) = watch::channel(false);
    let renewer = tokio::spawn(renew(api.clone(), config.clone(), tx));
    Leadership {
        lost,
        renewer,
        api,
        config,
    }
}

/// Renews every `retry_period`; reports loss when another holds the lease or no renewal
/// succeeded for `renew_deadline`.
async fn renew(api: Api<Lease>, config: LeaseConfig, lost: watch::Sender<bool>) {
    let mut last = Instant::now();
    let mut seen = None;
    loop {
        tokio::time::sleep(config.retry_period).await;
        match try_acquire(&api, &config, &mut seen).await {
            Ok(true) => last = Instant::now(),
            Ok(false) => {
                tracing::error!(lease = %config.name, "leadership lost: another replica holds the lease");
                let _ = lost.send(true);
                return;
            }
            Err(e) => tracing::warn!(lease = %config.name, error = %e, "cannot renew the lease"),
        }
        if last.elapsed() >= config.renew_deadline {
            tracing::error!(lease = %config.name, "leadership lost: no renewal within the renew deadline");
            let _ = lost.send(true);
            return;
        }
    }
}

impl Leadership {
    /// Resolves when leadership is lost.
    pub async fn lost(&mut self) {
        while !*self.lost.borrow() {
            if self.lost.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops renewing and frees the lease, so that a standby takes over without waiting for it to
    /// expire. A failure only means the standby waits out the lease duration.
    pub async fn release(self) {
        self.renewer.abort();
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "released leadership"),
            Err(e) => tracing::warn!(lease = %self.config.name, error = %e, "could not release the lease"),
        }
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
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renew_secs: i64) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                renew_time: Some(MicroTime(Timestamp::from_second(renew_secs).unwrap())),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn a_held_lease_is_taken_only_after_it_stops_changing_for_the_lease_duration() {
        let d = Duration::from_millis(50);
        let mut seen = None;
        // Free, released or mine: at once.
        assert!(takeable(&lease(None, 1), "b", &mut seen, d));
        assert!(takeable(&lease(Some(""), 1), "b", &mut None, d));
        assert!(takeable(&lease(Some("b"), 1), "b", &mut None, d));
        // Held by a, first seen now: not before the lease duration has passed on our clock,
        // whatever its renewTime says (an old renewTime from a skewed clock does not count).
        let mut seen = None;
        assert!(!takeable(&lease(Some("a"), 1), "b", &mut seen, d));
        std::thread::sleep(Duration::from_millis(30));
        // Renewed meanwhile: the wait starts again.
        assert!(!takeable(&lease(Some("a"), 2), "b", &mut seen, d));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!takeable(&lease(Some("a"), 2), "b", &mut seen, d));
        std::thread::sleep(Duration::from_millis(30));
        // Unchanged for longer than the lease duration: expired.
        assert!(takeable(&lease(Some("a"), 2), "b", &mut seen, d));
    }

    #[test]
    fn identities_differ_per_process_start() {
        assert_ne!(identity(), identity());
    }
}
