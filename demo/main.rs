//! The local demo: `cargo run --example demo [-- FILE...]`.
//!
//! Shows the operator doing its job on a laptop with no cluster and no AWS account. It starts the
//! project's test substrate (a real kube-apiserver built from the published Go modules, and the
//! moto AWS emulator with the project's patches; both are built or installed on first use and
//! cached under `$HOME/.cache/webstack-operator`), installs the CRDs, runs the operator's
//! controller manager (the same `manager::run` as `webstack-operator run`, in this process),
//! applies the manifests (reference architecture 4 by default) and waits until every object is
//! Ready. It then prints every object's status and the AWS resources read back from the
//! emulator, says how to `kubectl` against the API server, and keeps everything running until
//! Ctrl-C. Nothing outlives it: the API server and the emulator keep their state in memory and
//! a temporary directory, and stop with it.

// The integration tests' harness: the same API server, emulator and AWS inventory they use.
#[allow(dead_code)]
#[path = "../tests/integration/harness/mod.rs"]
mod harness;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use kube::api::{DynamicObject, PostParams};
use kube::{Api, Client, ResourceExt};
use webstack_operator::manager::{self, RunOptions};

use harness::manifest::{api_for, apply_all, condition, id, is_ready, load_manifests};
use harness::moto::{Moto, REGION};

/// The architecture shown when no file is given.
const DEFAULT_FILE: &str = "examples/4-netflux-path-routing-static-site.yaml";

#[derive(Parser)]
#[command(
    name = "demo",
    about = "Runs webstack-operator locally against a real kube-apiserver and an AWS emulator, applies manifests and shows what they became"
)]
struct Args {
    /// Manifests to apply (default: reference architecture 4).
    files: Vec<PathBuf>,
    /// Namespace the manifests are applied in (created if missing).
    #[arg(long, default_value = "default")]
    namespace: String,
    /// How long to wait for every object to be Ready (everything keeps running after it anyway).
    #[arg(long, default_value = "300s", value_parser = manager::parse_duration)]
    timeout: Duration,
}

fn say(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.as_ref());
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match demo(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(args: Args) -> Result<(), String> {
    let files = if args.files.is_empty() {
        vec![harness::repo_root().join(DEFAULT_FILE)]
    } else {
        args.files.clone()
    };
    for file in &files {
        if !file.is_file() {
            return Err(format!("{} is not a file", file.display()));
        }
    }
    let log = std::env::temp_dir().join(format!("{}.log", harness::unique("webstack-demo-operator")));
    init_operator_log(&log)?;

    say(
        "==> Kubernetes: a real kube-apiserver with etcd (built from Go modules on the first run, several minutes: \
         cargo started it while it compiled, log in $HOME/.cache/webstack-operator/prepare-substrate.log)",
    );
    let kubeconfig = harness::kube::kubeconfig_path();
    let client = harness::kube::client().await;
    say("==> AWS: the moto emulator (installed in a venv on the first run)");
    // Open (no IAM enforcement): the user reads the emulated account with the `testing` keys the
    // demo prints. ECS tasks start over a couple of seconds (tests/moto/ecs_services.py).
    let moto = Moto::start_open_with_env(&[]);
    let aws = moto.sdk_config().await;
    say("==> CRDs: installing crds/");
    harness::kube::install_crds(&client).await;
    ensure_namespace(&client, &args.namespace).await?;

    say(format!(
        "==> webstack-operator: running its controllers (log: {})",
        log.display()
    ));
    let opts = RunOptions {
        cluster_id: "demo".into(),
        resync_period: Duration::from_secs(30),
        namespace: None,
        concurrency: 8,
        // Run inside the demo's own runtime: its threads are the demo's.
        worker_threads: None,
        aws_budget: Default::default(),
        metrics_bind_address: "127.0.0.1:0".into(),
        health_probe_bind_address: "127.0.0.1:0".into(),
        leader_elect: false,
        leader_election_namespace: None,
        leader_election_id: "webstack-operator".into(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
        require_policy: false,
        shards: 1,
        namespace_selector: None,
        events: webstack_operator::reconcile::events::Mode::Off,
        events_heartbeat: Duration::from_secs(600),
        events_resync_period: Duration::from_secs(2 * 3600),
        events_sweep_period: Duration::ZERO,
        events_swept_resync_period: Duration::from_secs(6 * 3600),
    };
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "demo",
        ));
    let mut operator = tokio::spawn(manager::run_with(opts, Some(client.clone()), loader));

    let mut objects = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("read {}: {e}", file.display()))?;
        // A certificate the manifest names is the user's, issued before the stack is applied.
        moto.certificates_named_in(&text, "demo.example");
        moto.hosted_zones_named_in(&text, "webapp.example");
        let loaded = load_manifests(file);
        say(format!(
            "==> kubectl apply -f {} ({} objects)",
            file.display(),
            loaded.len()
        ));
        objects.extend(loaded);
    }
    apply_all(&client, &args.namespace, &objects).await;

    let started = Instant::now();
    tokio::select! {
        ready = wait_ready(&client, &args.namespace, &objects, args.timeout) => match ready {
            Ok(()) => say(format!("==> every object is Ready after {:.1}s", started.elapsed().as_secs_f64())),
            // Kept running all the same, so that what is wrong can be looked at and fixed.
            Err(problem) => say(format!("==> {problem}\n    (everything keeps running: look with kubectl, below)")),
        },
        stopped = &mut operator => return Err(format!("the operator stopped: {}", outcome(stopped))),
    }

    say("\n==> What the manifests became (status read from the API server)");
    for obj in &objects {
        let now = api_for(&client, &args.namespace, obj)
            .get(&obj.name_any())
            .await
            .map_err(|e| format!("read {}: {e}", id(obj)))?;
        print_status(&now);
    }
    say("\n==> What is in AWS (read back from the emulator through the AWS SDK)");
    let mut by_kind: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for line in harness::leftovers::leftovers(&aws, &args.namespace).await {
        let (kind, id) = line.rsplit_once(' ').unwrap_or((line.as_str(), ""));
        by_kind.entry(kind.to_string()).or_default().insert(id.to_string());
    }
    if by_kind.is_empty() {
        say("  nothing yet");
    }
    for (kind, ids) in &by_kind {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        say(format!("  {kind} ({}): {}", ids.len(), ids.join(", ")));
    }

    say(format!(
        "\n==> Everything keeps running until Ctrl-C. In another terminal:\n\
         \n  export KUBECONFIG={kubeconfig}\
         \n  kubectl get webstacks,targetgroups,listenerrules,containerservices,staticsites -n {ns}\
         \n  kubectl describe webstack -n {ns}\
         \n  kubectl edit webstack -n {ns}    # change an image tag, a size, a route...\
         \n  kubectl delete -f {file}    # and watch everything go\
         \n\
         \n  # the emulated AWS account (any AWS CLI or SDK):\
         \n  export AWS_ENDPOINT_URL={endpoint} AWS_REGION={REGION} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing\
         \n  aws ec2 describe-vpcs; aws elbv2 describe-load-balancers; aws ecs list-clusters\
         \n\
         \n  # the operator's log: {log}\
         \nPress Ctrl-C to stop.",
        kubeconfig = kubeconfig.display(),
        ns = args.namespace,
        file = files[0].display(),
        endpoint = moto.endpoint(),
        log = log.display(),
    ));

    // The controllers stop on the same signal (SIGINT or SIGTERM), so whichever is seen first,
    // a clean stop of the operator is the user's Ctrl-C too.
    let stopped = tokio::select! {
        signal = tokio::signal::ctrl_c() => {
            signal.map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
            None
        }
        stopped = &mut operator => Some(stopped),
    };
    say("\n==> stopping: the operator, the emulator and the API server (nothing is kept)");
    let stopped = match stopped {
        Some(stopped) => stopped,
        // Give the controllers a moment to finish what they are doing.
        None => match tokio::time::timeout(Duration::from_secs(30), &mut operator).await {
            Ok(stopped) => stopped,
            Err(_) => {
                operator.abort();
                return Err("the operator was still busy 30s after Ctrl-C".into());
            }
        },
    };
    if !matches!(stopped, Ok(Ok(()))) {
        return Err(format!("the operator stopped: {}", outcome(stopped)));
    }
    say("    operator: shut down");
    drop(moto);
    say("==> stopped");
    Ok(())
}

/// The operator's logs go to a file, so that the demo's own output stays readable.
fn init_operator_log(path: &std::path::Path) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .init();
    Ok(())
}

fn outcome(stopped: Result<Result<(), manager::ManagerError>, tokio::task::JoinError>) -> String {
    match stopped {
        Ok(Ok(())) => "shut down".into(),
        Ok(Err(err)) => manager::report(&err),
        Err(err) => format!("panicked: {err}"),
    }
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<(), String> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(name)
        .await
        .map_err(|e| format!("read namespace {name}: {e}"))?
        .is_some()
    {
        return Ok(());
    }
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &ns)
        .await
        .map_err(|e| format!("create namespace {name}: {e}"))?;
    Ok(())
}

/// Waits until every object is Ready, printing each object's Ready message when it changes.
async fn wait_ready(client: &Client, ns: &str, objects: &[DynamicObject], timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let mut pending = Vec::new();
        for obj in objects {
            let now = api_for(client, ns, obj)
                .get_opt(&obj.name_any())
                .await
                .map_err(|e| format!("read {}: {e}", id(obj)))?;
            let line = match now.as_ref().and_then(|o| condition(o, "Ready")) {
                Some((status, reason, message)) => format!("Ready={status} {reason}: {message}"),
                None => "no status yet".into(),
            };
            if last.get(&id(obj)) != Some(&line) {
                say(format!(
                    "    [{:>5.1}s] {}: {line}",
                    start.elapsed().as_secs_f64(),
                    id(obj)
                ));
                last.insert(id(obj), line.clone());
            }
            if !now.as_ref().is_some_and(is_ready) {
                pending.push(format!("{} ({line})", id(obj)));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "not Ready after {}s: {}",
                timeout.as_secs(),
                pending.join("; ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An object's Ready condition and the rest of its status, one field a line.
fn print_status(obj: &DynamicObject) {
    let ready = condition(obj, "Ready")
        .map(|(status, reason, message)| format!("Ready={status} {reason}: {message}"))
        .unwrap_or_default();
    say(format!("  {}  {ready}", id(obj)));
    let Some(status) = obj.data["status"].as_object() else {
        return;
    };
    for (key, value) in status {
        if matches!(key.as_str(), "conditions" | "observedGeneration") {
            continue;
        }
        match value {
            // One level down: `database.endpoint: ...`, `services[movies]: {...}`.
            serde_json::Value::Object(fields) => {
                for (sub, v) in fields {
                    say(format!("      {key}.{sub}: {}", short(v)));
                }
            }
            serde_json::Value::Array(items) if items.iter().all(|i| i["name"].is_string()) && !items.is_empty() => {
                for item in items {
                    let mut rest = item.clone();
                    let name = rest["name"].as_str().unwrap_or_default().to_string();
                    if let Some(fields) = rest.as_object_mut() {
                        fields.remove("name");
                    }
                    say(format!("      {key}[{name}]: {}", short(&rest)));
                }
            }
            other => say(format!("      {key}: {}", short(other))),
        }
    }
}

/// A status value on one line: strings bare, the rest as compact JSON, cut at 150 characters.
fn short(value: &serde_json::Value) -> String {
    let mut text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() > 150 {
        text.truncate(text.floor_char_boundary(147));
        text.push_str("...");
    }
    text
}
