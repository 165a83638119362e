//! The container image, proven without a Docker daemon. `tests/scripts/build-image.sh` builds the
//! image the `Dockerfile` describes (a static musl binary on a distroless-static-like base) with
//! crane, as an OCI layout plus its exported root filesystem. Here:
//!
//! - the `Dockerfile` and the script's image agree: base, user, entrypoint, command, the binary's
//!   path, the build command and the Rust version, so neither changes without the other;
//! - the operator runs from that root filesystem the way a pod runs it: chrooted into it (no host
//!   library is reachable), as the image's user 65532 with no capabilities (a user namespace), in
//!   its working directory with only its environment, configured in-cluster (a service-account
//!   token and CA under `/var/run/secrets/kubernetes.io/serviceaccount`, `KUBERNETES_SERVICE_*`),
//!   and reconciles a WebStack end to end against the test API server and the AWS emulator.
//!
//! A test binary of its own (`cargo test --test image`): it never runs beside the integration
//! binary's tests, and it starts its own API server.

#[path = "integration/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use aws_sdk_ec2::types::Filter;
use base64::Engine;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::Value;
use webstack_operator::api::WebStack;

use harness::kube::{client, install_crds, kubeconfig_path, namespace};
use harness::leftovers::leftovers;
use harness::moto::{Moto, REGION};
use harness::operator::{Operator, run_args};
use harness::{repo_root, script_output, unique};

/// The image built by `tests/scripts/build-image.sh` (once per test binary).
struct Image {
    dir: PathBuf,
    /// The image config (`config` of the OCI config blob: User, Entrypoint, Cmd, Env, WorkingDir)
    /// and the whole config blob.
    blob: Value,
    layers: Vec<Value>,
}

impl Image {
    fn get() -> &'static Image {
        static IMAGE: OnceLock<Image> = OnceLock::new();
        IMAGE.get_or_init(|| {
            let dir = script_output("build-image.sh");
            let layout = dir.join("oci");
            let index = read_json(&layout.join("index.json"));
            let manifests = index["manifests"].as_array().expect("index.json manifests");
            assert_eq!(manifests.len(), 1, "one image in the layout: {index}");
            let manifest = read_json(&blob_path(&layout, &manifests[0]["digest"]));
            let blob = read_json(&blob_path(&layout, &manifest["config"]["digest"]));
            let layers = manifest["layers"].as_array().expect("manifest layers").clone();
            Image { dir, blob, layers }
        })
    }

    fn config(&self, field: &str) -> &Value {
        &self.blob["config"][field]
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    fn strings(&self, field: &str) -> Vec<String> {
        self.config(field)
            .as_array()
            .unwrap_or_else(|| panic!("config.{field} is a list: {}", self.blob))
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob_path(layout: &Path, digest: &Value) -> PathBuf {
    let digest = digest.as_str().expect("a digest");
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    layout.join("blobs/sha256").join(hex)
}

/// The instructions of the Dockerfile's last stage, and the whole file.
fn dockerfile() -> (Vec<(String, String)>, String) {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("read Dockerfile");
    // Join continuation lines, drop comments, split each instruction into (KEYWORD, arguments).
    let joined = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let instructions: Vec<(String, String)> = joined
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.trim().split_once(char::is_whitespace).unwrap_or((l.trim(), ""));
            (k.to_uppercase(), v.trim().to_string())
        })
        .collect();
    let last_from = instructions.iter().rposition(|(k, _)| k == "FROM").expect("a FROM");
    (instructions[last_from..].to_vec(), text)
}

fn instruction<'a>(stage: &'a [(String, String)], keyword: &str) -> &'a str {
    let found: Vec<&str> = stage
        .iter()
        .filter(|(k, _)| k == keyword)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {keyword} in the Dockerfile's final stage: {found:?}"
    );
    found[0]
}

fn exec_form(value: &str) -> Vec<String> {
    serde_json::from_str(value).unwrap_or_else(|e| panic!("exec form (a JSON list) expected, got {value}: {e}"))
}

#[test]
fn dockerfile_and_script_build_the_same_image() {
    let image = Image::get();
    let (stage, text) = dockerfile();

    // The final stage: distroless static (Debian 12) nonroot, and the config the script gives.
    assert_eq!(stage[0].1, "gcr.io/distroless/static-debian12:nonroot");
    let user = instruction(&stage, "USER");
    assert_eq!(user, "65532:65532", "the Dockerfile's user is nonroot's uid:gid");
    assert_eq!(image.config("User"), user);
    let entrypoint = exec_form(instruction(&stage, "ENTRYPOINT"));
    assert_eq!(image.strings("Entrypoint"), entrypoint);
    assert_eq!(image.strings("Cmd"), exec_form(instruction(&stage, "CMD")));
    assert_eq!(image.strings("Cmd"), ["run"]);
    // The binary is copied to where the entrypoint runs it, and the image has it there.
    let copy = instruction(&stage, "COPY");
    assert_eq!(copy, format!("--from=build /webstack-operator {}", entrypoint[0]));
    let binary = image.rootfs().join(entrypoint[0].trim_start_matches('/'));
    let mode = std::fs::metadata(&binary)
        .expect("the entrypoint is in the image")
        .mode();
    assert_eq!(mode & 0o777, 0o755, "{} is executable", binary.display());
    // Given a binary (CI: its test build's, WEBSTACK_IMAGE_BINARY), the image carries that very file.
    if let Some(given) = std::env::var_os("WEBSTACK_IMAGE_BINARY") {
        let given = std::fs::read(&given).expect("read WEBSTACK_IMAGE_BINARY");
        assert!(
            std::fs::read(&binary).expect("read the image's binary") == given,
            "the image's {} is WEBSTACK_IMAGE_BINARY",
            entrypoint[0]
        );
    }

    // What the distroless base gives, the script's base layer gives too.
    assert_eq!(image.blob["os"], "linux");
    assert_eq!(image.blob["architecture"], "amd64");
    assert_eq!(image.config("WorkingDir"), "/home/nonroot");
    let env = image.strings("Env");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert!(
        env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".to_string()),
        "{env:?}"
    );
    let root = image.rootfs();
    let bundle = std::fs::read_to_string(root.join("etc/ssl/certs/ca-certificates.crt")).expect("the CA bundle");
    assert!(bundle.matches("BEGIN CERTIFICATE").count() > 100, "a full CA bundle");
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("/etc/passwd");
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    let group = std::fs::read_to_string(root.join("etc/group")).expect("/etc/group");
    assert!(group.contains("nonroot:x:65532:"), "{group}");
    let tmp = std::fs::metadata(root.join("tmp")).expect("/tmp");
    assert!(tmp.is_dir() && tmp.mode() & 0o7777 == 0o1777, "/tmp is 1777");
    assert!(root.join("home/nonroot").is_dir());
    // Two layers (base, binary), nothing else: no shell, no libc, no package manager.
    assert_eq!(image.layers.len(), 2, "{:?}", image.layers);
    for absent in ["bin/sh", "lib", "usr/lib", "lib64"] {
        assert!(!root.join(absent).exists(), "/{absent} is not in the image");
    }

    // The build: the same command in both, the Rust version Cargo.toml requires.
    let build = "cargo build --release --locked --target x86_64-unknown-linux-musl";
    assert!(text.contains(build), "the Dockerfile runs `{build}`");
    let script = std::fs::read_to_string(repo_root().join("tests/scripts/build-image.sh")).expect("the script");
    assert!(
        script.contains("cargo build --release --locked --target \"$triple\"")
            && script.contains("triple=x86_64-unknown-linux-musl"),
        "the script runs `{build}`"
    );
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"');
    assert!(
        text.contains(&format!("FROM rust:{rust_version}-bookworm AS build")),
        "the build stage is the official Rust {rust_version} image on bookworm"
    );
}

/// A copy of the image's root filesystem for one test (it gets the service-account files and the
/// operator's record of its AWS operations), removed when dropped.
struct Root(PathBuf);

impl Root {
    fn copy_of(image: &Image) -> Root {
        let dir = std::env::temp_dir().join(unique("webstack-image-root"));
        let status = Command::new("cp")
            .arg("-R")
            .arg("--preserve=mode,timestamps")
            .arg(image.rootfs())
            .arg(&dir)
            .status()
            .expect("run cp");
        assert!(status.success(), "copying the image's root filesystem");
        Root(dir)
    }

    /// `path` inside the root filesystem, as this host sees it.
    fn host(&self, path: &str) -> PathBuf {
        self.0.join(path.trim_start_matches('/'))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a pod gets to reach the API server in-cluster: the service-account token, the cluster's
/// CA and namespace as files, `KUBERNETES_SERVICE_HOST`/`_PORT` in the environment. Taken from the
/// test API server's admin kubeconfig (its token is a static bearer token, as a service account's is).
fn in_cluster(root: &Root, ns: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(kubeconfig_path()).expect("read the test kubeconfig");
    let kubeconfig: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig YAML");
    let cluster = &kubeconfig["clusters"][0]["cluster"];
    let server = cluster["server"].as_str().expect("server");
    let ca = base64::engine::general_purpose::STANDARD
        .decode(cluster["certificate-authority-data"].as_str().expect("CA data"))
        .expect("base64 CA");
    let token = kubeconfig["users"][0]["user"]["token"].as_str().expect("token");
    let dir = root.host(SERVICE_ACCOUNT);
    std::fs::create_dir_all(&dir).expect("service-account dir");
    std::fs::write(dir.join("token"), token).expect("token");
    std::fs::write(dir.join("ca.crt"), ca).expect("ca.crt");
    std::fs::write(dir.join("namespace"), ns).expect("namespace");
    let (host, port) = server
        .strip_prefix("https://")
        .and_then(|s| s.rsplit_once(':'))
        .expect("server https://host:port");
    vec![
        ("KUBERNETES_SERVICE_HOST".into(), host.into()),
        ("KUBERNETES_SERVICE_PORT".into(), port.into()),
    ]
}

/// `webstack-operator run` from the image: chrooted into `root` as the image's user (mapped from
/// whoever runs the test by a user namespace: inside, uid and gid 65532 and no capabilities), in
/// its working directory, with exactly the image's environment plus what a pod spec would add.
fn start_from_image(image: &Image, root: &Root, moto: &Moto, ns: &str) -> Operator {
    let key = moto.operator_key();
    let user = image.config("User").as_str().expect("User");
    let (uid, gid) = user.split_once(':').expect("User is uid:gid");
    let entrypoint = image.strings("Entrypoint");
    let mut args = image.strings("Cmd");
    args.extend(run_args(ns, "3s").into_iter().skip(1)); // the pod's args: `run` and its options
    let mut command = Command::new("unshare");
    command
        .arg(format!("--map-user={uid}"))
        .arg(format!("--map-group={gid}"))
        .arg(format!("--root={}", root.0.display()))
        .arg(format!(
            "--wd={}",
            image.config("WorkingDir").as_str().expect("WorkingDir")
        ))
        .args(&entrypoint)
        .args(&args)
        .env_clear()
        // The container runtime's part: the image's Env, HOME from its /etc/passwd.
        .envs(image.strings("Env").iter().filter_map(|e| e.split_once('=')))
        .env("HOME", "/home/nonroot")
        .envs(in_cluster(root, ns))
        // The pod spec's part: the AWS SDK's standard configuration, pointed at the emulator.
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &key.id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret)
        .env("RUST_LOG", "info,webstack_operator=debug")
        .env(webstack_operator::aws::RECORD_OPERATIONS, "/tmp/operations");
    Operator::spawn(command, &format!("image-{ns}"), root.host("/tmp/operations"))
}

/// As the host sees the operator's process once `unshare` has executed the entrypoint: its root
/// directory, the user namespace's uid map (`inside outside count`) and its effective capabilities.
fn process_facts(op: &Operator, image_root: &Root) -> (PathBuf, String, String) {
    let proc = PathBuf::from(format!("/proc/{}", op.pid()));
    let binary = image_root.host("/webstack-operator");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_link(proc.join("exe")).ok() != Some(binary.clone()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the operator did not start from {}:\n{}",
            binary.display(),
            op.log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let root = std::fs::read_link(proc.join("root")).expect("/proc/PID/root");
    let uid_map = std::fs::read_to_string(proc.join("uid_map")).expect("uid_map");
    let status = std::fs::read_to_string(proc.join("status")).expect("status");
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff")
        .trim()
        .to_string();
    (root, uid_map.split_whitespace().collect::<Vec<_>>().join(" "), cap_eff)
}

const STACK: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: imaged}
spec:
  network: {cidr: 10.42.0.0/16}
  loadBalancer:
    listeners:
      - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404}}}
"#;

fn ready(ws: &WebStack) -> bool {
    ws.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            && s.observed_generation == ws.metadata.generation
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_reconciles_a_webstack_end_to_end() {
    let started = std::time::Instant::now();
    let image = Image::get();
    let built = started.elapsed();
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "image").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let root = Root::copy_of(image);
    let op = start_from_image(image, &root, &moto, &ns);

    // It is the image's binary, chrooted, as 65532 with no capabilities (checked while it runs).
    let (proc_root, uid_map, cap_eff) = process_facts(&op, &root);
    assert_eq!(proc_root, root.0, "chrooted into the image's root filesystem");
    assert!(uid_map.starts_with("65532 "), "runs as uid 65532: uid_map {uid_map}");
    assert_eq!(cap_eff, "0000000000000000", "no capabilities");

    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let ws: WebStack = serde_yaml::from_str(STACK).expect("the WebStack");
    api.patch("imaged", &PatchParams::apply("image-test"), &Patch::Apply(&ws))
        .await
        .expect("apply the WebStack");
    let ws = harness::wait::until(&api, "imaged", &op, "the WebStack Ready", 180, ready).await;
    let up = started.elapsed();

    // AWS, read back through the SDK: the stack's VPC, tagged for it.
    let uid = ws.uid().expect("uid");
    let vpc_id = ws.status.as_ref().and_then(|s| s.vpc_id.clone()).expect("status.vpcId");
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let vpcs = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:webstack.io/uid").values(&uid).build())
        .send()
        .await
        .expect("DescribeVpcs");
    let vpcs = vpcs.vpcs();
    assert_eq!(vpcs.len(), 1, "one VPC tagged for the stack: {vpcs:?}");
    assert_eq!(vpcs[0].vpc_id(), Some(vpc_id.as_str()));
    assert_eq!(vpcs[0].cidr_block(), Some("10.42.0.0/16"));

    // Delete: the finalizer runs in the image too, and nothing is left in AWS.
    api.delete("imaged", &DeleteParams::default()).await.expect("delete");
    harness::wait::gone(&api, "imaged", &op, 180).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
    println!(
        "image {}: built/fresh in {:.1}s, WebStack Ready at {:.1}s, deleted with nothing left at {:.1}s",
        image.dir.display(),
        built.as_secs_f64(),
        up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // Dropping the operator checks deploy/iam-policy.json covers every AWS call it made.
    drop(op);
}
