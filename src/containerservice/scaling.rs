//! Application Auto Scaling of a service's desired count (pure plan): a scalable target and one
//! target-tracking policy per metric the spec names; removed when the spec drops them.

use super::step::Step;
use crate::api::Autoscaling;
use crate::model::service::{CPU, MEMORY, ObservedScaling, Policy};

/// The policies the spec asks for.
pub fn desired_policies(a: &Autoscaling) -> Vec<Policy> {
    let mut out = Vec::new();
    for (metric, target) in [(CPU, a.target_cpu_percent), (MEMORY, a.target_memory_percent)] {
        if let Some(target) = target {
            out.push(Policy {
                metric: metric.into(),
                target,
                scale_in_cooldown: a.scale_in_cooldown_seconds,
                scale_out_cooldown: a.scale_out_cooldown_seconds,
            });
        }
    }
    out
}

pub fn plan(desired: Option<&Autoscaling>, observed: &ObservedScaling) -> Vec<Step> {
    let mut steps = Vec::new();
    let Some(a) = desired else {
        for p in &observed.policies {
            steps.push(Step::DeleteScalingPolicy {
                metric: p.metric.clone(),
            });
        }
        if observed.target.is_some() {
            steps.push(Step::DeregisterScalableTarget);
        }
        return steps;
    };
    if observed.target != Some((a.min_capacity, a.max_capacity)) {
        steps.push(Step::RegisterScalableTarget {
            min: a.min_capacity,
            max: a.max_capacity,
        });
    }
    let want = desired_policies(a);
    for p in &observed.policies {
        if !want.iter().any(|w| w.metric == p.metric) {
            steps.push(Step::DeleteScalingPolicy {
                metric: p.metric.clone(),
            });
        }
    }
    for w in want {
        if !observed.policies.contains(&w) {
            steps.push(Step::PutScalingPolicy(w));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Autoscaling {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn plans_targets_and_policies() {
        // Reference architecture 2's backend: out past 60% CPU or memory.
        let both = spec("{minCapacity: 2, maxCapacity: 8, targetCpuPercent: 60, targetMemoryPercent: 60}");
        let fresh = plan(Some(&both), &ObservedScaling::default());
        assert_eq!(
            names(&fresh),
            [
                "scale between 2 and 8 tasks",
                "track ECSServiceAverageCPUUtilization at 60%",
                "track ECSServiceAverageMemoryUtilization at 60%"
            ]
        );
        let converged = ObservedScaling {
            target: Some((2, 8)),
            policies: desired_policies(&both),
        };
        assert_eq!(plan(Some(&both), &converged), vec![]);
        let cpu_only = spec("{minCapacity: 2, maxCapacity: 10, targetCpuPercent: 50}");
        assert_eq!(
            names(&plan(Some(&cpu_only), &converged)),
            [
                "scale between 2 and 10 tasks",
                "stop tracking ECSServiceAverageMemoryUtilization",
                "track ECSServiceAverageCPUUtilization at 50%"
            ]
        );
        assert_eq!(
            names(&plan(None, &converged)),
            [
                "stop tracking ECSServiceAverageCPUUtilization",
                "stop tracking ECSServiceAverageMemoryUtilization",
                "stop autoscaling"
            ]
        );
        assert_eq!(plan(None, &ObservedScaling::default()), vec![]);
        let defaults = desired_policies(&both);
        assert_eq!(
            (defaults[0].scale_in_cooldown, defaults[0].scale_out_cooldown),
            (300, 60)
        );
    }
}
