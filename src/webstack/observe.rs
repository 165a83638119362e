//! observe: reads the AWS resources a stack owns, in as few calls as possible, and refuses to go
//! on when a resource it would manage belongs to someone else.

use super::desired::{DesiredNetwork, DesiredStack};
use super::observed::ObservedStack;
use crate::aws::{AwsError, Clients, ec2, ecs, elbv2};
use crate::ownership::{Owner, Ownership};

/// Why observation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A resource with the stack's deterministic name is managed for another cluster or resource,
    /// or not managed by the operator at all.
    #[error(
        "{resource} {id} belongs to someone else ({detail}); it is never touched: rename the stack or remove that resource"
    )]
    Conflict {
        resource: &'static str,
        id: String,
        detail: String,
    },
}

/// Observes everything `desired` describes (the same call pattern serves deletion).
pub async fn observe(clients: &Clients, desired: &DesiredStack) -> Result<ObservedStack, ObserveError> {
    let owner = &desired.owner;
    let adopted = match &desired.network {
        DesiredNetwork::Adopt { vpc_id, .. } => Some(vpc_id.as_str()),
        DesiredNetwork::Create { .. } => None,
    };
    let net = ec2::observe(&clients.ec2, &owner.uid, adopted).await?;
    let mut observed = ObservedStack {
        vpc: net.vpc,
        subnets: net.subnets,
        internet_gateway: net.internet_gateway,
        route_tables: net.route_tables,
        security_groups: net.security_groups,
        ..ObservedStack::default()
    };
    let lb_name = desired
        .load_balancer
        .as_ref()
        .map(|l| l.name.clone())
        .unwrap_or_else(|| owner.aws_name("ws", 32));
    if let Some((mut lb, tags)) = elbv2::find_load_balancer(&clients.elbv2, &lb_name).await? {
        check(owner, "load balancer", &lb.arn, &tags)?;
        lb.idle_timeout_seconds = elbv2::idle_timeout(&clients.elbv2, &lb.arn).await?;
        observed.listeners = elbv2::listeners(&clients.elbv2, &lb.arn).await?;
        observed.load_balancer = Some(lb);
    }
    if let Some((cluster, tags)) = ecs::find_cluster(&clients.ecs, &desired.cluster.name).await? {
        if cluster.active {
            check(owner, "ECS cluster", &cluster.arn, &tags)?;
        }
        observed.cluster = Some(cluster);
    }
    Ok(observed)
}

fn check(owner: &Owner, resource: &'static str, id: &str, tags: &crate::aws::TagMap) -> Result<(), ObserveError> {
    match owner.ownership(tags) {
        Ownership::Ours => Ok(()),
        Ownership::Foreign { tag, value } => Err(ObserveError::Conflict {
            resource,
            id: id.into(),
            detail: format!("tagged {tag}={value}"),
        }),
        Ownership::Unmanaged => Err(ObserveError::Conflict {
            resource,
            id: id.into(),
            detail: "not managed by webstack-operator".into(),
        }),
    }
}
