//! observe: reads the AWS resources a stack owns, in as few calls as possible, and refuses to go
//! on when a resource it would manage belongs to someone else.

use super::desired::{cluster_name, load_balancer_name};
use super::observed::ObservedStack;
use crate::api::WebStackSpec;
use crate::aws::{AwsError, Clients, ec2, ecs, elbv2};
use crate::ownership::{Owner, Ownership};

/// Why observation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// `webstack.io/external-id` names a load balancer that does not exist.
    #[error("webstack.io/external-id: load balancer {arn} does not exist in this region")]
    ExternalMissing { arn: String },
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

/// How to find a stack's resources: derived from the spec without validating it, so that deletion
/// never depends on a spec being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackKey {
    pub owner: Owner,
    pub adopted_vpc: Option<String>,
    /// With `adopted_vpc`: the subnets the spec names, read by id to check they exist and belong to it.
    pub adopted_subnets: Vec<String>,
    /// The VPC recorded in status: its subnets are then read by VPC, so a subnet whose ownership
    /// tags were removed by hand is still found (and re-tagged) rather than created twice.
    pub known_vpc: Option<String>,
    pub load_balancer_name: String,
    /// `webstack.io/external-id`: adopt this load balancer (by ARN) instead of the named one.
    pub external_load_balancer: Option<String>,
    pub cluster_name: String,
}

impl StackKey {
    pub fn new(spec: &WebStackSpec, owner: Owner) -> StackKey {
        StackKey {
            adopted_vpc: spec.network.vpc_id.clone(),
            adopted_subnets: spec
                .network
                .public_subnet_ids
                .iter()
                .chain(&spec.network.private_subnet_ids)
                .cloned()
                .collect(),
            known_vpc: None,
            load_balancer_name: load_balancer_name(&owner),
            external_load_balancer: None,
            cluster_name: cluster_name(spec, &owner),
            owner,
        }
    }
}

/// Observes everything of the stack (the same call pattern serves deletion).
pub async fn observe(clients: &Clients, key: &StackKey) -> Result<ObservedStack, ObserveError> {
    let owner = &key.owner;
    let net = ec2::observe(
        &clients.ec2,
        &owner.uid,
        key.adopted_vpc.as_deref(),
        &key.adopted_subnets,
        key.known_vpc.as_deref(),
    )
    .await?;
    let mut observed = ObservedStack {
        vpc: net.vpc,
        subnets: net.subnets,
        internet_gateway: net.internet_gateway,
        route_tables: net.route_tables,
        security_groups: net.security_groups,
        ..ObservedStack::default()
    };
    let found = match &key.external_load_balancer {
        Some(arn) => match elbv2::find_load_balancer_by_arn(&clients.elbv2, arn).await? {
            None => return Err(ObserveError::ExternalMissing { arn: arn.clone() }),
            found => found,
        },
        None => elbv2::find_load_balancer(&clients.elbv2, &key.load_balancer_name).await?,
    };
    if let Some((mut lb, tags)) = found {
        // An unmanaged load balancer named by external-id is adopted: the plan tags it as ours.
        let adopting = key.external_load_balancer.is_some() && owner.ownership(&tags) == Ownership::Unmanaged;
        if !adopting {
            check(owner, "load balancer", &lb.arn, &tags)?;
        }
        lb.idle_timeout_seconds = elbv2::idle_timeout(&clients.elbv2, &lb.arn).await?;
        observed.listeners = elbv2::listeners(&clients.elbv2, &lb.arn).await?;
        observed.load_balancer = Some(lb);
    }
    if let Some((cluster, tags)) = ecs::find_cluster(&clients.ecs, &key.cluster_name).await? {
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
