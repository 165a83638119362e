//! The ECS service of a ContainerService: the steps between what it should be and what it is
//! (pure). With autoscaling on, the desired count is the scaler's: it is set on create only.

use super::step::Step;
use crate::model::service::{DesiredService, Network, ObservedService, TaskDef};

/// The change that moves a service to the stack's capacity provider (a new deployment).
pub const CAPACITY_PROVIDER: &str = "capacity provider";

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
        steps.push(Step::RegisterTaskDefinition {
            changes: task.changes(running),
        });
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
            // Only towards a provider: UpdateService cannot put a service back on a launch type.
            if desired.capacity_provider.is_some() && s.capacity_provider != desired.capacity_provider {
                changes.push(CAPACITY_PROVIDER);
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
