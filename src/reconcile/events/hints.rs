//! Drift events across shards (`--shards` with `--events`): one replica, the holder of shard 0,
//! reads the queues, heartbeats and sweeps; the other replicas' objects are named in events it
//! cannot resolve (the index that maps identifiers to objects is built by each replica's own
//! reconciles). So it hands the identifiers over through the API server.
//!
//! A hint is carried by one ConfigMap, `<leader-election-id>-events` in the lease namespace,
//! written by the pipeline's replica only:
//! - `batch-<seq>`: a batch of identifiers (an event's, or the resources a sweep found changed or
//!   gone), its first line the writer's identity; the last [`RING`] batches are kept, at most
//!   [`RING_BYTES`] in all, under `seq`, the last batch's number;
//! - `health` and `reach`: the pipeline's health and where it hears of changes, which set every
//!   replica's re-check periods;
//! - `beat`: a counter bumped every `--events-heartbeat`: a replica that sees it unchanged for two
//!   heartbeats (by its own clock) takes the pipeline as degraded, as when a heartbeat is lost;
//! - `sweeps`: a counter bumped by every successful sweep, `0` after a failed one: a replica that
//!   saw it bumped twice, the last time within two sweep periods, takes its WebStacks and
//!   TargetGroups holding a swept resource as covered by the sweep (what changes or vanishes of
//!   theirs comes as a batch).
//!
//! Every replica watches the ConfigMap, resolves each new batch it did not write against its own
//! index and reconciles the objects named (deep, as an event's). A batch it missed (fallen out of
//! the ring, or the ConfigMap recreated) is a lost event: every object it holds is re-checked. A
//! number with no batch is such a gap on purpose: a pipeline starting leaves one (the events the
//! last pipeline had taken from the queue but not handed over died with it), and so does a writer
//! that had to drop identifiers it could not write.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Events, Health, Reach};
use crate::metrics::METRICS;

/// How many batches the ConfigMap keeps.
pub const RING: usize = 64;
/// How many bytes of batches the ConfigMap keeps at most (a ConfigMap holds 1 MiB).
pub const RING_BYTES: usize = 512 * 1024;
/// The most identifiers in one batch.
const BATCH_IDS: usize = 2_000;
/// How long the writer gathers notes before it writes them in one update.
const GATHER: Duration = Duration::from_secs(1);
/// The most identifiers the writer keeps while it cannot write: past it, they are dropped for a
/// gap (every other replica re-checks everything).
const PENDING_IDS: usize = 20_000;

/// What the pipeline's replica tells the others.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// Identifiers an event or a sweep named.
    Ids(Vec<String>),
    Health(Health),
    Reach(Reach),
    /// A heartbeat period went by with the pipeline running.
    Beat,
    /// A pipeline starts here: what the last one had not handed over is lost (a gap).
    Restart,
    /// Identifiers were dropped unwritten (a gap).
    Gap,
    /// A sweep ended: it worked, or not.
    Swept(bool),
}

/// The ConfigMap: its namespace and name, and this replica's identity.
#[derive(Clone, Debug)]
pub struct Place {
    pub namespace: String,
    pub name: String,
    pub me: String,
}

impl Place {
    /// The ConfigMap of the lease settings `<id>` in `namespace`.
    pub fn of(namespace: &str, id: &str, me: &str) -> Place {
        Place {
            namespace: namespace.to_string(),
            name: format!("{id}-events"),
            me: me.to_string(),
        }
    }
}

fn health_name(h: Health) -> &'static str {
    match h {
        Health::Off => "off",
        Health::Waiting => "waiting",
        Health::Healthy => "healthy",
        Health::Degraded => "degraded",
    }
}

fn health_of(s: &str) -> Option<Health> {
    Some(match s {
        "off" => Health::Off,
        "waiting" => Health::Waiting,
        "healthy" => Health::Healthy,
        "degraded" => Health::Degraded,
        _ => return None,
    })
}

fn seq_of(data: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    data.get(key)?.parse().ok()
}

/// The ConfigMap's data after `notes` (gathered, in order) are written by `me` into `data`.
pub fn written(mut data: BTreeMap<String, String>, me: &str, notes: &[Note]) -> BTreeMap<String, String> {
    let mut seq = seq_of(&data, "seq").unwrap_or(0);
    let mut ids: Vec<&str> = Vec::new();
    let mut seen = BTreeSet::new();
    for note in notes {
        match note {
            Note::Ids(list) => ids.extend(list.iter().map(String::as_str).filter(|id| seen.insert(*id))),
            Note::Health(h) => {
                data.insert("health".into(), health_name(*h).into());
            }
            Note::Reach(r) => {
                let json = serde_json::json!({"regional": r.regional, "global": r.global});
                data.insert("reach".into(), json.to_string());
            }
            Note::Beat => {
                let beat = seq_of(&data, "beat").unwrap_or(0) + 1;
                data.insert("beat".into(), beat.to_string());
            }
            // A number without a batch.
            Note::Gap => seq += 1,
            // And the sweeps start over: its first sweep only records.
            Note::Restart => {
                seq += 1;
                data.insert("sweeps".into(), "0".into());
            }
            Note::Swept(ok) => {
                let sweeps = if *ok {
                    seq_of(&data, "sweeps").unwrap_or(0) + 1
                } else {
                    0
                };
                data.insert("sweeps".into(), sweeps.to_string());
            }
        }
    }
    data.insert("writer".into(), me.to_string());
    for chunk in ids.chunks(BATCH_IDS) {
        seq += 1;
        let mut batch = String::from(me);
        for id in chunk {
            batch.push('\n');
            batch.push_str(id);
        }
        data.insert(format!("batch-{seq}"), batch);
    }
    data.insert("seq".into(), seq.to_string());
    // The oldest batches go first: past RING batches or RING_BYTES.
    let mut kept: Vec<(u64, usize)> = data
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("batch-")?.parse().ok()?, v.len())))
        .collect();
    kept.sort_unstable();
    let mut bytes: usize = kept.iter().map(|(_, n)| n).sum();
    let mut count = kept.len();
    for (s, n) in kept {
        if count <= RING && bytes <= RING_BYTES {
            break;
        }
        data.remove(&format!("batch-{s}"));
        count -= 1;
        bytes -= n;
    }
    data
}

/// What a replica has read of the ConfigMap so far.
#[derive(Debug, Default)]
pub struct Follower {
    seq: Option<u64>,
    sweeps: Option<u64>,
    beat: Option<String>,
    /// The ConfigMap's uid: another is a recreated one.
    uid: Option<String>,
}

/// What one look at the ConfigMap found.
#[derive(Debug, Default, PartialEq)]
pub struct Reading {
    /// Identifiers of batches another replica wrote since the last look.
    pub ids: BTreeSet<String>,
    /// A batch was missed: every object is to be re-checked.
    pub gap: bool,
    pub health: Option<Health>,
    pub reach: Option<Reach>,
    /// The beat changed since the last look (not at the first).
    pub beat: bool,
    /// The sweeps counter: `Some(true)` bumped since the last look, `Some(false)` reset (a
    /// failed sweep), `None` unchanged (or the first look).
    pub swept: Option<bool>,
}

impl Follower {
    /// Reads `data` as `me`. The first look takes nothing from the batches (every object is
    /// reconciled at start anyway).
    pub fn read(&mut self, uid: Option<&str>, data: &BTreeMap<String, String>, me: &str) -> Reading {
        let mut reading = Reading {
            health: data.get("health").and_then(|h| health_of(h)),
            reach: data.get("reach").and_then(|r| {
                let v: serde_json::Value = serde_json::from_str(r).ok()?;
                Some(Reach {
                    regional: serde_json::from_value(v["regional"].clone()).ok()?,
                    global: v["global"].as_bool()?,
                })
            }),
            ..Reading::default()
        };
        let beat = data.get("beat").cloned();
        reading.beat = self.seq.is_some() && beat.is_some() && beat != self.beat;
        self.beat = beat;
        let sweeps = seq_of(data, "sweeps");
        reading.swept = match (self.seq.and(self.sweeps), sweeps) {
            (Some(before), Some(now)) if now > before => Some(true),
            (Some(before), Some(0)) if before > 0 => Some(false),
            _ => None,
        };
        self.sweeps = sweeps;
        let seq = seq_of(data, "seq").unwrap_or(0);
        let recreated = self.uid.is_some() && uid.is_some() && self.uid.as_deref() != uid;
        if uid.is_some() {
            self.uid = uid.map(String::from);
        }
        match self.seq {
            None => {}
            Some(_) if recreated => reading.gap = true,
            // Recreated (or rewound): what was written since the last look is unknown.
            Some(last) if seq < last => reading.gap = true,
            Some(last) => {
                for s in last + 1..=seq {
                    match data.get(&format!("batch-{s}")) {
                        None => reading.gap = true,
                        Some(batch) => {
                            let mut lines = batch.lines();
                            if lines.next() != Some(me) {
                                reading.ids.extend(lines.filter(|l| !l.is_empty()).map(String::from));
                            }
                        }
                    }
                }
            }
        }
        self.seq = Some(seq);
        reading
    }
}

/// Sharded with events on: `events` hands its notes to the writer of `place` while this replica
/// runs the pipeline, and follows what the pipeline's replica writes there, until the process
/// stops (both in the background).
pub fn start(client: &Client, place: Place, events: &Arc<Events>, options: &super::Options) {
    events.configure(options);
    let (notes, written) = mpsc::unbounded_channel();
    events.hand_over_to(notes);
    tokio::spawn(write(client.clone(), place.clone(), events.clone(), written));
    tokio::spawn(follow(client.clone(), place, events.clone(), options.heartbeat));
}

/// Writes the notes of the pipeline's replica into the ConfigMap, gathering them for [`GATHER`]
/// so that a burst of events is one update, until the process stops.
async fn write(client: Client, place: Place, events: Arc<Events>, mut notes: mpsc::UnboundedReceiver<Note>) {
    let api: Api<ConfigMap> = Api::namespaced(client, &place.namespace);
    let mut pending: Vec<Note> = Vec::new();
    loop {
        if pending.is_empty() {
            match notes.recv().await {
                Some(n) => pending.push(n),
                None => return,
            }
        }
        let until = Instant::now() + GATHER;
        while let Ok(Some(n)) = tokio::time::timeout_at(until, notes.recv()).await {
            pending.push(n);
        }
        pending = bounded(pending, events.local());
        if pending.is_empty() {
            continue;
        }
        match update(&api, &place, &pending).await {
            Ok(seq) => {
                tracing::debug!(seq, notes = pending.len(), "drift events: hints written");
                pending.clear();
            }
            Err(e) => {
                // Kept, and written with the next ones: the others wait for them meanwhile.
                tracing::warn!(configmap = %place.name, error = %e, "drift events: cannot write the hints for the other shards; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// The notes to write: the pipeline's state only while it still runs here (a pipeline that
/// stopped does not overwrite the next one's), and at most [`PENDING_IDS`] identifiers (past it,
/// a gap instead).
fn bounded(pending: Vec<Note>, local: bool) -> Vec<Note> {
    let ids: usize = pending
        .iter()
        .map(|n| if let Note::Ids(i) = n { i.len() } else { 0 })
        .sum();
    let mut out: Vec<Note> = pending
        .into_iter()
        .filter(|n| match n {
            Note::Ids(_) => ids <= PENDING_IDS,
            Note::Health(_) | Note::Reach(_) | Note::Beat | Note::Swept(_) => local,
            Note::Restart | Note::Gap => true,
        })
        .collect();
    if ids > PENDING_IDS {
        tracing::warn!(
            ids,
            "drift events: too many hints waiting to be written; dropped, the other replicas re-check everything"
        );
        out.push(Note::Gap);
    }
    out
}

/// One read-modify-write of the ConfigMap (created if missing; a conflict is read again).
async fn update(api: &Api<ConfigMap>, place: &Place, notes: &[Note]) -> Result<u64, kube::Error> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let existing = api.get_opt(&place.name).await?;
        let exists = existing.is_some();
        let mut cm = existing.unwrap_or_else(|| ConfigMap {
            metadata: ObjectMeta {
                name: Some(place.name.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/name".to_string(),
                    "webstack-operator".to_string(),
                )])),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        });
        let data = written(cm.data.take().unwrap_or_default(), &place.me, notes);
        let seq = seq_of(&data, "seq").unwrap_or(0);
        cm.data = Some(data);
        let result = if exists {
            api.replace(&place.name, &PostParams::default(), &cm).await
        } else {
            api.create(&PostParams::default(), &cm).await
        }
        .map(|_| seq);
        match result {
            Err(kube::Error::Api(e)) if (e.code == 409) && attempts < 5 => continue,
            other => return other,
        }
    }
}

/// Follows the ConfigMap until the process stops: reconciles the objects of this replica that the
/// other replicas' batches name, and, while this replica does not run the pipeline itself, takes
/// its health and reach from it (degraded when the beat stops for two heartbeats).
async fn follow(client: Client, place: Place, events: Arc<Events>, heartbeat: Duration) {
    let api: Api<ConfigMap> = Api::namespaced(client, &place.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", place.name));
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut follower = Follower::default();
    // When the beat last moved (`None`: not seen moving yet).
    let mut beat_seen: Option<Instant> = None;
    let mut check = tokio::time::interval(heartbeat / 4);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = stream.next() => {
                let cm = match event {
                    None => return,
                    Some(Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm))) => cm,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        tracing::info!(error = %e, "drift events: watching the hints failed; retrying");
                        continue;
                    }
                };
                let uid = cm.metadata.uid.clone();
                let reading = follower.read(uid.as_deref(), &cm.data.unwrap_or_default(), &place.me);
                if reading.beat {
                    beat_seen = Some(Instant::now());
                }
                take(&events, reading, Beat::of(beat_seen, heartbeat));
            }
            _ = check.tick() => {
                // The pipeline's replica is gone, or stuck: what it said no longer holds.
                if let Beat::Stale = Beat::of(beat_seen, heartbeat) {
                    take(&events, Reading::default(), Beat::Stale);
                }
            }
        }
    }
}

/// Whether the pipeline's replica is seen running: its beat moved within two heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Beat {
    /// Not seen moving since this replica started: a published `healthy` may be an old one's.
    Never,
    Fresh,
    Stale,
}

impl Beat {
    fn of(seen: Option<Instant>, heartbeat: Duration) -> Beat {
        match seen {
            None => Beat::Never,
            Some(t) if t.elapsed() > heartbeat * 2 => Beat::Stale,
            Some(_) => Beat::Fresh,
        }
    }
}

/// The health to take from what the pipeline's replica published: healthy only while its beat
/// moves.
fn mirrored(published: Option<Health>, beat: Beat) -> Option<Health> {
    match (published, beat) {
        (Some(Health::Healthy), Beat::Never) => Some(Health::Waiting),
        (Some(Health::Healthy) | None, Beat::Stale) => Some(Health::Degraded),
        (h, _) => h,
    }
}

/// What a look found, applied: hinted objects reconciled, a gap re-checks all, and the health and
/// reach of the pipeline taken while another replica runs it.
fn take(events: &Events, reading: Reading, beat: Beat) {
    if reading.gap {
        tracing::warn!("drift events: hints were missed; re-checking every object");
        events.recheck_all();
    }
    let owners = events.index.owners(reading.ids.iter().map(String::as_str));
    for o in &owners {
        let sent = events.trigger(o);
        tracing::info!(kind = o.kind, namespace = %o.namespace, name = %o.name, sent, "drift hint from the pipeline's replica: reconciling");
    }
    if !owners.is_empty() {
        METRICS.event("hinted");
    }
    if let Some(ok) = reading.swept {
        events.sweeps.remote(ok);
    }
    let health = mirrored(reading.health, beat);
    if beat == Beat::Stale && events.health() == Health::Healthy && !events.local() {
        tracing::warn!("drift events: the pipeline's replica has not beaten for two heartbeats");
    }
    events.mirror(health.filter(|h| *h != events.health()), reading.reach);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Note {
        Note::Ids(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn batches_go_to_the_other_replicas_once() {
        let mut a = Follower::default();
        let mut b = Follower::default();
        let data = written(BTreeMap::new(), "a", &[Note::Health(Health::Waiting), Note::Beat]);
        // A first look takes nothing from the batches.
        let first = b.read(None, &data, "b");
        assert_eq!(
            (first.health, first.beat, first.gap),
            (Some(Health::Waiting), false, false)
        );
        a.read(None, &data, "a");
        let reach = Reach {
            regional: ["eu-west-1".to_string()].into(),
            global: true,
        };
        let data = written(
            data,
            "a",
            &[
                ids(&["sg-1", "sg-2"]),
                ids(&["sg-2", "vpc-1"]),
                Note::Reach(reach.clone()),
            ],
        );
        let seen = b.read(None, &data, "b");
        assert_eq!(seen.ids, ["sg-1", "sg-2", "vpc-1"].map(String::from).into());
        assert_eq!(seen.reach, Some(reach));
        assert!(!seen.beat, "unchanged");
        assert!(a.read(None, &data, "a").ids.is_empty(), "its own batch");
        assert!(b.read(None, &data, "b").ids.is_empty(), "once");
        // Another writer (shard 0 moved): its batches reach the former writer.
        let data = written(data, "b", &[ids(&["sg-3"]), Note::Beat]);
        let seen = a.read(None, &data, "a");
        assert_eq!(seen.ids, ["sg-3".to_string()].into());
        assert!(seen.beat);
    }

    #[test]
    fn the_ring_keeps_the_last_batches_and_a_missed_one_is_a_gap() {
        let mut b = Follower::default();
        let mut data = written(BTreeMap::new(), "a", &[ids(&["sg-0"])]);
        b.read(None, &data, "b");
        for n in 1..=RING + 5 {
            data = written(data, "a", &[ids(&[&format!("sg-{n}")])]);
        }
        assert_eq!(data.keys().filter(|k| k.starts_with("batch-")).count(), RING);
        let seen = b.read(None, &data, "b");
        assert!(seen.gap, "5 batches fell out of the ring");
        assert_eq!(seen.ids.len(), RING);
        // Big batches: split, and bounded in bytes.
        let many: Vec<String> = (0..BATCH_IDS * 3).map(|n| format!("arn:aws:x:{n:0>200}")).collect();
        let data = written(data, "a", &[Note::Ids(many)]);
        let bytes: usize = data
            .iter()
            .filter(|(k, _)| k.starts_with("batch-"))
            .map(|(_, v)| v.len())
            .sum();
        assert!(bytes <= RING_BYTES, "{bytes}");
        assert!(b.read(None, &data, "b").gap);
        // Recreated: a gap.
        let fresh = written(BTreeMap::new(), "a", &[ids(&["sg-x"])]);
        assert!(b.read(None, &fresh, "b").gap);
        assert!(!b.read(None, &fresh, "b").gap);
        // Recreated and written past the last number seen: its uid tells.
        let mut c = Follower::default();
        c.read(Some("uid-1"), &fresh, "c");
        let mut again = written(BTreeMap::new(), "a", &[ids(&["sg-y"])]);
        for n in 0..3 {
            again = written(again, "a", &[ids(&[&format!("sg-{n}")])]);
        }
        assert!(c.read(Some("uid-2"), &again, "c").gap);
        assert!(!c.read(Some("uid-2"), &again, "c").gap);
    }

    #[test]
    fn a_pipeline_starting_and_dropped_identifiers_leave_gaps() {
        let mut b = Follower::default();
        let data = written(BTreeMap::new(), "a", &[Note::Restart, Note::Beat]);
        assert!(!b.read(None, &data, "b").gap, "a first look");
        // Shard 0 moved: the next pipeline's start is a gap for everyone, itself included.
        let data = written(data, "c", &[Note::Restart, ids(&["sg-1"])]);
        let seen = b.read(None, &data, "b");
        assert!(seen.gap);
        assert_eq!(seen.ids, ["sg-1".to_string()].into());
        // Too many identifiers waiting: dropped for a gap; a stopped pipeline's state is not
        // written.
        let many = Note::Ids((0..=PENDING_IDS).map(|n| n.to_string()).collect());
        let kept = bounded(
            vec![many, Note::Health(Health::Healthy), Note::Beat, ids(&["sg-2"])],
            false,
        );
        assert_eq!(kept, [Note::Gap]);
        let kept = bounded(vec![ids(&["sg-2"]), Note::Beat], true);
        assert_eq!(kept, [ids(&["sg-2"]), Note::Beat]);
        assert!(b.read(None, &written(data, "c", &kept), "b").beat);
    }

    #[test]
    fn sweeps_are_counted_for_the_others() {
        let mut b = Follower::default();
        let data = written(BTreeMap::new(), "a", &[Note::Swept(true)]);
        assert_eq!(b.read(None, &data, "b").swept, None, "a first look");
        let data = written(data, "a", &[Note::Swept(true)]);
        assert_eq!(b.read(None, &data, "b").swept, Some(true));
        assert_eq!(b.read(None, &data, "b").swept, None);
        let data = written(data, "a", &[Note::Swept(false)]);
        assert_eq!(b.read(None, &data, "b").swept, Some(false));
        let data = written(data, "a", &[Note::Swept(true)]);
        assert_eq!(b.read(None, &data, "b").swept, Some(true));
        // A pipeline starting elsewhere: its sweeps count from zero.
        let data = written(data, "c", &[Note::Restart]);
        assert_eq!(b.read(None, &data, "b").swept, Some(false));
    }

    #[test]
    fn health_is_taken_only_while_the_pipeline_beats() {
        assert_eq!(mirrored(Some(Health::Healthy), Beat::Never), Some(Health::Waiting));
        assert_eq!(mirrored(Some(Health::Healthy), Beat::Fresh), Some(Health::Healthy));
        assert_eq!(mirrored(Some(Health::Healthy), Beat::Stale), Some(Health::Degraded));
        assert_eq!(mirrored(None, Beat::Stale), Some(Health::Degraded));
        assert_eq!(mirrored(Some(Health::Waiting), Beat::Stale), Some(Health::Waiting));
        assert_eq!(mirrored(None, Beat::Fresh), None);
        // Mirrored only while the pipeline does not run here.
        let events = Events::default();
        events.mirror(Some(Health::Healthy), None);
        assert_eq!(events.health(), Health::Healthy);
        *events.local.lock().unwrap() = true;
        events.mirror(Some(Health::Degraded), None);
        assert_eq!(events.health(), Health::Healthy);
    }
}
