//! How soon an object is reconciled again: after a settled reconcile, at the drift re-check
//! period; otherwise by kind of wait (converging, or a retry class), backing off exponentially
//! with jitter up to a cap. The delay grows with how long the object has been in the same kind of
//! wait (the next look comes after about as long again), so reconciles that watches trigger in a
//! burst do not inflate it; a reconcile that changed something starts the wait over.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::RetryClass;

/// Why an object is reconciled again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Settled: the periodic drift re-check.
    Resync,
    /// Converging, or waiting on AWS or on another object (watches usually come first).
    Poll,
    /// A failure of this class.
    Retry(RetryClass),
}

/// First delay and cap of each kind of wait.
fn schedule(wait: Wait) -> (Duration, Duration) {
    let s = Duration::from_secs;
    match wait {
        Wait::Resync => (s(0), s(0)),
        Wait::Poll => (s(5), s(60)),
        Wait::Retry(RetryClass::Transient) => (s(5), s(300)),
        Wait::Retry(RetryClass::Throttled) => (s(20), s(600)),
        Wait::Retry(RetryClass::AccessDenied | RetryClass::Terminal) => (s(30), s(900)),
    }
}

/// The delay before the next reconcile, for an object that has been in this kind of wait for
/// `waited`; `jitter` in 0..1 spreads objects apart (±20%; ±10% around the re-check period).
pub fn delay(wait: Wait, waited: Duration, resync: Duration, jitter: f64) -> Duration {
    let jitter = jitter.clamp(0.0, 1.0);
    if wait == Wait::Resync {
        return resync.mul_f64(0.9 + 0.2 * jitter);
    }
    let (base, cap) = schedule(wait);
    waited.clamp(base, cap).mul_f64(0.8 + 0.4 * jitter)
}

/// Per object: the kind of wait it is in, since when, and since when its reconciles have failed
/// in a row with an error worth retrying (transient or throttled, whichever).
#[derive(Debug, Default)]
pub struct Backoff {
    waits: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    wait: Wait,
    since: Instant,
    failing: Option<Instant>,
}

impl Backoff {
    /// The delay for `key` (kind/namespace/name) after a reconcile that ended in `wait`; with
    /// `progress` (it changed something in AWS) the wait starts over.
    pub fn next(&self, key: &str, wait: Wait, resync: Duration, progress: bool) -> Duration {
        let now = Instant::now();
        let waited = {
            let mut waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
            if wait == Wait::Resync {
                waits.remove(key);
                Duration::ZERO
            } else {
                let entry = waits.entry(key.to_string()).or_insert(Entry {
                    wait,
                    since: now,
                    failing: None,
                });
                if entry.wait != wait || progress {
                    entry.wait = wait;
                    entry.since = now;
                }
                let cured_by_retry = matches!(wait, Wait::Retry(class) if class.cured_by_retry());
                entry.failing = cured_by_retry.then(|| entry.failing.unwrap_or(now));
                now - entry.since
            }
        };
        delay(wait, waited, resync, jitter())
    }

    /// How long `key`'s reconciles have failed in a row with transient or throttling errors (the
    /// first failure's time to now); zero unless its last reconcile failed so.
    pub fn failing_for(&self, key: &str) -> Duration {
        let waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        waits
            .get(key)
            .and_then(|e| e.failing)
            .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Forgets an object (it is gone).
    pub fn forget(&self, key: &str) {
        self.waits.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Forgets the objects whose keys `gone` says are gone; how many.
    pub fn forget_where(&self, gone: impl Fn(&str) -> bool) -> usize {
        let mut waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        let before = waits.len();
        waits.retain(|key, _| !gone(key));
        before - waits.len()
    }
}

/// A number in 0..1 from the OS's generator (0.5 should it fail).
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESYNC: Duration = Duration::from_secs(600);

    fn secs(wait: Wait, waited: u64) -> u64 {
        delay(wait, Duration::from_secs(waited), RESYNC, 0.5).as_secs()
    }

    #[test]
    fn delays_grow_with_the_wait_by_class_up_to_a_cap() {
        let denied = Wait::Retry(RetryClass::AccessDenied);
        let got: Vec<u64> = [0, 10, 30, 60, 120, 480, 5000]
            .iter()
            .map(|w| secs(denied, *w))
            .collect();
        assert_eq!(got, [30, 30, 30, 60, 120, 480, 900]);
        let transient = Wait::Retry(RetryClass::Transient);
        let got: Vec<u64> = [0, 5, 10, 40, 1000].iter().map(|w| secs(transient, *w)).collect();
        assert_eq!(got, [5, 5, 10, 40, 300]);
        assert_eq!(secs(Wait::Retry(RetryClass::Throttled), 0), 20);
        assert_eq!(secs(Wait::Poll, 1000), 60);
        assert_eq!(secs(Wait::Resync, 5000), 600);
    }

    /// Transient and throttling failures in a row count from the first, whichever class each
    /// is; a reconcile that ends otherwise (converging, settled, denied) ends the run.
    #[test]
    fn failures_in_a_row_are_timed_from_the_first() {
        let b = Backoff::default();
        let (transient, throttled) = (Wait::Retry(RetryClass::Transient), Wait::Retry(RetryClass::Throttled));
        assert_eq!(b.failing_for("k"), Duration::ZERO);
        b.next("k", transient, RESYNC, false);
        let first = b.failing_for("k");
        std::thread::sleep(Duration::from_millis(30));
        b.next("k", throttled, RESYNC, false);
        b.next("k", transient, RESYNC, true);
        assert!(
            b.failing_for("k") >= first + Duration::from_millis(30),
            "{:?}",
            b.failing_for("k")
        );
        for ends in [Wait::Poll, Wait::Retry(RetryClass::AccessDenied), Wait::Resync] {
            b.next("k", transient, RESYNC, false);
            b.next("k", ends, RESYNC, false);
            assert_eq!(b.failing_for("k"), Duration::ZERO, "{ends:?}");
        }
        b.next("k", throttled, RESYNC, false);
        b.forget("k");
        assert_eq!(b.failing_for("k"), Duration::ZERO);
    }

    #[test]
    fn jitter_spreads_within_twenty_percent() {
        let w = Wait::Retry(RetryClass::Transient);
        let ten = Duration::from_secs(10);
        assert_eq!(delay(w, ten, RESYNC, 0.0), Duration::from_secs(8));
        assert_eq!(delay(w, ten, RESYNC, 1.0), Duration::from_secs(12));
        assert_eq!(delay(Wait::Resync, ten, RESYNC, 0.0), Duration::from_secs(540));
    }

    /// Denied calls back off: over two minutes, far fewer attempts than a 10 s loop makes (12),
    /// whatever the jitter.
    #[test]
    fn denied_calls_back_off_well_below_a_fixed_loop() {
        for jitter in [0.0, 0.5, 1.0] {
            let (mut t, mut attempts) = (Duration::ZERO, 0);
            while t < Duration::from_secs(120) {
                attempts += 1;
                t += delay(Wait::Retry(RetryClass::AccessDenied), t, RESYNC, jitter);
            }
            assert!(attempts <= 4, "{attempts} attempts with jitter {jitter}");
        }
    }

    #[test]
    fn a_burst_of_triggers_does_not_inflate_the_wait() {
        let backoff = Backoff::default();
        let key = "ContainerService/ns/web";
        for _ in 0..10 {
            let d = backoff.next(key, Wait::Poll, RESYNC, false);
            assert!(d <= Duration::from_secs(6), "{d:?}");
        }
        // Settling forgets the wait; another kind of wait starts over.
        backoff.next(key, Wait::Resync, RESYNC, false);
        let denied = backoff.next(key, Wait::Retry(RetryClass::AccessDenied), RESYNC, false);
        assert!(denied <= Duration::from_secs(36), "{denied:?}");
    }
}
