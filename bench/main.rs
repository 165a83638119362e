//! The scale benchmark: `cargo run --release --example bench [-- --stacks 10,100]`.
//!
//! Not a test: it measures. For each N it starts a fresh AWS emulator (moto, open: no IAM
//! enforcement, so the emulator spends its time on AWS calls), runs the operator binary as its
//! own process (so its memory is its own) against the project's real kube-apiserver, applies N
//! unit stacks at once and waits until every object is Ready, then counts a steady-state window.
//!
//! A unit stack is what a small team applies: a WebStack (two zones; `natGateways: none`, so the
//! emulator, a single Python process, holds more stacks: NAT gateways add polling and an Elastic IP
//! each), two TargetGroups, two ListenerRules and one ContainerService (Fargate, one task).
//!
//! It reports, per N: time from apply to all Ready; reconcile latency p50/p99 (the operator's
//! `controller_runtime_reconcile_time_seconds` histogram, bucket upper bounds); AWS calls by
//! service and operation over the window (the emulator's request recording, cross-checked with the
//! operator's `webstack_aws_api_calls_total`); AWS objects managed (tagged resources read back, once the operator is stopped; the harness's listing reads one page per call, so past some 50 stacks it undercounts);
//! calls per object per hour, at the window's re-check period and scaled to the default 10 min;
//! the operator's RSS idle, peak (VmHWM) and at the end, split into its own memory (RssAnon) and its binary's pages (RssFile); API-server requests (its `apiserver_request_total`);
//! and the CPU seconds the operator and the emulator used, which says which was the bottleneck.
//! A table on stdout, and the whole as JSON (`--json`).
//!
//! With `--shards K` (K above 1) each stack gets a namespace of its own and K operator processes
//! run with `--shards K` (limited to the run's namespaces by `--namespace-selector`), each with an
//! AWS access key of its own: the table shows the calls of all and the memory of the largest,
//! and a line per replica its shards, stacks, calls in the window and memory.

// The integration tests' harness: the same API server, emulator and AWS inventory they use.
#[allow(dead_code)]
#[path = "../tests/integration/harness/mod.rs"]
mod harness;

// `--memory-limit`: the operator in a memory cgroup of its own.
mod cgroup;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use kube::Client;
use kube::api::DynamicObject;
use serde_json::json;
use webstack_operator::manager::parse_duration;

use harness::manifest::{apply_all, is_ready, parse};
use harness::moto::{Moto, REGION};
use harness::operator::{Operator, http_get};

#[derive(Parser)]
#[command(name = "bench", about = "Applies N unit stacks and measures webstack-operator")]
struct Args {
    /// How many unit stacks, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    stacks: Vec<usize>,
    /// The operator's drift re-check period during the run.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    resync: Duration,
    /// The steady-state window over which calls are counted (after one re-check period).
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    window: Duration,
    /// How long to wait for every object to be Ready.
    #[arg(long, default_value = "1800s", value_parser = parse_duration)]
    timeout: Duration,
    /// `--concurrency` of the operator.
    #[arg(long, default_value_t = 8)]
    concurrency: u16,
    /// `--aws-budget` of the operator (`default`, `off`, `ec2=20/100,...`).
    #[arg(long, default_value = "default")]
    aws_budget: String,
    /// The operator binary (default: the one built beside this example).
    #[arg(long)]
    operator: Option<PathBuf>,
    /// Run the operator with drift events (`--events create`, heartbeats echoed as CloudTrail
    /// would, since the emulator has none) on a compressed clock: `--resync` stands for the
    /// default 10 minutes, and the sweep, the heartbeat, the 2-hour and the 6-hour re-checks
    /// are scaled with it (the window becomes at least the longest of them). Reports calls per
    /// object per hour at the defaults: the reads measured and scaled back, the pipeline's
    /// (192 an hour per queue) computed.
    #[arg(long)]
    events: bool,
    /// With `--events`: no batched sweep (`--events-sweep-period off`), for comparison.
    #[arg(long)]
    no_sweep: bool,
    /// Operator replicas sharing the stacks with `--shards` (1: one operator, one namespace).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    shards: u32,
    /// Run each operator in a memory cgroup limited to this many MiB, as a Kubernetes memory
    /// limit does, its binary's pages charged to it (`bench/cgroup.rs`); reports the group's
    /// peak, the OOM kills and the major faults the limit caused. Needs root (a writable cgroup
    /// memory controller).
    #[arg(long, value_name = "MIB")]
    memory_limit: Option<u64>,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
}

fn unit_stack(i: usize) -> String {
    let s = format!("s{i:04}");
    let cidr = format!("10.{}.{}.0/22", i / 64, (i % 64) * 4);
    format!(
        r#"apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {{name: {s}}}
spec:
  network: {{cidr: "{cidr}", availabilityZones: 2, natGateways: none}}
  loadBalancer:
    listeners:
      - {{name: http, port: 80, protocol: HTTP, defaultAction: {{fixedResponse: {{statusCode: 404}}}}}}
---
apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {{name: {s}-web}}
spec: {{stackRef: {{name: {s}}}, protocol: HTTP, port: 3000, targetType: ip, healthCheck: {{path: /}}}}
---
apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {{name: {s}-api}}
spec: {{stackRef: {{name: {s}}}, protocol: HTTP, port: 8080, targetType: ip, healthCheck: {{path: /health}}}}
---
apiVersion: webstack.io/v1alpha1
kind: ListenerRule
metadata: {{name: {s}-web}}
spec:
  stackRef: {{name: {s}}}
  listener: http
  priority: 10
  conditions: {{hostHeaders: ["{s}.example.com"]}}
  action: {{forward: {{targetGroups: [{{name: {s}-web}}]}}}}
---
apiVersion: webstack.io/v1alpha1
kind: ListenerRule
metadata: {{name: {s}-api}}
spec:
  stackRef: {{name: {s}}}
  listener: http
  priority: 20
  conditions: {{hostHeaders: ["api.{s}.example.com"]}}
  action: {{forward: {{targetGroups: [{{name: {s}-api}}]}}}}
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {{name: {s}-web}}
spec:
  stackRef: {{name: {s}}}
  launchType: FARGATE
  networkMode: awsvpc
  cpu: "256"
  memory: "512"
  desiredCount: 1
  containers:
    - {{name: web, image: "registry.example.com/web:1.0", portMappings: [{{containerPort: 3000}}]}}
  loadBalancer: {{targetGroupRef: {{name: {s}-web}}, containerName: web, containerPort: 3000}}
"#
    )
}

/// A process's (VmRSS, VmHWM) in MiB.
fn memory(pid: u32) -> (f64, f64) {
    (status_mib(pid, "VmRSS:"), status_mib(pid, "VmHWM:"))
}

/// The fields of `/proc/PID/stat` from its third on (after the command's closing parenthesis,
/// since the command may hold spaces): index 0 is field 3, the state; none if the process is gone.
fn stat_fields(pid: u32) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().map(str::to_string).collect()
}

/// Whether a process runs (an exited child not yet waited for is a zombie: state `Z`).
fn alive(pid: u32) -> bool {
    stat_fields(pid).first().is_some_and(|state| state != "Z")
}

/// A process's major page faults (field 12): pages read from disk, here the binary's code read
/// again after a memory limit took it back.
fn major_faults(pid: u32) -> u64 {
    stat_fields(pid).get(9).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A process's (RssAnon, RssFile) in MiB: its own memory (heap, stacks) and the pages of its binary
/// it touched (the code, which grows with the binary and the paths run, not with the objects).
fn memory_split(pid: u32) -> (f64, f64) {
    (status_mib(pid, "RssAnon:"), status_mib(pid, "RssFile:"))
}

/// A field of `/proc/<pid>/status` in kB, as MiB (0 if missing).
fn status_mib(pid: u32, name: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A process's CPU seconds so far (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    // utime is field 14, stime 15.
    let fields = stat_fields(pid);
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The pid of the emulator listening on `endpoint`'s port (a grandchild of the harness's shell).
fn moto_pid(endpoint: &str) -> Option<u32> {
    let port = endpoint.rsplit(':').next()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let server = args.iter().any(|a| a.ends_with("server.py"));
        let on_port = args.windows(2).any(|w| w[0] == "-p" && w[1] == port);
        let wrapper = args.first().is_some_and(|a| a == "sh");
        (server && on_port && !wrapper).then_some(pid)
    })
}

/// The sum of every sample of metric `name` (all label sets).
fn total(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Quantile `q` of the reconcile-time histogram over every controller: the upper bound of the
/// bucket it falls in.
fn quantile(scrape: &str, q: f64) -> Option<f64> {
    let mut buckets: BTreeMap<String, f64> = BTreeMap::new();
    for line in scrape
        .lines()
        .filter(|l| l.starts_with("controller_runtime_reconcile_time_seconds_bucket{"))
    {
        let le = line.split("le=\"").nth(1)?.split('"').next()?.to_string();
        let n: f64 = line.rsplit(' ').next()?.parse().ok()?;
        *buckets.entry(le).or_default() += n;
    }
    let count = *buckets.get("+Inf")?;
    let mut bounds: Vec<(f64, f64)> = buckets
        .iter()
        .filter(|(le, _)| le.as_str() != "+Inf")
        .filter_map(|(le, n)| Some((le.parse::<f64>().ok()?, *n)))
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    bounds
        .into_iter()
        .find(|(_, n)| *n >= q * count)
        .map(|(le, _)| le)
        .or(Some(f64::INFINITY))
}

async fn api_requests(client: &Client) -> f64 {
    let request = http::Request::get("/metrics").body(Vec::new()).expect("request");
    let text = client.request_text(request).await.unwrap_or_default();
    total(&text, "apiserver_request_total")
}

/// Objects Ready in the run's namespaces: one LIST per kind across all namespaces.
async fn ready_count(client: &Client, namespaces: &[String], objects: &[DynamicObject]) -> usize {
    let mut kinds: BTreeMap<String, &DynamicObject> = BTreeMap::new();
    for o in objects {
        kinds
            .entry(o.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default())
            .or_insert(o);
    }
    let mut ready = 0;
    for sample in kinds.values() {
        let types = sample.types.as_ref().expect("apiVersion and kind");
        let (group, version) = types.api_version.split_once('/').expect("group/version");
        let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
        let plural = format!("{}s", types.kind.to_lowercase());
        let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, &plural);
        let api: kube::Api<DynamicObject> = kube::Api::all_with(client.clone(), &ar);
        if let Ok(list) = api.list(&Default::default()).await {
            ready += list
                .items
                .iter()
                .filter(|o| o.metadata.namespace.as_ref().is_some_and(|n| namespaces.contains(n)))
                .filter(|o| is_ready(o))
                .count();
        }
    }
    ready
}

/// One operator process of a run: its access key, pid and metrics address, and its memory
/// cgroup with `--memory-limit` (dropped after the process, which is then gone).
struct Replica {
    op: Operator,
    key: String,
    pid: u32,
    address: String,
    cgroup: Option<cgroup::Cgroup>,
}

async fn run(args: &Args, client: &Client, binary: &PathBuf, n: usize) -> Result<serde_json::Value, String> {
    let sharded = args.shards > 1;
    let home = harness::kube::namespace(client, &format!("bench{n}")).await;
    // One namespace for every stack, or, sharded, one each (labelled for this run's operators).
    let namespaces: Vec<String> = if sharded {
        let label = serde_json::json!({"metadata": {"labels": {"webstack.io/bench": &home}}});
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
        let mut out = Vec::new();
        for i in 0..n {
            let ns = harness::kube::namespace(client, &format!("b{n}s{i}")).await;
            api.patch(
                &ns,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&label),
            )
            .await
            .map_err(|e| format!("labelling {ns}: {e}"))?;
            out.push(ns);
        }
        out
    } else {
        vec![home.clone()]
    };
    let moto = Moto::start_open_with_env(&[]);
    let moto_pid = moto_pid(moto.endpoint()).ok_or("cannot find the emulator's process")?;
    let resync = format!("{}s", args.resync.as_secs());
    let mut replicas = Vec::new();
    if args.memory_limit.is_some() {
        cgroup::drop_page_cache(binary)?;
    }
    for r in 0..args.shards {
        let key = if sharded {
            format!("bench-operator-{r}")
        } else {
            "bench-operator".to_string()
        };
        let operations = std::env::temp_dir().join(format!("{home}-{r}.operations"));
        let group = match args.memory_limit {
            Some(limit) => Some(cgroup::Cgroup::create(&format!("webstack-bench-{home}-{r}"), limit)?),
            None => None,
        };
        let mut command = match &group {
            Some(group) => group.command(binary),
            None => Command::new(binary),
        };
        if sharded {
            let selector = format!("webstack.io/bench={home}");
            let shards = args.shards.to_string();
            command
                .args(harness::operator::unscoped_args(&resync))
                .args(["--shards", &shards, "--leader-election-namespace", &home])
                .args(["--namespace-selector", &selector]);
        } else {
            command.args(harness::operator::run_args(&home, &resync));
        }
        command
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--aws-budget", &args.aws_budget])
            .args(if args.events {
                // The compressed clock: `--resync` stands for 10 minutes.
                let scaled = |times: u64| format!("{}s", args.resync.as_secs() * times);
                vec![
                    "--events".into(),
                    "create".into(),
                    "--events-heartbeat".into(),
                    scaled(1),
                    "--events-resync-period".into(),
                    scaled(12),
                    "--events-swept-resync-period".into(),
                    scaled(36),
                    "--events-sweep-period".into(),
                    if args.no_sweep { "off".into() } else { scaled(1) },
                ]
            } else {
                Vec::new()
            })
            .env("KUBECONFIG", harness::kube::kubeconfig_path())
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("POD_NAME", format!("bench-{r}"))
            .env("RUST_LOG", "info");
        // Its log through a pipe, as a pod's: never charged to its memory limit.
        let op = Operator::spawn_logging(command, &format!("{home}-{r}"), operations, true);
        let pid = op.pid();
        replicas.push(Replica {
            op,
            key,
            pid,
            address: String::new(),
            cgroup: group,
        });
    }
    let started = Instant::now();
    for r in &mut replicas {
        r.address = loop {
            if let Some(a) = r.op.served_at("Metrics") {
                break a;
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("the operator did not start:\n{}", r.op.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss: Vec<f64> = replicas.iter().map(|r| memory(r.pid).0).collect();
    let cpu = |replicas: &[Replica]| replicas.iter().map(|r| cpu_seconds(r.pid)).sum::<f64>();
    let scrape_all = |replicas: &[Replica]| {
        let addresses: Vec<String> = replicas.iter().map(|r| r.address.clone()).collect();
        async move {
            let mut text = String::new();
            for a in &addresses {
                text.push_str(&http_get(a, "/metrics").await.1);
            }
            text
        }
    };
    let (op_cpu0, moto_cpu0) = (cpu(&replicas), cpu_seconds(moto_pid));
    let api0 = api_requests(client).await;

    let stacks: Vec<(String, Vec<DynamicObject>)> = (0..n)
        .map(|i| (namespaces[i % namespaces.len()].clone(), parse(&unit_stack(i))))
        .collect();
    let objects: Vec<DynamicObject> = stacks.iter().flat_map(|(_, o)| o.clone()).collect();
    let applied = Instant::now();
    for (ns, objs) in &stacks {
        apply_all(client, ns, objs).await;
    }
    let mut last = 0;
    let ready_in = loop {
        let ready = ready_count(client, &namespaces, &objects).await;
        if ready == objects.len() {
            eprintln!(
                "bench {n}: all {ready} Ready after {:.0}s",
                applied.elapsed().as_secs_f64()
            );
            break applied.elapsed();
        }
        if ready != last {
            eprintln!(
                "bench {n}: {ready}/{} Ready after {:.0}s",
                objects.len(),
                applied.elapsed().as_secs_f64()
            );
            last = ready;
        }
        if let Some(gone) = replicas.iter().find(|r| !alive(r.pid)) {
            let kills = gone.cgroup.as_ref().map(cgroup::Cgroup::oom_kills).unwrap_or(0);
            return Err(format!(
                "{n} stacks: an operator exited after {:.0}s with {ready}/{} objects Ready (OOM kills in its memory cgroup: {kills})\n{}",
                applied.elapsed().as_secs_f64(),
                objects.len(),
                gone.op.log_tail()
            ));
        }
        if applied.elapsed() > args.timeout {
            return Err(format!(
                "{n} stacks: {ready}/{} objects Ready after {:.0}s\n{}",
                objects.len(),
                args.timeout.as_secs_f64(),
                replicas[0].op.log_tail()
            ));
        }
        // Each look LISTs every object: at thousands of objects, looking every 2 s was a large
        // part of the API server's work, so look less often the more there are (12 s at 6,000).
        tokio::time::sleep(Duration::from_secs(2).max(Duration::from_millis(2 * objects.len() as u64))).await;
    };
    let converge_scrape = scrape_all(&replicas).await;
    let (op_cpu1, moto_cpu1) = (cpu(&replicas), cpu_seconds(moto_pid));

    // Heartbeats echoed (the queue exists once the operator has set events up).
    let echo = if args.events {
        let config = moto.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let url = harness::events::queue_url(&sqs).await?;
        Some(harness::events::echo_heartbeats(
            url,
            sqs,
            aws_sdk_eventbridge::Client::new(&config),
        ))
    } else {
        None
    };
    // Steady state: one re-check period to settle (with events, the 2-hour one, scaled), then
    // the window (with events, at least the 6-hour re-check, scaled).
    let (settle, window) = if args.events {
        (args.resync * 12, args.window.max(args.resync * 36))
    } else {
        (args.resync, args.window)
    };
    tokio::time::sleep(settle).await;
    let healthy = harness::operator::sample(&scrape_all(&replicas).await, "webstack_events_pipeline_healthy");
    let mark = moto.calls().len();
    let calls0 = total(&scrape_all(&replicas).await, "webstack_aws_api_calls_total");
    let api1 = api_requests(client).await;
    let (op_cpu2, moto_cpu2) = (cpu(&replicas), cpu_seconds(moto_pid));
    tokio::time::sleep(window).await;
    let end_scrape = scrape_all(&replicas).await;
    let calls1 = total(&end_scrape, "webstack_aws_api_calls_total");
    let api2 = api_requests(client).await;
    let (op_cpu3, moto_cpu3) = (cpu(&replicas), cpu_seconds(moto_pid));
    let window = window.as_secs_f64();
    let window_calls: Vec<_> = moto.calls()[mark..]
        .iter()
        .filter(|c| c.access_key.starts_with("bench-operator"))
        .cloned()
        .collect();
    let mut per_replica = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        let scrape = http_get(&r.address, "/metrics").await.1;
        let (rss, peak) = memory(r.pid);
        let (anon, file) = memory_split(r.pid);
        // The group's own and file memory, from one reading of its memory.stat.
        let usage = r.cgroup.as_ref().map(cgroup::Cgroup::usage_mib);
        per_replica.push(json!({
            "replica": i,
            "shards_held": harness::operator::sample(&scrape, "webstack_shards_held"),
            "webstacks": harness::operator::sample(&scrape, "webstack_resources{kind=\"WebStack\",condition=\"Ready\"}"),
            "events_index_identifiers": harness::operator::sample(&scrape, "webstack_events_index_identifiers"),
            "window_calls": window_calls.iter().filter(|c| c.access_key == r.key).count(),
            "rss_idle_mib": idle_rss[i],
            "rss_end_mib": rss,
            "rss_peak_mib": peak,
            "rss_anon_end_mib": anon,
            "rss_file_end_mib": file,
            "cpu_seconds": cpu_seconds(r.pid),
            "major_faults": major_faults(r.pid),
            "memory_limit_mib": args.memory_limit,
            "cgroup_peak_mib": r.cgroup.as_ref().map(cgroup::Cgroup::peak_mib),
            "cgroup_anon_end_mib": usage.map(|(own, _)| own),
            "cgroup_file_end_mib": usage.map(|(_, files)| files),
            "oom_kills": r.cgroup.as_ref().map(cgroup::Cgroup::oom_kills),
        }));
    }
    let max_of = |k: &str| per_replica.iter().filter_map(|r| r[k].as_f64()).fold(0.0, f64::max);
    let (idle_rss, rss, peak) = (max_of("rss_idle_mib"), max_of("rss_end_mib"), max_of("rss_peak_mib"));
    let (anon, file) = (max_of("rss_anon_end_mib"), max_of("rss_file_end_mib"));
    let mut by_operation: BTreeMap<String, usize> = BTreeMap::new();
    for c in &window_calls {
        *by_operation.entry(format!("{}:{}", c.service, c.action)).or_default() += 1;
    }
    let mut by_service: BTreeMap<String, usize> = BTreeMap::new();
    for c in &window_calls {
        *by_service.entry(c.service.clone()).or_default() += 1;
    }
    // Read back once the operators are stopped: the emulator then answers only this listing.
    drop(replicas);
    if let Some(echo) = echo {
        echo.abort();
    }
    let config = moto.sdk_config().await;
    let mut managed = 0;
    for ns in &namespaces {
        managed += harness::leftovers::leftovers(&config, ns).await.len();
    }
    let per_object_hour = window_calls.len() as f64 / managed.max(1) as f64 * 3600.0 / window;
    // Linear in the re-check period: a settled object is read once per period.
    let at_default = per_object_hour * args.resync.as_secs_f64() / 600.0;
    // With events: the reads (re-checks, sweeps, what they reconcile) happened on the compressed
    // clock, so the window stands for window × 600 s / `--resync` at the defaults. The pipeline
    // is computed, not measured (the echoed heartbeats end long polls early): one 20 s long poll
    // at a time per queue (180 an hour), and per 10-minute heartbeat a TagQueue and the delete of
    // its event.
    let pipeline = |c: &&harness::moto::Call| ["sqs", "events", "sts"].contains(&c.service.as_str());
    let reads = (window_calls.len() - window_calls.iter().filter(pipeline).count()) as f64;
    let scale = 600.0 / args.resync.as_secs_f64();
    let reads_per_hour = reads * 3600.0 / (window * scale);
    let pipeline_per_hour = 180.0 + 2.0 * 6.0;
    let with_events = args
        .events
        .then(|| (reads_per_hour + pipeline_per_hour) / managed.max(1) as f64);
    let converge_cpu = (op_cpu1 - op_cpu0, moto_cpu1 - moto_cpu0);
    let window_cpu = (op_cpu3 - op_cpu2, moto_cpu3 - moto_cpu2);
    // The emulator is one Python process: near a full core, it is what limits the run.
    let emulator_busy = |cpu: f64, secs: f64| cpu / secs > 0.75;
    let budget_waits = total(&converge_scrape, "webstack_aws_budget_wait_seconds_sum");
    let bottleneck = match (
        emulator_busy(converge_cpu.1, ready_in.as_secs_f64()),
        emulator_busy(window_cpu.1, window),
    ) {
        (_, true) => {
            "the emulator at steady state (its window calls are what it could serve, not what the operator asked)"
        }
        (true, false) => "the emulator while converging",
        _ if budget_waits > ready_in.as_secs_f64() => "the AWS budget while converging (calls waited for tokens)",
        _ if converge_cpu.0 > converge_cpu.1 => "the operator",
        _ => "neither saturated: waits (AWS transitions, backoff) dominate",
    };
    let result = json!({
        "stacks": n,
        "objects": objects.len(),
        "aws_objects_managed": managed,
        "ready_seconds": ready_in.as_secs_f64(),
        "reconcile_p50_seconds": quantile(&converge_scrape, 0.5),
        "reconcile_p99_seconds": quantile(&converge_scrape, 0.99),
        "reconciles": total(&converge_scrape, "controller_runtime_reconcile_total"),
        "window_seconds": window,
        "resync_seconds": args.resync.as_secs_f64(),
        "window_calls_recorded": window_calls.len(),
        "window_calls_operator_metrics": calls1 - calls0,
        "calls_by_service": by_service,
        "calls_by_operation": by_operation,
        "calls_per_object_hour_at_resync": per_object_hour,
        "calls_per_object_hour_at_10m": at_default,
        "events_pipeline_healthy": healthy,
        "calls_per_object_hour_with_events": with_events,
        "events_reads_per_hour": args.events.then_some(reads_per_hour),
        "events_pipeline_calls_per_hour": args.events.then_some(pipeline_per_hour),
        "sweep": args.events && !args.no_sweep,
        "rss_idle_mib": idle_rss,
        "rss_end_mib": rss,
        "rss_peak_mib": peak,
        "rss_anon_end_mib": anon,
        "rss_file_end_mib": file,
        "apiserver_requests_converging": api1 - api0,
        "apiserver_requests_window": api2 - api1,
        "cpu_seconds_converging": {"operator": converge_cpu.0, "emulator": converge_cpu.1},
        "cpu_seconds_window": {"operator": window_cpu.0, "emulator": window_cpu.1},
        "budget_wait_seconds_converging": budget_waits,
        "bottleneck": bottleneck,
        "shards": args.shards,
        "replicas": per_replica,
    });
    drop(moto);
    Ok(result)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let binary = args.operator.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent()
            .and_then(|examples| examples.parent())
            .map(|dir| dir.join("webstack-operator"))
            .expect("the target directory")
    });
    if !binary.is_file() {
        eprintln!(
            "bench: no operator binary at {} (cargo build --release first, or --operator PATH)",
            binary.display()
        );
        return ExitCode::FAILURE;
    }
    if args.memory_limit.is_some() {
        match cgroup::read_ahead_kib(&binary) {
            Some(kib) => eprintln!("bench: the operator's binary is on a disk that reads {kib} KiB around a fault"),
            None => eprintln!("bench: the read-ahead of the operator binary's disk is not known"),
        }
    }
    let client = harness::kube::client().await;
    harness::kube::install_crds(&client).await;
    let mut results = Vec::new();
    for &n in &args.stacks {
        eprintln!("bench: {n} unit stacks ({} objects)", n * 6);
        match run(&args, &client, &binary, n).await {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("bench: {e}");
                results.push(json!({"stacks": n, "error": e.lines().next().unwrap_or_default()}));
            }
        }
    }
    let machine = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "operator": binary.display().to_string(),
        "read_ahead_kib": cgroup::read_ahead_kib(&binary),
    });
    println!(
        "| stacks | objects | AWS objects | Ready in | reconcile p50 / p99 | calls/object/h (at resync, at 10 min) | RSS idle / peak | API-server requests (converge, window) | CPU s operator / emulator | bottleneck |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &results {
        if let Some(e) = r.get("error") {
            println!("| {} | | | failed: {} | | | | | | |", r["stacks"], e);
            continue;
        }
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        if let Some(x) = r["calls_per_object_hour_with_events"].as_f64() {
            eprintln!(
                "bench {}: with drift events (healthy: {}, sweep: {}), {x:.2} AWS calls per object per hour at the defaults: reads {:.0}/h, the pipeline {:.0}/h",
                r["stacks"],
                r["events_pipeline_healthy"],
                r["sweep"],
                r["events_reads_per_hour"].as_f64().unwrap_or(0.0),
                r["events_pipeline_calls_per_hour"].as_f64().unwrap_or(0.0),
            );
        }
        for p in r["replicas"].as_array().into_iter().flatten() {
            if let Some(limit) = p["memory_limit_mib"].as_u64() {
                eprintln!(
                    "bench {} replica {}: under a {limit} MiB memory limit: the cgroup's peak {:.1} MiB, at the end {:.1} MiB own and {:.1} MiB of files (page cache), {} major faults, {} OOM kills",
                    r["stacks"],
                    p["replica"],
                    p["cgroup_peak_mib"].as_f64().unwrap_or(f64::NAN),
                    p["cgroup_anon_end_mib"].as_f64().unwrap_or(f64::NAN),
                    p["cgroup_file_end_mib"].as_f64().unwrap_or(f64::NAN),
                    p["major_faults"],
                    p["oom_kills"],
                );
            }
        }
        if r["shards"].as_u64().unwrap_or(1) > 1 {
            for p in r["replicas"].as_array().into_iter().flatten() {
                eprintln!(
                    "bench {} replica {}: {} shard(s), {} WebStacks, {} AWS calls in the window, RSS idle {:.1} / peak {:.1} MiB",
                    r["stacks"],
                    p["replica"],
                    p["shards_held"],
                    p["webstacks"],
                    p["window_calls"],
                    p["rss_idle_mib"].as_f64().unwrap_or(0.0),
                    p["rss_peak_mib"].as_f64().unwrap_or(0.0),
                );
            }
        }
        println!(
            "| {} | {} | {} | {:.0} s | {:.2} / {:.2} s | {:.1}, {:.2} | {:.1} / {:.1} MiB | {:.0}, {:.0} | {:.0} / {:.0} | {} |",
            r["stacks"],
            r["objects"],
            r["aws_objects_managed"],
            f("ready_seconds"),
            f("reconcile_p50_seconds"),
            f("reconcile_p99_seconds"),
            f("calls_per_object_hour_at_resync"),
            f("calls_per_object_hour_at_10m"),
            f("rss_idle_mib"),
            f("rss_peak_mib"),
            f("apiserver_requests_converging"),
            f("apiserver_requests_window"),
            r["cpu_seconds_converging"]["operator"].as_f64().unwrap_or(0.0),
            r["cpu_seconds_converging"]["emulator"].as_f64().unwrap_or(0.0),
            r["bottleneck"].as_str().unwrap_or_default(),
        );
    }
    let out = json!({"machine": machine, "results": results});
    if let Err(e) = std::fs::write(&args.json, serde_json::to_string_pretty(&out).unwrap_or_default()) {
        eprintln!("bench: cannot write {}: {e}", args.json.display());
    }
    eprintln!("bench: results in {}", args.json.display());
    ExitCode::SUCCESS
}
