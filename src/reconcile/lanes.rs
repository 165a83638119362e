//! The queue every reconcile of a kind waits in before it runs: at most `concurrency` at once, in
//! three lanes served in order of arrival.
//!
//! - **First**: an object whose current generation has not been reconciled yet (new, changed, or
//!   being deleted: deletion bumps the generation). A person is waiting for it.
//! - **Again**: polls of converging objects (NAT gateways, RDS, CloudFront), retries, and objects
//!   a drift event named.
//! - **Recheck**: the periodic re-check of a settled object (`Ready`, its generation reconciled,
//!   no event naming it). Its AWS reads also yield to everyone else's in the budget
//!   ([`crate::aws::budget`]).
//!
//! A free slot goes to the oldest waiter of the First lane, else of the Again lane, else of the
//! Recheck lane. First waits are bounded by what people change and Again waits by what is
//! converging, so the later lanes are never starved for long, and within a lane nobody is
//! overtaken. Re-checks come last because they are the bulk at scale (every object every
//! `--resync-period`) and nobody waits for them: at 100 stacks re-checked every 60 s they took
//! the budget the converging stacks needed (issue 24).
//!
//! Before a new object waits in the First lane it writes its first status (`Reconciling`,
//! "accepted"): at most [`FIRST_STATUS_WRITES`] of those are in flight per kind, in order of
//! arrival. Unbounded, 1,800 objects applied at once put hundreds of writes in flight, each holding
//! its serialised body, its request and its boxed future until the API server answered (over
//! HTTP/1.1 a connection each too): the largest part of the heap's peak after the connections.
//!
//! **Waiting is parking.** An object that finds no free slot (or no first-status turn) is written
//! down here, its key and since when, and its reconcile ends at once (`await_change`: kube-runtime
//! keeps nothing for it). When its turn comes the slot is *reserved* for it and its key is sent on
//! the feed, which the controller reconciles on (`reconcile_on`); that reconcile takes the
//! reservation. So kube-runtime's runner holds only what runs, what writes a first status, and
//! reconciles that park at once: a waiting object costs its key here (about 100 bytes) instead of
//! a task and a runner entry (about 1 KiB; the runner's table also kept the capacity of its
//! largest backlog, 8,192 entries after 1,000 stacks were applied). A reservation not taken up
//! within [`RESERVED_FOR`] (the object went before its reconcile ran) goes to the next waiter.
//!
//! Why kube-runtime's own limit is not enough alone: when its `Controller` is at its concurrency,
//! the due objects wait in a `HashSet` (kube-runtime 5.0, `scheduler.rs`, `pending`) and a free
//! slot goes to the first one the set's iteration finds. Under a sustained backlog of reconciles
//! that *run*, the same objects keep winning and others are never reconciled: 11 of 60 stacks
//! applied at once had no status after 19 minutes (issue 24). The controllers set it above what
//! can run here ([`runner_limit`]), so what waits in that set is only ever behind reconciles that
//! park at once: the set drains in microseconds, and the order is kept here.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// First-status writes in flight per kind (a few milliseconds each: hundreds a second).
pub const FIRST_STATUS_WRITES: usize = 16;

/// Room in kube-runtime's runner for reconciles that park at once, beyond those that run and
/// those that write a first status.
const PASSING: usize = 32;

/// How long a reserved slot or turn waits for its object's reconcile before it goes to the next.
pub const RESERVED_FOR: Duration = Duration::from_secs(10);

/// kube-runtime's runner limit for a kind reconciled `concurrency` at a time.
pub fn runner_limit(concurrency: u16) -> u16 {
    let room = u16::try_from(FIRST_STATUS_WRITES + PASSING).unwrap_or(u16::MAX);
    concurrency.saturating_add(room)
}

/// Which lane a reconcile waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// A generation not reconciled yet.
    First,
    /// A poll, a retry, or an object a drift event named.
    Again,
    /// The re-check of a settled object.
    Recheck,
}

impl Lane {
    /// The lane of an object whose status records `observed` for its `generation`, and whether
    /// it is `settled` (`Ready`, and no drift event named it since its last reconcile).
    pub fn of(generation: Option<i64>, observed: Option<i64>, settled: bool) -> Lane {
        if observed.is_none() || observed != generation {
            Lane::First
        } else if settled {
            Lane::Recheck
        } else {
            Lane::Again
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Lane::First => "first",
            Lane::Again => "again",
            Lane::Recheck => "recheck",
        }
    }

    /// Its queue (1..=3; 0 is the first statuses').
    fn queue(self) -> usize {
        match self {
            Lane::First => 1,
            Lane::Again => 2,
            Lane::Recheck => 3,
        }
    }
}

/// An object's key: `namespace/name` (neither may contain a `/`).
pub type Key = Arc<str>;

/// The key of the object `name` in `namespace`.
pub fn key(namespace: &str, name: &str) -> Key {
    format!("{namespace}/{name}").into()
}

/// The object `key` names: (namespace, name).
pub fn split(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// What a reservation or a parked object waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pool {
    /// A turn to write a first status.
    FirstStatus,
    /// A slot to reconcile in.
    Slot,
}

/// A parked object: the queue it is in (0: first status, else its lane's), since when, and the
/// ticket of its place there.
#[derive(Debug)]
struct Parked {
    queue: usize,
    since: Instant,
    ticket: u64,
}

/// A turn or slot handed to an object whose reconcile has not taken it yet.
#[derive(Debug)]
struct Reserved {
    pool: Pool,
    /// Since when the object waited.
    since: Instant,
    /// When it was handed over.
    at: Instant,
}

#[derive(Debug)]
struct State {
    /// Free slots, free first-status turns.
    free: usize,
    free_turns: usize,
    parked: HashMap<Key, Parked>,
    /// Keys in order of arrival, with their tickets: first statuses, then the lanes. An entry
    /// whose ticket is not its key's parked one (it moved to a more urgent lane, or ran) is
    /// skipped.
    queues: [VecDeque<(Key, u64)>; 4],
    /// The next ticket.
    tickets: u64,
    /// How many are parked in each queue.
    counts: [usize; 4],
    reserved: HashMap<Key, Reserved>,
    /// [`RESERVED_FOR`] (shorter in tests).
    reserved_for: Duration,
}

/// The slots of one kind's reconciles.
#[derive(Debug)]
pub struct Lanes {
    state: Mutex<State>,
    /// The keys whose turn came (their reconciles take the reservation).
    feed: mpsc::UnboundedSender<Key>,
}

/// A slot: released (handed to the next waiter) when dropped.
#[derive(Debug)]
pub struct Slot {
    lanes: Arc<Lanes>,
    /// How long the reconcile waited for it.
    pub waited: Duration,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.lanes.release(Pool::Slot);
    }
}

/// A turn to write a first status: handed to the next when dropped.
#[derive(Debug)]
pub struct Turn {
    lanes: Arc<Lanes>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.lanes.release(Pool::FirstStatus);
    }
}

/// Whether a new object writes its first status now.
#[derive(Debug)]
pub enum FirstStatus {
    /// It waited, or needs not: it is past that (waiting in a lane or holding a reserved slot).
    Done,
    /// Its turn: write it, then drop the turn.
    Write(Turn),
    /// Parked until its turn: its reconcile ends.
    Parked,
}

impl Lanes {
    /// The lanes of `concurrency` slots, and the feed of the keys whose turn came.
    pub fn new(concurrency: usize) -> (Arc<Lanes>, mpsc::UnboundedReceiver<Key>) {
        let (feed, fed) = mpsc::unbounded_channel();
        let lanes = Arc::new(Lanes {
            state: Mutex::new(State {
                free: concurrency.max(1),
                free_turns: FIRST_STATUS_WRITES,
                parked: HashMap::new(),
                queues: Default::default(),
                counts: [0; 4],
                tickets: 0,
                reserved: HashMap::new(),
                reserved_for: RESERVED_FOR,
            }),
            feed,
        });
        (lanes, fed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new object's turn to write its first status (in order of arrival, [`FIRST_STATUS_WRITES`]
    /// at once), or `Parked` until it comes.
    pub fn first_status(self: &Arc<Self>, key: &Key) -> FirstStatus {
        let mut state = self.lock();
        self.expire(&mut state);
        match state.reserved.get(key).map(|r| r.pool) {
            Some(Pool::Slot) => return FirstStatus::Done,
            Some(Pool::FirstStatus) => {
                state.reserved.remove(key);
                return FirstStatus::Write(Turn { lanes: self.clone() });
            }
            None => {}
        }
        match state.parked.get(key).map(|p| p.queue) {
            Some(0) => return FirstStatus::Parked,
            Some(_) => return FirstStatus::Done,
            None => {}
        }
        if state.free_turns > 0 && state.counts[0] == 0 {
            state.free_turns -= 1;
            return FirstStatus::Write(Turn { lanes: self.clone() });
        }
        park(&mut state, key, 0, Instant::now());
        self.dispatch(&mut state);
        FirstStatus::Parked
    }

    /// A slot in `lane` for the object `key` now (the one reserved for it, or a free one nobody
    /// waits for), or `None`: it is parked in `lane` (or stays parked, moved to `lane` if that is
    /// more urgent) and its reconcile ends; it is fed when its turn comes.
    pub fn enter(self: &Arc<Self>, key: &Key, lane: Lane) -> Option<Slot> {
        let mut state = self.lock();
        self.expire(&mut state);
        match state.reserved.remove(key) {
            Some(reserved) if reserved.pool == Pool::Slot => {
                return Some(Slot {
                    lanes: self.clone(),
                    waited: reserved.since.elapsed(),
                });
            }
            // A first-status turn it no longer needs (its status is there, or it is being
            // deleted): the next writer's.
            Some(reserved) => self.hand_over(&mut state, reserved.pool),
            None => {}
        }
        let queue = lane.queue();
        match state.parked.get(key).map(|p| p.queue) {
            // Waiting already (a first status it no longer needs counts as waiting): a more
            // urgent lane moves it to that lane's end.
            Some(at) if at == 0 || queue < at => {
                let since = state.parked.remove(key).expect("just found").since;
                state.counts[at] -= 1;
                park(&mut state, key, queue, since);
                self.dispatch(&mut state);
                return None;
            }
            Some(_) => return None,
            None => {}
        }
        if state.free > 0 && state.counts[1..].iter().all(|n| *n == 0) {
            state.free -= 1;
            return Some(Slot {
                lanes: self.clone(),
                waited: Duration::ZERO,
            });
        }
        park(&mut state, key, queue, Instant::now());
        self.dispatch(&mut state);
        None
    }

    /// The object `key` was fed but is gone: what was reserved for it goes to the next.
    pub fn cancel(&self, key: &Key) {
        let mut state = self.lock();
        if let Some(reserved) = state.reserved.remove(key) {
            self.hand_over(&mut state, reserved.pool);
        }
    }

    /// How many objects wait in each lane: (first, again, recheck).
    pub fn waiting(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.counts[1], state.counts[2], state.counts[3])
    }

    fn release(&self, pool: Pool) {
        let mut state = self.lock();
        self.hand_over(&mut state, pool);
        self.expire(&mut state);
    }

    /// Hands a free `pool` slot or turn to the oldest waiter of its queues (for slots, the First
    /// lane's, else the Again lane's, else the Recheck lane's), reserving it and feeding its key;
    /// with nobody waiting it is free.
    fn hand_over(&self, state: &mut State, pool: Pool) {
        let queues = match pool {
            Pool::FirstStatus => 0..1,
            Pool::Slot => 1..4,
        };
        for q in queues {
            while let Some((key, ticket)) = state.queues[q].pop_front() {
                if state.parked.get(&key).is_none_or(|p| p.ticket != ticket) {
                    continue;
                }
                let parked = state.parked.remove(&key).expect("just found");
                state.counts[q] -= 1;
                state.give_room_back(q);
                let now = Instant::now();
                state.reserved.insert(
                    key.clone(),
                    Reserved {
                        pool,
                        since: parked.since,
                        at: now,
                    },
                );
                // Nobody reads the feed once the controller stopped: nothing is waited for then.
                let _ = self.feed.send(key);
                return;
            }
        }
        match pool {
            Pool::FirstStatus => state.free_turns += 1,
            Pool::Slot => state.free += 1,
        }
    }

    /// Hands what is free to those who wait (a park when a slot was free).
    fn dispatch(&self, state: &mut State) {
        while state.free_turns > 0 && state.counts[0] > 0 {
            state.free_turns -= 1;
            self.hand_over(state, Pool::FirstStatus);
        }
        while state.free > 0 && state.counts[1..].iter().any(|n| *n > 0) {
            state.free -= 1;
            self.hand_over(state, Pool::Slot);
        }
    }

    /// Reservations not taken up within [`RESERVED_FOR`] go to the next.
    fn expire(&self, state: &mut State) {
        if state.reserved.is_empty() {
            return;
        }
        let (now, reserved_for) = (Instant::now(), state.reserved_for);
        let expired: Vec<Key> = state
            .reserved
            .iter()
            .filter(|(_, r)| now.duration_since(r.at) >= reserved_for)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(reserved) = state.reserved.remove(&key) {
                tracing::debug!(%key, "reserved turn not taken up: handed to the next");
                self.hand_over(state, reserved.pool);
            }
        }
    }
}

/// Parks `key` at the end of `queue`, waiting since `since`.
fn park(state: &mut State, key: &Key, queue: usize, since: Instant) {
    let ticket = state.tickets;
    state.tickets += 1;
    state.parked.insert(key.clone(), Parked { queue, since, ticket });
    state.queues[queue].push_back((key.clone(), ticket));
    state.counts[queue] += 1;
}

impl State {
    /// A backlog drained gives its room back (a start parks every object at once).
    fn give_room_back(&mut self, queue: usize) {
        const KEPT: usize = 1024;
        if self.queues[queue].is_empty() && self.queues[queue].capacity() > KEPT {
            self.queues[queue].shrink_to(KEPT);
        }
        if self.parked.capacity() > KEPT && self.parked.len() * 4 < self.parked.capacity() {
            self.parked.shrink_to((self.parked.len() * 2).max(KEPT));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(name: &str) -> Key {
        key("team-a", name)
    }

    /// Every first-status turn, each taken by an object of its own.
    fn every_turn(lanes: &Arc<Lanes>) -> Vec<Turn> {
        (0..FIRST_STATUS_WRITES)
            .map(|i| match lanes.first_status(&k(&format!("w{i}"))) {
                FirstStatus::Write(turn) => turn,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// The keys fed so far.
    fn fed(rx: &mut mpsc::UnboundedReceiver<Key>) -> Vec<String> {
        let mut keys = Vec::new();
        while let Ok(key) = rx.try_recv() {
            keys.push(split(&key).1.to_string());
        }
        keys
    }

    #[test]
    fn lane_of_a_status() {
        assert_eq!(Lane::of(Some(1), None, false), Lane::First);
        assert_eq!(Lane::of(Some(2), Some(1), false), Lane::First);
        assert_eq!(
            Lane::of(Some(2), Some(1), true),
            Lane::First,
            "a change is First, even Ready"
        );
        assert_eq!(Lane::of(Some(2), Some(2), false), Lane::Again);
        assert_eq!(Lane::of(Some(2), Some(2), true), Lane::Recheck);
        assert_eq!(Lane::of(None, None, true), Lane::First);
    }

    #[test]
    fn keys_name_their_objects() {
        assert_eq!(split(&key("team-a", "web")), ("team-a", "web"));
    }

    #[test]
    fn first_status_writes_take_turns_in_order_of_arrival() {
        let (lanes, mut rx) = Lanes::new(1);
        let mut held = every_turn(&lanes);
        assert!(matches!(lanes.first_status(&k("next")), FirstStatus::Parked));
        assert!(matches!(lanes.first_status(&k("after")), FirstStatus::Parked));
        assert!(
            matches!(lanes.first_status(&k("next")), FirstStatus::Parked),
            "still parked, once"
        );
        assert_eq!(fed(&mut rx), Vec::<String>::new());
        // One write ends: the oldest waiter's turn is reserved and it is fed; the later one waits.
        held.pop();
        assert_eq!(fed(&mut rx), ["next"]);
        assert!(matches!(lanes.first_status(&k("after")), FirstStatus::Parked));
        let turn = match lanes.first_status(&k("next")) {
            FirstStatus::Write(turn) => turn,
            other => panic!("{other:?}"),
        };
        drop(turn);
        assert_eq!(fed(&mut rx), ["after"]);
        assert!(matches!(lanes.first_status(&k("after")), FirstStatus::Write(_)));
        drop(held);
        assert_eq!(lanes.lock().free_turns, FIRST_STATUS_WRITES);
    }

    #[test]
    fn first_lane_goes_before_older_polls_polls_before_rechecks_and_each_lane_is_in_order() {
        let (lanes, mut rx) = Lanes::new(1);
        let mut running = lanes.enter(&k("running"), Lane::Again);
        assert!(running.is_some());
        for (name, lane) in [
            ("recheck-1", Lane::Recheck),
            ("poll-1", Lane::Again),
            ("poll-2", Lane::Again),
            ("new-1", Lane::First),
            ("recheck-2", Lane::Recheck),
            ("poll-3", Lane::Again),
            ("new-2", Lane::First),
        ] {
            assert!(lanes.enter(&k(name), lane).is_none(), "{name} parks");
        }
        assert_eq!(lanes.waiting(), (2, 3, 2));
        let mut order = Vec::new();
        loop {
            drop(running.take());
            let next = fed(&mut rx);
            let Some(name) = next.first() else { break };
            assert_eq!(next.len(), 1, "one slot, one turn: {next:?}");
            // Its reconcile comes back (in any lane it is now) and takes the reserved slot.
            running = lanes.enter(&k(name), Lane::Recheck);
            assert!(running.is_some(), "{name} takes its slot");
            order.push(name.clone());
        }
        assert_eq!(
            order,
            ["new-1", "new-2", "poll-1", "poll-2", "poll-3", "recheck-1", "recheck-2"]
        );
        assert_eq!(lanes.waiting(), (0, 0, 0));
        assert_eq!(lanes.lock().free, 1);
        assert!(lanes.lock().reserved.is_empty());
    }

    #[test]
    fn never_more_than_the_concurrency_at_once_and_everyone_runs_once() {
        let (lanes, mut rx) = Lanes::new(3);
        let mut running: VecDeque<Slot> = VecDeque::new();
        let mut ran = Vec::new();
        for i in 0..20 {
            let name = format!("o{i}");
            let lane = [Lane::First, Lane::Again, Lane::Recheck][i % 3];
            if let Some(slot) = lanes.enter(&k(&name), lane) {
                running.push_back(slot);
                ran.push(name);
            }
        }
        assert_eq!(running.len(), 3);
        while let Some(done) = running.pop_front() {
            drop(done);
            for name in fed(&mut rx) {
                running.push_back(lanes.enter(&k(&name), Lane::Again).expect("reserved"));
                ran.push(name);
            }
            assert!(running.len() <= 3);
        }
        ran.sort();
        ran.dedup();
        assert_eq!(ran.len(), 20);
        assert_eq!(lanes.lock().free, 3);
    }

    #[test]
    fn a_more_urgent_lane_moves_a_waiter_and_a_waiter_is_never_queued_twice() {
        let (lanes, mut rx) = Lanes::new(1);
        let running = lanes.enter(&k("running"), Lane::First).unwrap();
        assert!(lanes.enter(&k("settled"), Lane::Recheck).is_none());
        assert!(lanes.enter(&k("poll"), Lane::Again).is_none());
        // A drift event names the settled one, then it is changed; a poll comes round again.
        assert!(lanes.enter(&k("settled"), Lane::Again).is_none());
        assert!(lanes.enter(&k("settled"), Lane::First).is_none());
        assert!(lanes.enter(&k("poll"), Lane::Again).is_none());
        assert!(
            lanes.enter(&k("poll"), Lane::Recheck).is_none(),
            "a later lane does not move it back"
        );
        assert_eq!(lanes.waiting(), (1, 1, 0));
        drop(running);
        assert_eq!(fed(&mut rx), ["settled"]);
        drop(lanes.enter(&k("settled"), Lane::First).unwrap());
        assert_eq!(fed(&mut rx), ["poll"]);
        drop(lanes.enter(&k("poll"), Lane::Again).unwrap());
        assert_eq!(fed(&mut rx), Vec::<String>::new(), "nobody twice");
        assert_eq!(lanes.lock().free, 1);
    }

    #[test]
    fn a_place_left_behind_is_not_taken_up_again() {
        let (lanes, mut rx) = Lanes::new(1);
        let running = lanes.enter(&k("running"), Lane::First).unwrap();
        assert!(lanes.enter(&k("a"), Lane::Recheck).is_none());
        assert!(lanes.enter(&k("b"), Lane::Recheck).is_none());
        // `a` is changed: it leaves its place among the re-checks for the First lane, and runs.
        assert!(lanes.enter(&k("a"), Lane::First).is_none());
        drop(running);
        assert_eq!(fed(&mut rx), ["a"]);
        let a = lanes.enter(&k("a"), Lane::First).unwrap();
        assert!(lanes.enter(&k("poll"), Lane::Again).is_none());
        drop(a);
        assert_eq!(fed(&mut rx), ["poll"]);
        let poll = lanes.enter(&k("poll"), Lane::Again).unwrap();
        // Its next re-check comes while the re-checks have not moved: it queues behind `b`.
        assert!(lanes.enter(&k("a"), Lane::Recheck).is_none());
        assert_eq!(lanes.waiting(), (0, 0, 2));
        drop(poll);
        assert_eq!(fed(&mut rx), ["b"]);
        drop(lanes.enter(&k("b"), Lane::Recheck).unwrap());
        assert_eq!(fed(&mut rx), ["a"]);
    }

    #[test]
    fn a_drained_backlog_gives_its_room_back() {
        let (lanes, mut rx) = Lanes::new(1);
        let mut running = lanes.enter(&k("running"), Lane::First);
        for i in 0..10_000 {
            assert!(lanes.enter(&k(&format!("o{i}")), Lane::First).is_none());
        }
        let room = |lanes: &Lanes| {
            let state = lanes.lock();
            (state.parked.capacity(), state.queues[1].capacity())
        };
        assert!(room(&lanes).0 >= 10_000);
        loop {
            drop(running.take());
            let Some(name) = fed(&mut rx).pop() else { break };
            running = lanes.enter(&k(&name), Lane::First);
        }
        let (parked, queued) = room(&lanes);
        assert!(parked <= 2048 && queued <= 1024, "{parked}, {queued}");
    }

    #[test]
    fn an_object_past_its_first_status_does_not_write_it_again() {
        let (lanes, mut rx) = Lanes::new(1);
        let running = lanes.enter(&k("running"), Lane::First).unwrap();
        // Its first status written, it parks; the cache may not show that status yet.
        assert!(matches!(lanes.first_status(&k("new")), FirstStatus::Write(_)));
        assert!(lanes.enter(&k("new"), Lane::First).is_none());
        assert!(
            matches!(lanes.first_status(&k("new")), FirstStatus::Done),
            "parked in a lane"
        );
        drop(running);
        assert_eq!(fed(&mut rx), ["new"]);
        assert!(
            matches!(lanes.first_status(&k("new")), FirstStatus::Done),
            "its slot is reserved"
        );
        assert!(lanes.enter(&k("new"), Lane::First).is_some());
    }

    #[test]
    fn a_slot_nobody_takes_up_goes_to_the_next() {
        let (lanes, mut rx) = Lanes::new(1);
        let running = lanes.enter(&k("running"), Lane::First).unwrap();
        for name in ["gone", "deleted", "next"] {
            assert!(lanes.enter(&k(name), Lane::First).is_none());
        }
        drop(running);
        assert_eq!(fed(&mut rx), ["gone"]);
        // Its object went before its reconcile ran: the feed says so.
        lanes.cancel(&k("gone"));
        assert_eq!(fed(&mut rx), ["deleted"]);
        // Its reconcile never comes: the reservation expires at the next visit to the lanes.
        lanes.lock().reserved_for = Duration::ZERO;
        assert!(lanes.enter(&k("next"), Lane::First).is_some(), "handed over and taken");
        assert_eq!(fed(&mut rx), ["next"]);
        assert!(lanes.lock().reserved.is_empty());
    }

    #[test]
    fn a_parked_new_object_that_needs_no_first_status_any_more_moves_to_its_lane() {
        let (lanes, mut rx) = Lanes::new(1);
        let turns = every_turn(&lanes);
        assert!(matches!(lanes.first_status(&k("doomed")), FirstStatus::Parked));
        // Deleted before its first status: it waits for a slot, not for a turn, and takes the
        // free slot at once.
        assert!(lanes.enter(&k("doomed"), Lane::First).is_none());
        assert_eq!(fed(&mut rx), ["doomed"]);
        assert!(lanes.enter(&k("doomed"), Lane::First).is_some());
        drop(turns);
        assert_eq!(fed(&mut rx), Vec::<String>::new(), "the stale turn is handed to nobody");
        assert_eq!(lanes.lock().free_turns, FIRST_STATUS_WRITES);
    }
}
