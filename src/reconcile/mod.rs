//! The generic reconcile driver. Every kind implements [`Reconciler`]: load → validate → observe →
//! plan → apply → status, plus a cleanup plan for deletion, each step pure wherever it can be.
//! The driver ([`driver::run`]) owns, for every kind alike: the finalizer, `webstack.io/paused`
//! (deletion included), an Event per AWS mutation, `DriftCorrected`, the server-side-apply status
//! write, requeue by retry class with per-object backoff, and bounded concurrency in fair lanes
//! ([`lanes`]).

pub mod backoff;
pub mod caches;
pub mod context;
pub mod departed;
pub mod driver;
pub mod due;
pub mod events;
pub mod guard;
pub mod lanes;
pub mod policy;
pub mod recorder;
pub mod refs;
pub mod scope;
pub mod spec;
pub mod status;
pub mod tenants;
pub mod vouched;

use std::fmt;
use std::future::Future;

use kube::runtime::Controller;

pub use crate::model::change;
pub use context::Context;
pub use scope::Scope;
pub use status::{Kind, KindStatus};

use crate::api::DeletionPolicy;
use crate::model::tenancy::Violation;
use crate::model::{AwsError, Conflict, Health, InvalidSpec, Owner};

/// The finalizer that holds every kind until its AWS resources are gone.
pub const FINALIZER: &str = "webstack.io/finalizer";
/// Observe and report only; never mutate AWS (deletion included).
pub const PAUSED: &str = "webstack.io/paused";
/// Adopt this existing AWS resource instead of creating one.
pub const EXTERNAL_ID: &str = "webstack.io/external-id";

/// Why a reconcile stops before (or while) changing AWS.
#[derive(Debug, thiserror::Error)]
pub enum Blocked {
    /// Needs a person: `Stalled` with this reason (`InvalidSpec`, `OwnershipConflict`, ...).
    #[error("{message}")]
    Stalled { reason: &'static str, message: String },
    /// Waits for something another controller or AWS makes: `Reconciling`/`DependencyNotReady`.
    #[error("{message}")]
    Waiting { message: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("Kubernetes API call failed")]
    Kube(#[from] kube::Error),
}

impl Blocked {
    pub fn stalled(reason: &'static str, message: impl Into<String>) -> Blocked {
        Blocked::Stalled {
            reason,
            message: message.into(),
        }
    }

    pub fn waiting(message: impl Into<String>) -> Blocked {
        Blocked::Waiting {
            message: message.into(),
        }
    }
}

impl From<InvalidSpec> for Blocked {
    fn from(e: InvalidSpec) -> Blocked {
        Blocked::stalled("InvalidSpec", format!("{e}; nothing was changed in AWS"))
    }
}

impl From<Violation> for Blocked {
    fn from(e: Violation) -> Blocked {
        Blocked::stalled("PolicyViolation", format!("{e}; nothing was changed in AWS"))
    }
}

impl From<Conflict> for Blocked {
    fn from(e: Conflict) -> Blocked {
        Blocked::stalled("OwnershipConflict", e.to_string())
    }
}

/// One AWS change a plan holds. `Display` is what Events, `paused` and `plan` print.
pub trait Step: fmt::Display + Send + Sync {
    /// The AWS action, e.g. `CreateVpc`: the Event's `action`.
    fn action(&self) -> &'static str;
    /// An Event reason of its own (e.g. `Adopted`), instead of `Provisioning`/`DriftCorrected`/`Deleting`.
    fn reason(&self) -> Option<&'static str> {
        None
    }
    /// How `plan` shows it: by default what its action's verb says ([`change::Op::of_action`]).
    fn op(&self) -> change::Op {
        change::Op::of_action(self.action())
    }
    /// The fields it changes, old and new values (none: its `Display` says it all).
    fn fields(&self) -> Vec<change::FieldChange> {
        Vec::new()
    }
    /// Why it is destructive, when it takes away what users depend on: an address that changes
    /// (a load balancer's DNS name, a distribution's domain, a database endpoint), data deleted
    /// without a snapshot, a bucket's or repository's contents.
    fn destructive(&self) -> Option<String> {
        None
    }
    /// The part of its object it belongs to, when the object has parts (a WebStack's `Network`).
    fn part(&self) -> Option<&'static str> {
        None
    }
}

/// Called after each step that succeeded (the driver turns them into Events).
pub type Done<'a, S> = &'a mut (dyn FnMut(&S) + Send);

/// One kind, in DESIGN.md's shape. The driver calls, on apply: `load` → `validate` → `observe` →
/// `plan` → `apply` → `observe` → `status`; on deletion: `load` → `observe` → `blockers` →
/// `plan_cleanup` (or `plan_release` while blockers remain) → `apply` → `observe`, and removes the
/// finalizer once the cleanup plan is empty.
pub trait Reconciler: Send + Sync + 'static {
    /// The custom resource.
    type K: caches::Cached;
    /// What `load` found: the objects this one points at and the AWS clients of its region.
    type Deps: Send + Sync;
    /// The validated spec: nothing after `validate` reads the raw spec.
    type Desired: Send + Sync;
    /// What AWS holds, found by ids in status, else by deterministic names and ownership tags.
    type Observed: Send + Sync;
    type Step: Step;
    /// The kind's name in ownership tags (`webstack.io/owner`).
    const KIND: &'static str;

    /// Reads what the object points at. With `deleting`, it must succeed without them (a deleted
    /// object's dependencies may be gone) and only find the AWS clients and what cleanup needs.
    fn load(ctx: &Context, obj: &Self::K, deleting: bool) -> impl Future<Output = Result<Self::Deps, Blocked>> + Send;

    /// Checks the spec and builds the desired state (pure).
    fn validate(obj: &Self::K, owner: &Owner, deps: &Self::Deps) -> Result<Self::Desired, Blocked>;

    /// Reads AWS. `desired` is `None` on deletion: then what belongs to someone else is left out
    /// (never touched) instead of being a conflict.
    fn observe(
        obj: &Self::K,
        owner: &Owner,
        deps: &Self::Deps,
        desired: Option<&Self::Desired>,
    ) -> impl Future<Output = Result<Self::Observed, Blocked>> + Send;

    /// The steps that make AWS match (pure); `Err` when a person must act first.
    fn plan(desired: &Self::Desired, observed: &Self::Observed) -> Result<Vec<Self::Step>, Blocked>;

    /// Plan towards nothing (pure): delete what was observed, or untag it with `Retain`. The object
    /// gives what its spec says about deletion (a database's own policy, say); nothing else.
    fn plan_cleanup(obj: &Self::K, observed: &Self::Observed, policy: DeletionPolicy) -> Vec<Self::Step>;

    /// Steps a deleted object takes while [`Reconciler::blockers`] remain: releasing references it
    /// holds itself, so that it never waits on them (pure).
    fn plan_release(_observed: &Self::Observed) -> Vec<Self::Step> {
        Vec::new()
    }

    /// Runs `steps` in order, calling `done` after each one that succeeded.
    fn apply(
        deps: &Self::Deps,
        owner: &Owner,
        desired: Option<&Self::Desired>,
        observed: &Self::Observed,
        steps: &[Self::Step],
        done: Done<'_, Self::Step>,
    ) -> impl Future<Output = Result<(), Blocked>> + Send;

    /// Status fields and health from what was observed; `remaining` is what the plan still holds
    /// after applying (pure).
    fn status(
        desired: &Self::Desired,
        observed: &Self::Observed,
        remaining: &[Self::Step],
    ) -> (<Self::K as Kind>::Status, Health);

    /// Objects that must be gone before this one's AWS resources are deleted (named when waiting).
    fn blockers(_ctx: &Context, _obj: &Self::K) -> impl Future<Output = Result<Vec<String>, Blocked>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Adds watches on the objects this kind depends on (their changes, from the context's
    /// `caches`, requeue it).
    fn watches(controller: Controller<Self::K>, _caches: &caches::Caches) -> Controller<Self::K> {
        controller
    }
}

/// The message a list of steps makes: `a; b; c`.
pub fn describe<S: fmt::Display>(steps: &[S]) -> String {
    steps.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
