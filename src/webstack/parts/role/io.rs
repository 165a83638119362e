//! The task execution role's I/O: found by its deterministic name (another's role of that name is
//! never used), and its steps run.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::desired_role;
use crate::aws::iam;
use crate::model::execution::EXECUTION_ROLE;
use crate::model::role::{ObservedRole, RoleStep};
use crate::model::stack::ObservedStack;
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, ObserveCx};

/// How long a settled stack trusts this process's last whole read of its role. A role changes
/// rarely and is read whole in 2 IAM calls (IAM's request quotas are the account's, for every
/// region): a settled stack re-reads it at most this often, any spec change or unsettled pass
/// reads it at once, and a role step makes the next pass read it.
pub const ROLE_RECHECK: Duration = Duration::from_secs(3600);

/// Stack uid → when its role was last read whole.
static READ_AT: LazyLock<Mutex<HashMap<String, Instant>>> = LazyLock::new(Mutex::default);

fn read_at() -> std::sync::MutexGuard<'static, HashMap<String, Instant>> {
    READ_AT.lock().unwrap_or_else(|p| p.into_inner())
}

/// The role, by its deterministic name: tags, trust and inline policy (2 calls); on a settled
/// pass within [`ROLE_RECHECK`] of the last read, the role the status names, known without a call
/// (nothing is planned from what was not read).
pub async fn observe(cx: &ObserveCx<'_>, o: &mut ObservedStack) -> Result<(), Blocked> {
    let suffix = format!(":role/{}", cx.key.role_name);
    let known = cx
        .ws
        .status
        .as_ref()
        .and_then(|s| s.execution_role_arn.as_deref())
        .filter(|arn| arn.ends_with(&suffix));
    let fresh = read_at()
        .get(&cx.owner.uid)
        .is_some_and(|at| at.elapsed() < ROLE_RECHECK);
    if let Some(arn) = known
        && fresh
        && !cx.deep
        && !cx.deleting
    {
        o.execution_role = Some(ObservedRole::known(EXECUTION_ROLE, &cx.key.role_name, arn));
        return Ok(());
    }
    let found = iam::read_role(&cx.clients.iam, EXECUTION_ROLE, &cx.key.role_name).await?;
    // A stack being deleted is read whole each pass, and its entry goes with it.
    if cx.deleting {
        read_at().remove(&cx.owner.uid);
    } else {
        let mut reads = read_at();
        // An entry past ROLE_RECHECK says nothing: dropped, so a stack that went (deleted
        // without a last reconcile, or now another replica's) leaves nothing behind for long.
        reads.retain(|_, at| at.elapsed() < ROLE_RECHECK);
        reads.insert(cx.owner.uid.clone(), Instant::now());
    }
    if let Some(role) = found
        && cx.keep("IAM role", &role.arn, role.tags_read())?
    {
        o.execution_role = Some(role);
    }
    Ok(())
}

/// Runs one step of the role; the next pass reads the role whole.
pub async fn apply(cx: &mut ApplyCx<'_>, step: &RoleStep) -> Result<(), ApplyError> {
    read_at().remove(&cx.owner.uid);
    let want = cx.desired.map(|d| desired_role(d, cx.observed));
    iam::apply_role(&cx.clients.iam, want.as_ref(), step).await?;
    Ok(())
}
