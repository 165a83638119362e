//! `deploy/tenant-role-policy.json`: the policy of a role a WebStackPolicy names
//! (`spec.aws.assumeRoleArn`). It is the operator's own policy (`deploy/iam-policy.json`)
//! confined to the session's namespace, so that AWS itself refuses a session for namespace A
//! what belongs to namespace B, whatever the operator does:
//! - a statement conditioned on the cluster tag (`aws:RequestTag/...` on create, `aws:ResourceTag/...`
//!   on change) also requires the owner tag `webstack.io/owner` to start with the session's
//!   `webstack.io/namespace` tag, and the cluster tag to equal the session's;
//! - secrets are confined by name (`webstack/<namespace>/...`);
//! - a session may never tag anything as another namespace's (an explicit Deny);
//! - what AWS cannot confine by tag or name is listed in [`UNCONFINED`] with the reason and the
//!   operator's own check that guards it (docs/tenancy.md repeats the list).
//!
//! The file is derived from the operator's policy by [`tenant_policy`]; this test keeps it
//! current (`WEBSTACK_WRITE_TENANT_POLICY=1` rewrites it). Here its structure is tested; its
//! decisions are tested end to end under the emulator's IAM evaluator (`tests/moto/iam_eval.py`,
//! `policy_e2e::each_namespace_acts_with_its_own_role`).

use serde_json::{Value, json};

use crate::harness::iam::{policy, statement_actions, statements};
use crate::harness::repo_root;

const NAMESPACE: &str = "${aws:PrincipalTag/webstack.io/namespace}";
const CLUSTER: &str = "${aws:PrincipalTag/webstack.io/cluster}";
const FILE: &str = "deploy/tenant-role-policy.json";

/// Statements of the operator's policy that allow changes AWS cannot confine to a namespace, why,
/// and what guards them instead.
const UNCONFINED: &[(&str, &str)] = &[
    (
        "Ec2SecurityGroupInAnyVpc",
        "a security group is created in a VPC that carries no tag of the namespace (an adopted VPC); the operator adopts only VPCs tagged webstack.io/adoptable for the namespace",
    ),
    ("Ec2FlowLogOfAnyVpc", "flow logs of an adopted VPC; same guard as above"),
    (
        "Ec2SecurityGroupRules",
        "security group rules have no tags of their own; their group's owner tag is checked by Ec2ChangeOwned",
    ),
    (
        "RdsFinalSnapshot",
        "final snapshots are named ws-<namespace>-<name>-final-* but names are truncated; the operator names only its own",
    ),
    (
        "EcsTaskDefinitionRevisions",
        "deregistering a revision is not tag-conditioned by ECS; the operator deregisters only revisions of its own families",
    ),
    (
        "ScalingOfEcsServices",
        "scalable targets and policies are conditioned on the service namespace ecs only; the operator scales only the ECS services it owns (their tags checked)",
    ),
    (
        "CloudFrontOriginAccessControls",
        "origin access controls have no tags; the operator deletes only the one its StaticSite status names and checks",
    ),
    (
        "S3Buckets",
        "bucket names are truncated (wss-<namespace>-<name>-<uid>), so no prefix is exact; the operator checks the bucket's ownership tags first",
    ),
    ("S3EmptyBucketBeforeDeletion", "objects of a bucket; same as S3Buckets"),
    (
        "IamPassOwnRoles",
        "role names are truncated (webstack-exec-<namespace>-<name>-<uid>); the operator refuses any webstack-* role but the stack's own (tenancy defaults)",
    ),
    (
        "IamServiceLinkedRoles",
        "service-linked roles belong to the account, not to a namespace",
    ),
    (
        "CloudWatchAlarmsAndDashboardsOfStacks",
        "alarm and dashboard names are truncated; tagging them is confined (AlarmsTagAndUntagOwned) and the operator checks their tags before a change",
    ),
    (
        "SnsTopicsOfStacks",
        "topic names are truncated; the operator checks the topic's ownership tags first",
    ),
    (
        "Ec2LaunchResourcesOfTemplate",
        "instances and volumes launched from a template the namespace owns (Ec2LaunchFromOwnedTemplate is confined)",
    ),
    (
        "Route53AliasAndOwnershipRecords",
        "records have no tags; WebStackPolicy allow.hostedZones confines the zones and names a namespace may write",
    ),
];

fn is_read(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    ["Describe", "List", "Get", "Head"].iter().any(|p| name.starts_with(p))
}

/// An action that writes tags (`ec2:CreateTags`, `ecs:TagResource`, `elasticloadbalancing:AddTags`,
/// ...), not one that removes them or merely has "Tag" in its name.
fn is_tagging(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    [
        "CreateTags",
        "TagResource",
        "AddTags",
        "AddTagsToResource",
        "CreateOrUpdateTags",
        "PutBucketTagging",
    ]
    .contains(&name)
        || (name.starts_with("Tag") && name != "TagResource")
}

/// The operator's policy confined to the session's namespace.
pub fn tenant_policy(operator: &Value) -> Value {
    let mut out = Vec::new();
    let mut tagging = std::collections::BTreeSet::new();
    for statement in statements(operator) {
        // The drift-events pipeline (`Events*`) runs with the operator's own credentials, never a
        // namespace's role.
        if statement["Sid"].as_str().is_some_and(|sid| sid.starts_with("Events")) {
            continue;
        }
        let mut s = statement.clone();
        let (mut request, mut resource) = (false, false);
        if let Some(conditions) = s.get_mut("Condition").and_then(Value::as_object_mut) {
            // The cluster id is compared by StringEquals; a Null test of the same key stays.
            for (_, keys) in conditions.iter_mut().filter(|(op, _)| op.as_str() == "StringEquals") {
                for (key, value) in keys.as_object_mut().into_iter().flatten() {
                    if key == "aws:RequestTag/webstack.io/cluster" {
                        *value = json!(CLUSTER);
                        request = true;
                    } else if key == "aws:ResourceTag/webstack.io/cluster" {
                        *value = json!(CLUSTER);
                        resource = true;
                    }
                }
            }
            let like = conditions.entry("StringLike").or_insert_with(|| json!({}));
            if request {
                like["aws:RequestTag/webstack.io/owner"] = json!(format!("{NAMESPACE}/*"));
            }
            if resource {
                like["aws:ResourceTag/webstack.io/owner"] = json!(format!("{NAMESPACE}/*"));
            }
            if like.as_object().is_some_and(|l| l.is_empty()) {
                conditions.remove("StringLike");
            }
        }
        let confine_secret = |r: &mut Value| {
            if let Some(text) = r.as_str()
                && text.ends_with(":secret:webstack/*")
            {
                *r = json!(text.replace(":secret:webstack/*", &format!(":secret:webstack/{NAMESPACE}/*")));
            }
        };
        match s.get_mut("Resource") {
            Some(Value::Array(list)) => list.iter_mut().for_each(confine_secret),
            Some(r) => confine_secret(r),
            None => {}
        }
        tagging.extend(
            statement_actions(&s)
                .into_iter()
                .filter(|a| !is_read(a) && is_tagging(a)),
        );
        out.push(s);
    }
    out.push(json!({
        "Sid": "DenyTaggingForAnotherNamespace",
        "Effect": "Deny",
        "Action": tagging.into_iter().collect::<Vec<_>>(),
        "Resource": "*",
        "Condition": {
            "Null": {"aws:RequestTag/webstack.io/owner": "false"},
            "StringNotLike": {"aws:RequestTag/webstack.io/owner": format!("{NAMESPACE}/*")}
        }
    }));
    json!({"Version": "2012-10-17", "Statement": out})
}

/// Whether a statement names the session's namespace in a condition or a resource.
fn confined(statement: &Value) -> bool {
    let text = |v: &Value| v.to_string();
    statement.get("Condition").is_some_and(|c| text(c).contains(NAMESPACE))
        || statement.get("Resource").is_some_and(|r| text(r).contains(NAMESPACE))
}

#[test]
fn the_tenant_role_policy_is_the_operators_confined_to_the_session_namespace() {
    let derived = tenant_policy(&policy());
    let path = repo_root().join(FILE);
    let pretty = serde_json::to_string_pretty(&derived).unwrap() + "\n";
    if std::env::var_os("WEBSTACK_WRITE_TENANT_POLICY").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == pretty,
        "{FILE} is not derived from deploy/iam-policy.json: run \
         WEBSTACK_WRITE_TENANT_POLICY=1 cargo test --test integration tenant_policy"
    );

    // Every statement that allows a change is confined to the session's namespace, or listed
    // with its reason; nothing listed is confined (the list stays honest).
    let mut unconfined = Vec::new();
    for s in statements(&derived).iter().filter(|s| s["Effect"] == "Allow") {
        let sid = s["Sid"].as_str().unwrap();
        let changes = statement_actions(s).iter().any(|a| !is_read(a));
        let listed = UNCONFINED.iter().any(|(u, _)| *u == sid);
        if changes && !confined(s) {
            unconfined.push(sid.to_string());
        }
        assert!(
            !(listed && confined(s)),
            "{sid} is listed as unconfined but is confined"
        );
        assert!(!listed || changes, "{sid} is listed as unconfined but only reads");
    }
    let listed: Vec<String> = UNCONFINED.iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(unconfined, listed, "statements AWS does not confine to the namespace");

    // Tag conditions: every cluster-tag condition is the session's, with the namespace's owner tag.
    for s in statements(&derived) {
        let all = s.get("Condition").map(Value::to_string).unwrap_or_default();
        assert!(!all.contains("WEBSTACK_CLUSTER_ID"), "{s}");
        // The comparisons (a Null test of the cluster tag, "not yet any cluster's", stays as is).
        let c = format!("{}{}", s["Condition"]["StringEquals"], s["Condition"]["StringLike"]);
        if c.contains("aws:RequestTag/webstack.io/cluster") {
            assert!(c.contains("aws:RequestTag/webstack.io/owner"), "{s}");
        }
        if c.contains("aws:ResourceTag/webstack.io/cluster") {
            assert!(c.contains("aws:ResourceTag/webstack.io/owner"), "{s}");
        }
    }
    // The Deny covers every tagging action the policy allows.
    let deny = statements(&derived).iter().find(|s| s["Effect"] == "Deny").unwrap();
    for a in ["ec2:CreateTags", "elasticloadbalancing:AddTags", "ecs:TagResource"] {
        assert!(
            statement_actions(deny).contains(&a.to_string()),
            "{a} not denied for other namespaces"
        );
    }
}

/// The trust policy template lets the operator's identity assume the role with session tags.
#[test]
fn the_tenant_trust_policy_allows_tagged_sessions() {
    let path = repo_root().join("deploy/tenant-role-trust.json");
    let trust: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let s = &statements(&trust)[0];
    let actions = statement_actions(s);
    assert!(actions.contains(&"sts:AssumeRole".to_string()) && actions.contains(&"sts:TagSession".to_string()));
    assert!(s["Principal"]["AWS"].as_str().unwrap().contains("OPERATOR_ROLE_ARN"));
}

/// The split deploy/README.md installs the tenant policy with gives managed policies within IAM's
/// 6,144 characters (whitespace not counted) each.
#[test]
fn the_tenant_role_policy_fits_in_the_four_managed_policies_of_the_readme() {
    let derived = tenant_policy(&policy());
    let all = statements(&derived);
    let readme = std::fs::read_to_string(repo_root().join("deploy/README.md")).unwrap();
    assert!(
        readme.contains("for part in '.[0:8]' '.[8:17]' '.[17:30]' '.[30:]'"),
        "README's split of the tenant policy changed"
    );
    for (i, part) in [&all[0..8], &all[8..17], &all[17..30], &all[30..]].iter().enumerate() {
        let doc = json!({"Version": "2012-10-17", "Statement": part});
        let chars = doc.to_string().chars().filter(|c| !c.is_whitespace()).count();
        assert!(chars <= 6144, "part {} has {chars} characters (at most 6,144)", i + 1);
    }
}
