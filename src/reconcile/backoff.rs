//! How soon an object is reconciled again: after a settled reconcile, at the drift re-check
//! period; otherwise by retry class, with per-object exponential backoff, jitter and a cap. The
//! delay is a pure function of the class and the number of reconciles since the object last
//! settled; [`Backoff`] keeps that number per object.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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

/// The delay before the next reconcile. `attempt` counts the reconciles since the object last
/// settled (0 for the first); `jitter` in 0..1 spreads retries of many objects apart (±20%).
pub fn delay(wait: Wait, attempt: u32, resync: Duration, jitter: f64) -> Duration {
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    if wait == Wait::Resync {
        // ±10% around the period, so that objects created together are not re-checked together.
        return resync.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0));
    }
    let (base, cap) = schedule(wait);
    let grown = base.saturating_mul(1u32 << attempt.min(16));
    grown.min(cap).mul_f64(spread)
}

/// The number of reconciles since each object last settled.
#[derive(Debug, Default)]
pub struct Backoff {
    attempts: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// The delay for `key` (kind/namespace/name) after a reconcile that ended in `wait`.
    pub fn next(&self, key: &str, wait: Wait, resync: Duration) -> Duration {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            if wait == Wait::Resync {
                attempts.remove(key);
                0
            } else {
                let n = attempts.entry(key.to_string()).or_default();
                let attempt = *n;
                *n = n.saturating_add(1);
                attempt
            }
        };
        delay(wait, attempt, resync, jitter())
    }

    /// Forgets an object (it is gone).
    pub fn forget(&self, key: &str) {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
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

    #[test]
    fn delays_grow_by_class_up_to_a_cap() {
        let secs = |wait, attempt| delay(wait, attempt, RESYNC, 0.5).as_secs();
        let denied = Wait::Retry(RetryClass::AccessDenied);
        assert_eq!(
            (0..7).map(|a| secs(denied, a)).collect::<Vec<_>>(),
            [30, 60, 120, 240, 480, 900, 900]
        );
        let transient = Wait::Retry(RetryClass::Transient);
        assert_eq!(
            (0..8).map(|a| secs(transient, a)).collect::<Vec<_>>(),
            [5, 10, 20, 40, 80, 160, 300, 300]
        );
        assert_eq!(secs(Wait::Retry(RetryClass::Throttled), 0), 20);
        assert_eq!(secs(Wait::Poll, 10), 60);
        assert_eq!(secs(Wait::Resync, 5), 600);
        assert_eq!(secs(transient, u32::MAX), 300, "no overflow");
    }

    #[test]
    fn jitter_spreads_within_twenty_percent() {
        let w = Wait::Retry(RetryClass::Transient);
        assert_eq!(delay(w, 1, RESYNC, 0.0), Duration::from_secs(8));
        assert_eq!(delay(w, 1, RESYNC, 1.0), Duration::from_secs(12));
        assert_eq!(delay(Wait::Resync, 0, RESYNC, 0.0), Duration::from_secs(540));
    }

    /// Denied calls back off: over two minutes, far fewer attempts than a 10 s loop makes.
    #[test]
    fn denied_calls_back_off_well_below_a_fixed_loop() {
        let backoff = Backoff::default();
        let (mut t, mut attempts) = (Duration::ZERO, 0);
        while t < Duration::from_secs(120) {
            attempts += 1;
            t += backoff.next("TargetGroup/ns/movies", Wait::Retry(RetryClass::AccessDenied), RESYNC);
        }
        assert!(attempts <= 3, "{attempts} attempts");
        // Settling resets the count.
        backoff.next("TargetGroup/ns/movies", Wait::Resync, RESYNC);
        let first = backoff.next("TargetGroup/ns/movies", Wait::Retry(RetryClass::Transient), RESYNC);
        assert!(first <= Duration::from_secs(6), "{first:?}");
    }
}
