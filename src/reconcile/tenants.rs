//! Which `WebStackPolicy` governs a namespace, from caches of the policies and the namespaces
//! (watched cluster-wide: no API call per reconcile), `--require-policy`, and the policies' own
//! status (the namespaces each selects, and conflicts).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{broadcast, watch};

use super::Blocked;
use super::policy::{governing, selecting, selects};
use super::status::conditions;
use crate::api::{AssumeRoleRecord, ObjectViolation, PolicyAws, WebStackPolicy, WebStackPolicyStatus};
use crate::aws::identity::{OnAssumed, TenantRole};
use crate::model::Health;

/// The field manager of the policies' status.
const MANAGER: &str = "webstack-operator";

/// Caches of the policies and the namespaces, and whether a namespace needs a policy.
#[derive(Clone)]
pub struct Tenants {
    policies: Store<WebStackPolicy>,
    namespaces: Store<Namespace>,
    require_policy: bool,
    /// Bumped, after the caches hold the change, when a policy's spec or existence changes (or
    /// the caches were listed again): what may change the policy governing any object.
    governing: Arc<watch::Sender<u64>>,
    /// A namespace whose labels changed, after the cache holds the change: what may change the
    /// policy governing its objects (and whether `--namespace-selector` selects them).
    relabelled: broadcast::Sender<String>,
    /// Bumped on those and also when a namespace appears or goes: what a policy's status shows.
    selection: Arc<watch::Sender<u64>>,
    /// The last successful AssumeRole of each policy's role, by policy name.
    assumed: Arc<Mutex<BTreeMap<String, AssumeRoleRecord>>>,
    /// Objects a rule of each policy refuses, by policy name: object (`Kind/ns/name`) → message.
    violations: Arc<Mutex<BTreeMap<String, BTreeMap<String, String>>>>,
}

/// How many namespace label changes wait for a slow controller before it re-evaluates everything.
const RELABELLED: usize = 1024;

/// How many objects in violation a policy's status lists (its `violationCount` counts all).
const LISTED_VIOLATIONS: usize = 20;

/// The policy a `PolicyViolation` message names as the origin of its rule (`... (rule R of
/// WebStackPolicy NAME); nothing was changed in AWS`), and the message without that tail; None
/// for the operator's defaults and for conflicts between policies.
fn violated_policy(message: &str) -> Option<(String, String)> {
    const ORIGIN: &str = " of WebStackPolicy ";
    let at = message.rfind(ORIGIN)?;
    let name = message[at + ORIGIN.len()..].split(')').next()?;
    if name.is_empty() || !message[..at].contains("(rule ") {
        return None;
    }
    let message = message.split("; nothing was changed in AWS").next().unwrap_or(message);
    Some((name.to_string(), message.to_string()))
}

/// What a watch event changed, for the two signals.
#[derive(Default)]
struct Seen {
    /// A policy's generation and whether it is being deleted, by name.
    policies: BTreeMap<String, (Option<i64>, bool)>,
    /// A namespace's labels, by name.
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

/// Whose governing policy a change may have changed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Governs {
    Nothing,
    /// Every object's.
    All,
    /// The objects' of one namespace.
    Namespace(String),
}

/// (whose governing policy may have changed, selection changed)
fn policy_event(seen: &mut Seen, event: &watcher::Event<WebStackPolicy>) -> (Governs, bool) {
    let all = |changed: bool| (if changed { Governs::All } else { Governs::Nothing }, changed);
    match event {
        watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
            let now = (p.metadata.generation, p.metadata.deletion_timestamp.is_some());
            all(seen.policies.insert(p.name_any(), now) != Some(now))
        }
        watcher::Event::Delete(p) => {
            seen.policies.remove(&p.name_any());
            all(true)
        }
        watcher::Event::Init => {
            seen.policies.clear();
            all(false)
        }
        watcher::Event::InitDone => all(true),
    }
}

fn namespace_event(seen: &mut Seen, event: &watcher::Event<Namespace>) -> (Governs, bool) {
    match event {
        watcher::Event::Apply(ns) | watcher::Event::InitApply(ns) => {
            match seen.namespaces.insert(ns.name_any(), ns.labels().clone()) {
                None => (Governs::Nothing, true),
                Some(before) if &before != ns.labels() => (Governs::Namespace(ns.name_any()), true),
                Some(_) => (Governs::Nothing, false),
            }
        }
        watcher::Event::Delete(ns) => {
            seen.namespaces.remove(&ns.name_any());
            (Governs::Nothing, true)
        }
        watcher::Event::Init => {
            seen.namespaces.clear();
            (Governs::Nothing, false)
        }
        watcher::Event::InitDone => (Governs::All, true),
    }
}

impl Tenants {
    /// Starts watching policies and namespaces (in the background, until the process ends) and
    /// waits until both caches hold their first list.
    pub async fn start(client: &Client, require_policy: bool) -> Tenants {
        let (policies, policy_writer) = reflector::store();
        let (namespaces, namespace_writer) = reflector::store();
        let governing = Arc::new(watch::channel(0u64).0);
        let relabelled = broadcast::channel(RELABELLED).0;
        let selection = Arc::new(watch::channel(0u64).0);
        let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
        let signal = {
            let (governing, relabelled, selection) = (governing.clone(), relabelled.clone(), selection.clone());
            move |(g, s): (Governs, bool)| {
                match g {
                    Governs::Nothing => {}
                    Governs::All => governing.send_modify(|n| *n += 1),
                    Governs::Namespace(ns) => {
                        // No receiver yet: nothing to re-evaluate.
                        let _ = relabelled.send(ns);
                    }
                }
                if s {
                    selection.send_modify(|n| *n += 1);
                }
            }
        };
        // `reflect` writes the cache before the event goes on: a signal always finds it current.
        let policy_watch = {
            let (seen, signal) = (seen.clone(), signal.clone());
            watcher(Api::<WebStackPolicy>::all(client.clone()), watcher::Config::default())
                .default_backoff()
                .reflect(policy_writer)
                .for_each(move |event| {
                    if let Ok(event) = event {
                        signal(policy_event(&mut seen.lock().unwrap(), &event));
                    }
                    async {}
                })
        };
        let namespace_watch = watcher(Api::<Namespace>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            // Every namespace of the cluster is cached, and only its name and labels are read:
            // the rest (field managers, annotations, spec, status) is not kept.
            .modify(|ns: &mut Namespace| {
                ns.metadata.managed_fields = None;
                ns.metadata.annotations = None;
                ns.spec = None;
                ns.status = None;
            })
            .reflect(namespace_writer)
            .for_each(move |event| {
                if let Ok(event) = event {
                    signal(namespace_event(&mut seen.lock().unwrap(), &event));
                }
                async {}
            });
        tokio::spawn(policy_watch);
        tokio::spawn(namespace_watch);
        let tenants = Tenants {
            policies,
            namespaces,
            require_policy,
            governing,
            relabelled,
            selection,
            assumed: Arc::default(),
            violations: Arc::default(),
        };
        // Until both are listed, every namespace would look unpoliced.
        let _ = tenants.policies.wait_until_ready().await;
        let _ = tenants.namespaces.wait_until_ready().await;
        tenants
    }

    /// Caches given directly (tests).
    pub fn from_stores(policies: Store<WebStackPolicy>, namespaces: Store<Namespace>, require_policy: bool) -> Self {
        Tenants {
            policies,
            namespaces,
            require_policy,
            governing: Arc::new(watch::channel(0u64).0),
            relabelled: broadcast::channel(RELABELLED).0,
            selection: Arc::new(watch::channel(0u64).0),
            assumed: Arc::default(),
            violations: Arc::default(),
        }
    }

    /// Yields once each time the policy governing any namespace may have changed (a policy's
    /// spec or existence), after the caches hold the change: the controllers re-evaluate every
    /// object on it.
    pub fn governing_changes(&self) -> impl futures::Stream<Item = ()> + Send + 'static {
        changes(self.governing.subscribe())
    }

    /// Yields a namespace each time its labels changed (the policy governing it, and whether the
    /// namespace selector selects it, may have changed), after the cache holds the change: the
    /// controllers re-evaluate that namespace's objects. `None`: some were missed (a slow
    /// receiver), so every object is to be re-evaluated.
    pub fn relabelled_namespaces(&self) -> impl futures::Stream<Item = Option<String>> + Send + 'static {
        futures::stream::unfold(self.relabelled.subscribe(), |mut rx| async move {
            match rx.recv().await {
                Ok(ns) => Some((Some(ns), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((None, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
    }

    /// A namespace's labels; a namespace not yet in the cache (just created) waits for it rather
    /// than being taken for an unlabelled one, which no policy might select.
    /// A namespace's labels, if the cache holds it.
    pub fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .map(|n| n.labels().clone())
    }

    fn labels(&self, namespace: &str) -> Result<BTreeMap<String, String>, Blocked> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .map(|n| n.labels().clone())
            .ok_or_else(|| Blocked::waiting(format!("namespace {namespace} is not in the operator's cache yet")))
    }

    /// The policy governing `namespace`, if any. Stalled (`PolicyViolation`) when two policies
    /// select it, or when none does and the operator runs with `--require-policy`.
    pub fn policy_for(&self, namespace: &str) -> Result<Option<Arc<WebStackPolicy>>, Blocked> {
        let all = self.policies.state();
        match governing(all.iter().map(|p| &**p), &self.labels(namespace)?) {
            Err(conflict) => Err(Blocked::stalled(
                "PolicyViolation",
                format!("namespace {namespace}: {conflict}; nothing was changed in AWS"),
            )),
            Ok(None) if self.require_policy => Err(Blocked::stalled(
                "PolicyViolation",
                format!(
                    "namespace {namespace}: no WebStackPolicy selects it and the operator runs with --require-policy; \
                     nothing was changed in AWS"
                ),
            )),
            Ok(found) => Ok(found.map(|p| Arc::new(p.clone()))),
        }
    }

    /// The AWS identity of `namespace`'s objects: its policy's `spec.aws` with the policy's name
    /// (none: the operator's own). Also while deleting, whatever `--require-policy` says (the
    /// stack's resources were made with that identity). When several policies select the
    /// namespace (a conflict that stops converging), the identity is still known if they all
    /// name the same one (none included), so deletion goes on; Stalled only when they differ.
    pub fn identity_for(&self, namespace: &str) -> Result<Option<(String, PolicyAws)>, Blocked> {
        let labels = self.labels(namespace)?;
        let all = self.policies.state();
        let selecting = selecting(all.iter().map(|p| &**p), &labels);
        let Some(first) = selecting.first() else {
            return Ok(None);
        };
        if selecting.iter().any(|p| p.spec.aws != first.spec.aws) {
            let names: Vec<String> = selecting.iter().map(|p| p.name_any()).collect();
            return Err(Blocked::stalled(
                "PolicyViolation",
                format!(
                    "namespace {namespace}: the WebStackPolicies selecting it ({}) name different AWS identities \
                     (spec.aws); nothing was changed in AWS",
                    names.join(", ")
                ),
            ));
        }
        Ok(first.spec.aws.clone().map(|aws| (first.name_any(), aws)))
    }

    /// What records a successful AssumeRole of `policy`'s role in its status.
    pub fn assume_recorder(&self, policy: &str) -> OnAssumed {
        let (assumed, selection, policy) = (self.assumed.clone(), self.selection.clone(), policy.to_string());
        Arc::new(move |role: &TenantRole| {
            let record = AssumeRoleRecord {
                role_arn: role.role_arn.clone(),
                namespace: role.namespace.clone(),
                time: k8s_openapi::jiff::Timestamp::now().to_string(),
            };
            assumed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(policy.clone(), record);
            selection.send_modify(|n| *n += 1);
        })
    }

    /// Notes how a reconcile of `object` (`Kind/ns/name`) ended: `stalled` with a
    /// `PolicyViolation` message naming a policy's rule lists the object in that policy's status;
    /// anything else (None: it converged, is being deleted or is gone) takes it off.
    pub fn note_outcome(&self, object: &str, stalled: Option<&str>) {
        let now = stalled.and_then(violated_policy);
        let mut all = self.violations.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed = false;
        for (policy, objects) in all.iter_mut() {
            if now.as_ref().is_none_or(|(p, _)| p != policy) {
                changed |= objects.remove(object).is_some();
            }
        }
        all.retain(|_, objects| !objects.is_empty());
        if let Some((policy, message)) = now {
            let before = all
                .entry(policy)
                .or_default()
                .insert(object.to_string(), message.clone());
            changed |= before.as_ref() != Some(&message);
        }
        drop(all);
        if changed {
            self.selection.send_modify(|n| *n += 1);
        }
    }

    /// Takes the objects (`Kind/ns/name`) `gone` says are gone off every policy's status; how
    /// many.
    pub fn forget_outcomes(&self, gone: impl Fn(&str) -> bool) -> usize {
        let mut all = self.violations.lock().unwrap_or_else(|p| p.into_inner());
        let mut forgotten = 0;
        for objects in all.values_mut() {
            let before = objects.len();
            objects.retain(|object, _| !gone(object));
            forgotten += before - objects.len();
        }
        all.retain(|_, objects| !objects.is_empty());
        drop(all);
        if forgotten > 0 {
            self.selection.send_modify(|n| *n += 1);
        }
        forgotten
    }

    /// The objects a rule of `policy` refuses: the first [`LISTED_VIOLATIONS`] by key, and how many.
    pub fn violations_of(&self, policy: &str) -> (Vec<ObjectViolation>, usize) {
        let all = self.violations.lock().unwrap_or_else(|p| p.into_inner());
        let Some(objects) = all.get(policy) else {
            return (Vec::new(), 0);
        };
        let listed = objects
            .iter()
            .take(LISTED_VIOLATIONS)
            .map(|(object, message)| ObjectViolation {
                object: object.clone(),
                message: message.clone(),
            })
            .collect();
        (listed, objects.len())
    }

    /// A policy's status: the namespaces it selects and those another policy selects too.
    pub fn status_of(&self, policy: &WebStackPolicy) -> (Vec<String>, Vec<String>) {
        let mut matched = Vec::new();
        let mut conflicts = Vec::new();
        for ns in self.namespaces.state() {
            if !selects(&policy.spec.namespace_selector, ns.labels()) {
                continue;
            }
            let name = ns.name_any();
            for other in self.policies.state() {
                if other.name_any() != policy.name_any()
                    && other.metadata.deletion_timestamp.is_none()
                    && selects(&other.spec.namespace_selector, ns.labels())
                {
                    conflicts.push(format!("{name}: {}", other.name_any()));
                }
            }
            matched.push(name);
        }
        matched.sort();
        conflicts.sort();
        (matched, conflicts)
    }

    /// Every policy's status kept current: on each change of a policy or a namespace (once the
    /// caches hold it), every policy's matched namespaces and conflicts are recomputed from the
    /// caches and written when they differ (a new policy can put another in conflict). A failed
    /// write is retried after 10 s, and everything is re-checked every 5 minutes. Ends on SIGINT or
    /// SIGTERM, like the controllers.
    pub async fn run_status(self, client: Client) {
        let mut rx = self.selection.subscribe();
        let mut shutdown = std::pin::pin!(shutdown_signal());
        loop {
            let mut failed = false;
            for policy in self.policies.state() {
                if policy.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                if let Err(err) = self.write_status(&client, &policy).await {
                    tracing::info!(policy = %policy.name_any(), error = %crate::model::report(&err),
                        "writing a WebStackPolicy's status");
                    failed = true;
                }
            }
            let wait = if failed {
                Duration::from_secs(10)
            } else {
                Duration::from_secs(300)
            };
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => return,
            }
        }
    }

    async fn write_status(&self, client: &Client, policy: &WebStackPolicy) -> Result<(), kube::Error> {
        let (matched, conflicts) = self.status_of(policy);
        let previous = policy.status.clone().unwrap_or_default();
        let health = if conflicts.is_empty() {
            Health::ready(format!("governs {} namespace(s)", matched.len()))
        } else {
            Health::Stalled {
                reason: "PolicyViolation",
                message: format!(
                    "namespaces selected by another policy too get no work done: {}",
                    conflicts.join("; ")
                ),
            }
        };
        let (violations, count) = self.violations_of(&policy.name_any());
        let generation = policy.metadata.generation;
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let status = WebStackPolicyStatus {
            observed_generation: generation,
            conditions: conditions(&previous.conditions, &health, generation, &now),
            matched_namespaces: matched,
            conflicts,
            violations,
            violation_count: (count > 0).then(|| i32::try_from(count).unwrap_or(i32::MAX)),
            last_assume_role: self
                .assumed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&policy.name_any())
                .cloned()
                .or(previous.last_assume_role.clone()),
        };
        let same = |a: &WebStackPolicyStatus, b: &WebStackPolicyStatus| {
            let key = |s: &WebStackPolicyStatus| {
                let c: Vec<_> = s
                    .conditions
                    .iter()
                    .map(|c| (c.type_.clone(), c.status.clone(), c.message.clone()))
                    .collect();
                (
                    s.observed_generation,
                    c,
                    s.matched_namespaces.clone(),
                    s.conflicts.clone(),
                    s.violations.clone(),
                    s.violation_count,
                    s.last_assume_role.clone(),
                )
            };
            key(a) == key(b)
        };
        if same(&status, &previous) {
            return Ok(());
        }
        let patch =
            serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "WebStackPolicy", "status": status});
        Api::<WebStackPolicy>::all(client.clone())
            .patch_status(
                &policy.name_any(),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        Ok(())
    }
}

/// SIGINT or SIGTERM (what `Controller::shutdown_on_signal` waits for).
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// One item per change of a counter (changes in between coalesce).
fn changes(rx: watch::Receiver<u64>) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    fn ns(name: &str, labels: &[(&str, &str)]) -> Namespace {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()}
        }))
        .unwrap()
    }

    fn policy(name: &str, team: &str) -> WebStackPolicy {
        serde_yaml::from_str(&format!(
            "apiVersion: webstack.io/v1alpha1\nkind: WebStackPolicy\nmetadata: {{name: {name}}}\nspec: {{namespaceSelector: {{matchLabels: {{team: {team}}}}}}}"
        ))
        .unwrap()
    }

    fn tenants(policies: Vec<WebStackPolicy>, namespaces: Vec<Namespace>, require: bool) -> Tenants {
        let (p, mut pw) = reflector::store();
        for x in policies {
            pw.apply_watcher_event(&Event::Apply(x));
        }
        let (n, mut nw) = reflector::store();
        for x in namespaces {
            nw.apply_watcher_event(&Event::Apply(x));
        }
        Tenants::from_stores(p, n, require)
    }

    #[test]
    fn objects_in_violation_are_listed_on_their_policy() {
        let t = tenants(
            vec![policy("movies", "movies")],
            vec![ns("b", &[("team", "movies")])],
            false,
        );
        let mut changes = t.selection.subscribe();
        let stalled = "spec.tags.cost-center: the tag cost-center is required on every stack \
                       (rule requiredTags of WebStackPolicy movies); nothing was changed in AWS";
        t.note_outcome("WebStack/b/shop", Some(stalled));
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        let (listed, count) = t.violations_of("movies");
        assert_eq!(count, 1);
        assert_eq!(listed[0].object, "WebStack/b/shop");
        assert!(
            listed[0]
                .message
                .ends_with("(rule requiredTags of WebStackPolicy movies)"),
            "{listed:?}"
        );
        // The same verdict again changes nothing (no status write).
        t.note_outcome("WebStack/b/shop", Some(stalled));
        assert!(!changes.has_changed().unwrap());
        // The operator's defaults and conflicts are not a policy's rule.
        t.note_outcome(
            "ContainerService/b/api",
            Some("spec.taskRoleArn: x (rule no-operator-roles of webstack-operator's defaults); nothing was changed in AWS"),
        );
        t.note_outcome(
            "WebStack/b/other",
            Some(
                "namespace b: the namespace is selected by several WebStackPolicies (a, b); nothing was changed in AWS",
            ),
        );
        assert_eq!(t.violations_of("movies").1, 1);
        // Converged, or gone: off the list.
        t.note_outcome("WebStack/b/shop", None);
        assert_eq!(t.violations_of("movies"), (vec![], 0));
        assert!(changes.has_changed().unwrap());
        // At most LISTED_VIOLATIONS listed, all counted.
        for i in 0..25 {
            t.note_outcome(&format!("WebStack/b/s{i:02}"), Some(stalled));
        }
        let (listed, count) = t.violations_of("movies");
        assert_eq!((listed.len(), count), (LISTED_VIOLATIONS, 25));
        assert_eq!(listed[0].object, "WebStack/b/s00");
    }

    #[test]
    fn a_namespace_gets_its_one_policy_or_a_refusal() {
        let t = tenants(
            vec![
                policy("movies", "movies"),
                policy("movies-too", "movies"),
                policy("books", "books"),
            ],
            vec![
                ns("a", &[("team", "books")]),
                ns("b", &[("team", "movies")]),
                ns("c", &[]),
            ],
            false,
        );
        assert_eq!(t.policy_for("a").unwrap().unwrap().name_any(), "books");
        let err = t.policy_for("b").unwrap_err().to_string();
        assert!(err.contains("movies, movies-too"), "{err}");
        assert!(t.policy_for("c").unwrap().is_none());
        // Not in the cache yet: waits, rather than passing for an unpoliced namespace.
        assert!(matches!(t.policy_for("unknown"), Err(Blocked::Waiting { .. })));
        assert_eq!(
            t.status_of(&policy("movies", "movies")),
            (vec!["b".to_string()], vec!["b: movies-too".to_string()])
        );
        assert_eq!(t.status_of(&policy("books", "books")), (vec!["a".to_string()], vec![]));
        // Conflicting policies naming no identity: the operator's own (deletion goes on).
        assert_eq!(t.identity_for("b").unwrap(), None);
        let mut with_role = policy("movies-role", "movies");
        with_role.spec.aws = Some(PolicyAws {
            assume_role_arn: "arn:aws:iam::210987654321:role/webstack-tenant-movies".into(),
            external_id: None,
            regions: vec![],
        });
        let differing = tenants(
            vec![policy("movies", "movies"), with_role.clone()],
            vec![ns("b", &[("team", "movies")])],
            false,
        );
        let err = differing.identity_for("b").unwrap_err().to_string();
        assert!(err.contains("different AWS identities"), "{err}");
        let one = tenants(vec![with_role], vec![ns("b", &[("team", "movies")])], false);
        assert_eq!(one.identity_for("b").unwrap().unwrap().0, "movies-role");
        let required = tenants(vec![policy("books", "books")], vec![ns("c", &[])], true);
        let err = required.policy_for("c").unwrap_err().to_string();
        assert!(err.contains("--require-policy"), "{err}");
    }

    /// The controllers re-evaluate their objects on what may change a namespace's policy (never on
    /// a policy's status write); the policies' status also follows namespaces that come and go.
    #[test]
    fn changes_signal_what_they_concern() {
        let mut seen = Seen::default();
        let mut p = policy("movies", "movies");
        p.metadata.generation = Some(1);
        assert_eq!(policy_event(&mut seen, &Event::Apply(p.clone())), (Governs::All, true));
        assert_eq!(
            policy_event(&mut seen, &Event::Apply(p.clone())),
            (Governs::Nothing, false),
            "status only"
        );
        p.metadata.generation = Some(2);
        assert_eq!(
            policy_event(&mut seen, &Event::Apply(p.clone())),
            (Governs::All, true),
            "spec"
        );
        assert_eq!(policy_event(&mut seen, &Event::Delete(p)), (Governs::All, true));

        let a = ns("a", &[("team", "books")]);
        assert_eq!(
            namespace_event(&mut seen, &Event::Apply(a.clone())),
            (Governs::Nothing, true),
            "new"
        );
        assert_eq!(
            namespace_event(&mut seen, &Event::Apply(a)),
            (Governs::Nothing, false),
            "unchanged"
        );
        // Relabelled: that namespace's objects only.
        let relabelled = ns("a", &[("team", "movies")]);
        assert_eq!(
            namespace_event(&mut seen, &Event::Apply(relabelled.clone())),
            (Governs::Namespace("a".into()), true)
        );
        assert_eq!(
            namespace_event(&mut seen, &Event::Delete(relabelled)),
            (Governs::Nothing, true)
        );
        assert_eq!(
            namespace_event(&mut seen, &Event::InitDone),
            (Governs::All, true),
            "a relist"
        );
    }
}
