//! The WebStack status, computed from what was observed (pure).

use std::collections::BTreeMap;

use super::desired::{DesiredStack, SgRole};
use super::observed::ObservedStack;
use crate::api::{LoadBalancerStatus, SecurityGroupsStatus, WebStackStatus};

/// Status fields from the observed resources; conditions are added by the caller.
pub fn status(desired: &DesiredStack, observed: &ObservedStack) -> WebStackStatus {
    let subnets = |public: bool| -> Vec<String> {
        match &desired.network {
            super::desired::DesiredNetwork::Adopt {
                public_subnet_ids,
                private_subnet_ids,
                ..
            } => {
                if public {
                    public_subnet_ids.clone()
                } else {
                    private_subnet_ids.clone()
                }
            }
            super::desired::DesiredNetwork::Create { subnets, .. } => subnets
                .iter()
                .filter(|s| s.public == public)
                .filter_map(|s| {
                    observed
                        .subnets
                        .iter()
                        .find(|o| o.component.as_deref() == Some(&s.component))
                })
                .map(|o| o.id.clone())
                .collect(),
        }
    };
    let group = |r: SgRole| observed.group_id(r).map(String::from);
    let listeners: BTreeMap<String, String> = desired
        .load_balancer
        .iter()
        .flat_map(|lb| &lb.listeners)
        .filter_map(|d| {
            Some((
                d.name.clone(),
                observed.listeners.iter().find(|l| l.port == d.port)?.arn.clone(),
            ))
        })
        .collect();
    WebStackStatus {
        vpc_id: observed.vpc.as_ref().map(|v| v.id.clone()),
        public_subnet_ids: subnets(true),
        private_subnet_ids: subnets(false),
        security_groups: Some(SecurityGroupsStatus {
            load_balancer: group(SgRole::LoadBalancer),
            services: group(SgRole::Services),
            database: group(SgRole::Database),
        }),
        load_balancer: observed.load_balancer.as_ref().map(|lb| LoadBalancerStatus {
            arn: Some(lb.arn.clone()),
            dns_name: Some(lb.dns_name.clone()),
            listeners,
        }),
        cluster_arn: observed.cluster.as_ref().filter(|c| c.active).map(|c| c.arn.clone()),
        ..WebStackStatus::default()
    }
}
