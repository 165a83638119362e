//! The real `webstack-operator run` binary as a child process, configured the way a user
//! configures it: a kubeconfig and the AWS SDK's standard environment (`AWS_ENDPOINT_URL`).
//!
//! Every operator records the AWS operations it performs (`WEBSTACK_RECORD_OPERATIONS`, a file
//! per operator) and, when the test is done with it (dropped while the test is not panicking
//! already), fails the test unless `deploy/iam-policy.json` covers each of them
//! ([`super::iam::check_recorded`]): so every end-to-end test checks the policy against what its
//! operator really did.

use std::process::{Child, Command, Stdio};

use super::kube::chart_identity_kubeconfig_path;
use super::moto::{Moto, REGION};

/// A running operator, stopped (SIGKILL) when dropped; its log goes to a file under the temp dir.
pub struct Operator {
    child: Child,
    pub log: std::path::PathBuf,
    /// The `service:operation`s it performed, one a line (`WEBSTACK_RECORD_OPERATIONS`).
    pub operations: std::path::PathBuf,
    /// Runs as a ServiceAccount with a chart's RBAC (an impersonating kubeconfig): a request the
    /// API server refused as forbidden, even one the operator only logs (an Event), fails the test.
    as_service_account: bool,
    /// Forbidden requests a test denies on purpose (a text each such log line contains).
    expected_forbidden: Vec<String>,
}

/// `run` and the options every test operator runs with: one namespace, the cluster id `e2e`, the
/// given drift re-check period, metrics and health probes on free loopback ports (logged).
pub fn run_args(namespace: &str, resync: &str) -> Vec<String> {
    let mut args = unscoped_args(resync);
    args.splice(3..3, ["--namespace".to_string(), namespace.to_string()]);
    args
}

/// [`run_args`] without `--namespace`: the test gives a `--namespace-selector` of its own (the API
/// server is shared with every other test).
pub fn unscoped_args(resync: &str) -> Vec<String> {
    [
        "run",
        "--cluster-id",
        "e2e",
        "--resync-period",
        resync,
        // Many operators run at once: each on free ports (logged).
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--health-probe-bind-address",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec()
}

impl Operator {
    /// Forbidden requests whose log lines contain `text` are the test's purpose, not a permission
    /// the chart lacks.
    pub fn expect_forbidden(&mut self, text: &str) {
        self.expected_forbidden.push(text.to_string());
    }

    /// Starts the operator as the chart's ServiceAccount (exactly the chart's RBAC), for one
    /// namespace, with a short drift re-check period.
    pub fn start(moto: &Moto, namespace: &str, resync: &str) -> Operator {
        Operator::start_as(moto, namespace, resync, &chart_identity_kubeconfig_path())
    }

    /// Starts the operator with the given kubeconfig.
    pub fn start_as(moto: &Moto, namespace: &str, resync: &str, kubeconfig: &std::path::Path) -> Operator {
        Operator::start_with(moto, namespace, resync, kubeconfig, &[])
    }

    /// Starts the operator with the given kubeconfig and extra environment (e.g. other AWS credentials).
    pub fn start_with(
        moto: &Moto,
        namespace: &str,
        resync: &str,
        kubeconfig: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Operator {
        Operator::start_named(moto, namespace, resync, kubeconfig, env, namespace, &[])
    }

    /// Starts one of several operators of a namespace (`name` tells their logs apart), with extra
    /// command-line arguments.
    pub fn start_named(
        moto: &Moto,
        namespace: &str,
        resync: &str,
        kubeconfig: &std::path::Path,
        env: &[(&str, &str)],
        name: &str,
        args: &[&str],
    ) -> Operator {
        Operator::start_scoped(moto, Some(namespace), resync, kubeconfig, env, name, args)
    }

    /// [`Operator::start_named`], with `--namespace` only if `namespace` is given: without it,
    /// `args` must limit the operator (e.g. `--namespace-selector`), or it acts on every other
    /// test's objects.
    pub fn start_scoped(
        moto: &Moto,
        namespace: Option<&str>,
        resync: &str,
        kubeconfig: &std::path::Path,
        env: &[(&str, &str)],
        name: &str,
        args: &[&str],
    ) -> Operator {
        let operations = std::env::temp_dir().join(format!("{}.operations", super::unique(name)));
        let _ = std::fs::remove_file(&operations);
        // Set by cargo for integration tests; the local demo (`cargo run --example demo`), which
        // shares this harness, runs the manager in its own process instead.
        let Some(built) = option_env!("CARGO_BIN_EXE_webstack-operator") else {
            panic!("the operator binary is known to integration tests only");
        };
        // Another build of it (e.g. the image's static release binary) when asked.
        let binary = std::env::var("WEBSTACK_OPERATOR_BINARY").unwrap_or_else(|_| built.to_string());
        let mut command = Command::new(binary);
        let key = moto.operator_key();
        command
            .args(namespace.map_or_else(|| unscoped_args(resync), |ns| run_args(ns, resync)))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", &key.id)
            .env("AWS_SECRET_ACCESS_KEY", &key.secret)
            .env("RUST_LOG", "info,webstack_operator=debug")
            .env(webstack_operator::aws::RECORD_OPERATIONS, &operations)
            .envs(env.iter().copied());
        Operator::spawn(command, name, operations)
    }

    /// Starts `command`, an operator however it is run (e.g. from a container image's root
    /// filesystem), with its log in the temp dir under `name`; `operations` is where, on this
    /// host, the file its `WEBSTACK_RECORD_OPERATIONS` names is.
    pub fn spawn(command: Command, name: &str, operations: std::path::PathBuf) -> Operator {
        Operator::spawn_logging(command, name, operations, false)
    }

    /// [`Operator::spawn`], with `piped`: its output taken through a pipe that a thread of this
    /// process copies into the log, as a container runtime takes a container's output. A file's
    /// pages are charged to the memory cgroup of the process that writes them: under a memory
    /// limit (`bench --memory-limit`) the log, written by the operator itself, would be counted as
    /// the operator's memory, which in a pod it is not.
    pub fn spawn_logging(mut command: Command, name: &str, operations: std::path::PathBuf, piped: bool) -> Operator {
        let log = std::env::temp_dir().join(format!("webstack-operator-{name}.log"));
        let mut file = std::fs::File::create(&log).expect("operator log");
        let (stdout, stderr) = if piped {
            let (mut reader, writer) = std::io::pipe().expect("operator log pipe");
            // Ends when the operator has exited and the write end is closed (here, once this
            // function's command is dropped).
            std::thread::spawn(move || std::io::copy(&mut reader, &mut file));
            (Stdio::from(writer.try_clone().expect("log pipe")), Stdio::from(writer))
        } else {
            (Stdio::from(file.try_clone().expect("log")), Stdio::from(file))
        };
        let as_service_account = command.get_envs().any(|(k, v)| {
            k == "KUBECONFIG"
                && v.and_then(|p| std::path::Path::new(p).file_name())
                    .is_some_and(|n| n.to_string_lossy().starts_with("kubeconfig-serviceaccount-"))
        });
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start webstack-operator");
        Operator {
            child,
            log,
            operations,
            as_service_account,
            expected_forbidden: Vec::new(),
        }
    }

    /// The operator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The AWS calls of each steady-state reconcile (the re-check of a settled object, one that
    /// applied no step and settled again) in the log so far: `(kind, calls)` per reconcile, from
    /// the driver's `reconciled` lines. The reconcile that wrote `Ready` is not one: it may log its
    /// line after a test has seen `Ready` through the API server.
    pub fn steady_reconciles(&self) -> Vec<(String, u32)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let field = |line: &str, name: &str| -> Option<String> {
            let rest = line.split(&format!(" {name}=")).nth(1)?;
            Some(rest.split(' ').next()?.to_string())
        };
        text.lines()
            .filter(|l| l.contains(" reconciled ") && l.contains("wait=Resync"))
            .filter(|l| {
                field(l, "recheck").as_deref() == Some("true")
                    && field(l, "aws_mutations").as_deref() == Some("0")
                    && field(l, "steps").as_deref() == Some("0")
            })
            .filter_map(|l| {
                let kind = field(l, "key")?.split('/').next()?.to_string();
                Some((kind, field(l, "aws_calls")?.parse().ok()?))
            })
            .collect()
    }

    /// The address it serves `endpoint` on (`Metrics` or `Health`), once its log says so.
    pub fn served_at(&self, endpoint: &str) -> Option<String> {
        let log = self.log_text();
        let line = log
            .lines()
            .find(|l| l.contains(" serving ") && l.contains(&format!("endpoint={endpoint}")))?;
        Some(line.split("address=").nth(1)?.split(' ').next()?.to_string())
    }

    /// The address it serves `endpoint` on (`Metrics` or `Health`), from its log.
    pub fn served(&self, endpoint: &str) -> String {
        self.served_at(endpoint)
            .unwrap_or_else(|| panic!("no {endpoint} address in the log:\n{}", self.log_tail()))
    }

    /// A scrape of its `/metrics`.
    pub async fn scrape(&self) -> String {
        http_get(&self.served("Metrics"), "/metrics").await.1
    }

    /// Kills the process at once (SIGKILL: no clean shutdown, no lease release).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The operator's whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The operator's log so far (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(30).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking()
            && let Err(problems) = super::iam::check_recorded(&self.operations)
        {
            panic!("{problems}");
        }
        if !std::thread::panicking() && self.as_service_account {
            // The API server's message for an RBAC denial: `<resource> "<name>" is forbidden: User "..." cannot ...`.
            let log = self.log_text();
            let forbidden: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(" is forbidden: User "))
                .filter(|l| !self.expected_forbidden.iter().any(|e| l.contains(e.as_str())))
                .collect();
            assert!(
                forbidden.is_empty(),
                "the operator lacked a permission its chart RBAC should grant ({}):\n{}",
                self.log.display(),
                forbidden.join("\n")
            );
        }
    }
}

/// A plain HTTP GET: the status code and the body.
pub async fn http_get(address: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

/// The value of the sample `line` (name and labels) in a scrape.
pub fn sample(scrape: &str, line: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
}
