//! A `moto_server` (the local AWS emulator from PyPI) on a free loopback port, one per test that
//! asks, stopped when the guard drops. It runs through `tests/moto/server.py`, which applies the
//! project's emulator patches first, and records every request it receives (moto's recorder), so
//! tests can count the calls made to AWS from outside the operator. It is started through a small
//! shell wrapper that stops the emulator when its standard input closes, so a test process that
//! dies abruptly leaves nothing behind.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use base64::Engine;

use super::{repo_root, script_output, unique};

/// A running emulator.
pub struct Moto {
    endpoint: String,
    child: Child,
    recording: PathBuf,
    /// Set when IAM is enforced: the operator's and the administrator's identities.
    identities: Option<Identities>,
}

/// An IAM user's access key.
#[derive(Clone, Debug)]
pub struct Key {
    pub arn: String,
    pub id: String,
    pub secret: String,
}

/// Who signs under enforcement: the operator (the policies of deploy/) and the test (an administrator).
#[derive(Clone, Debug)]
struct Identities {
    operator: Key,
    admin: Key,
}

/// The cluster id every test operator runs with (`harness/operator.rs`), in place of the IAM
/// policies' placeholder.
pub const CLUSTER_ID: &str = "e2e";

/// A policy file of deploy/ with its placeholders filled in.
pub fn deploy_policy(file: &str, replacements: &[(&str, &str)]) -> String {
    let path = repo_root().join("deploy").join(file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    text
}

/// The region the tests use.
pub const REGION: &str = "us-east-1";

/// One request the emulator received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The signing name: `ec2`, `elasticloadbalancing`, `ecs`, `logs`, ...
    pub service: String,
    /// The operation: `DescribeVpcs`, `CreateRule`, ...; for REST APIs the method and path.
    pub action: String,
    /// The access key that signed it (tells the operator's calls from the test's own).
    pub access_key: String,
    /// The request body as sent (form-encoded for query protocols, JSON for JSON protocols).
    pub body: String,
}

impl Call {
    /// Whether the call may change something (anything but a read).
    pub fn mutates(&self) -> bool {
        let reads = ["Describe", "List", "Get", "Head", "GET ", "HEAD "];
        !reads.iter().any(|r| self.action.starts_with(r))
    }
}

impl Moto {
    /// Starts `moto_server`, waits until it accepts connections, and turns IAM enforcement on
    /// (`tests/moto/identities.py`, evaluated by `tests/moto/iam_eval.py` as AWS does): the
    /// operator signs as a user holding `deploy/iam-policy.json` and `deploy/iam-policy-tenants.json`
    /// (for the cluster id `e2e`), unmodified, so every end-to-end test runs under the real policy;
    /// the test itself ([`Moto::sdk_config`]) signs as an administrator.
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// [`Moto::start`] with emulator settings (e.g. `MOTO_ECS_DEPLOY_SECONDS`, how long an ECS
    /// deployment's tasks take to start, `tests/moto/ecs_services.py`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let mut moto = Moto::start_open_with_env(env);
        moto.enforce();
        moto
    }

    fn enforce(&mut self) {
        let policies: Vec<String> = ["iam-policy.json", "iam-policy-tenants.json"]
            .iter()
            .map(|f| deploy_policy(f, &[("WEBSTACK_CLUSTER_ID", CLUSTER_ID)]))
            .collect();
        let body = serde_json::json!({
            "operator": {"name": "webstack-operator", "policies": policies},
            "admin": "admin",
        });
        let (status, answer) = self.request("POST", "/webstack/identities", &body.to_string());
        assert!(status.contains(" 200 "), "identities: {status} {answer}");
        let v: serde_json::Value = serde_json::from_str(&answer).expect("identities JSON");
        let key = |who: &str| Key {
            arn: v[who]["arn"].as_str().unwrap().to_string(),
            id: v[who]["access_key_id"].as_str().unwrap().to_string(),
            secret: v[who]["secret_access_key"].as_str().unwrap().to_string(),
        };
        self.identities = Some(Identities {
            operator: key("operator"),
            admin: key("admin"),
        });
    }

    /// The key the operator signs with: the IAM user holding the policies of deploy/ when IAM is
    /// enforced, else the emulator's `testing`.
    pub fn operator_key(&self) -> Key {
        match &self.identities {
            Some(i) => i.operator.clone(),
            None => Key {
                arn: "arn:aws:iam::123456789012:root".into(),
                id: "testing".into(),
                secret: "testing".into(),
            },
        }
    }

    /// An SDK configuration that signs with `key`.
    pub async fn sdk_config_as(&self, key: &Key) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(&key.id, &key.secret, None, None, "moto"))
            .load()
            .await
    }

    /// Starts `moto_server` with emulator settings, without IAM enforcement (any key is accepted):
    /// for the local demo, whose user signs with `testing`.
    pub fn start_open_with_env(env: &[(&str, &str)]) -> Moto {
        let moto_server = script_output("moto-venv.sh");
        let python = moto_server.with_file_name("python");
        let server = repo_root().join("tests/moto/server.py");
        let recording = std::env::temp_dir().join(format!("{}.jsonl", unique("moto-recording")));
        // The port is picked free, then released for the emulator to bind a second or two later:
        // another process (another test's emulator, an operator's metrics) may take it meanwhile.
        // The emulator answers with the token it was started with, so one that is not this one is
        // told apart (its own start failed: this one is stopped and another port tried).
        let token = unique("moto-token");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("pick a free loopback port")
                .port();
            let child = Command::new("sh")
                .arg("-c")
                .arg(r#""$0" "$1" -H 127.0.0.1 -p "$2" </dev/null >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid"#)
                .arg(&python)
                .arg(&server)
                .arg(port.to_string())
                .env("MOTO_ENABLE_RECORDING", "1")
                .env("MOTO_RECORDER_FILEPATH", &recording)
                .env("WEBSTACK_MOTO_TOKEN", &token)
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let moto = Moto {
                endpoint: format!("http://{addr}"),
                child,
                recording: recording.clone(),
                identities: None,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut listening_since = None;
            loop {
                assert!(
                    Instant::now() < deadline,
                    "moto_server did not answer on {addr} within 60s"
                );
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    let since = *listening_since.get_or_insert_with(Instant::now);
                    match moto.token() {
                        Some(t) if t == token => return moto,
                        // Another emulator on the port: this one could not bind it.
                        Some(_) => break,
                        // Still starting, or a server that is no emulator (given 10 s).
                        None if since.elapsed() > Duration::from_secs(10) => break,
                        None => {}
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // Not ours: this one is stopped (its wrapper stops it when stdin closes); another port.
            drop(moto);
        }
        panic!("moto_server: no free port of its own after 5 tries");
    }

    /// The token the server on the port was started with, if it answers as this project's emulator.
    fn token(&self) -> Option<String> {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = format!("GET /webstack/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let body = response.split_once("\r\n\r\n")?.1;
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v["token"].as_str().map(String::from)
    }

    /// The emulator's URL, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration pointed at the emulator (the `endpoint_url` that `AWS_ENDPOINT_URL`
    /// sets for the operator), signing as the test: the administrator under enforcement, else
    /// dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        let key = match &self.identities {
            Some(i) => i.admin.clone(),
            None => self.operator_key(),
        };
        self.sdk_config_as(&key).await
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines().filter_map(parse).collect()
    }

    /// Makes every later call of each action fail with the given HTTP status and error code (in its
    /// protocol's error format); an empty list clears the faults (`tests/moto/faults.py`).
    pub fn faults(&self, faults: &[(&str, u16, &str)]) {
        let map: serde_json::Map<String, serde_json::Value> = faults
            .iter()
            .map(|(action, status, code)| (action.to_string(), serde_json::json!({"status": status, "code": code})))
            .collect();
        self.post("/webstack/faults", &serde_json::Value::Object(map).to_string());
    }

    /// Puts an issued ACM certificate with this ARN into the emulated account, as the account a
    /// manifest runs in would hold it (`tests/moto/fixtures.py`).
    pub fn acm_certificate(&self, arn: &str, domain: &str) {
        let body = serde_json::json!({"arn": arn, "domain": domain}).to_string();
        self.post("/webstack/acm-certificates", &body);
    }

    /// Issues every ACM certificate a manifest's text names (for `domain`): the user's
    /// certificates, which exist before the manifest is applied.
    pub fn certificates_named_in(&self, manifest: &str, domain: &str) {
        for arn in manifest.split(|c: char| c.is_whitespace() || "\"',[]{}".contains(c)) {
            if arn.starts_with("arn:aws:acm:") {
                self.acm_certificate(arn, domain);
            }
        }
    }

    /// Creates a public Route 53 hosted zone with this id for `domain` in the emulated account, as
    /// the account a manifest runs in would hold it (`tests/moto/route53.py`).
    pub fn hosted_zone(&self, id: &str, domain: &str) {
        let body = serde_json::json!({"id": id, "name": domain}).to_string();
        self.post("/webstack/hosted-zones", &body);
    }

    /// Creates every hosted zone a manifest's text names (`hostedZoneId: Z...`) for `domain`: the
    /// user's zones, which exist before the manifest is applied.
    pub fn hosted_zones_named_in(&self, manifest: &str, domain: &str) {
        let mut tokens = manifest.split(|c: char| c.is_whitespace() || "\"',[]{}".contains(c));
        while let Some(t) = tokens.next() {
            if t == "hostedZoneId:"
                && let Some(id) = tokens.by_ref().find(|t| !t.is_empty())
            {
                self.hosted_zone(id, domain);
            }
        }
    }

    /// Replaces the faults with `faults`, the fault layer's own JSON: per action (or `"*"`), a
    /// fault or a list of them with `status`, `code`, `rate` and `delay`; `"seed"` seeds the
    /// draws (`tests/moto/faults.py`).
    pub fn faults_json(&self, faults: &serde_json::Value) {
        self.post("/webstack/faults", &faults.to_string());
    }

    /// What the fault layer counted: `injected` (failed requests per action) and `seen` (AWS
    /// requests per second of the server's clock).
    pub fn fault_counts(&self) -> serde_json::Value {
        let (_, body) = self.request("GET", "/webstack/faults", "");
        serde_json::from_str(&body).expect("faults JSON")
    }

    /// AWS requests per second (faulted or not) over the last `secs` whole seconds of the
    /// emulator's clock.
    pub fn request_rate(&self, secs: u64) -> f64 {
        let counts = self.fault_counts();
        let now = counts["now"].as_u64().expect("the emulator's clock");
        let seen = counts["seen"].as_object().cloned().unwrap_or_default();
        let from = now.saturating_sub(secs);
        let n: u64 = seen
            .iter()
            .filter_map(|(k, v)| Some((k.parse::<u64>().ok()?, v.as_u64()?)))
            .filter(|(t, _)| (from..now).contains(t))
            .map(|(_, n)| n)
            .sum();
        n as f64 / secs as f64
    }

    /// How many requests of `action` the faults have failed so far.
    pub fn injected(&self, action: &str) -> u64 {
        let (_, body) = self.request("GET", "/webstack/faults", "");
        let v: serde_json::Value = serde_json::from_str(&body).expect("faults JSON");
        v["injected"][action].as_u64().unwrap_or(0)
    }

    /// Makes every task of a task definition naming one of `images` fail to start, as an image
    /// that cannot be pulled (replacing the list; `tests/moto/ecs_services.py`).
    pub fn unpullable(&self, images: &[&str]) {
        let body = serde_json::json!({"images": images}).to_string();
        self.post("/webstack/ecs/unpullable", &body);
    }

    /// A POST to the emulator's own API (`/moto-api/...`), e.g. `reset-auth`; returns the status line.
    pub fn moto_api(&self, path: &str, body: &str) -> String {
        self.post(&format!("/moto-api/{path}"), body)
    }

    fn post(&self, path: &str, body: &str) -> String {
        self.request("POST", path, body).0
    }

    /// One HTTP request to the emulator: (status line, body).
    fn request(&self, method: &str, path: &str, body: &str) -> (String, String) {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect to moto");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send to moto");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read from moto");
        let status = response.lines().next().unwrap_or_default().to_string();
        assert!(
            status.contains(" 200 ") || status.contains(" 201 "),
            "{method} {path}: {status}"
        );
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// One line of moto's recording: service from the credential scope of `Authorization`, action
/// from `X-Amz-Target` (JSON protocols), else `Action=` in the form body (query protocols), else
/// the operation in the path `/service/<service>/operation/<Operation>` (Smithy RPC v2 CBOR, e.g.
/// CloudWatch), else the method and path (REST).
fn parse(line: &str) -> Option<Call> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let header = |name: &str| {
        v["headers"].as_object().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
    };
    let auth = header("Authorization").unwrap_or_default();
    let credential = auth.split("Credential=").nth(1).unwrap_or_default();
    let scope: Vec<&str> = credential.split(',').next().unwrap_or_default().split('/').collect();
    let (access_key, service) = (scope.first().copied()?, scope.get(3).copied().unwrap_or_default());
    let body = match (v["body"].as_str(), v["body_encoded"].as_bool()) {
        (Some(b), Some(true)) => {
            String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(b).ok()?).into_owned()
        }
        (Some(b), _) => b.to_string(),
        _ => String::new(),
    };
    let action = match header("X-Amz-Target") {
        Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
        None => match body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
            Some(a) => a.to_string(),
            None => {
                let url = v["url"].as_str().unwrap_or_default();
                let path = url.splitn(4, '/').nth(3).unwrap_or_default();
                match path.strip_prefix("service/").and_then(|p| p.split_once("/operation/")) {
                    Some((_, operation)) => operation.trim_end_matches('/').to_string(),
                    None => format!("{} /{}", v["method"].as_str().unwrap_or_default(), path),
                }
            }
        },
    };
    Some(Call {
        service: service.to_string(),
        action,
        access_key: access_key.to_string(),
        body,
    })
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the wrapper stop the emulator and exit.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
    }
}
