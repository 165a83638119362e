//! `--shards N`: the namespaces are split into N shards by a hash of their names
//! ([`shard_of`](crate::model::shards::shard_of)), each reconciled by the one replica holding its
//! Lease `<id>-shard-<i>`, under that lease's fence (`crate::leader`, as for a single leader).
//!
//! Which replica holds which shard: every replica renews a member Lease `<id>-member-<token>`;
//! every `--retry-period` it LISTs the leases of its namespace, sees which members are alive (by
//! its own clock, as in an election), and takes the free shards that the live members'
//! [`assignment`](crate::model::shards::assignment) gives it (even shares, rendezvous hashing).
//! A shard the assignment gives another live member is handed over: its controllers stop
//! (running reconciles finish), then its lease is freed, and the other takes it at its next look.
//! A replica that dies stops renewing: after the lease duration the others see it gone, the
//! assignment changes, and they take its shards once those leases have expired too. A shard that
//! stays free for a lease duration (views of the members differ for a moment) is taken by any
//! replica, and handed over later.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::ManagerError;
use crate::leader::{Candidate, Leadership, LeaseConfig, Members};
use crate::metrics::METRICS;
use crate::model::shards::{assignment, token};
use crate::reconcile::context::Fence;

/// The shards and the lease settings they are held with (`lease.name` is the prefix of every
/// lease name).
pub struct Sharding {
    pub shards: u32,
    pub lease: LeaseConfig,
}

impl Sharding {
    fn lease_named(&self, name: String) -> LeaseConfig {
        LeaseConfig {
            name,
            ..self.lease.clone()
        }
    }

    fn shard_lease(&self, shard: u32) -> String {
        format!("{}-shard-{shard}", self.lease.name)
    }

    fn member_prefix(&self) -> String {
        format!("{}-member-", self.lease.name)
    }
}

/// A shard this replica holds, and its controllers.
struct Held {
    leadership: Leadership,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Held {
    /// Stops the shard's controllers (running reconciles get `grace` to finish), then frees its
    /// lease so that the next holder takes it at once.
    async fn release(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
        self.leadership.release().await;
    }
}

/// Holds this replica's member lease and its share of the shards until SIGINT/SIGTERM, running
/// `start(shard, fence, stop)` for each shard it takes: the task it returns reconciles that
/// shard's namespaces under `fence`, and ends once `stop` is `true`.
pub async fn run<F>(client: Client, sharding: Sharding, mut start: F) -> Result<(), ManagerError>
where
    F: FnMut(u32, Fence, watch::Receiver<bool>) -> JoinHandle<()>,
{
    let api: Api<Lease> = Api::namespaced(client, &sharding.lease.namespace);
    let me = sharding.lease.identity.clone();
    let timing = sharding.lease.clone();
    let member_name = format!("{}{}", sharding.member_prefix(), token(&me));
    let member = crate::leader::acquire_in(api.clone(), sharding.lease_named(member_name.clone())).await;
    tracing::info!(shards = sharding.shards, member = %member_name, "sharding: joined");
    let mut members = Members::new(&sharding.member_prefix(), timing.lease_duration);
    let mut candidates: Vec<Candidate> = (0..sharding.shards)
        .map(|i| Candidate::new(api.clone(), sharding.lease_named(sharding.shard_lease(i))))
        .collect();
    let mut free_since: Vec<Option<Instant>> = vec![None; candidates.len()];
    let mut held: BTreeMap<u32, Held> = BTreeMap::new();
    // Running reconciles get this long to finish when a shard is handed over or at shutdown.
    let grace = Duration::from_secs(30);
    let mut shutdown = std::pin::pin!(crate::reconcile::tenants::shutdown_signal());
    let lost = loop {
        // A shard whose renewals failed: its fence already refuses; its controllers stop.
        let gone: Vec<u32> = held
            .iter()
            .filter(|(_, h)| !h.leadership.is_leading())
            .map(|(i, _)| *i)
            .collect();
        for shard in gone {
            if let Some(h) = held.remove(&shard) {
                tracing::error!(shard, "sharding: the shard's lease was lost; its controllers stop");
                let _ = h.stop.send(true);
                h.task.abort();
            }
        }
        match api.list(&ListParams::default()).await {
            Err(e) => tracing::warn!(error = %e, "sharding: cannot list the leases"),
            Ok(list) => {
                let seen = members.update(&list.items);
                let mut live = seen.live;
                if !live.contains(&me) {
                    live.push(me.clone());
                }
                for (name, version) in seen.forgotten {
                    forget(&api, &name, version).await;
                }
                let owners = assignment(&live, sharding.shards);
                for shard in 0..sharding.shards {
                    let i = shard as usize;
                    let name = sharding.shard_lease(shard);
                    let lease = list.items.iter().find(|l| l.name_any() == name);
                    let takeable = candidates[i].observe(lease);
                    let owner = owners.get(i).cloned().unwrap_or_else(|| me.clone());
                    if held.contains_key(&shard) {
                        if owner != me {
                            tracing::info!(shard, to = %owner, "sharding: handing the shard over");
                            if let Some(h) = held.remove(&shard) {
                                h.release(grace).await;
                            }
                        }
                        continue;
                    }
                    free_since[i] = if takeable {
                        free_since[i].or(Some(Instant::now()))
                    } else {
                        None
                    };
                    let orphaned = free_since[i].is_some_and(|t| t.elapsed() >= timing.lease_duration);
                    if takeable
                        && (owner == me || orphaned)
                        && let Some(leadership) = candidates[i].attempt().await
                    {
                        let (stop, stopped) = watch::channel(false);
                        let task = start(shard, leadership.fence(), stopped);
                        tracing::info!(shard, shards = sharding.shards, "sharding: reconciling the shard");
                        held.insert(shard, Held { leadership, stop, task });
                        free_since[i] = None;
                    }
                }
            }
        }
        METRICS.set_shards_held(held.len());
        tokio::select! {
            () = sleep(timing.retry_period) => {}
            () = &mut shutdown => break false,
            () = member.lost() => break true,
        }
    };
    // The controllers end on the signal by themselves; each shard's lease is freed once they have.
    for (_, h) in std::mem::take(&mut held) {
        h.release(grace).await;
    }
    METRICS.set_shards_held(0);
    if lost {
        return Err(ManagerError::LeadershipLost);
    }
    member.release().await;
    forget(&api, &member_name, None).await;
    tracing::info!("sharding: left");
    Ok(())
}

/// Deletes a member lease: a dead one another replica left (at the version seen, so a member
/// that came back is kept), or this replica's own when it leaves.
async fn forget(api: &Api<Lease>, name: &str, version: impl Into<Option<String>>) {
    let params = DeleteParams {
        preconditions: version.into().map(|v| Preconditions {
            resource_version: Some(v),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => tracing::info!(lease = name, "sharding: member lease deleted"),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(e) => tracing::warn!(lease = name, error = %e, "sharding: cannot delete a member lease"),
    }
}
