//! Which replicas of a sharded operator are alive, from their member Leases (`<id>-member-<token>`,
//! each renewed by its replica like any lease): read from one LIST of the leases, timed by this
//! replica's own clock like an election (a member is alive while its lease changed within the
//! lease duration, as seen here), so clock skew between nodes does not matter.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::ResourceExt;
use tokio::time::Instant;

/// What a replica saw of a lease last, and when (by its own clock): a candidate of its lease, or
/// the members' view.
#[derive(Debug)]
pub(super) struct Observed {
    pub(super) holder: Option<String>,
    pub(super) renew: Option<MicroTime>,
    pub(super) at: Instant,
}

/// How many lease durations a member lease must stay unchanged before another replica deletes it
/// (a replica killed without its clean shutdown leaves it behind).
const FORGET_AFTER: u32 = 10;

pub struct Members {
    prefix: String,
    lease_duration: Duration,
    /// Per member lease: what was seen of it last, and since when it has been live (by this
    /// replica's clock; none while it is not).
    seen: HashMap<String, (Observed, Option<Instant>)>,
}

/// What one LIST says of the members.
#[derive(Debug, Default, PartialEq)]
pub struct Seen {
    /// The identities of the live members, sorted.
    pub live: Vec<String>,
    /// The names of their leases, sorted.
    pub live_leases: Vec<String>,
    /// The live members seen live here for at least a lease duration, sorted: a member that
    /// just joined (or whose loop is not yet seen going) is not given shards before then.
    pub settled: Vec<String>,
    /// Member leases long dead: name and the resourceVersion to delete them at.
    pub forgotten: Vec<(String, String)>,
}

impl Members {
    /// The members whose lease names start with `prefix`.
    pub fn new(prefix: &str, lease_duration: Duration) -> Self {
        Members {
            prefix: prefix.to_string(),
            lease_duration,
            seen: HashMap::new(),
        }
    }

    pub fn update(&mut self, leases: &[Lease]) -> Seen {
        let mut out = Seen::default();
        let now = Instant::now();
        let mut names = Vec::new();
        for lease in leases {
            let name = lease.name_any();
            if !name.starts_with(&self.prefix) {
                continue;
            }
            let spec = lease.spec.clone().unwrap_or_default();
            let holder = spec.holder_identity.filter(|h| !h.is_empty());
            let (seen, since) = self.seen.entry(name.clone()).or_insert_with(|| {
                let observed = Observed {
                    holder: holder.clone(),
                    renew: spec.renew_time.clone(),
                    at: now,
                };
                (observed, None)
            });
            if seen.holder != holder || seen.renew != spec.renew_time {
                *seen = Observed {
                    holder: holder.clone(),
                    renew: spec.renew_time.clone(),
                    at: now,
                };
            }
            let quiet = now.saturating_duration_since(seen.at);
            match holder {
                Some(h) if quiet < self.lease_duration => {
                    let since = *since.get_or_insert(now);
                    if now.saturating_duration_since(since) >= self.lease_duration {
                        out.settled.push(h.clone());
                    }
                    out.live.push(h);
                    out.live_leases.push(name.clone());
                }
                _ => {
                    *since = None;
                    if quiet >= self.lease_duration * FORGET_AFTER {
                        out.forgotten
                            .push((name.clone(), lease.resource_version().unwrap_or_default()));
                    }
                }
            }
            names.push(name);
        }
        self.seen.retain(|name, _| names.contains(name));
        for list in [&mut out.live, &mut out.live_leases, &mut out.settled] {
            list.sort();
            list.dedup();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::jiff::Timestamp;
    use kube::api::ObjectMeta;

    use super::*;

    fn lease(name: &str, holder: Option<&str>, renew: i64) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                resource_version: Some("7".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                renew_time: Some(MicroTime(Timestamp::from_second(renew).unwrap())),
                ..LeaseSpec::default()
            }),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn members_live_while_their_leases_change_and_are_forgotten_long_after() {
        let d = Duration::from_secs(6);
        let mut m = Members::new("op-member-", d);
        let list = |a: i64, b: i64| {
            vec![
                lease("op-member-a", Some("a_1"), a),
                lease("op-member-b", Some("b_1"), b),
                lease("op-shard-0", Some("a_1"), a),
                lease("op-member-c", None, 1),
            ]
        };
        // First sight: both held, so both live (a lease's renewTime is never trusted as a clock);
        // a released member lease is not. Neither is settled yet.
        let seen = m.update(&list(1, 1));
        assert_eq!(seen.live, ["a_1", "b_1"]);
        assert_eq!(seen.live_leases, ["op-member-a", "op-member-b"]);
        assert!(seen.settled.is_empty());
        // a keeps renewing, b stops: b is gone once unchanged for the lease duration here.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(m.update(&list(2, 1)).live, ["a_1", "b_1"]);
        tokio::time::advance(Duration::from_secs(3)).await;
        let seen = m.update(&list(3, 1));
        assert_eq!(seen.live, ["a_1"]);
        // a has been live for 7 s, a lease duration and more: settled.
        assert_eq!(seen.settled, ["a_1"]);
        assert!(seen.forgotten.is_empty());
        // Ten lease durations unchanged: b and the released c are for deleting.
        tokio::time::advance(d * FORGET_AFTER).await;
        let seen = m.update(&list(4, 1));
        assert_eq!(seen.live, ["a_1"]);
        assert_eq!(
            seen.forgotten,
            [
                ("op-member-b".to_string(), "7".to_string()),
                ("op-member-c".to_string(), "7".to_string())
            ]
        );
        // b comes back (renewed): live again at once, settled only a lease duration later.
        let seen = m.update(&list(5, 9));
        assert_eq!(seen.live, ["a_1", "b_1"]);
        assert_eq!(seen.settled, ["a_1"]);
        tokio::time::advance(d).await;
        assert_eq!(m.update(&list(6, 10)).settled, ["a_1", "b_1"]);
    }
}
