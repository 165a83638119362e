//! The `WebStack` kind: the shared infrastructure of one application (network, security groups,
//! load balancer and listeners, ECS cluster, optional database, cache, inline services and site).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Action, DeletionPolicy, HttpProtocol, Tags};
use super::containerservice::ContainerServiceSettings;
use super::listenerrule::RouteSettings;
use super::operations::{
    AlarmsSpec, AlarmsStatus, DnsRecordStatus, DnsSpec, FlowLogsSpec, FlowLogsStatus, RegistriesStatus,
    RegistrySettings,
};
use super::staticsite::StaticSiteSettings;
use super::targetgroup::TargetGroupSettings;

/// The shared AWS infrastructure of one application.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "webstack.io",
    version = "v1alpha1",
    kind = "WebStack",
    plural = "webstacks",
    shortname = "ws",
    namespaced,
    status = "WebStackStatus",
    doc = "A WebStack: VPC, security groups, Application Load Balancer with listeners, ECS cluster, and optionally a database, a cache, inline services and a static site.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "DNS", type_ = "string", json_path = ".status.loadBalancer.dnsName"),
    printcolumn(name = "VPC", type_ = "string", json_path = ".status.vpcId", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
    .message("region cannot change: the stack's resources live in one region; create another WebStack instead")
    .field_path(".region"))]
#[x_kube(validation = Rule::new("(has(self.cluster) && has(self.cluster.name) ? self.cluster.name : '') == (has(oldSelf.cluster) && has(oldSelf.cluster.name) ? oldSelf.cluster.name : '')")
    .message("cluster.name cannot change: the stack's services run in that cluster; delete and re-create the WebStack instead")
    .field_path(".cluster.name"))]
#[x_kube(validation = Rule::new("!has(self.dns) || self.dns.records.all(r, r.target != 'loadBalancer' || has(self.loadBalancer))")
    .message("a dns record with target loadBalancer needs the stack's loadBalancer")
    .field_path(".dns.records"))]
#[x_kube(validation = Rule::new("!has(self.registriesForceDelete) || !self.registriesForceDelete || self.deletionPolicy == 'Delete'")
    .message("registriesForceDelete deletes repositories with their images, which deletionPolicy Retain keeps; set deletionPolicy: Delete or drop registriesForceDelete")
    .field_path(".registriesForceDelete"))]
pub struct WebStackSpec {
    /// AWS region of every resource of the stack. Default: the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub region: Option<String>,
    /// `Delete` (default) removes the stack's AWS resources with it; `Retain` keeps them, untagged as managed.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Tags added to every AWS resource of the stack and of its children.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
    /// Where the stack runs: adopt an existing VPC (`vpcId` with its subnets) or create one (`cidr`).
    /// Default: create a VPC with CIDR 10.0.0.0/16 across 2 availability zones.
    #[serde(default)]
    pub network: NetworkSpec,
    /// An Application Load Balancer in the public subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSpec>,
    /// The ECS cluster that ContainerServices of this stack run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSpec>,
    /// An RDS database instance in the private subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSpec>,
    /// An ElastiCache Redis in the private subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSpec>,
    /// Inline services, expanded into owned TargetGroup, ListenerRule and ContainerService children
    /// named `<stack>-<service>` (rules `<stack>-<service>-<index>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub services: Vec<InlineService>,
    /// An inline StaticSite (its spec without `stackRef`), expanded into an owned child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_site: Option<StaticSiteSettings>,
    /// Route 53 alias records for the load balancer or the static site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSpec>,
    /// CloudWatch alarms (notified through SNS) and a dashboard for the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<AlarmsSpec>,
    /// ECR repositories owned by the stack, by name; a container's `registry:` names one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 50),
        inner(
            length(min = 2, max = 100),
            regex(pattern = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
        )
    )]
    #[x_kube(validation = Rule::new("self.all(e, self.exists_one(f, f == e))").message("each registry name once"))]
    pub registries: Vec<String>,
    /// Settings of every repository in `registries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_settings: Option<RegistrySettings>,
    /// With `deletionPolicy: Delete`, delete repositories that still hold images (default false:
    /// deletion waits, saying which repository is not empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registries_force_delete: Option<bool>,
}

/// The network of a stack.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.vpcId) || has(self.cidr)")
        .message("set either vpcId (adopt an existing VPC, with publicSubnetIds and privateSubnetIds) or cidr (create a VPC)"),
    validation = Rule::new("!(has(self.vpcId) && has(self.cidr))")
        .message("vpcId and cidr are mutually exclusive: vpcId adopts a VPC, cidr creates one"),
    validation = Rule::new("!has(self.vpcId) || (has(self.publicSubnetIds) && size(self.publicSubnetIds) > 0 && has(self.privateSubnetIds) && size(self.privateSubnetIds) > 0)")
        .message("vpcId requires publicSubnetIds and privateSubnetIds"),
    validation = Rule::new("has(self.vpcId) || ((!has(self.publicSubnetIds) || size(self.publicSubnetIds) == 0) && (!has(self.privateSubnetIds) || size(self.privateSubnetIds) == 0))")
        .message("publicSubnetIds and privateSubnetIds are only used with vpcId"),
    validation = Rule::new("!has(self.vpcId) || (!has(self.natGateways) && !has(self.vpcEndpoints))")
        .message("natGateways and vpcEndpoints apply to a VPC the stack creates; an adopted VPC (vpcId) is never changed, its private subnets must already have egress"),
    validation = Rule::new("has(self.vpcId) == has(oldSelf.vpcId) && (!has(self.vpcId) || self.vpcId == oldSelf.vpcId) && has(self.cidr) == has(oldSelf.cidr) && (!has(self.cidr) || self.cidr == oldSelf.cidr)")
        .message("vpcId and cidr cannot change on a live stack (its subnets, groups and load balancer live in that VPC); create another WebStack instead")
)]
pub struct NetworkSpec {
    /// Adopt this existing VPC; it and its subnets are never modified or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^vpc-[0-9a-f]+$"))]
    pub vpc_id: Option<String>,
    /// With `vpcId`: the public subnets (load balancer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(regex(pattern = r"^subnet-[0-9a-f]+$")))]
    pub public_subnet_ids: Vec<String>,
    /// With `vpcId`: the private subnets (services, database, cache).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(regex(pattern = r"^subnet-[0-9a-f]+$")))]
    pub private_subnet_ids: Vec<String>,
    /// Without `vpcId`: the IPv4 CIDR of the VPC to create, /16 to /24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 18))]
    #[x_kube(validation = Rule::new("isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self).prefixLength() >= 16 && cidr(self).prefixLength() <= 24 && cidr(self).masked() == cidr(self)")
        .message("cidr must be an IPv4 network address in CIDR notation, /16 to /24, e.g. 10.0.0.0/16"))]
    pub cidr: Option<String>,
    /// Without `vpcId`: how many availability zones get a public and a private subnet (default 2).
    #[serde(default = "default_azs")]
    #[schemars(range(min = 1, max = 6))]
    pub availability_zones: i32,
    /// Without `vpcId`: egress for the private subnets through NAT gateways with Elastic IPs:
    /// `single` (default: one, in the first zone, cost-minded), `perZone` (one per zone, high
    /// availability) or `none` (no internet egress: images, logs and secrets then need
    /// `vpcEndpoints`). An adopted VPC is never changed: its private subnets must already have egress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateways: Option<NatGateways>,
    /// Without `vpcId`: VPC endpoints for the private subnets (default `[s3]`): `s3` (a gateway
    /// endpoint, free; ECR image layers come from S3), `ecr`, `logs`, `secretsmanager` (interface
    /// endpoints, billed per zone and hour, in their own security group admitting 443 from the
    /// services group). `[]` means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4))]
    #[x_kube(validation = Rule::new("self.all(e, self.exists_one(f, f == e))").message("each VPC endpoint once"))]
    pub vpc_endpoints: Option<Vec<VpcEndpoint>>,
    /// VPC flow logs into a CloudWatch log group of the stack (default: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs: Option<FlowLogsSpec>,
}

/// How the private subnets of a created VPC reach the internet.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NatGateways {
    /// One NAT gateway, in the first zone's public subnet, for every zone.
    #[default]
    Single,
    /// One NAT gateway per zone, each zone routing to its own.
    PerZone,
    /// No NAT gateway.
    None,
}

/// A VPC endpoint for the private subnets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VpcEndpoint {
    /// Gateway endpoint for S3, on the private route tables.
    S3,
    /// Interface endpoints `ecr.api` and `ecr.dkr` (image pulls from ECR).
    Ecr,
    /// Interface endpoint for CloudWatch Logs (the awslogs driver).
    Logs,
    /// Interface endpoint for Secrets Manager (task secrets).
    Secretsmanager,
}

/// Without a `network`, the stack creates a 10.0.0.0/16 VPC across two availability zones.
impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            vpc_id: None,
            public_subnet_ids: Vec::new(),
            private_subnet_ids: Vec::new(),
            cidr: Some("10.0.0.0/16".into()),
            availability_zones: default_azs(),
            nat_gateways: None,
            vpc_endpoints: None,
            flow_logs: None,
        }
    }
}

fn default_azs() -> i32 {
    2
}

/// The Application Load Balancer of a stack.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.listeners.all(l, self.listeners.exists_one(m, m.port == l.port))")
    .message("each listener needs its own port").field_path(".listeners"))]
pub struct LoadBalancerSpec {
    /// `internet-facing` (default) or `internal`.
    #[serde(default)]
    pub scheme: LoadBalancerScheme,
    /// CIDRs admitted to the load balancer's security group on every listener port.
    #[serde(default = "default_allowed_cidrs")]
    #[schemars(length(max = 50), inner(length(max = 43)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message("allowedCidrs entries must be CIDRs, e.g. 0.0.0.0/0"))]
    pub allowed_cidrs: Vec<String>,
    /// Idle connection timeout, 1..4000 seconds (default 60).
    #[serde(default = "default_idle_timeout")]
    #[schemars(range(min = 1, max = 4000))]
    pub idle_timeout_seconds: i32,
    /// The listeners; names are unique and referenced by `ListenerRule.spec.listener`.
    #[serde(default)]
    #[schemars(length(max = 50), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub listeners: Vec<ListenerSpec>,
}

fn default_allowed_cidrs() -> Vec<String> {
    vec!["0.0.0.0/0".into()]
}

fn default_idle_timeout() -> i32 {
    60
}

/// Whether the load balancer is reachable from the internet.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum LoadBalancerScheme {
    #[default]
    #[serde(rename = "internet-facing")]
    InternetFacing,
    #[serde(rename = "internal")]
    Internal,
}

/// One listener of the load balancer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.protocol != 'HTTPS' || (has(self.certificateArn) && self.certificateArn != '')")
        .message("an HTTPS listener needs certificateArn").field_path(".certificateArn"),
    validation = Rule::new("self.protocol == 'HTTPS' || (!has(self.certificateArn) && !has(self.sslPolicy))")
        .message("certificateArn and sslPolicy apply to HTTPS listeners only")
)]
pub struct ListenerSpec {
    /// Name of the listener, referenced by `ListenerRule.spec.listener` (lowercase DNS label).
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// Port, 1..65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// `HTTP` (default) or `HTTPS`.
    #[serde(default)]
    pub protocol: HttpProtocol,
    /// ACM certificate ARN; required for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub certificate_arn: Option<String>,
    /// TLS security policy name for HTTPS, e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06`. Default: AWS's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub ssl_policy: Option<String>,
    /// What requests that match no rule get. Default: a fixed `404` with body `not found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<Action>,
}

/// The ECS cluster of a stack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Cluster name. Default: derived from namespace and stack name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub name: Option<String>,
    /// Turn on CloudWatch Container Insights.
    #[serde(default)]
    pub container_insights: bool,
    /// EC2 capacity for ContainerServices with `launchType: EC2`: an Auto Scaling group of
    /// ECS-optimized Amazon Linux 2023 instances in the private subnets and an ECS capacity provider
    /// with managed scaling that those services use. Absent: Fargate only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacitySpec>,
}

/// EC2 capacity of a stack's cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minSize <= self.maxSize").message("minSize cannot exceed maxSize"))]
pub struct CapacitySpec {
    /// EC2 instance type (default `t3.small`). Graviton types (`t4g.small`, `m7g.large`, ...) get
    /// the arm64 AMI.
    #[serde(default = "default_instance_type")]
    #[schemars(length(max = 32), regex(pattern = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"))]
    pub instance_type: String,
    /// Fewest instances, 0..1000 (default 1).
    #[serde(default = "default_min_size")]
    #[schemars(range(min = 0, max = 1000))]
    pub min_size: i32,
    /// Most instances, 1..1000 (default 4); ECS managed scaling chooses how many in between.
    #[serde(default = "default_max_size")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_size: i32,
}

fn default_instance_type() -> String {
    "t3.small".into()
}
fn default_min_size() -> i32 {
    1
}
fn default_max_size() -> i32 {
    4
}

/// An RDS database instance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.engine == oldSelf.engine")
        .message("engine cannot change: RDS cannot convert a database; create another and migrate").field_path(".engine"),
    validation = Rule::new("self.allocatedStorageGiB >= oldSelf.allocatedStorageGiB")
        .message("allocatedStorageGiB cannot shrink: RDS storage only grows").field_path(".allocatedStorageGiB"),
    validation = Rule::new("self.masterUsername == oldSelf.masterUsername")
        .message("masterUsername cannot change on a live database").field_path(".masterUsername"),
    validation = Rule::new("self.databaseName == oldSelf.databaseName")
        .message("databaseName cannot change on a live database").field_path(".databaseName"),
    validation = Rule::new("(has(self.connectionSecretName) ? self.connectionSecretName : '') == (has(oldSelf.connectionSecretName) ? oldSelf.connectionSecretName : '')")
        .message("connectionSecretName cannot change: the old Secret would be left behind").field_path(".connectionSecretName")
)]
pub struct DatabaseSpec {
    /// `postgres` (default) or `mysql`.
    #[serde(default)]
    pub engine: DatabaseEngine,
    /// Engine version, e.g. `"16"`. Default: RDS's default for the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub engine_version: Option<String>,
    /// Instance class (default `db.t4g.micro`).
    #[serde(default = "default_instance_class")]
    #[schemars(regex(pattern = r"^db\.[a-z0-9-]+\.[a-z0-9]+$"))]
    pub instance_class: String,
    /// Allocated storage in GiB, 20..65536 (default 20).
    #[serde(default = "default_storage", rename = "allocatedStorageGiB")]
    #[schemars(range(min = 20, max = 65536))]
    pub allocated_storage_gib: i32,
    /// Run a standby in a second availability zone.
    #[serde(default)]
    pub multi_az: bool,
    /// Days of automated backups, 0..35 (default 7; 0 turns them off).
    #[serde(default = "default_backup_days")]
    #[schemars(range(min = 0, max = 35))]
    pub backup_retention_days: i32,
    /// Refuse deletion at the AWS level.
    #[serde(default)]
    pub deletion_protection: bool,
    /// Name of the initial database (default `app`).
    #[serde(default = "default_app")]
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"))]
    pub database_name: String,
    /// Master user name (default `app`).
    #[serde(default = "default_app")]
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9_]{0,15}$"))]
    pub master_username: String,
    /// A Secret the operator writes with host, port, username, password, database and url.
    /// Default: `<stack>-db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub connection_secret_name: Option<String>,
    /// `Snapshot` (default: final snapshot, then delete), `Delete` or `Retain`.
    #[serde(default)]
    pub deletion_policy: DatabaseDeletionPolicy,
}

fn default_instance_class() -> String {
    "db.t4g.micro".into()
}
fn default_storage() -> i32 {
    20
}
fn default_backup_days() -> i32 {
    7
}
fn default_app() -> String {
    "app".into()
}

/// Database engines.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseEngine {
    #[default]
    Postgres,
    Mysql,
}

/// What happens to the database when the stack is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DatabaseDeletionPolicy {
    /// Take a final snapshot, then delete the instance (the default).
    #[default]
    Snapshot,
    /// Delete without a final snapshot.
    Delete,
    /// Keep the instance, untagged as managed.
    Retain,
}

/// An ElastiCache Redis cache.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.connectionSecretName) ? self.connectionSecretName : '') == (has(oldSelf.connectionSecretName) ? oldSelf.connectionSecretName : '')")
        .message("connectionSecretName cannot change: the old Secret would be left behind").field_path(".connectionSecretName")
)]
pub struct CacheSpec {
    /// Node type (default `cache.t4g.micro`).
    #[serde(default = "default_node_type")]
    #[schemars(regex(pattern = r"^cache\.[a-z0-9-]+\.[a-z0-9]+$"))]
    pub node_type: String,
    /// Number of nodes, 1..6 (default 1).
    #[serde(default = "default_nodes")]
    #[schemars(range(min = 1, max = 6))]
    pub num_nodes: i32,
    /// A Secret the operator writes with host, port and url. Default: `<stack>-cache`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub connection_secret_name: Option<String>,
}

fn default_node_type() -> String {
    "cache.t4g.micro".into()
}
fn default_nodes() -> i32 {
    1
}

/// An inline service: a TargetGroup, ListenerRules and a ContainerService, all optional,
/// expanded into owned children named after the stack and the service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlineService {
    /// Service name (lowercase DNS label); children are named `<stack>-<name>`.
    #[schemars(length(min = 1, max = 40), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// The service's TargetGroup (a TargetGroup spec without `stackRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group: Option<TargetGroupSettings>,
    /// Routes to the target group (ListenerRule specs without `stackRef` and `action`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub routes: Vec<RouteSettings>,
    /// The containers (a ContainerService spec without `stackRef`); `loadBalancer` defaults to this
    /// service's target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerServiceSettings>,
}

/// One inline service in a stack's status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InlineServiceStatus {
    /// The service's name in `spec.services`.
    pub name: String,
    /// Whether its TargetGroup, ListenerRules and ContainerService are all Ready.
    pub ready: bool,
    /// Tasks running, from its ContainerService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Tasks wanted, from its ContainerService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    /// The revision of the task definition its ContainerService runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_revision: Option<i64>,
}

/// Observed state of a WebStack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebStackStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The VPC in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Public subnets in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_subnet_ids: Vec<String>,
    /// Private subnets in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub private_subnet_ids: Vec<String>,
    /// Security group ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<SecurityGroupsStatus>,
    /// The load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerStatus>,
    /// ARN of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// The database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseStatus>,
    /// The cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<EndpointStatus>,
    /// ARN of the stack's task execution role, which its ContainerServices use unless they name
    /// `executionRoleArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// The EC2 capacity (`spec.cluster.capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityStatus>,
    /// The inline services: Ready when all of a service's children are, and its tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub services: Vec<InlineServiceStatus>,
    /// The Route 53 records (`spec.dns`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub dns: Vec<DnsRecordStatus>,
    /// The alarms, their topic and the dashboard (`spec.alarms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<AlarmsStatus>,
    /// The VPC flow log (`network.flowLogs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_logs: Option<FlowLogsStatus>,
    /// Repository URI of each registry (`spec.registries`), e.g.
    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/posts`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registries: RegistriesStatus,
}

/// Security groups of a stack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupsStatus {
    /// Admits `allowedCidrs` on listener ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<String>,
    /// Admits TCP from the load balancer group and from itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<String>,
    /// Admits the database and cache ports from the services group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// The load balancer of a stack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// Load balancer ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Public DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// Listener ARNs by listener name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listeners: BTreeMap<String, String>,
}

/// The database of a stack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    /// Endpoint host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// RDS instance status, e.g. `available`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// ARN of the Secrets Manager secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
}

/// An endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    /// Host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// ARN of the Secrets Manager secret holding the AUTH token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
}

/// The EC2 capacity of a stack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityStatus {
    /// The ECS capacity provider, once the cluster has it: `launchType: EC2` services use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<String>,
    /// The Auto Scaling group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling_group: Option<String>,
    /// Instances in the group now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    /// The launch template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_id: Option<String>,
    /// Its latest version: the one the group launches instances from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_version: Option<i64>,
    /// The AMI of that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}
