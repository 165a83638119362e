//! A target group in domain terms: what it should be and what AWS holds. Its protocol, port,
//! target type and VPC cannot change in AWS, so its name carries a short hash of them: changing one
//! yields a new name, hence a new group beside the old one (see the TargetGroup planner).

use std::collections::BTreeMap;

use super::ownership::TagMap;

/// Health check settings as AWS holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub protocol: String,
    pub port: String,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub timeout_seconds: i32,
    pub interval_seconds: i32,
    pub matcher: String,
}

/// The target group the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredTargetGroup {
    pub name: String,
    pub vpc_id: String,
    pub protocol: String,
    pub port: i32,
    pub target_type: String,
    pub health: HealthCheck,
    /// The attributes the operator manages, by AWS key.
    pub attributes: BTreeMap<String, String>,
    pub tags: TagMap,
}

/// A target group found in AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTargetGroup {
    pub arn: String,
    pub name: String,
    pub health: HealthCheck,
    pub attributes: BTreeMap<String, String>,
    pub tags: TagMap,
    /// Load balancers whose listeners or rules forward to it, as AWS reports them (informational).
    pub load_balancer_arns: Vec<String>,
    /// What cannot change in place (a change of one replaces the group), as AWS reports it.
    pub protocol: String,
    pub port: i32,
    pub target_type: String,
    pub vpc_id: String,
}
