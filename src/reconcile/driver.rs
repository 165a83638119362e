//! The driver every kind runs under: one kube-runtime `Controller` per kind, whose reconcile adds
//! the finalizer, then either converges the object (load → validate → observe → plan → apply →
//! observe → status) or deletes it (cleanup plan until nothing is left, then the finalizer goes).
//! `webstack.io/paused` stops every AWS mutation, cleanup included, and reports the plan instead.
//! Every applied step is an Event; the status is written by server-side apply; the next run is
//! scheduled by [`Wait`] with per-object backoff.
//!
//! The object's own watch ignores status-only updates (generation and annotations are what
//! matter), so a status write never re-triggers its own reconcile and retries keep their backoff.
//!
//! Every reconcile runs under the context's [`Fence`](super::context::Fence): refused before it
//! starts once leadership is lost, and checked again at each of its polls, so no step, AWS call or
//! Kubernetes write (finalizer, Event, status) of it starts after the loss.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config};
use kube::runtime::events::EventType;
use kube::runtime::{Controller, reflector};
use kube::{Api, Resource, ResourceExt};

use super::backoff::Wait;
use super::caches::{self, Caches, Interest};
use super::due::{Due, Next};
use super::lanes::{self, FirstStatus, Lane, Lanes};
pub use super::scope::Scope;
use super::status::{self, Kind, KindStatus, is_ready};
use super::{Blocked, Context, FINALIZER, PAUSED, Reconciler, Step, describe, events, spec};
use crate::metrics::{METRICS, Outcome};
use crate::model::{Health, RetryClass, report};

/// A reconcile that did not finish: it could not write its result (the Kubernetes API failed;
/// retried with backoff), or leadership was lost (it stopped before its next change).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed")]
    Kube(#[source] kube::Error),
    #[error(transparent)]
    Fenced(#[from] super::context::Fenced),
}

/// Runs the controller of `R` until SIGINT/SIGTERM or `scope`'s stop, on the objects of `scope`;
/// at most `concurrency` objects are reconciled at once, taking turns in [`Lanes`] (kube-runtime's
/// own limit only bounds what it holds: see [`super::lanes`]).
pub async fn run<R: Reconciler>(ctx: Arc<Context>, scope: Scope, concurrency: u16) {
    let (lanes, fed) = Lanes::new(concurrency.into());
    // The context's caches (the manager gives every context its own; one made here otherwise).
    let caches = match ctx.source.caches() {
        Some(caches) => caches.clone(),
        None => Arc::new(Caches::start(&ctx.client, &scope)),
    };
    let cache = caches.of::<R::K>();
    let reader = cache.store().clone();
    // Woken by a change of its spec (generation) or annotations, not by its own status writes.
    let trigger = cache.subscribe(Interest {
        deletions: false,
        digest: Some(caches::spec_or_annotations::<R::K>),
    });
    // What runs, what writes a first status, and room for reconciles that park at once in `lanes`.
    // Triggered through `reconcile_on`, by reference ([`caches::queued`]), not as kube-runtime
    // would with the object itself.
    let controller = Controller::for_shared_stream(futures::stream::empty(), reader.clone())
        .with_config(Config::default().concurrency(lanes::runner_limit(concurrency)))
        .reconcile_on(trigger.map(|o| caches::queued(&*o)));
    // The objects whose turn came in `lanes` (a slot or turn is reserved for each); one gone
    // meanwhile hands it to the next.
    let turns = {
        let (lanes, reader) = (lanes.clone(), reader.clone());
        futures::stream::unfold(fed, |mut fed| async move { fed.recv().await.map(|key| (key, fed)) }).filter_map(
            move |key| {
                let turn = held(&reader, &key);
                if turn.is_none() {
                    lanes.cancel(&key);
                }
                std::future::ready(turn)
            },
        )
    };
    // The objects whose delay (re-check, poll, retry) ran out: kept in `due`, not in
    // kube-runtime's scheduler (every reconcile returns `await_change` to it).
    let due = Arc::new(Due::new());
    let fired = {
        let reader = reader.clone();
        due.fired()
            .filter_map(move |key| std::future::ready(held(&reader, &key)))
    };
    let controller = controller.reconcile_on(turns).reconcile_on(fired);
    let controller = tenancy_watches(controller, &ctx, reader.clone());
    // Objects drift events name, and every object when the events pipeline stops being trusted.
    let in_scope = scope.clone();
    let named = ctx
        .events
        .subscribe(R::KIND)
        .filter(move |(namespace, _)| std::future::ready(in_scope.holds(namespace)))
        .map(|(namespace, name)| reflector::ObjectRef::<R::K>::new(&name).within(&namespace));
    let controller = controller
        .reconcile_on(named)
        .reconcile_all_on(ctx.events.degradations());
    R::watches(controller, &caches)
        .shutdown_on_signal()
        .graceful_shutdown_on(scope.stopped())
        .run(
            {
                let due = due.clone();
                move |obj, ctx| {
                    let (lanes, reader, due) = (lanes.clone(), reader.clone(), due.clone());
                    async move {
                        let key = lane_key(&*obj);
                        let next = reconcile::<R>(obj, ctx, &key, lanes, reader).await?;
                        due.set(&key, next);
                        Ok(Action::await_change())
                    }
                }
            },
            move |obj, err, ctx| {
                due.set(&lane_key(&*obj), error_policy::<R>(obj, err, ctx));
                Action::await_change()
            },
            ctx,
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(kind = R::KIND, error = %report(&err), "reconcile failed");
            }
        })
        .await;
}

/// `obj`'s key in `lanes` and in `due`.
fn lane_key<K: Kind>(obj: &K) -> lanes::Key {
    lanes::key(&obj.namespace().unwrap_or_default(), &obj.name_any())
}

/// The reference of the object `key` names in `lanes`, if the cache still holds it.
fn held<K: Kind>(cached: &reflector::Store<K>, key: &str) -> Option<reflector::ObjectRef<K>> {
    let (namespace, name) = lanes::split(key);
    let object = reflector::ObjectRef::<K>::new(name).within(namespace);
    cached.get(&object).map(|_| object)
}

/// A change of what governs a namespace re-evaluates the objects it concerns: a policy's spec or
/// existence, every object (such changes are rare, and a narrowed selector must release the
/// namespaces it no longer selects); a namespace's labels, that namespace's objects (what cost
/// grows with is what changed, not how many stacks exist). The signals come from the tenancy
/// caches after they hold the change, so the re-evaluation never reads the policy it replaces;
/// a policy's status write or a new namespace does not trigger it.
fn tenancy_watches<K: Kind>(controller: Controller<K>, ctx: &Context, cached: reflector::Store<K>) -> Controller<K> {
    match &ctx.tenants {
        Some(tenants) => {
            let of_namespace = tenants.relabelled_namespaces().flat_map(move |namespace| {
                // `None`: changes were missed, so every object.
                let refs: Vec<reflector::ObjectRef<K>> = cached
                    .state()
                    .iter()
                    .filter(|o| namespace.is_none() || o.namespace() == namespace)
                    .map(|o| caches::queued(&**o))
                    .collect();
                futures::stream::iter(refs)
            });
            controller
                .reconcile_all_on(tenants.governing_changes())
                .reconcile_on(of_namespace)
        }
        None => controller,
    }
}

/// `kind/namespace/name`: the object's key in the backoff table and in logs.
fn key<K: Kind>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

fn error_policy<R: Reconciler>(obj: Arc<R::K>, err: &Error, ctx: Arc<Context>) -> Next {
    let key = key(&*obj);
    if let Error::Fenced(_) = err {
        // Not this process's to retry: the new leader reconciles it (the process stops).
        return Next::requeue(ctx.resync);
    }
    tracing::info!(%key, error = %report(err), "retrying");
    Next::requeue(
        ctx.backoff
            .next(&key, Wait::Retry(RetryClass::Transient), ctx.resync, false),
    )
}

/// The reconcile of `obj`, `key` its key in `lanes`.
async fn reconcile<R: Reconciler>(
    obj: Arc<R::K>,
    ctx: Arc<Context>,
    key: &lanes::Key,
    lanes: Arc<Lanes>,
    cached: reflector::Store<R::K>,
) -> Result<Next, Error> {
    // An object that has to wait parks in `lanes` and this reconcile ends (kube-runtime keeps
    // nothing for it); when its turn comes it is reconciled again and takes what was reserved
    // for it. The work (a first status write, the reconcile) is boxed: allocated only while it
    // runs. A new object's first status waits for its turn before its write is even built.
    let turn = match first_status_due(&*obj) {
        true => match lanes.first_status(key) {
            FirstStatus::Write(turn) => Some(turn),
            FirstStatus::Done => None,
            FirstStatus::Parked => return Ok(Next::await_change()),
        },
        false => None,
    };
    let lane = match Box::pin(admit::<R>(&obj, &ctx, turn)).await {
        Ok(Ok(lane)) => lane,
        // Not to be reconciled now (or fenced): a slot reserved for it goes to the next.
        Ok(Err(action)) => {
            lanes.cancel(key);
            return Ok(action);
        }
        Err(e) => {
            lanes.cancel(key);
            return Err(e);
        }
    };
    let Some(slot) = lanes.enter(key, lane) else {
        return Ok(Next::await_change());
    };
    Box::pin(in_slot::<R>(obj, ctx, cached, lane, slot)).await
}

/// The lane an object's reconcile waits in (after it said it was seen, if it is new: `turn`, its
/// turn to write its first status), or what to do instead when its namespace is not one to
/// reconcile.
async fn admit<R: Reconciler>(
    obj: &R::K,
    ctx: &Context,
    turn: Option<lanes::Turn>,
) -> Result<Result<Lane, Next>, Error> {
    // `--namespace-selector`: a namespace it does not select is left alone (looked at again when
    // its labels change; one not cached yet, just created, in a few seconds).
    match ctx.selects_namespace(&obj.namespace().unwrap_or_default()) {
        Some(true) => {}
        Some(false) => return Ok(Err(Next::await_change())),
        None => return Ok(Err(Next::requeue(Duration::from_secs(3)))),
    }
    // Settled: Ready, and no drift event named it since its last reconcile. Its reconcile, if its
    // generation was reconciled, is a plain re-check: last in the queue and in the AWS budget.
    let settled = obj.status().is_some_and(|s| is_ready(s.conditions()))
        && !ctx
            .events
            .named(R::KIND, &obj.namespace().unwrap_or_default(), &obj.name_any());
    let lane = Lane::of(
        obj.meta().generation,
        obj.status().and_then(KindStatus::observed_generation),
        settled,
    );
    // A new object says at once that it was seen, before it waits for a slot and for its first
    // (maybe long) reconcile: its first status never waits for the queue or for AWS, only for the
    // first statuses written before it ([`Lanes::first_status`]). A changed object keeps the
    // status it has until its reconcile writes the next.
    if let Some(turn) = turn {
        let health = Health::progressing("Provisioning", "accepted: waiting for its first reconcile");
        match ctx
            .fence
            .guard(status::write(&ctx.client, obj, Default::default(), &health))
            .await
        {
            Ok(Ok(())) => {}
            // A courtesy: the reconcile goes on, and its own status write reports (and retries).
            Ok(Err(e)) => tracing::warn!(key = %key(obj), error = %report(&e), "cannot write the first status"),
            Err(fenced) => return Err(fenced.into()),
        }
        drop(turn);
    }
    Ok(Ok(lane))
}

/// Whether `obj` is new (no condition yet, not being deleted): its first status is written before
/// it waits for a slot.
fn first_status_due<K: Kind>(obj: &K) -> bool {
    obj.status().is_none_or(|s| s.conditions().is_empty()) && obj.meta().deletion_timestamp.is_none()
}

/// The reconcile of an object that holds a slot of its lane.
async fn in_slot<R: Reconciler>(
    obj: Arc<R::K>,
    ctx: Arc<Context>,
    cached: reflector::Store<R::K>,
    lane: Lane,
    slot: super::lanes::Slot,
) -> Result<Next, Error> {
    // The object as the cache holds it now: the wait for a slot can be long (minutes with
    // thousands of objects due), and the reconcile compares the status it writes with the
    // object's (status::write sends nothing when they are the same), so the copy must be the
    // latest this process has seen, its own last status write included.
    let obj = cached.get(&reflector::ObjectRef::from_obj(&*obj)).unwrap_or(obj);
    let controller = R::KIND.to_ascii_lowercase();
    METRICS.queued(&controller, lane.label(), slot.waited);
    let started = std::time::Instant::now();
    let key = key(&*obj);
    // Checked before the reconcile starts and at each of its polls: before every step, AWS call
    // and Kubernetes write. Boxed: the whole reconcile inline is tens of KiB.
    let recheck = lane == Lane::Recheck;
    let work = crate::aws::budget::recheck(recheck, Box::pin(reconcile_timed::<R>(obj, ctx.clone(), recheck)));
    let result = match ctx.fence.guard(work).await {
        Ok(result) => result,
        Err(fenced) => {
            tracing::warn!(%key, lease = ctx.fence.lease(), "leadership lost: reconcile stopped before its next change");
            Err(fenced.into())
        }
    };
    let outcome = match &result {
        Err(_) => Outcome::Error,
        Ok((_, Some(Wait::Retry(_)))) => Outcome::Error,
        Ok((_, Some(Wait::Poll))) => Outcome::RequeueAfter,
        Ok(_) => Outcome::Success,
    };
    METRICS.reconciled(&controller, outcome, started.elapsed());
    drop(slot);
    result.map(|(action, _)| action)
}

/// A reconcile, and the wait it ended with (`None`: deleted); `recheck`: the re-check of a
/// settled object.
async fn reconcile_timed<R: Reconciler>(
    obj: Arc<R::K>,
    ctx: Arc<Context>,
    recheck: bool,
) -> Result<(Next, Option<Wait>), Error> {
    let key = key(&*obj);
    let deleting = obj.meta().deletion_timestamp.is_some();
    let ((result, tally), named) = crate::aws::ids::collecting(crate::aws::counting(async {
        if deleting {
            Box::pin(cleanup::<R>(&obj, &ctx)).await
        } else {
            add_finalizer(&ctx, &*obj).await?;
            Box::pin(converge::<R>(&obj, &ctx, recheck)).await.map(Some)
        }
    }))
    .await;
    let object = events::ObjectKey {
        kind: R::KIND,
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    };
    // What this reconcile's AWS calls named is the object's, for drift events; a finished
    // observation replaces what the last one named.
    let complete = matches!(result, Ok(Some(Wait::Resync | Wait::Poll)));
    if !deleting {
        ctx.events.placed(&object, &named.places, complete);
        ctx.events.index.record(&object, named.ids, complete);
    }
    let Some(wait) = result? else {
        ctx.events.forget(&object);
        ctx.backoff.forget(&key);
        METRICS.resource(&key, None);
        if let Some(tenants) = &ctx.tenants {
            tenants.note_outcome(&key, None);
        }
        tracing::debug!(%key, aws_calls = tally.calls, aws_mutations = tally.mutations, "deleted");
        return Ok((Next::await_change(), None));
    };
    let delay = ctx
        .backoff
        .next(&key, wait, ctx.steady_resync(&object), tally.mutations > 0);
    tracing::debug!(
        %key,
        aws_calls = tally.calls,
        aws_mutations = tally.mutations,
        steps = tally.steps,
        recheck,
        ?wait,
        ?delay,
        "reconciled"
    );
    Ok((Next::requeue(delay), Some(wait)))
}

fn paused<K: Kind>(obj: &K) -> bool {
    obj.annotations().get(PAUSED).map(String::as_str) == Some("true")
}

/// The outcome of a reconcile that did not finish: its health, when to run again, and the
/// status fields to write (the previous ones when none were computed).
struct Report<S> {
    health: Health,
    wait: Wait,
    fields: Option<S>,
}

impl<S> Report<S> {
    fn new(health: Health, wait: Wait, fields: Option<S>) -> Self {
        Report { health, wait, fields }
    }
}

/// When to run again after a reconcile that left `health` (and `remaining` steps not done).
fn wait_for(health: &Health, remaining: bool) -> Wait {
    match health {
        _ if remaining => Wait::Poll,
        Health::Ready { .. } | Health::Paused { .. } => Wait::Resync,
        Health::Progressing { .. } => Wait::Poll,
        Health::Stalled { .. } => Wait::Retry(RetryClass::Terminal),
    }
}

/// The report for a [`Blocked`] reconcile of the object `key`; `Kube` errors are returned to be
/// retried. An AWS error a retry may cure is logged here (a stalled reconcile is logged where its
/// status is written, in [`finish`]): the status and the error metric were all that told of it.
fn blocked<S>(key: &str, b: Blocked, fields: Option<S>) -> Result<Report<S>, Error> {
    if let Blocked::Aws(e) = &b
        && e.class.cured_by_retry()
    {
        tracing::info!(%key, class = e.class.label(), error = %e, "AWS call failed: retrying");
    }
    Ok(match b {
        Blocked::Stalled { reason, message } => Report::new(
            Health::Stalled { reason, message },
            Wait::Retry(RetryClass::Terminal),
            fields,
        ),
        Blocked::Waiting { message } => Report::new(Health::waiting(message), Wait::Poll, fields),
        Blocked::Aws(e) => Report::new(Health::from_aws(&e), Wait::Retry(e.class), fields),
        Blocked::Kube(e) => return Err(Error::Kube(e)),
    })
}

/// Whether a failed reconcile leaves the object's status as it is (`Ready` included) and only
/// retries: it was the re-check of a settled object, it failed before anything was planned (so
/// nothing is known to differ), on an error a retry may cure (throttled, transient), and the
/// failures in a row have lasted less than one re-check period. Between two re-checks an object
/// is Ready on what the last one read; a read that failed knows no less, and turning `Ready` off
/// on every throttled read would make Argo CD and Flux report a healthy stack degraded, wake its
/// stack (a child's `Ready` change reconciles it) and write statuses, just as AWS asks for fewer
/// calls. Failing for longer, the status says so.
fn keeps_status(recheck: bool, planned: bool, class: RetryClass, failing_for: Duration, period: Duration) -> bool {
    recheck && !planned && class.cured_by_retry() && failing_for < period
}

/// Converges the object and writes its status; `recheck`: the re-check of a settled object.
async fn converge<R: Reconciler>(obj: &R::K, ctx: &Context, recheck: bool) -> Result<Wait, Error> {
    let owner = spec::owner(obj, R::KIND, &ctx.cluster_id);
    let mut fields = None;
    let mut events = Vec::new();
    let result = async {
        let deps = Box::pin(R::load(ctx, obj, false)).await?;
        let desired = R::validate(obj, &owner, &deps)?;
        let observed = Box::pin(R::observe(obj, &owner, &deps, Some(&desired))).await?;
        let steps = R::plan(&desired, &observed)?;
        let (status, health) = R::status(&desired, &observed, &steps);
        fields = Some(status.clone());
        if paused(obj) {
            let message = if steps.is_empty() {
                "paused: AWS matches the spec".to_string()
            } else {
                format!("paused: {} change(s) not applied: {}", steps.len(), describe(&steps))
            };
            let in_sync = steps.is_empty();
            return Ok(Report::new(
                Health::Paused { in_sync, message },
                Wait::Resync,
                fields.clone(),
            ));
        }
        if steps.is_empty() {
            let wait = wait_for(&health, false);
            return Ok(Report::new(health, wait, Some(status)));
        }
        // No spec change since the object was last Ready: what differs was changed behind our back.
        let drift = obj
            .status()
            .is_some_and(|s| is_ready(s.conditions()) && s.observed_generation() == obj.meta().generation);
        let reason = if drift { "DriftCorrected" } else { "Provisioning" };
        let applied = Box::pin(R::apply(
            &deps,
            &owner,
            Some(&desired),
            &observed,
            &steps,
            &mut |s: &R::Step| {
                crate::aws::count_step();
                tracing::info!(step = %s, "applied");
                events.push((s.reason().unwrap_or(reason), s.action(), s.to_string()))
            },
        ))
        .await;
        applied?;
        let observed = Box::pin(R::observe(obj, &owner, &deps, Some(&desired))).await?;
        let remaining = R::plan(&desired, &observed)?;
        let (status, mut health) = R::status(&desired, &observed, &remaining);
        if !remaining.is_empty() && !matches!(health, Health::Ready { .. }) {
            health = Health::progressing("Provisioning", format!("converging: {}", describe(&remaining)));
        }
        let wait = wait_for(&health, !remaining.is_empty());
        Ok(Report::new(health, wait, Some(status)))
    }
    .await;
    let corrected = events.iter().filter(|(reason, ..)| *reason == "DriftCorrected").count();
    if corrected > 0 {
        METRICS.drift_corrected(R::KIND, corrected as u64);
    }
    for (reason, action, note) in &events {
        publish(ctx, obj, EventType::Normal, reason, action, note).await;
    }
    let report = match result {
        Ok(report) => report,
        Err(Blocked::Aws(e))
            if keeps_status(
                recheck,
                fields.is_some(),
                e.class,
                ctx.backoff.failing_for(&key(obj)),
                ctx.steady_resync(&events::ObjectKey::new(
                    R::KIND,
                    &obj.namespace().unwrap_or_default(),
                    &obj.name_any(),
                )),
            ) =>
        {
            tracing::info!(key = %key(obj), error = %e, "re-check failed: status kept, retrying");
            return Ok(Wait::Retry(e.class));
        }
        Err(b) => blocked(&key(obj), b, fields)?,
    };
    finish(ctx, obj, report).await
}

/// Writes the status of a reconcile (a Warning Event when it stalled) and says when to run again.
async fn finish<K: Kind>(ctx: &Context, obj: &K, report: Report<K::Status>) -> Result<Wait, Error> {
    if let Health::Stalled { reason, message } = &report.health {
        tracing::warn!(key = %key(obj), %reason, %message, "stalled");
        publish(ctx, obj, EventType::Warning, reason, "Reconcile", message).await;
    }
    let condition = match &report.health {
        Health::Ready { .. } => "Ready",
        Health::Progressing { .. } => "Reconciling",
        Health::Stalled { .. } => "Stalled",
        Health::Paused { .. } => "Paused",
    };
    METRICS.resource(&key(obj), Some(condition));
    if let Some(tenants) = &ctx.tenants {
        let violation = match &report.health {
            Health::Stalled {
                reason: "PolicyViolation",
                message,
            } => Some(message.as_str()),
            _ => None,
        };
        tenants.note_outcome(&key(obj), violation);
    }
    let fields = report.fields.or_else(|| obj.status().cloned()).unwrap_or_default();
    status::write(&ctx.client, obj, fields, &report.health)
        .await
        .map_err(Error::Kube)?;
    Ok(report.wait)
}

/// Deletes the object's AWS resources; `None` once they are gone and the finalizer is removed.
async fn cleanup<R: Reconciler>(obj: &R::K, ctx: &Context) -> Result<Option<Wait>, Error> {
    if !obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(None);
    }
    let owner = spec::owner(obj, R::KIND, &ctx.cluster_id);
    let policy = obj.deletion_policy();
    let mut events = Vec::new();
    let result = async {
        let deps = Box::pin(R::load(ctx, obj, true)).await?;
        let observed = Box::pin(R::observe(obj, &owner, &deps, None)).await?;
        let blockers = R::blockers(ctx, obj).await?;
        let steps = if blockers.is_empty() {
            R::plan_cleanup(obj, &observed, policy)
        } else {
            R::plan_release(&observed)
        };
        let waiting =
            (!blockers.is_empty()).then(|| format!("waiting for {} to be deleted first", blockers.join(", ")));
        if paused(obj) {
            let mut message = "paused: deletion waits".to_string();
            if !steps.is_empty() {
                message.push_str(&format!("; it would {}", describe(&steps)));
            }
            if let Some(w) = &waiting {
                message.push_str(&format!("; {w}"));
            }
            let health = Health::Paused {
                in_sync: false,
                message,
            };
            return Ok(Some(Report::new(health, Wait::Resync, None)));
        }
        Box::pin(R::apply(&deps, &owner, None, &observed, &steps, &mut |s: &R::Step| {
            crate::aws::count_step();
            tracing::info!(step = %s, "applied");
            events.push((s.reason().unwrap_or("Deleting"), s.action(), s.to_string()))
        }))
        .await?;
        if let Some(message) = waiting {
            return Ok(Some(Report::new(
                Health::progressing("Deleting", message),
                Wait::Poll,
                None,
            )));
        }
        let left = if steps.is_empty() {
            steps
        } else {
            R::plan_cleanup(obj, &Box::pin(R::observe(obj, &owner, &deps, None)).await?, policy)
        };
        if left.is_empty() {
            return Ok(None);
        }
        let message = format!("still deleting: {}", describe(&left));
        Ok(Some(Report::new(
            Health::progressing("Deleting", message),
            Wait::Poll,
            None,
        )))
    }
    .await;
    for (reason, action, note) in &events {
        publish(ctx, obj, EventType::Normal, reason, action, note).await;
    }
    match result {
        Ok(None) => {
            remove_finalizer(ctx, obj).await?;
            Ok(None)
        }
        Ok(Some(report)) => finish(ctx, obj, report).await.map(Some),
        Err(b) => {
            let mut report = blocked(&key(obj), b, None)?;
            if let Health::Progressing { message, .. } = &report.health {
                report.health = Health::progressing("Deleting", message.clone());
            }
            finish(ctx, obj, report).await.map(Some)
        }
    }
}

/// Adds the finalizer (before any AWS mutation), guarded by a JSON-patch test so that a
/// concurrent change of the list is never overwritten.
async fn add_finalizer<K: Kind>(ctx: &Context, obj: &K) -> Result<(), Error> {
    if obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let patch = if obj.finalizers().is_empty() {
        serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
        ])
    } else {
        serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": obj.finalizers()},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}
        ])
    };
    json_patch(ctx, obj, patch).await
}

/// Removes the finalizer: the object goes.
async fn remove_finalizer<K: Kind>(ctx: &Context, obj: &K) -> Result<(), Error> {
    let Some(i) = obj.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{i}");
    let patch = serde_json::json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path}
    ]);
    match json_patch(ctx, obj, patch).await {
        // Already gone (another replica, or a retry after a lost response).
        Err(Error::Kube(kube::Error::Api(e))) if e.code == 404 => Ok(()),
        other => other,
    }
}

async fn json_patch<K: Kind>(ctx: &Context, obj: &K, patch: serde_json::Value) -> Result<(), Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    api.patch(&obj.name_any(), &PatchParams::default(), &Patch::<K>::Json(patch))
        .await
        .map(drop)
        .map_err(Error::Kube)
}

/// Publishes an Event about `obj`. The recorder folds Events with equal type, reason and action
/// into one counted series, so `action` names the AWS action: one Event per kind of mutation.
pub async fn publish<K: Kind>(ctx: &Context, obj: &K, type_: EventType, reason: &str, action: &str, note: &str) {
    let event = kube::runtime::events::Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish an Event");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use tokio::io::AsyncReadExt;
    use tokio::time::Instant;

    use super::*;
    use crate::reconcile::context::{Fence, Hold};

    /// A settled object's failed re-check keeps its status only for a retryable error met before
    /// anything was planned, and for less than one re-check period of failures in a row.
    #[test]
    fn a_failed_recheck_keeps_the_status_only_briefly_and_only_when_retrying_may_cure_it() {
        let (period, brief, long) = (
            Duration::from_secs(600),
            Duration::from_secs(30),
            Duration::from_secs(600),
        );
        let (transient, throttled) = (RetryClass::Transient, RetryClass::Throttled);
        assert!(keeps_status(true, false, transient, Duration::ZERO, period));
        assert!(keeps_status(true, false, throttled, brief, period));
        assert!(
            !keeps_status(true, false, throttled, long, period),
            "failing a whole period"
        );
        assert!(
            !keeps_status(false, false, throttled, brief, period),
            "not a re-check: converging or changed"
        );
        assert!(
            !keeps_status(true, true, transient, brief, period),
            "planned: AWS differs from the spec"
        );
        for needs_a_person in [RetryClass::AccessDenied, RetryClass::Terminal] {
            assert!(
                !keeps_status(true, false, needs_a_person, Duration::ZERO, period),
                "{needs_a_person:?}"
            );
        }
    }

    #[test]
    fn what_follows_each_outcome() {
        let ready = Health::ready("ok");
        assert_eq!(wait_for(&ready, false), Wait::Resync);
        assert_eq!(wait_for(&ready, true), Wait::Poll, "ready but still draining");
        assert_eq!(wait_for(&Health::waiting("tg"), false), Wait::Poll);
        let stalled = Health::Stalled {
            reason: "InvalidSpec",
            message: String::new(),
        };
        assert_eq!(wait_for(&stalled, false), Wait::Retry(RetryClass::Terminal));
        let denied = crate::model::AwsError {
            operation: "DescribeTargetGroups",
            code: "AccessDenied".into(),
            message: String::new(),
            request_id: "-".into(),
            class: RetryClass::AccessDenied,
        };
        let report = blocked::<()>("TargetGroup/team-a/web", Blocked::Aws(denied), None).unwrap();
        assert_eq!(report.wait, Wait::Retry(RetryClass::AccessDenied));
        assert!(matches!(
            report.health,
            Health::Stalled {
                reason: "AccessDenied",
                ..
            }
        ));
    }

    /// The API server and AWS, faked: each request's first line recorded, none ever answered.
    async fn silent_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = vec![0u8; 4096];
                let n = stream.read(&mut head).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&head[..n])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                record.lock().unwrap().push(line);
                open.push(stream);
            }
        });
        (url, seen)
    }

    fn context(url: &str, fence: Fence) -> Arc<Context> {
        Arc::new(Context::for_tests(url).with_fence(fence))
    }

    /// Leadership lost before a reconcile: it does not start. Lost while a reconcile waits on its
    /// first read (its stack, from the API server): it stops there, with no AWS call, no
    /// finalizer, Event or status written.
    #[tokio::test]
    async fn no_call_is_made_once_leadership_is_lost() {
        use crate::api::TargetGroup;
        use crate::targetgroup::TargetGroupReconciler;
        let (url, seen) = silent_server().await;
        let tg: TargetGroup = serde_yaml::from_str(
            "apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {name: web, namespace: team-a, uid: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0, generation: 1}
spec: {stackRef: {name: netflux}, port: 8080}",
        )
        .unwrap();
        let tg = Arc::new(tg);
        let key = lane_key(&*tg);

        let (holder, fence) = Fence::new("webstack-system/webstack-operator", Hold::Unbounded);
        holder.lose();
        let (lanes, _fed) = Lanes::new(1);
        let result = reconcile::<TargetGroupReconciler>(
            tg.clone(),
            context(&url, fence),
            &key,
            lanes.clone(),
            reflector::store().0,
        )
        .await;
        assert!(matches!(result, Err(Error::Fenced(_))), "{result:?}");
        assert_eq!(*seen.lock().unwrap(), Vec::<String>::new(), "not even a read");

        // With the finalizer and a first status there already, the stack is the first thing read.
        let mut with_finalizer = (*tg).clone();
        with_finalizer.meta_mut().finalizers = Some(vec![FINALIZER.into()]);
        let mut accepted = crate::api::TargetGroupStatus::default();
        let health = Health::progressing("Provisioning", "accepted");
        accepted.set_conditions(Some(1), status::conditions(&[], &health, Some(1), &status::now()));
        with_finalizer.status = Some(accepted);
        let until = Instant::now() + Duration::from_millis(500);
        let (_holder, fence) = Fence::new("webstack-system/webstack-operator", Hold::Until(until));
        let result = reconcile::<TargetGroupReconciler>(
            Arc::new(with_finalizer),
            context(&url, fence),
            &key,
            lanes,
            reflector::store().0,
        )
        .await;
        assert!(matches!(result, Err(Error::Fenced(_))), "{result:?}");
        assert!(Instant::now() >= until);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].starts_with("GET /apis/webstack.io/v1alpha1/namespaces/team-a/webstacks/netflux"),
            "{seen:?}"
        );
    }

    /// Every due object's reconcile is a task of kube-runtime's runner, even one that only parks
    /// in the lanes: what is allocated for it is the future before the slot, with the reconcile
    /// itself boxed behind it. Inline, a WebStack's was 71,536 bytes in a debug build (48,064 for
    /// a TargetGroup); when every due object's reconcile waited in its task (before the lanes
    /// parked them), a few thousand objects after a start made that hundreds of MiB. With only the
    /// reconcile boxed, the first status write and the fence's guard inline made it 600 bytes: now
    /// both are boxed too.
    #[tokio::test]
    async fn a_reconcile_waiting_for_its_slot_is_small() {
        let ctx = Arc::new(Context::for_tests("http://127.0.0.1:9"));
        let (lanes, _fed) = Lanes::new(1);
        let stack: crate::api::WebStack = serde_yaml::from_str(
            "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: a, namespace: b}\nspec: {}",
        )
        .unwrap();
        let key = lanes::key("b", "a");
        let waiting = reconcile::<crate::webstack::WebStackReconciler>(
            Arc::new(stack),
            ctx.clone(),
            &key,
            lanes.clone(),
            reflector::store().0,
        );
        assert!(
            std::mem::size_of_val(&waiting) <= 256,
            "{} bytes",
            std::mem::size_of_val(&waiting)
        );
        let group: crate::api::TargetGroup = serde_yaml::from_str(
            "apiVersion: webstack.io/v1alpha1\nkind: TargetGroup\nmetadata: {name: a, namespace: b}\nspec: {stackRef: {name: a}, port: 80}",
        )
        .unwrap();
        let waiting = reconcile::<crate::targetgroup::TargetGroupReconciler>(
            Arc::new(group),
            ctx,
            &key,
            lanes,
            reflector::store().0,
        );
        assert!(
            std::mem::size_of_val(&waiting) <= 256,
            "{} bytes",
            std::mem::size_of_val(&waiting)
        );
    }
}
