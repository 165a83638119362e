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
//! Why not kube-runtime's own limit: when its `Controller` is at its concurrency, the due objects
//! wait in a `HashSet` (kube-runtime 5.0, `scheduler.rs`, `pending`) and a free slot goes to the
//! first one the set's iteration finds. Under a sustained backlog the same objects keep winning
//! and others are never reconciled: 11 of 60 stacks applied at once had no status after 19
//! minutes (issue 24). The controllers therefore run unbounded and take a slot here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit, oneshot};

/// First-status writes in flight per kind (a few milliseconds each: hundreds a second).
pub const FIRST_STATUS_WRITES: usize = 16;

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
}

#[derive(Debug)]
struct State {
    free: usize,
    first: VecDeque<oneshot::Sender<()>>,
    again: VecDeque<oneshot::Sender<()>>,
    recheck: VecDeque<oneshot::Sender<()>>,
}

/// The slots of one kind's reconciles.
#[derive(Debug)]
pub struct Lanes {
    state: Mutex<State>,
    /// The first-status writes in flight ([`FIRST_STATUS_WRITES`]; tokio's semaphore is fair).
    first_statuses: Semaphore,
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
        self.lanes.release();
    }
}

/// A waiter that gave up (its reconcile was dropped) returns a slot it was handed meanwhile.
struct Waiting {
    lanes: Arc<Lanes>,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.lanes.release();
            }
        }
    }
}

impl Lanes {
    pub fn new(concurrency: usize) -> Arc<Lanes> {
        Arc::new(Lanes {
            state: Mutex::new(State {
                free: concurrency.max(1),
                first: VecDeque::new(),
                again: VecDeque::new(),
                recheck: VecDeque::new(),
            }),
            first_statuses: Semaphore::new(FIRST_STATUS_WRITES),
        })
    }

    /// Waits for a turn to write a new object's first status (held while it is written).
    pub async fn first_status(&self) -> SemaphorePermit<'_> {
        self.first_statuses
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot in `lane`.
    pub async fn enter(self: &Arc<Self>, lane: Lane) -> Slot {
        let started = Instant::now();
        let rx = {
            let mut state = self.lock();
            if state.free > 0 && state.first.is_empty() && state.again.is_empty() && state.recheck.is_empty() {
                state.free -= 1;
                return Slot {
                    lanes: self.clone(),
                    waited: Duration::ZERO,
                };
            }
            let (tx, rx) = oneshot::channel();
            match lane {
                Lane::First => state.first.push_back(tx),
                Lane::Again => state.again.push_back(tx),
                Lane::Recheck => state.recheck.push_back(tx),
            }
            rx
        };
        let mut waiting = Waiting {
            lanes: self.clone(),
            rx: Some(rx),
        };
        // A sender is dropped only once `release` has sent on it (this waiter is alive).
        if let Some(rx) = waiting.rx.as_mut() {
            let handed = rx.await;
            debug_assert!(handed.is_ok());
        }
        waiting.rx = None;
        Slot {
            lanes: self.clone(),
            waited: started.elapsed(),
        }
    }

    /// How many reconciles wait in each lane: (first, again, recheck).
    pub fn waiting(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.first.len(), state.again.len(), state.recheck.len())
    }

    /// Hands a slot to the oldest waiter of the First lane, else of the Again lane, else of the
    /// Recheck lane (skipping waiters that gave up), else frees it.
    fn release(&self) {
        let mut state = self.lock();
        loop {
            let next = state
                .first
                .pop_front()
                .or_else(|| state.again.pop_front())
                .or_else(|| state.recheck.pop_front());
            match next {
                Some(tx) => {
                    if tx.send(()).is_ok() {
                        return;
                    }
                }
                None => {
                    state.free += 1;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets every spawned task run until it blocks.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
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

    #[tokio::test(flavor = "current_thread")]
    async fn first_status_writes_take_turns() {
        let lanes = Lanes::new(1);
        let mut held = Vec::new();
        for _ in 0..FIRST_STATUS_WRITES {
            held.push(lanes.first_status().await);
        }
        let mut next = Box::pin(lanes.first_status());
        let mut after = Box::pin(lanes.first_status());
        assert!(futures::poll!(&mut next).is_pending());
        assert!(futures::poll!(&mut after).is_pending());
        // One write ends: the oldest waiter goes next, the later one still waits.
        held.pop();
        let turn = next.await;
        assert!(futures::poll!(&mut after).is_pending());
        drop(turn);
        let _ = after.await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn first_lane_goes_before_older_polls_polls_before_rechecks_and_each_lane_is_in_order() {
        let lanes = Lanes::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let running = lanes.enter(Lane::Again).await;
        let mut tasks = Vec::new();
        for (name, lane) in [
            ("recheck-1", Lane::Recheck),
            ("poll-1", Lane::Again),
            ("poll-2", Lane::Again),
            ("new-1", Lane::First),
            ("recheck-2", Lane::Recheck),
            ("poll-3", Lane::Again),
            ("new-2", Lane::First),
        ] {
            let (lanes, order) = (lanes.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = lanes.enter(lane).await;
                order.lock().unwrap().push(name);
                tokio::task::yield_now().await;
            }));
            settle().await;
        }
        assert_eq!(lanes.waiting(), (2, 3, 2));
        drop(running);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["new-1", "new-2", "poll-1", "poll-2", "poll-3", "recheck-1", "recheck-2"]
        );
        assert_eq!(lanes.waiting(), (0, 0, 0));
        assert_eq!(lanes.lock().free, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn never_more_than_the_concurrency_at_once() {
        let lanes = Lanes::new(3);
        let now = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (lanes, now, most) = (lanes.clone(), now.clone(), most.clone());
                tokio::spawn(async move {
                    let lane = [Lane::First, Lane::Again, Lane::Recheck][i % 3];
                    let _slot = lanes.enter(lane).await;
                    let n = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                    }
                    now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(lanes.lock().free, 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_that_gives_up_loses_no_slot() {
        let lanes = Lanes::new(1);
        let running = lanes.enter(Lane::Again).await;
        // Gives up before being handed the slot.
        let early = tokio::spawn({
            let lanes = lanes.clone();
            async move { lanes.enter(Lane::First).await }
        });
        settle().await;
        early.abort();
        let _ = early.await;
        // Handed the slot, but dropped before it ran.
        let late = {
            let lanes = lanes.clone();
            let mut f = Box::pin(async move { lanes.enter(Lane::First).await });
            assert!(futures::poll!(f.as_mut()).is_pending());
            f
        };
        drop(running);
        drop(late);
        assert_eq!(lanes.lock().free, 1, "the slot was lost");
        let slot = tokio::time::timeout(Duration::from_secs(1), lanes.enter(Lane::Again))
            .await
            .expect("a slot is free");
        assert_eq!(slot.waited, Duration::ZERO);
    }
}
