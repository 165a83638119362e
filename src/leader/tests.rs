use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::reconcile::context::Fenced;

fn lease(holder: Option<&str>, renew_secs: i64) -> Lease {
    Lease {
        spec: Some(LeaseSpec {
            holder_identity: holder.map(String::from),
            renew_time: Some(MicroTime(Timestamp::from_second(renew_secs).unwrap())),
            ..LeaseSpec::default()
        }),
        ..Lease::default()
    }
}

#[test]
fn a_held_lease_is_taken_only_after_it_stops_changing_for_the_lease_duration() {
    // On a clock of its own: a sleeping test is at the mercy of a loaded machine.
    let d = Duration::from_millis(50);
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut seen = None;
    // Free, released or mine: at once.
    assert!(takeable(&lease(None, 1), "b", &mut seen, d, at(0)));
    assert!(takeable(&lease(Some(""), 1), "b", &mut None, d, at(0)));
    assert!(takeable(&lease(Some("b"), 1), "b", &mut None, d, at(0)));
    // Held by a, first seen now: not before the lease duration has passed on our clock,
    // whatever its renewTime says (an old renewTime from a skewed clock does not count).
    let mut seen = None;
    assert!(!takeable(&lease(Some("a"), 1), "b", &mut seen, d, at(0)));
    // Renewed meanwhile: the wait starts again.
    assert!(!takeable(&lease(Some("a"), 2), "b", &mut seen, d, at(30)));
    assert!(!takeable(&lease(Some("a"), 2), "b", &mut seen, d, at(60)));
    assert!(!takeable(&lease(Some("a"), 2), "b", &mut seen, d, at(79)));
    // Unchanged for the lease duration: expired.
    assert!(takeable(&lease(Some("a"), 2), "b", &mut seen, d, at(80)));
    // Another holder since: the wait starts again.
    assert!(!takeable(&lease(Some("c"), 2), "b", &mut seen, d, at(90)));
    assert!(takeable(&lease(Some("c"), 2), "b", &mut seen, d, at(140)));
}

#[test]
fn identities_differ_per_process_start() {
    assert_ne!(identity(), identity());
}

/// The API server, faked: one lease, each call counted; once `hang` is set no call ever answers.
#[derive(Clone, Default)]
struct Fake {
    lease: Arc<Mutex<Option<Lease>>>,
    hung: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl Fake {
    async fn answer(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hung.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    fn hang(&self) {
        self.hung.store(true, Ordering::SeqCst);
    }

    fn holder(&self) -> Option<String> {
        let lease = self.lease.lock().unwrap().clone()?;
        lease.spec?.holder_identity.filter(|h| !h.is_empty())
    }

    fn set(&self, lease: Lease) {
        *self.lease.lock().unwrap() = Some(lease);
    }
}

impl LeaseStore for Fake {
    async fn get(&self, _name: &str) -> Result<Option<Lease>, kube::Error> {
        self.answer().await;
        Ok(self.lease.lock().unwrap().clone())
    }

    async fn create(&self, lease: &Lease) -> Result<bool, kube::Error> {
        self.answer().await;
        let mut held = self.lease.lock().unwrap();
        if held.is_some() {
            return Ok(false);
        }
        *held = Some(lease.clone());
        Ok(true)
    }

    async fn replace(&self, _name: &str, lease: &Lease) -> Result<bool, kube::Error> {
        self.answer().await;
        *self.lease.lock().unwrap() = Some(lease.clone());
        Ok(true)
    }
}

/// The chart's timings.
fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        namespace: "webstack-system".into(),
        name: "webstack-operator".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    }
}

/// A renewal that never answers (the API server or the network hung): leadership ends at the
/// renew deadline, measured from the start of the last renewal that succeeded, not when the hung
/// call would give up; a reconcile in flight stops before its next step; a step afterwards is
/// refused without running (no AWS call).
#[tokio::test(start_paused = true)]
async fn a_hung_renewal_loses_leadership_by_the_renew_deadline_and_no_step_runs_after() {
    let store = Fake::default();
    let c = config("a");
    let leadership = acquire_in(store.clone(), c.clone()).await;
    let acquired = Instant::now();
    let fence = leadership.fence();
    assert!(leadership.is_leading() && fence.is_leading());
    assert_eq!(store.holder().as_deref(), Some("a"));

    // Two renewals answer (at 2 s and 4 s), then the API server stops answering.
    tokio::time::sleep(Duration::from_secs(5)).await;
    store.hang();
    let last_renewal = acquired + Duration::from_secs(4);
    let calls_before = store.calls.load(Ordering::SeqCst);

    // A reconcile in flight: a step, a call that answers only after a minute, then a step that
    // must never run.
    let steps = AtomicUsize::new(0);
    let reconcile = fence.guard(async {
        steps.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        steps.fetch_add(1, Ordering::SeqCst);
    });
    let (reconciled, ()) = tokio::join!(reconcile, leadership.lost());
    assert_eq!(
        Instant::now(),
        last_renewal + c.renew_deadline,
        "lost exactly at the renew deadline"
    );
    assert!(
        Instant::now() < last_renewal + c.lease_duration,
        "before a standby may take over"
    );
    assert!(!leadership.is_leading() && !fence.is_leading());
    let fenced = Fenced {
        lease: "webstack-system/webstack-operator".into(),
    };
    assert_eq!(reconciled, Err(fenced.clone()));
    assert_eq!(steps.load(Ordering::SeqCst), 1, "the step after the loss never ran");
    assert!(
        store.calls.load(Ordering::SeqCst) > calls_before,
        "a renewal was attempted and hung"
    );
    // The hung renewal was given up at the deadline too (its call is bounded), not left waiting.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(leadership.renewer.is_finished(), "the renewer gave up at the deadline");

    // A step afterwards: refused before it starts.
    let calls = AtomicUsize::new(0);
    let step = fence.guard(async {
        calls.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(step.await, Err(fenced.clone()));
    assert_eq!(fence.check(), Err(fenced));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no AWS call");

    // Loss is final: even an API server answering again gives this process nothing back.
    store.hung.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!fence.is_leading());
}

/// Renewals that answer keep the lease for as long as they do.
#[tokio::test(start_paused = true)]
async fn renewals_that_answer_keep_leadership() {
    let store = Fake::default();
    let leadership = acquire_in(store.clone(), config("a")).await;
    let fence = leadership.fence();
    let ran = fence.guard(tokio::time::sleep(Duration::from_secs(120))).await;
    assert_eq!(ran, Ok(()));
    assert!(leadership.is_leading());
    // One get and one replace per retry period.
    assert!(store.calls.load(Ordering::SeqCst) >= 2 * 60);
}

/// Another replica wrote the lease (this one's identity is gone from it): lost at the next
/// renewal, well before the deadline.
#[tokio::test(start_paused = true)]
async fn a_lease_taken_by_another_is_lost_at_the_next_renewal() {
    let store = Fake::default();
    let leadership = acquire_in(store.clone(), config("a")).await;
    let acquired = Instant::now();
    store.set(lease(Some("b"), 1));
    leadership.lost().await;
    assert_eq!(Instant::now(), acquired + Duration::from_secs(2));
    assert!(!leadership.fence().is_leading());
}

/// A standby takes a lease whose holder stopped renewing once it has not changed for the lease
/// duration on the standby's clock; released, it is taken at the next attempt.
#[tokio::test(start_paused = true)]
async fn a_standby_takes_an_abandoned_lease_after_the_lease_duration_and_a_released_one_at_once() {
    let store = Fake::default();
    store.set(lease(Some("a"), 1));
    let started = Instant::now();
    let b = acquire_in(store.clone(), config("b")).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited <= Duration::from_secs(17),
        "{waited:?}"
    );
    assert_eq!(store.holder().as_deref(), Some("b"));

    let fence = b.fence();
    b.release().await;
    assert!(!fence.is_leading(), "nothing changes under a released lease");
    assert_eq!(store.holder(), None);
    let started = Instant::now();
    let c = acquire_in(store.clone(), config("c")).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(c.is_leading());
}

/// Without leader election the fence always holds.
#[tokio::test(start_paused = true)]
async fn an_unbounded_fence_always_holds() {
    let fence = crate::reconcile::context::Fence::unbounded();
    let ran = fence.guard(tokio::time::sleep(Duration::from_secs(3600))).await;
    assert_eq!(ran, Ok(()));
    assert!(fence.is_leading());
}
