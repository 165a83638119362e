//! `--shards N`: the namespaces are split into N shards by a hash of their names
//! ([`shard_of`](crate::model::shards::shard_of)), each reconciled by the one replica holding its
//! Lease `<id>-shard-<i>`, under that lease's fence (`crate::leader`, as for a single leader).
//!
//! Which replica holds which shard: every replica renews a member Lease
//! `<id>-member-<N>-<token>`; every `--retry-period` it LISTs the leases of its namespace, sees
//! which members are alive (by its own clock, as in an election) and who holds each shard. With
//! the settled members (live for a lease duration, and itself), a shard stays with its holder
//! while the shares are even enough ([`surplus`](crate::model::shards::surplus)); a free shard
//! goes to the least loaded member with room ([`taker`](crate::model::shards::taker), ties by
//! rendezvous hashing). A replica holding more than its share hands one shard over at a time, once
//! held for two lease durations: its controllers stop (running reconciles get [`GRACE`] to
//! finish), then its lease is freed, and the taker takes it at its next look. A replica that dies
//! stops renewing: after the lease duration the others see it gone, and take its shards once those
//! leases have expired too. A shard that stays free for a lease duration (views of the members
//! differ for a moment) is taken by any replica, and handed over later if that leaves the shares
//! uneven.
//!
//! A replica holds no shard while it sees a live member sharding into another number of shards,
//! or a live single leader (`<id>`, `--leader-elect`): the two would split the namespaces
//! differently. Both kinds of replica then run side by side only for what one look takes to see
//! the other (docs/operations.md says to change either with `Recreate`).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::ManagerError;
use crate::leader::{Candidate, Leadership, LeaseConfig, Members};
use crate::metrics::METRICS;
use crate::model::shards::{surplus, taker, token};
use crate::reconcile::context::Fence;

/// How long a shard's running reconciles get to finish when it is handed over or at shutdown
/// (all shards at once; under the chart's 30 s termination grace period).
pub const GRACE: Duration = Duration::from_secs(20);

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

    /// Every member lease starts with it, whatever its shard count.
    fn members_prefix(&self) -> String {
        format!("{}-member-", self.lease.name)
    }

    /// The member leases of replicas sharding into as many shards as this one start with it.
    fn peers_prefix(&self) -> String {
        format!("{}{}-", self.members_prefix(), self.shards)
    }
}

/// A shard this replica holds, and its controllers.
struct Held {
    leadership: Leadership,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    since: Instant,
}

impl Held {
    /// Stops the shard's controllers (running reconciles get [`GRACE`] to finish), then frees its
    /// lease so that the next holder takes it at once. Controllers that do not stop in time are
    /// aborted after the fence is dropped, and the lease is left to expire: a call they had on the
    /// wire gets the lease duration to land before anyone else acts.
    async fn release(self, shard: u32) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if timeout(GRACE, &mut task).await.is_ok() {
            self.leadership.release().await;
        } else {
            tracing::warn!(
                shard,
                "sharding: the shard's reconciles did not finish in time; its lease is left to expire"
            );
            drop(self.leadership);
            task.abort();
            let _ = task.await;
        }
    }
}

/// Borrowed holder names.
fn as_refs(holders: &[Option<String>]) -> Vec<Option<&str>> {
    holders.iter().map(Option::as_deref).collect()
}

/// Releases `shards` all at once.
async fn release_all(held: &mut BTreeMap<u32, Held>, shards: &[u32]) {
    let going: Vec<(u32, Held)> = shards.iter().filter_map(|s| held.remove(s).map(|h| (*s, h))).collect();
    join_all(going.into_iter().map(|(s, h)| h.release(s))).await;
}

/// Holds this replica's member lease and its share of the shards until SIGINT/SIGTERM, running
/// `start(shard, fence, stop)` for each shard it takes: the task it returns reconciles that
/// shard's namespaces under `fence`, and ends once `stop` is `true`.
pub async fn run<F>(client: Client, sharding: Sharding, mut start: F) -> Result<(), ManagerError>
where
    F: FnMut(u32, Fence, watch::Receiver<bool>) -> JoinHandle<()>,
{
    // Listening at once: a signal that comes while the first look runs is not missed.
    let (signalled, mut shutdown) = watch::channel(false);
    tokio::spawn(async move {
        crate::reconcile::tenants::shutdown_signal().await;
        let _ = signalled.send(true);
    });
    let api: Api<Lease> = Api::namespaced(client, &sharding.lease.namespace);
    let me = sharding.lease.identity.clone();
    let timing = sharding.lease.clone();
    let member_name = format!("{}{}", sharding.peers_prefix(), token(&me));
    let member = crate::leader::acquire_in(api.clone(), sharding.lease_named(member_name.clone())).await;
    tracing::info!(shards = sharding.shards, member = %member_name, "sharding: joined");
    let mut members = Members::new(&sharding.members_prefix(), timing.lease_duration);
    // The single leader's lease, watched (never taken) to stay out of its way.
    let mut leader = Candidate::new(api.clone(), timing.clone());
    let mut candidates: Vec<Candidate> = (0..sharding.shards)
        .map(|i| Candidate::new(api.clone(), sharding.lease_named(sharding.shard_lease(i))))
        .collect();
    let mut free_since: Vec<Option<Instant>> = vec![None; candidates.len()];
    let mut held: BTreeMap<u32, Held> = BTreeMap::new();
    let mut waiting_logged = false;
    // Nothing is taken at the first look: replicas started together see each other's member
    // leases at the next one, and each takes its share instead of one taking all and handing
    // shards over.
    let mut first_look = true;
    let outcome = loop {
        // A shard whose renewals failed: its fence already refuses; its controllers stop. A
        // shard whose controllers ended by themselves: nothing reconciles it, so the process
        // stops (as it would with one leader) and is restarted.
        let mut gone = Vec::new();
        let mut ended = false;
        for (shard, h) in &held {
            if !h.leadership.is_leading() {
                tracing::error!(shard, "sharding: the shard's lease was lost; its controllers stop");
                gone.push(*shard);
            } else if h.task.is_finished() && !*shutdown.borrow() {
                tracing::error!(shard, "sharding: the shard's controllers ended by themselves");
                ended = true;
            }
        }
        if ended {
            break Err(ManagerError::ShardStopped);
        }
        for shard in gone {
            if let Some(h) = held.remove(&shard) {
                let _ = h.stop.send(true);
                h.task.abort();
                // Ended before the shard may be taken again: its metrics guard then forgets the
                // old task's objects, not a new task's.
                let _ = h.task.await;
            }
        }
        match timeout(timing.renew_deadline, api.list(&ListParams::default())).await {
            Err(_) => tracing::warn!("sharding: listing the leases did not answer within the renew deadline"),
            Ok(Err(e)) => tracing::warn!(error = %e, "sharding: cannot list the leases"),
            Ok(Ok(list)) => {
                let seen = members.update(&list.items);
                for (name, version) in seen.forgotten {
                    forget(&api, &name, version, timing.renew_deadline).await;
                }
                let others: Vec<&String> = seen
                    .live_leases
                    .iter()
                    .filter(|n| !n.starts_with(&sharding.peers_prefix()))
                    .collect();
                let leader_lease = list.items.iter().find(|l| l.name_any() == timing.name);
                let leading = !leader.observe(leader_lease);
                if !others.is_empty() || leading {
                    if !waiting_logged {
                        tracing::warn!(?others, leader = ?leader.holder().filter(|_| leading),
                            "sharding: another way of splitting the work is live (another shard count, or a single leader); holding no shard until it is gone");
                        waiting_logged = true;
                    }
                    let all: Vec<u32> = held.keys().copied().collect();
                    release_all(&mut held, &all).await;
                } else {
                    waiting_logged = false;
                    let mut settled = seen.settled;
                    if !settled.contains(&me) {
                        settled.push(me.clone());
                    }
                    // Shares handed over are computed among the settled members; a free shard
                    // is left to any live member's share (one that just joined takes its share at
                    // once instead of waiting for a hand-over).
                    let members: Vec<&str> = settled.iter().map(String::as_str).collect();
                    let mut live = seen.live;
                    if !live.contains(&me) {
                        live.push(me.clone());
                    }
                    let live: Vec<&str> = live.iter().map(String::as_str).collect();
                    // Who holds each shard now, by its lease (this replica's own by what it holds).
                    let mut takeable = Vec::with_capacity(candidates.len());
                    let mut holders: Vec<Option<String>> = Vec::with_capacity(candidates.len());
                    for shard in 0..sharding.shards {
                        let name = sharding.shard_lease(shard);
                        let lease = list.items.iter().find(|l| l.name_any() == name);
                        let free = candidates[shard as usize].observe(lease);
                        takeable.push(free);
                        holders.push(if held.contains_key(&shard) {
                            Some(me.clone())
                        } else if free {
                            None
                        } else {
                            lease.and_then(|l| l.spec.as_ref()?.holder_identity.clone())
                        });
                    }
                    let mut handing = Vec::new();
                    // One shard at a time, held a while first: a shard does not bounce between two
                    // replicas whose views differ for a moment.
                    if let Some(shard) = surplus(&me, &members, &as_refs(&holders))
                        && held
                            .get(&shard)
                            .is_some_and(|h| h.since.elapsed() >= timing.lease_duration * 2)
                    {
                        tracing::info!(
                            shard,
                            "sharding: handing the shard over (more than this replica's share)"
                        );
                        handing.push(shard);
                    }
                    for shard in 0..sharding.shards {
                        let i = shard as usize;
                        if held.contains_key(&shard) {
                            continue;
                        }
                        free_since[i] = if takeable[i] {
                            free_since[i].or(Some(Instant::now()))
                        } else {
                            None
                        };
                        let orphaned = free_since[i].is_some_and(|t| t.elapsed() >= timing.lease_duration);
                        let mine = taker(&live, &as_refs(&holders), shard) == Some(me.as_str());
                        if takeable[i]
                            && !first_look
                            && (mine || orphaned)
                            && let Some(leadership) = candidates[i].attempt().await
                        {
                            let (stop, stopped) = watch::channel(false);
                            let task = start(shard, leadership.fence(), stopped);
                            tracing::info!(shard, shards = sharding.shards, "sharding: reconciling the shard");
                            held.insert(
                                shard,
                                Held {
                                    leadership,
                                    stop,
                                    task,
                                    since: Instant::now(),
                                },
                            );
                            free_since[i] = None;
                            holders[i] = Some(me.clone());
                        }
                    }
                    release_all(&mut held, &handing).await;
                }
            }
        }
        first_look = false;
        METRICS.set_shards_held(held.len());
        tokio::select! {
            () = sleep(timing.retry_period) => {}
            _ = shutdown.wait_for(|s| *s) => break Ok(()),
            () = member.lost() => break Err(ManagerError::LeadershipLost),
        }
    };
    // The controllers end on the signal by themselves; each shard's lease is freed once they have.
    let all: Vec<u32> = held.keys().copied().collect();
    release_all(&mut held, &all).await;
    METRICS.set_shards_held(0);
    outcome?;
    member.release().await;
    forget(&api, &member_name, None, timing.renew_deadline).await;
    tracing::info!("sharding: left");
    Ok(())
}

/// Deletes a member lease: a dead one another replica left (at the version seen, so a member
/// that came back is kept), or this replica's own when it leaves.
async fn forget(api: &Api<Lease>, name: &str, version: impl Into<Option<String>>, within: Duration) {
    let params = DeleteParams {
        preconditions: version.into().map(|v| Preconditions {
            resource_version: Some(v),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    match timeout(within, api.delete(name, &params)).await {
        Ok(Ok(_)) => tracing::info!(lease = name, "sharding: member lease deleted"),
        Ok(Err(kube::Error::Api(e))) if e.code == 404 || e.code == 409 => {}
        Ok(Err(e)) => tracing::warn!(lease = name, error = %e, "sharding: cannot delete a member lease"),
        Err(_) => tracing::warn!(lease = name, "sharding: deleting a member lease did not answer"),
    }
}
