//! One plan for a ContainerService (pure): log group, task definition revision, service, old
//! revisions beyond the last few, then autoscaling; and the cleanup plan. What it plans from is
//! one observation ([`Observed`]) of one desired state ([`Desired`]).

use super::step::Step;
use super::{scaling, service};
use crate::api::{Autoscaling, DeletionPolicy};
use crate::model::TagMap;
use crate::model::service::{DesiredService, ObservedScaling, ObservedService, TaskDef};

/// Revisions kept registered per service (the one a service runs is never deregistered).
pub const KEEP_REVISIONS: usize = 5;

/// What a ContainerService should be.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub task: TaskDef,
    pub service: DesiredService,
    pub log_group: String,
    pub retention_days: i32,
    pub autoscaling: Option<Autoscaling>,
    pub tags: TagMap,
    /// The revision status records as running at this generation while Ready: revisions are
    /// immutable, so that one is `task` and is not read again (steady state stays at 4 reads).
    pub recorded_task: Option<String>,
    /// A revision whose rollout failed at this generation, as status recorded it (the failed
    /// deployment leaves DescribeServices once ECS's rollback completes): ARN and ECS's reason.
    pub failed_before: Option<(String, String)>,
}

/// The log group as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroup {
    pub arn: String,
    pub retention: Option<i32>,
}

/// What AWS holds of a ContainerService.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub log_group: Option<LogGroup>,
    pub service: Option<ObservedService>,
    /// The revision the service runs, else (no service yet) the family's latest: comparing with it
    /// means a crash between registering and creating the service registers nothing twice.
    pub running_arn: Option<String>,
    pub running: Option<TaskDef>,
    /// The family's active revisions, oldest first: read when a revision is to be registered, and
    /// on deletion (then only those tagged as this resource's).
    pub revisions: Vec<String>,
    pub scaling: ObservedScaling,
    /// The revision whose rollout failed (the service's failed deployment's, else the one status
    /// recorded), read only then: ARN, content and ECS's reason.
    pub failed: Option<FailedRevision>,
}

/// A task definition revision whose deployment the circuit breaker marked FAILED.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedRevision {
    pub arn: String,
    pub task: TaskDef,
    pub reason: String,
}

impl Observed {
    /// The failed revision when the spec still asks for exactly it: it is not rolled out again
    /// (ECS rolled back from it; deploying it anew would fail the same way, forever) until the
    /// spec changes.
    pub fn failed_and_wanted(&self, d: &Desired) -> Option<&FailedRevision> {
        self.failed.as_ref().filter(|f| !d.task.differs_from(Some(&f.task)))
    }

    /// The service, when it is live (ECS lists deleted ones as INACTIVE).
    pub fn active_service(&self) -> Option<&ObservedService> {
        self.service.as_ref().filter(|s| s.active)
    }
}

/// The steps that make AWS match `d`, in order.
pub fn plan(d: &Desired, o: &Observed) -> Vec<Step> {
    let log_retention = o.log_group.as_ref().map(|g| g.retention);
    let mut steps = service::plan(
        &d.service,
        &d.task,
        d.retention_days,
        log_retention,
        o.service.as_ref(),
        o.running.as_ref(),
    );
    if o.failed_and_wanted(d).is_some() {
        // The revision that failed is neither registered again nor rolled out again.
        steps.retain(|s| !matches!(s, Step::RegisterTaskDefinition { .. }));
        for s in &mut steps {
            if let Step::UpdateService { changes } = s {
                changes.retain(|c| *c != "task definition");
            }
        }
        steps.retain(|s| !matches!(s, Step::UpdateService { changes } if changes.is_empty()));
    }
    if steps.iter().any(|s| matches!(s, Step::RegisterTaskDefinition { .. })) {
        steps.extend(
            beyond_the_last_few(o)
                .into_iter()
                .map(|arn| Step::DeregisterTaskDefinition { arn: arn.clone() }),
        );
    }
    steps.extend(scaling::plan(d.autoscaling.as_ref(), &o.scaling));
    steps
}

/// With one more revision about to exist, the oldest beyond the last [`KEEP_REVISIONS`], never one
/// a deployment of the service uses: the circuit breaker rolls back to the last completed one, and
/// ECS starts no task of a deregistered revision.
fn beyond_the_last_few(o: &Observed) -> Vec<&String> {
    let excess = (o.revisions.len() + 1).saturating_sub(KEEP_REVISIONS);
    let deployed = o.service.iter().flat_map(|s| s.deployed.iter().map(String::as_str));
    let in_use: std::collections::BTreeSet<&str> = o.running_arn.as_deref().into_iter().chain(deployed).collect();
    o.revisions
        .iter()
        .filter(|a| !in_use.contains(a.as_str()))
        .take(excess)
        .collect()
}

/// Deletion: scaling first (so the scaler does not fight the scale-down), the service, its
/// revisions, the log group. `Retain` untags the service, the log group and the revisions instead.
pub fn plan_cleanup(o: &Observed, policy: DeletionPolicy) -> Vec<Step> {
    let service = o.active_service();
    if policy == DeletionPolicy::Retain {
        let mut steps: Vec<Step> = service
            .map(|s| Step::UntagService { arn: s.arn.clone() })
            .into_iter()
            .collect();
        if let Some(g) = &o.log_group {
            steps.push(Step::UntagLogGroup { arn: g.arn.clone() });
        }
        if !o.revisions.is_empty() {
            steps.push(Step::UntagTaskDefinitions {
                arns: o.revisions.clone(),
            });
        }
        return steps;
    }
    let mut steps = scaling::plan(None, &o.scaling);
    if let Some(s) = service {
        steps.push(Step::DeleteService { arn: s.arn.clone() });
    }
    steps.extend(
        o.revisions
            .iter()
            .map(|arn| Step::DeregisterTaskDefinition { arn: arn.clone() }),
    );
    if o.log_group.is_some() {
        steps.push(Step::DeleteLogGroup);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::service::{CPU, Policy};

    fn observed_service() -> ObservedService {
        ObservedService {
            arn: "arn:svc".into(),
            active: true,
            task_definition: "arn:td:7".into(),
            capacity_provider: None,
            desired_count: 2,
            running_count: 2,
            network: None,
            load_balancer: None,
            deployment: (200, 100, true, true),
            health_check_grace_seconds: Some(60),
            rollout: None,
            failed: None,
            deployed: vec!["arn:td:7".into()],
            tags: TagMap::new(),
        }
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps.iter().map(ToString::to_string).collect()
    }

    /// A rollout in progress from revision 1 to 5: 1 is the rollback target (an ACTIVE
    /// deployment), so the oldest not in use, 2, goes instead.
    #[test]
    fn revisions_a_deployment_uses_stay_registered() {
        let mut service = observed_service();
        service.task_definition = "arn:td:5".into();
        service.deployed = vec!["arn:td:5".into(), "arn:td:1".into()];
        let o = Observed {
            service: Some(service),
            running_arn: Some("arn:td:5".into()),
            revisions: (1..=5).map(|i| format!("arn:td:{i}")).collect(),
            ..Observed::default()
        };
        assert_eq!(beyond_the_last_few(&o), ["arn:td:2"]);
        let idle = Observed {
            service: None,
            ..o.clone()
        };
        assert_eq!(beyond_the_last_few(&idle), ["arn:td:1"]);
    }

    #[test]
    fn cleanup_with_an_empty_status_deletes_what_names_and_tags_found() {
        // Nothing in status: the service was found by its name in the stack's cluster, the log
        // group by name, the revisions by family and tags.
        let o = Observed {
            log_group: Some(LogGroup {
                arn: "arn:logs:/webstack/x".into(),
                retention: Some(30),
            }),
            service: Some(observed_service()),
            revisions: vec!["arn:td:6".into(), "arn:td:7".into()],
            scaling: ObservedScaling {
                target: Some((1, 4)),
                policies: vec![Policy {
                    metric: CPU.into(),
                    target: 60,
                    scale_in_cooldown: 300,
                    scale_out_cooldown: 60,
                }],
            },
            ..Observed::default()
        };
        assert_eq!(
            names(&plan_cleanup(&o, DeletionPolicy::Delete)),
            [
                "stop tracking ECSServiceAverageCPUUtilization",
                "stop autoscaling",
                "scale service arn:svc to 0 and delete it",
                "deregister task definition arn:td:6",
                "deregister task definition arn:td:7",
                "delete log group"
            ]
        );
        assert_eq!(
            names(&plan_cleanup(&o, DeletionPolicy::Retain)),
            [
                "remove the ownership tags of service arn:svc",
                "remove the ownership tags of log group arn:logs:/webstack/x",
                "remove the ownership tags of 2 task definition revision(s)"
            ]
        );
        let mut inactive = o.clone();
        inactive.service.as_mut().unwrap().active = false;
        inactive.log_group = None;
        inactive.revisions.clear();
        inactive.scaling = ObservedScaling::default();
        assert_eq!(
            plan_cleanup(&inactive, DeletionPolicy::Delete),
            vec![],
            "an INACTIVE service is gone"
        );
    }
}
