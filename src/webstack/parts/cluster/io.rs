//! The cluster's I/O: finds it by name (another's cluster of that name is never used) and runs
//! its steps.

use super::ClusterStep;
use crate::aws::ecs;
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::stack::ObservedStack;
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, ObserveCx, wanted};

/// The cluster, by its name; an inactive one (deleted) is kept to be created again.
pub async fn observe(cx: &ObserveCx<'_>, o: &mut ObservedStack) -> Result<(), Blocked> {
    if let Some((cluster, tags)) = ecs::find_cluster(&cx.clients.ecs, &cx.key.cluster_name).await?
        && (!cluster.active || cx.keep("ECS cluster", &cluster.arn, &tags)?)
    {
        o.cluster = Some(cluster);
    }
    Ok(())
}

/// Runs one step of the cluster.
pub async fn apply(cx: &mut ApplyCx<'_>, step: &ClusterStep) -> Result<(), ApplyError> {
    let c = &cx.clients.ecs;
    let want = || wanted(cx.desired, step);
    match step {
        ClusterStep::CreateCluster { name } => {
            let d = want()?;
            ecs::create_cluster(c, name, d.cluster.container_insights, &d.tags_for("cluster")).await?;
        }
        ClusterStep::UpdateClusterSettings { container_insights } => {
            ecs::set_container_insights(c, &want()?.cluster.name, *container_insights).await?;
        }
        ClusterStep::RestoreTags { component, id, keys } => {
            ecs::tag(c, id, &select(&want()?.tags_for(component), keys)).await?
        }
        ClusterStep::DeleteCluster { arn } => ecs::delete_cluster(c, arn).await?,
        ClusterStep::UntagCluster { arn } => ecs::untag(c, arn, &OWNERSHIP_KEYS).await?,
    }
    Ok(())
}
