//! Tests of the registration: the whole stack's plan in dependency order, drift, spec changes,
//! and deletion in reverse order (network, load balancer and cluster).

use super::*;
use crate::model::ListenerAction;
use crate::model::stack::*;
use crate::webstack::fixtures::{converged, desired};

const NETFLUX: &str = r#"
network: {cidr: 10.0.0.0/16}
tags: {team: movies}
loadBalancer:
  listeners:
    - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404, contentType: text/plain, messageBody: ":("}}}
database: {engine: postgres}
"#;

/// The load balancer's, the network's and the cluster's deletion (the whole stack's less the data
/// tier, the egress and the other parts).
fn plan_delete(o: &ObservedStack) -> Vec<Step> {
    let how = Cleanup {
        retain: false,
        data: crate::model::data::DataCleanup {
            deletion: DataDeletion::Delete,
            protection_wanted: false,
        },
        keep_network: false,
        force_registries: false,
    };
    [LoadBalancer, Network, Cluster]
        .iter()
        .flat_map(|p| p.cleanup(o, &how))
        .collect()
}

fn names(steps: &[Step]) -> Vec<String> {
    steps.iter().map(ToString::to_string).collect()
}

#[test]
fn creates_everything_in_dependency_order() {
    let d = desired(NETFLUX);
    let mut nothing = ObservedStack::default();
    nothing.data.subnet_groups_read = true;
    let steps = names(&plan(&d, &nothing));
    assert_eq!(
        steps,
        [
            "create VPC 10.0.0.0/16",
            "create internet gateway",
            "attach internet gateway to the VPC",
            "create subnet/public/0 10.0.0.0/20 in us-east-1a",
            "create subnet/private/0 10.0.16.0/20 in us-east-1a",
            "create subnet/public/1 10.0.32.0/20 in us-east-1b",
            "create subnet/private/1 10.0.48.0/20 in us-east-1b",
            "create route table rtb/public",
            "route 0.0.0.0/0 of rtb/public to the internet gateway",
            "associate subnet/public/0 with rtb/public",
            "associate subnet/public/1 with rtb/public",
            "create security group sg/load-balancer",
            "create security group sg/services",
            "create security group sg/database",
            "authorize 1 ingress rule(s) on sg/load-balancer",
            "authorize 2 ingress rule(s) on sg/services",
            "authorize 1 ingress rule(s) on sg/database",
            "allocate Elastic IP 0 for a NAT gateway",
            "create NAT gateway 0 in public subnet 0",
            "create the private route table of zone 0",
            "associate private subnet 0 with its route table",
            "create the private route table of zone 1",
            "associate private subnet 1 with its route table",
            "create VPC endpoint s3",
            "create load balancer ws-movies-netflux-0f1e2d3c",
            "set idle timeout to 60s",
            "create listener http on port 80",
            "create ECS cluster ws-movies-netflux-0f1e2d3c",
            "create task execution role webstack-exec-movies-netflux-0f1e2d3c",
            "write the inline policy of role webstack-exec-movies-netflux-0f1e2d3c",
            "create the DB subnet group",
            "generate the database password and store it in Secrets Manager",
            "create the database",
        ]
    );
}

#[test]
fn a_converged_stack_plans_nothing() {
    for yaml in [
        NETFLUX,
        "network: {vpcId: vpc-9, publicSubnetIds: [subnet-a], privateSubnetIds: [subnet-b]}",
        r#"network: {cidr: 10.9.0.0/24, availabilityZones: 3}
cluster: {containerInsights: true}
cache: {}
loadBalancer:
  scheme: internal
  idleTimeoutSeconds: 120
  allowedCidrs: [10.0.0.0/8]
  listeners:
    - {name: https, port: 443, protocol: HTTPS, certificateArn: "arn:cert"}
    - {name: http, port: 80, defaultAction: {redirect: {protocol: HTTPS, port: "443", statusCode: HTTP_301}}}"#,
    ] {
        let d = desired(yaml);
        assert_eq!(plan(&d, &converged(&d)), vec![], "{yaml}");
    }
}

#[test]
fn an_adopted_network_is_never_created_or_changed() {
    let d = desired("network: {vpcId: vpc-9, publicSubnetIds: [subnet-a], privateSubnetIds: [subnet-b]}");
    let steps = names(&plan(&d, &ObservedStack::default()));
    assert!(
        steps
            .iter()
            .all(|s| !s.contains("VPC") && !s.contains("subnet") && !s.contains("gateway")),
        "{steps:?}"
    );
}

#[test]
fn drift_is_corrected() {
    type Drift = fn(&mut ObservedStack);
    let cases: &[(&str, Drift, &[&str])] = &[
        (
            "listener deleted by hand",
            |o| o.listeners.clear(),
            &["create listener http on port 80"],
        ),
        (
            "idle timeout changed",
            |o| o.load_balancer.as_mut().unwrap().idle_timeout_seconds = Some(300),
            &["change idle timeout from 300s to 60s"],
        ),
        (
            "ingress rule added by hand",
            |o| {
                o.security_groups[0].ingress.push(RawIngress {
                    from_port: 22,
                    to_port: 22,
                    cidr: Some("0.0.0.0/0".into()),
                    group_id: None,
                })
            },
            &["revoke 1 ingress rule(s) on sg/load-balancer"],
        ),
        (
            "ingress rule removed by hand",
            |o| o.security_groups[2].ingress.clear(),
            &["authorize 1 ingress rule(s) on sg/database"],
        ),
        (
            "services admits a foreign group",
            |o| {
                o.security_groups[1].ingress.push(RawIngress {
                    from_port: 0,
                    to_port: 65535,
                    cidr: None,
                    group_id: Some("sg-stranger".into()),
                })
            },
            &["revoke 1 ingress rule(s) on sg/services"],
        ),
        (
            "default action edited",
            |o| {
                o.listeners[0].default_action = Some(ListenerAction::Fixed {
                    status_code: "200".into(),
                    content_type: None,
                    message_body: None,
                })
            },
            &["modify listener http: default action"],
        ),
        (
            "extra listener",
            |o| {
                let mut extra = o.listeners[0].clone();
                extra.port = 8080;
                extra.arn = "arn:listener/8080".into();
                o.listeners.push(extra);
            },
            &["delete listener on port 8080"],
        ),
        (
            "public subnet association removed",
            |o| o.route_tables[0].associated_subnets.retain(|s| s != "subnet-0"),
            &["associate subnet/public/0 with rtb/public"],
        ),
        (
            "internet gateway detached",
            |o| o.internet_gateway.as_mut().unwrap().attached_vpc = None,
            &["attach internet gateway to the VPC"],
        ),
        (
            "subnet deleted",
            |o| o.subnets.retain(|s| s.component.as_deref() != Some("subnet/private/1")),
            &[
                "create subnet/private/1 10.0.48.0/20 in us-east-1b",
                "associate private subnet 1 with its route table",
            ],
        ),
        (
            "container insights toggled",
            |o| o.cluster.as_mut().unwrap().container_insights = true,
            &["set container insights disabled"],
        ),
        (
            "a subnet's Name tag removed",
            |o| {
                o.subnets[1].tags.remove("Name");
            },
            &["restore tags Name on subnet/private/0 (subnet-1)"],
        ),
        (
            "a subnet's ownership tags removed (found by VPC and CIDR, not created twice)",
            |o| {
                o.subnets[1].tags.clear();
                o.subnets[1].component = None;
            },
            &[
                "restore tags Name, team, webstack.io/cluster, webstack.io/component, webstack.io/managed-by, webstack.io/owner, webstack.io/uid on subnet/private/0 (subnet-1)",
            ],
        ),
        (
            "a user tag changed on the load balancer",
            |o| {
                o.load_balancer
                    .as_mut()
                    .unwrap()
                    .tags
                    .insert("team".into(), "someone-else".into());
            },
            &["restore tags team on load-balancer (arn:lb)"],
        ),
        (
            "a security group attached to the load balancer by hand",
            |o| {
                o.load_balancer
                    .as_mut()
                    .unwrap()
                    .security_groups
                    .push("sg-stranger".into())
            },
            &["attach security group sg/load-balancer (only) to the load balancer"],
        ),
        (
            "cluster deleted",
            |o| o.cluster.as_mut().unwrap().active = false,
            &["create ECS cluster ws-movies-netflux-0f1e2d3c"],
        ),
    ];
    let d = desired(NETFLUX);
    for (what, drift, want) in cases {
        let mut o = converged(&d);
        drift(&mut o);
        assert_eq!(names(&plan(&d, &o)), *want, "{what}");
    }
}

#[test]
fn spec_changes_become_steps() {
    let before = desired(NETFLUX);
    let o = converged(&before);
    let cases = [
        (
            "a listener added",
            NETFLUX.replace("    - {name: http", "    - {name: alt, port: 8080}\n    - {name: http"),
            vec![
                "authorize 1 ingress rule(s) on sg/load-balancer",
                "create listener alt on port 8080",
            ],
        ),
        (
            "the listener removed",
            NETFLUX.replace("port: 80, ", "port: 81, "),
            vec![
                "revoke 1 ingress rule(s) on sg/load-balancer",
                "authorize 1 ingress rule(s) on sg/load-balancer",
                "delete listener on port 80",
                "create listener http on port 81",
            ],
        ),
        (
            // The database goes first (after a final snapshot, the default); its group once it is gone.
            "the database dropped",
            NETFLUX.replace("database: {engine: postgres}", ""),
            vec![
                "delete database ws-movies-netflux-0f1e2d3c after a final snapshot ws-movies-netflux-0f1e2d3c-final-<UTC time of deletion>",
                "wait until the database is deleted",
                "delete the DB subnet group",
                "delete the database secret",
                "delete the database connection Secret",
            ],
        ),
        (
            "scheme changed",
            NETFLUX.replace("loadBalancer:\n", "loadBalancer:\n  scheme: internal\n"),
            vec![
                "delete listener on port 80",
                "delete load balancer arn:lb",
                "create load balancer ws-movies-netflux-0f1e2d3c replacing the current one (scheme cannot change in place)",
                "set idle timeout to 60s",
                "create listener http on port 80",
            ],
        ),
    ];
    for (what, yaml, want) in cases {
        assert_eq!(names(&plan(&desired(&yaml), &o)), want, "{what}");
    }
}

#[test]
fn deletion_runs_in_reverse_dependency_order() {
    let d = desired(NETFLUX);
    let steps = names(&plan_delete(&converged(&d)));
    assert_eq!(
        steps,
        [
            "delete listener on port 80",
            "delete load balancer arn:lb",
            "delete security group sg/database (sg-database)",
            "delete security group sg/services (sg-services)",
            "delete security group sg/load-balancer (sg-load-balancer)",
            "delete subnet subnet-0",
            "delete subnet subnet-1",
            "delete subnet subnet-2",
            "delete subnet subnet-3",
            "remove route table association rtbassoc-0",
            "remove route table association rtbassoc-2",
            "delete route table rtb-1",
            "remove route table association rtbassoc-private-0",
            "delete route table rtb-private-0",
            "remove route table association rtbassoc-private-1",
            "delete route table rtb-private-1",
            "detach internet gateway igw-1 from vpc-1",
            "delete internet gateway igw-1",
            "delete VPC vpc-1",
            "delete ECS cluster arn:cluster",
        ]
    );
    assert_eq!(
        plan_delete(&ObservedStack::default()),
        vec![],
        "nothing left: nothing to do"
    );
}

#[test]
fn deletion_keeps_an_adopted_vpc() {
    let mut o = converged(&desired(NETFLUX));
    o.vpc.as_mut().unwrap().managed = false;
    o.subnets.iter_mut().for_each(|s| s.component = None);
    o.internet_gateway = None;
    o.route_tables.clear();
    let steps = names(&plan_delete(&o));
    assert!(
        steps.iter().all(|s| !s.contains("VPC") && !s.contains("subnet")),
        "{steps:?}"
    );
}

#[test]
fn a_pending_listener_is_neither_created_changed_nor_deleted() {
    let yaml = NETFLUX.replace(
        "defaultAction: {fixedResponse: {statusCode: 404, contentType: text/plain, messageBody: \":(\"}}",
        "defaultAction: {forward: {targetGroups: [{name: movies}]}}",
    );
    assert_ne!(yaml, NETFLUX);
    let d = desired(&yaml);
    assert_eq!(d.pending(), ["movies"]);
    // Not created while pending ...
    let fresh = names(&plan(&d, &ObservedStack::default()));
    assert!(fresh.iter().all(|s| !s.contains("listener")), "{fresh:?}");
    // ... and an existing one is left as it is (no deletion, no modification).
    let o = converged(&desired(NETFLUX));
    assert_eq!(names(&plan(&d, &o)), Vec::<String>::new());
}
