//! The domain's errors: an AWS call that failed (classified once, at the AWS boundary, into a
//! [`RetryClass`]), a spec the operator cannot act on ([`InvalidSpec`]), and [`report`], which
//! renders an error with its chain of causes on one line.

/// What to do about a failed AWS call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// A 5xx, a transport failure, or a dependency AWS is still releasing: try again soon.
    Transient,
    /// Throttled by AWS: try again later (and count it).
    Throttled,
    /// Permission denied: a person must change IAM.
    AccessDenied,
    /// Invalid request, quota, conflict: a person must change the spec or the account.
    Terminal,
}

impl RetryClass {
    /// Whether retrying alone may cure it (throttled, or a transient failure), as against one a
    /// person must act on.
    pub fn cured_by_retry(self) -> bool {
        matches!(self, RetryClass::Transient | RetryClass::Throttled)
    }

    /// The label of this class in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            RetryClass::Transient => "transient",
            RetryClass::Throttled => "throttled",
            RetryClass::AccessDenied => "access_denied",
            RetryClass::Terminal => "terminal",
        }
    }
}

/// An AWS call that failed: the operation, AWS's error code, message and request id, and its class.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {code}: {message} (request id {request_id})")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub request_id: String,
    pub class: RetryClass,
}

impl AwsError {
    /// Whether AWS said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code.contains("NotFound") || self.code == "ClusterNotFoundException"
    }

    /// A request the operator could not even build (a builder's missing field): not retryable.
    pub fn invalid_request(operation: &'static str, e: impl std::fmt::Display) -> AwsError {
        AwsError {
            operation,
            code: "InvalidRequest".into(),
            message: e.to_string(),
            request_id: "-".into(),
            class: RetryClass::Terminal,
        }
    }
}

/// A spec the operator cannot act on: the field (e.g. `spec.network.cidr`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSpec {
    pub field: String,
    pub message: String,
}

/// An [`InvalidSpec`] for `field`.
pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidSpec {
    InvalidSpec {
        field: field.into(),
        message: message.into(),
    }
}

/// One line with an error and its chain of causes.
pub fn report(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] InvalidSpec);

    #[test]
    fn report_follows_the_chain_of_causes() {
        let e = Outer(invalid("spec.port", "too big"));
        assert_eq!(report(&e), "outer: spec.port: too big");
    }
}
