//! The `ContainerService` kind: an ECS task definition and the service that runs it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DeletionPolicy, LocalRef, StackRef, Tags};

/// An ECS service on Fargate or EC2, with its task definition.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "webstack.io",
    version = "v1alpha1",
    kind = "ContainerService",
    plural = "containerservices",
    shortname = "wcs",
    namespaced,
    status = "ContainerServiceStatus",
    doc = "An ECS task definition and service in a WebStack's cluster.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".status.desiredCount"),
    printcolumn(name = "Running", type_ = "integer", json_path = ".status.runningCount"),
    printcolumn(name = "Rollout", type_ = "string", json_path = ".status.rollout.state"),
    printcolumn(name = "Service", type_ = "string", json_path = ".status.serviceArn", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.loadBalancer) || has(self.loadBalancer.targetGroupRef)")
    .message("loadBalancer.targetGroupRef is required").field_path(".loadBalancer"))]
#[x_kube(validation = Rule::new("self.stackRef.name == oldSelf.stackRef.name")
    .message("stackRef cannot change: the service runs in that stack's cluster; delete and re-create the ContainerService instead")
    .field_path(".stackRef"))]
pub struct ContainerServiceSpec {
    /// The WebStack that gives the cluster, the subnets and the services security group.
    pub stack_ref: StackRef,
    /// `Delete` (default) or `Retain`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Extra tags for the service, task definition and log group.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// The task and service.
    #[serde(flatten)]
    pub settings: ContainerServiceSettings,
}

/// A ContainerService spec without `stackRef` (also the `container` of an inline service).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.launchType != 'FARGATE' || self.networkMode == 'awsvpc'")
        .message("launchType FARGATE requires networkMode awsvpc").field_path(".networkMode"),
    validation = Rule::new("self.launchType != 'FARGATE' || (has(self.cpu) && has(self.memory))")
        .message("launchType FARGATE requires task-level cpu and memory"),
    validation = Rule::new("self.networkMode == 'awsvpc' || (self.subnets == 'private' && !self.assignPublicIp)")
        .message("subnets and assignPublicIp apply to networkMode awsvpc only")
)]
pub struct ContainerServiceSettings {
    /// `FARGATE` (default) or `EC2`.
    #[serde(default)]
    pub launch_type: LaunchType,
    /// `awsvpc` (default; required with FARGATE), `bridge` or `host`.
    #[serde(default)]
    pub network_mode: NetworkMode,
    /// Task CPU units (`"256"` = 0.25 vCPU); required with FARGATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]*$"))]
    pub cpu: Option<String>,
    /// Task memory in MiB; required with FARGATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]*$"))]
    pub memory: Option<String>,
    /// Number of tasks (default 1). With `autoscaling`, only the initial count.
    #[serde(default = "default_desired")]
    #[schemars(range(min = 0, max = 5000))]
    pub desired_count: i32,
    /// `private` (default) or `public` subnets of the stack (awsvpc only).
    #[serde(default)]
    pub subnets: SubnetKind,
    /// Give tasks a public IP (awsvpc only).
    #[serde(default)]
    pub assign_public_ip: bool,
    /// IAM role ECS uses to pull images and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub execution_role_arn: Option<String>,
    /// IAM role the containers run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub task_role_arn: Option<String>,
    /// The containers of the task; names are unique.
    #[schemars(length(min = 1, max = 10), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub containers: Vec<ContainerSpec>,
    /// Register the tasks with a TargetGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerAttachment>,
    /// Deployment settings; the default is zero-downtime rolling (new tasks start before old ones stop).
    #[serde(default)]
    pub deployment: Deployment,
    /// Application Auto Scaling with target tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Logs of every container go to a CloudWatch log group owned by this service.
    #[serde(default)]
    pub logs: Logs,
}

fn default_desired() -> i32 {
    1
}

/// Where the tasks run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum LaunchType {
    #[default]
    #[serde(rename = "FARGATE")]
    Fargate,
    #[serde(rename = "EC2")]
    Ec2,
}

/// The task's network mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Awsvpc,
    Bridge,
    Host,
}

/// Which subnets of the stack the tasks use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubnetKind {
    #[default]
    Private,
    Public,
}

/// One container of the task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.memory) || !has(self.memoryReservation) || self.memoryReservation <= self.memory")
    .message("memoryReservation must not exceed memory").field_path(".memoryReservation"))]
#[x_kube(validation = Rule::new("has(self.image) != has(self.registry)")
    .message("set exactly one of image (a full image reference) or registry (one of the stack's spec.registries, with a tag)"))]
#[x_kube(validation = Rule::new("has(self.tag) == has(self.registry)")
    .message("tag goes with registry: registry names the stack's repository, tag the image in it (an image reference carries its own tag)")
    .field_path(".tag"))]
pub struct ContainerSpec {
    /// Container name, unique in the task.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub name: String,
    /// Image reference, e.g. `registry.example.com/movie:1.4.2`. Exactly one of `image` and `registry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// One of the stack's `spec.registries`: the image is `<that repository's URI>:<tag>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 100),
        regex(pattern = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
    )]
    pub registry: Option<String>,
    /// With `registry`: the image tag (Docker's rule: letters, digits, `_`, `.`, `-`, at most 128,
    /// not starting with `.` or `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"))]
    pub tag: Option<String>,
    /// When this container stops, the task stops (default true).
    #[serde(default = "default_true")]
    pub essential: bool,
    /// Container CPU units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 196608))]
    pub cpu: Option<i32>,
    /// Hard memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 1048576))]
    pub memory: Option<i32>,
    /// Soft memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 1048576))]
    pub memory_reservation: Option<i32>,
    /// Ports the container listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub port_mappings: Vec<PortMapping>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Environment variables from Secrets Manager or SSM Parameter Store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ContainerSecret>,
    /// Secrets Manager ARN of private registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:secretsmanager:.+$"))]
    pub repository_credentials_arn: Option<String>,
    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// A container health check run by ECS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ContainerHealthCheck>,
}

fn default_true() -> bool {
    true
}

/// A port the container listens on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port inside the container.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// Port on the host; 0 picks a dynamic port (bridge mode). Default: the container port in
    /// awsvpc/host mode, dynamic in bridge mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub host_port: Option<i32>,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// Transport protocol of a port mapping.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    #[default]
    Tcp,
    Udp,
}

/// An environment variable read from a secret store: set exactly one of `valueFrom` / `fromStack`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.valueFrom) != has(self.fromStack)")
    .message("set exactly one of valueFrom or fromStack"))]
pub struct ContainerSecret {
    /// Environment variable name.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// ARN of the Secrets Manager secret or SSM parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub value_from: Option<String>,
    /// A key of the stack's database or cache secret, e.g. `{database: url}`: the operator resolves
    /// it to that Secrets Manager secret's ARN and JSON key, so the credentials are never copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_stack: Option<FromStack>,
}

/// A key of the stack's database or cache credentials: set exactly one of `database` / `cache`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.database) != has(self.cache)")
    .message("set exactly one of database or cache"))]
pub struct FromStack {
    /// A key of the database secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseKey>,
    /// A key of the cache secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheKey>,
}

/// The keys of a stack's database secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKey {
    Host,
    Port,
    Username,
    Password,
    Dbname,
    Url,
    Engine,
}

/// The keys of a stack's cache secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheKey {
    Host,
    Port,
    Password,
    Url,
}

/// A container health check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerHealthCheck {
    /// The command, e.g. `["CMD-SHELL", "curl -f localhost:8080/health"]`.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// Seconds between checks, 5..300 (default 30).
    #[serde(default = "default_hc_interval")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: i32,
    /// Seconds before a check fails, 2..60 (default 5).
    #[serde(default = "default_hc_timeout")]
    #[schemars(range(min = 2, max = 60))]
    pub timeout_seconds: i32,
    /// Failures before the container is unhealthy, 1..10 (default 3).
    #[serde(default = "default_hc_retries")]
    #[schemars(range(min = 1, max = 10))]
    pub retries: i32,
    /// Grace period before failures count, 0..300 seconds (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = 300))]
    pub start_period_seconds: i32,
}

fn default_hc_interval() -> i32 {
    30
}
fn default_hc_timeout() -> i32 {
    5
}
fn default_hc_retries() -> i32 {
    3
}

/// Registers the service's tasks with a TargetGroup.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerAttachment {
    /// The TargetGroup (required on a ContainerService; an inline service defaults to its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_ref: Option<LocalRef>,
    /// The container that receives traffic. Default: the first container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub container_name: Option<String>,
    /// Its container port. Default: that container's first port mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: Option<i32>,
}

/// Deployment configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minimumHealthyPercent <= self.maximumPercent")
    .message("minimumHealthyPercent must not exceed maximumPercent"))]
pub struct Deployment {
    /// Upper bound of running tasks during a deployment, percent of desired (default 200).
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 100, max = 200))]
    pub maximum_percent: i32,
    /// Lower bound of healthy tasks during a deployment, percent of desired (default 100).
    #[serde(default = "default_min_healthy")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: i32,
    /// The deployment circuit breaker (default on, with rollback).
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
    /// Seconds ECS ignores load balancer health checks after a task starts (default 60).
    #[serde(default = "default_grace")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub health_check_grace_period_seconds: i32,
}

impl Default for Deployment {
    fn default() -> Self {
        Self {
            maximum_percent: default_max_percent(),
            minimum_healthy_percent: default_min_healthy(),
            circuit_breaker: CircuitBreaker::default(),
            health_check_grace_period_seconds: default_grace(),
        }
    }
}

fn default_max_percent() -> i32 {
    200
}
fn default_min_healthy() -> i32 {
    100
}
fn default_grace() -> i32 {
    60
}

/// The ECS deployment circuit breaker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct CircuitBreaker {
    /// Stop a deployment whose tasks keep failing (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Roll back to the last completed deployment when it stops (default true).
    #[serde(default = "default_true")]
    pub rollback: bool,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            enabled: true,
            rollback: true,
        }
    }
}

/// Target-tracking autoscaling of the desired count.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.minCapacity <= self.maxCapacity")
        .message("minCapacity must not exceed maxCapacity").field_path(".minCapacity"),
    validation = Rule::new("has(self.targetCpuPercent) || has(self.targetMemoryPercent)")
        .message("autoscaling needs targetCpuPercent or targetMemoryPercent")
)]
pub struct Autoscaling {
    /// Fewest tasks.
    #[schemars(range(min = 0, max = 5000))]
    pub min_capacity: i32,
    /// Most tasks.
    #[schemars(range(min = 1, max = 5000))]
    pub max_capacity: i32,
    /// Average CPU utilisation to hold, 1..100 percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_percent: Option<i32>,
    /// Average memory utilisation to hold, 1..100 percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_percent: Option<i32>,
    /// Seconds after a scale-in before another (default 300).
    #[serde(default = "default_scale_in")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_in_cooldown_seconds: i32,
    /// Seconds after a scale-out before another (default 60).
    #[serde(default = "default_scale_out")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_out_cooldown_seconds: i32,
}

fn default_scale_in() -> i32 {
    300
}
fn default_scale_out() -> i32 {
    60
}

/// Container logs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Logs {
    /// Days CloudWatch keeps the logs (default 30); one of CloudWatch's allowed values.
    #[serde(default = "default_retention")]
    #[x_kube(validation = Rule::new("self in [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]")
        .message("retentionDays must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"))]
    pub retention_days: i32,
}

impl Default for Logs {
    fn default() -> Self {
        Self {
            retention_days: default_retention(),
        }
    }
}

fn default_retention() -> i32 {
    30
}

/// Observed state of a ContainerService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerServiceStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// ECS service ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// The task definition revision the service runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// Desired task count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    /// Running task count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// The primary deployment's rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// ARN of the cluster the service runs in (deletion finds the service through it even without the stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
}

/// Rollout of the primary deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct RolloutStatus {
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ECS's reason for the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The revision whose rollout failed (`FAILED`): not rolled out again until the spec changes;
    /// `taskDefinitionArn` is the revision serving (ECS's rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_definition_arn: Option<String>,
}
