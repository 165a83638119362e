//! observe: reads the AWS resources a stack owns, in as few calls as possible. Every resource found
//! is checked for ownership (cluster id and uid): while converging, one that belongs to someone
//! else stops the reconcile (it is never touched); while deleting, it is simply left out.

use crate::aws::{AwsError, Clients, ec2, ecs, egress, elbv2};
use crate::model::ownership::{MANAGED_BY, Ownership};
use crate::model::stack::{ObservedStack, StackKey};
use crate::model::{Conflict, Owner, TagMap};

/// Why observation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// `webstack.io/external-id` names a load balancer that does not exist.
    #[error("webstack.io/external-id: load balancer {arn} does not exist in this region; fix or remove the annotation")]
    ExternalMissing { arn: String },
    #[error(transparent)]
    Conflict(#[from] Conflict),
}

/// Keeps what is ours: on a conflict, an error while converging, left out while deleting.
struct Filter<'a> {
    owner: &'a Owner,
    deleting: bool,
}

impl Filter<'_> {
    /// Whether a resource with `tags` is kept; `Err` stops a converging reconcile.
    fn keep(&self, resource: &'static str, id: &str, tags: &TagMap) -> Result<bool, Conflict> {
        match self.owner.check(resource, id, tags) {
            Ok(()) => Ok(true),
            Err(_) if self.deleting => Ok(false),
            Err(conflict) => Err(conflict),
        }
    }
}

/// Observes everything of the stack (the same call pattern serves deletion, with `deleting`).
pub async fn observe(clients: &Clients, key: &StackKey, deleting: bool) -> Result<ObservedStack, ObserveError> {
    let owner = &key.owner;
    let f = Filter { owner, deleting };
    let net = ec2::observe(&clients.ec2, key).await?;
    let mut o = ObservedStack::default();
    // Found by the uid tag: the cluster tag decides. A subnet of the stack's own VPC whose tags were
    // removed by hand has no component and is kept (it is re-tagged, never created twice).
    for s in net.subnets {
        if s.component.is_none() || f.keep("subnet", &s.id, &s.tags)? {
            o.subnets.push(s);
        }
    }
    for t in net.route_tables {
        if f.keep("route table", &t.id, &t.tags)? {
            o.route_tables.push(t);
        }
    }
    for g in net.security_groups {
        if f.keep("security group", &g.id, &g.tags)? {
            o.security_groups.push(g);
        }
    }
    // A VPC or gateway known from the subnets or the route (no tags read) is the stack's own.
    let read = |tags: &TagMap| !tags.is_empty();
    o.vpc = match net.vpc {
        Some(v) if v.managed && read(&v.tags) && !f.keep("VPC", &v.id, &v.tags)? => None,
        other => other,
    };
    o.internet_gateway = match net.internet_gateway {
        Some(g) if read(&g.tags) && !f.keep("internet gateway", &g.id, &g.tags)? => None,
        other => other,
    };
    o.duplicate_vpcs = net.duplicate_vpcs.into_iter().filter(|v| owner.owns(&v.tags)).collect();
    o.duplicate_gateways = net
        .duplicate_gateways
        .into_iter()
        .filter(|g| owner.owns(&g.tags))
        .collect();

    let found = match &key.external_load_balancer {
        Some(arn) => match elbv2::find_load_balancer_by_arn(&clients.elbv2, arn).await? {
            None if !deleting => return Err(ObserveError::ExternalMissing { arn: arn.clone() }),
            found => found,
        },
        None => elbv2::find_load_balancer(&clients.elbv2, &key.load_balancer_name).await?,
    };
    if let Some((mut lb, tags)) = found {
        // An unmanaged load balancer named by external-id is adopted: the plan tags it as ours.
        let adopting = key.external_load_balancer.is_some()
            && !deleting
            && owner.ownership(&tags) == Ownership::Unmanaged
            && !tags.contains_key(MANAGED_BY);
        if adopting || f.keep("load balancer", &lb.arn, &tags)? {
            lb.idle_timeout_seconds = elbv2::idle_timeout(&clients.elbv2, &lb.arn).await?;
            o.listeners = elbv2::listeners(&clients.elbv2, &lb.arn).await?;
            o.load_balancer = Some(lb);
        }
    }
    // Egress of a VPC the stack created (an adopted one is never read for it): NAT gateways by
    // VPC, endpoints and Elastic IPs by uid. Addresses are read every time: one is released only
    // once AWS has freed it from a deleted gateway, which may be long after the stack settled.
    if let Some(vpc) = o.vpc.as_ref().filter(|v| v.managed).map(|v| v.id.clone()) {
        for n in egress::nat_gateways(&clients.ec2, &vpc).await? {
            if f.keep("NAT gateway", &n.id, &n.tags)? {
                o.egress.nat_gateways.push(n);
            }
        }
        for e in egress::endpoints(&clients.ec2, &owner.uid).await? {
            if f.keep("VPC endpoint", &e.id, &e.tags)? {
                o.egress.endpoints.push(e);
            }
        }
        for a in egress::addresses(&clients.ec2, &owner.uid).await? {
            if f.keep("Elastic IP", &a.allocation_id, &a.tags)? {
                o.egress.addresses.push(a);
            }
        }
    }
    // The task execution role, by its deterministic name; another's role of that name is never used.
    if let Some(role) = crate::aws::iam::role(&clients.iam, &key.role_name).await?
        && f.keep("IAM role", &role.arn, &role.tags)?
    {
        o.execution_role = Some(role);
    }
    if let Some((cluster, tags)) = ecs::find_cluster(&clients.ecs, &key.cluster_name).await?
        && (!cluster.active || f.keep("ECS cluster", &cluster.arn, &tags)?)
    {
        o.cluster = Some(cluster);
    }
    Ok(o)
}
