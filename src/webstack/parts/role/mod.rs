//! The task execution role's plans (pure): created with the stack, its inline policy kept equal to
//! what the stack's services need (updated as they change), its trust and tags restored; deleted
//! with the stack (after its services), untagged under `Retain`.

pub mod io;

use std::fmt;

use crate::model::execution::{ObservedRole, policy, trust_policy};
use crate::model::ownership::missing_tags;
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// The role's component tag.
pub const COMPONENT: &str = "role/task-execution";

/// One change to the role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleStep {
    CreateRole {
        name: String,
    },
    /// Writes the inline policy (new, or changed by the services or by hand).
    PutRolePolicy {
        name: String,
    },
    UpdateTrust {
        name: String,
    },
    RestoreRoleTags {
        name: String,
        keys: Vec<String>,
    },
    /// Deletes its inline policy, then the role.
    DeleteRole {
        name: String,
    },
    UntagRole {
        name: String,
    },
}

impl RoleStep {
    pub fn action(&self) -> &'static str {
        match self {
            RoleStep::CreateRole { .. } => "CreateRole",
            RoleStep::PutRolePolicy { .. } => "PutRolePolicy",
            RoleStep::UpdateTrust { .. } => "UpdateAssumeRolePolicy",
            RoleStep::RestoreRoleTags { .. } => "TagRole",
            RoleStep::DeleteRole { .. } => "DeleteRole",
            RoleStep::UntagRole { .. } => "UntagRole",
        }
    }
}

impl fmt::Display for RoleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleStep::CreateRole { name } => write!(f, "create task execution role {name}"),
            RoleStep::PutRolePolicy { name } => write!(f, "write the inline policy of role {name}"),
            RoleStep::UpdateTrust { name } => write!(f, "restore the trust policy of role {name}"),
            RoleStep::RestoreRoleTags { name, keys } => {
                write!(f, "restore tags {} on role {name}", keys.join(", "))
            }
            RoleStep::DeleteRole { name } => write!(f, "delete task execution role {name}"),
            RoleStep::UntagRole { name } => write!(f, "remove the ownership tags of role {name}"),
        }
    }
}

/// The stack's own secrets, which every service may reference (`fromStack`).
pub fn stack_secrets(observed: &ObservedStack) -> Vec<String> {
    let d = &observed.data;
    d.db_secret
        .iter()
        .chain(&d.cache_secret)
        .map(|s| s.arn.clone())
        .collect()
}

/// Steps that make the role match.
pub fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<RoleStep> {
    let want = &desired.execution_role;
    let mut steps = Vec::new();
    let name = want.name.clone();
    let document = policy(want, &stack_secrets(observed));
    match &observed.execution_role {
        None => {
            steps.push(RoleStep::CreateRole { name: name.clone() });
            steps.push(RoleStep::PutRolePolicy { name });
        }
        Some(o) => {
            let keys = missing_tags(&desired.tags_for(COMPONENT), &o.tags);
            if !keys.is_empty() {
                steps.push(RoleStep::RestoreRoleTags {
                    name: name.clone(),
                    keys,
                });
            }
            if o.trust.as_ref().is_some_and(|t| *t != trust_policy()) {
                steps.push(RoleStep::UpdateTrust { name: name.clone() });
            }
            if o.policy.as_ref() != Some(&document) {
                steps.push(RoleStep::PutRolePolicy { name });
            }
        }
    }
    steps
}

/// Deletion (after the services that use it): the role goes, or under `Retain` loses its tags.
pub fn plan_cleanup(observed: Option<&ObservedRole>, retain: bool) -> Vec<RoleStep> {
    let Some(o) = observed else { return Vec::new() };
    let name = o.name.clone();
    vec![if retain {
        RoleStep::UntagRole { name }
    } else {
        RoleStep::DeleteRole { name }
    }]
}

impl crate::reconcile::Step for RoleStep {
    fn action(&self) -> &'static str {
        RoleStep::action(self)
    }
}

/// The task execution role part.
pub struct ExecutionRole;

impl Part for ExecutionRole {
    type Step = RoleStep;

    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<RoleStep> {
        plan(desired, observed)
    }

    /// After everything that uses it.
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<RoleStep> {
        plan_cleanup(observed.execution_role.as_ref(), how.retain)
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        io::observe(cx, observed).await
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &RoleStep) -> Result<(), ApplyError> {
        io::apply(cx, step).await
    }
}

#[cfg(test)]
mod tests;
