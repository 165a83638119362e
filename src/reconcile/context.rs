//! What every reconcile shares: the Kubernetes client, the AWS configuration with clients and
//! availability zones per region, the operator's cluster id, the drift re-check period, the
//! Event recorder, the per-object retry backoff, and the [`Fence`] that says whether this process
//! may still change anything (leader election's lease, held by `crate::leader`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use super::recorder::Recorder;
use kube::Client;
use tokio::sync::{OnceCell, watch};
use tokio::time::Instant;

use super::Blocked;
use super::backoff::Backoff;
use super::tenants::Tenants;
use crate::api::WebStackPolicy;
use crate::aws::identity::{self, TenantRole};
use crate::aws::{Clients, ec2};

/// The AWS side of one region: clients, and the zones a stack may use (read once: they change rarely).
#[derive(Clone, Debug)]
pub struct Region {
    pub clients: Clients,
    pub zones: Vec<String>,
}

/// A region, and the namespace, role and external id its clients act with (none: the operator's
/// own credentials).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RegionKey {
    region: String,
    tenant: Option<(String, String, String)>,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// Where loads read other objects: the cluster (or, planning, the cluster overlaid by manifests).
    pub source: super::refs::Source,
    /// Planning: every AWS client refuses any call that is not a read.
    pub read_only: bool,
    pub sdk: aws_config::SdkConfig,
    pub cluster_id: String,
    pub resync: Duration,
    pub recorder: Recorder,
    pub backoff: Backoff,
    /// The WebStackPolicies and namespaces (none: no policy governs any namespace).
    pub tenants: Option<Tenants>,
    /// Whether this process may still change AWS or Kubernetes: the driver checks it before every
    /// step and every call of a reconcile ([`Fence::guard`]).
    pub fence: Fence,
    /// What each WebStack's last observation found as the stack's (subnets, services' group), for
    /// its ContainerServices, which read them from its status.
    pub vouched: Arc<super::vouched::Vouched>,
    /// Drift events: which objects each AWS identifier belongs to, the objects events name, and
    /// the pipeline's health (which sets the re-check period).
    pub events: Arc<super::events::Events>,
    /// `--namespace-selector`: only the namespaces whose labels it selects are reconciled.
    pub namespace_selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    /// One cell per region (and, for a namespace acting with its policy's role, per namespace and
    /// role), each filled once. The map's lock is held only to find a cell, never across an AWS
    /// call, so a slow region blocks nothing but the reconciles that need it.
    regions: Mutex<HashMap<RegionKey, Arc<OnceCell<Region>>>>,
}

impl Context {
    pub fn new(
        client: Client,
        sdk: aws_config::SdkConfig,
        cluster_id: String,
        resync: Duration,
        recorder: Recorder,
    ) -> Self {
        Context {
            source: super::refs::Source::cluster(client.clone()),
            read_only: false,
            client,
            sdk,
            cluster_id,
            resync,
            recorder,
            backoff: Backoff::default(),
            tenants: None,
            fence: Fence::unbounded(),
            vouched: Arc::default(),
            events: Arc::default(),
            namespace_selector: None,
            regions: Mutex::default(),
        }
    }

    /// For unit tests: the API server and AWS at `url` (which may answer nothing), a 10-minute
    /// re-check.
    #[cfg(test)]
    pub fn for_tests(url: &str) -> Self {
        let client = Client::try_from(kube::Config::new(url.parse().expect("a URL"))).expect("a client");
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(url)
            .build();
        let reporter = kube::runtime::events::Reporter {
            controller: "test".into(),
            instance: None,
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Context::new(client, sdk, "test".into(), Duration::from_secs(600), recorder)
    }

    /// For `plan`: loads read the cluster overlaid by `overlay`, and AWS clients only read.
    pub fn for_plan(mut self, overlay: Arc<super::refs::Overlay>) -> Self {
        self.source = super::refs::Source::overlaid(self.client.clone(), overlay);
        self.read_only = true;
        self
    }

    /// The re-check period of a converged object: `--resync-period`, or the longer one while drift
    /// events are healthy.
    pub fn steady_resync(&self, object: &super::events::ObjectKey) -> Duration {
        self.events.resync(self.resync, object)
    }

    /// Sharing `events` with the process's other contexts (sharded: one per shard held, with one
    /// pipeline and one index for the process).
    pub fn with_events(mut self, events: Arc<super::events::Events>) -> Self {
        self.events = events;
        self
    }

    /// Loads read other objects from `caches` (the controllers reconcile from them too).
    pub fn with_caches(mut self, caches: Arc<super::caches::Caches>) -> Self {
        self.source = super::refs::Source::cached(self.client.clone(), caches);
        self
    }

    /// With the policies and namespaces watched.
    pub fn with_tenants(mut self, tenants: Tenants) -> Self {
        self.tenants = Some(tenants);
        self
    }

    /// The WebStackPolicy governing `namespace` (Stalled when two select it, or none does under
    /// `--require-policy`).
    pub fn policy_for(&self, namespace: &str) -> Result<Option<Arc<WebStackPolicy>>, Blocked> {
        match &self.tenants {
            Some(t) => t.policy_for(namespace),
            None => Ok(None),
        }
    }

    /// Reconciling only the namespaces `selector` selects.
    pub fn with_namespace_selector(
        mut self,
        selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    ) -> Self {
        self.namespace_selector = selector;
        self
    }

    /// Whether `--namespace-selector` selects `namespace` (always without one); `None` while the
    /// namespace is not in the cache yet.
    pub fn selects_namespace(&self, namespace: &str) -> Option<bool> {
        let Some(selector) = &self.namespace_selector else {
            return Some(true);
        };
        let labels = self.tenants.as_ref()?.namespace_labels(namespace)?;
        Some(super::policy::selects(selector, &labels))
    }

    /// The same context, changing things only while `fence` holds (default: always).
    pub fn with_fence(self, fence: Fence) -> Self {
        Context { fence, ..self }
    }

    /// The operator's own region (the SDK configuration's).
    pub fn default_region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// Clients and zones of `region` (default: the operator's region) for the objects of
    /// `namespace`: with the credentials of the role its WebStackPolicy names
    /// (`spec.aws.assumeRoleArn`, one STS session per namespace and region), else the operator's
    /// own. Waits (naming the role) while the role cannot be assumed; Stalled when two policies
    /// select the namespace.
    pub async fn region(&self, namespace: &str, region: Option<&str>) -> Result<Region, Blocked> {
        let name = region.map(String::from).unwrap_or_else(|| self.default_region());
        let identity = match &self.tenants {
            Some(t) => t.identity_for(namespace)?,
            None => None,
        };
        self.region_as(namespace, name, identity).await
    }

    /// Clients and zones of the operator's own region with its own credentials: the batched
    /// sweep's, the same the objects without a role use (a second set of every service's client
    /// cost some 0.4 MB).
    pub async fn own_region(&self) -> Result<Region, Blocked> {
        self.region_as("", self.default_region(), None).await
    }

    /// [`Self::region`] of `name` for the objects of `namespace`, with the role `identity` names
    /// (`None`: the operator's own credentials).
    async fn region_as(
        &self,
        namespace: &str,
        name: String,
        identity: Option<(String, crate::api::policy::PolicyAws)>,
    ) -> Result<Region, Blocked> {
        let role = identity.as_ref().map(|(_, aws)| TenantRole {
            role_arn: aws.assume_role_arn.clone(),
            external_id: aws.external_id.clone(),
            namespace: namespace.to_string(),
            cluster_id: self.cluster_id.clone(),
        });
        let key = RegionKey {
            region: name.clone(),
            tenant: role.as_ref().map(|r| {
                let external_id = r.external_id.clone().unwrap_or_default();
                (r.namespace.clone(), r.role_arn.clone(), external_id)
            }),
        };
        // The calls of an assumed role count against its account's AWS budget.
        let account = role
            .as_ref()
            .and_then(|r| r.role_arn.split(':').nth(4))
            .filter(|a| !a.is_empty())
            .unwrap_or("own")
            .to_string();
        let cell = {
            let mut regions = self.regions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            regions.entry(key).or_default().clone()
        };
        let found = cell
            .get_or_try_init(|| async {
                let mut config = self.sdk.to_builder().region(aws_config::Region::new(name.clone()));
                if let (Some(role), Some((policy, _))) = (role, &identity) {
                    let on_assumed = match &self.tenants {
                        Some(t) => t.assume_recorder(policy),
                        None => Arc::new(|_: &TenantRole| {}),
                    };
                    let provider = identity::assume(&self.sdk, role, &name, on_assumed)
                        .await
                        .map_err(Blocked::waiting)?;
                    config = config.credentials_provider(provider);
                }
                let clients = if self.read_only {
                    Clients::read_only(&config.build(), &account)
                } else {
                    Clients::for_account(&config.build(), &account)
                };
                let zones = ec2::availability_zones(&clients.ec2).await?;
                Ok::<_, Blocked>(Region { clients, zones })
            })
            .await?;
        Ok(found.clone())
    }

    /// Drops the clients (and their STS sessions) of the namespaces `used` says have no object
    /// here any more, and of roles their namespace no longer acts with (its policy changed or
    /// went); how many. A namespace that needs them again assumes its role anew.
    pub fn forget_tenant_clients(&self, used: impl Fn(&str) -> bool) -> usize {
        let current = |namespace: &str, role: &str, external_id: &str| {
            let identity = self
                .tenants
                .as_ref()
                .and_then(|t| t.identity_for(namespace).ok().flatten());
            identity.is_some_and(|(_, aws)| {
                aws.assume_role_arn == role && aws.external_id.as_deref().unwrap_or_default() == external_id
            })
        };
        let mut regions = self.regions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = regions.len();
        regions.retain(|key, _| match &key.tenant {
            None => true,
            Some((namespace, role, external_id)) => used(namespace) && current(namespace, role, external_id),
        });
        before - regions.len()
    }
}

/// How long a lease lets its holder act: always (no election), until an instant of this
/// process's monotonic clock (the last successful renewal's start + the renew deadline), or no
/// longer (lost, released).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    Unbounded,
    Until(Instant),
    Lost,
}

/// A cheap, cloneable check of whether this process still holds its lease: held until the
/// instant the lease's holder last set ([`Holder`]), judged by the clock at each check, so a
/// holder whose renewals hang (or whose task is never scheduled) still loses it on time.
#[derive(Clone, Debug)]
pub struct Fence {
    hold: watch::Receiver<Hold>,
    /// The lease, `namespace/name`, for log lines and errors.
    lease: Arc<str>,
}

/// The writing side of a [`Fence`]: the lease's renewer extends or ends the hold.
#[derive(Debug)]
pub struct Holder(watch::Sender<Hold>);

/// A change refused because the lease was lost.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("leadership of Lease {lease} lost: no further AWS or Kubernetes change is made by this process")]
pub struct Fenced {
    pub lease: String,
}

impl Fence {
    /// A fence that always holds (no leader election: a single replica).
    pub fn unbounded() -> Fence {
        Fence::new("-", Hold::Unbounded).1
    }

    /// A fence of the lease `namespace/name`, held as `hold` says until its [`Holder`] changes it.
    pub fn new(lease: &str, hold: Hold) -> (Holder, Fence) {
        let (tx, rx) = watch::channel(hold);
        (
            Holder(tx),
            Fence {
                hold: rx,
                lease: lease.into(),
            },
        )
    }

    /// Whether changes may be made now.
    pub fn is_leading(&self) -> bool {
        match *self.hold.borrow() {
            Hold::Unbounded => true,
            Hold::Until(until) => Instant::now() < until,
            Hold::Lost => false,
        }
    }

    /// `Err` once the lease is lost.
    pub fn check(&self) -> Result<(), Fenced> {
        if self.is_leading() { Ok(()) } else { Err(self.fenced()) }
    }

    fn fenced(&self) -> Fenced {
        Fenced {
            lease: self.lease.to_string(),
        }
    }

    /// Resolves when the lease is lost: at the end of the hold, or when its holder gives it up
    /// (never for an unbounded fence, nor once the holder is gone with the hold unbounded).
    pub async fn lost(&self) {
        let mut hold = self.hold.clone();
        loop {
            let current = *hold.borrow_and_update();
            match current {
                Hold::Lost => return,
                Hold::Until(until) if Instant::now() >= until => return,
                Hold::Until(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        changed = hold.changed() => if changed.is_err() {
                            // The holder is gone: the last hold stands until it ends.
                            tokio::time::sleep_until(until).await;
                        }
                    }
                }
                Hold::Unbounded => {
                    if hold.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }

    /// Runs `f` only while the lease holds: refused before it starts once the lease is lost, and
    /// checked again at every poll (each step, each call it makes), so nothing of it runs after
    /// the loss. A call already sent when the lease is lost is not recalled: it is dropped
    /// unanswered, and AWS may still carry it out.
    pub async fn guard<F: Future>(&self, f: F) -> Result<F::Output, Fenced> {
        self.check()?;
        let mut f = pin!(f);
        let mut lost = pin!(self.lost());
        std::future::poll_fn(|cx| {
            // The clock first: exact even before the timer wakes this task; `lost` only wakes it
            // (at the end of the hold, or when the holder gives it up) while `f` waits.
            if !self.is_leading() || lost.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(self.fenced()));
            }
            f.as_mut().poll(cx).map(Ok)
        })
        .await
    }

    /// The lease, `namespace/name`.
    pub fn lease(&self) -> &str {
        &self.lease
    }
}

impl Holder {
    /// Extends the hold to `until`, unless it has ended already: a lost hold stays lost, even if a
    /// renewal answers after all (`false`: lost).
    pub fn hold_until(&self, until: Instant) -> bool {
        let mut kept = true;
        self.0.send_if_modified(|hold| match *hold {
            Hold::Lost => {
                kept = false;
                false
            }
            Hold::Until(end) if Instant::now() >= end => {
                *hold = Hold::Lost;
                kept = false;
                true
            }
            current if current == Hold::Until(until) => false,
            _ => {
                *hold = Hold::Until(until);
                true
            }
        });
        kept
    }

    /// Ends the hold: every [`Fence`] of it refuses from now on.
    pub fn lose(&self) {
        self.0.send_replace(Hold::Lost);
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    use super::*;

    /// A namespace's clients stay while it has objects and acts with the same role; they go with
    /// its last object, or when its policy names another role. The operator's own stay.
    #[tokio::test]
    async fn a_namespace_s_clients_go_with_its_objects_or_its_role() {
        let policy: crate::api::WebStackPolicy = serde_yaml::from_str(
            "apiVersion: webstack.io/v1alpha1
kind: WebStackPolicy
metadata: {name: movies}
spec:
  namespaceSelector: {matchLabels: {team: movies}}
  aws: {assumeRoleArn: 'arn:aws:iam::111122223333:role/movies'}",
        )
        .unwrap();
        let namespace = |name: &str| -> k8s_openapi::api::core::v1::Namespace {
            serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": {"team": "movies"}}}))
                .unwrap()
        };
        let (policies, mut pw) = reflector::store();
        pw.apply_watcher_event(&Event::Apply(policy));
        let (namespaces, mut nw) = reflector::store();
        nw.apply_watcher_event(&Event::Apply(namespace("a")));
        nw.apply_watcher_event(&Event::Apply(namespace("b")));
        let ctx =
            Context::for_tests("http://127.0.0.1:9").with_tenants(Tenants::from_stores(policies, namespaces, false));
        let tenant = |ns: &str, role: &str| RegionKey {
            region: "us-east-1".into(),
            tenant: Some((ns.into(), role.into(), String::new())),
        };
        let role = "arn:aws:iam::111122223333:role/movies";
        let own = RegionKey {
            region: "us-east-1".into(),
            tenant: None,
        };
        for key in [
            own.clone(),
            tenant("a", role),
            tenant("b", role),
            tenant("a", "arn:aws:iam::111122223333:role/old"),
        ] {
            ctx.regions.lock().unwrap().insert(key, Arc::default());
        }
        // b has no object left; a's old role is no longer its policy's.
        assert_eq!(ctx.forget_tenant_clients(|ns| ns == "a"), 2);
        let mut left: Vec<RegionKey> = ctx.regions.lock().unwrap().keys().cloned().collect();
        left.sort_by_key(|k| k.tenant.clone());
        assert_eq!(left, [own, tenant("a", role)]);
        assert_eq!(ctx.forget_tenant_clients(|ns| ns == "a"), 0);
    }
}
