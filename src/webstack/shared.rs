//! What the WebStack's parts share, below them all: the [`Part`] contract a part implements, what a
//! part's observe and apply are given ([`ObserveCx`], [`ApplyCx`]), the ids that flow between parts
//! during one apply pass ([`Ids`]), how the stack is being cleaned up ([`Cleanup`]), and helpers
//! more than one part uses. It imports no part (a part never reaches into a sibling).

use std::collections::BTreeMap;
use std::future::Future;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::api::WebStack;
use crate::aws::{AwsError, Clients};
use crate::model::data::DataCleanup;
use crate::model::egress::index_of;
use crate::model::ownership::missing_tags;
use crate::model::stack::{DesiredNetwork, DesiredStack, ObservedStack, PUBLIC_ROUTE_TABLE, SgRole, StackKey};
use crate::model::{Conflict, Owner, TagMap};
use crate::reconcile::Blocked;

/// The label every child object and connection Secret of a stack carries: the stack's name.
pub const STACK_LABEL: &str = "webstack.io/stack";

/// One part of a WebStack: its own step type, its pure planners, its observe and apply. Registered
/// once, in `parts/mod.rs`, which says in what order parts plan, observe and are cleaned up.
pub trait Part {
    /// One AWS (or Kubernetes) change of this part; `Display` is what Events and `paused` print.
    type Step: crate::reconcile::Step + Clone + std::fmt::Debug + PartialEq + Eq;

    /// The steps that make this part match the desired stack.
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<Self::Step>;

    /// The steps of the stack's deletion (`how` says what is kept).
    fn cleanup(_observed: &ObservedStack, _how: &Cleanup) -> Vec<Self::Step> {
        Vec::new()
    }

    /// What the part does while the stack waits for its children to be deleted.
    fn release(_observed: &ObservedStack) -> Vec<Self::Step> {
        Vec::new()
    }

    /// Reads what AWS (or the API server) has of this part into `observed`.
    fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> impl Future<Output = Result<(), Blocked>> + Send;

    /// Runs one step; ids it creates are recorded in `cx.ids` for the parts after it.
    fn apply(cx: &mut ApplyCx<'_>, step: &Self::Step) -> impl Future<Output = Result<(), ApplyError>> + Send;
}

/// What a part's observe is given.
pub struct ObserveCx<'a> {
    pub clients: &'a Clients,
    pub kube: &'a kube::Client,
    /// Where other objects are read (the cluster, or `plan`'s overlay of it).
    pub source: &'a crate::reconcile::refs::Source,
    pub ws: &'a WebStack,
    /// How to find the stack's resources (names, the VPC in status, the external-id annotation).
    pub key: &'a StackKey,
    pub owner: &'a Owner,
    /// `None` while deleting.
    pub desired: Option<&'a DesiredStack>,
    /// Not settled at this generation: read everything, not only what a steady re-check reads.
    pub deep: bool,
    pub deleting: bool,
}

impl ObserveCx<'_> {
    /// Whether a resource with `tags` is kept: one that is someone else's stops a converging
    /// reconcile (it is never touched) and is simply left out while deleting.
    pub fn keep(&self, resource: &'static str, id: &str, tags: &TagMap) -> Result<bool, Conflict> {
        match self.owner.check(resource, id, tags) {
            Ok(()) => Ok(true),
            Err(_) if self.deleting => Ok(false),
            Err(conflict) => Err(conflict),
        }
    }
}

/// The ids known so far in one apply pass: observed ones, then those created by earlier steps.
/// Parts read the ids of the parts before them and record their own.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    pub vpc: Option<String>,
    pub igw: Option<String>,
    /// The public route table.
    pub table: Option<String>,
    /// By component (`subnet/private/0`).
    pub subnets: BTreeMap<String, String>,
    pub groups: BTreeMap<SgRole, String>,
    pub lb: Option<String>,
    /// Route tables by component (`rtb/private/0`).
    pub tables: BTreeMap<String, String>,
    /// NAT gateways (live) and Elastic IPs by index.
    pub nats: BTreeMap<usize, String>,
    pub addresses: BTreeMap<usize, String>,
    /// The flow logs' delivery role.
    pub flow_log_role: Option<String>,
    /// The topic the alarms notify (created by an earlier step of this pass).
    pub alarm_topic: Option<String>,
}

impl Ids {
    /// The ids observed, before any step runs.
    pub fn new(desired: Option<&DesiredStack>, observed: &ObservedStack) -> Ids {
        let mut ids = Ids {
            vpc: observed.vpc.as_ref().map(|v| v.id.clone()),
            igw: observed.internet_gateway.as_ref().map(|g| g.id.clone()),
            table: observed
                .route_tables
                .iter()
                .find(|t| t.component == PUBLIC_ROUTE_TABLE)
                .map(|t| t.id.clone()),
            subnets: observed
                .subnets
                .iter()
                .filter_map(|s| Some((s.component.clone()?, s.id.clone())))
                .collect(),
            groups: observed
                .security_groups
                .iter()
                .map(|g| (g.role, g.id.clone()))
                .collect(),
            lb: observed.load_balancer.as_ref().map(|l| l.arn.clone()),
            tables: observed
                .route_tables
                .iter()
                .map(|t| (t.component.clone(), t.id.clone()))
                .collect(),
            nats: observed
                .egress
                .nat_gateways
                .iter()
                .filter(|n| n.live())
                .filter_map(|n| Some((index_of(&n.component, "nat")?, n.id.clone())))
                .collect(),
            addresses: observed
                .egress
                .addresses
                .iter()
                .filter_map(|a| index_of(&a.component, "eip"))
                .filter_map(|i| Some((i, observed.egress.address(i)?.allocation_id.clone())))
                .collect(),
            flow_log_role: observed.flow_logs.role.as_ref().map(|r| r.arn.clone()),
            alarm_topic: crate::model::alarms::initial_topic(desired.and_then(|d| d.alarms.as_ref()), &observed.alarms),
        };
        match desired.map(|d| &d.network) {
            Some(DesiredNetwork::Adopt { vpc_id, .. }) => ids.vpc = Some(vpc_id.clone()),
            // Subnets whose tags were removed by hand are matched by CIDR, as the planner does.
            Some(DesiredNetwork::Create { subnets, .. }) => {
                for s in subnets {
                    if let Some(o) = observed.match_subnet(s) {
                        ids.subnets.insert(s.component.clone(), o.id.clone());
                    }
                }
            }
            None => {}
        }
        ids
    }

    /// The private subnets as known at this point, sorted.
    pub fn private_subnets(&self, desired: Option<&DesiredStack>) -> Vec<String> {
        let mut subnets: Vec<String> = match desired.map(|d| &d.network) {
            Some(DesiredNetwork::Adopt { private_subnet_ids, .. }) => private_subnet_ids.clone(),
            _ => self
                .subnets
                .iter()
                .filter(|(component, _)| component.starts_with("subnet/private/"))
                .map(|(_, id)| id.clone())
                .collect(),
        };
        subnets.sort();
        subnets
    }
}

/// What a part's apply is given: AWS, the API server, the stack's owner, the desired state
/// (`None` while deleting), what was observed, and the ids of this pass.
pub struct ApplyCx<'a> {
    pub clients: &'a Clients,
    pub kube: &'a kube::Client,
    pub owner: &'a Owner,
    pub desired: Option<&'a DesiredStack>,
    pub observed: &'a ObservedStack,
    pub ids: Ids,
}

impl ApplyCx<'_> {
    /// The tags of a component (none while deleting).
    pub fn tags(&self, component: &str) -> TagMap {
        self.desired.map(|d| d.tags_for(component)).unwrap_or_default()
    }
}

/// The desired state, which create and modify steps need (deletion runs without it).
pub fn wanted<'a>(
    desired: Option<&'a DesiredStack>,
    step: &impl std::fmt::Display,
) -> Result<&'a DesiredStack, ApplyError> {
    desired.ok_or_else(|| ApplyError::Missing {
        step: step.to_string(),
        missing: "the desired state",
    })
}

/// Why a step could not run.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A prerequisite is missing (an earlier step did not produce it).
    #[error("cannot {step}: {missing} is not known yet")]
    Missing { step: String, missing: &'static str },
    /// A step stopped (waiting on AWS, a conflict, deletion protection).
    #[error(transparent)]
    Blocked(#[from] Blocked),
}

/// `v`, or [`ApplyError::Missing`] naming `missing` for `step`.
pub fn need<'a>(
    v: Option<&'a String>,
    step: &impl std::fmt::Display,
    missing: &'static str,
) -> Result<&'a str, ApplyError> {
    v.map(String::as_str).ok_or_else(|| ApplyError::Missing {
        step: step.to_string(),
        missing,
    })
}

/// How the stack is being deleted: every part plans its cleanup from this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cleanup {
    /// `deletionPolicy: Retain`: everything is untagged, nothing deleted.
    pub retain: bool,
    /// What the spec says of the database (its own deletion policy, deletion protection).
    pub data: DataCleanup,
    /// A retained database or cache keeps the network it sits in: the VPC, subnets, tables,
    /// gateways and groups are untagged, not deleted (the rest goes as usual).
    pub keep_network: bool,
    /// `registriesForceDelete`: repositories go with their images.
    pub force_registries: bool,
}

/// The private subnets' ids, sorted, when every one is known (at plan time).
pub fn private_subnets(desired: &DesiredStack, observed: &ObservedStack) -> Option<Vec<String>> {
    let mut ids = match &desired.network {
        DesiredNetwork::Adopt { private_subnet_ids, .. } => private_subnet_ids.clone(),
        DesiredNetwork::Create { subnets, .. } => subnets
            .iter()
            .filter(|s| !s.public)
            .map(|s| observed.match_subnet(s).map(|o| o.id.clone()))
            .collect::<Option<Vec<_>>>()?,
    };
    ids.sort();
    Some(ids)
}

/// The keys of `component`'s tags that `have` lacks or holds with another value.
pub fn missing(desired: &DesiredStack, component: &str, have: &TagMap) -> Vec<String> {
    missing_tags(&desired.tags_for(component), have)
}

/// The ownerReference of the stack's children and connection Secrets (`controller`,
/// `blockOwnerDeletion`).
pub fn owner_reference(owner: &Owner) -> OwnerReference {
    OwnerReference {
        api_version: "webstack.io/v1alpha1".into(),
        kind: "WebStack".into(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
