//! The `WebStackPolicy` kind (cluster-scoped): a platform team's guardrails for the namespaces it
//! selects: what their objects may reference outside their stacks (`allow`), how large they may
//! be (`limits`) and which tags every stack must carry (`requiredTags`). See docs/tenancy.md.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A platform team's guardrails for the namespaces it selects.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "webstack.io",
    version = "v1alpha1",
    kind = "WebStackPolicy",
    plural = "webstackpolicies",
    shortname = "wsp",
    status = "WebStackPolicyStatus",
    doc = "A platform team's guardrails for the namespaces it selects: what their objects may reference outside their stacks, how large they may be, and the tags every stack carries.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Namespaces", type_ = "string", json_path = ".status.matchedNamespaces"),
    printcolumn(name = "Violations", type_ = "integer", json_path = ".status.violationCount"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct WebStackPolicySpec {
    /// The namespaces this policy governs, by their labels. A namespace selected by two policies
    /// is an error on both and on every object there.
    pub namespace_selector: LabelSelector,
    /// The AWS identity of those namespaces: every AWS call for their objects is made with the
    /// credentials of this role (default: the operator's own identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<PolicyAws>,
    /// What objects of those namespaces may reference that their stacks do not create. Globs
    /// (`*` any characters, `?` one) over full ARNs; an empty list allows nothing beyond the stack.
    #[serde(default)]
    pub allow: PolicyAllow,
    /// Largest sizes and counts, and allowed types; unset: no limit beyond the CRDs' own.
    #[serde(default)]
    pub limits: PolicyLimits,
    /// Tag keys every stack must carry in `spec.tags`, each with its allowed values (empty: any
    /// value). They reach every AWS resource of the stack.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub required_tags: BTreeMap<String, Vec<String>>,
}

/// What objects may reference outside their stacks (globs over full ARNs, or ids where named).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAllow {
    /// Roles a ContainerService may name as `taskRoleArn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_role_arns: Vec<String>,
    /// Roles a ContainerService may name as `executionRoleArn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub execution_role_arns: Vec<String>,
    /// Secrets Manager secrets and SSM parameters `valueFrom`/`repositoryCredentialsArn` may name
    /// (a parameter given by name is matched as its ARN in the stack's region).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_arns: Vec<String>,
    /// Private ECR repositories (ARNs) `image:` may pull from, beyond the stack's registries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecr_repositories: Vec<String>,
    /// VPC ids `network.vpcId` may adopt (the VPC must also be tagged `webstack.io/adoptable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopt_vpc_ids: Vec<String>,
    /// Whether `webstack.io/external-id` may adopt a load balancer (tagged `webstack.io/adoptable`).
    #[serde(default)]
    pub adopt_load_balancers: bool,
    /// Route 53 hosted zones `dns.hostedZoneId` may name, with the record names allowed in each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosted_zones: Vec<HostedZoneAllow>,
    /// ACM certificates listeners and static sites may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_arns: Vec<String>,
    /// WAF web ACLs a static site may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub web_acl_ids: Vec<String>,
    /// SNS topics alarms may notify (`alarms.snsTopicArn`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sns_topic_arns: Vec<String>,
}

/// A hosted zone and the record names allowed in it.
/// The role a policy's namespaces act with in AWS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAws {
    /// Assumed with STS for each namespace (session `webstack-<namespace>`, one hour, refreshed
    /// before it expires) with the session tags `webstack.io/namespace` and
    /// `webstack.io/cluster`: the role's policy can confine each session to what carries its
    /// namespace's tag (deploy/tenant-role-policy.json). Its trust policy must allow the
    /// operator's identity `sts:AssumeRole` and `sts:TagSession`.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"))]
    pub assume_role_arn: String,
    /// The external id the role's trust policy requires, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    pub external_id: Option<String>,
    /// The regions stacks in these namespaces may use (`spec.region`, default the operator's);
    /// empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostedZoneAllow {
    /// The zone's id, e.g. `Z0123456789ABCDEFGHIJ`.
    #[schemars(length(min = 1, max = 64))]
    pub id: String,
    /// Record names allowed (globs, e.g. `*.movies.example.com`); empty: any name in the zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// Sizes, counts and types.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.natGateways) || self.natGateways.all(m, m in ['single', 'perZone', 'none'])")
    .message("natGateways lists the NAT modes a stack may use: single, perZone, none")
    .field_path(".natGateways"))]
pub struct PolicyLimits {
    /// Largest task `cpu` in CPU units (`"2048"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+$"))]
    pub max_task_cpu: Option<String>,
    /// Largest task `memory` in MiB (`"8192"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+$"))]
    pub max_task_memory: Option<String>,
    /// Largest `desiredCount` and autoscaling `maxCapacity` of a service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_desired_count: Option<i32>,
    /// Most WebStacks in one namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_stacks: Option<i32>,
    /// Most services of one stack (its inline `services` and the ContainerServices naming it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_services_per_stack: Option<i32>,
    /// EC2 capacity instance types allowed (globs, e.g. `t3.*`); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_types: Vec<String>,
    /// Largest EC2 capacity `maxSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_instances: Option<i32>,
    /// Database instance classes allowed (globs, e.g. `db.t4g.*`); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub database_instance_classes: Vec<String>,
    /// Largest database `allocatedStorageGiB`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "maxDatabaseStorageGiB")]
    #[schemars(range(min = 0))]
    pub max_database_storage_gib: Option<i32>,
    /// Cache node types allowed (globs, e.g. `cache.t4g.*`); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_node_types: Vec<String>,
    /// Most cache nodes (`numNodes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_cache_nodes: Option<i32>,
    /// NAT modes allowed for `network.natGateways` (`single`, `perZone`, `none`); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3), inner(length(max = 16)))]
    pub nat_gateways: Vec<String>,
}

/// What the policy governs now.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebStackPolicyStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the policy is in force for its namespaces (False when a namespace is also
    /// selected by another policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The namespaces it selects, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_namespaces: Vec<String>,
    /// Namespaces it shares with another policy (`<namespace>: <other policy>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Objects of its namespaces that a rule of this policy refuses (`Stalled`, reason
    /// `PolicyViolation`), by kind, namespace and name: the first 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ObjectViolation>,
    /// How many objects a rule of this policy refuses (all of them, listed or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violation_count: Option<i32>,
    /// The last time the operator assumed `aws.assumeRoleArn` successfully, and for which
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assume_role: Option<AssumeRoleRecord>,
}

/// An object a rule of the policy refuses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectViolation {
    /// `<Kind>/<namespace>/<name>`.
    pub object: String,
    /// The field, the rule and why, as in the object's `Stalled` condition.
    pub message: String,
}

/// One successful STS AssumeRole.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRoleRecord {
    /// The role assumed.
    pub role_arn: String,
    /// The namespace the session was for (its `webstack.io/namespace` session tag).
    pub namespace: String,
    /// RFC 3339.
    pub time: String,
}
