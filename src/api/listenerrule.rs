//! The `ListenerRule` kind: a rule on one listener of a stack's load balancer.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Action, DeletionPolicy, StackRef, Tags};

/// A listener rule: conditions on a request, and what to do with it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "webstack.io",
    version = "v1alpha1",
    kind = "ListenerRule",
    plural = "listenerrules",
    shortname = "wlr",
    namespaced,
    status = "ListenerRuleStatus",
    doc = "A rule on a listener of a WebStack's load balancer.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Listener", type_ = "string", json_path = ".spec.listener"),
    printcolumn(name = "Priority", type_ = "integer", json_path = ".status.priority"),
    printcolumn(name = "ARN", type_ = "string", json_path = ".status.arn", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.stackRef.name == oldSelf.stackRef.name")
    .message("stackRef cannot change: the rule lives on that stack's load balancer; delete and re-create the ListenerRule instead")
    .field_path(".stackRef"))]
#[x_kube(validation = Rule::new("self.listener == oldSelf.listener")
    .message("listener cannot change: the rule lives on that listener; delete and re-create the ListenerRule instead")
    .field_path(".listener"))]
pub struct ListenerRuleSpec {
    /// The WebStack whose load balancer holds the listener.
    pub stack_ref: StackRef,
    /// `Delete` (default) or `Retain`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Extra tags for this rule.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// Where the rule sits and what it matches.
    #[serde(flatten)]
    pub route: RouteSettings,
    /// What to do with a matching request.
    pub action: Action,
}

/// Where a rule sits and what it matches: a ListenerRule spec without `stackRef` and `action`
/// (also the `routes` of an inline service).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSettings {
    /// Name of a listener of the stack (`spec.loadBalancer.listeners[].name`).
    #[schemars(length(min = 1, max = 32))]
    pub listener: String,
    /// Rule priority, 1..50000 (lower is evaluated first). When absent the operator allocates a
    /// free one and keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50000))]
    pub priority: Option<i32>,
    /// What a request must match; all given conditions must match, and at least one is required.
    pub conditions: RuleConditions,
}

/// The conditions of a listener rule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.pathPatterns) && size(self.pathPatterns) > 0, has(self.hostHeaders) && size(self.hostHeaders) > 0, \
     has(self.httpHeaders) && size(self.httpHeaders) > 0, has(self.methods) && size(self.methods) > 0, \
     has(self.queryStrings) && size(self.queryStrings) > 0, has(self.sourceIps) && size(self.sourceIps) > 0].exists(x, x)"
).message("conditions needs at least one of pathPatterns, hostHeaders, httpHeaders, methods, queryStrings, sourceIps"))]
pub struct RuleConditions {
    /// Path patterns, case-sensitive, with `*` and `?` wildcards, e.g. `/api/movies*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(min = 1, max = 128)))]
    pub path_patterns: Vec<String>,
    /// Host names, with `*` and `?` wildcards, e.g. `api.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(min = 1, max = 128)))]
    pub host_headers: Vec<String>,
    /// HTTP header matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub http_headers: Vec<HttpHeaderCondition>,
    /// HTTP methods, e.g. `GET`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(regex(pattern = r"^[A-Z_-]{1,40}$")))]
    pub methods: Vec<String>,
    /// Query string key/value matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub query_strings: Vec<QueryStringCondition>,
    /// Source IP CIDRs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("sourceIps entries must be CIDRs, e.g. 10.0.0.0/8"))]
    pub source_ips: Vec<String>,
}

/// Match an HTTP header against values.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct HttpHeaderCondition {
    /// Header name.
    #[schemars(length(min = 1, max = 40))]
    pub name: String,
    /// Values, with `*` and `?` wildcards; any may match.
    #[schemars(length(min = 1, max = 5), inner(length(min = 1, max = 128)))]
    pub values: Vec<String>,
}

/// Match a query string parameter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct QueryStringCondition {
    /// Parameter name; when absent any key with this value matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub key: Option<String>,
    /// Parameter value, with `*` and `?` wildcards.
    #[schemars(length(min = 1, max = 128))]
    pub value: String,
}

/// Observed state of a ListenerRule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerRuleStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Rule ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The priority in use: the spec's, or the one the operator allocated and keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// ARN of the listener the rule is on (deletion finds the rule through it even without the stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_arn: Option<String>,
}
