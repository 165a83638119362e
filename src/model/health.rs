//! Where a resource stands after a reconcile ([`Health`]), computed purely from what was found;
//! the reconcile driver turns it into the kstatus conditions `Ready`, `Reconciling` and `Stalled`.

use super::error::{AwsError, RetryClass};

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

impl Health {
    /// The health an AWS error leaves a resource in: transient and throttled errors are retried,
    /// permission and validation errors need a person. The message carries code and request id.
    pub fn from_aws(e: &AwsError) -> Health {
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

    /// Ready, with this message.
    pub fn ready(message: impl Into<String>) -> Health {
        Health::Ready {
            message: message.into(),
        }
    }

    /// Converging for `reason`.
    pub fn progressing(reason: &'static str, message: impl Into<String>) -> Health {
        Health::Progressing {
            reason,
            message: message.into(),
        }
    }

    /// Waiting for something another controller or AWS makes.
    pub fn waiting(message: impl Into<String>) -> Health {
        Health::progressing("DependencyNotReady", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_errors_map_to_health_with_code_request_id_and_advice() {
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
}
