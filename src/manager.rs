//! The controller manager behind `webstack-operator run`: options, start-up checks (cluster reachable,
//! CRDs installed and Established, an AWS region configured) and one driver per kind, which run
//! until SIGINT/SIGTERM: WebStack, TargetGroup, ListenerRule, ContainerService and StaticSite.

use std::sync::Arc;
use std::time::Duration;

use crate::reconcile::recorder::Recorder;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::events::Reporter;
use kube::{Api, Client, ResourceExt};
use thiserror::Error;

use crate::api;
use crate::containerservice::ContainerServiceReconciler;
use crate::leader::Leadership;
use crate::listenerrule::ListenerRuleReconciler;
use crate::reconcile::context::Fence;
use crate::reconcile::tenants::Tenants;
use crate::reconcile::{Context, driver};
use crate::staticsite::StaticSiteReconciler;
use crate::targetgroup::TargetGroupReconciler;
use crate::webstack::WebStackReconciler;

pub use crate::model::report;

pub mod kube_client;
mod shards;

/// Options of `webstack-operator run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunOptions {
    /// Identifies this Kubernetes cluster in the `webstack.io/cluster` tag, so two clusters sharing an
    /// AWS account never touch each other's resources.
    #[arg(long, env = "WEBSTACK_CLUSTER_ID", default_value = "default")]
    pub cluster_id: String,
    /// How often every resource is re-checked against AWS for drift, e.g. `10m`, `90s`, `1h`.
    #[arg(long, env = "WEBSTACK_RESYNC_PERIOD", default_value = "10m", value_parser = parse_duration)]
    pub resync_period: Duration,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WEBSTACK_NAMESPACE")]
    pub namespace: Option<String>,
    /// How many objects of each kind are reconciled at once.
    #[arg(long, env = "WEBSTACK_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Threads running the reconciles (default: one per core the process may use, at most 4).
    #[arg(long, env = "WEBSTACK_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
    /// Where `/metrics` is served (Prometheus text format).
    #[arg(long, env = "WEBSTACK_METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_bind_address: String,
    /// Where `/healthz` and `/readyz` are served.
    #[arg(long, env = "WEBSTACK_HEALTH_PROBE_BIND_ADDRESS", default_value = "0.0.0.0:8081")]
    pub health_probe_bind_address: String,
    /// Reconcile only while holding a Lease, so that several replicas (or the overlap of a rolling
    /// update) never act at once; the others wait as standbys.
    #[arg(long, env = "WEBSTACK_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: `POD_NAMESPACE`, else `webstack-system`).
    #[arg(long, env = "WEBSTACK_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "WEBSTACK_LEADER_ELECTION_ID", default_value = "webstack-operator")]
    pub leader_election_id: String,
    /// How long a standby waits, after the lease last changed, before taking it.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps going without a successful renewal before it stops.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby retries.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,
    /// The client-side budget of AWS calls per account, region and service: `default` (rates well
    /// under AWS's documented limits), `off`, or the defaults changed by `service=rate/burst` pairs
    /// (`ec2=20/100,route53=5/5`, `*=` for the other services). See docs/how-it-works.md.
    #[arg(long, env = "WEBSTACK_AWS_BUDGET", default_value = "default", value_parser = crate::aws::budget::Rates::parse)]
    pub aws_budget: crate::aws::budget::Rates,
    /// Drift events: `off` (every object re-checked every `--resync-period`), `create` (the
    /// operator creates its SQS queue and EventBridge rules at start), or `queue=<url>[,<url>]`
    /// (queues and rules made by the platform team). See docs/how-it-works.md.
    #[arg(long, env = "WEBSTACK_EVENTS", default_value = "off", value_parser = crate::reconcile::events::Mode::parse)]
    pub events: crate::reconcile::events::Mode,
    /// How often the events queue is tagged as a heartbeat, and how long its CloudTrail event may
    /// take to come back before the pipeline counts as degraded.
    #[arg(long, env = "WEBSTACK_EVENTS_HEARTBEAT", default_value = "10m", value_parser = parse_duration)]
    pub events_heartbeat: Duration,
    /// The re-check period while drift events are healthy (events bring changes sooner; degraded,
    /// `--resync-period` applies).
    #[arg(long, env = "WEBSTACK_EVENTS_RESYNC_PERIOD", default_value = "2h", value_parser = parse_duration)]
    pub events_resync_period: Duration,
    /// How often the batched sweep reads every resource it covers, across all stacks, while drift
    /// events are on (`off`: never): an object whose resources changed since the last sweep is
    /// reconciled. See docs/how-it-works.md.
    #[arg(long, env = "WEBSTACK_EVENTS_SWEEP_PERIOD", default_value = "10m", value_parser = parse_duration_or_off)]
    pub events_sweep_period: Duration,
    /// The re-check period, while drift events are healthy, of an object the sweep covers.
    #[arg(long, env = "WEBSTACK_EVENTS_SWEPT_RESYNC_PERIOD", default_value = "6h", value_parser = parse_duration)]
    pub events_swept_resync_period: Duration,
    /// Split the namespaces into this many shards (a hash of the namespace's name), each
    /// reconciled by the one replica holding its Lease `<leader-election-id>-shard-<i>`; replicas
    /// share the shards out and take over a dead one's. 1: not sharded. Exclusive with
    /// `--leader-elect` and `--namespace`. With `--events`, the holder of shard 0 runs the
    /// pipeline and hands the others what they are to hear (see docs/operations.md).
    #[arg(long, env = "WEBSTACK_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: u32,
    /// Reconcile only objects of the namespaces whose labels this selects: `key=value`,
    /// `key!=value`, `key` or `!key`, comma-separated, all of which must hold.
    #[arg(long, env = "WEBSTACK_NAMESPACE_SELECTOR", value_parser = crate::reconcile::policy::parse_selector)]
    pub namespace_selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    /// Refuse all work in a namespace no WebStackPolicy selects (objects there are Stalled,
    /// `PolicyViolation`); without it such a namespace gets the operator's safe defaults only.
    #[arg(long, env = "WEBSTACK_REQUIRE_POLICY")]
    pub require_policy: bool,
}

/// Errors that stop the manager.
#[derive(Debug, Error)]
pub enum ManagerError {
    #[error("cannot build a Kubernetes client from the kubeconfig or in-cluster configuration")]
    KubeConfig(#[source] kube::Error),
    #[error("cannot read CustomResourceDefinition {name}")]
    ReadCrd {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("CustomResourceDefinition {name} is not installed: apply crds/ (or the Helm chart) first")]
    CrdMissing { name: String },
    #[error("CustomResourceDefinition {name} is not Established yet")]
    CrdNotEstablished { name: String },
    #[error("no AWS region configured: set AWS_REGION (or a profile region)")]
    NoRegion,
    #[error("cannot serve {what} on {address}")]
    Serve {
        what: &'static str,
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("leader election: --renew-deadline must be shorter than --lease-duration and longer than --retry-period")]
    LeaseTimings,
    #[error("leadership lost: stopping so that only the new leader acts (the process is restarted as a standby)")]
    LeadershipLost,
    #[error("sharding: a shard's controllers ended while it was held; stopping so that the process is restarted")]
    ShardStopped,
    #[error("--shards {0}: {1}")]
    Sharding(u32, &'static str),
}

impl RunOptions {
    /// `--worker-threads`, else one per core the process may use (its CPU limit counted), at
    /// most [`MAX_DEFAULT_WORKERS`].
    pub fn worker_threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        self.worker_threads.map_or_else(|| default_workers(cores), usize::from)
    }
}

/// The default number of worker threads at most. The operator waits on AWS and the API server
/// far more than it computes (converging 1,000 stacks took a third of a core), and each worker
/// holds about 90 KiB (32 workers: 2.7 MiB more own memory than 2, at 100 stacks): on a large node
/// without a CPU limit, a worker per core would spend the memory limit on idle threads.
pub const MAX_DEFAULT_WORKERS: usize = 4;

fn default_workers(cores: usize) -> usize {
    cores.clamp(1, MAX_DEFAULT_WORKERS)
}

/// kube-runtime's per-reconcile span (and its other `info` lines: start and shutdown notices) off.
const RECONCILE_SPANS_OFF: &str = "kube_runtime::controller=warn";

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    init_tracing_at("info");
}

/// Logs to stderr, filtered by `RUST_LOG` (default `default`: `plan` logs only warnings).
///
/// kube-runtime's controllers open an `info` span per reconcile ("reconciling object", naming
/// the object and why it is due), kept by the subscriber with its fields formatted for as long as
/// the reconcile exists, waiting included: thousands at once at scale (0.75 MB of the heap's peak
/// at 300 stacks), and the operator's own lines name the object (`key`) already. So it is
/// recorded only when `RUST_LOG` names `kube_runtime` (e.g. `info,kube_runtime=debug`).
pub fn init_tracing_at(default: &str) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_string());
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(&directives, default))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The filter of `directives` (`default` if they do not parse), kube-runtime's reconcile spans off
/// unless they name `kube_runtime`.
fn log_filter(directives: &str, default: &str) -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_new(directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    match directives.contains("kube_runtime") {
        true => filter,
        false => filter.add_directive(RECONCILE_SPANS_OFF.parse().expect("a directive")),
    }
}

/// Runs the manager until a shutdown signal, with the Kubernetes client of the kubeconfig or
/// in-cluster configuration and AWS as the SDK's standard environment configures it.
pub async fn run(opts: RunOptions) -> Result<(), ManagerError> {
    run_with(opts, None, aws_config::defaults(aws_config::BehaviorVersion::latest())).await
}

/// [`run`] with a given Kubernetes client (`None`: the kubeconfig or in-cluster configuration) and
/// AWS configuration (the operator's timeouts and retries are added to it). The local demo runs
/// the manager in its own process this way, against the test API server and the emulator.
pub async fn run_with(
    opts: RunOptions,
    client: Option<Client>,
    aws: aws_config::ConfigLoader,
) -> Result<(), ManagerError> {
    use crate::metrics::{Endpoint, METRICS, serve};
    // Options that cannot work together fail before anything starts.
    let sharding = sharding_config(&opts)?;
    let lease = lease_config(&opts)?;
    // Probes first: a standby waiting for leadership is alive and ready too.
    for (what, address, endpoint) in [
        ("metrics", &opts.metrics_bind_address, Endpoint::Metrics),
        ("health probes", &opts.health_probe_bind_address, Endpoint::Health),
    ] {
        serve(address, endpoint).await.map_err(|source| ManagerError::Serve {
            what,
            address: address.clone(),
            source,
        })?;
    }
    let client = match client {
        Some(client) => client,
        None => kube_client::infer().await.map_err(ManagerError::KubeConfig)?,
    };
    check_crds(&client).await?;
    crate::aws::budget::configure(opts.aws_budget.clone());
    let aws = aws
        .timeout_config(crate::aws::timeouts())
        .retry_config(crate::aws::retries())
        .load()
        .await;
    let region = aws.region().ok_or(ManagerError::NoRegion)?.to_string();
    METRICS.set_ready();
    tracing::info!(cluster_id = %opts.cluster_id, %region, resync = ?opts.resync_period, namespace = ?opts.namespace, shards = opts.shards, "webstack-operator started");
    let reporter = Reporter {
        controller: "webstack-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    // WebStackPolicies and namespaces, cached before the first reconcile (cluster-wide, also with
    // --namespace: a policy selects namespaces by their labels).
    let tenants = Tenants::start(&client, opts.require_policy).await;
    let events = crate::reconcile::events::Options {
        mode: opts.events,
        heartbeat: opts.events_heartbeat,
        resync: opts.events_resync_period,
        sweep: opts.events_sweep_period,
        swept_resync: opts.events_swept_resync_period,
    };
    let base = Base {
        events: Arc::default(),
        client: client.clone(),
        aws,
        cluster_id: opts.cluster_id.clone(),
        resync: opts.resync_period,
        recorder,
        tenants: tenants.clone(),
        namespace_selector: opts.namespace_selector.clone(),
        concurrency: opts.concurrency,
    };
    if let Some(sharding) = sharding {
        let shards = sharding.shards;
        // One pipeline for the process, run by the holder of shard 0; every replica follows what
        // it hands over (reconcile::events::hints).
        if events.mode != crate::reconcile::events::Mode::Off {
            use crate::reconcile::events::hints;
            let lease = &sharding.lease;
            let place = hints::Place::of(&lease.namespace, &lease.name, &lease.identity);
            hints::start(&client, place, &base.events, &events);
        }
        return shards::run(client, sharding, move |shard, fence, stop| {
            let scope = driver::Scope {
                namespace: None,
                shard: Some((shard, shards)),
                stop: Some(stop),
            };
            let ctx = base.context(fence, &scope);
            let (tenants, n) = (base.tenants.clone(), base.concurrency);
            let (client, stopped) = (ctx.client.clone(), scope.stopped());
            let (pipeline, options) = (ctx.clone(), events.clone());
            // One replica writes the policies' status and runs the drift-event pipeline: the
            // holder of shard 0.
            let status = async move {
                if shard == 0 {
                    tokio::select! {
                        _ = futures::future::join(
                            tenants.run_status(client),
                            crate::reconcile::events::run(pipeline, options),
                        ) => {}
                        () = stopped => {}
                    }
                }
            };
            tokio::spawn(async move {
                // Its next replica reports the shard's objects, however this task ends (aborted
                // after the hand-over's grace period too): dropped last.
                let _forget = ForgetShard(scope.clone(), ctx.events.clone());
                tokio::join!(controllers(ctx, scope, n), status);
            })
        })
        .await;
    }
    let leadership = match lease {
        Some(config) => Some(crate::leader::acquire(client.clone(), config).await),
        None => None,
    };
    // Every reconcile changes AWS and Kubernetes only while the lease holds.
    let fence = leadership.as_ref().map_or_else(Fence::unbounded, Leadership::fence);
    let scope = driver::Scope {
        namespace: opts.namespace,
        ..driver::Scope::default()
    };
    let ctx = base.context(fence, &scope);
    let all = async {
        tokio::join!(
            crate::reconcile::events::run(ctx.clone(), events),
            controllers(ctx.clone(), scope, opts.concurrency),
            tenants.run_status(ctx.client.clone()),
        )
    };
    match leadership {
        None => {
            all.await;
        }
        Some(leadership) => {
            tokio::select! {
                _ = all => leadership.release().await,
                () = leadership.lost() => return Err(ManagerError::LeadershipLost),
            }
        }
    }
    tracing::info!("shut down");
    Ok(())
}

/// Forgets a shard's objects in the metrics and the drift events' index when dropped.
struct ForgetShard(driver::Scope, Arc<crate::reconcile::events::Events>);

impl Drop for ForgetShard {
    fn drop(&mut self) {
        let (scope, events) = (&self.0, &self.1);
        crate::metrics::METRICS.forget_namespaces(|ns| scope.holds(ns));
        events.forget_namespaces(|ns| scope.holds(ns));
    }
}

/// What every reconcile context of the process is made of (one per shard when sharded).
struct Base {
    /// One for the process: its shards share the index and the pipeline.
    events: Arc<crate::reconcile::events::Events>,
    client: Client,
    aws: aws_config::SdkConfig,
    cluster_id: String,
    resync: Duration,
    recorder: Recorder,
    tenants: Tenants,
    namespace_selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    concurrency: u16,
}

impl Base {
    /// A context for the objects of `scope`, with its own caches of them (their watches start now).
    fn context(&self, fence: Fence, scope: &driver::Scope) -> Arc<Context> {
        let caches = Arc::new(crate::reconcile::caches::Caches::start(&self.client, scope));
        Arc::new(
            Context::new(
                self.client.clone(),
                self.aws.clone(),
                self.cluster_id.clone(),
                self.resync,
                self.recorder.clone(),
            )
            .with_fence(fence)
            .with_events(self.events.clone())
            .with_tenants(self.tenants.clone())
            .with_namespace_selector(self.namespace_selector.clone())
            .with_caches(caches),
        )
    }
}

/// One controller per kind, on the objects of `scope`, until SIGINT/SIGTERM or its stop.
async fn controllers(ctx: Arc<Context>, scope: driver::Scope, n: u16) {
    tokio::join!(
        crate::reconcile::departed::run(ctx.clone(), scope.clone()),
        driver::run::<WebStackReconciler>(ctx.clone(), scope.clone(), n),
        driver::run::<TargetGroupReconciler>(ctx.clone(), scope.clone(), n),
        driver::run::<ListenerRuleReconciler>(ctx.clone(), scope.clone(), n),
        driver::run::<ContainerServiceReconciler>(ctx.clone(), scope.clone(), n),
        driver::run::<StaticSiteReconciler>(ctx, scope, n),
    );
}

/// The shards to split the namespaces into with `--shards` above 1, the options checked.
fn sharding_config(opts: &RunOptions) -> Result<Option<shards::Sharding>, ManagerError> {
    let n = opts.shards;
    if n <= 1 {
        return Ok(None);
    }
    if opts.leader_elect {
        return Err(ManagerError::Sharding(
            n,
            "exclusive with --leader-elect: each shard has its own Lease (<leader-election-id>-shard-<i>)",
        ));
    }
    if opts.namespace.is_some() {
        return Err(ManagerError::Sharding(
            n,
            "shards split namespaces, so it cannot be used with --namespace (use --namespace-selector)",
        ));
    }
    let lease = lease_settings(opts)?;
    Ok(Some(shards::Sharding { shards: n, lease }))
}

/// The Lease to hold with `--leader-elect`, its timings checked.
fn lease_config(opts: &RunOptions) -> Result<Option<crate::leader::LeaseConfig>, ManagerError> {
    if !opts.leader_elect {
        return Ok(None);
    }
    lease_settings(opts).map(Some)
}

/// The lease settings of the options (namespace, name, this replica's identity, timings checked).
fn lease_settings(opts: &RunOptions) -> Result<crate::leader::LeaseConfig, ManagerError> {
    if opts.renew_deadline >= opts.lease_duration || opts.renew_deadline <= opts.retry_period {
        return Err(ManagerError::LeaseTimings);
    }
    let namespace = opts
        .leader_election_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "webstack-system".into());
    Ok(crate::leader::LeaseConfig {
        namespace,
        name: opts.leader_election_id.clone(),
        identity: crate::leader::identity(),
        lease_duration: opts.lease_duration,
        renew_deadline: opts.renew_deadline,
        retry_period: opts.retry_period,
    })
}

/// Every CRD of [`api::crds`] must exist and be Established.
pub async fn check_crds(client: &Client) -> Result<(), ManagerError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for want in api::crds() {
        let name = want.name_any();
        let have = crds
            .get_opt(&name)
            .await
            .map_err(|source| ManagerError::ReadCrd {
                name: name.clone(),
                source,
            })?
            .ok_or_else(|| ManagerError::CrdMissing { name: name.clone() })?;
        let established = have
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if !established {
            return Err(ManagerError::CrdNotEstablished { name });
        }
    }
    Ok(())
}

/// Parses `90s`, `10m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}` has unknown unit `{unit}`: use s, m or h")),
    };
    if secs == 0 {
        return Err("the period must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// A duration, or `off` (zero).
pub fn parse_duration_or_off(s: &str) -> Result<Duration, String> {
    if s.trim() == "off" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_runtime_reconcile_spans_are_off_unless_rust_log_names_it() {
        use tracing_subscriber::layer::SubscriberExt;
        let disabled = |directives: &str, target_is_kube: bool| {
            let subscriber = tracing_subscriber::registry().with(log_filter(directives, "info"));
            tracing::subscriber::with_default(subscriber, || match target_is_kube {
                true => tracing::info_span!(target: "kube_runtime::controller", "reconciling object").is_disabled(),
                false => tracing::info_span!(target: "webstack_operator::reconcile", "ours").is_disabled(),
            })
        };
        assert!(disabled("info", true));
        assert!(!disabled("info", false));
        assert!(!disabled("info,kube_runtime=debug", true));
        // Unparsable directives fall back to the default, spans off.
        assert!(disabled("info,[", true));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration_or_off("off"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_or_off("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    /// One worker per core up to four; `--worker-threads` (or its variable) overrides it.
    #[test]
    fn worker_threads() {
        assert_eq!(default_workers(1), 1);
        assert_eq!(default_workers(2), 2);
        assert_eq!(default_workers(64), 4);
        let opts = |args: &[&str]| {
            #[derive(clap::Parser)]
            struct Cli {
                #[command(flatten)]
                run: RunOptions,
            }
            <Cli as clap::Parser>::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|c| c.run)
        };
        assert_eq!(opts(&["--worker-threads", "12"]).unwrap().worker_threads(), 12);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(opts(&[]).unwrap().worker_threads(), cores.min(4));
        assert!(opts(&["--worker-threads", "0"]).is_err());
    }
}
