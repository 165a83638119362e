//! Kubernetes Events (`events.k8s.io/v1`) about the operator's objects. Equal Events (same object,
//! type, reason and action) within [`FOLD_FOR`] of each other are folded into one counted series,
//! as kube-runtime's `Recorder` does, so a retried failure does not fill etcd with Events.
//!
//! Unlike kube-runtime's, it remembers only what folding needs (when the series began, which names
//! its Event, its count and when it was last seen: 48 bytes and no allocation of its own), not a
//! copy of every Event sent, and forgets an entry once it can no longer fold, whether or not
//! anything is published after it (a pass every [`FOLD_FOR`]). kube-runtime's kept every Event of
//! the last six minutes, and all of them until the next one was published (after a thousand stacks
//! converged, some 15,000 Events of about 2 KiB each, held until the next change). The table gives
//! its room back once most of it is forgotten: converging, every object publishes an Event per
//! step it applies, and a table sized for that burst (1.6 MB at 300 stacks, with a copy of each
//! Event's namespace and name) was kept at that size once they converged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};

use crate::model::hash_of;

/// How long after an Event an equal one is folded into its series (kube-runtime's figure).
pub const FOLD_FOR: SignedDuration = SignedDuration::from_mins(6);

/// What folding needs of an Event sent: its name is its object's and `first`'s
/// ([`Recorder::name`]), its namespace its object's.
struct Sent {
    first: Timestamp,
    count: i32,
    last: Timestamp,
}

type Table = Mutex<HashMap<u64, Sent>>;

/// Publishes Events, folding equal ones (see the module's documentation).
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    sent: Arc<Table>,
}

impl Recorder {
    /// Within a Tokio runtime, also starts the pass that forgets what can no longer fold (it ends
    /// with the last clone of the recorder).
    pub fn new(client: Client, reporter: Reporter) -> Recorder {
        let sent = Arc::<Table>::default();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(forget_expired(Arc::downgrade(&sent)));
        }
        Recorder { client, reporter, sent }
    }

    /// Creates the Event about `regarding`, or counts it in the series of an equal one sent
    /// within [`FOLD_FOR`].
    pub async fn publish(&self, ev: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = key(ev, regarding);
        let fold = {
            let mut sent = self.lock();
            forget(&mut sent, now);
            sent.get_mut(&key).map(|s| {
                s.count += 1;
                s.last = now;
                (s.first, s.count)
            })
        };
        if let Some((first, count)) = fold {
            let series = serde_json::json!({
                "series": {"count": count, "lastObservedTime": MicroTime(now)},
            });
            let folded = Api::<K8sEvent>::namespaced(self.client.clone(), &namespace(regarding))
                .patch(
                    &self.name(regarding, first),
                    &PatchParams::default(),
                    &Patch::Merge(&series),
                )
                .await;
            match folded {
                Ok(_) => return Ok(()),
                // Gone (expired, or deleted by someone): a new one.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = self.event(ev, regarding, now);
        Api::<K8sEvent>::namespaced(self.client.clone(), &namespace(regarding))
            .create(&PostParams::default(), &event)
            .await?;
        self.lock().insert(
            key,
            Sent {
                first: now,
                count: 1,
                last: now,
            },
        );
        Ok(())
    }

    /// The name of the Event about `regarding` first sent at `first`.
    fn name(&self, regarding: &ObjectReference, first: Timestamp) -> String {
        format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.reporter.controller),
            first.as_nanosecond()
        )
    }

    /// How many Events it can still fold.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.lock().len()
    }

    fn event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let instance = self
            .reporter
            .instance
            .clone()
            .unwrap_or_else(|| self.reporter.controller.clone());
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(self.name(regarding, now)),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(instance),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            related: ev.secondary.clone(),
            ..K8sEvent::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Sent>> {
        lock(&self.sent)
    }
}

fn lock(sent: &Table) -> std::sync::MutexGuard<'_, HashMap<u64, Sent>> {
    sent.lock().unwrap_or_else(|e| e.into_inner())
}

/// The namespace an Event about `regarding` is in.
fn namespace(regarding: &ObjectReference) -> String {
    regarding.namespace.clone().unwrap_or_else(|| "default".into())
}

/// Forgets the Events that can no longer fold at `now`, and gives the table's room back once it is
/// less than a quarter full.
fn forget(sent: &mut HashMap<u64, Sent>, now: Timestamp) {
    sent.retain(|_, s| s.last + FOLD_FOR > now);
    if sent.capacity() > 64 && sent.len() * 4 < sent.capacity() {
        sent.shrink_to(sent.len() * 2);
    }
}

/// Every [`FOLD_FOR`], forgets what can no longer fold, until the recorder is gone.
async fn forget_expired(sent: Weak<Table>) {
    let period = FOLD_FOR.unsigned_abs();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(sent) = sent.upgrade() else { return };
        forget(&mut lock(&sent), Timestamp::now());
    }
}

/// What makes two Events equal: the object (by uid, else by kind, namespace and name), the
/// type, reason and action, and the related object.
fn key(ev: &Event, regarding: &ObjectReference) -> u64 {
    let object = |r: &ObjectReference| (r.uid.clone(), r.kind.clone(), r.namespace.clone(), r.name.clone());
    hash_of(&(
        object(regarding),
        matches!(ev.type_, EventType::Warning),
        &ev.reason,
        &ev.action,
        ev.secondary.as_ref().map(object),
    ))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// An API server that answers every request with one Event, recording each request's line.
    async fn answering_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        // One request per read is enough for these small requests.
                        let n = stream.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]).to_string();
                        let line = text.lines().next().unwrap_or_default().to_string();
                        record.lock().unwrap().push(line);
                        let body = r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"web.1","namespace":"team-a"},"eventTime":"2026-12-04T00:00:00.000000Z"}"#;
                        let answer = format!(
                            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    fn regarding(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("webstack.io/v1alpha1".into()),
            kind: Some("TargetGroup".into()),
            namespace: Some("team-a".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    fn event(reason: &str, action: &str) -> Event {
        Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some("it failed".into()),
            action: action.into(),
            secondary: None,
        }
    }

    #[tokio::test]
    async fn equal_events_are_folded_into_a_series_and_only_their_names_are_kept() {
        let (url, seen) = answering_server().await;
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let reporter = Reporter {
            controller: "webstack-operator".into(),
            instance: None,
        };
        let recorder = Recorder::new(client, reporter);
        let failed = event("ReconcileFailed", "Reconcile");
        recorder.publish(&failed, &regarding("web")).await.unwrap();
        recorder.publish(&failed, &regarding("web")).await.unwrap();
        recorder.publish(&failed, &regarding("web")).await.unwrap();
        // Another object, or another action: an Event of its own.
        recorder.publish(&failed, &regarding("api")).await.unwrap();
        recorder
            .publish(&event("ReconcileFailed", "CreateTargetGroup"), &regarding("web"))
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        let methods: Vec<&str> = seen.iter().map(|l| l.split(' ').next().unwrap_or_default()).collect();
        assert_eq!(methods, ["POST", "PATCH", "PATCH", "POST", "POST"], "{seen:?}");
        // The series is the Event created first: its name is the object's and the first time's.
        let first = recorder.lock().values().map(|s| (s.count, s.first)).max().unwrap();
        assert_eq!(first.0, 3);
        let created = recorder.name(&regarding("web"), first.1);
        assert!(
            seen[1].starts_with(&format!(
                "PATCH /apis/events.k8s.io/v1/namespaces/team-a/events/{created}?"
            )),
            "{seen:?} {created}"
        );
        assert_eq!(recorder.remembered(), 3);
    }

    #[test]
    fn what_can_no_longer_fold_is_forgotten_and_the_room_given_back() {
        let t0 = Timestamp::now();
        let mut sent: HashMap<u64, Sent> = (0..10_000)
            .map(|i| {
                let last = if i < 10 { t0 + FOLD_FOR } else { t0 };
                (
                    i,
                    Sent {
                        first: t0,
                        count: 1,
                        last,
                    },
                )
            })
            .collect();
        let burst = sent.capacity();
        // Within FOLD_FOR of the last time seen: kept.
        forget(&mut sent, t0 + FOLD_FOR - SignedDuration::from_secs(1));
        assert_eq!(sent.len(), 10_000);
        forget(&mut sent, t0 + FOLD_FOR);
        assert_eq!(sent.len(), 10);
        assert!(sent.capacity() < burst / 100, "{} of {burst}", sent.capacity());
        assert!((0..10).all(|i| sent.contains_key(&i)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_recorder_forgets_too() {
        let recorder = Recorder::new(
            Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap(),
            Reporter {
                controller: "webstack-operator".into(),
                instance: None,
            },
        );
        let long_ago = Timestamp::now() - FOLD_FOR;
        recorder.lock().insert(
            1,
            Sent {
                first: long_ago,
                count: 1,
                last: long_ago,
            },
        );
        // No Event published after it: the pass every FOLD_FOR forgets it.
        tokio::time::sleep(std::time::Duration::from_secs(361)).await;
        assert_eq!(recorder.remembered(), 0);
    }
}
