//! `webstack-operator plan` as a user runs it: the real binary (or its kubectl plugin name), the
//! admin kubeconfig, the operator's AWS identity (`deploy/iam-policy.json` evaluated by the
//! emulator) and the cluster id `e2e`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::kube::kubeconfig_path;
use super::moto::{Moto, REGION};

/// One run: exit code, output, and how long it took.
pub struct PlanRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub secs: f64,
}

impl PlanRun {
    /// The JSON plan (run with `-o json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("plan JSON: {e}\n{}\n{}", self.stdout, self.stderr))
    }
}

/// The binary cargo built for the integration tests.
pub fn binary() -> &'static str {
    let Some(built) = option_env!("CARGO_BIN_EXE_webstack-operator") else {
        panic!("the operator binary is known to integration tests only");
    };
    built
}

/// Runs `plan` in namespace `ns` with `args`, standard input `stdin`, as `program` (the binary
/// itself unless given, e.g. a link named `kubectl-webstack`).
pub fn run_as(program: Option<&std::path::Path>, moto: &Moto, ns: &str, args: &[&str], stdin: Option<&str>) -> PlanRun {
    let key = moto.operator_key();
    let mut command = Command::new(program.map_or_else(|| binary().into(), |p| p.to_path_buf()));
    command
        .args(["plan", "--cluster-id", "e2e", "-n", ns])
        .args(args)
        .env("KUBECONFIG", kubeconfig_path())
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &key.id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret)
        // `WEBSTACK_PLAN_LOG=debug` shows the plan's own log (phases and their times) on failure.
        .env(
            "RUST_LOG",
            std::env::var("WEBSTACK_PLAN_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("start webstack-operator plan");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().expect("plan output");
    PlanRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Runs `plan` in `ns` with `args`.
pub fn run(moto: &Moto, ns: &str, args: &[&str]) -> PlanRun {
    run_as(None, moto, ns, args, None)
}

/// Runs `plan -o json --detailed-exitcode` of the manifest text `yaml` (on standard input).
pub fn of_text(moto: &Moto, ns: &str, yaml: &str, extra: &[&str]) -> PlanRun {
    let mut args = vec!["-f", "-", "-o", "json", "--detailed-exitcode"];
    args.extend_from_slice(extra);
    run_as(None, moto, ns, &args, Some(yaml))
}

/// The objects of a JSON plan, by `Kind/name`.
pub fn objects(plan: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    plan["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            (
                format!("{}/{}", o["kind"].as_str().unwrap(), o["name"].as_str().unwrap()),
                o,
            )
        })
        .collect()
}

/// The actions of one object's steps (waits left out).
pub fn actions(object: &serde_json::Value) -> std::collections::BTreeSet<String> {
    object["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|s| s["op"] != "wait")
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

/// Every `field: old → new` of a JSON plan, with its object.
pub fn field_changes(plan: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, o) in objects(plan) {
        for s in o["steps"].as_array().cloned().unwrap_or_default() {
            for f in s["fields"].as_array().cloned().unwrap_or_default() {
                let text = match f["old"].as_str() {
                    Some(old) => format!(
                        "{}: {old} → {}",
                        f["field"].as_str().unwrap(),
                        f["new"].as_str().unwrap()
                    ),
                    None => format!("{}: {}", f["field"].as_str().unwrap(), f["new"].as_str().unwrap()),
                };
                out.push((id.clone(), text));
            }
        }
    }
    out
}
