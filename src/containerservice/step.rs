//! The steps of a ContainerService plan: log group, task definition revisions, the ECS service and
//! its autoscaling. `Display` is what Events, `paused` and `plan` print.

use std::fmt;

use crate::model::change::{FieldChange, Op};
use crate::model::service::Policy;

/// One change to AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    CreateLogGroup,
    SetLogRetention {
        days: i32,
    },
    /// `changes`: what differs from the running revision (empty for a service's first).
    RegisterTaskDefinition {
        changes: Vec<FieldChange>,
    },
    CreateService,
    UpdateService {
        changes: Vec<&'static str>,
    },
    /// An old revision beyond the last few kept, or (deletion) every revision.
    DeregisterTaskDefinition {
        arn: String,
    },
    RegisterScalableTarget {
        min: i32,
        max: i32,
    },
    PutScalingPolicy(Policy),
    DeleteScalingPolicy {
        metric: String,
    },
    DeregisterScalableTarget,
    /// Scale to zero, then delete.
    DeleteService {
        arn: String,
    },
    DeleteLogGroup,
    /// `deletionPolicy: Retain`: the ownership tags of the service, log group and revisions go.
    UntagService {
        arn: String,
    },
    UntagLogGroup {
        arn: String,
    },
    UntagTaskDefinitions {
        arns: Vec<String>,
    },
}

impl crate::reconcile::Step for Step {
    fn action(&self) -> &'static str {
        match self {
            Step::CreateLogGroup => "CreateLogGroup",
            Step::SetLogRetention { .. } => "PutRetentionPolicy",
            Step::RegisterTaskDefinition { .. } => "RegisterTaskDefinition",
            Step::CreateService => "CreateService",
            Step::UpdateService { .. } => "UpdateService",
            Step::DeregisterTaskDefinition { .. } => "DeregisterTaskDefinition",
            Step::RegisterScalableTarget { .. } => "RegisterScalableTarget",
            Step::PutScalingPolicy(_) => "PutScalingPolicy",
            Step::DeleteScalingPolicy { .. } => "DeleteScalingPolicy",
            Step::DeregisterScalableTarget => "DeregisterScalableTarget",
            Step::DeleteService { .. } => "DeleteService",
            Step::DeleteLogGroup => "DeleteLogGroup",
            Step::UntagService { .. } | Step::UntagTaskDefinitions { .. } => "UntagResource",
            Step::UntagLogGroup { .. } => "UntagResource",
        }
    }

    fn op(&self) -> Op {
        match self {
            // A new revision of the service's task definition is how it changes.
            Step::RegisterTaskDefinition { changes } if !changes.is_empty() => Op::Update,
            _ => Op::of_action(crate::reconcile::Step::action(self)),
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            Step::RegisterTaskDefinition { changes } => changes.clone(),
            Step::UpdateService { changes } => changes
                .iter()
                .filter(|c| **c != "task definition")
                .map(|c| FieldChange::new(*c, None::<String>, "changed"))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateLogGroup => write!(f, "create log group"),
            Step::SetLogRetention { days } => write!(f, "keep logs {days} days"),
            Step::RegisterTaskDefinition { .. } => write!(f, "register a new task definition revision"),
            Step::CreateService => write!(f, "create service"),
            Step::UpdateService { changes } => write!(f, "update service: {}", changes.join(", ")),
            Step::DeregisterTaskDefinition { arn } => write!(f, "deregister task definition {arn}"),
            Step::RegisterScalableTarget { min, max } => write!(f, "scale between {min} and {max} tasks"),
            Step::PutScalingPolicy(p) => write!(f, "track {} at {}%", p.metric, p.target),
            Step::DeleteScalingPolicy { metric } => write!(f, "stop tracking {metric}"),
            Step::DeregisterScalableTarget => write!(f, "stop autoscaling"),
            Step::DeleteService { arn } => write!(f, "scale service {arn} to 0 and delete it"),
            Step::DeleteLogGroup => write!(f, "delete log group"),
            Step::UntagService { arn } => write!(f, "remove the ownership tags of service {arn}"),
            Step::UntagLogGroup { arn } => write!(f, "remove the ownership tags of log group {arn}"),
            Step::UntagTaskDefinitions { arns } => {
                write!(
                    f,
                    "remove the ownership tags of {} task definition revision(s)",
                    arns.len()
                )
            }
        }
    }
}
