//! `webstack-operator plan` (also `kubectl webstack plan`): what applying manifests, deleting
//! their objects (`--delete`) or re-applying the live objects (`--live`, the drift report) would
//! change in AWS, from the controllers' own load → validate → observe → plan, never a second
//! planner. Loads read the cluster overlaid by the manifests (see [`refs::Source`]), so objects
//! in one file plan against each other; objects not created yet get a uid and a status whose
//! AWS ids read `(known after apply)` ([`known`]). Every AWS client only reads
//! ([`crate::aws::Clients::read_only`]); the only Kubernetes writes are server-side dry-runs,
//! which validate each object as the API server would (schema and CEL rules).

pub mod known;
pub mod report;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::reconcile::recorder::Recorder;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::discovery::ApiResource;
use kube::runtime::events::Reporter;
use kube::{Client, Resource, ResourceExt};
use serde::Deserialize;
use thiserror::Error;

use self::report::{Mode, ObjectPlan, Outcome, PLANNED_UID, Plan, StepView};
use crate::api::{ContainerService, ListenerRule, StaticSite, TargetGroup, WebStack};
use crate::containerservice::ContainerServiceReconciler;
use crate::listenerrule::ListenerRuleReconciler;
use crate::model::children::ChildKind;
use crate::reconcile::refs::{self, Child, Overlay};
use crate::reconcile::status::Kind;
use crate::reconcile::tenants::Tenants;
use crate::reconcile::{Blocked, Context, PAUSED, Reconciler, Step as _, spec};
use crate::staticsite::StaticSiteReconciler;
use crate::targetgroup::TargetGroupReconciler;
use crate::webstack::WebStackReconciler;

/// The API group and version of every kind `plan` plans.
const API_VERSION: &str = "webstack.io/v1alpha1";
/// The field manager of the dry-runs.
const FIELD_MANAGER: &str = "webstack-plan";

/// `text` for people, `json` (schema version [`report::FORMAT_VERSION`]) for bots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The options of `webstack-operator plan`.
#[derive(clap::Args, Clone, Debug)]
pub struct PlanOptions {
    /// Manifests: a file, a directory (its .yaml, .yml and .json files) or `-` for standard
    /// input. Repeatable.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// The namespace of objects that name none (default: the kubeconfig context's); with
    /// `--live`, the one namespace to plan (default: all).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Exit 0 with no changes, 2 with changes, 1 if any object errs (even when others change).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan deleting the manifests' objects: what goes, and what deletion policies keep or snapshot.
    #[arg(long)]
    pub delete: bool,
    /// Plan the live objects' own specs: what the controllers would correct now (drift).
    #[arg(long, conflicts_with_all = ["files", "delete"])]
    pub live: bool,
    /// The operator's cluster id (its ownership tags), as the operator is run with.
    #[arg(long, env = "WEBSTACK_CLUSTER_ID", default_value = "default")]
    pub cluster_id: String,
    /// As the operator is run with: a namespace no WebStackPolicy selects is refused.
    #[arg(long, env = "WEBSTACK_REQUIRE_POLICY")]
    pub require_policy: bool,
}

/// Why no plan could be made at all (an object's own problem is in its plan instead).
#[derive(Debug, Error)]
pub enum PlanError {
    #[error("give manifests with -f FILE|DIR|- (or --live)")]
    NoInput,
    #[error("cannot build a Kubernetes client from the kubeconfig or in-cluster configuration")]
    KubeConfig(#[source] kube::Error),
    #[error("no AWS region configured: set AWS_REGION (or a profile region)")]
    NoRegion,
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not YAML or JSON")]
    Parse {
        path: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{what}: a manifest needs kind and metadata.name")]
    Incomplete { what: String },
    #[error("cannot list the live objects")]
    List(#[source] kube::Error),
}

/// Plans with the kubeconfig's cluster and the SDK's standard AWS configuration.
pub async fn run(opts: PlanOptions) -> Result<Plan, PlanError> {
    let client = crate::manager::kube_client::infer()
        .await
        .map_err(PlanError::KubeConfig)?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(crate::aws::timeouts())
        .retry_config(crate::aws::retries())
        .load()
        .await;
    plan(opts, client, aws).await
}

/// One manifest document of ours.
#[derive(Clone, Debug)]
struct Manifest {
    kind: String,
    namespace: String,
    name: String,
    value: serde_json::Value,
}

/// Plans `opts` against the cluster of `client` and AWS as `aws` configures it.
pub async fn plan(opts: PlanOptions, client: Client, aws: aws_config::SdkConfig) -> Result<Plan, PlanError> {
    if aws.region().is_none() {
        return Err(PlanError::NoRegion);
    }
    if opts.files.is_empty() && !opts.live {
        return Err(PlanError::NoInput);
    }
    let default_ns = opts
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let overlay = Arc::new(Overlay::default());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: FIELD_MANAGER.into(),
            instance: None,
        },
    );
    let started = std::time::Instant::now();
    let tenants = Tenants::start(&client, opts.require_policy).await;
    tracing::debug!(elapsed = ?started.elapsed(), "policies and namespaces listed");
    let ctx = Context::new(
        client.clone(),
        aws,
        opts.cluster_id.clone(),
        std::time::Duration::from_secs(600),
        recorder,
    )
    .with_tenants(tenants)
    .for_plan(overlay.clone());
    let mut planner = Planner {
        ctx,
        overlay,
        objects: Vec::new(),
        skipped: Vec::new(),
        new_stacks: BTreeSet::new(),
        new_listeners: BTreeSet::new(),
    };
    if opts.live {
        planner.live(opts.namespace.as_deref()).await?;
        return Ok(Plan::new(Mode::Live, planner.objects, planner.skipped));
    }
    let mut manifests = Vec::new();
    for file in &opts.files {
        for value in read(file)? {
            let what = format!(
                "{} in {}",
                value["kind"].as_str().unwrap_or("a document"),
                file.display()
            );
            let api_version = value["apiVersion"].as_str().unwrap_or_default();
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if kind.is_empty() || name.is_empty() {
                return Err(PlanError::Incomplete { what });
            }
            if api_version != API_VERSION || kind == "WebStackPolicy" {
                planner
                    .skipped
                    .push(format!("{api_version} {kind} {name}: creates no AWS resource"));
                continue;
            }
            let namespace = value["metadata"]["namespace"]
                .as_str()
                .map_or_else(|| default_ns.clone(), String::from);
            manifests.push(Manifest {
                kind,
                namespace,
                name,
                value,
            });
        }
    }
    if opts.delete {
        planner.deletion(&manifests).await;
        return Ok(Plan::new(Mode::Delete, planner.objects, planner.skipped));
    }
    planner.apply(&manifests).await;
    tracing::debug!(elapsed = ?started.elapsed(), "planned");
    Ok(Plan::new(Mode::Apply, planner.objects, planner.skipped))
}

/// The documents of `path`: a file, a directory's manifests (sorted by name), or standard input.
fn read(path: &Path) -> Result<Vec<serde_json::Value>, PlanError> {
    let shown = path.display().to_string();
    let text = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| PlanError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    if shown == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|source| PlanError::Read {
            path: shown.clone(),
            source,
        })?;
        return documents(&s, &shown);
    }
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| PlanError::Read {
                path: shown.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(documents(&text(&f)?, &f.display().to_string())?);
        }
        return Ok(out);
    }
    documents(&text(path)?, &shown)
}

/// Every document of a YAML (or JSON) stream; `kind: List` items taken one by one.
fn documents(text: &str, path: &str) -> Result<Vec<serde_json::Value>, PlanError> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(doc).map_err(|source| PlanError::Parse {
            path: path.to_string(),
            source,
        })?;
        match value {
            serde_json::Value::Null => {}
            v if v["kind"] == "List" => out.extend(v["items"].as_array().cloned().unwrap_or_default()),
            v => out.push(v),
        }
    }
    Ok(out)
}

/// An object ready to plan: as the API server would store it, and whether it is new.
struct Prepared<K> {
    obj: K,
    new: bool,
    child_of: Option<String>,
}

struct Planner {
    ctx: Context,
    overlay: Arc<Overlay>,
    objects: Vec<ObjectPlan>,
    skipped: Vec<String>,
    /// `namespace/name` of the stacks this plan creates: what refers to them exists nowhere yet.
    new_stacks: BTreeSet<String>,
    /// `namespace/name` of the existing stacks whose load balancer this plan replaces: their
    /// listeners, and the rules on them, are created anew.
    new_listeners: BTreeSet<String>,
}

fn outcome_of(b: Blocked) -> Outcome {
    match b {
        Blocked::Stalled { reason, message } => Outcome::Error {
            reason: reason.into(),
            message,
        },
        Blocked::Waiting { message } => Outcome::Waiting { message },
        Blocked::Aws(e) => Outcome::Error {
            reason: "AwsError".into(),
            message: e.to_string(),
        },
        Blocked::Kube(e) => Outcome::Error {
            reason: "KubernetesError".into(),
            message: crate::model::report(&e),
        },
    }
}

fn object_plan<K: Kind>(obj: &K, new: bool, child_of: Option<String>, outcome: Outcome) -> ObjectPlan {
    let ns = obj.namespace().unwrap_or_default();
    ObjectPlan {
        new,
        child_of,
        ..ObjectPlan::new(&K::kind(&()), &ns, &obj.name_any(), outcome)
    }
}

/// The note of an object the operator leaves alone (`webstack.io/paused`).
fn paused_note<K: Kind>(obj: &K) -> Option<String> {
    (obj.annotations().get(PAUSED).map(String::as_str) == Some("true"))
        .then(|| format!("{PAUSED}: the operator takes none of these steps until the annotation goes"))
}

/// The API server's word on `manifest`, by a server-side dry-run: a create when the object does
/// not exist, else a replace of the live object's spec, labels and annotations (status, uid and
/// finalizers stay the live object's). `Err` is the plan of an object the API server refuses.
async fn dry_run<K: Kind>(client: &Client, m: &Manifest) -> Result<Prepared<K>, ObjectPlan> {
    let refused = |reason: String, message: String| {
        ObjectPlan::new(&m.kind, &m.namespace, &m.name, Outcome::Error { reason, message })
    };
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &m.namespace, &resource);
    let params = PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let kube_error = |e: kube::Error| match e {
        kube::Error::Api(s) => refused(s.reason.clone(), s.message.clone()),
        other => refused("KubernetesError".into(), crate::model::report(&other)),
    };
    let mut value = m.value.clone();
    value["metadata"]["namespace"] = m.namespace.clone().into();
    // A replace carries the live object's resourceVersion: the operator's status write between
    // the read and the dry run makes it a Conflict, so it is read again (a dry run changes
    // nothing; a few tries, then the Conflict is the plan's error).
    let mut tries = 0;
    let (live, answer) = loop {
        tries += 1;
        let live = api.get_opt(&m.name).await.map_err(kube_error)?;
        let answer = match &live {
            None => {
                let obj: DynamicObject = serde_json::from_value(value.clone())
                    .map_err(|e| refused("Invalid".into(), format!("not a {}: {e}", m.kind)))?;
                api.create(&params, &obj).await
            }
            Some(live) => {
                let mut obj = serde_json::to_value(live).unwrap_or_default();
                obj["spec"] = value["spec"].clone();
                for field in ["labels", "annotations"] {
                    if let Some(map) = value["metadata"][field].as_object() {
                        for (k, v) in map {
                            obj["metadata"][field][k] = v.clone();
                        }
                    }
                }
                let obj: DynamicObject = serde_json::from_value(obj)
                    .map_err(|e| refused("Invalid".into(), format!("not a {}: {e}", m.kind)))?;
                api.replace(&m.name, &params, &obj).await
            }
        };
        match answer {
            Err(kube::Error::Api(s)) if s.code == 409 && live.is_some() && tries < 5 => continue,
            answer => break (live, answer.map_err(kube_error)?),
        }
    };
    let mut stored = serde_json::to_value(&answer).unwrap_or_default();
    if live.is_none() {
        // Given at creation: not known before apply.
        stored["metadata"]["uid"] = PLANNED_UID.into();
        if let Some(meta) = stored["metadata"].as_object_mut() {
            meta.remove("creationTimestamp");
        }
        if let Some(o) = stored.as_object_mut() {
            o.remove("status");
        }
    }
    let obj: K =
        serde_json::from_value(stored).map_err(|e| refused("Invalid".into(), format!("not a {}: {e}", m.kind)))?;
    Ok(Prepared {
        obj,
        new: live.is_none(),
        child_of: None,
    })
}

/// Plans `obj` through `R`'s own load → validate → observe → plan. `observe: false` plans
/// against nothing in AWS: an object that refers to a stack not created yet has nothing there.
async fn plan_object<R: Reconciler>(
    ctx: &Context,
    obj: &R::K,
    observe: bool,
) -> (Outcome, Vec<StepView>, Option<R::Desired>)
where
    R::Observed: Default,
{
    let owner = spec::owner(obj, R::KIND, &ctx.cluster_id);
    let result = async {
        let deps = Box::pin(R::load(ctx, obj, false)).await?;
        let desired = R::validate(obj, &owner, &deps)?;
        let observed = if observe {
            Box::pin(R::observe(obj, &owner, &deps, Some(&desired))).await?
        } else {
            R::Observed::default()
        };
        let steps = R::plan(&desired, &observed)?;
        Ok::<_, Blocked>((steps, desired))
    }
    .await;
    match result {
        Ok((steps, desired)) => {
            let views: Vec<StepView> = steps.iter().map(StepView::of).collect();
            let outcome = if views.is_empty() {
                Outcome::NoChanges
            } else {
                Outcome::Changes
            };
            (outcome, views, Some(desired))
        }
        Err(b) => (outcome_of(b), Vec::new(), None),
    }
}

/// What deleting `obj` would do: its cleanup plan (its release plan while objects outside
/// `deleted`, `Kind/name` in its namespace, still need it).
async fn plan_deletion<R: Reconciler>(ctx: &Context, obj: &R::K, deleted: &BTreeSet<String>) -> ObjectPlan {
    let mut plan = object_plan(obj, false, None, Outcome::NoChanges);
    let owner = spec::owner(obj, R::KIND, &ctx.cluster_id);
    let policy = obj.deletion_policy();
    let result = async {
        let deps = Box::pin(R::load(ctx, obj, true)).await?;
        let observed = Box::pin(R::observe(obj, &owner, &deps, None)).await?;
        let release = R::plan_release(&observed);
        // What its release deletes itself (a stack's own children): `Kind/name`.
        let released: BTreeSet<String> = release
            .iter()
            .filter(|s| s.action() == "DeleteChild")
            .filter_map(|s| Some(s.to_string().strip_prefix("delete ")?.replacen(' ', "/", 1)))
            .collect();
        let blockers = R::blockers(ctx, obj).await?;
        let key = |b: &String| b.split(' ').next().unwrap_or_default().to_string();
        let outside: Vec<String> = blockers
            .iter()
            .filter(|b| !deleted.contains(&key(b)) && !released.contains(&key(b)))
            .cloned()
            .collect();
        let views = |steps: &[R::Step]| steps.iter().map(StepView::of).collect::<Vec<_>>();
        let steps = if blockers.is_empty() {
            views(&R::plan_cleanup(obj, &observed, policy))
        } else if outside.is_empty() {
            // Its children go first (its release), then what it holds itself.
            let mut all = views(&release);
            all.extend(views(&R::plan_cleanup(obj, &observed, policy)));
            all
        } else {
            views(&release)
        };
        let mut notes = Vec::new();
        if !blockers.is_empty() && outside.is_empty() {
            notes.push(format!(
                "its deletion first deletes {} and stops its listeners forwarding, then, once they are gone, \
                 deletes its own resources",
                blockers.join(", ")
            ));
        }
        if !outside.is_empty() {
            notes.push(format!(
                "deletion waits for {} to be deleted first (not in these manifests)",
                outside.join(", ")
            ));
        }
        Ok::<_, Blocked>((steps, notes))
    }
    .await;
    match result {
        Ok((steps, notes)) => {
            plan.steps = steps;
            plan.outcome = if plan.steps.is_empty() {
                Outcome::NoChanges
            } else {
                Outcome::Changes
            };
            plan.notes.push(match policy {
                crate::api::DeletionPolicy::Retain => {
                    "deletionPolicy: Retain: its AWS resources are kept, their ownership tags removed".into()
                }
                crate::api::DeletionPolicy::Delete => "deletionPolicy: Delete: its AWS resources are deleted".into(),
            });
            plan.notes.extend(notes);
        }
        Err(b) => plan.outcome = outcome_of(b),
    }
    plan.notes.extend(paused_note(obj));
    plan
}

impl Planner {
    /// The manifests' objects, planned in dependency order: stacks (and their inline children,
    /// queued), then TargetGroups, then ListenerRules, ContainerServices and StaticSites.
    async fn apply(&mut self, manifests: &[Manifest]) {
        let client = self.ctx.client.clone();
        let of = |kind: &'static str| manifests.iter().filter(move |m| m.kind == kind);
        let mut stacks = Vec::new();
        let mut groups = Vec::new();
        let mut rules = Vec::new();
        let mut services = Vec::new();
        let mut sites = Vec::new();
        macro_rules! prepare {
            ($kind:ty, $name:literal, $into:expr) => {
                for m in of($name) {
                    match dry_run::<$kind>(&client, m).await {
                        Ok(p) => {
                            self.overlay.put(&p.obj);
                            $into.push(p);
                        }
                        Err(refused) => self.objects.push(refused),
                    }
                }
            };
        }
        prepare!(WebStack, "WebStack", stacks);
        prepare!(TargetGroup, "TargetGroup", groups);
        prepare!(ListenerRule, "ListenerRule", rules);
        prepare!(ContainerService, "ContainerService", services);
        prepare!(StaticSite, "StaticSite", sites);
        for m in manifests.iter().filter(|m| {
            ![
                "WebStack",
                "TargetGroup",
                "ListenerRule",
                "ContainerService",
                "StaticSite",
            ]
            .contains(&m.kind.as_str())
        }) {
            self.skipped
                .push(format!("{API_VERSION} {} {}: not a kind plan knows", m.kind, m.name));
        }
        let planned_stacks: Vec<WebStack> = stacks.iter().map(|p| p.obj.clone()).collect();
        tracing::debug!("dry-runs done");
        for p in stacks {
            self.stack(p, &mut groups, &mut rules, &mut services, &mut sites).await;
        }
        tracing::debug!("stacks planned");
        // What ContainerServices read from a live stack that is not planned here is what the
        // stack's own observation vouched for: observe those stacks (silently) first.
        self.observe_stacks_of(&services).await;
        let mut created = BTreeSet::new();
        for p in groups {
            if self.target_group(p.obj.clone(), p.new, p.child_of).await {
                created.insert((p.obj.namespace().unwrap_or_default(), p.obj.name_any()));
            }
        }
        // A stack's listeners that forward to groups this plan creates: planned again now that
        // those groups have their (stand-in) ARNs, as the controller converges once they are Ready.
        for ws in planned_stacks {
            let ns = ws.namespace().unwrap_or_default();
            if refs::stack_forwards(&ws.spec)
                .iter()
                .any(|g| created.contains(&(ns.clone(), g.clone())))
            {
                self.replan_stack(&ws).await;
            }
        }
        for p in rules {
            self.child::<ListenerRuleReconciler>(p).await;
        }
        for p in services {
            self.child::<ContainerServiceReconciler>(p).await;
        }
        for p in sites {
            self.child::<StaticSiteReconciler>(p).await;
        }
    }

    async fn stack(
        &mut self,
        p: Prepared<WebStack>,
        groups: &mut Vec<Prepared<TargetGroup>>,
        rules: &mut Vec<Prepared<ListenerRule>>,
        services: &mut Vec<Prepared<ContainerService>>,
        sites: &mut Vec<Prepared<StaticSite>>,
    ) {
        let ws = p.obj;
        let (outcome, steps, desired) = plan_object::<WebStackReconciler>(&self.ctx, &ws, true).await;
        let replaced = steps
            .iter()
            .any(|s| s.action == "CreateLoadBalancer" && s.op == crate::model::change::Op::Replace);
        let mut plan = object_plan(&ws, p.new, None, outcome);
        plan.steps = steps;
        self.note_paused(&ws, &mut plan);
        self.objects.push(plan);
        let (ns, name) = (ws.namespace().unwrap_or_default(), ws.name_any());
        if replaced && let Some(mut planned) = self.overlay.get::<WebStack>(&ns, &name) {
            // A new load balancer: its listeners' ARNs are not known before apply, and the rules
            // on them are created anew (the old ones go with the old listeners).
            if let Some(lb) = planned.status.as_mut().and_then(|s| s.load_balancer.as_mut()) {
                let k = crate::model::change::KNOWN_AFTER_APPLY.to_string();
                lb.arn = Some(k.clone());
                lb.dns_name = Some(k.clone());
                lb.listeners.values_mut().for_each(|arn| *arn = k.clone());
            }
            self.overlay.put(&planned);
            self.new_listeners.insert(format!("{ns}/{name}"));
        }
        let owner = spec::owner(&ws, "WebStack", &self.ctx.cluster_id);
        if p.new {
            let region = ws.spec.region.clone().unwrap_or_else(|| self.ctx.default_region());
            let mut planned = ws.clone();
            planned.status = Some(known::stack_status(&ws, &owner, &region));
            self.overlay.put(&planned);
            known::vouch(&self.ctx.vouched, &planned);
            self.new_stacks.insert(format!("{ns}/{name}"));
        }
        // Its inline children, each planned as the object the stack would write.
        let Some(desired) = desired else { return };
        for child in &desired.children {
            let live = match child.kind {
                ChildKind::TargetGroup => self.live_value::<TargetGroup>(&ns, &child.name).await,
                ChildKind::ListenerRule => self.live_value::<ListenerRule>(&ns, &child.name).await,
                ChildKind::ContainerService => self.live_value::<ContainerService>(&ns, &child.name).await,
                ChildKind::StaticSite => self.live_value::<StaticSite>(&ns, &child.name).await,
            };
            let new = live.is_none();
            // A spec the stack changes is a new generation of the child, as the API server counts.
            let bumped = live.as_ref().filter(|v| v["spec"] != child.spec).map(|v| {
                let mut v = v.clone();
                v["metadata"]["generation"] = (v["metadata"]["generation"].as_i64().unwrap_or(0) + 1).into();
                v
            });
            let live = bumped.or(live);
            let mut value = live.unwrap_or_else(|| {
                // As the stack would write it; given a uid and a first generation at creation.
                let mut v = crate::webstack::parts::children::io::child_object(&owner, child);
                v["metadata"]["uid"] = PLANNED_UID.into();
                v["metadata"]["generation"] = 1.into();
                v
            });
            value["spec"] = child.spec.clone();
            let child_of = Some(format!("WebStack {ns}/{name} ({})", child.path));
            macro_rules! queue {
                ($kind:ty, $into:expr) => {
                    match serde_json::from_value::<$kind>(value) {
                        Ok(obj) => {
                            self.overlay.put(&obj);
                            $into.push(Prepared { obj, new, child_of });
                        }
                        Err(e) => self.objects.push(ObjectPlan {
                            new,
                            child_of,
                            ..ObjectPlan::new(
                                child.kind.as_str(),
                                &ns,
                                &child.name,
                                Outcome::Error {
                                    reason: "InvalidSpec".into(),
                                    message: e.to_string(),
                                },
                            )
                        }),
                    }
                };
            }
            match child.kind {
                ChildKind::TargetGroup => queue!(TargetGroup, groups),
                ChildKind::ListenerRule => queue!(ListenerRule, rules),
                ChildKind::ContainerService => queue!(ContainerService, services),
                ChildKind::StaticSite => queue!(StaticSite, sites),
            }
        }
    }

    /// The live object `name` of kind `K`, as JSON.
    async fn live_value<K: Kind>(&self, ns: &str, name: &str) -> Option<serde_json::Value> {
        let live = Api::<K>::namespaced(self.ctx.client.clone(), ns)
            .get_opt(name)
            .await
            .ok()??;
        serde_json::to_value(live).ok()
    }

    /// Observes the live stacks `services` run in that this plan does not plan (nothing shown).
    async fn observe_stacks_of(&self, services: &[Prepared<ContainerService>]) {
        let planned: BTreeSet<(String, String)> = self
            .objects
            .iter()
            .filter(|o| o.kind == "WebStack")
            .map(|o| (o.namespace.clone(), o.name.clone()))
            .collect();
        let mut wanted = BTreeSet::new();
        for s in services {
            let key = (s.obj.namespace().unwrap_or_default(), s.obj.spec.stack_ref.name.clone());
            if !planned.contains(&key) {
                wanted.insert(key);
            }
        }
        for (ns, name) in wanted {
            let Ok(Some(ws)) = refs::get::<WebStack>(&self.ctx.source, &ns, &name).await else {
                continue;
            };
            let _ = plan_object::<WebStackReconciler>(&self.ctx, &ws, true).await;
        }
    }

    /// Plans `ws` again (its plan replaces the first one), keeping what its children read.
    async fn replan_stack(&mut self, ws: &WebStack) {
        let (ns, name) = (ws.namespace().unwrap_or_default(), ws.name_any());
        let Some(at) = self
            .objects
            .iter()
            .position(|o| o.kind == "WebStack" && o.namespace == ns && o.name == name)
        else {
            return;
        };
        let (outcome, steps, _) = plan_object::<WebStackReconciler>(&self.ctx, ws, true).await;
        // Its children are in the overlay now, as if written: the first plan's child steps stand.
        let child = |s: &StepView| s.part.as_deref() == Some("Child");
        let first: Vec<StepView> = self.objects[at].steps.iter().filter(|s| child(s)).cloned().collect();
        let mut steps: Vec<StepView> = steps.into_iter().filter(|s| !child(s)).collect();
        let after = ["Dns", "Data", "Alarms"];
        let at_children = steps
            .iter()
            .position(|s| s.part.as_deref().is_some_and(|p| after.contains(&p)))
            .unwrap_or(steps.len());
        steps.splice(at_children..at_children, first);
        if matches!(outcome, Outcome::NoChanges) && !steps.is_empty() {
            self.objects[at].outcome = Outcome::Changes;
        } else {
            self.objects[at].outcome = outcome;
        }
        self.objects[at].steps = steps;
        if self.new_stacks.contains(&format!("{ns}/{name}"))
            && let Some(planned) = self.overlay.get::<WebStack>(&ns, &name)
        {
            // Its observation found nothing of it: what it will vouch for stays the stand-in's.
            known::vouch(&self.ctx.vouched, &planned);
        }
    }

    /// Plans a TargetGroup; `true` when the plan creates it (or replaces it).
    async fn target_group(&mut self, tg: TargetGroup, new: bool, child_of: Option<String>) -> bool {
        let tg = &tg;
        let ns = tg.namespace().unwrap_or_default();
        let observe = !(new && self.new_stacks.contains(&format!("{ns}/{}", tg.spec.stack_ref.name)));
        let (outcome, steps, _) = plan_object::<TargetGroupReconciler>(&self.ctx, tg, observe).await;
        // A group created (or replaced) gets an ARN known after apply: what forwards to it follows.
        let created = steps.iter().any(|s| s.action == "CreateTargetGroup");
        if created {
            let users = refs::target_group_users(&self.ctx.source, &ns, &tg.name_any())
                .await
                .unwrap_or_default();
            let mut planned = tg.clone();
            planned.status = Some(known::target_group_status(tg, !users.is_empty()));
            self.overlay.put(&planned);
        }
        let mut plan = object_plan(tg, new, child_of, outcome);
        plan.steps = steps;
        self.note_paused(tg, &mut plan);
        self.objects.push(plan);
        created
    }

    async fn child<R: Reconciler>(&mut self, p: Prepared<R::K>)
    where
        R::K: Child,
        R::Observed: Default,
    {
        let obj = &p.obj;
        let ns = obj.namespace().unwrap_or_default();
        let stack_new = obj
            .stack()
            .is_some_and(|s| self.new_stacks.contains(&format!("{ns}/{s}")));
        let listener_new = R::KIND == "ListenerRule"
            && obj
                .stack()
                .is_some_and(|s| self.new_listeners.contains(&format!("{ns}/{s}")));
        let observe = !(listener_new || (p.new && stack_new));
        let (outcome, steps, _) = plan_object::<R>(&self.ctx, obj, observe).await;
        let mut plan = object_plan(obj, p.new, p.child_of, outcome);
        plan.steps = steps;
        self.note_paused(obj, &mut plan);
        self.objects.push(plan);
    }

    fn note_paused<K: Kind>(&self, obj: &K, plan: &mut ObjectPlan) {
        if !plan.steps.is_empty() {
            plan.notes.extend(paused_note(obj));
        }
    }

    /// What deleting the manifests' objects would do (objects not in the cluster: nothing).
    async fn deletion(&mut self, manifests: &[Manifest]) {
        let deleted: BTreeSet<String> = manifests.iter().map(|m| format!("{}/{}", m.kind, m.name)).collect();
        let client = self.ctx.client.clone();
        for m in manifests {
            macro_rules! delete {
                ($kind:ty, $r:ty) => {{
                    match Api::<$kind>::namespaced(client.clone(), &m.namespace)
                        .get_opt(&m.name)
                        .await
                    {
                        Ok(Some(obj)) => plan_deletion::<$r>(&self.ctx, &obj, &deleted).await,
                        Ok(None) => ObjectPlan {
                            notes: vec!["not in the cluster: nothing to delete".into()],
                            ..ObjectPlan::new(&m.kind, &m.namespace, &m.name, Outcome::NoChanges)
                        },
                        Err(e) => ObjectPlan::new(&m.kind, &m.namespace, &m.name, outcome_of(Blocked::Kube(e))),
                    }
                }};
            }
            let plan = match m.kind.as_str() {
                "WebStack" => {
                    let plan = delete!(WebStack, WebStackReconciler);
                    self.objects.push(plan);
                    self.delete_children(&m.namespace, &m.name, &deleted).await;
                    continue;
                }
                "TargetGroup" => delete!(TargetGroup, TargetGroupReconciler),
                "ListenerRule" => delete!(ListenerRule, ListenerRuleReconciler),
                "ContainerService" => delete!(ContainerService, ContainerServiceReconciler),
                "StaticSite" => delete!(StaticSite, StaticSiteReconciler),
                other => {
                    self.skipped
                        .push(format!("{API_VERSION} {other} {}: not a kind plan knows", m.name));
                    continue;
                }
            };
            self.objects.push(plan);
        }
    }

    /// The deletion plans of the live children of the stack `name` (its inline services and
    /// site) that the manifests do not name themselves: the stack's deletion deletes them.
    async fn delete_children(&mut self, ns: &str, name: &str, deleted: &BTreeSet<String>) {
        let Ok(Some(ws)) = Api::<WebStack>::namespaced(self.ctx.client.clone(), ns)
            .get_opt(name)
            .await
        else {
            return;
        };
        let uid = ws.metadata.uid.clone().unwrap_or_default();
        let owned = |refs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]| {
            refs.iter().any(|r| r.uid == uid && r.controller == Some(true))
        };
        macro_rules! owned_of {
            ($kind:ty) => {
                Api::<$kind>::namespaced(self.ctx.client.clone(), ns)
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|o| {
                        owned(o.owner_references())
                            && !deleted.contains(&format!("{}/{}", <$kind>::kind(&()), o.name_any()))
                    })
                    .collect::<Vec<_>>()
            };
        }
        let (groups, rules) = (owned_of!(TargetGroup), owned_of!(ListenerRule));
        let (services, sites) = (owned_of!(ContainerService), owned_of!(StaticSite));
        // They go together: none waits for another of them.
        let mut all = deleted.clone();
        all.extend(groups.iter().map(|o| format!("TargetGroup/{}", o.name_any())));
        all.extend(rules.iter().map(|o| format!("ListenerRule/{}", o.name_any())));
        all.extend(services.iter().map(|o| format!("ContainerService/{}", o.name_any())));
        all.extend(sites.iter().map(|o| format!("StaticSite/{}", o.name_any())));
        let parent = Some(format!("WebStack {ns}/{name}"));
        macro_rules! plan_all {
            ($objects:expr, $r:ty) => {
                for obj in &$objects {
                    let mut plan = plan_deletion::<$r>(&self.ctx, obj, &all).await;
                    plan.child_of = parent.clone();
                    self.objects.push(plan);
                }
            };
        }
        plan_all!(groups, TargetGroupReconciler);
        plan_all!(rules, ListenerRuleReconciler);
        plan_all!(services, ContainerServiceReconciler);
        plan_all!(sites, StaticSiteReconciler);
    }

    /// The live objects' own specs (of `namespace`, else of every namespace), as the controllers
    /// would reconcile them now: what differs from AWS is drift they would correct.
    async fn live(&mut self, namespace: Option<&str>) -> Result<(), PlanError> {
        macro_rules! live {
            ($kind:ty, $r:ty) => {{
                let objects = crate::reconcile::scope::api::<$kind>(&self.ctx.client, namespace)
                    .list(&ListParams::default())
                    .await
                    .map_err(PlanError::List)?
                    .items;
                for obj in objects {
                    if obj.meta().deletion_timestamp.is_some() {
                        self.skipped.push(format!(
                            "{} {}/{}: being deleted",
                            <$kind>::kind(&()),
                            obj.namespace().unwrap_or_default(),
                            obj.name_any()
                        ));
                        continue;
                    }
                    let (outcome, steps, _) = plan_object::<$r>(&self.ctx, &obj, true).await;
                    let mut plan = object_plan(&obj, false, None, outcome);
                    plan.steps = steps;
                    self.note_paused(&obj, &mut plan);
                    self.objects.push(plan);
                }
            }};
        }
        live!(WebStack, WebStackReconciler);
        live!(TargetGroup, TargetGroupReconciler);
        live!(ListenerRule, ListenerRuleReconciler);
        live!(ContainerService, ContainerServiceReconciler);
        live!(StaticSite, StaticSiteReconciler);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_of_a_stream_and_of_a_list() {
        let text = "\
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
---
# a comment only
---
apiVersion: v1
kind: List
items:
- {apiVersion: webstack.io/v1alpha1, kind: TargetGroup, metadata: {name: api}}
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
";
        let docs = documents(text, "x.yaml").unwrap();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["WebStack", "TargetGroup", "Namespace"]);
        assert!(documents("kind: [", "bad.yaml").is_err());
    }
}
