//! Who refers to whom among the kinds: a child's stack, the target groups a listener, rule or
//! service uses; the lookups built on them (Ready target groups, a stack's children, a target
//! group's users) and the watches that requeue an object when what it refers to changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use kube::api::ListParams;
use kube::runtime::Controller;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, ResourceExt};

use super::caches::{self, Cache, Cached, Caches, Interest};
use super::status::{Kind, is_ready};
use crate::api::{ContainerService, ListenerRule, StaticSite, TargetGroup, WebStack, WebStackSpec};

/// Where `load` reads the objects another one points at: the cluster, or (`plan`) the cluster's
/// objects overlaid by the manifests being planned, so that a TargetGroup in the same file as
/// its new WebStack is planned against that stack. One source, so the controllers and `plan`
/// run the same loads.
#[derive(Clone)]
pub struct Source {
    client: Client,
    overlay: Option<Arc<Overlay>>,
    /// The running operator's caches ([`Caches`]): read instead of the API server.
    caches: Option<Arc<Caches>>,
}

/// Objects that stand in for (or add to) the cluster's: by kind, namespace and name.
#[derive(Default)]
pub struct Overlay {
    objects: Mutex<BTreeMap<(String, String, String), serde_json::Value>>,
}

impl Overlay {
    /// Puts `obj` in place of the cluster's object of its kind, namespace and name.
    pub fn put<K: Kind>(&self, obj: &K) {
        let key = (
            K::kind(&()).to_string(),
            obj.namespace().unwrap_or_default(),
            obj.name_any(),
        );
        if let Ok(v) = serde_json::to_value(obj) {
            self.lock().insert(key, v);
        }
    }

    /// The overlay's object of kind `K` named `name` in `ns`.
    pub fn get<K: Kind>(&self, ns: &str, name: &str) -> Option<K> {
        let key = (K::kind(&()).to_string(), ns.to_string(), name.to_string());
        self.lock()
            .get(&key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The overlay's objects of kind `K` in `ns`.
    fn of<K: Kind>(&self, ns: &str) -> Vec<K> {
        let kind = K::kind(&()).to_string();
        self.lock()
            .iter()
            .filter(|((k, n, _), _)| *k == kind && n == ns)
            .filter_map(|(_, v)| serde_json::from_value(v.clone()).ok())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String, String), serde_json::Value>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Source {
    /// The cluster, as it is.
    pub fn cluster(client: Client) -> Source {
        Source {
            client,
            overlay: None,
            caches: None,
        }
    }

    /// The cluster overlaid by `overlay`.
    pub fn overlaid(client: Client, overlay: Arc<Overlay>) -> Source {
        Source {
            client,
            overlay: Some(overlay),
            caches: None,
        }
    }

    /// The cluster as `caches` hold it (the running operator's: no API request per read).
    pub fn cached(client: Client, caches: Arc<Caches>) -> Source {
        Source {
            client,
            overlay: None,
            caches: Some(caches),
        }
    }

    /// The caches reads come from, if any.
    pub fn caches(&self) -> Option<&Arc<Caches>> {
        self.caches.as_ref()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Every object of kind `K` in `ns`: from the caches when the source has them (once their first
/// listing is in), else from the API server.
pub async fn list<K: Cached>(source: &Source, ns: &str) -> Result<Vec<Arc<K>>, kube::Error> {
    if let Some(caches) = &source.caches {
        let cache = caches.of::<K>();
        wait_ready(cache).await?;
        let mut found: Vec<Arc<K>> = cache
            .store()
            .state()
            .into_iter()
            .filter(|o| o.namespace().as_deref() == Some(ns))
            .collect();
        found.sort_by_key(|o| o.name_any());
        return Ok(found);
    }
    list_fresh(source, ns).await
}

/// Every object of kind `K` in `ns`, read from the API server even when the source has caches:
/// for what must not act on a cache a moment behind (a deletion waiting for its dependents).
pub async fn list_fresh<K: Kind>(source: &Source, ns: &str) -> Result<Vec<Arc<K>>, kube::Error> {
    let mut found: Vec<K> = Api::<K>::namespaced(source.client.clone(), ns)
        .list(&ListParams::default())
        .await?
        .items;
    if let Some(overlay) = &source.overlay {
        for obj in overlay.of::<K>(ns) {
            found.retain(|o| o.name_any() != obj.name_any());
            found.push(obj);
        }
        found.sort_by_key(|o| o.name_any());
    }
    Ok(found.into_iter().map(Arc::new).collect())
}

/// The object `name` of kind `K` in `ns`, if it exists (from the caches when the source has them).
pub async fn get<K: Cached>(source: &Source, ns: &str, name: &str) -> Result<Option<Arc<K>>, kube::Error> {
    if let Some(obj) = source.overlay.as_ref().and_then(|o| o.get::<K>(ns, name)) {
        return Ok(Some(Arc::new(obj)));
    }
    if let Some(caches) = &source.caches {
        let cache = caches.of::<K>();
        wait_ready(cache).await?;
        return Ok(cache.store().get(&ObjectRef::new(name).within(ns)));
    }
    Ok(Api::<K>::namespaced(source.client.clone(), ns)
        .get_opt(name)
        .await?
        .map(Arc::new))
}

/// Waits for a cache's first listing (an empty store before it would read as "nothing there").
async fn wait_ready<K: Cached>(cache: &Cache<K>) -> Result<(), kube::Error> {
    match cache.ready().await {
        true => Ok(()),
        false => Err(kube::Error::Service("the cache's watch stopped".into())),
    }
}

/// The TargetGroups that a stack's listener default actions forward to.
pub fn stack_forwards(spec: &WebStackSpec) -> BTreeSet<String> {
    spec.load_balancer
        .iter()
        .flat_map(|lb| &lb.listeners)
        .filter_map(|l| l.default_action.as_ref()?.forward.as_ref())
        .flat_map(|f| f.target_groups.iter().map(|t| t.name.clone()))
        .collect()
}

/// Whether a rule forwards to the TargetGroup `name`.
pub fn rule_forwards_to(rule: &ListenerRule, name: &str) -> bool {
    rule.spec
        .action
        .forward
        .iter()
        .flat_map(|f| &f.target_groups)
        .any(|t| t.name == name)
}

/// The TargetGroup a service is attached to.
pub fn service_target_group(s: &ContainerService) -> Option<&str> {
    let lb = s.spec.settings.load_balancer.as_ref()?;
    lb.target_group_ref.as_ref().map(|r| r.name.as_str())
}

/// The stack a child refers to.
pub trait Child {
    fn stack(&self) -> Option<&str>;
}

impl Child for TargetGroup {
    fn stack(&self) -> Option<&str> {
        Some(&self.spec.stack_ref.name)
    }
}

impl Child for ListenerRule {
    fn stack(&self) -> Option<&str> {
        Some(&self.spec.stack_ref.name)
    }
}

impl Child for ContainerService {
    fn stack(&self) -> Option<&str> {
        Some(&self.spec.stack_ref.name)
    }
}

impl Child for StaticSite {
    fn stack(&self) -> Option<&str> {
        self.spec.stack_ref.as_ref().map(|r| r.name.as_str())
    }
}

/// The TargetGroups of a namespace as their users see them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroups {
    /// ARNs of the Ready ones, by name.
    pub ready: BTreeMap<String, String>,
    /// Names of all that exist and are not being deleted.
    pub existing: BTreeSet<String>,
}

/// The TargetGroups of `ns`.
pub async fn target_groups(client: &Source, ns: &str) -> Result<TargetGroups, kube::Error> {
    let all = list::<TargetGroup>(client, ns).await?;
    Ok(TargetGroups {
        existing: all
            .iter()
            .filter(|t| t.metadata.deletion_timestamp.is_none())
            .map(|t| t.name_any())
            .collect(),
        ready: all
            .iter()
            .filter_map(|t| {
                let st = t.status.as_ref()?;
                is_ready(&st.conditions).then(|| Some((t.name_any(), st.arn.clone()?)))?
            })
            .collect(),
    })
}

/// The ContainerServices in `ns` that run in the stack `stack` (not being deleted).
pub async fn stack_services(client: &Source, ns: &str, stack: &str) -> Result<Vec<ContainerService>, kube::Error> {
    Ok(list::<ContainerService>(client, ns)
        .await?
        .iter()
        .filter(|s| s.stack() == Some(stack) && s.metadata.deletion_timestamp.is_none())
        .map(|s| (**s).clone())
        .collect())
}

/// `<Kind>/<name>` of the objects of kind `K` in `ns` that refer to the stack `stack`.
async fn children_of<K: Kind + Child>(client: &Source, ns: &str, stack: &str) -> Result<Vec<String>, kube::Error> {
    Ok(list_fresh::<K>(client, ns)
        .await?
        .iter()
        .filter(|o| o.stack() == Some(stack))
        .map(|o| format!("{}/{}", K::kind(&()), o.name_any()))
        .collect())
}

/// Every object of the other kinds that refers to the stack `stack` (read from the API server: a
/// stack's deletion waits on it).
pub async fn children(client: &Source, ns: &str, stack: &str) -> Result<Vec<String>, kube::Error> {
    let mut found = children_of::<TargetGroup>(client, ns, stack).await?;
    found.extend(children_of::<ListenerRule>(client, ns, stack).await?);
    found.extend(children_of::<ContainerService>(client, ns, stack).await?);
    found.extend(children_of::<StaticSite>(client, ns, stack).await?);
    Ok(found)
}

/// What in Kubernetes still forwards to, or is attached to, the TargetGroup `name`. A stack being
/// deleted is not a user: it releases its listeners first (see the WebStack's release plan). Read
/// from the API server: the target group's deletion waits on it.
pub async fn target_group_users(client: &Source, ns: &str, name: &str) -> Result<Vec<String>, kube::Error> {
    let mut found: Vec<String> = list_fresh::<ListenerRule>(client, ns)
        .await?
        .iter()
        .filter(|r| rule_forwards_to(r, name))
        .map(|r| format!("ListenerRule/{}", r.name_any()))
        .collect();
    found.extend(
        list_fresh::<ContainerService>(client, ns)
            .await?
            .iter()
            .filter(|s| service_target_group(s) == Some(name))
            .map(|s| format!("ContainerService/{}", s.name_any())),
    );
    found.extend(
        list_fresh::<WebStack>(client, ns)
            .await?
            .iter()
            .filter(|ws| ws.metadata.deletion_timestamp.is_none() && stack_forwards(&ws.spec).contains(name))
            .map(|ws| format!("WebStack/{} (listener default action)", ws.name_any())),
    );
    Ok(found)
}

/// Requeues, on every change or deletion of an `O` (from its cache: no watch of its own), the
/// objects of kind `K` in its namespace that `related` says depend on it (read from the
/// controller's own cache: no extra API calls).
pub fn on<K: Kind, O: Cached>(
    controller: Controller<K>,
    caches: &Caches,
    related: fn(&O, &K) -> bool,
) -> Controller<K> {
    requeue_dependents(controller, caches, related, None)
}

/// The `K`s of an `O`'s namespace that `related` says depend on it, read from the controller's
/// own cache (no API call).
fn dependents<K: Kind, O: Kind>(
    controller: &Controller<K>,
    related: fn(&O, &K) -> bool,
) -> impl Fn(&O) -> Vec<ObjectRef<K>> + Send + Sync + 'static {
    let store = controller.store();
    move |o: &O| {
        let ns = o.namespace();
        store
            .state()
            .into_iter()
            .filter(|k| k.namespace() == ns && related(o, k))
            .map(|k| caches::queued(&*k))
            .collect()
    }
}

/// What a stack reads of a child: its generation (its spec), whether it is being deleted, its
/// Ready condition, and the ids it hands on (a target group's ARN, a site's domain). A change of
/// anything else (a status-only write: task counts, messages) does not reconcile the stack.
pub fn child_digest<O: Kind>(o: &O) -> u64 {
    let status = o
        .status()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_default();
    let ready = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| (c["status"].to_string(), c["observedGeneration"].to_string()));
    crate::model::hash_of(&(
        o.meta().generation,
        o.meta().deletion_timestamp.is_some(),
        ready,
        status["arn"].to_string(),
        status["domainName"].to_string(),
    ))
}

/// Like [`on`], but only a change of `digest` (or a deletion) of an `O` requeues the related
/// `K`s: a stack is not re-observed whole for every status write of its children.
pub fn on_changes<K: Kind, O: Cached>(
    controller: Controller<K>,
    caches: &Caches,
    related: fn(&O, &K) -> bool,
    digest: fn(&O) -> u64,
) -> Controller<K> {
    requeue_dependents(controller, caches, related, Some(digest))
}

/// [`on`] and [`on_changes`]: every deletion of an `O`, and every change (of `digest`, if any),
/// requeues its dependents.
fn requeue_dependents<K: Kind, O: Cached>(
    controller: Controller<K>,
    caches: &Caches,
    related: fn(&O, &K) -> bool,
    digest: Option<fn(&O) -> u64>,
) -> Controller<K> {
    let interest = Interest {
        deletions: true,
        digest,
    };
    let mapper = dependents(&controller, related);
    controller.watches_shared_stream(caches.of::<O>().subscribe(interest), move |o: Arc<O>| mapper(&o))
}
