//! kstatus-compatible conditions (`Ready`, `Reconciling`, `Stalled`), computed by a pure function
//! from what a reconcile found. `lastTransitionTime` is kept while a condition's status is unchanged.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Where a resource stands after a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// AWS matches the spec.
    Ready { message: String },
    /// Converging: creating, updating, waiting on AWS or a dependency.
    Progressing { reason: &'static str, message: String },
    /// Needs a person: invalid spec, permission denied, conflict, quota.
    Stalled { reason: &'static str, message: String },
    /// `webstack.io/paused`: observed only; `in_sync` says whether AWS matches the spec.
    Paused { in_sync: bool, message: String },
}

/// The three conditions for `health`, carrying `generation` and keeping transition times of `previous`.
pub fn conditions(previous: &[Condition], health: &Health, generation: Option<i64>, now: &Time) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match health {
        Health::Ready { message } => (
            (true, "Ready", message.as_str()),
            (false, "Ready", ""),
            (false, "Ready", ""),
        ),
        Health::Progressing { reason, message } => (
            (false, *reason, message.as_str()),
            (true, *reason, message.as_str()),
            (false, *reason, ""),
        ),
        Health::Stalled { reason, message } => (
            (false, *reason, message.as_str()),
            (false, *reason, ""),
            (true, *reason, message.as_str()),
        ),
        Health::Paused { in_sync, message } => (
            (*in_sync, "Paused", message.as_str()),
            (false, "Paused", message.as_str()),
            (false, "Paused", ""),
        ),
    };
    [("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled)]
        .into_iter()
        .map(|(type_, (status, reason, message))| {
            let status = if status { "True" } else { "False" }.to_string();
            let last_transition_time = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: type_.into(),
                status,
                reason: reason.into(),
                message: message.into(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

impl Health {
    /// The health an AWS error leaves a resource in: transient and throttled errors are retried,
    /// permission and validation errors need a person. The message carries code and request id.
    pub fn from_aws(e: &crate::aws::AwsError) -> Health {
        use crate::aws::RetryClass;
        let message = e.to_string();
        match e.class {
            RetryClass::Transient => Health::Progressing {
                reason: "AwsError",
                message,
            },
            RetryClass::Throttled => Health::Progressing {
                reason: "Throttled",
                message,
            },
            RetryClass::AccessDenied => Health::Stalled {
                reason: "AccessDenied",
                message: format!("{message}; grant this permission to the operator's IAM role"),
            },
            RetryClass::Terminal => Health::Stalled {
                reason: "AwsError",
                message: format!("{message}; change the spec or the account accordingly"),
            },
        }
    }
}

/// Whether `Ready` is `True` in `conditions`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn get<'a>(cs: &'a [Condition], t: &str) -> &'a Condition {
        cs.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn each_health_sets_one_true_condition() {
        let now = time("2026-11-22T10:00:00Z");
        let cases = [
            (
                Health::Ready { message: "ok".into() },
                ["True", "False", "False"],
                "Ready",
            ),
            (
                Health::Progressing {
                    reason: "Provisioning",
                    message: "creating".into(),
                },
                ["False", "True", "False"],
                "Provisioning",
            ),
            (
                Health::Stalled {
                    reason: "InvalidSpec",
                    message: "bad".into(),
                },
                ["False", "False", "True"],
                "InvalidSpec",
            ),
            (
                Health::Paused {
                    in_sync: false,
                    message: "2 changes".into(),
                },
                ["False", "False", "False"],
                "Paused",
            ),
            (
                Health::Paused {
                    in_sync: true,
                    message: "no changes".into(),
                },
                ["True", "False", "False"],
                "Paused",
            ),
        ];
        for (health, statuses, reason) in cases {
            let cs = conditions(&[], &health, Some(3), &now);
            let got: Vec<_> = ["Ready", "Reconciling", "Stalled"]
                .iter()
                .map(|t| get(&cs, t).status.as_str())
                .collect();
            assert_eq!(got, statuses, "{health:?}");
            assert!(
                cs.iter()
                    .all(|c| c.observed_generation == Some(3) && c.last_transition_time == now)
            );
            assert_eq!(get(&cs, "Ready").reason, reason);
        }
    }

    #[test]
    fn aws_errors_map_to_health_with_code_request_id_and_advice() {
        use crate::aws::{AwsError, RetryClass};
        let err = |class| AwsError {
            operation: "CreateVpc",
            code: "Code".into(),
            message: "msg".into(),
            request_id: "req-1".into(),
            class,
        };
        let cases = [
            (RetryClass::Transient, "Reconciling", "AwsError", ""),
            (RetryClass::Throttled, "Reconciling", "Throttled", ""),
            (
                RetryClass::AccessDenied,
                "Stalled",
                "AccessDenied",
                "grant this permission",
            ),
            (RetryClass::Terminal, "Stalled", "AwsError", "change the spec"),
        ];
        for (class, kind, reason, advice) in cases {
            let (k, r, m) = match Health::from_aws(&err(class)) {
                Health::Progressing { reason, message } => ("Reconciling", reason, message),
                Health::Stalled { reason, message } => ("Stalled", reason, message),
                other => panic!("{other:?}"),
            };
            assert_eq!((k, r), (kind, reason), "{class:?}");
            assert!(
                m.contains("CreateVpc") && m.contains("Code") && m.contains("req-1") && m.contains(advice),
                "{m}"
            );
        }
    }

    #[test]
    fn transition_time_is_kept_while_status_is_unchanged() {
        let t0 = time("2026-11-22T10:00:00Z");
        let t1 = time("2026-11-22T11:00:00Z");
        let first = conditions(
            &[],
            &Health::Progressing {
                reason: "Provisioning",
                message: "a".into(),
            },
            Some(1),
            &t0,
        );
        let still = conditions(
            &first,
            &Health::Progressing {
                reason: "Provisioning",
                message: "b".into(),
            },
            Some(1),
            &t1,
        );
        assert_eq!(get(&still, "Reconciling").last_transition_time, t0);
        assert_eq!(get(&still, "Reconciling").message, "b");
        let ready = conditions(&still, &Health::Ready { message: "ok".into() }, Some(1), &t1);
        assert_eq!(get(&ready, "Ready").last_transition_time, t1);
        assert_eq!(get(&ready, "Stalled").last_transition_time, t0, "Stalled stayed False");
        assert!(is_ready(&ready));
    }
}
