//! VPC flow logs' I/O: observing the stack's flow logs, log group and delivery role, and applying
//! [`FlowLogStep`]s.
//!
//! A steady re-check makes 2 calls: DescribeFlowLogs (by the stack's uid tag; it also names the
//! group, the role and whether delivery succeeds) and DescribeLogGroups (existence, retention).
//! While the stack is not settled, on deletion, or when no flow log delivers successfully with the
//! stack's role, also ListTagsForResource (the group's tags), GetRole and GetRolePolicy.

use super::{FLOW_LOG, FlowLogStep, LOG_GROUP, ROLE};
use crate::aws::{Clients, ec2, flowlogs as fl, iam, logs};
use crate::model::flowlogs::{DELIVERY_ROLE, DesiredFlowLogs, ObservedFlowLogs};
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::role::ObservedRole;
use crate::model::stack::DesiredStack;
use crate::model::{Owner, TagMap};
use crate::reconcile::Blocked;

/// Where the flow logs are read from.
pub struct FlowLogsKey<'a> {
    pub log_group: &'a str,
    pub role_name: &'a str,
    /// Read the group's tags and the role's trust, policy and tags.
    pub deep: bool,
}

/// Observes the flow logs. With `deleting`, what is someone else's is left out instead of stopping.
pub async fn observe(
    c: &Clients,
    key: &FlowLogsKey<'_>,
    owner: &Owner,
    deleting: bool,
) -> Result<ObservedFlowLogs, Blocked> {
    let keep = |what: &'static str, id: &str, tags: &TagMap| -> Result<bool, Blocked> {
        Ok(owner.keep_named(what, id, tags, deleting)?)
    };
    let mut o = ObservedFlowLogs {
        read: true,
        ..ObservedFlowLogs::default()
    };
    for l in fl::find(&c.ec2, &owner.uid).await? {
        if keep("flow log", &l.id, &l.tags)? {
            o.flow_logs.push(l);
        }
    }
    let deep = key.deep || deleting;
    o.log_group = match fl::log_group(&c.logs, key.log_group, deep).await? {
        Some(g) if !keep("log group", &g.arn, &g.tags)? => None,
        other => other,
    };
    // A flow log delivering with the stack's role proves the role exists and works.
    let suffix = format!(":role/{}", key.role_name);
    let proven = o.flow_logs.iter().find_map(|l| {
        let arn = l.role_arn.as_deref().filter(|a| a.ends_with(&suffix))?;
        l.delivery.as_deref().is_some_and(|d| d == "SUCCESS").then_some(arn)
    });
    o.role = match proven {
        Some(arn) if !deep => Some(ObservedRole::known(DELIVERY_ROLE, key.role_name, arn)),
        _ => match iam::read_role(&c.iam, DELIVERY_ROLE, key.role_name).await? {
            Some(r) if !keep("IAM role", &r.arn, r.tags_read())? => None,
            other => other,
        },
    };
    Ok(o)
}

/// What a step needs.
pub struct FlowLogApply<'a> {
    pub clients: &'a Clients,
    pub desired: Option<&'a DesiredStack>,
    pub observed: &'a ObservedFlowLogs,
    /// The VPC as known at this point of the apply.
    pub vpc: Option<&'a str>,
}

fn need<'a, T>(v: Option<&'a T>, what: &str) -> Result<&'a T, Blocked> {
    v.ok_or_else(|| Blocked::waiting(format!("{what} is not known yet")))
}

/// Runs one step; `role_arn` is the delivery role's ARN as known so far (set when the role is
/// created).
pub async fn apply(a: &FlowLogApply<'_>, role_arn: &mut Option<String>, step: &FlowLogStep) -> Result<(), Blocked> {
    let c = a.clients;
    let want = || -> Result<(&DesiredStack, &DesiredFlowLogs), Blocked> {
        let d = need(a.desired, "the desired state")?;
        Ok((d, need(d.flow_logs.as_ref(), "the flow logs spec")?))
    };
    match step {
        FlowLogStep::CreateLogGroup { name } => {
            let (d, _) = want()?;
            if !logs::create(&c.logs, name, &d.tags_for(LOG_GROUP)).await? {
                // It exists though observe did not find it: whose it is is checked on the next pass.
                return Err(Blocked::waiting(format!("log group {name} already exists")));
            }
        }
        FlowLogStep::SetRetention { name, to, .. } => logs::set_retention(&c.logs, name, *to).await?,
        FlowLogStep::RestoreLogGroupTags { name, keys } => {
            let (d, _) = want()?;
            let g = need(a.observed.log_group.as_ref(), "the log group")?;
            debug_assert_eq!(&g.name, name);
            logs::tag(&c.logs, &g.arn, &select(&d.tags_for(LOG_GROUP), keys)).await?;
        }
        FlowLogStep::Role(step) => {
            let want = want().ok().map(|(d, w)| w.delivery_role(&d.owner, d.tags_for(ROLE)));
            if let Some(arn) = iam::apply_role(&c.iam, want.as_ref(), step).await? {
                *role_arn = Some(arn);
            }
        }
        FlowLogStep::CreateFlowLog { traffic_type } => {
            let (d, w) = want()?;
            let vpc = a.vpc.ok_or_else(|| Blocked::waiting("the VPC is not known yet"))?;
            let role = need(role_arn.as_ref(), "the delivery role")?;
            fl::create(&c.ec2, vpc, &w.log_group, role, traffic_type, &d.tags_for(FLOW_LOG)).await?;
        }
        FlowLogStep::DeleteFlowLog { id, .. } => fl::delete(&c.ec2, id).await?,
        FlowLogStep::DeleteLogGroup { name } => logs::delete(&c.logs, name).await?,
        FlowLogStep::UntagFlowLogs { ids } => ec2::untag(&c.ec2, ids, &OWNERSHIP_KEYS).await?,
        FlowLogStep::UntagLogGroup { arn } => logs::untag(&c.logs, arn, &OWNERSHIP_KEYS).await?,
    }
    Ok(())
}
