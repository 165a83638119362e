//! The stack's operational parts (issue 14): DNS records, alarms and a dashboard, VPC flow logs
//! and container registries. Fields of [`WebStackSpec`](super::WebStackSpec) and its network.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Route 53 alias records for the stack's load balancer or static site, in a hosted zone the user
/// owns. A record of that name and type that the operator did not write is never overwritten.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsSpec {
    /// The public hosted zone the records are written in, e.g. `Z0123456789ABCDEFGHIJ`.
    #[schemars(regex(pattern = r"^[A-Z0-9]{1,32}$"))]
    pub hosted_zone_id: String,
    /// The records, by name (a name is written once).
    #[schemars(length(min = 1, max = 50), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub records: Vec<DnsRecordSpec>,
}

/// One alias record (A, and AAAA where the target serves IPv6).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecordSpec {
    /// Fully qualified domain name inside the hosted zone, e.g. `api.example.com` (no trailing dot
    /// needed; no wildcard).
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$")
    )]
    pub name: String,
    /// `loadBalancer` (the stack's ALB) or `staticSite` (the CloudFront distribution of the
    /// stack's static site).
    pub target: DnsTarget,
}

/// What an alias record points at.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DnsTarget {
    LoadBalancer,
    StaticSite,
}

/// CloudWatch alarms on the stack's load balancer, services and database, notified through SNS,
/// and one dashboard with the same metrics.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.snsTopicArn) || !has(self.email) || size(self.email) == 0")
    .message("email subscribes addresses to the stack's own topic; with snsTopicArn the topic and its subscriptions are yours to manage")
    .field_path(".email"))]
pub struct AlarmsSpec {
    /// Email addresses subscribed to the stack's SNS topic (each confirms by mail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), inner(regex(pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$")))]
    pub email: Vec<String>,
    /// Notify this existing topic instead of a topic owned by the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"))]
    pub sns_topic_arn: Option<String>,
    /// Alarm when 5xx responses of the targets exceed this share of the load balancer's requests, in percent.
    #[serde(default = "default_5xx", rename = "loadBalancer5xxPercent")]
    #[schemars(range(min = 1, max = 100))]
    pub load_balancer_5xx_percent: i32,
    /// Alarm when the targets' average response time exceeds this many seconds.
    #[serde(default = "default_response_time")]
    #[schemars(range(min = 0.001, max = 4000.0))]
    pub target_response_time_seconds: f64,
    /// Alarm when a service's average CPU exceeds this percentage.
    #[serde(default = "default_80")]
    #[schemars(range(min = 1, max = 100))]
    pub service_cpu_percent: i32,
    /// Alarm when a service's average memory exceeds this percentage.
    #[serde(default = "default_80")]
    #[schemars(range(min = 1, max = 100))]
    pub service_memory_percent: i32,
    /// Alarm when the database's CPU exceeds this percentage.
    #[serde(default = "default_80")]
    #[schemars(range(min = 1, max = 100))]
    pub database_cpu_percent: i32,
    /// Alarm when the database's free storage falls below this many GiB.
    #[serde(default = "default_free_storage", rename = "databaseFreeStorageGiB")]
    #[schemars(range(min = 1, max = 65536))]
    pub database_free_storage_gib: i32,
}

fn default_5xx() -> i32 {
    5
}
fn default_response_time() -> f64 {
    2.0
}
fn default_80() -> i32 {
    80
}
fn default_free_storage() -> i32 {
    2
}

/// VPC flow logs into a CloudWatch log group owned by the stack.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogsSpec {
    /// Write flow logs (default false). For an adopted VPC (`vpcId`) the flow log is the stack's,
    /// deleted with it; the VPC itself is never changed.
    #[serde(default)]
    pub enabled: bool,
    /// Days the log group keeps events (default 30); one of CloudWatch Logs' retention values.
    #[serde(default = "default_retention")]
    #[x_kube(validation = Rule::new("self in [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]")
        .message("retentionDays must be one of CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"))]
    pub retention_days: i32,
    /// `ALL` (default), `ACCEPT` or `REJECT`.
    #[serde(default)]
    pub traffic_type: TrafficType,
}

fn default_retention() -> i32 {
    30
}

impl Default for FlowLogsSpec {
    fn default() -> Self {
        FlowLogsSpec {
            enabled: false,
            retention_days: default_retention(),
            traffic_type: TrafficType::All,
        }
    }
}

/// Which traffic a flow log records.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TrafficType {
    #[default]
    All,
    Accept,
    Reject,
}

impl TrafficType {
    /// The EC2 API's value.
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficType::All => "ALL",
            TrafficType::Accept => "ACCEPT",
            TrafficType::Reject => "REJECT",
        }
    }
}

/// Settings shared by the stack's ECR repositories (`registries`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySettings {
    /// Refuse to overwrite an existing tag (default true: a tag names one image forever).
    #[serde(default = "default_true")]
    pub immutable_tags: bool,
    /// The lifecycle policy keeps this many most recent images and expires older ones (default 30).
    #[serde(default = "default_keep")]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_images: i32,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            immutable_tags: true,
            keep_images: default_keep(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_keep() -> i32 {
    30
}

/// One DNS record's state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecordStatus {
    /// The record's name, as in the spec (lowercase, no trailing dot).
    pub name: String,
    /// What the alias points at (the load balancer's or distribution's DNS name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// `INSYNC` once Route 53 serves the last change, `PENDING` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// The Route 53 change being waited for (while `PENDING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// The hosted zone the record is in (records of a zone the spec no longer names are deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
}

/// The stack's alarms.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmsStatus {
    /// The topic alarms notify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    /// Names of the CloudWatch alarms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// Name of the CloudWatch dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
}

/// The stack's VPC flow log.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogsStatus {
    /// The flow log's id (`fl-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_log_id: Option<String>,
    /// The CloudWatch Logs group it delivers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// `SUCCESS`, or `FAILED` with AWS's reason (e.g. `Access error` while a new role propagates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

/// Repository URIs by registry name.
pub type RegistriesStatus = BTreeMap<String, String>;
