//! The operator's least-privilege IAM policy, `deploy/iam-policy.json`, kept honest:
//! - it grants exactly the IAM actions of the operations the operator performs
//!   (`deploy/iam-operations.txt`), nothing more;
//! - every listed operation is an SDK call in `src/` (no dead entries);
//! - every operation an end-to-end test's operator performs is listed and granted (checked when
//!   each test's [`Operator`] is dropped: `harness/operator.rs`);
//! - a whole stack goes up and down under IAM enforcement as AWS evaluates it (`tests/moto/iam_eval.py`)
//!   as a user holding the policy, unmodified; tenant roles confine each namespace.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::harness::iam::{
    actions_of, listed_operations, policy, policy_actions, snake_case, statement_actions, statements,
};
use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::manifest::{apply_all, delete_all, load_manifests, wait_gone, wait_ready};
use crate::harness::moto::{CLUSTER_ID, Moto};
use crate::harness::operator::Operator;
use crate::harness::repo_root;

#[test]
fn sdk_operation_names_become_method_names() {
    for (op, method) in [
        ("CreateVpc", "create_vpc"),
        ("CreateDBInstance", "create_db_instance"),
        ("DescribeDBSubnetGroups", "describe_db_subnet_groups"),
        ("ListTagsForResource", "list_tags_for_resource"),
        ("CreateOrUpdateTags", "create_or_update_tags"),
        ("GetPublicAccessBlock", "get_public_access_block"),
    ] {
        assert_eq!(snake_case(op), method);
    }
    assert_eq!(
        actions_of("EC2:CreateVpc").unwrap(),
        ["ec2:CreateVpc", "ec2:CreateTags"]
    );
    assert_eq!(actions_of("S3:DeleteBucketTagging").unwrap(), ["s3:PutBucketTagging"]);
}

/// The policy's actions are exactly those of the listed operations: nothing extra, nothing missing.
#[test]
fn policy_grants_exactly_the_listed_operations() {
    let mut needed = BTreeSet::new();
    for op in &listed_operations() {
        needed.extend(actions_of(op).unwrap_or_else(|e| panic!("{e}")));
    }
    let granted = policy_actions();
    let extra: Vec<&String> = granted.difference(&needed).collect();
    let missing: Vec<&String> = needed.difference(&granted).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "deploy/iam-policy.json grants actions no listed operation needs: {extra:?}; \
         listed operations need actions it does not grant: {missing:?}"
    );
    for s in statements(&policy()) {
        assert_eq!(s["Effect"], "Allow", "{s}");
        assert!(
            s["Sid"].is_string() && !s["Resource"].is_null(),
            "Sid and Resource: {s}"
        );
        for a in statement_actions(s) {
            assert!(!a.contains('*') && !a.contains('?'), "no wildcard actions: {a}");
        }
    }
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// Every operation of `deploy/iam-operations.txt` is an SDK call in `src/`: `.create_vpc()` in a
/// file that uses `aws_sdk_ec2` for `EC2:CreateVpc`. A call removed from the code must leave the
/// list (and so the policy) too.
#[test]
fn listed_operations_are_sdk_calls_in_src() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("src"), &mut files);
    let dead: Vec<String> = listed_operations()
        .into_iter()
        .filter(|op| {
            let (service, name) = op.split_once(':').unwrap();
            let krate = format!("aws_sdk_{}", service.replace(' ', "").to_ascii_lowercase());
            let call = format!(".{}()", snake_case(name));
            !files
                .iter()
                .any(|(_, text)| text.contains(&krate) && text.contains(&call))
        })
        .collect();
    assert!(
        dead.is_empty(),
        "deploy/iam-operations.txt lists operations src/ never calls (remove them, and their actions \
         from deploy/iam-policy.json): {dead:?}"
    );
}

/// Lines of the operator's log where AWS refused it.
fn denials(op: &Operator) -> Vec<String> {
    op.log_text()
        .lines()
        .filter(|l| {
            l.contains("AccessDenied") || l.contains("UnauthorizedOperation") || l.contains("InvalidClientTokenId")
        })
        .take(10)
        .map(String::from)
        .collect()
}

/// Example 2 (Fargate, autoscaling, PostgreSQL with its secret, S3 + CloudFront) applied, Ready
/// and deleted by an operator whose only AWS permissions are `deploy/iam-policy.json`, unmodified
/// (conditions on tags, resources, PassRole targets), with IAM enforced as AWS evaluates it
/// (`tests/moto/iam_eval.py`): no call is denied. And the policy's guard holds: the same identity
/// is denied changing a security group of another cluster, and claiming another cluster's target
/// group by tagging it with its own cluster id.
#[tokio::test]
async fn example_runs_under_the_iam_policy() {
    const FILE: &str = "2-fargate-autoscaled-postgres-cdn.yaml";
    let started = Instant::now();
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "iam").await;
    // Every test's emulator enforces IAM, the operator holding deploy/iam-policy.json
    // (`harness/moto.rs`); this one also checks what the policy refuses.
    let moto = Moto::start();
    let path = repo_root().join("examples").join(FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    moto.certificates_named_in(&text, "webapp.example");
    moto.hosted_zones_named_in(&text, "webapp.example");
    let op = Operator::start(&moto, &ns, "3s");
    let objects = load_manifests(&path);
    apply_all(&client, &ns, &objects).await;
    let ready = wait_ready(&client, &ns, &objects, &op, 300).await;
    // A few resync periods at steady state: the drift checks run under the policy too.
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Another cluster's resources, made by the administrator in the stack's VPC.
    let admin = moto.sdk_config().await;
    let admin_ec2 = aws_sdk_ec2::Client::new(&admin);
    let admin_elb = aws_sdk_elasticloadbalancingv2::Client::new(&admin);
    let vpc = admin_ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:webstack.io/cluster")
                .values(CLUSTER_ID)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    let foreign_tag = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("webstack.io/cluster")
                .value("other")
                .build(),
        )
        .build();
    let foreign_group = admin_ec2
        .create_security_group()
        .group_name("other-cluster")
        .description("another cluster's")
        .vpc_id(&vpc)
        .tag_specifications(foreign_tag)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let foreign_tg = admin_elb
        .create_target_group()
        .name("other-cluster")
        .port(80)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .vpc_id(&vpc)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("webstack.io/cluster")
                .value("other")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let as_operator = moto.sdk_config_as(&moto.operator_key()).await;
    let err = aws_sdk_ec2::Client::new(&as_operator)
        .delete_security_group()
        .group_id(&foreign_group)
        .send()
        .await
        .expect_err("another cluster's security group");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("UnauthorizedOperation"),
        "{err:?}"
    );
    let ours = aws_sdk_elasticloadbalancingv2::types::Tag::builder()
        .key("webstack.io/cluster")
        .value(CLUSTER_ID)
        .build();
    let err = aws_sdk_elasticloadbalancingv2::Client::new(&as_operator)
        .add_tags()
        .resource_arns(&foreign_tg)
        .tags(ours)
        .send()
        .await
        .expect_err("claiming another cluster's target group");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied"),
        "{err:?}"
    );
    admin_ec2
        .delete_security_group()
        .group_id(&foreign_group)
        .send()
        .await
        .unwrap();
    admin_elb
        .delete_target_group()
        .target_group_arn(&foreign_tg)
        .send()
        .await
        .unwrap();

    delete_all(&client, &ns, &objects).await;
    let gone = wait_gone(&client, &ns, &objects, &op, 240).await;
    let left = leftovers(&admin, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
    let denied = denials(&op);
    assert!(
        denied.is_empty(),
        "the operator was denied under deploy/iam-policy.json:\n{}",
        denied.join("\n")
    );
    let recorded = std::fs::read_to_string(&op.operations).unwrap_or_default();
    println!(
        "{FILE} under the IAM policy: Ready in {:.1}s, deleted in {:.1}s, {:.1}s in all; {} distinct AWS operations",
        ready.as_secs_f64(),
        gone.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        recorded.lines().collect::<BTreeSet<_>>().len()
    );
}

/// The split `deploy/README.md` installs the policy with (`.Statement[0:10]`, `[10:26]`, `[26:]`)
/// gives managed policies within IAM's 6,144 characters (whitespace not counted) each, even with
/// a cluster id of 63 characters in place of the placeholder.
#[test]
fn policy_fits_in_the_three_managed_policies_of_the_readme() {
    let path = repo_root().join("deploy/iam-policy.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("WEBSTACK_CLUSTER_ID", &"c".repeat(63));
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let all = statements(&policy);
    let readme = std::fs::read_to_string(repo_root().join("deploy/README.md")).unwrap();
    assert!(
        readme.contains("for part in '.[0:10]' '.[10:26]' '.[26:]'"),
        "README's split changed"
    );
    for (i, part) in [&all[0..10], &all[10..26], &all[26..]].iter().enumerate() {
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": part});
        let chars = doc.to_string().chars().filter(|c| !c.is_whitespace()).count();
        assert!(
            chars <= 6144,
            "part {} of the policy has {chars} characters (at most 6,144)",
            i + 1
        );
    }
}

/// What an operator's record is checked for: an operation that is not listed, or whose action the
/// policy lacks, fails; listed and granted ones pass.
#[test]
fn recorded_operations_are_checked_against_list_and_policy() {
    let dir = std::env::temp_dir().join(crate::harness::unique("iam-record"));
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("operations");
    std::fs::write(&record, "EC2:CreateVpc\nElastic Load Balancing v2:CreateRule\n").unwrap();
    assert_eq!(crate::harness::iam::check_recorded(&record), Ok(()));
    std::fs::write(&record, "EC2:CreateVpc\nEC2:TerminateInstances\n").unwrap();
    let err = crate::harness::iam::check_recorded(&record).unwrap_err();
    assert!(
        err.contains("EC2:TerminateInstances is not in deploy/iam-operations.txt"),
        "{err}"
    );
    assert!(err.contains("needs ec2:TerminateInstances"), "{err}");
    assert!(!err.contains("CreateVpc"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
