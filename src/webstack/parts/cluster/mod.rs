//! The cluster part: the stack's ECS cluster with Container Insights as the spec says, its tags
//! restored; deleted last of the network's neighbours, untagged under `Retain`. Its I/O is in [`io`].

pub mod io;

use std::fmt;

use crate::model::stack::{DesiredStack, ObservedStack};
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part, missing};

/// The cluster part.
pub struct Cluster;

/// One change to the ECS cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterStep {
    CreateCluster {
        name: String,
    },
    UpdateClusterSettings {
        container_insights: bool,
    },
    /// Put back tags removed or changed by hand (`keys` are the tags to write).
    RestoreTags {
        component: String,
        id: String,
        keys: Vec<String>,
    },
    DeleteCluster {
        arn: String,
    },
    /// `deletionPolicy: Retain`: remove the ownership tags, keep the cluster.
    UntagCluster {
        arn: String,
    },
}

impl crate::reconcile::Step for ClusterStep {
    fn action(&self) -> &'static str {
        match self {
            ClusterStep::CreateCluster { .. } => "CreateCluster",
            ClusterStep::UpdateClusterSettings { .. } => "UpdateClusterSettings",
            ClusterStep::RestoreTags { .. } => "CreateTags",
            ClusterStep::DeleteCluster { .. } => "DeleteCluster",
            ClusterStep::UntagCluster { .. } => "UntagResource",
        }
    }
}

impl fmt::Display for ClusterStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterStep::CreateCluster { name } => write!(f, "create ECS cluster {name}"),
            ClusterStep::UpdateClusterSettings { container_insights } => {
                write!(
                    f,
                    "set container insights {}",
                    if *container_insights { "enabled" } else { "disabled" }
                )
            }
            ClusterStep::RestoreTags { component, id, keys } => {
                write!(f, "restore tags {} on {component} ({id})", keys.join(", "))
            }
            ClusterStep::DeleteCluster { arn } => write!(f, "delete ECS cluster {arn}"),
            ClusterStep::UntagCluster { arn } => write!(f, "remove the ownership tags of ECS cluster {arn}"),
        }
    }
}

impl Part for Cluster {
    type Step = ClusterStep;

    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<ClusterStep> {
        let Some(c) = observed.cluster.as_ref().filter(|c| c.active) else {
            return vec![ClusterStep::CreateCluster {
                name: desired.cluster.name.clone(),
            }];
        };
        let mut steps = Vec::new();
        let keys = missing(desired, "cluster", &c.tags);
        if !keys.is_empty() {
            steps.push(ClusterStep::RestoreTags {
                component: "cluster".into(),
                id: c.arn.clone(),
                keys,
            });
        }
        if c.container_insights != desired.cluster.container_insights {
            steps.push(ClusterStep::UpdateClusterSettings {
                container_insights: desired.cluster.container_insights,
            });
        }
        steps
    }

    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<ClusterStep> {
        let Some(c) = observed.cluster.as_ref().filter(|c| c.active) else {
            return Vec::new();
        };
        let arn = c.arn.clone();
        vec![if how.retain {
            ClusterStep::UntagCluster { arn }
        } else {
            ClusterStep::DeleteCluster { arn }
        }]
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), crate::reconcile::Blocked> {
        io::observe(cx, observed).await
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &ClusterStep) -> Result<(), ApplyError> {
        io::apply(cx, step).await
    }
}
