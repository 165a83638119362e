//! VPC flow logs (`network.flowLogs`): one flow log on the stack's VPC, delivering to a CloudWatch
//! Logs group the stack owns through an IAM role that VPC Flow Logs assumes.

use serde_json::{Value, json};

use super::role::{self, ObservedRole, RoleKind};
use super::{Owner, TagMap};

/// The inline policy's name on the delivery role.
pub const POLICY_NAME: &str = "webstack-flow-logs";

/// The delivery role: an inline policy, no managed policy.
pub const DELIVERY_ROLE: RoleKind = RoleKind {
    noun: "flow logs delivery role",
    inline_policy: Some(POLICY_NAME),
    managed_policies: false,
};

/// What the spec asks for (only when `enabled`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredFlowLogs {
    /// The VPC the flow log watches (adopted: from the spec; created: known once it exists).
    pub vpc_id: Option<String>,
    pub log_group: String,
    /// The stack's region (the group's ARN in the role's policy).
    pub region: String,
    pub retention_days: i32,
    /// `ALL`, `ACCEPT` or `REJECT`.
    pub traffic_type: &'static str,
    pub role_name: String,
}

/// One flow log tagged with the stack's uid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedFlowLog {
    pub id: String,
    /// The VPC (the flow log's resource).
    pub vpc_id: String,
    pub traffic_type: String,
    /// The destination group's name (`cloud-watch-logs` destinations only).
    pub log_group: Option<String>,
    /// The role it delivers with.
    pub role_arn: Option<String>,
    /// `SUCCESS` or `FAILED` (with the reason, e.g. "Access error").
    pub delivery: Option<String>,
    pub tags: TagMap,
}

/// The log group, by its deterministic name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedLogGroup {
    pub name: String,
    pub arn: String,
    /// Days; `None`: kept forever.
    pub retention: Option<i32>,
    /// Empty when not read on this pass (tags are read only while not settled).
    pub tags: TagMap,
}

/// What AWS holds of the stack's flow logs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedFlowLogs {
    /// Read on this pass (the spec or the status has flow logs, or the stack is being deleted).
    pub read: bool,
    pub flow_logs: Vec<ObservedFlowLog>,
    pub log_group: Option<ObservedLogGroup>,
    /// The delivery role. Its trust, policy and tags are read while the stack is not settled or
    /// when no healthy flow log proves it; otherwise it is known from the flow log (nothing of it
    /// read: [`ObservedRole::known`]).
    pub role: Option<ObservedRole>,
}

impl DesiredFlowLogs {
    /// The delivery role of `owner`'s flow logs: [`trust_policy`], [`role_policy`], `tags`.
    pub fn delivery_role(&self, owner: &Owner, tags: TagMap) -> role::DesiredRole {
        role::DesiredRole {
            kind: DELIVERY_ROLE,
            name: self.role_name.clone(),
            description: format!(
                "webstack-operator: VPC flow logs delivery role of {}/{}",
                owner.namespace, owner.name
            ),
            trust: trust_policy(),
            policy: Some(role_policy(self)),
            managed: Vec::new(),
            tags,
        }
    }
}

/// The log group's name: under `/webstack/`, the stack's namespace, name and uid (unique per stack).
pub fn log_group_name(owner: &Owner) -> String {
    format!(
        "/webstack/{}/{}-{}/vpc-flow-logs",
        owner.namespace,
        owner.name,
        owner.uid8()
    )
}

/// The delivery role's name.
pub fn role_name(owner: &Owner) -> String {
    owner.aws_name("webstack-flowlogs", 64)
}

/// Who may assume the role: VPC Flow Logs.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// What the role may do: the actions AWS documents for publishing flow logs to CloudWatch Logs,
/// on the stack's group (and its streams) only; DescribeLogGroups cannot be scoped to one group.
pub fn role_policy(want: &DesiredFlowLogs) -> Value {
    let group = format!("arn:aws:logs:{}:*:log-group:{}", want.region, want.log_group);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [group.clone(), format!("{group}:*")]
            },
            {
                "Effect": "Allow",
                "Action": "logs:DescribeLogGroups",
                "Resource": "*"
            }
        ]
    })
}
