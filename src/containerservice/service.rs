//! The ECS service of a ContainerService: what it should be, what it is, and the steps between
//! (pure). With autoscaling on, the desired count is the scaler's: it is set on create only.

use std::fmt;

use super::taskdef::TaskDef;

/// awsvpc settings: subnets, security groups, public IP.
pub type Network = (Vec<String>, Vec<String>, bool);

/// Target group ARN, container name, container port.
pub type LoadBalancer = (String, String, i32);

/// The deployment configuration: maximum %, minimum healthy %, circuit breaker on, rollback on.
pub type DeploymentConfig = (i32, i32, bool, bool);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredService {
    pub name: String,
    pub cluster: String,
    pub launch_type: String,
    pub desired_count: i32,
    /// The scaler owns the desired count after creation.
    pub autoscaled: bool,
    pub network: Option<Network>,
    pub load_balancer: Option<LoadBalancer>,
    pub deployment: DeploymentConfig,
    pub health_check_grace_seconds: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedService {
    pub arn: String,
    pub active: bool,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub network: Option<Network>,
    pub load_balancer: Option<LoadBalancer>,
    pub deployment: DeploymentConfig,
    pub health_check_grace_seconds: Option<i32>,
    /// The primary deployment's rollout state and reason.
    pub rollout: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    CreateLogGroup,
    SetLogRetention { days: i32 },
    RegisterTaskDefinition,
    CreateService,
    UpdateService { changes: Vec<&'static str> },
}

impl Step {
    pub fn action(&self) -> &'static str {
        match self {
            Step::CreateLogGroup => "CreateLogGroup",
            Step::SetLogRetention { .. } => "PutRetentionPolicy",
            Step::RegisterTaskDefinition => "RegisterTaskDefinition",
            Step::CreateService => "CreateService",
            Step::UpdateService { .. } => "UpdateService",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateLogGroup => write!(f, "create log group"),
            Step::SetLogRetention { days } => write!(f, "keep logs {days} days"),
            Step::RegisterTaskDefinition => write!(f, "register a new task definition revision"),
            Step::CreateService => write!(f, "create service"),
            Step::UpdateService { changes } => write!(f, "update service: {}", changes.join(", ")),
        }
    }
}

fn sorted(n: &Option<Network>) -> Option<Network> {
    n.clone().map(|(mut s, mut g, p)| {
        s.sort();
        g.sort();
        (s, g, p)
    })
}

/// `log_retention`: `None` when the log group does not exist. `running`: the task definition the
/// service runs, canonical. `new_revision_registered`: a revision was just registered (the service
/// must move to it).
pub fn plan(
    desired: &DesiredService,
    task: &TaskDef,
    retention_days: i32,
    log_retention: Option<Option<i32>>,
    service: Option<&ObservedService>,
    running: Option<&TaskDef>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    match log_retention {
        None => steps.extend([Step::CreateLogGroup, Step::SetLogRetention { days: retention_days }]),
        Some(r) if r != Some(retention_days) => steps.push(Step::SetLogRetention { days: retention_days }),
        Some(_) => {}
    }
    let new_revision = task.differs_from(running);
    if new_revision {
        steps.push(Step::RegisterTaskDefinition);
    }
    match service.filter(|s| s.active) {
        None => steps.push(Step::CreateService),
        Some(s) => {
            let mut changes = Vec::new();
            if new_revision {
                changes.push("task definition");
            }
            if !desired.autoscaled && s.desired_count != desired.desired_count {
                changes.push("desired count");
            }
            if sorted(&s.network) != sorted(&desired.network) {
                changes.push("network");
            }
            if s.load_balancer != desired.load_balancer {
                changes.push("load balancer");
            }
            if s.deployment != desired.deployment {
                changes.push("deployment configuration");
            }
            if desired.load_balancer.is_some() && s.health_check_grace_seconds != desired.health_check_grace_seconds {
                changes.push("health check grace period");
            }
            if !changes.is_empty() {
                steps.push(Step::UpdateService { changes });
            }
        }
    }
    steps
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
