//! The AWS boundary: one module per service wrapping the SDK behind small functions that speak
//! the domain types of [`crate::model`] (and nothing above it). SDK errors are classified here,
//! once, into a [`model::AwsError`](crate::model::AwsError) with a retry class, the AWS error code
//! and the request id; every call is counted by service and operation.

pub mod autoscaling;
pub mod budget;
pub mod capacity;
pub mod cloudfront;
pub mod cloudwatch;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod ecs_service;
pub mod egress;
pub mod elasticache;
pub mod elbv2;
pub mod events;
pub mod flowlogs;
pub mod iam;
pub mod identity;
pub mod ids;
pub mod logs;
pub mod rds;
pub mod route53;
pub mod rules;
pub mod s3;
pub mod scaling;
pub mod secrets;
pub mod sns;
pub mod sweep;
pub mod target_groups;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

pub use crate::model::ownership::TagMap;
pub use crate::model::{AwsError, RetryClass};

/// Deletions tolerate what is already gone: `NotFound` errors, and those in `gone`, count as done.
pub(crate) fn done_if_gone(result: Result<(), AwsError>, gone: &[&str]) -> Result<(), AwsError> {
    match result {
        Err(e) if e.is_not_found() || gone.contains(&e.code.as_str()) => Ok(()),
        other => other,
    }
}

/// The outcome of a delete call `operation`: done, also when AWS says the resource is gone.
pub(crate) fn deleted<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E, HttpResponse>>,
    gone: &[&str],
) -> Result<(), AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    done_if_gone(result.map(drop).map_err(|e| classify(operation, e)), gone)
}

/// A [`TagMap`] as a service's list of tags: `sdk_tags!(Tag, &tags)` with that service's `Tag`.
macro_rules! sdk_tags {
    ($tag:ty, $map:expr) => {
        $map.iter()
            .map(|(k, v)| <$tag>::builder().key(k).value(v).build())
            .collect::<Vec<_>>()
    };
}

/// A service's list of tags as a [`TagMap`].
macro_rules! tag_map {
    ($tags:expr) => {
        $tags
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect::<$crate::model::TagMap>()
    };
}

/// A [`TagMap`] as the tags of a service whose `Tag` builder requires key and value (IAM, SNS,
/// ECR): `Result<Vec<Tag>, AwsError>`, a builder error reported as an invalid `$operation`.
macro_rules! built_sdk_tags {
    ($tag:ty, $map:expr, $operation:expr) => {
        $map.iter()
            .map(|(k, v)| {
                <$tag>::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| $crate::model::AwsError::invalid_request($operation, e))
            })
            .collect::<Result<Vec<_>, _>>()
    };
}

/// The tags of a service whose `Tag` has required key and value (IAM, S3, SNS, ECR) as a [`TagMap`].
macro_rules! required_tag_map {
    ($tags:expr) => {
        $tags
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect::<$crate::model::TagMap>()
    };
}

pub(crate) use {built_sdk_tags, required_tag_map, sdk_tags, tag_map};

/// Error codes that mean "try again soon": AWS is still releasing a dependency, or failed itself.
const TRANSIENT_CODES: [&str; 16] = [
    // ENIs of a deleted load balancer or task still hold a group or subnet; an in-use resource
    // being released (a listener still forwarding to a target group, services draining).
    "DependencyViolation",
    "ResourceInUse",
    "ResourceInUseException",
    "ClusterContainsServicesException",
    "ClusterContainsTasksException",
    // Container instances of a deleted Auto Scaling group deregister once they are terminated.
    "ClusterContainsContainerInstancesException",
    // A resource in a state that refuses the call for now (RDS `creating`, `modifying`,
    // `backing-up`; ElastiCache `modifying` right after a failover toggle): it leaves that state
    // by itself, so the call is a wait, never "change the spec".
    "InvalidDBInstanceState",
    "InvalidReplicationGroupState",
    "InvalidCacheClusterState",
    // Two writers at once: another rule took a priority, a scaling update in flight.
    "PriorityInUse",
    "ConcurrentUpdateException",
    // AWS's own trouble, whatever the HTTP status says.
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "ServerException",
];

/// The error codes with which AWS services say "slow down" (query and JSON protocols, EC2, S3).
const THROTTLING_CODES: [&str; 5] = [
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
];

/// Whether a raw AWS response (one attempt, before the SDK retries it) is throttling, by the rule
/// [`classify`] applies to final errors: HTTP 429, or a [`THROTTLING_CODES`] code, which JSON
/// protocols send in `x-amzn-ErrorType` and query, EC2 and S3 in the XML body.
pub fn is_throttling(status: u16, error_type: Option<&str>, body: &[u8]) -> bool {
    if status == 429 {
        return true;
    }
    if !(400..600).contains(&status) {
        return false;
    }
    let code = error_type.map(|t| t.split(':').next().unwrap_or(t));
    if code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
        return true;
    }
    let body = String::from_utf8_lossy(&body[..body.len().min(2048)]);
    THROTTLING_CODES
        .iter()
        .any(|c| body.contains(&format!("<Code>{c}</Code>")))
}

/// Classifies an SDK error: transport failures and HTTP 5xx are transient whatever their code,
/// then throttling, permission and the codes of [`TRANSIENT_CODES`]; anything else is terminal.
pub fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message, request_id, status) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let meta = e.meta();
            (
                meta.code().unwrap_or("Unknown").to_string(),
                meta.message().unwrap_or_default().to_string(),
                meta.request_id().unwrap_or("-").to_string(),
                Some(service.raw().status().as_u16()),
            )
        }
        other if refused_as_mutation(other) => (
            "ReadOnlyViolation".to_string(),
            crate::model::report(other),
            "-".to_string(),
            Some(400),
        ),
        other => (
            "Transport".to_string(),
            crate::model::report(other),
            "-".to_string(),
            None,
        ),
    };
    let class = match code.as_str() {
        c if THROTTLING_CODES.contains(&c) => RetryClass::Throttled,
        _ if status == Some(429) => RetryClass::Throttled,
        _ if status.is_none_or(|s| s >= 500) => RetryClass::Transient,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => RetryClass::AccessDenied,
        // Forbidden or unauthenticated whatever the code: a person must fix IAM or the credentials.
        _ if status == Some(401) || status == Some(403) => RetryClass::AccessDenied,
        c if TRANSIENT_CODES.contains(&c) => RetryClass::Transient,
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

/// Whether read-only clients refused the call (somewhere in the error's chain).
fn refused_as_mutation(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.downcast_ref::<ReadOnlyViolation>().is_some() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A fresh client token for one create call. The SDK re-sends it on every retry of that call, so
/// a retry after a lost response returns the first result instead of creating a second resource.
/// (A crash between a create and the status write is covered by the tags the create writes.)
pub fn token() -> String {
    let mut bytes = [0u8; 16];
    // The OS's generator; should it fail, a time-based token still differs per call.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long one AWS call may take: a slow endpoint fails that call (transient, retried with
/// backoff) instead of holding a reconcile, and with it a worker, indefinitely.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(90))
        .build()
}

/// The SDK's adaptive retry mode: retries with backoff and, once AWS throttles, a client-side rate
/// limit, so that the operator slows down instead of adding to the throttling.
pub fn retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::adaptive().with_max_attempts(4)
}

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
    pub s3: aws_sdk_s3::Client,
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// EC2 capacity: Auto Scaling groups, the AMI parameter, the instance role and profile.
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ssm: aws_sdk_ssm::Client,
    /// CloudFront is global: this client signs for us-east-1 whatever the region of the others.
    pub cloudfront: aws_sdk_cloudfront::Client,
    /// IAM is global: this client signs for us-east-1 whatever the region of the others.
    pub iam: aws_sdk_iam::Client,
    /// Route 53 is global: this client signs for us-east-1 whatever the region of the others.
    pub route53: aws_sdk_route53::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub calls: CallCounter,
}

/// A client of `$sdk` from `$config`, counting calls into `$calls`, sending them through `$http`
/// (the budgeted HTTP client), with the further builder settings given (`region(...)`).
macro_rules! counted {
    ($sdk:ident, $config:expr, $calls:expr, $http:expr $(, $setting:ident($($arg:expr),*))*) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                $(.$setting($($arg),*))*
                .interceptor($calls.clone())
                .http_client($http.clone())
                .build(),
        )
    };
}

impl Clients {
    /// Clients with the operator's own credentials.
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        Clients::for_account(config, "own")
    }

    /// Clients whose calls count against the [`budget`] of `account` (the account of an assumed
    /// role; `own` for the operator's credentials) in the configuration's region.
    pub fn for_account(config: &aws_config::SdkConfig, account: &str) -> Clients {
        Clients::with_counter(config, CallCounter::from_env(), account)
    }

    /// Clients that refuse, before sending it, every call that is not a read ([`is_read`]):
    /// `plan`'s. A mutation fails loudly (a [`ReadOnlyViolation`]) instead of happening.
    pub fn read_only(config: &aws_config::SdkConfig, account: &str) -> Clients {
        Clients::with_counter(
            config,
            CallCounter {
                read_only: true,
                ..CallCounter::from_env()
            },
            account,
        )
    }

    fn with_counter(config: &aws_config::SdkConfig, calls: CallCounter, account: &str) -> Clients {
        let calls = CallCounter {
            assumed: account != "own",
            ..calls
        };
        let global = || aws_config::Region::new("us-east-1");
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        let http = budget::Budgeted::wrap(config.http_client(), format!("{account} {region}"));
        Clients {
            ec2: counted!(aws_sdk_ec2, config, calls, http),
            elbv2: counted!(aws_sdk_elasticloadbalancingv2, config, calls, http),
            ecs: counted!(aws_sdk_ecs, config, calls, http),
            logs: counted!(aws_sdk_cloudwatchlogs, config, calls, http),
            scaling: counted!(aws_sdk_applicationautoscaling, config, calls, http),
            rds: counted!(aws_sdk_rds, config, calls, http),
            elasticache: counted!(aws_sdk_elasticache, config, calls, http),
            secrets: counted!(aws_sdk_secretsmanager, config, calls, http),
            autoscaling: counted!(aws_sdk_autoscaling, config, calls, http),
            ssm: counted!(aws_sdk_ssm, config, calls, http),
            cloudwatch: counted!(aws_sdk_cloudwatch, config, calls, http),
            sns: counted!(aws_sdk_sns, config, calls, http),
            ecr: counted!(aws_sdk_ecr, config, calls, http),
            // Route 53, CloudFront and IAM are global: their clients sign for us-east-1 whatever
            // the region of the others.
            route53: counted!(aws_sdk_route53, config, calls, http, region(global())),
            // With an endpoint of its own (an S3-compatible store, an emulator) there is no DNS
            // for `<bucket>.<endpoint>`: path-style addressing. AWS's endpoints keep virtual hosts.
            s3: counted!(
                aws_sdk_s3,
                config,
                calls,
                http,
                force_path_style(config.endpoint_url().is_some())
            ),
            cloudfront: counted!(aws_sdk_cloudfront, config, calls, http, region(global())),
            iam: counted!(aws_sdk_iam, config, calls, http, region(global())),
            calls,
        }
    }

    /// The region these clients call.
    pub fn region(&self) -> String {
        self.ecs.config().region().map(|r| r.to_string()).unwrap_or_default()
    }
}

impl events::EventClients {
    /// The drift-event pipeline's clients in `region`, with the operator's own credentials,
    /// counted and budgeted like the controllers' (a long poll holds no budget token while it
    /// waits: the token is taken when the request is sent).
    pub fn new(config: &aws_config::SdkConfig, region: &str) -> events::EventClients {
        let calls = CallCounter::from_env();
        let http = budget::Budgeted::wrap(config.http_client(), format!("own {region}"));
        let at = || aws_config::Region::new(region.to_string());
        events::EventClients {
            sqs: counted!(aws_sdk_sqs, config, calls, http, region(at())),
            events: counted!(aws_sdk_eventbridge, config, calls, http, region(at())),
            sts: counted!(aws_sdk_sts, config, calls, http, region(at())),
            region: region.to_string(),
        }
    }
}

/// AWS calls made by the current reconcile, and how many of them changed something: mutating
/// calls that succeeded (a failed one changed nothing, so it is no progress to restart a backoff
/// on). See [`counting`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub calls: u32,
    pub mutations: u32,
    /// Steps the reconcile applied (AWS or Kubernetes: a connection Secret rewritten is one).
    pub steps: u32,
}

/// Counts one applied step in the current reconcile's tally.
pub fn count_step() {
    let _ = TALLY.try_with(|t| {
        let before = t.get();
        t.set(Tally {
            steps: before.steps + 1,
            ..before
        })
    });
}

/// Counts one call made outside the SDK clients' interceptor (STS AssumeRole by the credentials
/// provider of a namespace's role): in the metrics and, as a read (it changes nothing in the
/// account), in the current reconcile's tally.
pub fn count_call(service: &str, operation: &str, succeeded: bool) {
    tally_call(service, operation, succeeded, false);
}

/// One AWS operation in the metrics and in the current reconcile's tally (a mutation when it
/// changed something).
fn tally_call(service: &str, operation: &str, succeeded: bool, mutation: bool) {
    crate::metrics::METRICS.aws_call(service, operation, succeeded);
    let _ = TALLY.try_with(|t| {
        let before = t.get();
        t.set(Tally {
            calls: before.calls + 1,
            mutations: before.mutations + u32::from(mutation),
            ..before
        })
    });
}

tokio::task_local! {
    static TALLY: std::cell::Cell<Tally>;
}

/// Runs `f`, counting the AWS calls it makes (every client counts into the task's tally).
pub async fn counting<F: std::future::Future>(f: F) -> (F::Output, Tally) {
    TALLY
        .scope(std::cell::Cell::new(Tally::default()), async {
            let out = f.await;
            (out, TALLY.with(std::cell::Cell::get))
        })
        .await
}

/// Whether an operation only reads.
pub fn is_read(operation: &str) -> bool {
    crate::model::change::is_read(operation)
}

/// The environment variable naming a file to which each distinct `service:operation` the
/// operator calls is appended, one per line, the first time it is seen (e.g. `EC2:CreateVpc`).
/// Unset: nothing is recorded. The end-to-end tests use it to check that `deploy/iam-policy.json`
/// grants every operation the operator performs (see `deploy/README.md`).
pub const RECORD_OPERATIONS: &str = "WEBSTACK_RECORD_OPERATIONS";

/// Counts AWS calls by `service:operation` (one per operation execution, retries not counted twice)
/// and, with [`RECORD_OPERATIONS`] set, records each new one.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: std::sync::Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
    record: Option<std::sync::Arc<std::path::PathBuf>>,
    /// Refuse every operation that is not a read, before it is sent.
    read_only: bool,
    /// Signed with a namespace's assumed role, not the operator's own credentials.
    assumed: bool,
}

/// A call that is not a read, refused by read-only clients ([`Clients::read_only`]).
#[derive(Debug, thiserror::Error)]
#[error("{service}:{operation} refused: these AWS clients only read (plan never changes AWS)")]
pub struct ReadOnlyViolation {
    pub service: String,
    pub operation: String,
}

impl CallCounter {
    /// A counter that records new operations to the file named by [`RECORD_OPERATIONS`], if set.
    pub fn from_env() -> CallCounter {
        CallCounter {
            record: std::env::var_os(RECORD_OPERATIONS)
                .filter(|p| !p.is_empty())
                .map(|p| std::sync::Arc::new(p.into())),
            ..CallCounter::default()
        }
    }

    /// A copy of the counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Forgets the counts so far.
    pub fn reset(&self) {
        if let Ok(mut m) = self.counts.lock() {
            m.clear();
        }
    }

    /// Appends `operation` to the record file (one write of one line, so lines from several
    /// processes or counters never interleave). A failure to record is logged, never fatal.
    fn record(&self, operation: &str) {
        use std::io::Write;
        let Some(path) = &self.record else { return };
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.as_path())
            .and_then(|mut f| f.write_all(format!("{operation}\n").as_bytes()));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot record AWS operation");
        }
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "webstack-call-counter"
    }

    /// Tells the budgeted HTTP client ([`budget::Budgeted`]) which operation each attempt is.
    fn modify_before_transmit(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(meta) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            let operation = budget::Operation {
                service: budget::service_key(meta.service()),
                read: is_read(meta.name()),
            };
            context.request_mut().add_extension(operation);
        }
        Ok(())
    }

    /// Read-only clients refuse anything but a read, before the request leaves. The identifiers the
    /// request names are the current reconcile's ([`ids`]).
    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if ids::enabled() {
            let request = context.request();
            ids::note(request.uri().as_bytes());
            ids::note(request.body().bytes().unwrap_or_default());
            ids::note_place(|| ids::Place {
                own: !self.assumed,
                global: cfg
                    .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
                    .is_some_and(|m| budget::global(&budget::service_key(m.service()))),
                region: cfg
                    .load::<aws_config::Region>()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            });
        }
        if !self.read_only {
            return Ok(());
        }
        match cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            Some(meta) if is_read(meta.name()) => Ok(()),
            found => Err(Box::new(ReadOnlyViolation {
                service: found.map(|m| m.service().to_string()).unwrap_or_default(),
                operation: found.map_or_else(|| "unknown operation".into(), |m| m.name().to_string()),
            })),
        }
    }

    /// Every attempt's response: what a success names is the current reconcile's ([`ids`]);
    /// throttling counted (the SDK retries it, so the operation's
    /// outcome alone would hide it). After deserialization, when the body has been read: before
    /// it, the XML protocols' error code (EC2, query, S3) is not readable yet.
    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let response = context.response();
        let status = response.status().as_u16();
        if status < 300 && ids::enabled() {
            ids::note(response.body().bytes().unwrap_or_default());
        }
        if status >= 400 {
            let error_type = response.headers().get("x-amzn-ErrorType");
            let body = response.body().bytes().unwrap_or_default();
            if is_throttling(status, error_type, body) {
                crate::metrics::METRICS.throttled();
            }
        }
        Ok(())
    }

    /// Once per operation, after its last attempt (the operation's metadata is not yet in the
    /// config bag when execution starts).
    fn read_after_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let (Some(meta), Ok(mut m)) = (
            cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>(),
            self.counts.lock(),
        ) {
            let operation = format!("{}:{}", meta.service(), meta.name());
            if !m.contains_key(&operation) {
                self.record(&operation);
            }
            *m.entry(operation).or_default() += 1;
            let succeeded = matches!(context.output_or_error(), Some(Ok(_)));
            tally_call(
                meta.service(),
                meta.name(),
                succeeded,
                !is_read(meta.name()) && succeeded,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::create_service::CreateServiceError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<CreateServiceError, HttpResponse> {
        let err = CreateServiceError::generic(ErrorMetadata::builder().code(code).message("m").build());
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    /// The same rule per attempt (the throttling metric) as for final errors.
    #[test]
    fn throttling_is_recognised_in_every_protocol() {
        assert!(is_throttling(429, None, b""));
        assert!(is_throttling(400, Some("ThrottlingException:http://internal"), b""));
        assert!(is_throttling(
            400,
            None,
            b"<ErrorResponse><Error><Code>Throttling</Code>"
        ));
        assert!(is_throttling(
            503,
            None,
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        ));
        assert!(is_throttling(503, None, b"<Error><Code>SlowDown</Code></Error>"));
        assert!(!is_throttling(400, Some("ValidationException"), b""));
        assert!(!is_throttling(200, None, b"<Code>Throttling</Code>"));
    }

    #[test]
    fn http_status_decides_before_the_code() {
        let cases = [
            // ECS's own failure and Application Auto Scaling's update in flight: retried soon,
            // never "change the spec".
            ("ServerException", 500, RetryClass::Transient),
            ("SomethingNew", 503, RetryClass::Transient),
            ("ConcurrentUpdateException", 400, RetryClass::Transient),
            ("ThrottlingException", 400, RetryClass::Throttled),
            ("RequestLimitExceeded", 503, RetryClass::Throttled),
            ("Anything", 429, RetryClass::Throttled),
            ("AccessDeniedException", 400, RetryClass::AccessDenied),
            ("UnauthorizedOperation", 403, RetryClass::AccessDenied),
            ("Unknown", 403, RetryClass::AccessDenied),
            ("DependencyViolation", 400, RetryClass::Transient),
            // A state that ends by itself: a wait.
            ("InvalidDBInstanceState", 400, RetryClass::Transient),
            ("InvalidReplicationGroupState", 400, RetryClass::Transient),
            ("InvalidCacheClusterState", 400, RetryClass::Transient),
            ("InvalidParameterException", 400, RetryClass::Terminal),
        ];
        for (code, status, want) in cases {
            let e = classify("CreateService", service_error(code, status));
            assert_eq!(e.class, want, "{code} {status}");
            assert_eq!(e.code, code);
        }
    }

    #[test]
    fn tokens_differ_per_call() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
