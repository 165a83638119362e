//! Table tests of the egress planner.

use super::*;
use crate::model::egress::*;
use crate::model::stack::PUBLIC_ROUTE_TABLE;
use crate::model::stack::{ObservedStack, SgRole};
use crate::webstack::fixtures::{converged, desired};
use crate::webstack::parts::plan as plan_all;

fn action(s: &Step) -> &'static str {
    crate::reconcile::Step::action(s)
}
use crate::webstack::parts::Step;

const TWO_ZONES: &str = "network: {cidr: 10.0.0.0/16}\n";

fn egress_steps(steps: &[Step]) -> Vec<EgressStep> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Egress(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The stack with its network converged, but nothing of egress in AWS yet.
fn without_egress(yaml: &str) -> (DesiredStack, ObservedStack) {
    let d = desired(yaml);
    let mut o = converged(&d);
    o.egress = ObservedEgress::default();
    o.route_tables.retain(|t| t.component == PUBLIC_ROUTE_TABLE);
    (d, o)
}

#[test]
fn defaults_are_one_nat_gateway_and_the_s3_gateway_endpoint() {
    let d = desired(TWO_ZONES);
    let crate::model::stack::DesiredNetwork::Create { egress, .. } = &d.network else {
        panic!("created network")
    };
    assert_eq!(egress.nat, NatMode::Single);
    assert_eq!(egress.endpoints.iter().copied().collect::<Vec<_>>(), vec![Endpoint::S3]);
    assert!(!d.security_groups.iter().any(|g| g.role == SgRole::Endpoints));
}

#[test]
fn converged_egress_plans_nothing() {
    for yaml in [
        TWO_ZONES,
        "network: {cidr: 10.0.0.0/16, natGateways: perZone, vpcEndpoints: [s3, ecr, logs, secretsmanager]}\n",
        "network: {cidr: 10.0.0.0/16, availabilityZones: 3, natGateways: none, vpcEndpoints: []}\n",
    ] {
        let d = desired(yaml);
        assert_eq!(plan_all(&d, &converged(&d)), vec![], "{yaml}");
    }
}

#[test]
fn a_new_network_gets_an_address_a_gateway_tables_then_routes_later() {
    let (d, o) = without_egress(TWO_ZONES);
    assert_eq!(
        egress_steps(&plan_all(&d, &o)),
        vec![
            EgressStep::AllocateAddress { index: 0 },
            EgressStep::CreateNatGateway { index: 0 },
            EgressStep::CreatePrivateRouteTable { zone: 0 },
            EgressStep::AssociatePrivateRouteTable { zone: 0 },
            EgressStep::CreatePrivateRouteTable { zone: 1 },
            EgressStep::AssociatePrivateRouteTable { zone: 1 },
            EgressStep::CreateEndpoint { endpoint: Endpoint::S3 },
        ]
    );
    // The next reconcile: the gateway is pending. No route to it yet, and status says why.
    let mut o2 = converged(&d);
    o2.egress.nat_gateways[0].state = "pending".into();
    for t in o2.route_tables.iter_mut().filter(|t| t.component != PUBLIC_ROUTE_TABLE) {
        t.default_route = None;
    }
    assert_eq!(egress_steps(&plan_all(&d, &o2)), vec![]);
    assert!(waiting_for(&o2.egress).unwrap().contains("nat-0 is pending"));
    // Available: both zones route to it.
    o2.egress.nat_gateways[0].state = "available".into();
    assert_eq!(
        egress_steps(&plan_all(&d, &o2)),
        vec![
            EgressStep::SetPrivateRoute { zone: 0, nat: 0 },
            EgressStep::SetPrivateRoute { zone: 1, nat: 0 }
        ]
    );
    assert_eq!(waiting_for(&o2.egress), None);
}

#[test]
fn per_zone_gives_each_zone_its_own_gateway_and_route() {
    let yaml = "network: {cidr: 10.0.0.0/16, natGateways: perZone}\n";
    let (d, o) = without_egress(yaml);
    let steps = egress_steps(&plan_all(&d, &o));
    for i in 0..2 {
        assert!(steps.contains(&EgressStep::AllocateAddress { index: i }));
        assert!(steps.contains(&EgressStep::CreateNatGateway { index: i }));
    }
    let d1 = desired(yaml);
    let mut o = converged(&d1);
    let zone1 = o
        .route_tables
        .iter_mut()
        .find(|t| t.component == "rtb/private/1")
        .unwrap();
    zone1.default_route = Some("nat-0".into());
    assert_eq!(
        egress_steps(&plan_all(&d1, &o)),
        vec![EgressStep::SetPrivateRoute { zone: 1, nat: 1 }]
    );
}

#[test]
fn an_existing_address_is_reused_and_a_missing_gateway_recreated() {
    let d = desired(TWO_ZONES);
    let mut o = converged(&d);
    o.egress.nat_gateways.clear(); // deleted by hand
    o.egress.addresses[0].association_id = None;
    assert_eq!(
        egress_steps(&plan_all(&d, &o)),
        vec![EgressStep::CreateNatGateway { index: 0 }]
    );
    // A failed gateway is deleted and replaced.
    let mut o = converged(&d);
    o.egress.nat_gateways[0].state = "failed".into();
    assert_eq!(
        egress_steps(&plan_all(&d, &o)),
        vec![
            EgressStep::CreateNatGateway { index: 0 },
            EgressStep::DeleteNatGateway { id: "nat-0".into() }
        ]
    );
}

#[test]
fn per_zone_to_single_moves_routes_before_deleting_then_releases_the_address() {
    let before = desired("network: {cidr: 10.0.0.0/16, natGateways: perZone}\n");
    let after = desired(TWO_ZONES);
    let o = converged(&before);
    assert_eq!(
        egress_steps(&plan_all(&after, &o)),
        vec![
            EgressStep::SetPrivateRoute { zone: 1, nat: 0 },
            EgressStep::DeleteNatGateway { id: "nat-1".into() },
        ]
    );
    // Deleting: its address is still associated, so it stays for now.
    let mut o2 = converged(&after);
    o2.egress.nat_gateways.push(ObservedNatGateway {
        id: "nat-1".into(),
        component: nat_component(1),
        state: "deleting".into(),
        subnet_id: "subnet-2".into(),
        tags: after.tags_for("nat/1"),
    });
    o2.egress.addresses.push(ObservedAddress {
        allocation_id: "eipalloc-1".into(),
        component: address_component(1),
        association_id: Some("eipassoc-1".into()),
        tags: after.tags_for("eip/1"),
    });
    assert_eq!(egress_steps(&plan_all(&after, &o2)), vec![]);
    // AWS released it from the deleted gateway: the address goes (it costs money).
    o2.egress.nat_gateways.pop();
    o2.egress.addresses[1].association_id = None;
    assert_eq!(
        egress_steps(&plan_all(&after, &o2)),
        vec![EgressStep::ReleaseAddress {
            allocation_id: "eipalloc-1".into()
        }]
    );
}

#[test]
fn a_copy_of_an_address_a_retried_allocation_made_is_released() {
    let d = desired(TWO_ZONES);
    let mut o = converged(&d);
    // Allocated twice before the gateway: the gateway took the second.
    let used = o.egress.addresses[0].clone();
    o.egress.addresses.insert(
        0,
        ObservedAddress {
            allocation_id: "eipalloc-00".into(),
            association_id: None,
            ..used
        },
    );
    assert_eq!(o.egress.address(0).unwrap().allocation_id, "eipalloc-0");
    assert_eq!(
        egress_steps(&plan_all(&d, &o)),
        vec![EgressStep::ReleaseAddress {
            allocation_id: "eipalloc-00".into()
        }]
    );
    // Both free, no gateway yet: the first is used, the other released.
    o.egress.nat_gateways.clear();
    o.egress.addresses[1].association_id = None;
    assert_eq!(
        egress_steps(&plan_all(&d, &o)),
        vec![
            EgressStep::CreateNatGateway { index: 0 },
            EgressStep::ReleaseAddress {
                allocation_id: "eipalloc-0".into()
            }
        ]
    );
}

#[test]
fn none_removes_the_default_routes_and_gateways() {
    let before = desired(TWO_ZONES);
    let after = desired("network: {cidr: 10.0.0.0/16, natGateways: none}\n");
    assert_eq!(
        egress_steps(&plan_all(&after, &converged(&before))),
        vec![
            EgressStep::DeletePrivateRoute { zone: 0 },
            EgressStep::DeletePrivateRoute { zone: 1 },
            EgressStep::DeleteNatGateway { id: "nat-0".into() },
        ]
    );
}

#[test]
fn interface_endpoints_get_their_group_and_are_corrected() {
    let yaml = "network: {cidr: 10.0.0.0/16, vpcEndpoints: [ecr, logs]}\n";
    let d = desired(yaml);
    let g = d.security_groups.iter().find(|g| g.role == SgRole::Endpoints).unwrap();
    assert_eq!(g.ingress.len(), 1);
    let rule = g.ingress.iter().next().unwrap();
    assert_eq!((rule.from_port, rule.to_port), (443, 443));
    assert_eq!(rule.source, crate::model::stack::Source::Group(SgRole::Services));
    // ecr is two endpoints; s3 is not listed, so none.
    let (_, mut o) = without_egress(yaml);
    o.security_groups.retain(|g| g.role != SgRole::Endpoints);
    let steps = plan_all(&d, &o);
    let created: Vec<_> = egress_steps(&steps)
        .into_iter()
        .filter(|s| matches!(s, EgressStep::CreateEndpoint { .. }))
        .collect();
    assert_eq!(
        created,
        [Endpoint::EcrApi, Endpoint::EcrDkr, Endpoint::Logs].map(|endpoint| EgressStep::CreateEndpoint { endpoint })
    );
    let group_at = steps
        .iter()
        .position(|s| s.to_string() == "create security group sg/endpoints")
        .unwrap();
    let endpoint_at = steps.iter().position(|s| matches!(s, Step::Egress(_))).unwrap();
    assert!(group_at < endpoint_at, "the group exists before the endpoints");
    // Drift: a subnet removed from an endpoint and another group attached.
    let mut o = converged(&d);
    o.egress.endpoints[0].subnet_ids.pop();
    o.egress.endpoints[1].security_group_ids = vec!["sg-other".into()];
    assert_eq!(
        egress_steps(&plan_all(&d, &o)),
        vec![
            EgressStep::ModifyEndpoint {
                id: "vpce-ecr.api".into(),
                endpoint: Endpoint::EcrApi,
                changes: vec!["subnets"]
            },
            EgressStep::ModifyEndpoint {
                id: "vpce-ecr.dkr".into(),
                endpoint: Endpoint::EcrDkr,
                changes: vec!["security groups"]
            },
        ]
    );
}

#[test]
fn the_s3_endpoint_follows_the_private_route_tables_and_goes_when_dropped() {
    let d = desired(TWO_ZONES);
    let mut o = converged(&d);
    o.egress.endpoints[0].route_table_ids = vec!["rtb-private-0".into()];
    assert_eq!(
        egress_steps(&plan_all(&d, &o)),
        vec![EgressStep::ModifyEndpoint {
            id: "vpce-s3".into(),
            endpoint: Endpoint::S3,
            changes: vec!["route tables"]
        }]
    );
    let none = desired("network: {cidr: 10.0.0.0/16, vpcEndpoints: []}\n");
    assert_eq!(
        egress_steps(&plan_all(&none, &converged(&d))),
        vec![EgressStep::DeleteEndpoint {
            id: "vpce-s3".into(),
            endpoint: Endpoint::S3
        }]
    );
}

#[test]
fn the_endpoints_group_stays_while_interface_endpoints_hold_it() {
    let with = desired("network: {cidr: 10.0.0.0/16, vpcEndpoints: [logs]}\n");
    let without = desired(TWO_ZONES);
    let o = converged(&with);
    let steps = plan_all(&without, &o);
    assert!(steps.contains(&Step::Egress(EgressStep::DeleteEndpoint {
        id: "vpce-logs".into(),
        endpoint: Endpoint::Logs
    })));
    assert!(!steps.iter().any(|s| action(s) == "DeleteSecurityGroup"));
    let mut gone = o.clone();
    gone.egress.endpoints.retain(|e| e.endpoint.gateway());
    let steps = plan_all(&without, &gone);
    assert!(
        steps
            .iter()
            .any(|s| s.to_string().starts_with("delete security group sg/endpoints"))
    );
}

#[test]
fn tags_removed_by_hand_are_restored() {
    let d = desired(TWO_ZONES);
    let mut o = converged(&d);
    o.egress.nat_gateways[0].tags.clear();
    o.egress.endpoints[0].tags.remove("webstack.io/cluster");
    let restored: Vec<String> = egress_steps(&plan_all(&d, &o))
        .into_iter()
        .filter_map(|s| match s {
            EgressStep::RestoreTags { component, .. } => Some(component),
            _ => None,
        })
        .collect();
    assert_eq!(restored, vec!["nat/0", "vpce/s3"]);
}

#[test]
fn deletion_goes_endpoints_gateways_wait_then_addresses() {
    let d = desired("network: {cidr: 10.0.0.0/16, natGateways: perZone, vpcEndpoints: [s3, logs]}\n");
    let o = converged(&d);
    let steps = plan_cleanup(&o.egress);
    assert_eq!(
        steps,
        vec![
            EgressStep::DeleteEndpoint {
                id: "vpce-s3".into(),
                endpoint: Endpoint::S3
            },
            EgressStep::DeleteEndpoint {
                id: "vpce-logs".into(),
                endpoint: Endpoint::Logs
            },
            EgressStep::DeleteNatGateway { id: "nat-0".into() },
            EgressStep::DeleteNatGateway { id: "nat-1".into() },
            EgressStep::AwaitEgressGone {
                what: "2 NAT gateway(s) and 2 VPC endpoint(s) are".into()
            },
        ]
    );
    // Once AWS has deleted them, the addresses are released.
    let mut gone = o.egress.clone();
    gone.nat_gateways.clear();
    gone.endpoints.clear();
    assert_eq!(
        plan_cleanup(&gone),
        vec![
            EgressStep::ReleaseAddress {
                allocation_id: "eipalloc-0".into()
            },
            EgressStep::ReleaseAddress {
                allocation_id: "eipalloc-1".into()
            },
        ]
    );
    // The whole cleanup: egress before subnets and groups.
    let all = crate::webstack::fixtures::cleanup(
        &o,
        crate::api::DeletionPolicy::Delete,
        crate::model::data::DataCleanup {
            deletion: crate::model::data::DataDeletion::Delete,
            protection_wanted: false,
        },
    );
    let wait = all
        .iter()
        .position(|s| matches!(s, Step::Egress(EgressStep::AwaitEgressGone { .. })));
    let subnet = all.iter().position(|s| action(s) == "DeleteSubnet");
    assert!(wait.unwrap() < subnet.unwrap());
}

#[test]
fn retain_untags_egress_too() {
    let d = desired(TWO_ZONES);
    let o = converged(&d);
    let ids = retained_ids(&o.egress);
    assert_eq!(ids, vec!["nat-0", "vpce-s3", "eipalloc-0"]);
    let retain = crate::model::data::DataCleanup {
        deletion: crate::model::data::DataDeletion::Retain,
        protection_wanted: false,
    };
    let steps = crate::webstack::fixtures::cleanup(&o, crate::api::DeletionPolicy::Retain, retain);
    // The network's untag (one DeleteTags call) carries the egress's ids.
    let untag = steps
        .iter()
        .find(|s| crate::reconcile::Step::action(*s) == "DeleteTags");
    let untagged = untag.expect("the network is untagged").to_string();
    for id in ids.iter().chain(&["rtb-private-0".to_string()]) {
        assert!(untagged.contains(id), "{id}");
    }
}

#[test]
fn only_availability_zone_type_zones_are_used() {
    let zones = crate::aws::ec2::usable_zones([
        ("us-west-2b", "availability-zone"),
        ("us-west-2-lax-1a", "local-zone"),
        ("us-west-2a", "availability-zone"),
        ("us-west-2-wl1-las-wlz-1", "wavelength-zone"),
    ]);
    assert_eq!(zones, vec!["us-west-2a", "us-west-2b"]);
}

#[test]
fn adopted_networks_get_no_egress_and_refuse_the_fields() {
    let d = desired(
        "network: {vpcId: vpc-0abc, publicSubnetIds: [subnet-1, subnet-2], privateSubnetIds: [subnet-3, subnet-4]}\n",
    );
    let o = ObservedStack::default();
    assert!(egress_steps(&plan_all(&d, &o)).is_empty());
}
