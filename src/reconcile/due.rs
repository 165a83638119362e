//! When each object of a kind is due to be reconciled again: the delays its reconciles end with
//! (a re-check after `--resync-period`, a poll of a converging object, a retry with backoff).
//!
//! kube-runtime would keep them in its scheduler (a `DelayQueue` and a `HashMap`, each entry a
//! copy of the request: the object's name and namespace twice, ~600 bytes an object with the
//! tables' spare room, and every object has one at rest). Here an object's entry is its key
//! (`namespace/name`, as the lanes key it) and when, in a map and a heap: 150-200 bytes. Due
//! objects are handed to the controller as references (`reconcile_on`), where kube-runtime's
//! scheduler holds them only until they run; the reconcile returns `Action::await_change()`.
//!
//! One entry per object, as kube-runtime's `Action`: the end of a reconcile replaces what its
//! object had ([`Due::set`]), a reconcile that ends without a delay clears it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::lanes::Key;

/// What a reconcile asks for when it ends: to run again after a delay, or only on a change (as
/// kube-runtime's `Action`, whose delay cannot be read back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Next(Option<Duration>);

impl Next {
    /// Again after `after`, whatever changes meanwhile.
    pub const fn requeue(after: Duration) -> Next {
        Next(Some(after))
    }

    /// Only when a watch or an event names the object again.
    pub const fn await_change() -> Next {
        Next(None)
    }

    pub fn delay(self) -> Option<Duration> {
        self.0
    }
}

/// The delays of one kind's objects.
pub struct Due {
    inner: Mutex<Inner>,
    /// Woken when an entry becomes the earliest.
    wake: Notify,
    /// Times are kept as milliseconds since this.
    epoch: Instant,
}

#[derive(Default)]
struct Inner {
    /// Each object's entry: when (ms since `epoch`) and the entry's number.
    entries: HashMap<Key, (u64, u64)>,
    /// The entries by time; one replaced or cleared stays here until it comes up or the heap is
    /// rebuilt (its number then no longer matches `entries`).
    heap: BinaryHeap<Reverse<(u64, u64, Key)>>,
    /// The next entry's number.
    next: u64,
}

impl Inner {
    fn live(&self, at: u64, number: u64, key: &Key) -> bool {
        self.entries.get(key) == Some(&(at, number))
    }

    /// Drops the stale entries at the top of the heap.
    fn settle(&mut self) {
        while let Some(Reverse((at, number, key))) = self.heap.peek() {
            if self.live(*at, *number, key) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Rebuilds the heap from the entries once stale ones outnumber the live (objects re-checked
    /// or reconciled again before their time leave one behind each time).
    fn compact(&mut self) {
        if self.heap.len() > 2 * self.entries.len() + 64 {
            let heap: Vec<_> = self
                .entries
                .iter()
                .map(|(key, &(at, number))| Reverse((at, number, key.clone())))
                .collect();
            self.heap = BinaryHeap::from(heap);
        }
        if self.entries.capacity() > 2 * self.entries.len() + 64 {
            self.entries.shrink_to(self.entries.len() * 5 / 4);
        }
        if self.heap.capacity() > 2 * self.heap.len() + 64 {
            self.heap.shrink_to(self.heap.len() * 5 / 4);
        }
    }
}

impl Default for Due {
    fn default() -> Self {
        Due::new()
    }
}

impl Due {
    pub fn new() -> Due {
        Due {
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// What the reconcile of `key` that just ended asked for. Replaces what the object had.
    pub fn set(&self, key: &Key, next: Next) {
        let mut inner = self.lock();
        let Some(after) = next.delay() else {
            inner.entries.remove(key);
            inner.compact();
            return;
        };
        let at = self.millis(Instant::now() + after);
        let number = inner.next;
        inner.next += 1;
        inner.entries.insert(key.clone(), (at, number));
        inner.settle();
        let earliest = inner.heap.peek().is_none_or(|Reverse((first, ..))| at < *first);
        inner.heap.push(Reverse((at, number, key.clone())));
        inner.compact();
        drop(inner);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// The number of objects with an entry.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// The key of an object due at `now` (its entry taken out), or when the next one is due.
    fn take(&self, now: Instant) -> Result<Key, Option<Instant>> {
        let mut inner = self.lock();
        inner.settle();
        let now = self.millis(now);
        let Some(&Reverse((at, _, _))) = inner.heap.peek() else {
            return Err(None);
        };
        if at > now {
            return Err(Some(self.epoch + Duration::from_millis(at)));
        }
        let Some(Reverse((_, _, key))) = inner.heap.pop() else {
            return Err(None);
        };
        inner.entries.remove(&key);
        inner.compact();
        Ok(key)
    }

    /// The keys of objects as they fall due, earliest first; never ends.
    pub fn fired(self: &Arc<Self>) -> impl Stream<Item = Key> + Send + 'static {
        futures::stream::unfold(self.clone(), |due| async move {
            loop {
                // A wake-up between the look and the wait is kept as a permit (`notify_one`).
                let woken = due.wake.notified();
                match due.take(Instant::now()) {
                    Ok(key) => {
                        drop(woken);
                        return Some((key, due));
                    }
                    Err(None) => woken.await,
                    Err(Some(at)) => {
                        tokio::select! {
                            _ = woken => {}
                            _ = tokio::time::sleep_until(at) => {}
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn key(name: &str) -> Key {
        super::super::lanes::key("team-a", name)
    }

    /// `name`'s reconcile ended asking to run again after `secs`.
    fn again(due: &Due, name: &str, secs: u64) {
        due.set(&key(name), Next::requeue(Duration::from_secs(secs)));
    }

    /// In `wait` seconds, `name`'s reconcile ends asking to run again after `secs`.
    fn later(due: &Arc<Due>, wait: u64, name: &'static str, secs: u64) -> tokio::task::JoinHandle<()> {
        let due = due.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            again(&due, name, secs);
        })
    }

    /// What falls due up to `until`, in order, with when (seconds after the start).
    async fn fired_until(due: &Arc<Due>, until: Duration) -> Vec<(String, u64)> {
        let start = Instant::now();
        let mut fired = Box::pin(due.fired());
        let mut out = Vec::new();
        let deadline = tokio::time::sleep(until);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                Some(key) = fired.next() => out.push((key.to_string(), (Instant::now() - start).as_secs())),
                _ = &mut deadline => return out,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn objects_fall_due_in_time_order() {
        let due = Arc::new(Due::new());
        again(&due, "c", 30);
        again(&due, "a", 10);
        again(&due, "b", 20);
        assert_eq!(due.len(), 3);
        let fired = fired_until(&due, Duration::from_secs(60)).await;
        assert_eq!(
            fired,
            vec![
                ("team-a/a".to_string(), 10),
                ("team-a/b".to_string(), 20),
                ("team-a/c".to_string(), 30)
            ]
        );
        assert_eq!(due.len(), 0, "an entry that fired is gone");
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_reconcile_decides() {
        let due = Arc::new(Due::new());
        // Later than before: the earlier entry no longer fires (the object ran in between).
        again(&due, "a", 10);
        again(&due, "a", 40);
        // Earlier than before.
        again(&due, "b", 50);
        again(&due, "b", 5);
        // Cleared: a reconcile that ended waiting for a change, and an object gone.
        again(&due, "c", 15);
        due.set(&key("c"), Next::await_change());
        again(&due, "d", 15);
        due.set(&key("d"), Next::await_change());
        assert_eq!(due.len(), 2);
        let fired = fired_until(&due, Duration::from_secs(60)).await;
        assert_eq!(fired, vec![("team-a/b".to_string(), 5), ("team-a/a".to_string(), 40)]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_entry_wakes_the_waiting_stream() {
        let due = Arc::new(Due::new());
        again(&due, "late", 100);
        let setter = later(&due, 5, "early", 5);
        let fired = fired_until(&due, Duration::from_secs(120)).await;
        setter.await.unwrap();
        assert_eq!(
            fired,
            vec![("team-a/early".to_string(), 10), ("team-a/late".to_string(), 100)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_table_waits_for_its_first_entry() {
        let due = Arc::new(Due::new());
        let setter = later(&due, 3, "a", 0);
        let fired = fired_until(&due, Duration::from_secs(10)).await;
        setter.await.unwrap();
        assert_eq!(fired, vec![("team-a/a".to_string(), 3)]);
    }

    /// Objects reconciled again and again before their time leave stale heap entries behind:
    /// the heap is rebuilt so it stays within a bound of the live entries, and what fires is
    /// still each object's last entry, once.
    #[tokio::test(start_paused = true)]
    async fn replaced_entries_do_not_pile_up() {
        let due = Arc::new(Due::new());
        for round in 0..1_000u64 {
            for name in ["a", "b", "c"] {
                again(&due, name, 600 + round);
            }
        }
        {
            let inner = due.lock();
            assert_eq!(inner.entries.len(), 3);
            assert!(inner.heap.len() <= 2 * 3 + 64 + 1, "heap of {}", inner.heap.len());
        }
        let fired = fired_until(&due, Duration::from_secs(2_000)).await;
        assert_eq!(
            fired.iter().map(|(k, at)| (k.as_str(), *at)).collect::<Vec<_>>(),
            vec![("team-a/a", 1_599), ("team-a/b", 1_599), ("team-a/c", 1_599)]
        );
    }
}
