//! Prometheus metrics and health probes. The reconcile metrics carry controller-runtime's names and
//! labels, so dashboards made for Go operators work unchanged; the AWS metrics are counted once, at
//! the SDK boundary (the call counter interceptor). Served as text by a small HTTP endpoint:
//! `/metrics` on one address, `/healthz` and `/readyz` on another.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// controller-runtime's buckets for `controller_runtime_reconcile_time_seconds`.
const BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
    1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// (a name, a label) → (how many waited, seconds waited in all).
type Waits = BTreeMap<(String, &'static str), (u64, f64)>;

/// Every metric the operator exports.
#[derive(Default)]
pub struct Metrics {
    reconciles: Mutex<BTreeMap<(String, &'static str), u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    times: Mutex<BTreeMap<String, Histogram>>,
    aws_calls: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    throttled: AtomicU64,
    drift: Mutex<BTreeMap<String, u64>>,
    /// Drift events taken from the queue, by what became of them.
    events: Mutex<BTreeMap<&'static str, u64>>,
    /// The drift-event pipeline: 0 off, 1 degraded (or not confirmed yet), 2 healthy.
    events_state: AtomicU64,
    /// The drift events' index: AWS identifiers held, and the objects they belong to.
    events_index: (AtomicU64, AtomicU64),
    /// Batched sweeps by outcome (`ok`, `error`), and the objects they found changed.
    sweeps: Mutex<BTreeMap<&'static str, u64>>,
    swept_changed: AtomicU64,
    /// service → tokens left in its bucket after the last call (the last scope that called).
    budget_tokens: Mutex<BTreeMap<String, f64>>,
    /// (service, read or mutation) → (calls that waited for a token, seconds waited in all).
    budget_waits: Mutex<Waits>,
    /// (controller, lane) → (reconciles that waited for a slot, seconds waited in all).
    queue: Mutex<Waits>,
    /// `kind/namespace/name` → the condition of its last reconcile (the kind is the key's first part).
    resources: Mutex<BTreeMap<String, &'static str>>,
    /// `--shards`: 0 not sharded, else 1 + the shards this replica holds.
    shards: AtomicU64,
    ready: AtomicBool,
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// How a reconcile ended, as controller-runtime labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Converged (or deleted): nothing to do before the periodic re-check.
    Success,
    /// Not done yet (waiting on AWS or another object): run again soon.
    RequeueAfter,
    /// An error (AWS or Kubernetes): retried with backoff.
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::RequeueAfter => "requeue_after",
            Outcome::Error => "error",
        }
    }
}

fn add<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, n: u64) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += n;
    }
}

/// One wait of `waited` under `key`.
fn waited_for(map: &Mutex<Waits>, key: (String, &'static str), waited: Duration) {
    if let Ok(mut m) = map.lock() {
        let e = m.entry(key).or_default();
        e.0 += 1;
        e.1 += waited.as_secs_f64();
    }
}

impl Metrics {
    /// One reconcile of `controller` (the kind, lower case), its outcome and duration.
    pub fn reconciled(&self, controller: &str, outcome: Outcome, took: Duration) {
        add(&self.reconciles, (controller.to_string(), outcome.label()), 1);
        if outcome == Outcome::Error {
            add(&self.errors, controller.to_string(), 1);
        }
        if let Ok(mut times) = self.times.lock() {
            let h = times.entry(controller.to_string()).or_default();
            if h.counts.is_empty() {
                h.counts = vec![0; BUCKETS.len()];
            }
            let secs = took.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }

    /// One AWS operation (after the SDK's retries): `outcome` is `success` or `error`.
    pub fn aws_call(&self, service: &str, operation: &str, success: bool) {
        let outcome = if success { "success" } else { "error" };
        add(
            &self.aws_calls,
            (service.to_string(), operation.to_string(), outcome),
            1,
        );
    }

    /// One attempt AWS answered with throttling (the SDK retries it).
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// The tokens left in `service`'s budget bucket after a call took one.
    pub fn budget_tokens(&self, service: &str, tokens: f64) {
        if let Ok(mut m) = self.budget_tokens.lock() {
            m.insert(service.to_string(), tokens);
        }
    }

    /// A call to `service` waited `waited` for a token of the AWS budget.
    /// `call` is `read`, `mutation` or `recheck` (a read of a settled object's re-check).
    pub fn budget_waited(&self, service: &str, call: &'static str, waited: Duration) {
        waited_for(&self.budget_waits, (service.to_string(), call), waited);
    }

    /// A reconcile of `controller` waited `waited` for a slot in `lane` (`first`, `again` or
    /// `recheck`).
    pub fn queued(&self, controller: &str, lane: &'static str, waited: Duration) {
        waited_for(&self.queue, (controller.to_string(), lane), waited);
    }

    /// `n` changes made to AWS that undid changes made behind the operator's back.
    pub fn drift_corrected(&self, kind: &str, n: u64) {
        add(&self.drift, kind.to_string(), n);
    }

    /// One drift event taken from the queue: `matched` (objects reconciled), `unmatched` (about
    /// nothing the operator manages), `own` (the operator's own call), `heartbeat`, `invalid`;
    /// sharded, `hinted` (an update of the hints whose new batches named objects here).
    pub fn event(&self, outcome: &'static str) {
        add(&self.events, outcome, 1);
    }

    /// A batched sweep ended with `outcome`, finding `changed` objects changed since the last.
    pub fn sweep(&self, outcome: &'static str, changed: usize) {
        add(&self.sweeps, outcome, 1);
        self.swept_changed.fetch_add(changed as u64, Ordering::Relaxed);
    }

    /// The drift-event pipeline's health: `None` off, else whether its heartbeat came back in time.
    pub fn events_healthy(&self, healthy: Option<bool>) {
        let v = healthy.map_or(0, |h| 1 + u64::from(h));
        self.events_state.store(v, Ordering::Relaxed);
    }

    /// How many AWS identifiers, and objects they belong to, the drift events' index holds.
    pub fn events_index(&self, (identifiers, objects): (usize, usize)) {
        self.events_index.0.store(identifiers as u64, Ordering::Relaxed);
        self.events_index.1.store(objects as u64, Ordering::Relaxed);
    }

    /// The condition an object was left in (`Ready`, `Reconciling`, `Stalled`, `Paused`), or
    /// `None` once it is gone.
    pub fn resource(&self, key: &str, condition: Option<&'static str>) {
        if let Ok(mut m) = self.resources.lock() {
            match condition {
                Some(c) => m.insert(key.to_string(), c),
                None => m.remove(key),
            };
        }
    }

    /// Forgets the objects of the namespaces `gone` says are no longer this process's (a shard
    /// handed over): their replica reports them.
    pub fn forget_namespaces(&self, gone: impl Fn(&str) -> bool) {
        self.forget_resources(|key| key.split('/').nth(1).is_some_and(&gone));
    }

    /// Forgets the objects (`Kind/namespace/name`) `gone` says are gone; how many.
    pub fn forget_resources(&self, gone: impl Fn(&str) -> bool) -> usize {
        let Ok(mut m) = self.resources.lock() else { return 0 };
        let before = m.len();
        m.retain(|key, _| !gone(key));
        before - m.len()
    }

    /// `--shards`: how many shards this replica holds now.
    pub fn set_shards_held(&self, n: usize) {
        self.shards.store(n as u64 + 1, Ordering::Relaxed);
    }

    /// Start-up checks passed: `/readyz` answers 200.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "controller_runtime_reconcile_total",
            "counter",
            "Total number of reconciliations per controller",
        );
        for ((c, r), n) in self.reconciles.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_total{{controller=\"{c}\",result=\"{r}\"}} {n}"
            );
        }
        head(
            &mut out,
            "controller_runtime_reconcile_errors_total",
            "counter",
            "Total number of reconciliation errors per controller",
        );
        for (c, n) in self.errors.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_errors_total{{controller=\"{c}\"}} {n}"
            );
        }
        head(
            &mut out,
            "controller_runtime_reconcile_time_seconds",
            "histogram",
            "Length of time per reconciliation per controller",
        );
        for (c, h) in self.times.lock().map(|m| m.clone()).unwrap_or_default() {
            for (b, n) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "controller_runtime_reconcile_time_seconds_bucket{{controller=\"{c}\",le=\"{b}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_time_seconds_bucket{{controller=\"{c}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_time_seconds_sum{{controller=\"{c}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_time_seconds_count{{controller=\"{c}\"}} {}",
                h.count
            );
        }
        head(
            &mut out,
            "webstack_aws_api_calls_total",
            "counter",
            "AWS API operations by service, operation and outcome (after SDK retries)",
        );
        for ((s, o, r), n) in self.aws_calls.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "webstack_aws_api_calls_total{{service=\"{s}\",operation=\"{o}\",outcome=\"{r}\"}} {n}"
            );
        }
        head(
            &mut out,
            "webstack_aws_throttled_total",
            "counter",
            "AWS API attempts answered with throttling",
        );
        let _ = writeln!(
            out,
            "webstack_aws_throttled_total {}",
            self.throttled.load(Ordering::Relaxed)
        );
        head(
            &mut out,
            "webstack_aws_budget_tokens",
            "gauge",
            "Tokens left in a service's client-side AWS budget after its last call (--aws-budget)",
        );
        for (s, t) in self.budget_tokens.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(out, "webstack_aws_budget_tokens{{service=\"{s}\"}} {t}");
        }
        let waits = |out: &mut String, name: &str, labels: (&str, &str), help: &str, map: &Mutex<Waits>| {
            head(out, name, "summary", help);
            for ((a, b), (n, secs)) in map.lock().map(|m| m.clone()).unwrap_or_default() {
                let labels = format!("{}=\"{a}\",{}=\"{b}\"", labels.0, labels.1);
                let _ = writeln!(out, "{name}_sum{{{labels}}} {secs}\n{name}_count{{{labels}}} {n}");
            }
        };
        waits(
            &mut out,
            "webstack_aws_budget_wait_seconds",
            ("service", "call"),
            "Time AWS calls waited for a token of the client-side budget, per service and call (read or mutation)",
            &self.budget_waits,
        );
        waits(
            &mut out,
            "webstack_reconcile_queue_wait_seconds",
            ("controller", "lane"),
            "Time reconciles waited for a slot, per controller and lane (first: a generation not reconciled yet; again: polls, retries, objects a drift event named; recheck: re-checks of settled objects)",
            &self.queue,
        );
        head(
            &mut out,
            "webstack_drift_corrections_total",
            "counter",
            "Changes made to AWS that undid changes made behind the operator's back",
        );
        for (k, n) in self.drift.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(out, "webstack_drift_corrections_total{{kind=\"{k}\"}} {n}");
        }
        head(
            &mut out,
            "webstack_events_received_total",
            "counter",
            "Drift events taken from the queue, by outcome (matched, unmatched, own, heartbeat, invalid; hinted: an update of another replica's hints that named objects here)",
        );
        for (k, n) in self.events.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(out, "webstack_events_received_total{{outcome=\"{k}\"}} {n}");
        }
        head(
            &mut out,
            "webstack_sweeps_total",
            "counter",
            "Batched sweeps (--events-sweep-period), by outcome (ok, error)",
        );
        for (k, n) in self.sweeps.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(out, "webstack_sweeps_total{{outcome=\"{k}\"}} {n}");
        }
        head(
            &mut out,
            "webstack_sweep_changes_total",
            "counter",
            "Objects a batched sweep found changed since the last sweep (each was reconciled)",
        );
        let _ = writeln!(
            out,
            "webstack_sweep_changes_total {}",
            self.swept_changed.load(Ordering::Relaxed)
        );
        let state = self.events_state.load(Ordering::Relaxed);
        if state > 0 {
            head(
                &mut out,
                "webstack_events_pipeline_healthy",
                "gauge",
                "1 while the drift-event pipeline's heartbeat comes back in time, else 0 (the re-check period is then the short one)",
            );
            let _ = writeln!(out, "webstack_events_pipeline_healthy {}", state - 1);
            head(
                &mut out,
                "webstack_events_index_identifiers",
                "gauge",
                "AWS identifiers the drift events' index maps to their objects (its memory grows with them)",
            );
            let (ids, objects) = (&self.events_index.0, &self.events_index.1);
            let _ = writeln!(out, "webstack_events_index_identifiers {}", ids.load(Ordering::Relaxed));
            head(
                &mut out,
                "webstack_events_index_objects",
                "gauge",
                "Objects the drift events' index holds identifiers of",
            );
            let _ = writeln!(out, "webstack_events_index_objects {}", objects.load(Ordering::Relaxed));
        }
        let shards = self.shards.load(Ordering::Relaxed);
        if shards > 0 {
            head(
                &mut out,
                "webstack_shards_held",
                "gauge",
                "The shards (--shards) whose lease this replica holds and whose namespaces it reconciles",
            );
            let _ = writeln!(out, "webstack_shards_held {}", shards - 1);
        }
        head(
            &mut out,
            "webstack_resources",
            "gauge",
            "Objects by kind and the condition their last reconcile left",
        );
        if let Ok(m) = self.resources.lock() {
            let mut by: BTreeMap<(&str, &str), u64> = BTreeMap::new();
            for (key, c) in m.iter() {
                *by.entry((key.split('/').next().unwrap_or_default(), c)).or_default() += 1;
            }
            for ((k, c), n) in by {
                let _ = writeln!(out, "webstack_resources{{kind=\"{k}\",condition=\"{c}\"}} {n}");
            }
        }
        out
    }
}

/// What an endpoint serves.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Metrics,
    Health,
}

/// Binds `addr` and serves `endpoint` until the process ends; returns the bound address (`:0`
/// picks a free port, logged).
pub async fn serve(addr: &str, endpoint: Endpoint) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, ?endpoint, "serving");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                // The request line and headers; a scrape or probe sends no body.
                while read < buf.len() {
                    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf[read..])).await {
                        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                        Ok(Ok(n)) => read += n,
                    }
                    if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let request = String::from_utf8_lossy(&buf[..read]);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, content_type, body) = respond(endpoint, path);
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(local)
}

fn respond(endpoint: Endpoint, path: &str) -> (&'static str, &'static str, String) {
    let text = "text/plain; charset=utf-8";
    match (endpoint, path) {
        (Endpoint::Metrics, "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", METRICS.render()),
        (Endpoint::Health, "/healthz") => ("200 OK", text, "ok\n".into()),
        (Endpoint::Health, "/readyz") if METRICS.ready.load(Ordering::Relaxed) => ("200 OK", text, "ok\n".into()),
        (Endpoint::Health, "/readyz") => ("503 Service Unavailable", text, "starting\n".into()),
        _ => ("404 Not Found", text, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_controller_runtime_names_and_labels() {
        let m = Metrics::default();
        m.reconciled("webstack", Outcome::Success, Duration::from_millis(120));
        m.reconciled("webstack", Outcome::Error, Duration::from_millis(3));
        m.aws_call("EC2", "CreateVpc", true);
        m.throttled();
        m.drift_corrected("WebStack", 2);
        m.resource("WebStack/a/x", Some("Ready"));
        m.resource("WebStack/a/y", Some("Ready"));
        m.resource("WebStack/a/z", Some("Stalled"));
        m.resource("WebStack/a/z", None);
        m.queued("webstack", "first", Duration::from_millis(250));
        m.queued("webstack", "first", Duration::from_millis(250));
        m.budget_waited("ec2", "mutation", Duration::from_secs(2));
        m.budget_tokens("ec2", 3.5);
        assert!(
            !m.render().contains("webstack_events_pipeline_healthy"),
            "absent while events are off"
        );
        m.event("matched");
        m.events_healthy(Some(true));
        m.events_index((7, 2));
        let text = m.render();
        for line in [
            "controller_runtime_reconcile_total{controller=\"webstack\",result=\"success\"} 1",
            "controller_runtime_reconcile_total{controller=\"webstack\",result=\"error\"} 1",
            "controller_runtime_reconcile_errors_total{controller=\"webstack\"} 1",
            "controller_runtime_reconcile_time_seconds_bucket{controller=\"webstack\",le=\"0.005\"} 1",
            "controller_runtime_reconcile_time_seconds_bucket{controller=\"webstack\",le=\"0.15\"} 2",
            "controller_runtime_reconcile_time_seconds_count{controller=\"webstack\"} 2",
            "webstack_aws_api_calls_total{service=\"EC2\",operation=\"CreateVpc\",outcome=\"success\"} 1",
            "webstack_aws_throttled_total 1",
            "webstack_drift_corrections_total{kind=\"WebStack\"} 2",
            "webstack_resources{kind=\"WebStack\",condition=\"Ready\"} 2",
            "# TYPE controller_runtime_reconcile_time_seconds histogram",
            "webstack_reconcile_queue_wait_seconds_sum{controller=\"webstack\",lane=\"first\"} 0.5",
            "webstack_reconcile_queue_wait_seconds_count{controller=\"webstack\",lane=\"first\"} 2",
            "# TYPE webstack_reconcile_queue_wait_seconds summary",
            "webstack_aws_budget_wait_seconds_sum{service=\"ec2\",call=\"mutation\"} 2",
            "webstack_aws_budget_wait_seconds_count{service=\"ec2\",call=\"mutation\"} 1",
            "webstack_aws_budget_tokens{service=\"ec2\"} 3.5",
            "webstack_events_received_total{outcome=\"matched\"} 1",
            "webstack_events_pipeline_healthy 1",
            "webstack_events_index_identifiers 7",
            "webstack_events_index_objects 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(!text.contains("Stalled"), "a deleted object is no longer counted");
        assert!(!text.contains("webstack_shards_held"), "absent unless sharded");
    }

    #[test]
    fn a_shard_handed_over_takes_its_objects_out_of_the_counts() {
        let m = Metrics::default();
        m.set_shards_held(2);
        m.resource("WebStack/a/x", Some("Ready"));
        m.resource("WebStack/b/y", Some("Ready"));
        m.forget_namespaces(|ns| ns == "b");
        let text = m.render();
        assert!(text.lines().any(|l| l == "webstack_shards_held 2"), "{text}");
        assert!(
            text.lines()
                .any(|l| l == "webstack_resources{kind=\"WebStack\",condition=\"Ready\"} 1"),
            "{text}"
        );
    }
}
