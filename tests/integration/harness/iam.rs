//! The operator's IAM policy (`deploy/iam-policy.json`) against what the operator does: the list
//! of its AWS operations (`deploy/iam-operations.txt`), the IAM actions each operation needs, the operations an operator
//! process recorded (`WEBSTACK_RECORD_OPERATIONS`), and the policy relaxed to what moto can evaluate.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::repo_root;

/// The IAM service prefix of each SDK service id the call counter reports.
const PREFIXES: [(&str, &str); 20] = [
    ("Application Auto Scaling", "application-autoscaling"),
    ("Auto Scaling", "autoscaling"),
    ("CloudFront", "cloudfront"),
    ("CloudWatch", "cloudwatch"),
    ("CloudWatch Logs", "logs"),
    ("EC2", "ec2"),
    ("ECR", "ecr"),
    ("ECS", "ecs"),
    ("ElastiCache", "elasticache"),
    ("Elastic Load Balancing v2", "elasticloadbalancing"),
    ("IAM", "iam"),
    ("RDS", "rds"),
    ("Route 53", "route53"),
    ("S3", "s3"),
    ("Secrets Manager", "secretsmanager"),
    ("SNS", "sns"),
    ("SSM", "ssm"),
    ("SQS", "sqs"),
    ("EventBridge", "events"),
    ("STS", "sts"),
];

/// Operations whose IAM action is not `<prefix>:<operation>` (AWS's Service Authorization
/// Reference and each API's "Permissions" section).
const RENAMED: [(&str, &[&str]); 11] = [
    // S3 names most bucket sub-resource permissions after the sub-resource, not the call.
    ("S3:DeleteBucketTagging", &["s3:PutBucketTagging"]),
    ("S3:GetBucketEncryption", &["s3:GetEncryptionConfiguration"]),
    ("S3:PutBucketEncryption", &["s3:PutEncryptionConfiguration"]),
    ("S3:GetPublicAccessBlock", &["s3:GetBucketPublicAccessBlock"]),
    ("S3:PutPublicAccessBlock", &["s3:PutBucketPublicAccessBlock"]),
    ("S3:ListObjectVersions", &["s3:ListBucketVersions"]),
    ("S3:HeadBucket", &["s3:ListBucket"]),
    // DeleteObjects checks DeleteObject per key, DeleteObjectVersion for keys with a version id.
    ("S3:DeleteObjects", &["s3:DeleteObject", "s3:DeleteObjectVersion"]),
    // SQS authorizes a batch as its single-message action (SAR: no batch actions).
    ("SQS:DeleteMessageBatch", &["sqs:DeleteMessage"]),
    // "No permissions are required to perform this operation" (STS API Reference).
    ("STS:GetCallerIdentity", &[]),
    // The API's versioned operation name; IAM knows one CreateDistribution action.
    (
        "CloudFront:CreateDistributionWithTags",
        &["cloudfront:CreateDistribution"],
    ),
];

/// Further actions AWS checks when an operation runs ("dependent actions"): tags written in the
/// create call itself, roles passed, service-linked roles created on first use in an account, the
/// final snapshot of a deleted database, instances an Auto Scaling group launches.
const ALSO: [(&str, &[&str]); 39] = [
    ("EC2:CreateFlowLogs", &["ec2:CreateTags", "iam:PassRole"]),
    ("EC2:AllocateAddress", &["ec2:CreateTags"]),
    ("EC2:CreateInternetGateway", &["ec2:CreateTags"]),
    ("EC2:CreateLaunchTemplate", &["ec2:CreateTags"]),
    ("EC2:CreateNatGateway", &["ec2:CreateTags"]),
    ("EC2:CreateRouteTable", &["ec2:CreateTags"]),
    ("EC2:CreateSecurityGroup", &["ec2:CreateTags"]),
    ("EC2:CreateSubnet", &["ec2:CreateTags"]),
    ("EC2:CreateVpc", &["ec2:CreateTags"]),
    ("EC2:CreateVpcEndpoint", &["ec2:CreateTags"]),
    (
        "Elastic Load Balancing v2:CreateLoadBalancer",
        &["elasticloadbalancing:AddTags", "iam:CreateServiceLinkedRole"],
    ),
    (
        "Elastic Load Balancing v2:CreateTargetGroup",
        &["elasticloadbalancing:AddTags"],
    ),
    (
        "Elastic Load Balancing v2:CreateListener",
        &["elasticloadbalancing:AddTags"],
    ),
    (
        "Elastic Load Balancing v2:CreateRule",
        &["elasticloadbalancing:AddTags"],
    ),
    ("ECS:CreateCluster", &["ecs:TagResource", "iam:CreateServiceLinkedRole"]),
    ("ECS:CreateService", &["ecs:TagResource"]),
    ("ECS:RegisterTaskDefinition", &["ecs:TagResource", "iam:PassRole"]),
    ("ECS:CreateCapacityProvider", &["ecs:TagResource"]),
    ("CloudWatch Logs:CreateLogGroup", &["logs:TagResource"]),
    // Tags given to PutMetricAlarm, PutDashboard and CreateTopic (CloudWatch: "you must have the
    // cloudwatch:TagResource permission in addition to the cloudwatch:PutMetricAlarm permission").
    ("CloudWatch:PutMetricAlarm", &["cloudwatch:TagResource"]),
    ("CloudWatch:PutDashboard", &["cloudwatch:TagResource"]),
    ("SNS:CreateTopic", &["sns:TagResource"]),
    // Tags given at creation: the queue's (SQS Developer Guide) and the rule's (EventBridge).
    ("SQS:CreateQueue", &["sqs:TagQueue"]),
    ("EventBridge:PutRule", &["events:TagResource"]),
    (
        "Application Auto Scaling:RegisterScalableTarget",
        &["iam:CreateServiceLinkedRole"],
    ),
    (
        "RDS:CreateDBInstance",
        &["rds:AddTagsToResource", "iam:CreateServiceLinkedRole"],
    ),
    ("RDS:CreateDBSubnetGroup", &["rds:AddTagsToResource"]),
    (
        "RDS:DeleteDBInstance",
        &["rds:CreateDBSnapshot", "rds:AddTagsToResource"],
    ),
    (
        "ElastiCache:CreateReplicationGroup",
        &["elasticache:AddTagsToResource", "iam:CreateServiceLinkedRole"],
    ),
    ("ElastiCache:CreateCacheSubnetGroup", &["elasticache:AddTagsToResource"]),
    ("Secrets Manager:CreateSecret", &["secretsmanager:TagResource"]),
    ("S3:CreateBucket", &["s3:TagResource"]),
    // Tags in CreateRepository: "Amazon performs additional authorization ... to verify if users
    // have permissions to create tags" (ECR User Guide, tag-based access control).
    ("ECR:CreateRepository", &["ecr:TagResource"]),
    ("CloudFront:CreateDistributionWithTags", &["cloudfront:TagResource"]),
    ("IAM:CreateRole", &["iam:TagRole"]),
    ("IAM:CreateInstanceProfile", &["iam:TagInstanceProfile"]),
    ("IAM:AddRoleToInstanceProfile", &["iam:PassRole"]),
    (
        "Auto Scaling:CreateAutoScalingGroup",
        &[
            "autoscaling:CreateOrUpdateTags",
            "ec2:RunInstances",
            "ec2:CreateTags",
            "iam:PassRole",
            "iam:CreateServiceLinkedRole",
        ],
    ),
    (
        "Auto Scaling:UpdateAutoScalingGroup",
        &["ec2:RunInstances", "iam:PassRole"],
    ),
];

/// The IAM actions AWS checks for `operation` (`<SDK service id>:<operation>`), or why there are none.
pub fn actions_of(operation: &str) -> Result<Vec<String>, String> {
    let (service, name) = operation
        .split_once(':')
        .ok_or_else(|| format!("{operation}: not <service>:<operation>"))?;
    let prefix = PREFIXES
        .iter()
        .find(|(s, _)| *s == service)
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("{operation}: no IAM prefix for SDK service {service} in harness/iam.rs"))?;
    let mut actions: Vec<String> = match RENAMED.iter().find(|(o, _)| *o == operation) {
        Some((_, renamed)) => renamed.iter().map(|a| a.to_string()).collect(),
        None => vec![format!("{prefix}:{name}")],
    };
    for (_, also) in ALSO.iter().filter(|(o, _)| *o == operation) {
        actions.extend(also.iter().map(|a| a.to_string()));
    }
    Ok(actions)
}

/// `deploy/iam-policy.json`.
pub fn policy() -> Value {
    let path = repo_root().join("deploy/iam-policy.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The statements of a policy.
pub fn statements(policy: &Value) -> &Vec<Value> {
    policy["Statement"].as_array().expect("Statement is a list")
}

/// A statement's `Action` (a string or a list) as a list.
pub fn statement_actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list.iter().filter_map(|a| a.as_str().map(String::from)).collect(),
        other => panic!("Action is neither a string nor a list: {other}"),
    }
}

/// Every action the policy allows in some statement.
pub fn policy_actions() -> BTreeSet<String> {
    statements(&policy()).iter().flat_map(statement_actions).collect()
}

fn operations_in(file: &str) -> BTreeSet<String> {
    let path = repo_root().join("deploy").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// `deploy/iam-operations.txt`: the operations the operator performs.
pub fn listed_operations() -> BTreeSet<String> {
    operations_in("iam-operations.txt")
}

/// Checks the operations an operator recorded (the file `WEBSTACK_RECORD_OPERATIONS` named): each
/// is listed and each of its actions allowed by the policy. A missing file means no AWS call.
pub fn check_recorded(record: &Path) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(record) else {
        return Ok(());
    };
    let listed = listed_operations();
    let allowed = policy_actions();
    let mut problems = BTreeSet::new();
    for operation in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !listed.contains(operation) {
            problems.insert(format!("{operation} is not in deploy/iam-operations.txt"));
        }
        match actions_of(operation) {
            Ok(actions) => {
                for action in actions.iter().filter(|a| !allowed.contains(*a)) {
                    problems.insert(format!(
                        "{operation} needs {action}, which deploy/iam-policy.json does not allow"
                    ));
                }
            }
            Err(e) => {
                problems.insert(e);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the operator performed AWS operations its IAM policy does not cover ({}):\n  {}",
            record.display(),
            problems.into_iter().collect::<Vec<_>>().join("\n  ")
        ))
    }
}

/// The SDK's method name of an operation: `CreateDBInstance` → `create_db_instance` (a word
/// starts at an upper-case letter after a lower-case one or a digit, and at the last capital of
/// a run of capitals followed by a lower-case letter).
pub fn snake_case(operation: &str) -> String {
    let chars: Vec<char> = operation.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
