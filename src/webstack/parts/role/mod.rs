//! The task execution role's plans (pure): created with the stack, its inline policy kept equal to
//! what the stack's services need (updated as they change), its trust and tags restored; deleted
//! with the stack (after its services), untagged under `Retain`. The role is one of the stack's
//! roles: its step is [`RoleStep`] and its planner [`crate::model::role`]'s.

pub mod io;

use crate::model::role::{self, RoleStep};
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// The role's component tag.
pub const COMPONENT: &str = "role/task-execution";

/// The stack's own secrets, which every service may reference (`fromStack`).
pub fn stack_secrets(observed: &ObservedStack) -> Vec<String> {
    let d = &observed.data;
    d.db_secret
        .iter()
        .chain(&d.cache_secret)
        .map(|s| s.arn.clone())
        .collect()
}

/// The role as it should be: its inline policy names what the services need and the stack's own
/// secrets as observed.
pub fn desired_role(desired: &DesiredStack, observed: &ObservedStack) -> role::DesiredRole {
    desired
        .execution_role
        .iam_role(&stack_secrets(observed), desired.tags_for(COMPONENT))
}

/// Steps that make the role match.
pub fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<RoleStep> {
    role::plan(&desired_role(desired, observed), observed.execution_role.as_ref())
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

    /// After everything that uses it: the role goes, or under `Retain` loses its tags.
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<RoleStep> {
        role::plan_cleanup(observed.execution_role.as_ref(), how.retain)
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
