//! The objects of the five kinds, cached once per reconcile context (the process, or each shard it
//! holds): one watch per kind fills one store. The kind's controller reconciles from it, the loads
//! read the objects another one points at from it ([`refs::list`](super::refs::list) and
//! [`refs::get`](super::refs::get): no API-server request per reconcile), and every watch that
//! requeues dependents subscribes to it instead of watching the kind again.
//!
//! A change is announced only after the store holds it, so whatever it triggers reads it. A
//! subscriber that falls behind (more than [`BACKLOG`] changes unread), and every subscriber after
//! a re-list of the watch, is given every cached object again, so nothing is lost.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::{broadcast, watch};

use super::scope::{self, Scope};
use super::status::Kind;
use crate::api::{ContainerService, ListenerRule, StaticSite, TargetGroup, WebStack};
use crate::model::{hash_of, report};

/// Unread changes a subscriber may fall behind by before it is handed every object again.
pub const BACKLOG: usize = 1024;

/// kubectl's annotation holding the whole manifest last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What happened to an object of the store (announced after the store holds it).
#[derive(Clone)]
enum Change<K> {
    Applied(Arc<K>),
    Deleted(Arc<K>),
    /// The watch listed everything again: objects may have changed or gone unannounced.
    Relisted,
}

/// The cache of one kind: the store, its changes, and whether its first listing is in.
///
/// Readiness is its own signal, not the store's `wait_until_ready`: that one wakes only the last
/// of several waiters (kube-runtime's `DelayedInit` keeps one waker), and it is left to the one
/// waiter kube-runtime has per store, the kind's own controller.
pub struct Cache<K: Kind> {
    store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
    ready: watch::Receiver<bool>,
}

/// What a subscriber is handed.
pub struct Interest<K> {
    /// Deleted objects too (a dependent waits for them to go), or only created and changed ones.
    pub deletions: bool,
    /// Only a change of this digest of an object (or its first sight) is handed on.
    pub digest: Option<fn(&K) -> u64>,
}

impl<K> Clone for Interest<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Interest<K> {}

impl<K: Kind> Cache<K> {
    /// Watches `K` in `scope` (its namespace, or all; only the namespaces its shard holds) into a
    /// new cache, until `stop` resolves or the returned task is aborted.
    fn start(client: &Client, scope: &Scope) -> (Cache<K>, tokio::task::JoinHandle<()>) {
        let (store, writer) = reflector::store();
        let (changes, _) = broadcast::channel(BACKLOG);
        let (listed, ready) = watch::channel(false);
        let held = scope.clone();
        let (reader, sender) = (store.clone(), changes.clone());
        let api = scope::api::<K>(client, scope.namespace.as_deref());
        let watch = watcher(api, watcher::Config::default())
            .default_backoff()
            // Another shard's objects are not cached: its replica holds them.
            .filter(move |event| {
                let ours = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o)) => {
                        held.holds(&o.namespace().unwrap_or_default())
                    }
                    _ => true,
                };
                std::future::ready(ours)
            })
            // What no reconcile reads is not kept: the field managers and kubectl's copy of the last
            // applied manifest (often larger than the object itself).
            .modify(|o: &mut K| {
                o.meta_mut().managed_fields = None;
                if let Some(a) = o.meta_mut().annotations.as_mut() {
                    a.remove(LAST_APPLIED);
                }
            })
            .reflect(writer)
            .for_each(move |event| {
                let change = match event {
                    // The store's own copy: announcing it costs no second one.
                    Ok(watcher::Event::Apply(o)) => reader.get(&ObjectRef::from_obj(&o)).map(Change::Applied),
                    Ok(watcher::Event::Delete(o)) => Some(Change::Deleted(Arc::new(o))),
                    Ok(watcher::Event::InitDone) => {
                        listed.send_replace(true);
                        Some(Change::Relisted)
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                    Err(e) => {
                        let kind = K::kind(&());
                        tracing::warn!(kind = kind.as_ref(), error = %report(&e), "watch failed (retried)");
                        None
                    }
                };
                if let Some(change) = change {
                    // No subscriber yet is fine: each starts from the store.
                    let _ = sender.send(change);
                }
                std::future::ready(())
            });
        let stop = scope.stopped();
        let task = tokio::spawn(async move {
            tokio::select! {
                () = watch => {}
                () = stop => {}
            }
        });
        (Cache { store, changes, ready }, task)
    }

    /// Waits for the first listing to be in the store (an empty store before it would read as
    /// "nothing there"); false if the watch stopped first.
    pub async fn ready(&self) -> bool {
        wait_ready(self.ready.clone()).await
    }

    /// The store (ready once the watch's first listing is in).
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Whether the first listing is in (without waiting).
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Whether the object `namespace/name` is in the store.
    pub fn holds(&self, namespace: &str, name: &str) -> bool {
        self.store.get(&ObjectRef::new(name).within(namespace)).is_some()
    }

    /// The objects that change from now on, as `interest` says, starting with every object in
    /// the store once it is ready (a subscriber that comes late misses nothing).
    pub fn subscribe(&self, interest: Interest<K>) -> impl Stream<Item = Arc<K>> + Send + 'static {
        struct State<K: Kind> {
            changes: broadcast::Receiver<Change<K>>,
            store: Store<K>,
            ready: watch::Receiver<bool>,
            interest: Interest<K>,
            /// The digest last handed on, by the hash of the object's uid.
            seen: HashMap<u64, u64>,
            pending: VecDeque<Arc<K>>,
            started: bool,
        }
        impl<K: Kind> State<K> {
            /// Whether `o` is to be handed on (and remembered as seen).
            fn wanted(&mut self, o: &K) -> bool {
                match self.interest.digest {
                    None => true,
                    Some(digest) => {
                        let d = digest(o);
                        self.seen.insert(uid_hash(o), d) != Some(d)
                    }
                }
            }

            fn everything(&mut self) {
                for o in self.store.state() {
                    if self.wanted(&o) {
                        self.pending.push_back(o);
                    }
                }
            }
        }
        let state = State {
            // Subscribed before the store is read: a change in between is handed on twice at most.
            changes: self.changes.subscribe(),
            store: self.store.clone(),
            ready: self.ready.clone(),
            interest,
            seen: HashMap::new(),
            pending: VecDeque::new(),
            started: false,
        };
        futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(o) = st.pending.pop_front() {
                    return Some((o, st));
                }
                if !st.started {
                    st.started = true;
                    if !wait_ready(st.ready.clone()).await {
                        return None;
                    }
                    st.everything();
                    continue;
                }
                match st.changes.recv().await {
                    Ok(Change::Applied(o)) => {
                        if st.wanted(&o) {
                            return Some((o, st));
                        }
                    }
                    Ok(Change::Deleted(o)) => {
                        st.seen.remove(&uid_hash(&*o));
                        if st.interest.deletions {
                            return Some((o, st));
                        }
                    }
                    Ok(Change::Relisted) | Err(broadcast::error::RecvError::Lagged(_)) => st.everything(),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}

async fn wait_ready(mut ready: watch::Receiver<bool>) -> bool {
    ready.wait_for(|listed| *listed).await.is_ok()
}

fn uid_hash<K: Resource>(o: &K) -> u64 {
    hash_of(&o.meta().uid)
}

/// The caches of the five kinds of one reconcile context; their watches stop when it is dropped.
pub struct Caches {
    webstacks: Cache<WebStack>,
    target_groups: Cache<TargetGroup>,
    listener_rules: Cache<ListenerRule>,
    services: Cache<ContainerService>,
    sites: Cache<StaticSite>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Caches {
    /// Starts the five watches of `scope` (stopped by its stop, or when the caches are dropped).
    pub fn start(client: &Client, scope: &Scope) -> Caches {
        let mut tasks = Vec::new();
        let mut start = |task| tasks.push(task);
        let (webstacks, t) = Cache::start(client, scope);
        start(t);
        let (target_groups, t) = Cache::start(client, scope);
        start(t);
        let (listener_rules, t) = Cache::start(client, scope);
        start(t);
        let (services, t) = Cache::start(client, scope);
        start(t);
        let (sites, t) = Cache::start(client, scope);
        start(t);
        Caches {
            webstacks,
            target_groups,
            listener_rules,
            services,
            sites,
            tasks,
        }
    }

    pub fn of<K: Cached>(&self) -> &Cache<K> {
        K::cache(self)
    }

    /// Whether every kind's first listing is in.
    pub fn ready_now(&self) -> bool {
        self.webstacks.is_ready()
            && self.target_groups.is_ready()
            && self.listener_rules.is_ready()
            && self.services.is_ready()
            && self.sites.is_ready()
    }

    /// The namespaces with at least one cached object.
    pub fn namespaces(&self) -> std::collections::HashSet<String> {
        fn of<K: Cached>(caches: &Caches, out: &mut std::collections::HashSet<String>) {
            for o in caches.of::<K>().store.state() {
                if let Some(ns) = o.meta().namespace.as_ref()
                    && !out.contains(ns)
                {
                    out.insert(ns.clone());
                }
            }
        }
        let mut out = std::collections::HashSet::new();
        of::<WebStack>(self, &mut out);
        of::<TargetGroup>(self, &mut out);
        of::<ListenerRule>(self, &mut out);
        of::<ContainerService>(self, &mut out);
        of::<StaticSite>(self, &mut out);
        out
    }

    /// Whether the object of `kind` (`WebStack`, …) `namespace/name` is cached; `None` for a kind
    /// not cached here.
    pub fn holds(&self, kind: &str, namespace: &str, name: &str) -> Option<bool> {
        fn of<K: Cached>(caches: &Caches, kind: &str, namespace: &str, name: &str) -> Option<bool> {
            (kind == K::kind(&()).as_ref()).then(|| caches.of::<K>().holds(namespace, name))
        }
        of::<WebStack>(self, kind, namespace, name)
            .or_else(|| of::<TargetGroup>(self, kind, namespace, name))
            .or_else(|| of::<ListenerRule>(self, kind, namespace, name))
            .or_else(|| of::<ContainerService>(self, kind, namespace, name))
            .or_else(|| of::<StaticSite>(self, kind, namespace, name))
    }
}

impl Drop for Caches {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// A kind with a cache in [`Caches`].
pub trait Cached: Kind {
    fn cache(caches: &Caches) -> &Cache<Self>;
}

macro_rules! cached {
    ($($kind:ty => $field:ident),* $(,)?) => {
        $(impl Cached for $kind {
            fn cache(caches: &Caches) -> &Cache<Self> {
                &caches.$field
            }
        })*
    };
}

cached!(
    WebStack => webstacks,
    TargetGroup => target_groups,
    ListenerRule => listener_rules,
    ContainerService => services,
    StaticSite => sites,
);

/// How a controller queues an object: by namespace and name only. kube-runtime's `from_obj` also
/// copies its resourceVersion and uid, which no lookup reads (a reference's equality and hash
/// leave them out): two more strings in each copy of the reference its scheduler keeps until the
/// reconcile runs (thousands at once when many objects are applied together).
pub fn queued<K: Kind>(obj: &K) -> ObjectRef<K> {
    ObjectRef::new(&obj.name_any()).within(&obj.namespace().unwrap_or_default())
}

/// What the controller of a kind is woken by: a change of generation (its spec, or the start of
/// its deletion) or of its annotations (`webstack.io/paused`, a requested re-check), not its own
/// status writes.
pub fn spec_or_annotations<K: Kind>(o: &K) -> u64 {
    hash_of(&(o.meta().generation, o.annotations()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, uid: &str, generation: i64, port: u16) -> TargetGroup {
        serde_yaml::from_str(&format!(
            "apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {{name: {name}, namespace: team-a, uid: {uid}, generation: {generation}}}
spec: {{stackRef: {{name: netflux}}, port: {port}}}"
        ))
        .unwrap()
    }

    /// A cache filled by hand: `writer` stands for the watch, `announce` for what it announces.
    fn cache() -> (
        Cache<TargetGroup>,
        reflector::store::Writer<TargetGroup>,
        watch::Sender<bool>,
    ) {
        let (store, writer) = reflector::store();
        let (changes, _) = broadcast::channel(BACKLOG);
        let (listed, ready) = watch::channel(false);
        (Cache { store, changes, ready }, writer, listed)
    }

    fn apply(cache: &Cache<TargetGroup>, writer: &mut reflector::store::Writer<TargetGroup>, o: TargetGroup) {
        writer.apply_watcher_event(&watcher::Event::Apply(o.clone()));
        let stored = cache.store.get(&ObjectRef::from_obj(&o)).unwrap();
        let _ = cache.changes.send(Change::Applied(stored));
    }

    fn names(objects: &[Arc<TargetGroup>]) -> Vec<String> {
        objects.iter().map(|o| o.name_any()).collect()
    }

    /// The next `n` objects handed on, failing if they do not come within a second.
    async fn next(stream: &mut (impl Stream<Item = Arc<TargetGroup>> + Unpin), n: usize) -> Vec<Arc<TargetGroup>> {
        let mut out = Vec::new();
        for _ in 0..n {
            let o = tokio::time::timeout(std::time::Duration::from_secs(1), stream.next())
                .await
                .expect("an object within a second")
                .expect("the stream goes on");
            out.push(o);
        }
        out
    }

    /// Nothing more is handed on within 100 ms.
    async fn quiet(stream: &mut (impl Stream<Item = Arc<TargetGroup>> + Unpin)) {
        let more = tokio::time::timeout(std::time::Duration::from_millis(100), stream.next()).await;
        assert!(
            more.is_err(),
            "nothing more expected, got {:?}",
            more.map(|o| o.map(|o| o.name_any()))
        );
    }

    #[tokio::test]
    async fn a_subscriber_starts_from_the_store_once_it_is_ready_then_follows_changes() {
        let (cache, mut writer, listed) = cache();
        let interest = Interest {
            deletions: false,
            digest: None,
        };
        // Two subscribers wait, each in a task of its own (woken only when told to), for the first
        // listing: an empty store before it would read as "nothing there". The store's own
        // readiness would wake only the last of them.
        let waiting = |mut stream: std::pin::Pin<Box<dyn Stream<Item = Arc<TargetGroup>> + Send>>| {
            tokio::spawn(async move {
                let first = stream.next().await.map(|o| o.name_any());
                (first, stream)
            })
        };
        let early = waiting(Box::pin(cache.subscribe(interest)));
        let also_early = waiting(Box::pin(cache.subscribe(interest)));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            !early.is_finished() && !also_early.is_finished(),
            "nothing before the first listing"
        );
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(group("web", "u1", 1, 80)));
        writer.apply_watcher_event(&watcher::Event::InitApply(group("api", "u2", 1, 81)));
        writer.apply_watcher_event(&watcher::Event::InitDone);
        listed.send_replace(true);
        let within = |task| tokio::time::timeout(std::time::Duration::from_secs(1), task);
        let (first, mut early) = within(early).await.expect("woken").unwrap();
        let (also, _) = within(also_early).await.expect("both woken").unwrap();
        assert!(first.is_some() && also.is_some());
        assert_eq!(next(&mut early, 1).await.len(), 1, "the other listed object");
        // A late subscriber misses nothing either.
        let mut late = Box::pin(cache.subscribe(interest));
        assert_eq!(next(&mut late, 2).await.len(), 2);
        apply(&cache, &mut writer, group("web", "u1", 2, 80));
        assert_eq!(names(&next(&mut early, 1).await), ["web"]);
        assert_eq!(names(&next(&mut late, 1).await), ["web"]);
        quiet(&mut early).await;
    }

    #[tokio::test]
    async fn only_a_changed_digest_or_a_wanted_deletion_is_handed_on() {
        let (cache, mut writer, listed) = cache();
        writer.apply_watcher_event(&watcher::Event::InitDone);
        listed.send_replace(true);
        let by_spec = Interest {
            deletions: false,
            digest: Some(spec_or_annotations::<TargetGroup>),
        };
        let touched = Interest {
            deletions: true,
            digest: None,
        };
        let mut spec = Box::pin(cache.subscribe(by_spec));
        let mut all = Box::pin(cache.subscribe(touched));
        apply(&cache, &mut writer, group("web", "u1", 1, 80));
        assert_eq!(names(&next(&mut spec, 1).await), ["web"], "first sight");
        assert_eq!(names(&next(&mut all, 1).await), ["web"]);
        // A status write: same generation and annotations.
        let mut written = group("web", "u1", 1, 80);
        written.status = Some(Default::default());
        apply(&cache, &mut writer, written);
        quiet(&mut spec).await;
        assert_eq!(names(&next(&mut all, 1).await), ["web"]);
        apply(&cache, &mut writer, group("web", "u1", 2, 8080));
        assert_eq!(next(&mut spec, 1).await[0].spec.settings.port, 8080);
        assert_eq!(names(&next(&mut all, 1).await), ["web"]);
        // Deleted: handed on only to whoever waits for deletions; recreated (a new uid) it is new.
        let gone = group("web", "u1", 2, 8080);
        writer.apply_watcher_event(&watcher::Event::Delete(gone.clone()));
        let _ = cache.changes.send(Change::Deleted(Arc::new(gone)));
        assert_eq!(names(&next(&mut all, 1).await), ["web"]);
        quiet(&mut spec).await;
        apply(&cache, &mut writer, group("web", "u3", 1, 8080));
        assert_eq!(names(&next(&mut spec, 1).await), ["web"]);
    }

    #[tokio::test]
    async fn a_subscriber_behind_by_more_than_the_backlog_is_handed_what_changed_meanwhile() {
        let (cache, mut writer, listed) = cache();
        writer.apply_watcher_event(&watcher::Event::InitDone);
        listed.send_replace(true);
        apply(&cache, &mut writer, group("web", "u1", 1, 80));
        apply(&cache, &mut writer, group("api", "u2", 1, 81));
        let interest = Interest {
            deletions: false,
            digest: Some(spec_or_annotations::<TargetGroup>),
        };
        let mut behind = Box::pin(cache.subscribe(interest));
        assert_eq!(next(&mut behind, 2).await.len(), 2);
        // More changes than the backlog holds while it is not read: "api" changed, "web" did not.
        apply(&cache, &mut writer, group("api", "u2", 2, 81));
        for _ in 0..BACKLOG {
            apply(&cache, &mut writer, group("web", "u1", 1, 80));
        }
        assert_eq!(names(&next(&mut behind, 1).await), ["api"]);
        quiet(&mut behind).await;
        // A re-list hands on, again, only what changed.
        let _ = cache.changes.send(Change::Relisted);
        quiet(&mut behind).await;
    }
}
