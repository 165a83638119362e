//! The WebStack's parts, registered once, here, in dependency order. Each part is a folder: its
//! pure planner with its own step type (`mod.rs`), its observe and apply (`io.rs`) and its table
//! tests (`tests.rs`), implementing [`Part`]. A part reaches only into itself, webstack's shared
//! module ([`crate::webstack::shared`]) and the layers below; the ids that flow between parts
//! during an apply pass live in [`Ids`](crate::webstack::shared::Ids).
//!
//! A new part is a folder and one line in `parts!` below (which makes its [`Step`] variant), placed
//! in the orders that follow it.

pub mod alarms;
pub mod capacity;
pub mod children;
pub mod cluster;
pub mod data;
pub mod dns;
pub mod egress;
pub mod flowlogs;
pub mod loadbalancer;
pub mod network;
pub mod registries;
pub mod role;

use std::fmt;

use crate::model::data::DataDeletion;
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// Declares the parts: each line a [`Step`] variant holding that part's step, and a [`PartId`].
macro_rules! parts {
    ($($(#[$doc:meta])* $variant:ident($part:ty),)*) => {
        /// One change of a WebStack plan: one variant per part. `Display` is what Events, `paused`
        /// and `plan` print; `action()` is the Event's action.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Step {
            $($(#[$doc])* $variant(<$part as Part>::Step),)*
        }

        /// A part, as the orders below name it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum PartId {
            $($variant,)*
        }

        impl PartId {
            fn plan(self, desired: &DesiredStack, observed: &ObservedStack) -> Vec<Step> {
                match self {
                    $(PartId::$variant => <$part>::plan(desired, observed).into_iter().map(Step::$variant).collect(),)*
                }
            }

            fn cleanup(self, observed: &ObservedStack, how: &Cleanup) -> Vec<Step> {
                match self {
                    $(PartId::$variant => <$part>::cleanup(observed, how).into_iter().map(Step::$variant).collect(),)*
                }
            }

            fn release(self, observed: &ObservedStack) -> Vec<Step> {
                match self {
                    $(PartId::$variant => <$part>::release(observed).into_iter().map(Step::$variant).collect(),)*
                }
            }

            async fn observe(self, cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
                match self {
                    $(PartId::$variant => Box::pin(<$part>::observe(cx, observed)).await,)*
                }
            }
        }

        impl Step {
            /// Runs the step with its part's apply.
            pub async fn apply(&self, cx: &mut ApplyCx<'_>) -> Result<(), ApplyError> {
                match self {
                    $(Step::$variant(s) => Box::pin(<$part>::apply(cx, s)).await,)*
                }
            }
        }

        impl crate::reconcile::Step for Step {
            fn action(&self) -> &'static str {
                match self {
                    $(Step::$variant(s) => s.action(),)*
                }
            }

            fn reason(&self) -> Option<&'static str> {
                match self {
                    $(Step::$variant(s) => s.reason(),)*
                }
            }

            fn op(&self) -> crate::reconcile::change::Op {
                match self {
                    $(Step::$variant(s) => s.op(),)*
                }
            }

            fn fields(&self) -> Vec<crate::reconcile::change::FieldChange> {
                match self {
                    $(Step::$variant(s) => s.fields(),)*
                }
            }

            fn destructive(&self) -> Option<String> {
                match self {
                    $(Step::$variant(s) => s.destructive(),)*
                }
            }

            fn part(&self) -> Option<&'static str> {
                match self {
                    $(Step::$variant(_) => Some(stringify!($variant)),)*
                }
            }
        }

        impl fmt::Display for Step {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Step::$variant(s) => s.fmt(f),)*
                }
            }
        }
    };
}

parts! {
    /// VPC, subnets, internet gateway, public route table, security groups.
    Network(network::Network),
    /// NAT gateways, Elastic IPs, private route tables and VPC endpoints.
    Egress(egress::Egress),
    /// VPC flow logs, their log group and delivery role.
    FlowLogs(flowlogs::FlowLogs),
    /// The ALB and its listeners.
    LoadBalancer(loadbalancer::LoadBalancer),
    /// The ECS cluster.
    Cluster(cluster::Cluster),
    /// An ECR repository of `spec.registries`.
    Registry(registries::Registries),
    /// The task execution role.
    Role(role::ExecutionRole),
    /// The EC2 capacity: instance role and profile, launch template, Auto Scaling group, capacity provider.
    Capacity(capacity::Capacity),
    /// An inline service's or the static site's child object.
    Child(children::Children),
    /// Route 53 alias records and their ownership records, one name at a time.
    Dns(dns::Dns),
    /// The database, the cache and their credentials.
    Data(data::Data),
    /// The alarms, their SNS topic and the dashboard.
    Alarms(alarms::Alarms),
}

use PartId::*;

/// The order in which parts plan (and so apply): each after what it needs.
const PLAN: &[PartId] = &[
    Network,
    Egress,   // after the groups: interface endpoints sit in the endpoints group
    FlowLogs, // once the VPC exists
    LoadBalancer,
    Cluster,
    Registry, // before the role that pulls from them and the services that name them
    Role,
    Capacity, // after the cluster and network it joins, before the services that run on it
    Child,    // before the data tier: services start while RDS creates the database
    Dns,      // once its targets exist (the load balancer, the static site's child)
    Data,     // late: its waits (RDS takes minutes) hold nothing else up
    Alarms,   // they watch the rest
];

/// The order in which parts are read (the alarms read the load balancer, the capacity the cluster).
const OBSERVE: &[PartId] = &[
    Network,
    LoadBalancer,
    Egress, // of a VPC the stack created
    Role,
    Cluster,
    Data,
    Capacity,
    FlowLogs,
    Alarms,
    Child,
    Registry,
    Dns,
];

/// The order of deletion, towards nothing: DNS records first (they point at the load balancer and
/// the site), then the alarms (they only watch the rest), the EC2 capacity (its instances sit in
/// the network) before the flow logs, the flow logs before the VPC they watch, the data tier before
/// the network it sits in, the egress, the load balancer and the network, the cluster, the role
/// after everything that uses it, and the repositories last (nothing depends on them, and one that
/// waits for its images to go holds up nothing else).
const DELETE: &[PartId] = &[
    Dns,
    Alarms,
    Capacity,
    FlowLogs,
    Data,
    Egress,
    LoadBalancer,
    Network,
    Cluster,
    Role,
    Registry,
];

/// A retained database or cache keeps the network it sits in (untagged, the egress with it): the
/// load balancer and the cluster go before the network is untagged.
const KEEP_NETWORK: &[PartId] = &[
    Dns,
    Alarms,
    Capacity,
    FlowLogs,
    Data,
    LoadBalancer,
    Cluster,
    Network,
    Role,
    Registry,
];

/// `deletionPolicy: Retain`: everything is untagged (a retained network keeps no flow logs of the
/// stack's).
const RETAIN: &[PartId] = &[
    Dns,
    Alarms,
    FlowLogs,
    Network,
    LoadBalancer,
    Cluster,
    Capacity,
    Data,
    Role,
    Registry,
];

/// While the stack's children are deleted: its DNS records go first (none may point at a
/// distribution or load balancer being deleted), then the children, then its listeners stop
/// forwarding to their target groups.
const RELEASE: &[PartId] = &[Dns, Child, LoadBalancer];

/// Steps that make `observed` match `desired`, in dependency order.
pub fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<Step> {
    PLAN.iter().flat_map(|p| p.plan(desired, observed)).collect()
}

/// Reads every part, in [`OBSERVE`] order.
pub async fn observe(cx: &ObserveCx<'_>) -> Result<ObservedStack, Blocked> {
    observe_only(cx, OBSERVE).await
}

/// Reads the given parts, in the order given (the network tier alone, in its tests).
pub async fn observe_only(cx: &ObserveCx<'_>, parts: &[PartId]) -> Result<ObservedStack, Blocked> {
    let mut observed = ObservedStack::default();
    for p in parts {
        p.observe(cx, &mut observed).await?;
    }
    Ok(observed)
}

/// The deletion plan: [`RETAIN`] under `deletionPolicy: Retain`, [`KEEP_NETWORK`] when a retained
/// database or cache remains, else [`DELETE`].
pub fn plan_cleanup(observed: &ObservedStack, mut how: Cleanup) -> Vec<Step> {
    let data_left = observed.data.database.is_some() || observed.data.cache.is_some();
    how.keep_network = !how.retain && how.data.deletion == DataDeletion::Retain && data_left;
    let order = if how.retain {
        RETAIN
    } else if how.keep_network {
        KEEP_NETWORK
    } else {
        DELETE
    };
    order.iter().flat_map(|p| p.cleanup(observed, &how)).collect()
}

/// What a stack does while its children are being deleted (see [`RELEASE`]).
pub fn plan_release(observed: &ObservedStack) -> Vec<Step> {
    RELEASE.iter().flat_map(|p| p.release(observed)).collect()
}

#[cfg(test)]
mod tests;
