//! VPC flow logs' plans (pure). With `network.flowLogs.enabled`: the stack's log group (retention
//! kept), the delivery role (trust and inline policy kept: one of the stack's roles, planned by
//! [`crate::model::role`]) and exactly one flow log on the VPC with the wanted traffic type, group
//! and role (another is replaced: the old one is deleted, then the new one created, as AWS refuses
//! two flow logs of one VPC into one group). Disabled: the flow log and the role go, the log group
//! keeps its history until its retention expires or the stack is deleted. Deleted with the stack
//! (before the VPC), untagged under `Retain`.

pub mod io;

use std::fmt;

use crate::model::TagMap;
use crate::model::flowlogs::{DesiredFlowLogs, ObservedFlowLog, ObservedFlowLogs};
use crate::model::ownership::missing_tags;
use crate::model::role::{self, RoleStep};
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// Component tags.
pub const LOG_GROUP: &str = "flowlogs/log-group";
pub const ROLE: &str = "flowlogs/role";
pub const FLOW_LOG: &str = "flowlogs/flow-log";

/// One change to the flow logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowLogStep {
    CreateLogGroup {
        name: String,
    },
    SetRetention {
        name: String,
        from: Option<i32>,
        to: i32,
    },
    RestoreLogGroupTags {
        name: String,
        keys: Vec<String>,
    },
    /// A change to the delivery role.
    Role(RoleStep),
    /// On the VPC known at this point of the apply, to the group, with the role.
    CreateFlowLog {
        traffic_type: &'static str,
    },
    DeleteFlowLog {
        id: String,
        why: &'static str,
    },
    DeleteLogGroup {
        name: String,
    },
    /// `deletionPolicy: Retain`: the ownership tags go, the resources stay.
    UntagFlowLogs {
        ids: Vec<String>,
    },
    UntagLogGroup {
        arn: String,
    },
}

impl FlowLogStep {
    pub fn action(&self) -> &'static str {
        match self {
            FlowLogStep::CreateLogGroup { .. } => "CreateLogGroup",
            FlowLogStep::SetRetention { .. } => "PutRetentionPolicy",
            FlowLogStep::RestoreLogGroupTags { .. } => "TagResource",
            FlowLogStep::Role(s) => s.action(),
            FlowLogStep::CreateFlowLog { .. } => "CreateFlowLogs",
            FlowLogStep::DeleteFlowLog { .. } => "DeleteFlowLogs",
            FlowLogStep::DeleteLogGroup { .. } => "DeleteLogGroup",
            FlowLogStep::UntagFlowLogs { .. } => "DeleteTags",
            FlowLogStep::UntagLogGroup { .. } => "UntagResource",
        }
    }
}

impl fmt::Display for FlowLogStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowLogStep::CreateLogGroup { name } => write!(f, "create flow log group {name}"),
            FlowLogStep::SetRetention { name, from, to } => match from {
                Some(from) => write!(f, "change the retention of {name} from {from} to {to} days"),
                None => write!(f, "set the retention of {name} to {to} days"),
            },
            FlowLogStep::RestoreLogGroupTags { name, keys } => {
                write!(f, "restore tags {} on log group {name}", keys.join(", "))
            }
            FlowLogStep::Role(s) => s.fmt(f),
            FlowLogStep::CreateFlowLog { traffic_type } => {
                write!(f, "create a flow log of the VPC ({traffic_type} traffic)")
            }
            FlowLogStep::DeleteFlowLog { id, why } => write!(f, "delete flow log {id} ({why})"),
            FlowLogStep::DeleteLogGroup { name } => write!(f, "delete flow log group {name}"),
            FlowLogStep::UntagFlowLogs { ids } => {
                write!(f, "remove the ownership tags of flow log(s) {}", ids.join(", "))
            }
            FlowLogStep::UntagLogGroup { arn } => write!(f, "remove the ownership tags of log group {arn}"),
        }
    }
}

/// What the flow logs should have besides their spec: the log group's tags and the delivery role.
pub struct Context {
    pub log_group_tags: TagMap,
    pub role: role::DesiredRole,
}

/// Whether `l` is the flow log `want` describes.
fn matches(l: &ObservedFlowLog, want: &DesiredFlowLogs) -> bool {
    let role = format!(":role/{}", want.role_name);
    want.vpc_id.as_deref() == Some(l.vpc_id.as_str())
        && l.traffic_type == want.traffic_type
        && l.log_group.as_deref() == Some(want.log_group.as_str())
        && l.role_arn.as_deref().is_some_and(|a| a.ends_with(&role))
}

/// Why an observed flow log that is not the wanted one goes.
fn why(l: &ObservedFlowLog, want: &DesiredFlowLogs, kept: bool) -> &'static str {
    if kept {
        "a duplicate"
    } else if want.vpc_id.as_deref() != Some(l.vpc_id.as_str()) {
        "on another VPC"
    } else if l.traffic_type != want.traffic_type {
        "replaced: the traffic type changed"
    } else {
        "replaced: its destination or role changed"
    }
}

/// Steps that make the flow logs match `want` (`want.vpc_id` is `None` while the VPC is created).
pub fn plan(want: &DesiredFlowLogs, o: &ObservedFlowLogs, cx: &Context) -> Vec<FlowLogStep> {
    let mut steps = Vec::new();
    let group = want.log_group.clone();
    match &o.log_group {
        None => {
            steps.push(FlowLogStep::CreateLogGroup { name: group.clone() });
            steps.push(FlowLogStep::SetRetention {
                name: group,
                from: None,
                to: want.retention_days,
            });
        }
        Some(g) => {
            if g.retention != Some(want.retention_days) {
                steps.push(FlowLogStep::SetRetention {
                    name: group.clone(),
                    from: g.retention,
                    to: want.retention_days,
                });
            }
            let keys = missing_tags(&cx.log_group_tags, &g.tags);
            if !g.tags.is_empty() && !keys.is_empty() {
                steps.push(FlowLogStep::RestoreLogGroupTags { name: group, keys });
            }
        }
    }
    // Trust, policy and tags are compared when they were read (not on a steady pass).
    steps.extend(role::plan(&cx.role, o.role.as_ref()).into_iter().map(FlowLogStep::Role));
    // Another flow log goes before the new one is created: AWS refuses a second flow log of the
    // same resource to the same destination (FlowLogAlreadyExists).
    let keep = o.flow_logs.iter().position(|l| matches(l, want));
    for (i, l) in o.flow_logs.iter().enumerate() {
        if Some(i) != keep {
            steps.push(FlowLogStep::DeleteFlowLog {
                id: l.id.clone(),
                why: why(l, want, keep.is_some() && matches(l, want)),
            });
        }
    }
    // Without a VPC id the VPC is created by this plan: the flow log follows it.
    if keep.is_none() {
        steps.push(FlowLogStep::CreateFlowLog {
            traffic_type: want.traffic_type,
        });
    }
    steps
}

/// `enabled: false` (or no `flowLogs`): the flow logs and the role go; the log group keeps the
/// history it holds (deleted with the stack).
pub fn plan_disabled(o: &ObservedFlowLogs) -> Vec<FlowLogStep> {
    delete_flow_logs_and_role(o, "flow logs are disabled")
}

fn delete_flow_logs_and_role(o: &ObservedFlowLogs, why: &'static str) -> Vec<FlowLogStep> {
    let flow_logs = o
        .flow_logs
        .iter()
        .map(|l| FlowLogStep::DeleteFlowLog { id: l.id.clone(), why });
    let delivery_role = role::plan_cleanup(o.role.as_ref(), false);
    flow_logs
        .chain(delivery_role.into_iter().map(FlowLogStep::Role))
        .collect()
}

/// Deletion: the flow logs first (before the VPC), then the group and the role; under `Retain`
/// every one loses its ownership tags instead.
pub fn plan_cleanup(o: &ObservedFlowLogs, retain: bool) -> Vec<FlowLogStep> {
    if !retain {
        let mut steps = delete_flow_logs_and_role(o, "the stack is deleted");
        if let Some(g) = &o.log_group {
            steps.push(FlowLogStep::DeleteLogGroup { name: g.name.clone() });
        }
        return steps;
    }
    let mut steps = Vec::new();
    let ids: Vec<String> = o.flow_logs.iter().map(|l| l.id.clone()).collect();
    if !ids.is_empty() {
        steps.push(FlowLogStep::UntagFlowLogs { ids });
    }
    if let Some(g) = &o.log_group {
        steps.push(FlowLogStep::UntagLogGroup { arn: g.arn.clone() });
    }
    steps.extend(
        role::plan_cleanup(o.role.as_ref(), true)
            .into_iter()
            .map(FlowLogStep::Role),
    );
    steps
}

impl crate::reconcile::Step for FlowLogStep {
    fn action(&self) -> &'static str {
        FlowLogStep::action(self)
    }
}

/// The flow-logs part.
pub struct FlowLogs;

impl Part for FlowLogs {
    type Step = FlowLogStep;

    /// Flow logs once the VPC exists (a created VPC's id comes from observation); disabled, the
    /// flow logs and their role go.
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<FlowLogStep> {
        let o = &observed.flow_logs;
        match &desired.flow_logs {
            Some(want) => {
                let mut want = want.clone();
                if want.vpc_id.is_none() {
                    want.vpc_id = observed.vpc.as_ref().filter(|v| v.managed).map(|v| v.id.clone());
                }
                let cx = Context {
                    log_group_tags: desired.tags_for(LOG_GROUP),
                    role: want.delivery_role(&desired.owner, desired.tags_for(ROLE)),
                };
                plan(&want, o, &cx)
            }
            None => plan_disabled(o),
        }
    }

    /// Before the VPC they watch (a retained network keeps no flow logs of the stack's).
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<FlowLogStep> {
        plan_cleanup(&observed.flow_logs, how.retain)
    }

    /// When the spec or status has them, and always on deletion.
    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        let enabled = cx.ws.spec.network.flow_logs.as_ref().is_some_and(|f| f.enabled);
        let recorded = cx.ws.status.as_ref().is_some_and(|s| s.flow_logs.is_some());
        if cx.deleting || enabled || recorded {
            let key = io::FlowLogsKey {
                log_group: &crate::model::flowlogs::log_group_name(cx.owner),
                role_name: &crate::model::flowlogs::role_name(cx.owner),
                deep: cx.deep,
            };
            observed.flow_logs = Box::pin(io::observe(cx.clients, &key, cx.owner, cx.deleting)).await?;
        }
        Ok(())
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &FlowLogStep) -> Result<(), ApplyError> {
        let a = io::FlowLogApply {
            clients: cx.clients,
            desired: cx.desired,
            observed: &cx.observed.flow_logs,
            vpc: cx.ids.vpc.as_deref(),
        };
        Ok(Box::pin(io::apply(&a, &mut cx.ids.flow_log_role, step)).await?)
    }
}

#[cfg(test)]
mod tests;
