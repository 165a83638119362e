//! The task execution role's I/O: found by its deterministic name (another's role of that name is
//! never used), and its steps run.

use super::desired_role;
use crate::aws::iam;
use crate::model::execution::EXECUTION_ROLE;
use crate::model::role::RoleStep;
use crate::model::stack::ObservedStack;
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, ObserveCx};

/// The role, by its deterministic name: tags, trust and inline policy (2 calls).
pub async fn observe(cx: &ObserveCx<'_>, o: &mut ObservedStack) -> Result<(), Blocked> {
    if let Some(role) = iam::read_role(&cx.clients.iam, EXECUTION_ROLE, &cx.key.role_name).await?
        && cx.keep("IAM role", &role.arn, role.tags_read())?
    {
        o.execution_role = Some(role);
    }
    Ok(())
}

/// Runs one step of the role.
pub async fn apply(cx: &mut ApplyCx<'_>, step: &RoleStep) -> Result<(), ApplyError> {
    let want = cx.desired.map(|d| desired_role(d, cx.observed));
    iam::apply_role(&cx.clients.iam, want.as_ref(), step).await?;
    Ok(())
}
