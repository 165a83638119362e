//! The `TargetGroup` kind: an ELBv2 target group in the stack's VPC.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DeletionPolicy, HttpProtocol, StackRef, Tags};

/// A target group of the stack's load balancer.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "webstack.io",
    version = "v1alpha1",
    kind = "TargetGroup",
    plural = "targetgroups",
    shortname = "wtg",
    namespaced,
    status = "TargetGroupStatus",
    doc = "An ELBv2 target group in a WebStack's VPC.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Stack", type_ = "string", json_path = ".spec.stackRef.name"),
    printcolumn(name = "Port", type_ = "integer", json_path = ".spec.port"),
    printcolumn(name = "ARN", type_ = "string", json_path = ".status.arn", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.stackRef.name == oldSelf.stackRef.name")
    .message("stackRef cannot change: the group lives in that stack's VPC; delete and re-create the TargetGroup instead")
    .field_path(".stackRef"))]
pub struct TargetGroupSpec {
    /// The WebStack whose VPC holds the target group.
    pub stack_ref: StackRef,
    /// `Delete` (default) or `Retain`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Extra tags for this target group.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// The target group itself.
    #[serde(flatten)]
    pub settings: TargetGroupSettings,
}

/// A target group's settings: the TargetGroup spec without `stackRef` (also used by inline services).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupSettings {
    /// `HTTP` (default) or `HTTPS`, to the targets. Changing it replaces the group without dropping traffic.
    #[serde(default)]
    pub protocol: HttpProtocol,
    /// Port of the targets, 1..65535. Changing it replaces the group without dropping traffic.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// `ip` (default; Fargate and awsvpc tasks) or `instance` (EC2 with bridge or host networking).
    #[serde(default)]
    pub target_type: TargetType,
    /// The health check.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Seconds a deregistering target keeps serving in-flight requests, 0..3600 (default 300).
    #[serde(default = "default_deregistration_delay")]
    #[schemars(range(min = 0, max = 3600))]
    pub deregistration_delay_seconds: i32,
    /// Seconds of linear ramp-up for new targets: 0 (off, the default) or 30..900.
    #[serde(default)]
    #[schemars(range(min = 0, max = 900))]
    #[x_kube(validation = Rule::new("self == 0 || self >= 30").message("slowStartSeconds must be 0 or 30..900"))]
    pub slow_start_seconds: i32,
    /// Load-balancer cookie stickiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<Stickiness>,
}

fn default_deregistration_delay() -> i32 {
    300
}

/// How targets are registered.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    #[default]
    Ip,
    Instance,
}

/// The target group's health check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.timeoutSeconds < self.intervalSeconds")
    .message("healthCheck.timeoutSeconds must be less than intervalSeconds").field_path(".timeoutSeconds"))]
pub struct HealthCheck {
    /// Path requested, starting with `/` (default `/`).
    #[serde(default = "default_path")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/"))]
    pub path: String,
    /// `HTTP` (default) or `HTTPS`.
    #[serde(default)]
    pub protocol: HttpProtocol,
    /// `traffic-port` (default) or a port number.
    #[serde(default = "default_hc_port")]
    #[schemars(regex(pattern = r"^(traffic-port|[1-9][0-9]{0,4})$"))]
    pub port: String,
    /// Consecutive successes before a target is healthy, 2..10 (default 5).
    #[serde(default = "default_healthy")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold: i32,
    /// Consecutive failures before a target is unhealthy, 2..10 (default 2).
    #[serde(default = "default_unhealthy")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold: i32,
    /// Seconds to wait for a response, 2..120 (default 5).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 2, max = 120))]
    pub timeout_seconds: i32,
    /// Seconds between checks, 5..300 (default 30).
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: i32,
    /// Success codes, e.g. `200`, `200,202` or `200-299` (default `200`).
    #[serde(default = "default_matcher")]
    #[schemars(regex(pattern = r"^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$"))]
    pub matcher: String,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: default_path(),
            protocol: HttpProtocol::Http,
            port: default_hc_port(),
            healthy_threshold: default_healthy(),
            unhealthy_threshold: default_unhealthy(),
            timeout_seconds: default_timeout(),
            interval_seconds: default_interval(),
            matcher: default_matcher(),
        }
    }
}

fn default_path() -> String {
    "/".into()
}
fn default_hc_port() -> String {
    "traffic-port".into()
}
fn default_healthy() -> i32 {
    5
}
fn default_unhealthy() -> i32 {
    2
}
fn default_timeout() -> i32 {
    5
}
fn default_interval() -> i32 {
    30
}
fn default_matcher() -> String {
    "200".into()
}

/// Load-balancer generated cookie stickiness.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stickiness {
    /// Turn stickiness on.
    #[serde(default)]
    pub enabled: bool,
    /// Cookie lifetime, 1..604800 seconds (default 86400).
    #[serde(default = "default_stickiness_duration")]
    #[schemars(range(min = 1, max = 604800))]
    pub duration_seconds: i32,
}

fn default_stickiness_duration() -> i32 {
    86400
}

/// Observed state of a TargetGroup.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Target group ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Target group name in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Groups this one replaced (after a change of protocol, port, target type or VPC), kept until
    /// nothing forwards to them any more, then deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_arns: Vec<String>,
    /// Load balancers whose listeners or rules forward to the group (AWS's `LoadBalancerArns`): a
    /// ContainerService is attached to the group only once there is one, since ECS refuses a
    /// target group without a load balancer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_arns: Vec<String>,
}
