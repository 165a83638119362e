//! A client-side budget of AWS calls, shared by every reconcile: a token bucket per (scope,
//! service), where the scope is the account (the assumed role's, else the operator's own) and the
//! region, or `global` for the global services (IAM, Route 53, CloudFront), whose limits are per
//! account. AWS's API limits are per account and region and shared with everything else the
//! account runs, so the operator stays below them instead of finding them: a call waits for a
//! token before it is sent (every attempt, retries included).
//!
//! Reads yield to mutations when the budget is short: a read takes a token only while a quarter of
//! the bucket would be left, a mutation takes any token. The reads of a settled object's periodic
//! re-check ([`recheck`]: the driver marks its reconcile) yield to every other call: such a read
//! takes a token only while no other read or mutation waits for one in its bucket, so objects
//! being created, changed, or corrected get the budget first and re-checks use what is left (at
//! 100 stacks re-checked every 60 s, re-checks took most of the Elastic Load Balancing budget the
//! converging stacks needed). When AWS throttles anyway, the SDK's adaptive retry mode
//! ([`super::retries`]) slows the client further.
//!
//! Default rates, well under AWS's documented limits (EC2 API Reference, "Request throttling":
//! a bucket of 100 and a refill of 20/s for each non-mutating action, 5/s for mutating ones; Route
//! 53, "Quotas on API requests": 5 requests per second per account): EC2 10/s (burst 50), Elastic
//! Load Balancing 10/s (burst 40), ECS 10/s (burst 40), IAM 5/s (burst 10), Route 53 3/s (burst
//! 5), CloudFront 2/s (burst 10), every other service 10/s (burst 40). `--aws-budget` changes them
//! (`ec2=20/100,route53=5/5`, `*=` for the others) or turns the budget `off`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The share of a bucket kept for mutations: reads wait rather than go below it.
const MUTATION_RESERVE: f64 = 0.25;

/// A sustained rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    const fn new(per_second: f64, burst: f64) -> Rate {
        Rate { per_second, burst }
    }
}

/// The rates of every service (by [`service_key`]), `*` for the others; empty: no budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates(BTreeMap<String, Rate>);

impl Default for Rates {
    fn default() -> Rates {
        Rates(
            [
                ("ec2", Rate::new(10.0, 50.0)),
                ("elasticloadbalancingv2", Rate::new(10.0, 40.0)),
                ("ecs", Rate::new(10.0, 40.0)),
                ("iam", Rate::new(5.0, 10.0)),
                ("route53", Rate::new(3.0, 5.0)),
                ("cloudfront", Rate::new(2.0, 10.0)),
                ("*", Rate::new(10.0, 40.0)),
            ]
            .into_iter()
            .map(|(k, r)| (k.to_string(), r))
            .collect(),
        )
    }
}

impl Rates {
    /// `off`, `default`, or the defaults changed by `service=rate/burst` pairs separated by commas
    /// (`ec2=20/100,route53=5/5,*=5/20`; `elbv2` names Elastic Load Balancing).
    pub fn parse(spec: &str) -> Result<Rates, String> {
        let spec = spec.trim();
        if spec == "off" {
            return Ok(Rates(BTreeMap::new()));
        }
        let mut rates = Rates::default();
        if spec == "default" || spec.is_empty() {
            return Ok(rates);
        }
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("`{pair}`: expected service=rate/burst, e.g. ec2=20/100");
            let (service, rate) = pair.split_once('=').ok_or_else(bad)?;
            let (per_second, burst) = rate.split_once('/').ok_or_else(bad)?;
            let per_second: f64 = per_second.trim().parse().map_err(|_| bad())?;
            let burst: f64 = burst.trim().parse().map_err(|_| bad())?;
            if !(per_second > 0.0 && burst >= 1.0 && per_second.is_finite() && burst.is_finite()) {
                return Err(format!("`{pair}`: the rate must be positive and the burst at least 1"));
            }
            let service = match service_key(service).as_str() {
                "elbv2" => "elasticloadbalancingv2".to_string(),
                other => other.to_string(),
            };
            rates.0.insert(service, Rate::new(per_second, burst));
        }
        Ok(rates)
    }

    fn of(&self, service: &str) -> Option<Rate> {
        self.0.get(service).or_else(|| self.0.get("*")).copied()
    }
}

/// A service's key in [`Rates`]: its SDK service id in lower case without spaces
/// (`Elastic Load Balancing v2` → `elasticloadbalancingv2`, `Route 53` → `route53`).
pub fn service_key(service: &str) -> String {
    service
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The services whose limits are per account, not per region.
pub(crate) fn global(service: &str) -> bool {
    matches!(service, "iam" | "route53" | "cloudfront")
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Reads and mutations (not re-checks) waiting for a token: re-checks yield while any do.
    waiting: usize,
}

/// The process's buckets.
#[derive(Debug)]
pub struct Budget {
    rates: Rates,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

static BUDGET: OnceLock<Budget> = OnceLock::new();

/// Sets the process's rates (once, at start-up; later calls change nothing). Without it the
/// defaults apply.
pub fn configure(rates: Rates) {
    let _ = BUDGET.set(Budget::new(rates));
}

/// The process's budget.
pub fn budget() -> &'static Budget {
    BUDGET.get_or_init(|| Budget::new(Rates::default()))
}

/// Whether a call waits as a read, as a mutation, or as a read of a settled object's re-check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Read,
    Mutation,
    Recheck,
}

tokio::task_local! {
    static RECHECK: bool;
}

/// Runs `work` (a reconcile) with its AWS reads waiting as [`Call::Recheck`] if `recheck`. The
/// HTTP client reads it from the task when the SDK sends a request; work spawned onto other
/// tasks, and everything outside a reconcile (sweeps, the event queue), waits as a plain read.
/// Not an `async fn`: that would hold `work` twice (its argument and the scope), and a
/// reconcile is tens of KiB in a debug build, built on the stack before it is boxed (the first
/// version overflowed a worker's stack). Pass it boxed.
pub fn recheck<F: std::future::Future>(recheck: bool, work: F) -> tokio::task::futures::TaskLocalFuture<bool, F> {
    RECHECK.scope(recheck, work)
}

fn in_recheck() -> bool {
    RECHECK.try_with(|r| *r).unwrap_or(false)
}

/// A call counted among its bucket's waiters until it takes a token or is dropped.
struct Queued<'a> {
    budget: &'a Budget,
    key: Option<(String, String)>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut buckets = self.budget.buckets.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(bucket) = buckets.get_mut(&key) {
                bucket.waiting = bucket.waiting.saturating_sub(1);
            }
        }
    }
}

impl Budget {
    pub fn new(rates: Rates) -> Budget {
        Budget {
            rates,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long a `call` to `service` of `scope` must wait before it may be sent (zero: it took
    /// a token now). A read or mutation that must wait is counted among the bucket's waiters
    /// (`queued` holds it) until it takes one.
    fn try_take(&self, scope: &str, service: &str, call: Call, now: Instant, queued: &mut Queued<'_>) -> Duration {
        let Some(rate) = self.rates.of(service) else {
            return Duration::ZERO;
        };
        let scope = if global(service) { "global" } else { scope };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets
            .entry((scope.to_string(), service.to_string()))
            .or_insert(Bucket {
                tokens: rate.burst,
                at: now,
                waiting: 0,
            });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
        bucket.at = now;
        let needed = match call {
            Call::Mutation => 1.0,
            Call::Read | Call::Recheck => 1.0 + (rate.burst * MUTATION_RESERVE).floor(),
        };
        let was_queued = queued.key.is_some();
        // A re-check yields to the others waiting (itself never counted among them).
        let yields = call == Call::Recheck && bucket.waiting > 0;
        if bucket.tokens >= needed && !yields {
            bucket.tokens -= 1.0;
            if queued.key.take().is_some() {
                bucket.waiting = bucket.waiting.saturating_sub(1);
            }
            crate::metrics::METRICS.budget_tokens(service, bucket.tokens);
            return Duration::ZERO;
        }
        if call != Call::Recheck && !was_queued {
            bucket.waiting += 1;
            queued.key = Some((scope.to_string(), service.to_string()));
        }
        // A yielding re-check looks again after one token's time (the others take theirs).
        let short = (needed - bucket.tokens).max(if yields { 1.0 } else { 0.0 });
        Duration::from_secs_f64(short / rate.per_second)
    }

    /// Waits until a `call` to `service` (its [`service_key`]) of `scope` may be sent.
    pub async fn take(&self, scope: &str, service: &str, call: Call) {
        let mut waited = Duration::ZERO;
        let mut queued = Queued {
            budget: self,
            key: None,
        };
        loop {
            let wait = self.try_take(scope, service, call, Instant::now(), &mut queued);
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
        if !waited.is_zero() {
            let label = match call {
                Call::Read => "read",
                Call::Mutation => "mutation",
                Call::Recheck => "recheck",
            };
            crate::metrics::METRICS.budget_waited(service, label, waited);
        }
    }
}

/// What the call counter tells the budget of each request (a request extension): the service
/// (its [`service_key`]) and whether the operation only reads.
#[derive(Clone, Debug)]
pub struct Operation {
    pub service: String,
    pub read: bool,
}

/// An HTTP client that takes a token from the [`budget`] before each attempt is sent.
#[derive(Clone, Debug)]
pub struct Budgeted {
    inner: SharedHttpClient,
    scope: String,
}

impl Budgeted {
    /// Wraps `inner` (default: an HTTPS client built as the SDK builds its default one) for the
    /// calls of `scope` (the account, or `own`, and the region).
    pub fn wrap(inner: Option<SharedHttpClient>, scope: String) -> SharedHttpClient {
        let inner = inner.unwrap_or_else(default_https_client);
        SharedHttpClient::new(Budgeted { inner, scope })
    }
}

/// The SDK's default HTTPS client for the latest behavior version (aws-smithy-runtime's
/// `default_https_client`, which is not public): hyper 1.x with rustls over aws-lc, the proxy
/// taken from the environment, the connector settings (timeouts) and sleep of each client.
fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

impl HttpClient for Budgeted {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            inner: self.inner.http_connector(settings, components),
            scope: self.scope.clone(),
        })
    }
}

#[derive(Clone, Debug)]
struct BudgetedConnector {
    inner: SharedHttpConnector,
    scope: String,
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, scope) = (self.inner.clone(), self.scope.clone());
        // Read here, in the reconcile's task that sends the request.
        let recheck = in_recheck();
        HttpConnectorFuture::new(async move {
            if let Some(op) = request.extension::<Operation>().cloned() {
                let call = match (op.read, recheck) {
                    (false, _) => Call::Mutation,
                    (true, false) => Call::Read,
                    (true, true) => Call::Recheck,
                };
                budget().take(&scope, &op.service, call).await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Budget {
        /// One attempt, not left waiting: counted among the waiters only for its duration.
        fn try_once(&self, scope: &str, service: &str, call: Call, now: Instant) -> Duration {
            self.try_take(
                scope,
                service,
                call,
                now,
                &mut Queued {
                    budget: self,
                    key: None,
                },
            )
        }

        fn waiting(&self, scope: &str, service: &str) -> usize {
            let buckets = self.buckets.lock().unwrap();
            buckets
                .get(&(scope.to_string(), service.to_string()))
                .map_or(0, |b| b.waiting)
        }
    }

    #[test]
    fn parses_rates() {
        let r = Rates::parse("ec2=20/100, elbv2=4/8,*=1/2").unwrap();
        assert_eq!(r.of("ec2"), Some(Rate::new(20.0, 100.0)));
        assert_eq!(r.of("elasticloadbalancingv2"), Some(Rate::new(4.0, 8.0)));
        assert_eq!(r.of("sns"), Some(Rate::new(1.0, 2.0)));
        assert_eq!(r.of("route53"), Some(Rate::new(3.0, 5.0)), "defaults stay");
        assert_eq!(Rates::parse("off").unwrap().of("ec2"), None);
        assert_eq!(Rates::parse("default").unwrap(), Rates::default());
        for bad in ["ec2", "ec2=1", "ec2=x/2", "ec2=0/5", "ec2=5/0.5", "ec2=inf/5"] {
            assert!(Rates::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(service_key("Elastic Load Balancing v2"), "elasticloadbalancingv2");
        assert_eq!(service_key("Route 53"), "route53");
    }

    #[test]
    fn a_bucket_refills_at_its_rate_and_keeps_a_reserve_for_mutations() {
        let b = Budget::new(Rates::parse("ec2=2/8,ecs=2/8").unwrap());
        let t0 = Instant::now();
        // Reads leave a quarter of the bucket (2 tokens): 6 go at once.
        for _ in 0..6 {
            assert_eq!(b.try_once("a", "ec2", Call::Read, t0), Duration::ZERO);
        }
        let wait = b.try_once("a", "ec2", Call::Read, t0);
        assert_eq!(wait, Duration::from_millis(500), "one token at 2/s");
        // Mutations still go, down to the last token.
        assert_eq!(b.try_once("a", "ec2", Call::Mutation, t0), Duration::ZERO);
        assert_eq!(b.try_once("a", "ec2", Call::Mutation, t0), Duration::ZERO);
        assert_eq!(b.try_once("a", "ec2", Call::Mutation, t0), Duration::from_millis(500));
        // Another service, and another account, have their own buckets.
        assert_eq!(b.try_once("a", "ecs", Call::Read, t0), Duration::ZERO);
        assert_eq!(b.try_once("b", "ec2", Call::Read, t0), Duration::ZERO);
        // Refilled at 2/s: after 1.5 s three tokens, so a read (needing 3) goes.
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(b.try_once("a", "ec2", Call::Read, t1), Duration::ZERO);
        // Never more than the burst.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..6 {
            assert_eq!(b.try_once("a", "ec2", Call::Read, t2), Duration::ZERO);
        }
        assert!(!b.try_once("a", "ec2", Call::Read, t2).is_zero());
    }

    #[test]
    fn global_services_share_one_bucket_across_regions() {
        let b = Budget::new(Rates::parse("route53=1/4,ec2=1/4").unwrap());
        let t0 = Instant::now();
        for scope in ["own us-east-1", "own eu-west-1", "own ap-south-1"] {
            assert_eq!(b.try_once(scope, "route53", Call::Read, t0), Duration::ZERO);
        }
        assert!(!b.try_once("own us-west-2", "route53", Call::Read, t0).is_zero());
        assert_eq!(b.try_once("own us-west-2", "ec2", Call::Read, t0), Duration::ZERO);
    }

    #[test]
    fn rechecks_yield_to_every_waiting_read_or_mutation() {
        let b = Budget::new(Rates::parse("ec2=2/8").unwrap());
        let t0 = Instant::now();
        // With nobody waiting, a re-check goes like a read (down to the reserve).
        for _ in 0..6 {
            assert_eq!(b.try_once("a", "ec2", Call::Recheck, t0), Duration::ZERO);
        }
        // A read must wait (needs 3, has 2): it is counted among the waiters while it waits.
        let mut read = Queued { budget: &b, key: None };
        assert!(!b.try_take("a", "ec2", Call::Read, t0, &mut read).is_zero());
        assert_eq!(b.waiting("a", "ec2"), 1);
        // A second later there are enough tokens, but the re-check yields to the waiting read,
        // and looks again after one token's time.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.try_once("a", "ec2", Call::Recheck, t1), Duration::from_millis(500));
        // A waiting re-check is no waiter: mutations and reads do not yield to it.
        assert_eq!(b.waiting("a", "ec2"), 1);
        assert_eq!(b.try_take("a", "ec2", Call::Read, t1, &mut read), Duration::ZERO);
        assert_eq!(b.waiting("a", "ec2"), 0, "the read took its token");
        // Now nobody waits: the re-check goes once the reserve allows (3 tokens at 1.5 s).
        let t2 = t0 + Duration::from_millis(1500);
        assert_eq!(b.try_once("a", "ec2", Call::Recheck, t2), Duration::ZERO);
        // A waiter that gives up (its reconcile dropped) stops holding re-checks back.
        let t3 = t0 + Duration::from_secs(10);
        for _ in 0..6 {
            assert_eq!(b.try_once("a", "ec2", Call::Read, t3), Duration::ZERO);
        }
        let mut mutation = Queued { budget: &b, key: None };
        let _ = b.try_take("a", "ec2", Call::Mutation, t3, &mut mutation);
        let _ = b.try_take("a", "ec2", Call::Mutation, t3, &mut mutation);
        assert!(!b.try_take("a", "ec2", Call::Mutation, t3, &mut mutation).is_zero());
        assert_eq!(b.waiting("a", "ec2"), 1, "counted once however often it looks");
        drop(mutation);
        assert_eq!(b.waiting("a", "ec2"), 0);
        let t4 = t3 + Duration::from_secs(2);
        assert_eq!(b.try_once("a", "ec2", Call::Recheck, t4), Duration::ZERO);
        // Other buckets are not held back.
        let mut other = Queued { budget: &b, key: None };
        for _ in 0..9 {
            let _ = b.try_take("b", "ec2", Call::Mutation, t4, &mut other);
        }
        assert_eq!(b.waiting("b", "ec2"), 1);
        assert_eq!(
            b.try_once("a", "ec2", Call::Recheck, t4 + Duration::from_secs(2)),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn a_reconcile_marked_as_a_recheck_is_seen_from_its_task_only() {
        assert!(!in_recheck(), "outside any reconcile");
        assert!(recheck(true, async { in_recheck() }).await);
        assert!(!recheck(false, async { in_recheck() }).await);
        let spawned = recheck(true, async { tokio::spawn(async { in_recheck() }).await.unwrap() }).await;
        assert!(!spawned, "work spawned onto another task waits as a plain read");
        // The mark adds a flag, not a second copy of the work: a boxed reconcile stays small.
        let big = async {
            let buffer = [0u8; 65536];
            std::hint::black_box(&buffer);
        };
        let marked = recheck(true, Box::pin(big));
        assert!(
            std::mem::size_of_val(&marked) < 256,
            "{} bytes",
            std::mem::size_of_val(&marked)
        );
        marked.await;
    }

    #[test]
    fn off_never_waits() {
        let b = Budget::new(Rates::parse("off").unwrap());
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(b.try_once("a", "ec2", Call::Read, t0), Duration::ZERO);
        }
    }
}
