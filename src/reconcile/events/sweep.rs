//! The batched sweep, drift events' safety net (`--events-sweep-period`): every period, a few
//! calls per service read every resource of the types [`crate::aws::sweep`] covers, across all
//! stacks. Each resource's print is folded into the prints of the objects whose reconciles named
//! it ([`super::Index`]); an object whose print differs from the last sweep's is reconciled (deep,
//! like an event's), the others are not touched. A change made between two sweeps is thus found
//! by the second, events or not, whoever made it.
//!
//! An object a sweep covers (one of its own resources was read in this sweep and the last) needs
//! its full re-check less often: `--events-swept-resync-period` while events are healthy.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Events, ObjectKey};
use crate::aws::sweep::Item;
use crate::metrics::METRICS;
use crate::model::{hash_of, report};

/// What the last sweep found.
#[derive(Default)]
pub struct Sweeps {
    state: Mutex<State>,
    /// Sharded, on a replica that does not run the sweep: what the one that does published.
    remote: Mutex<Remote>,
}

/// The sweeps another replica ran, as seen here ([`super::hints`]).
#[derive(Default)]
struct Remote {
    /// When the last two successful sweeps were seen (by this replica's clock).
    seen: [Option<Instant>; 2],
    /// The sweep's period (`None`: no sweep).
    period: Option<Duration>,
}

#[derive(Default)]
struct State {
    /// Each object's print at the last sweep (the keys are the index's own, shared).
    prints: HashMap<Arc<ObjectKey>, u64>,
    /// The objects the last sweep covered, and when it ended (`None`: no successful sweep yet, or
    /// the last one failed).
    covered: HashSet<Arc<ObjectKey>>,
    at: Option<Instant>,
    /// The sweep's period (a sweep older than two periods covers nothing).
    period: Option<Duration>,
}

impl Sweeps {
    /// The sweep's period, for [`Self::covers_remotely`] (zero: no sweep).
    pub fn set_period(&self, period: Duration) {
        if let Ok(mut r) = self.remote.lock() {
            r.period = (!period.is_zero()).then_some(period);
        }
    }

    /// Another replica's sweep ended: it worked (a bump), or not (nothing is covered until two
    /// work again).
    pub fn remote(&self, ok: bool) {
        if let Ok(mut r) = self.remote.lock() {
            r.seen = if ok {
                [r.seen[1], Some(Instant::now())]
            } else {
                [None, None]
            };
        }
    }

    /// Whether another replica's sweeps cover an object: two seen in a row, the last within two
    /// periods, and the object named an identifier of a type the sweep reads as its kind's own
    /// (`names_own`, [`super::Index::names_own`]: what changes or vanishes of it is then handed
    /// over as a hint).
    pub fn covers_remotely(&self, names_own: bool) -> bool {
        let recent = self.remote.lock().is_ok_and(|r| match (r.seen, r.period) {
            ([Some(_), Some(last)], Some(period)) => last.elapsed() < 2 * period,
            _ => false,
        });
        recent && names_own
    }

    /// Whether the last sweep covered `object` and is recent.
    pub fn covers(&self, object: &ObjectKey) -> bool {
        let Ok(s) = self.state.lock() else { return false };
        match (s.at, s.period) {
            (Some(at), Some(period)) => at.elapsed() < 2 * period && s.covered.contains(object),
            _ => false,
        }
    }

    /// A sweep's items, taken as they are read ([`Fold::take`]); `resources`: keep each
    /// resource's print too (sharded, to hand over what moved).
    pub fn fold<'a>(events: &'a Events, resources: bool) -> Fold<'a> {
        Fold {
            events,
            prints: HashMap::new(),
            own: HashSet::new(),
            resources: resources.then(ResourcePrints::new),
            read: 0,
        }
    }

    /// A whole sweep, folded: the objects whose print changed since the last sweep. The first
    /// sweep that sees an object only records it.
    pub fn compare(&self, fold: Fold<'_>, period: Duration) -> BTreeSet<ObjectKey> {
        let Fold {
            events,
            prints: now,
            own,
            ..
        } = fold;
        let Ok(mut s) = self.state.lock() else {
            return BTreeSet::new();
        };
        // Changed, or gone (none of its resources found any more), since the last sweep.
        let mut changed: BTreeSet<ObjectKey> = now
            .iter()
            .filter(|(o, p)| s.prints.get(*o).is_some_and(|before| before != *p))
            .map(|(o, _)| (**o).clone())
            .collect();
        changed.extend(
            s.prints
                .keys()
                .filter(|o| !now.contains_key(*o) && events.index.holds(o))
                .map(|o| (**o).clone()),
        );
        // Covered: its own resources were in this sweep and the last (a first sight is not a
        // comparison).
        s.covered = own.into_iter().filter(|o| s.prints.contains_key(o)).collect();
        s.prints = now;
        s.at = Some(Instant::now());
        s.period = Some(period);
        changed
    }

    /// [`Self::compare`] of a sweep's `items` taken in their order.
    #[cfg(test)]
    pub fn compare_items(&self, events: &Events, items: &[Item], period: Duration) -> BTreeSet<ObjectKey> {
        let mut fold = Sweeps::fold(events, false);
        items.iter().cloned().for_each(|i| fold.take(i));
        self.compare(fold, period)
    }

    /// The objects `gone` says are no longer this replica's: no print, not covered.
    pub fn forget(&self, gone: impl Fn(&ObjectKey) -> bool) {
        if let Ok(mut s) = self.state.lock() {
            s.prints.retain(|o, _| !gone(o));
            s.covered.retain(|o| !gone(o));
        }
    }

    /// A sweep failed (or stopped here): it covers nothing until one works.
    pub(super) fn failed(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.at = None;
            s.covered.clear();
        }
    }
}

/// A sweep being read: each resource, as its answer arrives, folded into the prints of the
/// objects whose reconciles named it ([`super::Index::owners`]), then dropped.
pub struct Fold<'a> {
    events: &'a Events,
    /// Each object's print: the sum of its resources' (identifier, print) hashes, a sum since the
    /// pages come in no promised order.
    prints: HashMap<Arc<ObjectKey>, u64>,
    /// The objects one of whose own resources was read.
    own: HashSet<Arc<ObjectKey>>,
    /// Sharded: each resource's print, by identifier.
    resources: Option<ResourcePrints>,
    /// How many resources were read.
    pub read: usize,
}

impl Fold<'_> {
    /// One resource of the sweep.
    pub fn take(&mut self, i: Item) {
        self.read += 1;
        let print = hash_of(&(&i.id, i.print));
        for o in self.events.index.owners([i.id.as_str()]) {
            if i.kind == o.kind {
                self.own.insert(o.clone());
            }
            let p = self.prints.entry(o).or_default();
            *p = p.wrapping_add(print);
        }
        if let Some(resources) = &mut self.resources {
            resources.insert(i.id, i.print);
        }
    }
}

/// Each resource's print, by identifier, as a sweep found it.
type ResourcePrints = HashMap<String, u64>;

/// The identifiers of the resources whose print changed, or that are gone, since the last sweep
/// (`last`, replaced by `now`); the first sweep only records.
fn moved(last: &mut Option<ResourcePrints>, now: ResourcePrints) -> Vec<String> {
    let mut changed = Vec::new();
    if let Some(before) = last.as_ref() {
        changed.extend(
            before
                .iter()
                .filter(|(id, p)| now.get(*id) != Some(*p))
                .map(|(id, _)| id.clone()),
        );
    }
    *last = Some(now);
    changed.sort_unstable();
    changed
}

/// Sweeps every `period` with the operator's own credentials in its region, until the process
/// stops (the caller's select ends it). Sharded, it also hands the other replicas the identifiers
/// of the resources changed or gone since the last sweep: it reads every load balancer's and
/// target group's tags then, since the other shards' ARNs are not known here.
pub async fn run(ctx: Arc<crate::reconcile::Context>, period: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<ResourcePrints> = None;
    loop {
        tick.tick().await;
        let started = Instant::now();
        let sharded = ctx.events.handing_over();
        let known = |arn: &str| !ctx.events.index.owners([arn]).is_empty();
        let known = if sharded {
            crate::aws::sweep::Known::Tagged
        } else {
            crate::aws::sweep::Known::Arns(&known)
        };
        let mut fold = Sweeps::fold(&ctx.events, sharded);
        let found = &mut |i| fold.take(i);
        // The clients of the objects without a role in the operator's region (made once).
        let read = async {
            let region = ctx.own_region().await.map_err(|e| report(&e))?;
            crate::aws::sweep::read(&region.clients, &ctx.cluster_id, known, found)
                .await
                .map_err(|e| report(&e))
        };
        let (read, calls) = crate::aws::counting(read).await;
        match read {
            Ok(()) => {
                if let Some(resources) = fold.resources.take() {
                    let moved = moved(&mut last, resources);
                    if !moved.is_empty() {
                        ctx.events.hint(super::hints::Note::Ids(moved));
                    }
                    ctx.events.hint(super::hints::Note::Swept(true));
                }
                let resources = fold.read;
                let changed = ctx.events.sweeps.compare(fold, period);
                for o in &changed {
                    let sent = ctx.events.trigger(o);
                    tracing::info!(kind = o.kind, namespace = %o.namespace, name = %o.name, sent, "sweep: changed since the last sweep; reconciling");
                }
                METRICS.sweep("ok", changed.len());
                tracing::debug!(
                    resources,
                    changed = changed.len(),
                    aws_calls = calls.calls,
                    took = ?started.elapsed(),
                    "swept"
                );
            }
            Err(e) => {
                // What changed meanwhile is found by comparing with the last sweep that worked.
                ctx.events.sweeps.failed();
                if sharded {
                    ctx.events.hint(super::hints::Note::Swept(false));
                }
                METRICS.sweep("error", 0);
                tracing::warn!(error = %e, "the sweep failed; objects are re-checked as if there were none until one works");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &'static str, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    fn item(id: &str, kind: &'static str, print: &str) -> Item {
        Item {
            id: id.into(),
            kind,
            print: hash_of(&print),
        }
    }

    /// Each resource's print as a sharded sweep's fold keeps it.
    fn resources(items: &[Item]) -> ResourcePrints {
        let events = Events::default();
        let mut fold = Sweeps::fold(&events, true);
        items.iter().cloned().for_each(|i| fold.take(i));
        fold.resources.expect("kept when asked")
    }

    #[test]
    fn the_resources_changed_or_gone_since_the_last_sweep_are_handed_over() {
        let mut last = None;
        let first = [item("sg-1", "WebStack", "a"), item("sg-2", "WebStack", "b")];
        assert!(moved(&mut last, resources(&first)).is_empty(), "a first sight");
        assert!(moved(&mut last, resources(&first)).is_empty());
        let next = [item("sg-2", "WebStack", "b, 22 open"), item("sg-3", "WebStack", "new")];
        assert_eq!(moved(&mut last, resources(&next)), ["sg-1", "sg-2"]);
        assert!(moved(&mut last, resources(&next)).is_empty());
    }

    #[test]
    fn an_objects_print_does_not_depend_on_the_order_its_resources_are_read_in() {
        let events = Events::default();
        let stack = key("WebStack", "web");
        let ids = ["sg-0a", "sg-0b", "vpc-0a", "rtb-0a"];
        events
            .index
            .record(&stack, ids.iter().map(|i| i.to_string()).collect(), true);
        let mut items: Vec<Item> = ids
            .iter()
            .map(|i| item(i, "WebStack", &format!("{i} as set")))
            .collect();
        let period = Duration::from_secs(600);
        let s = Sweeps::default();
        assert!(s.compare_items(&events, &items, period).is_empty(), "a first sight");
        items.reverse();
        assert!(
            s.compare_items(&events, &items, period).is_empty(),
            "the same, other pages first"
        );
        items.swap(0, 2);
        assert!(s.compare_items(&events, &items, period).is_empty());
        // The same prints on other resources are a change.
        let (a, b) = (items[0].print, items[1].print);
        (items[0].print, items[1].print) = (b, a);
        assert_eq!(s.compare_items(&events, &items, period), BTreeSet::from([stack]));
    }

    #[test]
    fn an_object_is_reconciled_when_its_resources_change_between_sweeps() {
        let events = Events::default();
        let (stack, tg, other) = (key("WebStack", "web"), key("TargetGroup", "api"), key("WebStack", "b"));
        events
            .index
            .record(&stack, ["sg-0a".into(), "vpc-0a".into(), "arn:tg".into()].into(), true);
        events
            .index
            .record(&tg, ["arn:tg".into(), "vpc-0a".into()].into(), true);
        events.index.record(&other, ["sg-0b".into()].into(), true);
        let period = Duration::from_secs(600);
        let sweep = |sg: &str| {
            vec![
                item("sg-0a", "WebStack", sg),
                item("arn:tg", "TargetGroup", "port 80"),
                item("sg-0b", "WebStack", "b"),
                item("sg-foreign", "WebStack", "not ours"),
            ]
        };
        let s = Sweeps::default();
        assert!(
            s.compare_items(&events, &sweep("22 open"), period).is_empty(),
            "a first sight"
        );
        assert!(!s.covers(&stack), "covered from the second sweep");
        assert!(s.compare_items(&events, &sweep("22 open"), period).is_empty());
        assert!(s.covers(&stack) && s.covers(&tg) && s.covers(&other));
        assert_eq!(
            s.compare_items(&events, &sweep("22 and 3389 open"), period),
            BTreeSet::from([stack.clone()])
        );
        // A resource gone is a change of its owners'.
        let mut gone = sweep("22 and 3389 open");
        gone.retain(|i| i.id != "arn:tg");
        assert_eq!(
            s.compare_items(&events, &gone, period),
            BTreeSet::from([stack.clone(), tg.clone()])
        );
        assert!(!s.covers(&tg), "a TargetGroup is covered by its own resource only");
        // Every resource of an object gone: a change too, while the object still holds ids.
        let only_b = vec![item("sg-0b", "WebStack", "b")];
        assert_eq!(
            s.compare_items(&events, &only_b, period),
            BTreeSet::from([stack.clone()])
        );
        // A failed sweep covers nothing.
        s.failed();
        assert!(!s.covers(&other));
    }
}
