//! The load balancer's I/O: finds it by name (or by the ARN `webstack.io/external-id` names),
//! reads its idle timeout and listeners, and runs its steps.

use super::LoadBalancerStep;
use crate::aws::elbv2;
use crate::model::ListenerAction;
use crate::model::ownership::{MANAGED_BY, OWNERSHIP_KEYS, Ownership, select};
use crate::model::stack::{DesiredNetwork, DesiredStack, ObservedStack, SgRole};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Ids, ObserveCx, need, wanted};

/// The load balancer and its listeners. An unmanaged load balancer named by external-id is
/// adopted: the plan tags it as the stack's.
pub async fn observe(cx: &ObserveCx<'_>, o: &mut ObservedStack) -> Result<(), Blocked> {
    let c = &cx.clients.elbv2;
    let found = match &cx.key.external_load_balancer {
        Some(arn) => match elbv2::find_load_balancer_by_arn(c, arn).await? {
            None if !cx.deleting => {
                return Err(Blocked::stalled(
                    "InvalidSpec",
                    format!(
                        "webstack.io/external-id: load balancer {arn} does not exist in this region; fix or remove the annotation"
                    ),
                ));
            }
            found => found,
        },
        None => elbv2::find_load_balancer(c, &cx.key.load_balancer_name).await?,
    };
    if let Some((mut lb, tags)) = found {
        let adopting = cx.key.external_load_balancer.is_some()
            && !cx.deleting
            && cx.owner.ownership(&tags) == Ownership::Unmanaged
            && !tags.contains_key(MANAGED_BY);
        if adopting || cx.keep("load balancer", &lb.arn, &tags)? {
            lb.idle_timeout_seconds = elbv2::idle_timeout(c, &lb.arn).await?;
            o.listeners = elbv2::listeners(c, &lb.arn).await?;
            o.load_balancer = Some(lb);
        }
    }
    Ok(())
}

/// Runs one step of the load balancer, recording its ARN once created.
pub async fn apply(cx: &mut ApplyCx<'_>, step: &LoadBalancerStep) -> Result<(), ApplyError> {
    let (c, desired, ids) = (&cx.clients.elbv2, cx.desired, &mut cx.ids);
    let want = || wanted(desired, step);
    let group =
        |ids: &Ids| need(ids.groups.get(&SgRole::LoadBalancer), step, "the load balancer group").map(String::from);
    match step {
        LoadBalancerStep::CreateLoadBalancer { name, .. } => {
            let d = want()?;
            let lb = d.load_balancer.as_ref().expect("planned from desired");
            let subnets = lb_subnets(d, ids, lb.internal);
            let group = group(ids)?;
            let tags = d.tags_for("load-balancer");
            let created = elbv2::create_load_balancer(c, name, lb.internal, &subnets, &group, &tags).await?;
            ids.lb = Some(created.arn);
        }
        LoadBalancerStep::ModifyIdleTimeout { to, .. } => {
            elbv2::set_idle_timeout(c, need(ids.lb.as_ref(), step, "the load balancer")?, *to).await?
        }
        LoadBalancerStep::CreateListener { name, .. } => {
            let d = want()?;
            let l = d
                .load_balancer
                .iter()
                .flat_map(|lb| &lb.listeners)
                .find(|l| &l.name == name)
                .expect("planned");
            let lb = need(ids.lb.as_ref(), step, "the load balancer")?;
            elbv2::create_listener(c, lb, l, &d.tags_for(&format!("listener/{name}"))).await?;
        }
        LoadBalancerStep::ModifyListener { arn, name, .. } => {
            let l = want()?
                .load_balancer
                .iter()
                .flat_map(|lb| &lb.listeners)
                .find(|l| &l.name == name)
                .expect("planned");
            elbv2::modify_listener(c, arn, l).await?;
        }
        LoadBalancerStep::DeleteListener { arn, .. } => elbv2::delete_listener(c, arn).await?,
        LoadBalancerStep::SetLoadBalancerSecurityGroups { arn } => {
            elbv2::set_security_groups(c, arn, &[group(ids)?]).await?;
        }
        LoadBalancerStep::RestoreTags { component, id, keys } => {
            elbv2::add_tags(c, id, &select(&want()?.tags_for(component), keys)).await?
        }
        LoadBalancerStep::DeleteLoadBalancer { arn } => {
            elbv2::delete_load_balancer(c, arn).await?;
            ids.lb = None;
        }
        LoadBalancerStep::AdoptLoadBalancer { arn } => {
            elbv2::add_tags(c, arn, &want()?.tags_for("load-balancer")).await?
        }
        LoadBalancerStep::ReleaseListener { arn, .. } => {
            elbv2::set_default_action(c, arn, &ListenerAction::deleting()).await?
        }
        LoadBalancerStep::UntagLoadBalancer { arns } => elbv2::untag(c, arns, &OWNERSHIP_KEYS).await?,
    }
    Ok(())
}

/// Public subnets for an internet-facing load balancer, private ones for an internal one.
fn lb_subnets(desired: &DesiredStack, ids: &Ids, internal: bool) -> Vec<String> {
    match &desired.network {
        DesiredNetwork::Adopt {
            public_subnet_ids,
            private_subnet_ids,
            ..
        } => {
            if internal {
                private_subnet_ids.clone()
            } else {
                public_subnet_ids.clone()
            }
        }
        DesiredNetwork::Create { subnets, .. } => subnets
            .iter()
            .filter(|s| s.public != internal)
            .filter_map(|s| ids.subnets.get(&s.component).cloned())
            .collect(),
    }
}
