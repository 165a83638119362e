//! Drift events (`--events`): changes made to AWS behind the operator's back reach it as events
//! instead of being polled for.
//!
//! EventBridge rules forward CloudTrail's management events (`AWS API Call via CloudTrail`) of the
//! services the stacks use, leaving out the operator's own identity, and ECS's service events, to
//! an SQS queue; one long-poll loop per queue reads each event's identifiers
//! ([`message::read`]), finds the objects whose reconciles named them ([`Index`]) and reconciles
//! only those. IAM, Route 53 and CloudFront events arrive only in us-east-1, so a stack outside it
//! needs a second queue there.
//!
//! A heartbeat checks the whole path: every `--events-heartbeat` the operator tags its queue
//! ([`message::HEARTBEAT_TAG`]), a rule of its own forwards that TagQueue's CloudTrail event, and
//! the pipeline is healthy while each tag comes back before the next is written. While healthy,
//! objects are re-checked every `--events-resync-period` (long: events bring the changes); while
//! degraded (or not confirmed yet), every `--resync-period`, and on becoming degraded every
//! object is re-checked at once, since events may have been lost.
//!
//! Only what the queues hear is covered ([`Reach`]): an object whose reconcile called AWS with a
//! namespace's assumed role, or in a region whose regional events no queue reads, keeps the
//! `--resync-period` re-check however healthy the pipeline is.
//!
//! The batched sweep ([`sweep`]) is the safety net: every `--events-sweep-period` a few calls per
//! service read every resource of the swept types across all stacks, and only the objects whose
//! resources changed since the last sweep are reconciled; an object it covers is re-checked whole
//! only every `--events-swept-resync-period` while the pipeline is healthy.

pub mod hints;
pub mod index;
pub mod message;
pub mod sweep;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use futures::Stream;
use tokio::sync::{mpsc, watch};

pub use index::{Index, ObjectKey};
use message::{CLOUDTRAIL, Event, HEARTBEAT_TAG, Own};

use crate::aws::events::EventClients;
use crate::metrics::METRICS;
use crate::model::report;

/// `--events`: where drift events come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// None: every object is re-checked every `--resync-period`.
    Off,
    /// The operator creates (or updates) its queues and rules at start.
    Create,
    /// Queues made by the platform team (rules and queue policy included), by URL.
    Queues(Vec<String>),
}

impl Mode {
    /// `off`, `create`, or `queue=<url>[,<url>]`.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s.trim() {
            "off" => Ok(Mode::Off),
            "create" => Ok(Mode::Create),
            other => match other.strip_prefix("queue=") {
                Some(urls) => {
                    let urls: Vec<String> = urls
                        .split(',')
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(String::from)
                        .collect();
                    if urls.is_empty() || urls.iter().any(|u| !u.starts_with("http")) {
                        return Err(format!("`{s}`: queue= takes one or more queue URLs, comma-separated"));
                    }
                    Ok(Mode::Queues(urls))
                }
                None => Err(format!("`{s}` is not off, create or queue=<url>")),
            },
        }
    }
}

/// The pipeline's settings.
#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    /// How often the queue is tagged, and how long a tag may take to come back.
    pub heartbeat: Duration,
    /// The re-check period while the pipeline is healthy.
    pub resync: Duration,
    /// How often the batched sweep runs (zero: never).
    pub sweep: Duration,
    /// The re-check period, while the pipeline is healthy, of an object the sweep covers.
    pub swept_resync: Duration,
}

/// The pipeline's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Off,
    /// Running, no heartbeat back yet.
    Waiting,
    Healthy,
    /// A heartbeat did not come back in time.
    Degraded,
}

/// Where the objects of one kind that events name go, as `(namespace, name)`.
type Subscriber = mpsc::UnboundedSender<(String, String)>;

/// What the drivers and the pipeline share (in the reconcile context).
pub struct Events {
    pub index: Index,
    /// Each kind's subscribers (one per shard this replica holds).
    triggers: Mutex<HashMap<&'static str, Vec<Subscriber>>>,
    health: watch::Sender<Health>,
    /// Counts the times the pipeline went from healthy to degraded.
    lost: watch::Sender<u64>,
    /// Objects an event named: their next reconcile reads deep (what a settled one skips).
    deep: Mutex<HashSet<ObjectKey>>,
    /// The re-check periods while healthy: of every object, and of those a sweep covers.
    healthy_resync: Mutex<Option<(Duration, Duration)>>,
    /// What the batched sweeps found.
    pub sweeps: sweep::Sweeps,
    /// Where the pipeline hears of changes (`None`: not set up yet).
    reach: Mutex<Option<Reach>>,
    /// Objects whose last reconcile called AWS where no event of the pipeline's comes from (a
    /// namespace's assumed role, another region): re-checked every `--resync-period` whatever
    /// the pipeline's health.
    unheard: Mutex<HashSet<ObjectKey>>,
    /// Sharded: where the pipeline's replica hands the other replicas what they are to hear
    /// ([`hints`]).
    hints: Mutex<Option<mpsc::UnboundedSender<hints::Note>>>,
    /// Whether this replica runs the pipeline now (sharded: it holds shard 0). Held while the
    /// health is mirrored from another replica, so that a pipeline starting meanwhile has the
    /// last word.
    local: Mutex<bool>,
}

/// Where the pipeline hears of changes: the regional services' events of `regional`, the global
/// services' (IAM, Route 53, CloudFront: in us-east-1) if `global`, and only the changes made in
/// the operator's own account (the rules are the account's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub regional: BTreeSet<String>,
    pub global: bool,
}

impl Reach {
    /// The queues' reach: `create` makes a queue of the regional services' events in the home
    /// region and one of the global services' in us-east-1; queues the platform made are taken to
    /// be made the same way (docs/how-it-works.md), so a queue elsewhere adds nothing.
    fn of(home: &str, queue_regions: &[String]) -> Reach {
        Reach {
            regional: queue_regions.iter().filter(|r| *r == home).cloned().collect(),
            global: queue_regions.iter().any(|r| r == GLOBAL_REGION),
        }
    }

    /// Whether a change at `place` reaches the pipeline as an event.
    pub fn hears(&self, place: &crate::aws::ids::Place) -> bool {
        place.own
            && if place.global {
                self.global
            } else {
                self.regional.contains(&place.region)
            }
    }
}

impl Default for Events {
    fn default() -> Self {
        Events {
            index: Index::default(),
            triggers: Mutex::default(),
            health: watch::Sender::new(Health::Off),
            lost: watch::Sender::new(0),
            deep: Mutex::default(),
            healthy_resync: Mutex::default(),
            sweeps: sweep::Sweeps::default(),
            reach: Mutex::default(),
            unheard: Mutex::default(),
            hints: Mutex::default(),
            local: Mutex::new(false),
        }
    }
}

impl Events {
    /// The re-check period of a converged object: `base` unless the pipeline is healthy, longer
    /// still when a sweep covers the object.
    pub fn resync(&self, base: Duration, object: &ObjectKey) -> Duration {
        if self.unheard.lock().is_ok_and(|u| u.contains(object)) {
            return base;
        }
        match (*self.health.borrow(), self.healthy_resync.lock().ok().and_then(|r| *r)) {
            (Health::Healthy, Some((long, swept))) if self.covered(object) => swept.max(long).max(base),
            (Health::Healthy, Some((long, _))) => long.max(base),
            _ => base,
        }
    }

    pub fn health(&self) -> Health {
        *self.health.borrow()
    }

    /// Whether a sweep covers `object`: this replica's own, or (sharded, while another replica
    /// runs the pipeline) that replica's.
    fn covered(&self, object: &ObjectKey) -> bool {
        if self.sweeps.covers(object) {
            return true;
        }
        !self.local() && self.sweeps.covers_remotely(self.index.names_own(object))
    }

    fn set_health(&self, health: Health) {
        if self.local() {
            self.hint(hints::Note::Health(health));
        }
        self.apply_health(health);
    }

    /// The health and reach the pipeline's replica published, taken unless this replica runs the
    /// pipeline itself (checked and applied under one lock).
    fn mirror(&self, health: Option<Health>, reach: Option<Reach>) {
        let Ok(local) = self.local.lock() else { return };
        if *local {
            return;
        }
        if let Some(reach) = reach
            && let Ok(mut r) = self.reach.lock()
        {
            *r = Some(reach);
        }
        if let Some(health) = health {
            self.apply_health(health);
        }
    }

    fn apply_health(&self, health: Health) {
        let before = self.health.send_replace(health);
        // Leaving healthy (degraded, or a pipeline starting over elsewhere): objects waiting the
        // long re-check are re-checked now, since events may have been missed.
        if before == Health::Healthy && health != Health::Healthy {
            self.recheck_all();
        }
        if before != health {
            METRICS.events_healthy(match health {
                Health::Off => None,
                h => Some(h == Health::Healthy),
            });
            match health {
                Health::Degraded => {
                    tracing::warn!(
                        "drift events degraded: a heartbeat did not come back in time; re-checking every object now and every --resync-period until it does"
                    )
                }
                Health::Healthy => tracing::info!("drift events healthy: heartbeats come back"),
                _ => {}
            }
        }
    }

    /// The settings of a replica that does not run the pipeline now but may take it over, or
    /// follows the one that does (sharded): identifiers are recorded from the start, and the
    /// re-check periods are those of `options` once the pipeline is healthy.
    pub fn configure(&self, options: &Options) {
        if options.mode == Mode::Off {
            return;
        }
        crate::aws::ids::enable();
        if let Ok(mut r) = self.healthy_resync.lock() {
            *r = Some((options.resync, options.swept_resync));
        }
        self.sweeps.set_period(options.sweep);
        if self.health() == Health::Off {
            self.set_health(Health::Waiting);
        }
    }

    /// Sharded: notes for the other replicas go to `to` ([`hints::write`]) while this replica runs
    /// the pipeline.
    pub fn hand_over_to(&self, to: mpsc::UnboundedSender<hints::Note>) {
        if let Ok(mut h) = self.hints.lock() {
            *h = Some(to);
        }
    }

    /// Whether notes go to other replicas (sharded).
    pub fn handing_over(&self) -> bool {
        self.hints.lock().is_ok_and(|h| h.is_some())
    }

    fn hint(&self, note: hints::Note) {
        if let Ok(h) = self.hints.lock()
            && let Some(tx) = &*h
        {
            let _ = tx.send(note);
        }
    }

    /// Whether this replica runs the pipeline now.
    pub fn local(&self) -> bool {
        self.local.lock().is_ok_and(|l| *l)
    }

    fn set_reach(&self, reach: Reach) {
        if self.local() {
            self.hint(hints::Note::Reach(reach.clone()));
        }
        if let Ok(mut r) = self.reach.lock() {
            *r = Some(reach);
        }
    }

    /// Every object is re-checked (events may have been missed).
    fn recheck_all(&self) {
        self.lost.send_modify(|n| *n += 1);
    }

    /// The objects of `kind` events name, as `(namespace, name)` (every subscriber gets every
    /// one: each drops another shard's).
    pub fn subscribe(&self, kind: &'static str) -> impl Stream<Item = (String, String)> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut t) = self.triggers.lock() {
            let subscribers = t.entry(kind).or_default();
            subscribers.retain(|s| !s.is_closed());
            subscribers.push(tx);
        }
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
    }

    /// One item each time the pipeline becomes degraded after being healthy: every object is then
    /// re-checked.
    pub fn degradations(&self) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(self.lost.subscribe(), |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        })
    }

    /// Whether an event named the object since its last reconcile began (then it reads deep: the
    /// reads a settled object skips, such as tags, may be what the event changed). Asking clears it.
    /// With events on, the first reconcile of an object in this process (or since its shard came
    /// here) reads deep too: what events said of it before is not known here.
    pub fn take_deep(&self, kind: &'static str, namespace: &str, name: &str) -> bool {
        let key = ObjectKey::new(kind, namespace, name);
        let marked = self.deep.lock().is_ok_and(|mut d| d.remove(&key));
        marked || (self.health() != Health::Off && !self.index.holds(&key))
    }

    /// Whether an event named the object since its last reconcile began, without clearing it
    /// (as [`Events::take_deep`] does): its next reconcile is a correction, not a plain re-check.
    pub fn named(&self, kind: &'static str, namespace: &str, name: &str) -> bool {
        let key = ObjectKey::new(kind, namespace, name);
        self.deep.lock().is_ok_and(|d| d.contains(&key))
    }

    /// Where `object`'s reconcile called AWS: if anywhere the pipeline does not hear of (or before
    /// it is set up), the object is re-checked every `--resync-period`; a finished reconcile that
    /// called only where it hears lets it be re-checked less often again.
    pub fn placed(&self, object: &ObjectKey, places: &BTreeSet<crate::aws::ids::Place>, complete: bool) {
        let unheard = {
            let Ok(reach) = self.reach.lock() else { return };
            match &*reach {
                Some(reach) => places.iter().any(|p| !reach.hears(p)),
                None => !places.is_empty(),
            }
        };
        let Ok(mut set) = self.unheard.lock() else { return };
        if unheard {
            set.insert(object.clone());
        } else if complete && !places.is_empty() {
            set.remove(object);
        }
    }

    /// The objects of the namespaces `gone` says are no longer this replica's (a shard handed over
    /// or lost): forgotten as if deleted, so that nothing here acts on them.
    pub fn forget_namespaces(&self, gone: impl Fn(&str) -> bool) {
        self.forget_where(|o| gone(&o.namespace));
    }

    /// The objects `gone` says are gone or no longer this replica's: forgotten as if deleted; how
    /// many the index held.
    pub fn forget_where(&self, gone: impl Fn(&ObjectKey) -> bool) -> usize {
        let forgotten = self.index.forget_where(&gone);
        if let Ok(mut u) = self.unheard.lock() {
            u.retain(|o| !gone(o));
        }
        if let Ok(mut d) = self.deep.lock() {
            d.retain(|o| !gone(o));
        }
        self.sweeps.forget(&gone);
        forgotten
    }

    /// The object is gone: it owns no identifier and has no deep read pending.
    pub fn forget(&self, object: &ObjectKey) {
        self.index.forget(object);
        if let Ok(mut u) = self.unheard.lock() {
            u.remove(object);
        }
        if let Ok(mut d) = self.deep.lock() {
            d.remove(object);
        }
    }

    fn trigger(&self, object: &ObjectKey) -> bool {
        if let Ok(mut d) = self.deep.lock() {
            d.insert(object.clone());
        }
        let Ok(t) = self.triggers.lock() else { return false };
        let mut sent = false;
        for tx in t.get(object.kind).into_iter().flatten() {
            sent |= tx.send((object.namespace.clone(), object.name.clone())).is_ok();
        }
        sent
    }
}

/// This replica runs the pipeline while it lives.
struct Local<'a>(&'a Events);

impl<'a> Local<'a> {
    /// Sharded, the other replicas re-check every object when this pipeline's first hints land:
    /// the events a pipeline that stopped had taken from the queue but not handed over yet are
    /// lost with it.
    fn set(events: &'a Events) -> Self {
        if let Ok(mut l) = events.local.lock() {
            *l = true;
        }
        events.hint(hints::Note::Restart);
        Local(events)
    }
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        if let Ok(mut l) = self.0.local.lock() {
            *l = false;
        }
        // No sweep runs here any more: nothing is covered by one.
        self.0.sweeps.failed();
    }
}

/// One queue the pipeline reads.
#[derive(Clone)]
struct Queue {
    url: String,
    clients: EventClients,
}

/// The heartbeats written and not back yet, by queue URL.
#[derive(Default)]
struct Beats {
    pending: Mutex<BTreeMap<String, (String, Instant)>>,
}

impl Beats {
    /// A heartbeat came back: healthy unless another queue's is overdue.
    fn arrived(&self, events: &Events, url: &str, nonce: &str, deadline: Duration) {
        let Ok(mut pending) = self.pending.lock() else { return };
        if pending.get(url).is_some_and(|(n, _)| n == nonce) {
            pending.remove(url);
        }
        if pending.values().all(|(_, sent)| sent.elapsed() <= deadline) {
            events.set_health(Health::Healthy);
        }
    }
}

/// Runs the pipeline until SIGINT/SIGTERM (nothing with `--events off`). Setting up is retried
/// until it works; meanwhile objects are re-checked every `--resync-period`.
pub async fn run(ctx: Arc<super::Context>, options: Options) {
    if options.mode == Mode::Off {
        return;
    }
    ctx.events.configure(&options);
    // Sharded, this replica runs the pipeline until this returns (its shard 0 handed over).
    let _local = Local::set(&ctx.events);
    ctx.events.set_health(Health::Waiting);
    let mut shutdown = std::pin::pin!(super::tenants::shutdown_signal());
    let (own, queues) = loop {
        tokio::select! {
            set_up = set_up(&ctx, &options.mode) => match set_up {
                Ok(found) => break found,
                Err(e) => {
                    tracing::warn!(error = %report(&e), "cannot set up drift events; retrying in 30s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(30)) => {}
                        () = &mut shutdown => return,
                    }
                }
            },
            () = &mut shutdown => return,
        }
    };
    let reach = Reach::of(
        &ctx.default_region(),
        &queues.iter().map(|q| q.clients.region.clone()).collect::<Vec<_>>(),
    );
    tracing::info!(queues = ?queues.iter().map(|q| &q.url).collect::<Vec<_>>(), ?own, ?reach, "drift events on");
    ctx.events.set_reach(reach);
    let beats = Arc::new(Beats::default());
    let sweep = async {
        if options.sweep.is_zero() {
            std::future::pending::<()>().await;
        }
        sweep::run(ctx.clone(), options.sweep).await;
    };
    let readers = futures::future::join_all(
        queues
            .iter()
            .map(|q| read_queue(ctx.clone(), q.clone(), own.clone(), beats.clone(), options.heartbeat)),
    );
    tokio::select! {
        _ = readers => {}
        () = heartbeat(&ctx, &queues, &beats, options.heartbeat) => {}
        () = sweep => {}
        () = &mut shutdown => {}
    }
}

/// Who the operator is, and the queues to read (created, with their rules, in `create` mode).
async fn set_up(ctx: &super::Context, mode: &Mode) -> Result<(Own, Vec<Queue>), crate::model::AwsError> {
    let region = ctx.default_region();
    let home = EventClients::new(&ctx.sdk, &region);
    let own = Own::of(&home.caller_arn().await?);
    // The home region's clients serve its queues too.
    let clients_in = |at: &str| {
        if at == region {
            home.clone()
        } else {
            EventClients::new(&ctx.sdk, at)
        }
    };
    let mut queues = Vec::new();
    match mode {
        Mode::Off => {}
        Mode::Queues(urls) => {
            for url in urls {
                let at = region_of(url).unwrap_or_else(|| region.clone());
                queues.push(Queue {
                    url: url.clone(),
                    clients: clients_in(&at),
                });
            }
        }
        Mode::Create => {
            let mut regions = vec![region.clone()];
            if region != GLOBAL_REGION {
                regions.push(GLOBAL_REGION.to_string());
            }
            for at in regions {
                let clients = clients_in(&at);
                let url = create(&clients, &ctx.cluster_id, &own, &at, at == region).await?;
                queues.push(Queue { url, clients });
            }
        }
    }
    Ok((own, queues))
}

/// Where IAM, Route 53 and CloudFront's events arrive.
const GLOBAL_REGION: &str = "us-east-1";

/// A queue URL's region: `https://sqs.<region>.amazonaws.com/…`, or the legacy
/// `https://<region>.queue.amazonaws.com/…` and `https://queue.amazonaws.com/…` (us-east-1).
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    if host == "queue.amazonaws.com" {
        return Some(GLOBAL_REGION.to_string());
    }
    let region = match host.strip_prefix("sqs.") {
        Some(rest) => rest.split('.').next()?,
        None => host.strip_suffix(".queue.amazonaws.com")?,
    };
    (region.contains('-')).then(|| region.to_string())
}

/// The services whose changes the stacks' resources can drift by, as EventBridge sources. IAM,
/// Route 53 and CloudFront are global: their events are in us-east-1 only.
const REGIONAL_SOURCES: &[&str] = &[
    "aws.ec2",
    "aws.elasticloadbalancing",
    "aws.ecs",
    "aws.application-autoscaling",
    "aws.autoscaling",
    "aws.rds",
    "aws.elasticache",
    "aws.s3",
    "aws.monitoring",
    "aws.logs",
    "aws.secretsmanager",
    "aws.sns",
    "aws.ecr",
];
const GLOBAL_SOURCES: &[&str] = &["aws.iam", "aws.route53", "aws.cloudfront"];

/// The rules of `region` (name suffix, description, pattern): `home` is the operator's region
/// (the regional services' events and ECS's); us-east-1 also has the global services'.
pub fn rules(
    own: &Own,
    queue_url: &str,
    region: &str,
    home: bool,
) -> Vec<(&'static str, &'static str, serde_json::Value)> {
    use serde_json::json;
    let mut sources: Vec<&str> = Vec::new();
    if home {
        sources.extend(REGIONAL_SOURCES);
    }
    if region == GLOBAL_REGION {
        sources.extend(GLOBAL_SOURCES);
    }
    let mut rules = vec![
        (
            "drift",
            "webstack-operator: changes made by others to the services stacks use",
            json!({
                "source": sources,
                "detail-type": [CLOUDTRAIL],
                "detail": {"readOnly": [false], "userIdentity": {"arn": own.pattern()}},
            }),
        ),
        (
            "heartbeat",
            "webstack-operator: the heartbeat tag written on its own queue",
            json!({
                "source": ["aws.sqs"],
                "detail-type": [CLOUDTRAIL],
                "detail": {"eventName": ["TagQueue"], "requestParameters": {"queueUrl": [queue_url]}},
            }),
        ),
    ];
    if home {
        rules.push((
            "ecs",
            "webstack-operator: ECS service and deployment events",
            json!({"source": ["aws.ecs"], "detail-type": ["ECS Service Action", "ECS Deployment State Change"]}),
        ));
    }
    rules
}

/// Creates (or updates) one region's queue, its dead-letter queue, its rules and the queue policy
/// that lets only those rules send to it. The queue's URL.
async fn create(
    clients: &EventClients,
    cluster_id: &str,
    own: &Own,
    region: &str,
    home: bool,
) -> Result<String, crate::model::AwsError> {
    let base = format!("webstack-{}", sqs_name(cluster_id));
    let mut tags = BTreeMap::new();
    tags.insert(
        crate::model::ownership::MANAGED_BY.to_string(),
        crate::model::ownership::MANAGED_BY_VALUE.to_string(),
    );
    tags.insert(crate::model::ownership::CLUSTER.to_string(), cluster_id.to_string());
    let sse = (QueueAttributeName::SqsManagedSseEnabled, "true".to_string());
    let dlq_url = clients
        .ensure_queue(
            &format!("{base}-events-dlq"),
            &BTreeMap::from([
                sse.clone(),
                (QueueAttributeName::MessageRetentionPeriod, "1209600".into()),
            ]),
            &tags,
        )
        .await?;
    let dlq_arn = clients.queue_arn(&dlq_url).await?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).to_string();
    let url = clients
        .ensure_queue(
            &format!("{base}-events"),
            &BTreeMap::from([
                sse,
                (QueueAttributeName::MessageRetentionPeriod, "86400".into()),
                (QueueAttributeName::VisibilityTimeout, "60".into()),
                (QueueAttributeName::RedrivePolicy, redrive),
            ]),
            &tags,
        )
        .await?;
    let arn = clients.queue_arn(&url).await?;
    let mut rule_arns = Vec::new();
    for (suffix, description, pattern) in rules(own, &url, region, home) {
        let name = format!("{base}-{suffix}");
        rule_arns.push(
            clients
                .ensure_rule(&name, description, &pattern.to_string(), &tags, &arn)
                .await?,
        );
    }
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyTheOperatorsRules",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
        }],
    });
    clients
        .set_queue_attributes(
            &url,
            &BTreeMap::from([(QueueAttributeName::Policy, policy.to_string())]),
        )
        .await?;
    Ok(url)
}

/// SQS names: letters, digits, `-` and `_`, at most 80 characters (with the longest suffix,
/// `-events-dlq`, and `webstack-`).
fn sqs_name(cluster_id: &str) -> String {
    let mut name: String = cluster_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(80 - "webstack-".len() - "-events-dlq".len());
    name
}

/// How long the reader waits after its `failures`-th failed receive in a row: 5 s, doubling to
/// 5 minutes (a queue deleted or a denied call costs a call every 5 minutes, not every 5 s; the
/// heartbeat turns the pipeline degraded meanwhile).
fn receive_backoff(failures: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << failures.saturating_sub(1).min(6)).min(300))
}

/// Reads one queue until the process stops.
async fn read_queue(ctx: Arc<super::Context>, queue: Queue, own: Own, beats: Arc<Beats>, deadline: Duration) {
    let mut failures = 0;
    loop {
        let messages = match queue.clients.receive(&queue.url).await {
            Ok(m) => {
                failures = 0;
                m
            }
            Err(e) => {
                failures += 1;
                let wait = receive_backoff(failures);
                tracing::warn!(queue = %queue.url, error = %report(&e), ?wait, failures, "cannot receive drift events; retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let mut handled = Vec::new();
        for m in messages {
            handle(&ctx.events, &m.body, &own, &beats, deadline);
            handled.push(m.receipt);
        }
        if let Err(e) = queue.clients.delete(&queue.url, &handled).await {
            tracing::info!(queue = %queue.url, error = %report(&e), "cannot delete handled drift events (they come back, and are handled again)");
        }
    }
}

/// One event: the objects it names are reconciled.
fn handle(events: &Events, body: &str, own: &Own, beats: &Beats, deadline: Duration) {
    let outcome = match message::read(body, own) {
        Event::Heartbeat { queue_url, nonce } => {
            beats.arrived(events, &queue_url, &nonce, deadline);
            "heartbeat"
        }
        Event::Own => "own",
        Event::ReadOnly => "unmatched",
        Event::Invalid(why) => {
            tracing::warn!(%why, "a drift event that is not an EventBridge event");
            "invalid"
        }
        Event::About(ids) => {
            let owners = events.index.owners(ids.iter().map(String::as_str));
            // Sharded, the other replicas resolve them against their own objects (any of them
            // may also name an identifier this one does, such as a shared VPC).
            if events.handing_over() {
                events.hint(hints::Note::Ids(ids.iter().cloned().collect()));
            }
            if owners.is_empty() {
                "unmatched"
            } else {
                for o in &owners {
                    let sent = events.trigger(o);
                    tracing::info!(kind = o.kind, namespace = %o.namespace, name = %o.name, sent, "drift event: reconciling");
                }
                "matched"
            }
        }
    };
    METRICS.event(outcome);
}

/// Tags every queue each `period`; a tag not back by the next is overdue (degraded).
async fn heartbeat(ctx: &super::Context, queues: &[Queue], beats: &Beats, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        let overdue = beats
            .pending
            .lock()
            .map(|p| p.values().any(|(_, sent)| sent.elapsed() >= period))
            .unwrap_or(false);
        if overdue {
            ctx.events.set_health(Health::Degraded);
        }
        // The other replicas take the pipeline as running while this goes on.
        ctx.events.hint(hints::Note::Beat);
        for q in queues {
            n += 1;
            let nonce = format!(
                "{}-{n}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default()
            );
            match q.clients.tag_queue(&q.url, HEARTBEAT_TAG, &nonce).await {
                Ok(()) => {
                    if let Ok(mut p) = beats.pending.lock() {
                        // A new heartbeat replaces the one not back yet, keeping its time: an
                        // overdue queue stays overdue until one comes back.
                        let since = p.get(&q.url).map_or_else(Instant::now, |(_, t)| *t);
                        p.insert(q.url.clone(), (nonce, since));
                    }
                }
                Err(e) => {
                    tracing::warn!(queue = %q.url, error = %report(&e), "cannot write the drift-event heartbeat");
                    if let Ok(mut p) = beats.pending.lock() {
                        p.entry(q.url.clone())
                            .or_insert_with(|| (String::new(), Instant::now()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("off"), Ok(Mode::Off));
        assert_eq!(Mode::parse("create"), Ok(Mode::Create));
        assert_eq!(
            Mode::parse("queue=https://sqs.eu-west-1.amazonaws.com/1/a, https://sqs.us-east-1.amazonaws.com/1/b"),
            Ok(Mode::Queues(vec![
                "https://sqs.eu-west-1.amazonaws.com/1/a".into(),
                "https://sqs.us-east-1.amazonaws.com/1/b".into()
            ]))
        );
        assert!(Mode::parse("queue=").is_err());
        assert!(Mode::parse("queue=sqs-a").is_err());
        assert!(Mode::parse("on").is_err());
    }

    #[test]
    fn failed_receives_back_off_to_five_minutes() {
        let secs: Vec<u64> = (1..=9).map(|n| receive_backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn queue_regions_and_names() {
        assert_eq!(
            region_of("https://sqs.eu-west-1.amazonaws.com/1/a").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:5000/123456789012/a"), None);
        assert_eq!(
            region_of("https://eu-west-1.queue.amazonaws.com/1/a").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of("https://queue.amazonaws.com/1/a").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(sqs_name("prod/eu.1"), "prod-eu-1");
        assert_eq!(format!("webstack-{}-events-dlq", sqs_name(&"x".repeat(200))).len(), 80);
    }

    #[test]
    fn rules_leave_the_operator_out_and_global_services_to_us_east_1() {
        let own = Own::of("arn:aws:sts::1:assumed-role/op/s");
        let home = rules(&own, "https://sqs.eu-west-1.amazonaws.com/1/q", "eu-west-1", true);
        let names: Vec<_> = home.iter().map(|r| r.0).collect();
        assert_eq!(names, ["drift", "heartbeat", "ecs"]);
        let drift = &home[0].2;
        assert_eq!(drift["detail"]["userIdentity"]["arn"], own.pattern());
        assert!(drift["source"].as_array().unwrap().contains(&"aws.ec2".into()));
        assert!(!drift["source"].as_array().unwrap().contains(&"aws.iam".into()));
        assert_eq!(
            home[1].2["detail"]["requestParameters"]["queueUrl"][0],
            "https://sqs.eu-west-1.amazonaws.com/1/q"
        );
        let global = rules(&own, "https://sqs.us-east-1.amazonaws.com/1/q", GLOBAL_REGION, false);
        assert_eq!(global.iter().map(|r| r.0).collect::<Vec<_>>(), ["drift", "heartbeat"]);
        assert_eq!(global[0].2["source"], serde_json::json!(GLOBAL_SOURCES));
        // In us-east-1 one queue takes both.
        let both = rules(&own, "https://sqs.us-east-1.amazonaws.com/1/q", GLOBAL_REGION, true);
        assert!(both[0].2["source"].as_array().unwrap().contains(&"aws.iam".into()));
    }

    #[tokio::test]
    async fn health_sets_the_resync_and_a_lost_heartbeat_rechecks_all() {
        use futures::StreamExt;
        let events = Events::default();
        let base = Duration::from_secs(600);
        *events.healthy_resync.lock().unwrap() = Some((Duration::from_secs(3600), Duration::from_secs(6 * 3600)));
        let web = ObjectKey {
            kind: "WebStack",
            namespace: "shop".into(),
            name: "web".into(),
        };
        assert_eq!(events.resync(base, &web), base, "off");
        let mut degraded = Box::pin(events.degradations());
        events.set_health(Health::Waiting);
        events.set_health(Health::Degraded);
        assert_eq!(events.resync(base, &web), base);
        events.set_health(Health::Healthy);
        assert_eq!(events.resync(base, &web), Duration::from_secs(3600));
        // Covered by two sweeps: longer still.
        events.index.record(&web, ["sg-0a".to_string()].into(), true);
        let swept = [crate::aws::sweep::Item {
            id: "sg-0a".into(),
            kind: "WebStack",
            print: crate::model::hash_of(&"22 open"),
        }];
        events.sweeps.compare_items(&events, &swept, base);
        assert_eq!(events.resync(base, &web), Duration::from_secs(3600));
        events.sweeps.compare_items(&events, &swept, base);
        assert_eq!(events.resync(base, &web), Duration::from_secs(6 * 3600));
        events.set_health(Health::Waiting);
        assert_eq!(events.resync(base, &web), base, "a sweep alone lengthens nothing");
        events.set_health(Health::Healthy);
        events.set_health(Health::Degraded);
        // Waiting → Degraded does not fire (nothing was relied on); Healthy → Degraded does, once.
        assert_eq!(degraded.next().await, Some(()));
        let beats = Beats::default();
        beats
            .pending
            .lock()
            .unwrap()
            .insert("q".into(), ("n1".into(), Instant::now()));
        beats.arrived(&events, "q", "other", Duration::from_secs(60));
        assert_eq!(events.health(), Health::Healthy, "nothing overdue");
        assert!(
            beats.pending.lock().unwrap().contains_key("q"),
            "a stale nonce does not clear it"
        );
        beats.arrived(&events, "q", "n1", Duration::from_secs(60));
        assert!(beats.pending.lock().unwrap().is_empty());
    }

    #[test]
    fn an_event_reconciles_the_objects_that_named_its_identifiers() {
        let events = Events::default();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut stream = Box::pin(events.subscribe("WebStack"));
        let stack = ObjectKey {
            kind: "WebStack",
            namespace: "shop".into(),
            name: "web".into(),
        };
        events
            .index
            .record(&stack, ["sg-0123456789abcdef0".to_string()].into(), true);
        let own = Own::of("arn:aws:sts::1:assumed-role/op/s");
        let body = serde_json::json!({
            "detail-type": CLOUDTRAIL, "source": "aws.ec2",
            "detail": {"eventName": "AuthorizeSecurityGroupIngress", "readOnly": false,
                "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/admin/alice"},
                "requestParameters": {"groupId": "sg-0123456789abcdef0"}}
        })
        .to_string();
        handle(&events, &body, &own, &Beats::default(), Duration::from_secs(60));
        use futures::StreamExt;
        assert_eq!(rt.block_on(stream.next()), Some(("shop".into(), "web".into())));
        // Its next reconcile reads deep, once.
        assert!(events.take_deep("WebStack", "shop", "web"));
        assert!(!events.take_deep("WebStack", "shop", "web"));
        assert!(!events.take_deep("WebStack", "shop", "other"));
        // A deleted object keeps neither its identifiers nor a pending deep read.
        handle(&events, &body, &own, &Beats::default(), Duration::from_secs(60));
        events.forget(&stack);
        assert!(!events.take_deep("WebStack", "shop", "web"));
        assert_eq!(events.index.size(), (0, 0));
    }

    #[test]
    fn another_replicas_sweeps_cover_the_objects_holding_a_swept_resource() {
        let events = Events::default();
        let base = Duration::from_secs(600);
        let (long, swept) = (Duration::from_secs(7200), Duration::from_secs(21600));
        *events.healthy_resync.lock().unwrap() = Some((long, swept));
        events.sweeps.set_period(base);
        events.set_health(Health::Healthy);
        let key = |kind: &'static str| ObjectKey {
            kind,
            namespace: "shop".into(),
            name: "web".into(),
        };
        let (web, rule) = (key("WebStack"), key("ListenerRule"));
        events.index.record(&web, ["sg-0a".to_string()].into(), true);
        events.index.record(
            &rule,
            ["arn:aws:elasticloadbalancing:r:1:listener-rule/app/w/1/2/3".to_string()].into(),
            true,
        );
        events.sweeps.remote(true);
        assert_eq!(events.resync(base, &web), long, "one sweep seen");
        events.sweeps.remote(true);
        assert_eq!(events.resync(base, &web), swept);
        assert_eq!(events.resync(base, &rule), long, "nothing of its is swept");
        // Running the pipeline here: only its own sweeps count.
        *events.local.lock().unwrap() = true;
        assert_eq!(events.resync(base, &web), long);
        *events.local.lock().unwrap() = false;
        events.sweeps.remote(false);
        assert_eq!(events.resync(base, &web), long, "a failed sweep");
    }

    #[test]
    fn an_object_the_pipeline_cannot_hear_of_keeps_the_short_resync() {
        use crate::aws::ids::Place;
        let at = |own: bool, global: bool, region: &str| Place {
            own,
            global,
            region: region.into(),
        };
        // `create` in eu-west-1: regional events there, global ones in us-east-1.
        let reach = Reach::of("eu-west-1", &["eu-west-1".into(), GLOBAL_REGION.into()]);
        assert!(reach.hears(&at(true, false, "eu-west-1")) && reach.hears(&at(true, true, "us-east-1")));
        assert!(
            !reach.hears(&at(true, false, "us-east-1")),
            "the us-east-1 queue has no regional rules"
        );
        assert!(
            !reach.hears(&at(false, false, "eu-west-1")),
            "an assumed role's account"
        );
        // A platform's queue in the home region only: no global events.
        assert!(!Reach::of("eu-west-1", &["eu-west-1".into()]).hears(&at(true, true, "us-east-1")));

        let events = Events::default();
        let base = Duration::from_secs(600);
        let (long, swept) = (Duration::from_secs(7200), Duration::from_secs(21600));
        *events.healthy_resync.lock().unwrap() = Some((long, swept));
        events.set_health(Health::Healthy);
        let (home, tenant) = (
            ObjectKey {
                kind: "WebStack",
                namespace: "shop".into(),
                name: "web".into(),
            },
            ObjectKey {
                kind: "WebStack",
                namespace: "team-b".into(),
                name: "web".into(),
            },
        );
        let own_calls: BTreeSet<Place> = [at(true, false, "eu-west-1"), at(true, true, "us-east-1")].into();
        // Before the queues are known, nothing is taken as heard.
        events.placed(&home, &own_calls, true);
        assert_eq!(events.resync(base, &home), base);
        *events.reach.lock().unwrap() = Some(reach);
        events.placed(&home, &own_calls, true);
        assert_eq!(events.resync(base, &home), long);
        let mut tenant_calls = own_calls.clone();
        tenant_calls.insert(at(false, false, "eu-west-1"));
        events.placed(&tenant, &tenant_calls, true);
        assert_eq!(events.resync(base, &tenant), base);
        // An unfinished reconcile that called only where it hears proves nothing yet.
        events.placed(&tenant, &own_calls, false);
        assert_eq!(events.resync(base, &tenant), base);
        events.placed(&tenant, &own_calls, true);
        assert_eq!(events.resync(base, &tenant), long);
        events.placed(&tenant, &tenant_calls, false);
        events.forget(&tenant);
        assert!(events.unheard.lock().unwrap().is_empty());
    }
}
