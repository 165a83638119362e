//! The Helm chart (`charts/webstack-operator`) with a real `helm` (built from Go modules by
//! `tests/scripts/build-helm.sh`, cached): it lints strictly, refuses values without `clusterId`
//! and more than one replica (or a rolling update) without leader election,
//! renders what an operator chart must (checked per values file under `tests/chart/`), every
//! rendered object is accepted by the test API server (server-side apply, dry run), its `crds/`
//! are the repository's and `deploy/webstack-operator.yaml` is its rendering. That the rendered
//! RBAC is enough is checked by every end-to-end test: their operators run as the chart's
//! ServiceAccount (`harness::kube::chart_identity_kubeconfig_path`). With `secretNamespaces`,
//! Secrets are granted in those namespaces only; the admission policy refusing service-account-token
//! Secrets to the operator's ServiceAccount is rendered, bound and enforced by the API server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::Value;

use crate::harness::kube::{client, dynamic_api, ensure_namespace};
use crate::harness::repo_root;

const CHART: &str = "charts/webstack-operator";
const RELEASE: &str = "webstack-operator";
const NAMESPACE: &str = "webstack-system";
const PLAIN_VALUES: &str = "deploy/webstack-operator.values.yaml";
const DEPLOY_MANIFEST: &str = "deploy/webstack-operator.yaml";

fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| crate::harness::script_output("build-helm.sh"))
}

/// Runs helm in the repository root, with a throwaway home (no repositories, no plugins).
fn run_helm(args: &[&str]) -> Output {
    let home = std::env::temp_dir().join("webstack-helm-home");
    Command::new(helm())
        .args(args)
        .current_dir(repo_root())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm")
}

/// `helm template` of the chart as release `webstack-operator` in `webstack-system`.
fn template(values: &str, extra: &[&str]) -> Result<String, String> {
    let mut args = vec!["template", RELEASE, CHART, "--namespace", NAMESPACE, "-f", values];
    args.extend(extra);
    let out = run_helm(&args);
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("UTF-8"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn render(values: &str) -> Vec<Value> {
    render_with(values, &[])
}

fn render_with(values: &str, extra: &[&str]) -> Vec<Value> {
    let text = template(values, extra).unwrap_or_else(|e| panic!("helm template -f {values} {extra:?}:\n{e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn kind_of(obj: &Value) -> &str {
    obj["kind"].as_str().unwrap_or_default()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| kind_of(o) == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}: {found:?}");
    found[0]
}

fn all<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| kind_of(o) == kind).collect()
}

fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

fn container(objects: &[Value]) -> &Value {
    &one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("a string argument").to_string())
        .collect()
}

fn env<'a>(objects: &'a [Value], var: &str) -> Option<&'a Value> {
    container(objects)["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == var)
}

/// The resources a rule set grants, as `group/resource: verbs` lines (sorted), for comparisons.
fn grants(rules: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for rule in rules.as_array().expect("rules") {
        let names = rule.get("resourceNames").map(|n| format!(" {n}")).unwrap_or_default();
        for group in rule["apiGroups"].as_array().expect("apiGroups") {
            for resource in rule["resources"].as_array().expect("resources") {
                let verbs: Vec<&str> = rule["verbs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                out.push(format!(
                    "{}/{}{names}: {}",
                    group.as_str().unwrap(),
                    resource.as_str().unwrap(),
                    verbs.join(",")
                ));
            }
        }
    }
    out.sort();
    out
}

fn crd_names() -> Vec<String> {
    let mut names: Vec<String> = crate::harness::kube::checked_in_crds()
        .iter()
        .map(|c| c.name_any())
        .collect();
    names.sort();
    names
}

/// The facts every rendering shares: two replicas with leader election, POD_NAMESPACE, the
/// security context, probes on the health port, the PDB, the metrics Service.
fn assert_operator_deployment(objects: &[Value], cluster_id: &str) {
    let deployment = one(objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let args = args(objects);
    assert_eq!(args[0], "run");
    for want in [
        format!("--cluster-id={cluster_id}"),
        "--leader-elect".into(),
        "--leader-election-id=webstack-operator".into(),
        "--metrics-bind-address=0.0.0.0:8080".into(),
        "--health-probe-bind-address=0.0.0.0:8081".into(),
    ] {
        assert!(args.contains(&want), "{want} in {args:?}");
    }
    assert_eq!(
        env(objects, "POD_NAMESPACE").expect("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "webstack-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = container(objects);
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "health");
    let ports: Vec<(String, i64)> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().into(), p["containerPort"].as_i64().unwrap()))
        .collect();
    assert_eq!(ports, [("metrics".into(), 8080), ("health".into(), 8081)]);
    assert!(c["resources"]["requests"]["memory"].is_string(), "resources set");
    let pdb = one(objects, "PodDisruptionBudget");
    assert!(
        pdb["spec"]["maxUnavailable"] == 1 || pdb["spec"]["minAvailable"] == 1,
        "PDB: {pdb}"
    );
    let service = one(objects, "Service");
    assert_eq!(service["spec"]["ports"][0]["name"], "metrics");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    // The leader election Role: its Lease in the release namespace, get/update by name.
    let roles = all(objects, "Role");
    let leader = roles
        .iter()
        .find(|r| name(r) == "webstack-operator-leader-election")
        .expect("the leader election Role");
    assert_eq!(leader["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        grants(&leader["rules"]),
        [
            "coordination.k8s.io/leases [\"webstack-operator\"]: get,update",
            "coordination.k8s.io/leases: create"
        ]
    );
    for binding in all(objects, "RoleBinding")
        .into_iter()
        .chain(all(objects, "ClusterRoleBinding"))
    {
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": "webstack-operator", "namespace": NAMESPACE}]),
            "{}",
            name(binding)
        );
    }
}

#[test]
fn chart_lints_strictly() {
    for values in [
        PLAIN_VALUES,
        "tests/chart/values-namespaced.yaml",
        "tests/chart/values-irsa-monitoring.yaml",
    ] {
        let out = run_helm(&["lint", "--strict", CHART, "-f", values]);
        assert!(
            out.status.success(),
            "helm lint --strict -f {values}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn chart_refuses_values_without_cluster_id() {
    let missing = "tests/chart/values-missing-cluster-id.yaml";
    let err = template(missing, &[]).expect_err("rendered without clusterId");
    assert!(
        err.contains("values don't meet the specifications of the schema") && err.contains("clusterId"),
        "the schema names the missing clusterId:\n{err}"
    );
    // Without the schema, the template's `required` still refuses.
    let err = template(missing, &["--skip-schema-validation"]).expect_err("rendered without clusterId");
    assert!(
        err.contains("clusterId is required"),
        "the template's required message:\n{err}"
    );
    let out = run_helm(&["lint", "--strict", CHART, "-f", missing]);
    assert!(!out.status.success(), "helm lint passed without clusterId");
    // An empty id is refused too.
    let err = template(missing, &["--set", "clusterId="]).expect_err("rendered with an empty clusterId");
    assert!(err.contains("clusterId"), "{err}");
}

/// Without leader election nothing fences a second operator: the schema refuses more than one
/// replica, and a rolling update (its new pod acts beside the old one until that one is gone);
/// one replica updated by Recreate renders, without `--leader-elect`.
#[test]
fn chart_refuses_more_than_one_replica_without_leader_election() {
    const OFF: [&str; 2] = ["--set", "leaderElection.enabled=false"];
    const RECREATE: [&str; 2] = ["--set", "updateStrategy.type=Recreate"];
    let refused = |extra: &[&str]| template(PLAIN_VALUES, extra).expect_err("rendered");
    let schema = "values don't meet the specifications of the schema";
    let err = refused(&[&OFF[..], &RECREATE, &["--set", "replicaCount=2"]].concat());
    assert!(err.contains(schema) && err.contains("/replicaCount"), "{err}");
    // The chart's default of two replicas, election turned off and nothing else.
    let err = refused(&OFF);
    assert!(
        err.contains("/replicaCount") && err.contains("/updateStrategy"),
        "{err}"
    );
    let err = refused(&[&OFF[..], &["--set", "replicaCount=1"]].concat());
    assert!(err.contains(schema) && err.contains("/updateStrategy"), "{err}");
    let err = refused(
        &[
            &OFF[..],
            &["--set", "replicaCount=1", "--set", "updateStrategy.type=RollingUpdate"],
        ]
        .concat(),
    );
    assert!(err.contains("/updateStrategy/type"), "{err}");

    let text = template(
        PLAIN_VALUES,
        &[&OFF[..], &RECREATE, &["--set", "replicaCount=1"]].concat(),
    )
    .unwrap_or_else(|e| panic!("one replica, Recreate, no election:\n{e}"));
    let objects: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered YAML"))
        .filter(|v: &Value| !v.is_null())
        .collect();
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert!(!args(&objects).iter().any(|a| a.starts_with("--leader-elect")));
    // With election, standbys are fine.
    template(PLAIN_VALUES, &["--set", "replicaCount=3"]).expect("three replicas with election");
}

/// `leaderElection.shards` above 1: `--shards` instead of `--leader-elect`, and a lease Role over
/// every Lease of the release namespace (members' names are not known in advance), with drift
/// events the hints ConfigMap by name too; refused with one watched namespace, or leader election
/// off.
#[test]
fn chart_renders_sharding_and_refuses_what_it_cannot_do() {
    const SHARDS: [&str; 2] = ["--set", "leaderElection.shards=3"];
    let objects = render_with(PLAIN_VALUES, &SHARDS);
    let a = args(&objects);
    assert!(a.contains(&"--shards=3".to_string()), "{a:?}");
    assert!(!a.contains(&"--leader-elect".to_string()), "{a:?}");
    assert!(
        a.contains(&"--leader-election-id=webstack-operator".to_string()),
        "{a:?}"
    );
    let role = all(&objects, "Role")
        .into_iter()
        .find(|r| name(r).ends_with("-leader-election"))
        .expect("the lease Role");
    assert_eq!(
        grants(&role["rules"]),
        ["coordination.k8s.io/leases: get,list,create,update,delete"]
    );
    let with_events = render_with(PLAIN_VALUES, &[&SHARDS[..], &["--set", "events=create"]].concat());
    let role = all(&with_events, "Role")
        .into_iter()
        .find(|r| name(r).ends_with("-leader-election"))
        .expect("the lease Role");
    assert_eq!(
        grants(&role["rules"]),
        [
            "/configmaps [\"webstack-operator-events\"]: get,list,watch,update",
            "/configmaps: create",
            "coordination.k8s.io/leases: get,list,create,update,delete"
        ]
    );
    // Without shards, the single lease by name only.
    let plain = render(PLAIN_VALUES);
    let role = all(&plain, "Role")
        .into_iter()
        .find(|r| name(r).ends_with("-leader-election"))
        .expect("the lease Role");
    assert_eq!(
        grants(&role["rules"]),
        [
            "coordination.k8s.io/leases [\"webstack-operator\"]: get,update",
            "coordination.k8s.io/leases: create"
        ]
    );
    for (extra, field) in [
        ("watchNamespace=team-a", "/watchNamespace"),
        ("leaderElection.enabled=false", "/leaderElection/enabled"),
    ] {
        let err = template(PLAIN_VALUES, &[&SHARDS[..], &["--set", extra]].concat()).expect_err(extra);
        assert!(err.contains(field), "{extra}: {err}");
    }
}

#[test]
fn chart_renders_a_cluster_wide_install() {
    let objects = render(PLAIN_VALUES);
    assert_operator_deployment(&objects, "WEBSTACK_CLUSTER_ID");
    assert!(!args(&objects).iter().any(|a| a.starts_with("--namespace")));
    assert!(env(&objects, "AWS_REGION").is_none(), "no region: the SDK's chain");
    // One ClusterRole: the controllers' rules and the CRD check by name; Roles: leader election only.
    let cluster_role = one(&objects, "ClusterRole");
    assert_eq!(name(cluster_role), "webstack-operator");
    let grants = grants(&cluster_role["rules"]);
    let crd_rule = format!(
        "apiextensions.k8s.io/customresourcedefinitions {}: get",
        serde_json::to_string(&crd_names_in_chart_order()).unwrap()
    );
    assert!(grants.contains(&crd_rule), "{crd_rule} in {grants:#?}");
    for want in [
        "webstack.io/webstacks: get,list,watch,patch,update",
        "webstack.io/webstacks/status: get,patch,update",
        "/secrets: get,create,update,delete",
        "events.k8s.io/events: create,patch",
    ] {
        assert!(grants.iter().any(|g| g == want), "{want} in {grants:#?}");
    }
    assert_eq!(
        one(&objects, "ClusterRoleBinding")["roleRef"]["name"],
        "webstack-operator"
    );
    assert_eq!(all(&objects, "Role").len(), 1);
    assert!(all(&objects, "ServiceMonitor").is_empty());
    assert_token_policy(&objects, "system:serviceaccount:webstack-system:webstack-operator");
    let sa = one(&objects, "ServiceAccount");
    assert!(sa["metadata"].get("annotations").is_none());
    let image = container(&objects)["image"].as_str().unwrap().to_string();
    assert_eq!(
        image,
        format!("ghcr.io/webstack/webstack-operator:{}", env!("CARGO_PKG_VERSION"))
    );
}

/// The CRD names in the order the chart lists them; the same set as `crds/`.
fn crd_names_in_chart_order() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join(CHART).join("templates/_helpers.tpl")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("[webstacks.webstack.io"))
        .expect("the CRD names in _helpers.tpl");
    let names: Vec<String> = line
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(String::from)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, crd_names(), "the chart's CRD names are crds/'s");
    names
}

/// The admission policy refusing service-account-token Secrets to `user`, and its binding.
fn assert_token_policy(objects: &[Value], user: &str) {
    let name = "webstack-operator-service-account-tokens";
    let policy = all(objects, "ValidatingAdmissionPolicy")
        .into_iter()
        .find(|p| self::name(p) == name)
        .expect("the service-account-token policy");
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"], "Fail");
    let rule = &spec["matchConstraints"]["resourceRules"][0];
    assert_eq!(rule["apiGroups"], serde_json::json!([""]));
    assert_eq!(rule["resources"], serde_json::json!(["secrets"]));
    assert_eq!(rule["operations"], serde_json::json!(["CREATE", "UPDATE"]));
    assert_eq!(
        spec["matchConditions"][0]["expression"],
        format!("request.userInfo.username == '{user}'")
    );
    let validation = &spec["validations"][0];
    assert!(
        validation["expression"]
            .as_str()
            .unwrap()
            .contains("object.type != 'kubernetes.io/service-account-token'"),
        "{validation}"
    );
    assert!(validation["message"].as_str().unwrap().contains(user), "{validation}");
    let binding = all(objects, "ValidatingAdmissionPolicyBinding")
        .into_iter()
        .find(|b| self::name(b) == name)
        .expect("its binding");
    assert_eq!(binding["spec"]["policyName"], name);
    assert_eq!(binding["spec"]["validationActions"], serde_json::json!(["Deny"]));
}

/// The rules granting Secrets among `grants`.
fn secret_grants(grants: &[String]) -> Vec<&String> {
    grants.iter().filter(|g| g.starts_with("/secrets")).collect()
}

#[test]
fn chart_grants_secrets_only_in_the_listed_namespaces() {
    let plain = render(PLAIN_VALUES);
    let cluster_wide = grants(&one(&plain, "ClusterRole")["rules"]);
    assert_eq!(secret_grants(&cluster_wide), ["/secrets: get,create,update,delete"]);
    assert!(!all(&plain, "Role").iter().any(|r| name(r).ends_with("-secrets")));

    let objects = render_with(PLAIN_VALUES, &["--set", "secretNamespaces={team-a,team-b}"]);
    assert_operator_deployment(&objects, "WEBSTACK_CLUSTER_ID");
    // The ClusterRole: the same rules, Secrets aside.
    let cluster_role = grants(&one(&objects, "ClusterRole")["rules"]);
    assert!(secret_grants(&cluster_role).is_empty(), "{cluster_role:#?}");
    let others: Vec<&String> = cluster_wide.iter().filter(|g| !g.starts_with("/secrets")).collect();
    assert_eq!(cluster_role.iter().collect::<Vec<_>>(), others);
    // Secrets: a Role in each listed namespace, bound to the operator's ServiceAccount.
    let mut granted: Vec<(String, Vec<String>)> = all(&objects, "Role")
        .into_iter()
        .filter(|r| grants(&r["rules"]).iter().any(|g| g.starts_with("/secrets")))
        .map(|r| {
            assert_eq!(name(r), "webstack-operator-secrets");
            (
                r["metadata"]["namespace"].as_str().unwrap().to_string(),
                grants(&r["rules"]),
            )
        })
        .collect();
    granted.sort();
    let rule = vec!["/secrets: get,create,update,delete".to_string()];
    assert_eq!(
        granted,
        [("team-a".to_string(), rule.clone()), ("team-b".to_string(), rule)]
    );
    let mut bound: Vec<&str> = all(&objects, "RoleBinding")
        .into_iter()
        .filter(|b| name(b) == "webstack-operator-secrets")
        .map(|b| {
            assert_eq!(b["roleRef"]["name"], "webstack-operator-secrets");
            b["metadata"]["namespace"].as_str().unwrap()
        })
        .collect();
    bound.sort();
    assert_eq!(bound, ["team-a", "team-b"]);
    assert_token_policy(&objects, "system:serviceaccount:webstack-system:webstack-operator");

    // With watchNamespace, Secrets are that namespace's Role's: a list is refused.
    let err = template(
        "tests/chart/values-namespaced.yaml",
        &["--set", "secretNamespaces={team-b}"],
    )
    .expect_err("rendered with watchNamespace and secretNamespaces");
    assert!(err.contains("leave secretNamespaces empty"), "{err}");
    let namespaced = render("tests/chart/values-namespaced.yaml");
    let role = all(&namespaced, "Role")
        .into_iter()
        .find(|r| name(r) == "webstack-operator")
        .unwrap();
    assert_eq!(
        secret_grants(&grants(&role["rules"])),
        ["/secrets: get,create,update,delete"]
    );
    // Not a namespace name: refused by the schema.
    let err = template(PLAIN_VALUES, &["--set", "secretNamespaces={Team_A}"]).expect_err("an invalid namespace");
    assert!(err.contains("secretNamespaces"), "{err}");
    // The token policy can be left out (the value defaults to true).
    let without = render_with(PLAIN_VALUES, &["--set", "admissionPolicies.serviceAccountTokens=false"]);
    assert!(
        !all(&without, "ValidatingAdmissionPolicy")
            .iter()
            .any(|p| name(p).ends_with("-service-account-tokens"))
    );
}

/// The API of a rendered object (the plural of `...Policy` is `...policies`).
fn api_of(client: &kube::Client, obj: &DynamicObject) -> kube::Api<DynamicObject> {
    let t = obj.types.as_ref().expect("apiVersion and kind");
    let lower = t.kind.to_lowercase();
    if !lower.ends_with("policy") {
        return dynamic_api(client, obj);
    }
    let (group, version) = t.api_version.split_once('/').unwrap_or(("", &t.api_version));
    let gvk = GroupVersionKind::gvk(group, version, &t.kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, &format!("{}ies", lower.trim_end_matches('y')));
    Api::all_with(client.clone(), &ar)
}

/// The chart's token policy, applied for real: the operator's ServiceAccount (as the end-to-end
/// operators run, impersonated) is refused a `kubernetes.io/service-account-token` Secret with the
/// policy's message and may still create an Opaque one; another user is not matched.
#[tokio::test]
async fn the_token_policy_refuses_the_operators_service_account() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{DeleteParams, PostParams};

    let admin = client().await;
    let ns = crate::harness::kube::namespace(&admin, "token-policy").await;
    let sa = client_of(&crate::harness::kube::chart_identity_kubeconfig_path()).await;
    let policy: Vec<DynamicObject> = render(PLAIN_VALUES)
        .into_iter()
        .filter(|o| name(o) == "webstack-operator-service-account-tokens")
        .map(|o| serde_json::from_value(o).unwrap())
        .collect();
    assert_eq!(policy.len(), 2, "the policy and its binding");
    let params = PatchParams::apply("webstack-tests").force();
    for obj in &policy {
        api_of(&admin, obj)
            .patch(&obj.name_any(), &params, &Patch::Apply(obj))
            .await
            .unwrap_or_else(|e| panic!("applying {}: {e}", obj.name_any()));
    }
    let token_secret = |name: &str| -> Secret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": "default"}},
            "type": "kubernetes.io/service-account-token",
        }))
        .unwrap()
    };
    let as_operator: Api<Secret> = Api::namespaced(sa, &ns);
    let as_admin: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    // The API server enforces a new policy once it has loaded it: retried until then (each
    // attempt under a new name; one that got through is removed).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let refusal = loop {
        attempt += 1;
        let name = format!("minted-{attempt}");
        match as_operator.create(&PostParams::default(), &token_secret(&name)).await {
            Err(kube::Error::Api(e)) if e.code == 403 || e.code == 422 => break e,
            Ok(_) => {
                as_admin.delete(&name, &DeleteParams::default()).await.unwrap();
            }
            Err(e) => panic!("creating a token Secret as the operator: {e}"),
        }
        assert!(std::time::Instant::now() < deadline, "the policy was never enforced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "token policy enforced {:.1}s after it was applied",
        started.elapsed().as_secs_f64()
    );
    assert!(
        refusal.message.contains("webstack-operator-service-account-tokens")
            && refusal.message.contains(
                "system:serviceaccount:webstack-system:webstack-operator may not create or update Secrets of type \
                 kubernetes.io/service-account-token"
            ),
        "{refusal:?}"
    );
    let opaque: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "connection"},
        "type": "Opaque", "stringData": {"password": "x"},
    }))
    .unwrap();
    as_operator
        .create(&PostParams::default(), &opaque)
        .await
        .expect("an Opaque Secret is allowed");
    as_admin
        .create(&PostParams::default(), &token_secret("by-admin"))
        .await
        .expect("other users are not matched");
    let listed: Vec<String> = as_admin
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name_any())
        .filter(|n| n.starts_with("minted-"))
        .collect();
    assert!(
        listed.is_empty(),
        "no token Secret of the operator's remains: {listed:?}"
    );
}

#[test]
fn chart_renders_a_one_namespace_install_with_roles() {
    let objects = render("tests/chart/values-namespaced.yaml");
    assert_operator_deployment(&objects, "staging");
    assert!(args(&objects).contains(&"--namespace=team-a".to_string()));
    // The controllers' rules in team-a; the same rules the cluster-wide ClusterRole has.
    let plain = render(PLAIN_VALUES);
    let cluster_wide = grants(&one(&plain, "ClusterRole")["rules"]);
    let roles = all(&objects, "Role");
    assert_eq!(roles.len(), 2);
    let role = roles
        .iter()
        .find(|r| name(r) == "webstack-operator")
        .expect("the controllers' Role");
    assert_eq!(role["metadata"]["namespace"], "team-a");
    let mut role_grants = grants(&role["rules"]);
    // Cluster-scoped by nature: the CRD check, the WebStackPolicies (and their status) and the
    // namespaces they select by label.
    let cluster_scoped: Vec<String> = cluster_wide
        .iter()
        .filter(|g| {
            g.starts_with("apiextensions.k8s.io/")
                || g.starts_with("webstack.io/webstackpolicies")
                || g.starts_with("/namespaces:")
        })
        .cloned()
        .collect();
    assert_eq!(cluster_scoped.len(), 4, "{cluster_scoped:?}");
    role_grants.extend(cluster_scoped.iter().cloned());
    role_grants.sort();
    assert_eq!(
        role_grants, cluster_wide,
        "Role + cluster-scoped reads = the cluster-wide ClusterRole"
    );
    let binding = all(&objects, "RoleBinding")
        .into_iter()
        .find(|b| name(b) == "webstack-operator")
        .expect("the Role's binding");
    assert_eq!(binding["metadata"]["namespace"], "team-a");
    // The only cluster-scoped permissions: get of the six CRDs by name, the policies and the
    // namespaces they select (read), the policies' status (written).
    let cluster_role = one(&objects, "ClusterRole");
    assert_eq!(name(cluster_role), "webstack-operator-crds");
    let mut cluster_grants = grants(&cluster_role["rules"]);
    cluster_grants.sort();
    assert_eq!(cluster_grants, cluster_scoped);
    assert_eq!(
        one(&objects, "ClusterRoleBinding")["roleRef"]["name"],
        "webstack-operator-crds"
    );
}

#[test]
fn chart_renders_irsa_service_monitor_and_extras() {
    let objects = render("tests/chart/values-irsa-monitoring.yaml");
    assert_operator_deployment(&objects, "prod-eu");
    let sa = one(&objects, "ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/webstack-operator-prod-eu"
    );
    let monitor = one(&objects, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["interval"], "30s");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        one(&objects, "Service")["spec"]["selector"]
    );
    assert_eq!(env(&objects, "AWS_REGION").unwrap()["value"], "eu-west-1");
    assert_eq!(
        env(&objects, "RUST_LOG").unwrap()["value"],
        "info,webstack_operator=debug"
    );
    assert_eq!(
        env(&objects, "AWS_STS_REGIONAL_ENDPOINTS").unwrap()["value"],
        "regional"
    );
    assert!(args(&objects).contains(&"--resync-period=5m".to_string()));
    let c = container(&objects);
    assert_eq!(
        c["image"],
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/webstack-operator:0.1.0-rc.1"
    );
    assert_eq!(c["imagePullPolicy"], "Always");
    let pod = &one(&objects, "Deployment")["spec"]["template"];
    assert_eq!(pod["metadata"]["annotations"]["example.com/team"], "platform");
    assert_eq!(pod["spec"]["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["spec"]["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["spec"]["tolerations"][0]["key"], "CriticalAddonsOnly");
    assert!(pod["spec"]["affinity"]["podAntiAffinity"].is_object());
    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert!(pdb["spec"].get("maxUnavailable").is_none());
}

/// Every object of every rendering, applied to the test API server with a server-side dry run
/// (validation, defaulting, admission; nothing stored).
#[tokio::test]
async fn every_rendered_object_is_accepted_by_the_api_server() {
    let client = client().await;
    ensure_namespace(&client, NAMESPACE).await;
    ensure_namespace(&client, "team-a").await;
    // A fixture of the ServiceMonitor CRD (not the Prometheus Operator's schema: see the file).
    let fixture = std::fs::read_to_string(repo_root().join("tests/chart/servicemonitor-crd.yaml")).unwrap();
    let crd: CustomResourceDefinition = serde_yaml::from_str(&fixture).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("webstack-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("install the ServiceMonitor fixture CRD");
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(crds, &crd.name_any(), conditions::is_crd_established()),
    )
    .await
    .expect("ServiceMonitor CRD Established")
    .unwrap();

    ensure_namespace(&client, "team-b").await;
    // Forced: the end-to-end tests' identity applied the plain rendering's ClusterRole for real
    // (manager webstack-tests), which the secretNamespaces rendering's differs from.
    let params = PatchParams::apply("helm").dry_run().force();
    let mut kinds = std::collections::BTreeSet::new();
    for (values, extra) in [
        (PLAIN_VALUES, &[][..]),
        ("tests/chart/values-namespaced.yaml", &[]),
        ("tests/chart/values-irsa-monitoring.yaml", &[]),
        (PLAIN_VALUES, &["--set", "secretNamespaces={team-a,team-b}"]),
    ] {
        for obj in render_with(values, extra) {
            let mut obj: DynamicObject = serde_json::from_value(obj).expect("an object");
            let kind = obj.types.as_ref().unwrap().kind.clone();
            let cluster_scoped = kind.starts_with("Cluster") || kind.starts_with("ValidatingAdmissionPolicy");
            if !cluster_scoped && obj.metadata.namespace.is_none() {
                obj.metadata.namespace = Some(NAMESPACE.into());
            }
            let name = obj.name_any();
            let applied = api_of(&client, &obj)
                .patch(&name, &params, &Patch::Apply(&obj))
                .await
                .unwrap_or_else(|e| panic!("{values}: {kind}/{name} refused: {e}"));
            assert_eq!(applied.name_any(), name);
            kinds.insert(kind);
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]
    );
}

#[test]
fn chart_crds_are_the_repositorys() {
    let chart = std::fs::read_to_string(repo_root().join(CHART).join("crds/webstack-operator.yaml")).unwrap();
    let repo = std::fs::read_to_string(repo_root().join("crds/webstack-operator.yaml")).unwrap();
    assert!(
        chart == repo,
        "charts/webstack-operator/crds/ differs from crds/: cp crds/webstack-operator.yaml charts/webstack-operator/crds/"
    );
    let files: Vec<_> = std::fs::read_dir(repo_root().join(CHART).join("crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        files,
        ["webstack-operator.yaml"],
        "the chart's crds/ holds crds/'s one file"
    );
}

#[test]
fn deploy_manifest_is_the_rendered_chart() {
    helm(); // built once, before the script asks for it
    let script = repo_root().join("tests/scripts/render-deploy.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run render-deploy.sh");
    assert!(
        out.status.success(),
        "render-deploy.sh:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(want.contains("kind: Deployment"), "{want}");
    let have = std::fs::read_to_string(repo_root().join(DEPLOY_MANIFEST)).unwrap_or_default();
    assert!(
        have == want,
        "{DEPLOY_MANIFEST} is not the rendered chart; regenerate it with:\n  \
         bash tests/scripts/render-deploy.sh > {DEPLOY_MANIFEST}"
    );
}

/// The one-namespace install end to end: the chart rendered with `watchNamespace` and released in
/// the test's namespace; its Role, the CRD-check ClusterRole and the leader election Role applied
/// for real; the operator runs as its ServiceAccount with `--namespace` and `--leader-elect` (as
/// the chart's Deployment runs it). A stack becomes Ready and deletes cleanly: nothing outside the
/// namespace is needed but the six CRDs' `get` and reading the policies and namespaces.
#[tokio::test]
async fn one_namespace_install_runs_a_stack_with_only_its_roles() {
    use crate::harness::kube::{apply_all, impersonating_kubeconfig, install_crds, namespace};
    use crate::harness::moto::Moto;
    use crate::harness::operator::Operator;
    use webstack_operator::api::WebStack;

    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "chart-ns").await;
    // A release of its own (names unique per test: its ClusterRole is cluster-wide).
    let release = format!("ws-{ns}");
    let out = run_helm(&[
        "template",
        &release,
        CHART,
        "--namespace",
        &ns,
        "--set",
        "clusterId=e2e",
        "--set",
        &format!("watchNamespace={ns}"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rbac: Vec<DynamicObject> = crate::harness::manifest::parse(&String::from_utf8(out.stdout).unwrap())
        .into_iter()
        .filter(|o| {
            let t = o.types.as_ref().unwrap();
            t.api_version.starts_with("rbac.authorization.k8s.io/") || t.kind == "ServiceAccount"
        })
        .collect();
    let cluster_roles: Vec<String> = rbac
        .iter()
        .filter(|o| o.types.as_ref().unwrap().kind == "ClusterRole")
        .map(|o| o.name_any())
        .collect();
    assert_eq!(cluster_roles, [format!("{release}-webstack-operator-crds")]);
    apply_all(&client, &rbac).await;
    let service_account = format!("{release}-webstack-operator");
    let kubeconfig = impersonating_kubeconfig(&ns, &service_account);
    // Its objects in its namespace only.
    let sa = client_of(&kubeconfig).await;
    let lp = kube::api::ListParams::default();
    Api::<WebStack>::namespaced(sa.clone(), &ns)
        .list(&lp)
        .await
        .expect("granted in its namespace");
    assert!(is_forbidden(Api::<WebStack>::all(sa.clone()).list(&lp).await));
    assert!(is_forbidden(Api::<WebStack>::namespaced(sa, "default").list(&lp).await));

    let moto = Moto::start();
    let op = Operator::start_named(
        &moto,
        &ns,
        "3s",
        &kubeconfig,
        &[],
        &ns,
        &["--leader-elect", "--leader-election-namespace", &ns],
    );
    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let manifest: Value = serde_yaml::from_str(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
spec:
  network: {cidr: 10.0.0.0/16}
  loadBalancer:
    listeners:
      - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404}}}
"#,
    )
    .unwrap();
    api.patch("shop", &PatchParams::apply("e2e-user"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    crate::harness::wait::until(&api, "shop", &op, "Ready under the namespaced RBAC", 120, |ws| {
        ws.status
            .as_ref()
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
    .await;
    // (The harness fails the test when the operator logged a forbidden request: see Operator.)
    api.delete("shop", &kube::api::DeleteParams::default()).await.unwrap();
    crate::harness::wait::gone(&api, "shop", &op, 120).await;
}

/// A namespace the chart's `secretNamespaces` leaves out, installed for real (the rendered RBAC
/// applied, the operator as its ServiceAccount): a stack with a database there is Stalled
/// (`Forbidden`) naming the Secret, the namespace and the chart value, before any mutating AWS
/// call; deleting it still finishes and leaves nothing in AWS.
#[tokio::test]
async fn a_namespace_outside_secret_namespaces_stalls_and_still_deletes() {
    use crate::harness::kube::{apply_all, impersonating_kubeconfig, install_crds, namespace};
    use crate::harness::moto::Moto;
    use crate::harness::operator::Operator;
    use webstack_operator::api::WebStack;

    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "no-secrets").await;
    let elsewhere = namespace(&client, "secrets-here").await;
    let release = format!("ws-{ns}");
    let out = run_helm(&[
        "template",
        &release,
        CHART,
        "--namespace",
        &ns,
        "--set",
        "clusterId=e2e",
        "--set",
        &format!("secretNamespaces={{{elsewhere}}}"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rbac: Vec<DynamicObject> = crate::harness::manifest::parse(&String::from_utf8(out.stdout).unwrap())
        .into_iter()
        .filter(|o| {
            let t = o.types.as_ref().unwrap();
            t.api_version.starts_with("rbac.authorization.k8s.io/") || t.kind == "ServiceAccount"
        })
        .collect();
    apply_all(&client, &rbac).await;
    let kubeconfig = impersonating_kubeconfig(&ns, &format!("{release}-webstack-operator"));

    let moto = Moto::start();
    let mut op = Operator::start_as(&moto, &ns, "3s", &kubeconfig);
    op.expect_forbidden("secrets \"shop-db\" is forbidden");
    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let manifest: Value = serde_yaml::from_str(
        "{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: shop},
          spec: {network: {cidr: 10.0.0.0/16, natGateways: none},
                 database: {engine: postgres, connectionSecretName: shop-db, deletionPolicy: Delete}}}",
    )
    .unwrap();
    api.patch("shop", &PatchParams::apply("e2e-user"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    crate::harness::wait::until(&api, "shop", &op, "Stalled: Forbidden", 60, |ws| {
        ws.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "Stalled"
                    && c.status == "True"
                    && c.reason == "Forbidden"
                    && c.message.contains(&format!("connection Secret {ns}/shop-db"))
                    && c.message.contains("secretNamespaces")
            })
        })
    })
    .await;
    let mutations: Vec<_> = moto.calls().into_iter().filter(|c| c.mutates()).collect();
    assert!(mutations.is_empty(), "{mutations:#?}");

    api.delete("shop", &kube::api::DeleteParams::default()).await.unwrap();
    crate::harness::wait::gone(&api, "shop", &op, 60).await;
    let left = crate::harness::leftovers::leftovers(&moto.sdk_config().await, &ns).await;
    assert!(left.is_empty(), "{left:#?}");
}

/// A client of an impersonating kubeconfig.
async fn client_of(kubeconfig: &Path) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn is_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(ref s)) if s.code == 403)
}

/// The identity every end-to-end operator runs as really is the chart's ServiceAccount, not the
/// admin whose credentials it carries: what the chart grants works, anything else is forbidden.
#[tokio::test]
async fn end_to_end_operators_hold_only_the_charts_permissions() {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::api::ListParams;
    use webstack_operator::api::WebStack;

    let admin = client().await;
    crate::harness::kube::install_crds(&admin).await;
    let sa = client_of(&crate::harness::kube::chart_identity_kubeconfig_path()).await;
    let lp = ListParams::default();
    Api::<WebStack>::all(sa.clone())
        .list(&lp)
        .await
        .expect("list WebStacks: granted");
    Api::<CustomResourceDefinition>::all(sa.clone())
        .get("webstacks.webstack.io")
        .await
        .expect("get its CRD: granted");
    assert!(is_forbidden(
        Api::<CustomResourceDefinition>::all(sa.clone()).list(&lp).await
    ));
    // Secrets: get/create/update/delete only, never list.
    assert!(is_forbidden(Api::<Secret>::all(sa.clone()).list(&lp).await));
    assert!(is_forbidden(
        Api::<ConfigMap>::namespaced(sa.clone(), "default").list(&lp).await
    ));
}
