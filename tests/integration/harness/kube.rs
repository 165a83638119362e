//! A real kube-apiserver with embedded etcd, started once per test binary. Tests get a fresh
//! [`kube::Client`] (clients are tied to the Tokio runtime of each test) and their own namespace.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config, ResourceExt};

use super::{repo_root, script_output, unique};

struct Server {
    kubeconfig: PathBuf,
    /// Kept for the life of the test process: when it exits, the pipe to the server's stdin
    /// closes and the server shuts down and removes its data directory.
    _child: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get_or_init(start)
}

fn start() -> Server {
    let bin = script_output("build-apiserver.sh");
    let dir = std::env::temp_dir().join(unique("webstack-apiserver"));
    std::fs::create_dir_all(&dir).expect("create the API server's data dir");
    let log_path = dir.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("create the API server log");
    let mut child = Command::new(&bin)
        .arg(format!("--data-dir={}", dir.display()))
        .arg("--remove-data-dir")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(path) = line.strip_prefix("READY ") {
                let _ = tx.send(PathBuf::from(path));
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(180)) {
        Ok(kubeconfig) => Server {
            kubeconfig,
            _child: child,
        },
        Err(_) => {
            let _ = child.kill();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "the test kube-apiserver did not become ready in 180s; last log lines ({}):\n{}",
                log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// Path of the admin kubeconfig of the shared test API server.
pub fn kubeconfig_path() -> PathBuf {
    server().kubeconfig.clone()
}

/// Kubeconfig of the unprivileged user `webstack-operator` (it has only what tests grant it).
pub fn operator_kubeconfig_path() -> PathBuf {
    kubeconfig_path().with_file_name("kubeconfig-operator")
}

/// A client for the shared test API server, bound to the calling test's runtime.
pub async fn client() -> Client {
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path).expect("read the test kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("load the test kubeconfig");
    Client::try_from(config).expect("build a client")
}

/// Creates a namespace of its own for a test.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = unique(prefix);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the test namespace");
    name
}

/// The CRDs as checked in under `crds/`.
pub fn checked_in_crds() -> Vec<CustomResourceDefinition> {
    let dir = repo_root().join("crds");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read crds/")
        .map(|e| e.expect("crds/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a CRD file");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("CRD YAML");
            if !value.is_null() {
                out.push(serde_json::from_value(value).expect("a CustomResourceDefinition"));
            }
        }
    }
    out
}

/// Installs every CRD of `crds/` (server-side apply; idempotent) and waits until each is Established.
pub async fn install_crds(client: &Client) -> Vec<CustomResourceDefinition> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("webstack-tests").force();
    let mut installed = Vec::new();
    for crd in checked_in_crds() {
        let name = crd.name_any();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("installing CRD {name}: {e}"));
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        let crd = tokio::time::timeout(Duration::from_secs(60), established)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not Established within 60s"))
            .expect("watching the CRD")
            .expect("the CRD exists");
        installed.push(crd);
    }
    installed
}

/// The namespace and name of the chart's ServiceAccount in `deploy/webstack-operator.yaml`.
pub const OPERATOR_NAMESPACE: &str = "webstack-system";
pub const OPERATOR_SERVICE_ACCOUNT: &str = "webstack-operator";

/// The Kubernetes objects the chart renders for a plain install (`deploy/webstack-operator.yaml`,
/// kept equal to `helm template` by `chart::deploy_manifest_is_the_rendered_chart`).
pub fn deploy_manifest() -> Vec<DynamicObject> {
    super::manifest::load_manifests(&repo_root().join("deploy/webstack-operator.yaml"))
}

/// The RBAC objects of [`deploy_manifest`] (ServiceAccount, ClusterRole, Role and their bindings).
pub fn deploy_rbac() -> Vec<DynamicObject> {
    deploy_manifest()
        .into_iter()
        .filter(|o| {
            let t = o.types.as_ref().expect("apiVersion and kind");
            t.api_version.starts_with("rbac.authorization.k8s.io/") || t.kind == "ServiceAccount"
        })
        .collect()
}

/// The API of an object's kind (`namespaces`, `roles`, `validatingadmissionpolicies`, ... : every
/// kind the tests apply has a regular plural), namespaced when the object names a namespace.
pub fn dynamic_api(client: &Client, obj: &DynamicObject) -> Api<DynamicObject> {
    let t = obj.types.as_ref().expect("apiVersion and kind");
    let (group, version) = t.api_version.split_once('/').unwrap_or(("", &t.api_version));
    let gvk = GroupVersionKind::gvk(group, version, &t.kind);
    let kind = t.kind.to_lowercase();
    let plural = match kind.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"), // validatingadmissionpolicies
        None => format!("{kind}s"),
    };
    let ar = ApiResource::from_gvk_with_plural(&gvk, &plural);
    match obj.metadata.namespace.as_deref() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// Server-side applies `objects` (field manager `webstack-tests`, forced).
pub async fn apply_all(client: &Client, objects: &[DynamicObject]) {
    let params = PatchParams::apply("webstack-tests").force();
    for obj in objects {
        let name = obj.name_any();
        dynamic_api(client, obj)
            .patch(&name, &params, &Patch::Apply(obj))
            .await
            .unwrap_or_else(|e| panic!("applying {}: {e}", super::manifest::id(obj)));
    }
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .patch(name, &PatchParams::apply("webstack-tests"), &Patch::Apply(&ns))
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
}

static OPERATOR_IDENTITY: OnceLock<PathBuf> = OnceLock::new();

/// Kubeconfig of the operator as the chart installs it: admin credentials impersonating the
/// chart's ServiceAccount (`as`/`as-groups`), which holds exactly the chart's RBAC
/// (`deploy/webstack-operator.yaml`, applied into the test API server once per test binary). Every
/// end-to-end operator runs with it, so a permission the chart lacks fails a test.
pub fn chart_identity_kubeconfig_path() -> PathBuf {
    OPERATOR_IDENTITY
        .get_or_init(|| {
            // Tests run on their own runtimes; this one-time setup gets a runtime of its own.
            std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async {
                    let client = client().await;
                    ensure_namespace(&client, OPERATOR_NAMESPACE).await;
                    apply_all(&client, &deploy_rbac()).await;
                });
            })
            .join()
            .expect("applying the chart's RBAC");
            impersonating_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)
        })
        .clone()
}

/// The chart's leader election Role and binding (its Lease in the release namespace), copied into
/// `ns` for tests whose operators keep their Lease in their own namespace.
pub async fn grant_leader_election_in(client: &Client, ns: &str) {
    apply_lease_role_in(client, ns, deploy_rbac()).await;
}

/// The lease Role and RoleBinding among `rendered`, applied into `ns`.
async fn apply_lease_role_in(client: &Client, ns: &str, rendered: Vec<DynamicObject>) {
    let objects: Vec<DynamicObject> = rendered
        .into_iter()
        .filter(|o| {
            let kind = &o.types.as_ref().expect("kind").kind;
            (kind == "Role" || kind == "RoleBinding") && o.name_any().ends_with("-leader-election")
        })
        .map(|mut o| {
            o.metadata.namespace = Some(ns.to_string());
            o
        })
        .collect();
    assert_eq!(objects.len(), 2, "the chart's lease Role and RoleBinding");
    apply_all(client, &objects).await;
}

/// The lease Role and binding the chart renders for `--shards` (`leaderElection.shards` above 1:
/// every Lease of its namespace read, listed, taken and deleted) with drift events on (the hints
/// ConfigMap `webstack-operator-events` created, read, watched and updated), rendered by a real `helm` and
/// copied into `ns` for tests whose sharded operators keep their Leases there.
pub async fn grant_sharding_in(client: &Client, ns: &str) {
    let home = std::env::temp_dir().join("webstack-helm-home");
    let out = Command::new(script_output("build-helm.sh"))
        .args([
            "template",
            "webstack-operator",
            "charts/webstack-operator",
            "--namespace",
            OPERATOR_NAMESPACE,
            "-f",
            "deploy/webstack-operator.values.yaml",
            "--set",
            "leaderElection.shards=2",
            // With drift events: the hints ConfigMap too.
            "--set",
            "events=create",
        ])
        .current_dir(repo_root())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = super::manifest::parse(&String::from_utf8(out.stdout).expect("UTF-8"));
    apply_lease_role_in(client, ns, rendered).await;
}

/// A kubeconfig with the admin's credentials that impersonates ServiceAccount `namespace/name`
/// (`as`, `as-groups`: its user and groups), so that its client has exactly that account's RBAC.
pub fn impersonating_kubeconfig(namespace: &str, name: &str) -> PathBuf {
    let admin = kubeconfig_path();
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&admin).expect("read the admin kubeconfig"))
            .expect("kubeconfig YAML");
    for user in config["users"].as_sequence_mut().expect("kubeconfig users") {
        let auth = user["user"].as_mapping_mut().expect("a user's credentials");
        auth.insert("as".into(), format!("system:serviceaccount:{namespace}:{name}").into());
        let groups = [
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".to_string(),
        ];
        auth.insert("as-groups".into(), serde_yaml::to_value(groups).expect("groups"));
    }
    let path = admin.with_file_name(format!("kubeconfig-serviceaccount-{namespace}-{name}"));
    std::fs::write(&path, serde_yaml::to_string(&config).expect("kubeconfig YAML")).expect("write the kubeconfig");
    path
}
