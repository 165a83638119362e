//! A platform team's WebStackPolicy, end to end (real API server, emulator): an unknown NAT mode
//! refused at admission; a namespace selected
//! by its labels; a stack without the required tag is Stalled (`PolicyViolation`, naming the field,
//! the rule and the policy) with no mutating AWS call; with the tag it is built; a policy tightened
//! after the stack is Ready stalls it with nothing changed in AWS; a second policy selecting the
//! same namespace stalls everything there and both policies report the conflict in their status.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use webstack_operator::api::{WebStackPolicy, WebStackPolicyStatus};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::manifest::{api_for, apply_all, condition, parse, wait_all, wait_ready};
use crate::harness::moto::{CLUSTER_ID, Moto, deploy_policy};
use crate::harness::operator::{Operator, sample};

fn policy(name: &str, label: &str, nat: &str) -> WebStackPolicy {
    serde_yaml::from_str(&format!(
        "apiVersion: webstack.io/v1alpha1
kind: WebStackPolicy
metadata: {{name: {name}}}
spec:
  namespaceSelector: {{matchLabels: {{policy-test: {label}}}}}
  limits: {{natGateways: [{nat}], maxStacks: 2}}
  requiredTags: {{cost-center: []}}"
    ))
    .unwrap()
}

fn stalled_by(rule: &'static str, field: &'static str, policy: String) -> impl Fn(Option<&DynamicObject>) -> bool {
    move |o| {
        o.and_then(|o| condition(o, "Stalled"))
            .is_some_and(|(status, reason, message)| {
                status == "True"
                    && reason == "PolicyViolation"
                    && message.starts_with(&format!("{field}: "))
                    && message.contains(&format!("(rule {rule} of WebStackPolicy {policy})"))
            })
    }
}

/// The policy's status once `done` holds (30 s at most).
async fn wait_status(
    policies: &Api<WebStackPolicy>,
    name: &str,
    done: impl Fn(&WebStackPolicyStatus) -> bool,
) -> WebStackPolicyStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = policies.get(name).await.unwrap().status.unwrap_or_default();
        if done(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "status of {name}: {status:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_policy_governs_its_namespaces() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "governed").await;
    // The namespace gets the label its policy selects (unique: the API server is shared).
    let label = serde_json::json!({"metadata": {"labels": {"policy-test": ns}}});
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let policies: Api<WebStackPolicy> = Api::all(client.clone());
    // A NAT mode that does not exist is refused by the API server, naming the field.
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match policies
        .create(&dry_run, &policy(&format!("{ns}-bad"), &ns, "sometimes"))
        .await
    {
        Err(kube::Error::Api(e)) => assert!(
            e.code == 422
                && e.message.contains("spec.limits.natGateways")
                && e.message.contains("single, perZone, none"),
            "{e:?}"
        ),
        other => panic!("an unknown NAT mode was not refused: {other:?}"),
    }
    let ssa = PatchParams::apply("platform-team").force();
    let name = format!("{ns}-team");
    policies
        .patch(&name, &ssa, &Patch::Apply(&policy(&name, &ns, "single")))
        .await
        .unwrap();

    let moto = Moto::start();
    let op = Operator::start(&moto, &ns, "3s");
    let untagged = parse(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\nspec: {network: {cidr: 10.0.0.0/16}}",
    );
    let mark = moto.calls().len();
    apply_all(&client, &ns, &untagged).await;
    wait_all(
        &client,
        &ns,
        &untagged,
        &op,
        "PolicyViolation",
        60,
        stalled_by("requiredTags", "spec.tags.cost-center", name.clone()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mutations: Vec<_> = moto.calls()[mark..].iter().filter(|c| c.mutates()).cloned().collect();
    assert!(mutations.is_empty(), "{mutations:#?}");

    // The policy's status names the namespace, and the object in violation with its message.
    let shop = format!("WebStack/{ns}/shop");
    let status = wait_status(&policies, &name, |s| {
        s.matched_namespaces == [ns.clone()] && s.violations.iter().any(|v| v.object == shop)
    })
    .await;
    assert_eq!(status.violation_count, Some(1), "{status:?}");
    assert_eq!(
        status.violations[0].message,
        format!(
            "spec.tags.cost-center: the tag cost-center is required on every stack (rule requiredTags of WebStackPolicy {name})"
        )
    );

    // Tagged: built.
    let tagged = parse(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\nspec: {network: {cidr: 10.0.0.0/16}, tags: {cost-center: '42'}}",
    );
    apply_all(&client, &ns, &tagged).await;
    wait_ready(&client, &ns, &tagged, &op, 150).await;
    wait_status(&policies, &name, |s| {
        s.violations.is_empty() && s.violation_count.is_none()
    })
    .await;

    // Tightened after the stack is Ready: Stalled, nothing in AWS changes.
    policies
        .patch(&name, &ssa, &Patch::Apply(&policy(&name, &ns, "none")))
        .await
        .unwrap();
    wait_all(
        &client,
        &ns,
        &tagged,
        &op,
        "PolicyViolation after tightening",
        60,
        stalled_by("natGateways", "spec.network.natGateways", name.clone()),
    )
    .await;
    let mark = moto.calls().len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mutations: Vec<_> = moto.calls()[mark..].iter().filter(|c| c.mutates()).cloned().collect();
    assert!(mutations.is_empty(), "{mutations:#?}");

    // A second policy selecting the namespace: both report the conflict, the stack stalls on it.
    let second = format!("{ns}-second");
    policies
        .patch(&second, &ssa, &Patch::Apply(&policy(&second, &ns, "single")))
        .await
        .unwrap();
    wait_all(&client, &ns, &tagged, &op, "a conflict", 60, |o| {
        o.and_then(|o| condition(o, "Stalled"))
            .is_some_and(|(s, reason, message)| {
                s == "True" && reason == "PolicyViolation" && message.contains("several WebStackPolicies")
            })
    })
    .await;
    let status = wait_status(&policies, &name, |s| s.conflicts == [format!("{ns}: {second}")]).await;
    assert!(!webstack_operator::reconcile::status::is_ready(&status.conditions));

    // Deletion cleans up whatever the policies say.
    api_for(&client, &ns, &tagged[0])
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap();
    crate::harness::manifest::wait_gone(&client, &ns, &tagged, &op, 120).await;
    for p in [&name, &second] {
        policies.delete(p, &DeleteParams::default()).await.unwrap();
    }
    let left = crate::harness::leftovers::leftovers(&moto.sdk_config().await, &ns).await;
    assert!(left.is_empty(), "{left:#?}");
}

/// A namespace of its own policy (the tag `cost-center` required, no NAT gateway allowed), an
/// operator for it re-checking every `resync`, and a stack without the tag there, Stalled.
struct Stalled {
    ns: String,
    name: String,
    policies: Api<WebStackPolicy>,
    moto: Moto,
    op: Operator,
    untagged: Vec<DynamicObject>,
}

async fn stalled_untagged_stack(client: &kube::Client, prefix: &str, resync: &str) -> Stalled {
    install_crds(client).await;
    let ns = namespace(client, prefix).await;
    let label = serde_json::json!({"metadata": {"labels": {"policy-test": ns}}});
    Api::<Namespace>::all(client.clone())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let policies: Api<WebStackPolicy> = Api::all(client.clone());
    let name = format!("{ns}-team");
    policies
        .patch(
            &name,
            &PatchParams::apply("platform-team").force(),
            &Patch::Apply(&policy(&name, &ns, "none")),
        )
        .await
        .unwrap();
    let moto = Moto::start();
    let op = Operator::start(&moto, &ns, resync);
    let untagged = parse(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\n\
         spec: {network: {cidr: 10.0.0.0/16, natGateways: none}}",
    );
    apply_all(client, &ns, &untagged).await;
    wait_all(
        client,
        &ns,
        &untagged,
        &op,
        "PolicyViolation",
        60,
        stalled_by("requiredTags", "spec.tags.cost-center", name.clone()),
    )
    .await;
    Stalled {
        ns,
        name,
        policies,
        moto,
        op,
        untagged,
    }
}

/// A namespace relabelled out of its policy: its objects are re-evaluated at once (the re-check
/// is an hour away, the stalled stack's next retry a minute), so a stack the policy refused is
/// built under the operator's defaults.
#[tokio::test]
async fn relabelling_a_namespace_re_evaluates_its_objects() {
    let client = client().await;
    let Stalled {
        ns,
        name,
        policies,
        moto: _moto,
        op,
        untagged,
    } = stalled_untagged_stack(&client, "relabel", "1h").await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let label = |value: String| serde_json::json!({"metadata": {"labels": {"policy-test": value}}});
    // A stalled stack is retried 30 s later, then 60 s after that: relabelled right after the
    // first retry, only the relabelling can reconcile it within 45 s.
    let reconciles = |scrape: String| -> f64 {
        scrape
            .lines()
            .filter(|l| l.starts_with("controller_runtime_reconcile_total{controller=\"webstack\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let first = reconciles(op.scrape().await);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while reconciles(op.scrape().await) <= first {
        assert!(std::time::Instant::now() < deadline, "no retry of the stalled stack");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Out of the policy's selector: built at once.
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(&label(format!("{ns}-elsewhere"))),
        )
        .await
        .unwrap();
    wait_ready(&client, &ns, &untagged, &op, 45).await;
    api_for(&client, &ns, &untagged[0])
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap();
    crate::harness::manifest::wait_gone(&client, &ns, &untagged, &op, 120).await;
    policies.delete(&name, &DeleteParams::default()).await.unwrap();
}

/// A stalled stack deleted without the operator's last reconcile (its finalizer removed by hand,
/// as `kubectl patch` does for a stuck deletion) leaves nothing behind in the operator: within a
/// few re-check periods its policy no longer lists its violation and the metrics no longer count
/// it (nothing else would ever take them off: no reconcile of it comes).
#[tokio::test]
async fn a_stack_gone_without_a_last_reconcile_leaves_no_violation_behind() {
    let client = client().await;
    let Stalled {
        ns,
        name,
        policies,
        moto: _moto,
        op,
        untagged,
    } = stalled_untagged_stack(&client, "forced", "3s").await;
    let shop = format!("WebStack/{ns}/shop");
    wait_status(&policies, &name, |s| s.violations.iter().any(|v| v.object == shop)).await;
    let stalled = "webstack_resources{kind=\"WebStack\",condition=\"Stalled\"}";
    assert_eq!(sample(&op.scrape().await, stalled), Some(1.0));

    // The finalizer taken off, then deleted: the object goes at once (a metadata change starts no
    // reconcile, and the stalled stack's next retry is 30 s away).
    let stacks = api_for(&client, &ns, &untagged[0]);
    let no_finalizer = serde_json::json!({"metadata": {"finalizers": null}});
    stacks
        .patch("shop", &PatchParams::default(), &Patch::Merge(&no_finalizer))
        .await
        .unwrap();
    stacks.delete("shop", &DeleteParams::default()).await.unwrap();
    assert!(stacks.get_opt("shop").await.unwrap().is_none(), "deleted at once");
    // The metrics are this process's alone (every operator of the tests writes every policy's
    // status, so the status is read after them).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let scrape = op.scrape().await;
        if sample(&scrape, stalled).unwrap_or(0.0) == 0.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{scrape}\n{}", op.log_tail());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        op.log_text()
            .contains("forgot objects that went without a last reconcile"),
        "{}",
        op.log_tail()
    );
    wait_status(&policies, &name, |s| {
        s.violations.is_empty() && s.violation_count.is_none()
    })
    .await;
    policies.delete(&name, &DeleteParams::default()).await.unwrap();
}

/// Two namespaces under two policies, each naming its own role (`spec.aws.assumeRoleArn`): every
/// AWS call for a namespace's stack is signed with that namespace's assumed-role credentials (the
/// emulator's recorded access keys), the AssumeRole requests carry the session tags, the
/// operator's own identity makes no mutating call but AssumeRole, and each policy's status shows
/// its last AssumeRole. Under IAM enforcement with the roles holding deploy/tenant-role-policy.json,
/// no call is denied, and a session of one namespace is denied the other's resources.
#[tokio::test]
async fn each_namespace_acts_with_its_own_role() {
    let client = client().await;
    install_crds(&client).await;
    // Under IAM enforcement (`harness/moto.rs`): each tenant role holds deploy/tenant-role-policy.json
    // and trusts the operator's identity as deploy/tenant-role-trust.json says.
    let moto = Moto::start();
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config().await);
    let operator = moto.operator_key();
    let trust = deploy_policy(
        "tenant-role-trust.json",
        &[
            ("OPERATOR_ROLE_ARN", &operator.arn),
            ("WEBSTACK_CLUSTER_ID", CLUSTER_ID),
        ],
    );
    let tenant_policy = iam
        .create_policy()
        .policy_name("webstack-tenant")
        .policy_document(deploy_policy(
            "tenant-role-policy.json",
            &[("WEBSTACK_CLUSTER_ID", CLUSTER_ID)],
        ))
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    let policies: Api<WebStackPolicy> = Api::all(client.clone());
    let ssa = PatchParams::apply("platform-team").force();
    let mut tenants = Vec::new();
    for team in ["alpha", "beta"] {
        let ns = namespace(&client, &format!("tenant-{team}")).await;
        let label = serde_json::json!({"metadata": {"labels": {"policy-test": ns}}});
        Api::<Namespace>::all(client.clone())
            .patch(&ns, &PatchParams::default(), &Patch::Merge(&label))
            .await
            .unwrap();
        let role = iam
            .create_role()
            .role_name(format!("webstack-tenant-{ns}"))
            .assume_role_policy_document(&trust)
            .send()
            .await
            .unwrap()
            .role
            .unwrap()
            .arn;
        iam.attach_role_policy()
            .role_name(format!("webstack-tenant-{ns}"))
            .policy_arn(&tenant_policy)
            .send()
            .await
            .unwrap();
        let name = format!("{ns}-team");
        let policy: WebStackPolicy = serde_yaml::from_str(&format!(
            "apiVersion: webstack.io/v1alpha1
kind: WebStackPolicy
metadata: {{name: {name}}}
spec:
  namespaceSelector: {{matchLabels: {{policy-test: {ns}}}}}
  aws: {{assumeRoleArn: '{role}', regions: [us-east-1]}}"
        ))
        .unwrap();
        policies.patch(&name, &ssa, &Patch::Apply(&policy)).await.unwrap();
        tenants.push((ns, role, name));
    }

    let mark = moto.calls().len();
    let stack = parse(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\nspec: {network: {cidr: 10.0.0.0/16, natGateways: none}}",
    );
    let mut operators = Vec::new();
    for (ns, _, _) in &tenants {
        let op = Operator::start(&moto, ns, "3s");
        apply_all(&client, ns, &stack).await;
        operators.push(op);
    }
    for ((ns, _, _), op) in tenants.iter().zip(&operators) {
        wait_ready(&client, ns, &stack, op, 150).await;
    }

    let decode = |body: &str| {
        percent_encoding::percent_decode_str(&body.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let calls: Vec<_> = moto.calls()[mark..].to_vec();
    let mut keys = Vec::new();
    for (ns, role, _) in &tenants {
        let owner = format!("{ns}/WebStack/shop");
        let signed: std::collections::BTreeSet<&str> = calls
            .iter()
            .filter(|c| decode(&c.body).contains(&owner))
            .map(|c| c.access_key.as_str())
            .collect();
        assert_eq!(signed.len(), 1, "{ns}'s calls are signed with one key: {signed:?}");
        let key = signed.into_iter().next().unwrap().to_string();
        assert_ne!(
            key, operator.id,
            "{ns}'s resources were made with the operator's own identity"
        );
        let assumed: Vec<String> = calls
            .iter()
            .filter(|c| c.action == "AssumeRole")
            .map(|c| decode(&c.body))
            .filter(|b| b.contains(&format!("RoleArn={role}")))
            .collect();
        assert!(!assumed.is_empty(), "no AssumeRole of {role}");
        // Each is in the operator's AWS call metrics (STS is called by aws-config's client).
        let op = &operators[tenants.iter().position(|t| &t.0 == ns).unwrap()];
        let scrape = op.scrape().await;
        let counted = crate::harness::operator::sample(
            &scrape,
            "webstack_aws_api_calls_total{service=\"STS\",operation=\"AssumeRole\",outcome=\"success\"}",
        );
        assert_eq!(counted, Some(assumed.len() as f64), "{scrape}");
        for body in &assumed {
            for wanted in [
                format!("RoleSessionName=webstack-{ns}"),
                "Key=webstack.io/namespace".to_string(),
                format!("Value={ns}"),
                "Key=webstack.io/cluster".to_string(),
            ] {
                assert!(body.contains(&wanted), "{wanted} not in {body}");
            }
        }
        keys.push((ns.clone(), key));
    }
    assert_ne!(keys[0].1, keys[1].1);
    for (ns, key) in &keys {
        let n = calls.iter().filter(|c| &c.access_key == key).count();
        println!("{ns}: {n} calls signed with {key}");
    }
    for (ns, key) in &keys {
        let others: Vec<_> = tenants.iter().map(|t| &t.0).filter(|o| *o != ns).collect();
        for c in calls.iter().filter(|c| &c.access_key == key) {
            let body = decode(&c.body);
            assert!(
                !others.iter().any(|o| body.contains(o.as_str())),
                "{ns}'s session touched another namespace's resource: {c:?}"
            );
        }
    }
    let own: Vec<_> = calls
        .iter()
        .filter(|c| c.access_key == operator.id && c.mutates() && c.action != "AssumeRole")
        .collect();
    assert!(own.is_empty(), "mutations with the operator's own identity: {own:#?}");

    // Each policy's status names its last AssumeRole.
    for (ns, role, name) in &tenants {
        wait_status(&policies, name, |s| {
            s.last_assume_role
                .as_ref()
                .is_some_and(|l| &l.role_arn == role && &l.namespace == ns)
        })
        .await;
    }

    // AWS itself confines each session (tests/moto/iam_eval.py evaluates the role policy): a
    // session of the first namespace's role, assumed as the operator assumes it, is denied the
    // second namespace's security group and VPC.
    let stacks = |ns: &str| Api::<webstack_operator::api::WebStack>::namespaced(client.clone(), ns);
    let second = stacks(&tenants[1].0).get("shop").await.unwrap().status.unwrap();
    let role = webstack_operator::aws::identity::TenantRole {
        role_arn: tenants[0].1.clone(),
        external_id: None,
        namespace: tenants[0].0.clone(),
        cluster_id: CLUSTER_ID.into(),
    };
    let credentials = webstack_operator::aws::identity::assume(
        &moto.sdk_config_as(&operator).await,
        role,
        crate::harness::moto::REGION,
        std::sync::Arc::new(|_: &webstack_operator::aws::identity::TenantRole| {}),
    )
    .await
    .expect("the operator may assume a tenant role");
    let first = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new(crate::harness::moto::REGION))
        .credentials_provider(credentials)
        .load()
        .await;
    let ec2 = aws_sdk_ec2::Client::new(&first);
    let group = second
        .security_groups
        .as_ref()
        .and_then(|g| g.services.clone())
        .unwrap();
    let err = ec2
        .delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect_err("the other namespace's security group");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("UnauthorizedOperation"),
        "{err:?}"
    );
    let owner = aws_sdk_ec2::types::Tag::builder()
        .key("webstack.io/owner")
        .value(format!("{}/WebStack/shop", tenants[0].0))
        .build();
    let err = ec2
        .create_tags()
        .resources(second.vpc_id.clone().unwrap())
        .tags(owner)
        .send()
        .await
        .expect_err("taking the other namespace's VPC");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("UnauthorizedOperation"),
        "{err:?}"
    );

    // Deletion, with the same identities: nothing is left.
    for ((ns, _, name), op) in tenants.iter().zip(&operators) {
        api_for(&client, ns, &stack[0])
            .delete("shop", &DeleteParams::default())
            .await
            .unwrap();
        crate::harness::manifest::wait_gone(&client, ns, &stack, op, 120).await;
        policies.delete(name, &DeleteParams::default()).await.unwrap();
        let left = crate::harness::leftovers::leftovers(&moto.sdk_config().await, ns).await;
        assert!(left.is_empty(), "{left:#?}");
    }
    let own: Vec<_> = moto.calls()[mark..]
        .iter()
        .filter(|c| c.access_key == operator.id && c.mutates() && c.action != "AssumeRole")
        .cloned()
        .collect();
    assert!(own.is_empty(), "mutations with the operator's own identity: {own:#?}");
}
