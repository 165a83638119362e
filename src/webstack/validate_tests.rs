//! Table tests of the spec's validation; `owner`, `spec` and `zones` are fixtures other tests use.

use super::*;
use crate::api::WebStackSpec;

pub(crate) fn owner() -> Owner {
    Owner {
        cluster_id: "test".into(),
        namespace: "movies".into(),
        kind: "WebStack",
        name: "netflux".into(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    }
}

pub(crate) fn zones() -> Vec<String> {
    ["us-east-1a", "us-east-1b", "us-east-1c"].map(String::from).to_vec()
}

pub(crate) fn spec(yaml: &str) -> WebStackSpec {
    serde_yaml::from_str(yaml).expect("spec YAML")
}

fn desired(yaml: &str) -> Result<DesiredStack, InvalidSpec> {
    let tgs = BTreeMap::from([("movies".to_string(), "arn:tg/movies".to_string())]);
    validate(&spec(yaml), owner(), &zones(), &tgs)
}

/// (component, CIDR, zone)
type SubnetRow = (&'static str, &'static str, &'static str);

#[test]
fn carves_one_public_and_one_private_subnet_per_zone() {
    let cases: &[(&str, &[SubnetRow])] = &[
        (
            "network: {cidr: 10.0.0.0/16}",
            &[
                ("subnet/public/0", "10.0.0.0/20", "us-east-1a"),
                ("subnet/private/0", "10.0.16.0/20", "us-east-1a"),
                ("subnet/public/1", "10.0.32.0/20", "us-east-1b"),
                ("subnet/private/1", "10.0.48.0/20", "us-east-1b"),
            ],
        ),
        (
            "network: {cidr: 10.1.0.0/24, availabilityZones: 3}",
            &[
                ("subnet/public/0", "10.1.0.0/28", "us-east-1a"),
                ("subnet/private/0", "10.1.0.16/28", "us-east-1a"),
                ("subnet/public/1", "10.1.0.32/28", "us-east-1b"),
                ("subnet/private/1", "10.1.0.48/28", "us-east-1b"),
                ("subnet/public/2", "10.1.0.64/28", "us-east-1c"),
                ("subnet/private/2", "10.1.0.80/28", "us-east-1c"),
            ],
        ),
    ];
    for (yaml, want) in cases {
        let DesiredNetwork::Create { subnets, .. } = desired(yaml).unwrap().network else {
            panic!("create")
        };
        let got: Vec<_> = subnets
            .iter()
            .map(|s| (s.component.as_str(), s.cidr.to_string(), s.availability_zone.as_str()))
            .collect();
        let want: Vec<_> = want.iter().map(|(c, n, z)| (*c, n.to_string(), *z)).collect();
        assert_eq!(got, want, "{yaml}");
    }
}

#[test]
fn adding_a_zone_leaves_the_existing_subnets_alone() {
    let two = desired("network: {cidr: 10.0.0.0/16, availabilityZones: 2}").unwrap();
    let three = desired("network: {cidr: 10.0.0.0/16, availabilityZones: 3}").unwrap();
    let (DesiredNetwork::Create { subnets: a, .. }, DesiredNetwork::Create { subnets: b, .. }) =
        (two.network, three.network)
    else {
        panic!("created networks")
    };
    assert_eq!(a[..], b[..4], "zones 0 and 1 keep their blocks");
    assert_eq!(b.len(), 6);
}

#[test]
fn rejects_bad_networks_naming_the_field() {
    let cases = [
        ("network: {cidr: 10.0.0.1/16}", "spec.network.cidr", "host bits"),
        ("network: {cidr: 10.0.0.0/8}", "spec.network.cidr", "/16 to /24"),
        (
            "network: {cidr: 10.0.0.0/16, availabilityZones: 4}",
            "spec.network.availabilityZones",
            "the region has 3",
        ),
        (
            "network: {vpcId: vpc-1, publicSubnetIds: [subnet-1]}",
            "spec.network",
            "privateSubnetIds",
        ),
    ];
    for (yaml, field, message) in cases {
        let err = desired(yaml).unwrap_err();
        assert_eq!(err.field, field, "{yaml}");
        assert!(err.message.contains(message), "{yaml}: {err}");
    }
}

#[test]
fn security_groups_are_least_privilege() {
    let d = desired(
        "network: {cidr: 10.0.0.0/16}
loadBalancer: {allowedCidrs: [0.0.0.0/0, 10.0.0.0/8], listeners: [{name: http, port: 80}, {name: alt, port: 8080}]}
database: {engine: postgres}
cache: {}",
    )
    .unwrap();
    let by_role: BTreeMap<_, _> = d.security_groups.iter().map(|g| (g.role, g.ingress.clone())).collect();
    let cidr = |p, c: &str| Ingress {
        from_port: p,
        to_port: p,
        source: Source::Cidr(c.into()),
    };
    assert_eq!(
        by_role[&SgRole::LoadBalancer],
        BTreeSet::from([
            cidr(80, "0.0.0.0/0"),
            cidr(80, "10.0.0.0/8"),
            cidr(8080, "0.0.0.0/0"),
            cidr(8080, "10.0.0.0/8")
        ])
    );
    let all = |r| Ingress {
        from_port: 0,
        to_port: 65535,
        source: Source::Group(r),
    };
    assert_eq!(
        by_role[&SgRole::Services],
        BTreeSet::from([all(SgRole::LoadBalancer), all(SgRole::Services)])
    );
    let from_services = |p| Ingress {
        from_port: p,
        to_port: p,
        source: Source::Group(SgRole::Services),
    };
    assert_eq!(
        by_role[&SgRole::Database],
        BTreeSet::from([from_services(5432), from_services(6379)])
    );

    let no_data = desired("network: {cidr: 10.0.0.0/16}").unwrap();
    assert!(no_data.security_groups.iter().all(|g| g.role != SgRole::Database));
}

#[test]
fn listener_actions_and_defaults() {
    let d = desired(
        r#"network: {cidr: 10.0.0.0/16}
loadBalancer:
  listeners:
    - {name: plain, port: 80}
    - {name: redirect, port: 81, defaultAction: {redirect: {protocol: HTTPS, port: "443", statusCode: HTTP_301}}}
    - {name: fwd, port: 82, defaultAction: {forward: {targetGroups: [{name: movies, weight: 3}]}}}
    - {name: tls, port: 443, protocol: HTTPS, certificateArn: "arn:cert", defaultAction: {fixedResponse: {statusCode: 503, messageBody: down}}}"#,
    )
    .unwrap();
    let lb = d.load_balancer.unwrap();
    assert_eq!(lb.name, "ws-movies-netflux-0f1e2d3c");
    assert!(!lb.internal);
    assert_eq!(lb.idle_timeout_seconds, 60);
    let actions: Vec<_> = lb.listeners.iter().map(|l| l.default_action.clone()).collect();
    assert_eq!(
        actions,
        vec![
            ListenerAction::Fixed {
                status_code: "404".into(),
                content_type: Some("text/plain".into()),
                message_body: Some("not found".into())
            },
            ListenerAction::Redirect {
                protocol: "HTTPS".into(),
                port: "443".into(),
                host: "#{host}".into(),
                path: "/#{path}".into(),
                query: "#{query}".into(),
                status_code: "HTTP_301".into()
            },
            ListenerAction::Forward {
                target_groups: vec![("arn:tg/movies".into(), 3)]
            },
            ListenerAction::Fixed {
                status_code: "503".into(),
                content_type: None,
                message_body: Some("down".into())
            },
        ]
    );
    assert_eq!(lb.listeners[3].certificate_arn.as_deref(), Some("arn:cert"));
}

#[test]
fn rejects_bad_listeners_naming_the_field() {
    let cases = [
        (
            "network: {cidr: 10.0.0.0/16}\nloadBalancer: {listeners: [{name: a, port: 80}, {name: b, port: 80}]}",
            "spec.loadBalancer.listeners[1].port",
        ),
        (
            "network: {cidr: 10.0.0.0/16}\nloadBalancer: {listeners: [{name: a, port: 443, protocol: HTTPS}]}",
            "spec.loadBalancer.listeners[0].certificateArn",
        ),
    ];
    for (yaml, field) in cases {
        assert_eq!(desired(yaml).unwrap_err().field, field, "{yaml}");
    }
}

#[test]
fn an_adopted_network_must_exist_as_named() {
    use crate::model::stack::{ObservedStack, ObservedSubnet, ObservedVpc};
    let d = desired("network: {vpcId: vpc-1, publicSubnetIds: [subnet-a, subnet-b], privateSubnetIds: [subnet-c]}")
        .unwrap();
    let sub = |id: &str, vpc: &str| ObservedSubnet {
        id: id.into(),
        vpc_id: vpc.into(),
        cidr: String::new(),
        availability_zone: String::new(),
        component: None,
        tags: Default::default(),
    };
    let vpc = Some(ObservedVpc {
        id: "vpc-1".into(),
        cidr: "10.0.0.0/16".into(),
        managed: false,
        tags: Default::default(),
    });
    let all = vec![
        sub("subnet-a", "vpc-1"),
        sub("subnet-b", "vpc-1"),
        sub("subnet-c", "vpc-1"),
    ];
    let ok = ObservedStack {
        vpc: vpc.clone(),
        subnets: all.clone(),
        ..Default::default()
    };
    assert_eq!(check_adopted(&d, &ok), Ok(()));
    let cases = [
        (
            ObservedStack {
                subnets: all.clone(),
                ..Default::default()
            },
            "spec.network.vpcId",
            "does not exist",
        ),
        (
            ObservedStack {
                vpc: vpc.clone(),
                subnets: all[..2].to_vec(),
                ..Default::default()
            },
            "spec.network.privateSubnetIds[0]",
            "subnet subnet-c does not exist",
        ),
        (
            ObservedStack {
                vpc: vpc.clone(),
                subnets: vec![
                    sub("subnet-a", "vpc-1"),
                    sub("subnet-b", "vpc-9"),
                    sub("subnet-c", "vpc-1"),
                ],
                ..Default::default()
            },
            "spec.network.publicSubnetIds[1]",
            "subnet subnet-b is in vpc-9, not in vpc-1",
        ),
    ];
    for (observed, field, message) in cases {
        let err = check_adopted(&d, &observed).unwrap_err();
        assert_eq!(err.field, field);
        assert!(err.message.contains(message), "{err}");
    }
    // A created network has nothing to check.
    let created = desired("network: {cidr: 10.0.0.0/16}").unwrap();
    assert_eq!(check_adopted(&created, &ObservedStack::default()), Ok(()));
}

#[test]
fn a_forward_to_a_target_group_not_ready_leaves_the_listener_pending() {
    let d = desired(
        "network: {cidr: 10.0.0.0/16}
loadBalancer: {listeners: [{name: a, port: 80, defaultAction: {forward: {targetGroups: [{name: missing}]}}}, {name: b, port: 81}]}",
    )
    .unwrap();
    let listeners = &d.load_balancer.as_ref().unwrap().listeners;
    assert_eq!(listeners[0].pending.as_deref(), Some("missing"));
    assert_eq!(listeners[1].pending, None);
    assert_eq!(d.pending(), ["missing"]);
}

/// An adopted VPC, and a load balancer named by external-id until it is the stack's, need the
/// administrator's `webstack.io/adoptable` tag naming the namespace and no operator tags.
#[test]
fn adoption_needs_the_adoptable_tag() {
    use crate::model::ownership::MANAGED_BY;
    use crate::model::stack::{ObservedLoadBalancer, ObservedStack, ObservedVpc};
    use crate::model::tenancy::ADOPTABLE;
    let tags = |pairs: &[(&str, &str)]| -> crate::model::TagMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let adopt = desired("network: {vpcId: vpc-1, publicSubnetIds: [subnet-a], privateSubnetIds: [subnet-c]}").unwrap();
    let vpc = |t: crate::model::TagMap| ObservedStack {
        vpc: Some(ObservedVpc {
            id: "vpc-1".into(),
            cidr: "10.0.0.0/16".into(),
            managed: false,
            tags: t,
        }),
        ..Default::default()
    };
    assert_eq!(check_adoption(&adopt, &vpc(tags(&[(ADOPTABLE, "movies")]))), Ok(()));
    assert_eq!(
        check_adoption(&adopt, &vpc(tags(&[(ADOPTABLE, "books movies")]))),
        Ok(())
    );
    for (t, rule) in [
        (tags(&[]), "adopt-tagged-only"),
        (tags(&[(ADOPTABLE, "books")]), "adopt-tagged-only"),
        (
            tags(&[(ADOPTABLE, "movies"), (MANAGED_BY, "webstack-operator")]),
            "adopt-unmanaged-only",
        ),
    ] {
        let err = check_adoption(&adopt, &vpc(t)).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("spec.network.vpcId", rule));
    }
    // The load balancer: tagged for the namespace, or already the stack's.
    let mut d = desired("network: {cidr: 10.0.0.0/16}").unwrap();
    d.external_load_balancer = Some("arn:lb/shared".into());
    let lb = |t: crate::model::TagMap| ObservedStack {
        load_balancer: Some(ObservedLoadBalancer {
            arn: "arn:lb/shared".into(),
            dns_name: String::new(),
            canonical_hosted_zone_id: String::new(),
            dualstack: false,
            internal: false,
            idle_timeout_seconds: None,
            tags: t,
            vpc_id: "vpc-1".into(),
            state: "active".into(),
            security_groups: Vec::new(),
        }),
        ..Default::default()
    };
    assert_eq!(check_adoption(&d, &lb(tags(&[(ADOPTABLE, "movies")]))), Ok(()));
    let ours = owner().tags(&Default::default(), "load-balancer", "shared");
    assert_eq!(check_adoption(&d, &lb(ours)), Ok(()));
    let err = check_adoption(&d, &lb(tags(&[]))).unwrap_err();
    assert_eq!(err.field, "metadata.annotations[webstack.io/external-id]");
    let mut other = owner();
    other.uid = "another-uid".into();
    let theirs = other.tags(&Default::default(), "load-balancer", "shared");
    assert_eq!(
        check_adoption(&d, &lb(theirs)).unwrap_err().rule,
        "adopt-unmanaged-only"
    );
    // Created network, no external-id: nothing to check.
    assert_eq!(
        check_adoption(&desired("network: {cidr: 10.0.0.0/16}").unwrap(), &vpc(tags(&[]))),
        Ok(())
    );
}

#[test]
fn the_external_id_is_immutable_once_used() {
    let adopted = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/shared/abc";
    let own = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/ws-movies-netflux/abc";
    let name = "ws-movies-netflux";
    let ok = [
        (None, None),
        (Some(adopted), None),
        (Some(adopted), Some(adopted)),
        (None, Some(own)),
    ];
    for (annotation, recorded) in ok {
        assert_eq!(
            check_external_id(annotation, recorded, name),
            Ok(()),
            "{annotation:?} {recorded:?}"
        );
    }
    let other = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/other/def";
    for (annotation, recorded, says) in [
        (Some(other), Some(adopted), "cannot change once set"),
        (Some(adopted), Some(own), "cannot change once set"),
        (None, Some(adopted), "cannot be removed"),
    ] {
        let err = check_external_id(annotation, recorded, name).unwrap_err();
        assert_eq!(err.field, "metadata.annotations[webstack.io/external-id]");
        assert!(err.message.contains(says), "{err}");
    }
}
