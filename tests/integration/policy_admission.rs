//! The chart's WebStackPolicy admission policies against the real API server: what a namespace's
//! policy refuses without AWS (allow-lists, limits, required tags) is refused at `kubectl apply`
//! with the operator's own message, word for word (the message of `reconcile::policy`'s checks,
//! which the operator puts in `Stalled`); what it allows is admitted; an object a tightened policy
//! now refuses can still have its metadata changed (finalizers, labels: it can be deleted), not
//! its spec; and the operator, given such an object, stalls it with the same message.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::{ContainerService, StaticSite, WebStack, WebStackPolicy};
use webstack_operator::model::tenancy::Violation;
use webstack_operator::reconcile::policy::{StackFacts, check_service, check_site, check_stack};

use crate::harness::kube::{apply_all as apply_cluster, client, deploy_manifest, install_crds, namespace};
use crate::harness::manifest::{api_for, apply_all, condition, parse, wait_all};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;

/// The chart's three WebStackPolicy admission policies and their bindings, renamed for `ns` and
/// bound to it alone (the test API server is shared). Returns (policy, binding) names by resource.
async fn install_admission(client: &kube::Client, ns: &str) -> Vec<(String, String, String)> {
    let mut objects = Vec::new();
    let mut names = Vec::new();
    for mut obj in deploy_manifest() {
        let kind = obj.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default();
        let Some(resource) = obj.name_any().split("-policy-").nth(1).map(String::from) else {
            continue;
        };
        let name = format!("{ns}-policy-{resource}");
        obj.metadata.name = Some(name.clone());
        if kind == "ValidatingAdmissionPolicyBinding" {
            obj.data["spec"]["policyName"] = serde_json::json!(name);
            obj.data["spec"]["matchResources"] = serde_json::json!({
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}
            });
            names.push((resource, name.clone(), name));
        }
        objects.push(obj);
    }
    assert_eq!(
        objects.len(),
        6,
        "three policies and their bindings in deploy/webstack-operator.yaml"
    );
    apply_cluster(client, &objects).await;
    names.sort();
    names
}

const POLICY: &str = "
apiVersion: webstack.io/v1alpha1
kind: WebStackPolicy
metadata: {name: NAME}
spec:
  namespaceSelector:
    matchLabels: {policy-admission: NS}
    matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [NS]}]
  allow:
    secretArns: ['arn:aws:secretsmanager:us-east-1:123456789012:secret:team-a/*']
    ecrRepositories: ['arn:aws:ecr:us-east-1:123456789012:repository/team-a/*']
    taskRoleArns: ['arn:aws:iam::123456789012:role/team-a-?']
    certificateArns: ['arn:aws:acm:us-east-1:123456789012:certificate/a.b+c*']
    webAclIds: ['arn:aws:wafv2:us-east-1:123456789012:global/webacl/team-a/*']
    snsTopicArns: ['arn:aws:sns:us-east-1:123456789012:team-a-*']
    adoptVpcIds: [vpc-0a*]
    hostedZones: [{id: ZTEAMA, names: ['*.team-a.example.com']}]
  limits:
    maxTaskCpu: '1024'
    maxTaskMemory: '2048'
    maxDesiredCount: 4
    instanceTypes: [t3.*]
    maxInstances: 3
    databaseInstanceClasses: [db.t4g.*]
    maxDatabaseStorageGiB: 50
    cacheNodeTypes: [cache.t4g.*]
    maxCacheNodes: 2
    natGateways: [none, single]
  requiredTags: {cost-center: [], env: [dev, prod]}
";

const STACK: &str = "apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: NAME}
spec: {network: {cidr: 10.0.0.0/16}, tags: {cost-center: '42', env: dev}";

const SERVICE: &str = "apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: NAME}
spec: {stackRef: {name: shop}";

const SITE: &str = "apiVersion: webstack.io/v1alpha1
kind: StaticSite
metadata: {name: NAME}
spec: {bucketName: NAME-bucket";

/// An object of `base` (a flow mapping left open) with `more` added to its spec.
fn object(base: &str, name: &str, more: &str) -> DynamicObject {
    let sep = if more.is_empty() { "" } else { ", " };
    parse(&format!("{}{sep}{more}}}", base.replace("NAME", name))).remove(0)
}

/// The container `c` (image and more) as a flow mapping.
fn containers(more: &str) -> String {
    format!("cpu: '256', memory: '512', containers: [{{name: web, {more}}}]")
}

/// The operator's check of `obj` under `policy`: the message it puts in `Stalled` (before `;
/// nothing was changed in AWS`), or None.
fn operators_verdict(policy: &WebStackPolicy, obj: &DynamicObject) -> Option<String> {
    let value = serde_json::to_value(obj).unwrap();
    let result: Result<(), Violation> = match obj.types.as_ref().unwrap().kind.as_str() {
        "WebStack" => {
            let ws: WebStack = serde_json::from_value(value).unwrap();
            let region = ws.spec.region.clone().unwrap_or_else(|| "us-east-1".into());
            let facts = StackFacts {
                external_id: ws.annotations().get("webstack.io/external-id").map(String::as_str),
                stacks_in_namespace: 1,
                services_naming_it: 0,
                region: &region,
            };
            check_stack(policy, &ws.spec, &facts)
        }
        "ContainerService" => {
            let cs: ContainerService = serde_json::from_value(value).unwrap();
            check_service(policy, &cs.spec.settings, "spec", "us-east-1")
        }
        "StaticSite" => {
            let site: StaticSite = serde_json::from_value(value).unwrap();
            check_site(policy, &site.spec.settings, "spec")
        }
        other => panic!("{other}"),
    };
    result.err().map(|v| v.to_string())
}

/// A dry-run create of `obj` in `ns`: None when admitted, else the API server's refusal.
async fn admission(client: &kube::Client, ns: &str, obj: &DynamicObject) -> Option<(u16, String)> {
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match api_for(client, ns, obj).create(&dry_run, obj).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => Some((status.code, status.message.clone())),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn admission_refuses_what_the_policy_refuses_with_the_operators_message() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "policy-admission").await;
    let label = serde_json::json!({"metadata": {"labels": {"policy-admission": ns}}});
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let bindings = install_admission(&client, &ns).await;

    // Created before the policy: admitted; the policy refuses its database class.
    let legacy = object(STACK, "legacy", "database: {instanceClass: db.r6g.large}");
    apply_all(&client, &ns, std::slice::from_ref(&legacy)).await;

    let policy_name = format!("{ns}-admission");
    let policy: WebStackPolicy =
        serde_yaml::from_str(&POLICY.replace("NAME", &policy_name).replace("NS", &ns)).unwrap();
    let policies: Api<WebStackPolicy> = Api::all(client.clone());
    let policy = policies
        .patch(
            &policy_name,
            &PatchParams::apply("platform-team").force(),
            &Patch::Apply(&policy),
        )
        .await
        .unwrap();

    // The API server takes a new policy (param) up within seconds.
    let untagged = object(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: NAME}\nspec: {network: {cidr: 10.0.0.0/16}",
        "untagged",
        "",
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while admission(&client, &ns, &untagged).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the policy is not in force after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let secret = |arn: &str| {
        containers(&format!(
            "image: nginx, secrets: [{{name: A, valueFrom: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:team-a/db'}}, {{name: B, valueFrom: '{arn}'}}]"
        ))
    };
    // (object, refused): every rule the admission policies carry, refused and allowed.
    let cases: Vec<(DynamicObject, bool)> = vec![
        (untagged.clone(), true),
        (object(STACK, "ok", ""), false),
        (object(STACK.replace("env: dev", "env: test").as_str(), "env", ""), true),
        (
            object(
                STACK,
                "db-class",
                "region: eu-west-1, database: {instanceClass: db.r6g.large}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "vpc",
                "network: {vpcId: vpc-0b12, publicSubnetIds: [subnet-1], privateSubnetIds: [subnet-2]}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "vpc-ok",
                "network: {vpcId: vpc-0a12, publicSubnetIds: [subnet-1], privateSubnetIds: [subnet-2]}",
            ),
            false,
        ),
        (
            object(STACK, "nat", "network: {cidr: 10.0.0.0/16, natGateways: perZone}"),
            true,
        ),
        (
            object(
                STACK,
                "listener",
                "loadBalancer: {listeners: [{name: http, port: 80, protocol: HTTP}, {name: https, port: 443, protocol: HTTPS, certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/aXb+c1'}]}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "listener-ok",
                "loadBalancer: {listeners: [{name: https, port: 443, protocol: HTTPS, certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/a.b+c1'}]}",
            ),
            false,
        ),
        (
            object(STACK, "capacity", "cluster: {capacity: {instanceType: m5.large}}"),
            true,
        ),
        (
            object(
                STACK,
                "capacity-size",
                "cluster: {capacity: {instanceType: t3.small, minSize: 1, maxSize: 5}}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "db",
                "database: {instanceClass: db.t4g.micro, allocatedStorageGiB: 100}",
            ),
            true,
        ),
        (
            object(STACK, "cache", "cache: {nodeType: cache.t4g.micro, numNodes: 3}"),
            true,
        ),
        (
            object(
                STACK,
                "zone",
                "loadBalancer: {listeners: [{name: http, port: 80, protocol: HTTP}]}, dns: {hostedZoneId: ZOTHER, records: [{name: www.team-a.example.com, target: loadBalancer}]}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "record",
                "loadBalancer: {listeners: [{name: http, port: 80, protocol: HTTP}]}, dns: {hostedZoneId: ZTEAMA, records: [{name: a.team-a.example.com., target: loadBalancer}, {name: login.corp.example., target: loadBalancer}]}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "alarms",
                "alarms: {snsTopicArn: 'arn:aws:sns:us-east-1:123456789012:corp-pager'}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "inline-site",
                "staticSite: {bucketName: inline-site-bucket, webAclId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/corp/1'}",
            ),
            true,
        ),
        (
            object(
                STACK,
                "inline",
                &format!(
                    "services: [{{name: a, container: {{{}}}}}, {{name: b, container: {{{}}}}}]",
                    containers("image: nginx"),
                    secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:team-b/db")
                ),
            ),
            true,
        ),
        (
            object(SERVICE, "svc-ok", &containers(&format!("image: '{ecr}/team-a/web:1'"))),
            false,
        ),
        (
            object(
                SERVICE,
                "svc-ecr",
                &containers(&format!("image: '{ecr}/team-b/web:1@sha256:00'")),
            ),
            true,
        ),
        (
            object(
                SERVICE,
                "svc-secret",
                &secret("arn:aws:ssm:us-east-1:123456789012:parameter/corp/key"),
            ),
            true,
        ),
        (
            object(
                SERVICE,
                "svc-role",
                &format!(
                    "{}, taskRoleArn: 'arn:aws:iam::123456789012:role/team-a-12'",
                    containers("image: nginx")
                ),
            ),
            true,
        ),
        (
            object(
                SERVICE,
                "svc-cpu",
                &containers("image: nginx")
                    .replace("cpu: '256'", "cpu: '2048'")
                    .replace("memory: '512'", "memory: '2048'"),
            ),
            true,
        ),
        (
            object(
                SERVICE,
                "svc-scale",
                &format!(
                    "{}, desiredCount: 2, autoscaling: {{minCapacity: 1, maxCapacity: 8, targetCpuPercent: 60}}",
                    containers("image: nginx")
                ),
            ),
            true,
        ),
        (
            object(
                SITE,
                "site",
                "certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/other'",
            ),
            true,
        ),
        (
            object(
                SITE,
                "site-ok",
                "certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/a.b+c-1'",
            ),
            false,
        ),
    ];
    for (obj, refused) in &cases {
        let name = format!("{}/{}", obj.types.as_ref().unwrap().kind, obj.name_any());
        let expected = operators_verdict(&policy, obj);
        assert_eq!(expected.is_some(), *refused, "{name}: the operator says {expected:?}");
        let mut status = admission(&client, &ns, obj).await;
        // Each kind's admission policy takes the new param up on its own, within seconds (the
        // wait above saw the WebStack one's): a refusal may come a moment later for other kinds.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while expected.is_some() && status.is_none() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(300)).await;
            status = admission(&client, &ns, obj).await;
        }
        match (expected, status) {
            (None, None) => {}
            (Some(message), Some((code, refusal))) => {
                let resource = format!("{}s", obj.types.as_ref().unwrap().kind.to_lowercase());
                let (_, vap, binding) = bindings.iter().find(|(r, _, _)| *r == resource).unwrap();
                assert_eq!(code, 403, "{name}: {refusal}");
                assert_eq!(
                    refusal,
                    format!(
                        "{resource}.webstack.io {:?} is forbidden: ValidatingAdmissionPolicy '{vap}' with binding '{binding}' denied request: {message}",
                        obj.name_any()
                    ),
                    "{name}"
                );
            }
            (expected, status) => panic!("{name}: the operator says {expected:?}, admission {status:?}"),
        }
    }

    // The object the policy now refuses: its metadata may change (it can be deleted), its spec
    // not, with the operator's message.
    let api = api_for(&client, &ns, &legacy);
    let labels = serde_json::json!({"metadata": {"labels": {"touched": "yes"}}});
    api.patch("legacy", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .expect("a metadata change of an object the policy refuses");
    let expected = operators_verdict(&policy, &legacy).expect("legacy is refused");
    let change = serde_json::json!({"spec": {"tags": {"owner": "me"}}});
    match api
        .patch("legacy", &PatchParams::default(), &Patch::Merge(&change))
        .await
    {
        Err(kube::Error::Api(status)) => assert!(
            status.message.ends_with(&format!("denied request: {expected}")),
            "{}",
            status.message
        ),
        other => panic!("a spec change was admitted: {other:?}"),
    }

    // The operator, given it, stalls it with the message admission gives, before any AWS call.
    let moto = Moto::start();
    let op = Operator::start(&moto, &ns, "3s");
    let stalled = format!("{expected}; nothing was changed in AWS");
    wait_all(
        &client,
        &ns,
        std::slice::from_ref(&legacy),
        &op,
        "PolicyViolation",
        60,
        |o| {
            o.and_then(|o| condition(o, "Stalled"))
                .is_some_and(|(status, reason, message)| {
                    status == "True" && reason == "PolicyViolation" && message == stalled
                })
        },
    )
    .await;
    assert!(moto.calls().iter().all(|c| !c.mutates()), "{:#?}", moto.calls());
    api.delete("legacy", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while api.get_opt("legacy").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "legacy not deleted");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    policies.delete(&policy_name, &Default::default()).await.unwrap();
    drop(op);
}
