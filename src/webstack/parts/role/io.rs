//! The task execution role's I/O: found by its deterministic name (another's role of that name is
//! never used), and its steps run.

use super::{COMPONENT, RoleStep, stack_secrets};
use crate::aws::iam;
use crate::model::execution::{policy, trust_policy};
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::stack::ObservedStack;
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, ObserveCx, wanted};

/// The role, by its deterministic name.
pub async fn observe(cx: &ObserveCx<'_>, o: &mut ObservedStack) -> Result<(), Blocked> {
    if let Some(role) = iam::role(&cx.clients.iam, &cx.key.role_name).await?
        && cx.keep("IAM role", &role.arn, &role.tags)?
    {
        o.execution_role = Some(role);
    }
    Ok(())
}

/// Runs one step of the role.
pub async fn apply(cx: &mut ApplyCx<'_>, step: &RoleStep) -> Result<(), ApplyError> {
    let c = &cx.clients.iam;
    let want = || wanted(cx.desired, step);
    match step {
        RoleStep::CreateRole { name } => {
            iam::create_role(c, name, &trust_policy(), &want()?.tags_for(COMPONENT)).await?;
        }
        RoleStep::PutRolePolicy { name } => {
            let document = policy(&want()?.execution_role, &stack_secrets(cx.observed));
            iam::put_policy(c, name, &document).await?;
        }
        RoleStep::UpdateTrust { name } => iam::update_trust(c, name, &trust_policy()).await?,
        RoleStep::RestoreRoleTags { name, keys } => {
            iam::tag_role(c, name, &select(&want()?.tags_for(COMPONENT), keys)).await?
        }
        RoleStep::DeleteRole { name } => iam::delete_role(c, name).await?,
        RoleStep::UntagRole { name } => iam::untag_role(c, name, &OWNERSHIP_KEYS).await?,
    }
    Ok(())
}
