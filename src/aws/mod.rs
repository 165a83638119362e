//! The AWS boundary: one module per service wrapping the SDK behind small functions that speak the
//! planners' domain types. SDK errors are classified here, once, into an [`AwsError`] with a retry
//! class, the AWS error code and the request id.

pub mod ec2;
pub mod ecs;
pub mod ecs_service;
pub mod elbv2;
pub mod logs;
pub mod rules;
pub mod scaling;
pub mod target_groups;

use std::collections::BTreeMap;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;

/// What to do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryClass {
    /// Throttling, 5xx, transport trouble, or a dependency AWS is still releasing: try again later.
    Transient,
    /// Throttled by AWS, retried with backoff (and counted apart).
    Throttled,
    /// Permission denied: a person must change IAM.
    AccessDenied,
    /// Invalid request, quota, conflict: a person must change the spec or the account.
    Terminal,
}

/// An AWS call that failed.
#[derive(Debug, thiserror::Error)]
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
        self.code.contains("NotFound") || self.code.ends_with(".NotFound") || self.code == "ClusterNotFoundException"
    }
}

/// Deletions tolerate what is already gone: `NotFound` errors, and those in `gone`, count as done.
pub(crate) fn done_if_gone(result: Result<(), AwsError>, gone: &[&str]) -> Result<(), AwsError> {
    match result {
        Err(e) if e.is_not_found() || gone.contains(&e.code.as_str()) => Ok(()),
        other => other,
    }
}

/// Classifies an SDK error.
pub fn classify<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message, request_id, status) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let meta = e.meta();
            (
                meta.code().unwrap_or("Unknown").to_string(),
                meta.message().unwrap_or_default().to_string(),
                meta.request_id().unwrap_or("-").to_string(),
                None::<u16>,
            )
        }
        other => ("Transport".to_string(), format!("{other}"), "-".to_string(), Some(0)),
    };
    let class = match code.as_str() {
        _ if status.is_some() => RetryClass::Transient,
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException" => {
            RetryClass::Throttled
        }
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => RetryClass::AccessDenied,
        // ENIs of a deleted load balancer still hold the group; in-use resources being released.
        "DependencyViolation"
        | "ResourceInUse"
        | "ResourceInUseException"
        | "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable" => RetryClass::Transient,
        _ => RetryClass::Terminal,
    };
    AwsError {
        operation,
        code,
        message,
        request_id,
        class,
    }
}

/// Tags as a sorted map.
pub type TagMap = BTreeMap<String, String>;

/// The AWS clients the controllers use, built from one SDK configuration (region, credentials and
/// `AWS_ENDPOINT_URL` come from the SDK's standard configuration chain). Every call is counted by
/// service and operation in [`Clients::calls`].
#[derive(Clone, Debug)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    pub calls: CallCounter,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        let calls = CallCounter::default();
        Clients {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            scaling: aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            calls,
        }
    }
}

/// Counts AWS calls by `service:operation` (one per operation execution, retries not counted twice).
#[derive(Clone, Debug, Default)]
pub struct CallCounter(std::sync::Arc<std::sync::Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    /// A copy of the counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Forgets the counts so far.
    pub fn reset(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "webstack-call-counter"
    }

    /// Once per operation, after its last attempt (the operation's metadata is not yet in the
    /// config bag when execution starts).
    fn read_after_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let (Some(meta), Ok(mut m)) = (
            cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>(),
            self.0.lock(),
        ) {
            *m.entry(format!("{}:{}", meta.service(), meta.name())).or_default() += 1;
        }
        Ok(())
    }
}
