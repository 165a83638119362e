//! One IAM role of a stack, whichever it is (the task execution role, the flow logs' delivery role,
//! the EC2 instance role): what it should be, what was read of it on this pass, the one step type
//! that changes it, and the planner the three share. Pure data and decisions, no I/O.
//!
//! A role is created with its trust policy and tags, then given its inline policy and its managed
//! policies; afterwards its tags, trust and inline policy are put back when changed by hand and a
//! managed policy detached by hand is attached again, each compared only when it was read on this
//! pass (a steady re-check may know a role from what names it: a flow log delivering with it, the
//! instance profile holding it). Deleted, its managed policies are detached and its inline policy
//! deleted first (IAM refuses to delete a role that has any); under `Retain` it loses its
//! ownership tags instead.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::ownership::{TagMap, missing_tags};

/// What is fixed about a role whatever the spec: what messages call it, the name of its inline
/// policy and whether managed policies are attached to it (deletion needs both and runs without
/// the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleKind {
    /// A short noun for messages: "task execution role".
    pub noun: &'static str,
    /// The inline policy's name; `None`: the role has none.
    pub inline_policy: Option<&'static str>,
    /// Managed policies are attached to it (and detached before it is deleted).
    pub managed_policies: bool,
}

/// The role as it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredRole {
    pub kind: RoleKind,
    pub name: String,
    /// CreateRole's description.
    pub description: String,
    /// Who may assume it.
    pub trust: Value,
    /// The document of the inline policy `kind.inline_policy`; `None` when it has none.
    pub policy: Option<Value>,
    /// ARNs of the managed policies attached to it.
    pub managed: Vec<String>,
    pub tags: TagMap,
}

/// The role as IAM has it. `None` in `tags`, `trust`, `policy` and `managed` means "not read on
/// this pass": nothing is planned from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRole {
    pub kind: RoleKind,
    pub name: String,
    pub arn: String,
    pub tags: Option<TagMap>,
    /// The trust policy (`None` also when it could not be parsed).
    pub trust: Option<Value>,
    /// The inline policy `kind.inline_policy`: `Some(None)` when read and absent.
    pub policy: Option<Option<Value>>,
    /// ARNs of the managed policies attached to it.
    pub managed: Option<Vec<String>>,
    /// How much longer, by its creation date, AWS may still refuse to let a service assume the
    /// role ([`PROPAGATION`] from creation); `None` once past it, or when not read on this pass.
    pub young_for: Option<Duration>,
}

/// How long after its creation a role is given before a service is handed it. IAM is eventually
/// consistent ("changes ... take time to become visible", IAM User Guide, Troubleshooting IAM: "I
/// can't assume a role" / eventual consistency): a task started with a role created seconds ago
/// may fail with "ECS was unable to assume the role", and enough such failures trip a new service's
/// circuit breaker.
pub const PROPAGATION: Duration = Duration::from_secs(10);

/// What is left of [`PROPAGATION`] for a role created `age` ago.
pub fn young_for(age: Duration) -> Option<Duration> {
    PROPAGATION.checked_sub(age).filter(|left| !left.is_zero())
}

impl ObservedRole {
    /// A role known to exist (from something that names it), nothing of it read on this pass.
    pub fn known(kind: RoleKind, name: impl Into<String>, arn: impl Into<String>) -> ObservedRole {
        ObservedRole {
            kind,
            name: name.into(),
            arn: arn.into(),
            tags: None,
            trust: None,
            policy: None,
            managed: None,
            young_for: None,
        }
    }

    /// Its tags, empty when not read on this pass (what ownership checks take).
    pub fn tags_read(&self) -> &TagMap {
        static NONE: TagMap = TagMap::new();
        self.tags.as_ref().unwrap_or(&NONE)
    }
}

/// What one step does to the role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// With its trust policy and tags.
    Create,
    /// Writes the inline policy (new, or changed by the spec or by hand).
    PutPolicy,
    UpdateTrust,
    RestoreTags {
        keys: Vec<String>,
    },
    AttachPolicy {
        arn: String,
    },
    /// Every managed policy attached to it goes (DeleteRole refuses a role that has any).
    DetachPolicies,
    /// Deletes its inline policy (if its kind has one), then the role.
    Delete,
    /// `deletionPolicy: Retain`: its ownership tags go, the role stays.
    Untag,
}

/// One change to one role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleStep {
    pub kind: RoleKind,
    pub name: String,
    pub change: RoleChange,
}

impl RoleStep {
    pub fn new(kind: RoleKind, name: impl Into<String>, change: RoleChange) -> RoleStep {
        RoleStep {
            kind,
            name: name.into(),
            change,
        }
    }

    /// The IAM action (the Event's action).
    pub fn action(&self) -> &'static str {
        match self.change {
            RoleChange::Create => "CreateRole",
            RoleChange::PutPolicy => "PutRolePolicy",
            RoleChange::UpdateTrust => "UpdateAssumeRolePolicy",
            RoleChange::RestoreTags { .. } => "TagRole",
            RoleChange::AttachPolicy { .. } => "AttachRolePolicy",
            RoleChange::DetachPolicies => "DetachRolePolicy",
            RoleChange::Delete => "DeleteRole",
            RoleChange::Untag => "UntagRole",
        }
    }
}

impl fmt::Display for RoleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (noun, name) = (self.kind.noun, &self.name);
        match &self.change {
            RoleChange::Create => write!(f, "create {noun} {name}"),
            RoleChange::PutPolicy => write!(f, "write the inline policy of role {name}"),
            RoleChange::UpdateTrust => write!(f, "restore the trust policy of role {name}"),
            RoleChange::RestoreTags { keys } => write!(f, "restore tags {} on role {name}", keys.join(", ")),
            RoleChange::AttachPolicy { arn } => {
                let policy = arn.rsplit('/').next().unwrap_or(arn);
                write!(f, "attach {policy} to {noun} {name}")
            }
            RoleChange::DetachPolicies => write!(f, "detach the managed policies of {noun} {name}"),
            RoleChange::Delete => write!(f, "delete {noun} {name}"),
            RoleChange::Untag => write!(f, "remove the ownership tags of role {name}"),
        }
    }
}

/// Steps that make the role `want`: created, then its inline policy and managed policies; when it
/// exists, its tags, trust, inline policy and managed policies, in that order, each where it was
/// read on this pass and differs.
pub fn plan(want: &DesiredRole, observed: Option<&ObservedRole>) -> Vec<RoleStep> {
    let step = |change| RoleStep::new(want.kind, want.name.clone(), change);
    let mut steps = Vec::new();
    let Some(o) = observed else {
        steps.push(step(RoleChange::Create));
        if want.policy.is_some() {
            steps.push(step(RoleChange::PutPolicy));
        }
        for arn in &want.managed {
            steps.push(step(RoleChange::AttachPolicy { arn: arn.clone() }));
        }
        return steps;
    };
    if let Some(have) = &o.tags {
        let keys = missing_tags(&want.tags, have);
        if !keys.is_empty() {
            steps.push(step(RoleChange::RestoreTags { keys }));
        }
    }
    if o.trust.as_ref().is_some_and(|t| *t != want.trust) {
        steps.push(step(RoleChange::UpdateTrust));
    }
    if let (Some(document), Some(have)) = (&want.policy, &o.policy)
        && have.as_ref() != Some(document)
    {
        steps.push(step(RoleChange::PutPolicy));
    }
    if let Some(have) = &o.managed {
        for arn in want.managed.iter().filter(|a| !have.contains(a)) {
            steps.push(step(RoleChange::AttachPolicy { arn: arn.clone() }));
        }
    }
    steps
}

/// The role's deletion: its managed policies detached (unless read and none), then the role
/// deleted with its inline policy; under `retain`, its ownership tags removed instead.
pub fn plan_cleanup(observed: Option<&ObservedRole>, retain: bool) -> Vec<RoleStep> {
    let Some(o) = observed else { return Vec::new() };
    let step = |change| RoleStep::new(o.kind, o.name.clone(), change);
    if retain {
        return vec![step(RoleChange::Untag)];
    }
    let mut steps = Vec::new();
    if o.kind.managed_policies && o.managed.as_ref().is_none_or(|m| !m.is_empty()) {
        steps.push(step(RoleChange::DetachPolicies));
    }
    steps.push(step(RoleChange::Delete));
    steps
}

/// IAM returns policy documents URL-encoded (RFC 3986); decoded and parsed here.
pub fn parse_document(raw: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().ok()?;
    serde_json::from_str(&decoded).ok()
}

#[cfg(test)]
impl DesiredRole {
    /// The role as IAM holds it once planned and applied, everything read.
    pub fn observed(&self, arn: impl Into<String>) -> ObservedRole {
        ObservedRole {
            kind: self.kind,
            name: self.name.clone(),
            arn: arn.into(),
            tags: Some(self.tags.clone()),
            trust: Some(self.trust.clone()),
            policy: self.kind.inline_policy.map(|_| self.policy.clone()),
            managed: self.kind.managed_policies.then(|| self.managed.clone()),
            young_for: None,
        }
    }
}

#[cfg(test)]
#[path = "role_tests.rs"]
mod tests;
