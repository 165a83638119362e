use super::*;

fn owner() -> Owner {
    Owner {
        cluster_id: "test".into(),
        namespace: "movies".into(),
        kind: "TargetGroup",
        name: "movies".into(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    }
}

fn desired(yaml: &str) -> DesiredTargetGroup {
    let spec: TargetGroupSpec = serde_yaml::from_str(yaml).expect("spec");
    validate(
        &spec,
        &owner(),
        "vpc-1",
        &TagMap::from([("team".into(), "movies".into())]),
    )
}

/// Reference architecture 4's target group.
const NETFLUX: &str = "stackRef: {name: netflux}
port: 8080
healthCheck: {path: /actuator/health, healthyThreshold: 3, unhealthyThreshold: 3, timeoutSeconds: 5, intervalSeconds: 30, matcher: '200'}
deregistrationDelaySeconds: 30";

fn observed(d: &DesiredTargetGroup) -> ObservedTargetGroup {
    ObservedTargetGroup {
        arn: "arn:tg/new".into(),
        name: d.name.clone(),
        health: d.health.clone(),
        attributes: d.attributes.clone(),
        tags: d.tags.clone(),
        load_balancer_arns: vec!["arn:lb".into()],
        protocol: d.protocol.clone(),
        port: d.port,
        target_type: d.target_type.clone(),
        vpc_id: d.vpc_id.clone(),
    }
}

#[test]
fn validates_every_field() {
    let d = desired(NETFLUX);
    assert_eq!(
        (d.protocol.as_str(), d.port, d.target_type.as_str(), d.vpc_id.as_str()),
        ("HTTP", 8080, "ip", "vpc-1")
    );
    assert_eq!(
        d.health,
        HealthCheck {
            path: "/actuator/health".into(),
            protocol: "HTTP".into(),
            port: "traffic-port".into(),
            healthy_threshold: 3,
            unhealthy_threshold: 3,
            timeout_seconds: 5,
            interval_seconds: 30,
            matcher: "200".into(),
        }
    );
    assert_eq!(d.attributes["deregistration_delay.timeout_seconds"], "30");
    assert_eq!(d.attributes["stickiness.enabled"], "false");
    assert!(
        d.name.len() <= 32 && d.name.starts_with("tg") && d.name.ends_with("-0f1e2d3c"),
        "{}",
        d.name
    );
    assert_eq!(d.tags["team"], "movies");
    assert_eq!(d.tags["webstack.io/owner"], "movies/TargetGroup/movies");

    let sticky = desired(
        "stackRef: {name: s}\nport: 80\nstickiness: {enabled: true, durationSeconds: 600}\nslowStartSeconds: 60",
    );
    assert_eq!(sticky.attributes["stickiness.type"], "lb_cookie");
    assert_eq!(sticky.attributes["stickiness.lb_cookie.duration_seconds"], "600");
    assert_eq!(sticky.attributes["slow_start.duration_seconds"], "60");
}

#[test]
fn the_name_changes_exactly_when_an_immutable_field_does() {
    let base = desired(NETFLUX).name;
    let same = [
        NETFLUX.replace("intervalSeconds: 30", "intervalSeconds: 10"),
        NETFLUX.replace("deregistrationDelaySeconds: 30", "deregistrationDelaySeconds: 31"),
    ];
    for yaml in same {
        assert_ne!(yaml, NETFLUX, "the row changes something");
        assert_eq!(desired(&yaml).name, base, "{yaml}");
    }
    let other = [
        NETFLUX.replace("port: 8080", "port: 8081"),
        format!("{NETFLUX}\nprotocol: HTTPS"),
        format!("{NETFLUX}\ntargetType: instance"),
    ];
    for yaml in other {
        assert_ne!(desired(&yaml).name, base, "{yaml}");
    }
    let spec: TargetGroupSpec = serde_yaml::from_str(NETFLUX).unwrap();
    assert_ne!(
        validate(&spec, &owner(), "vpc-2", &TagMap::new()).name,
        base,
        "another VPC"
    );
}

/// (what, the group by the desired name, replaced groups, expected steps)
type Row<'a> = (
    &'a str,
    Option<&'a ObservedTargetGroup>,
    Vec<ObservedTargetGroup>,
    Vec<&'a str>,
);

#[test]
fn plans() {
    let d = desired(NETFLUX);
    let o = observed(&d);
    let mut health = o.clone();
    health.health.interval_seconds = 10;
    health.health.matcher = "200-299".into();
    let mut attrs = o.clone();
    attrs
        .attributes
        .insert("deregistration_delay.timeout_seconds".into(), "300".into());
    let mut tags = o.clone();
    tags.tags.remove("team");
    let old = ObservedTargetGroup {
        arn: "arn:tg/old".into(),
        port: 80,
        ..o.clone()
    };
    let cases: Vec<Row> = vec![
        ("nothing yet", None, vec![], vec!["create target group"]),
        ("converged", Some(&o), vec![], vec![]),
        (
            "health check edited",
            Some(&health),
            vec![],
            vec!["modify health check: interval, matcher"],
        ),
        (
            "deregistration delay edited",
            Some(&attrs),
            vec![],
            vec!["set attributes deregistration_delay.timeout_seconds=30"],
        ),
        ("a tag removed", Some(&tags), vec![], vec!["restore tags team"]),
        (
            // The delete is refused by AWS while a listener or rule still forwards to the old one.
            "replaced: create the new one, then try deleting the old",
            None,
            vec![old.clone()],
            vec![
                "create target group replacing the current one (port cannot change in place; the old group is \
                 deleted once nothing forwards to it)",
                "delete target group arn:tg/old",
            ],
        ),
        (
            "replaced earlier: keep trying",
            Some(&o),
            vec![old],
            vec!["delete target group arn:tg/old"],
        ),
    ];
    for (what, current, replaced, want) in cases {
        let got: Vec<String> = plan(&d, current, &replaced).iter().map(ToString::to_string).collect();
        assert_eq!(got, want, "{what}");
    }
}

/// What `plan` shows: the fields with their old and new values, a replacement as one.
#[test]
fn steps_carry_old_and_new_values() {
    use crate::reconcile::Step as _;
    use crate::reconcile::change::Op;
    let d = desired(NETFLUX);
    let mut o = observed(&d);
    o.health.healthy_threshold = 5;
    let steps = plan(&d, Some(&o), &[]);
    let fields: Vec<String> = steps[0].fields().iter().map(ToString::to_string).collect();
    assert_eq!(fields, ["healthy threshold: 5 → 3"]);
    assert_eq!(steps[0].op(), Op::Update);
    let old = ObservedTargetGroup {
        arn: "arn:tg/old".into(),
        port: 80,
        protocol: "HTTPS".into(),
        ..observed(&d)
    };
    let steps = plan(&d, None, &[old]);
    assert_eq!(steps[0].op(), Op::Replace);
    let fields: Vec<String> = steps[0].fields().iter().map(ToString::to_string).collect();
    assert_eq!(fields, ["protocol: HTTPS → HTTP", "port: 80 → 8080"]);
    assert_eq!(plan(&d, None, &[])[0].op(), Op::Create);
}

/// Deletion works from what observe found by name and tags, whatever status says (it may be
/// empty after a lost write): every group is deleted, or untagged with `Retain`.
#[test]
fn cleanup_deletes_every_group_found() {
    let found = ObservedGroups {
        all: vec!["arn:tg/current".into(), "arn:tg/replaced".into()],
        ..ObservedGroups::default()
    };
    let names = |steps: Vec<Step>| steps.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        names(plan_cleanup(&found, DeletionPolicy::Delete)),
        [
            "delete target group arn:tg/current",
            "delete target group arn:tg/replaced"
        ]
    );
    assert_eq!(
        names(plan_cleanup(&found, DeletionPolicy::Retain)),
        ["remove the ownership tags of arn:tg/current, arn:tg/replaced"]
    );
    assert_eq!(plan_cleanup(&ObservedGroups::default(), DeletionPolicy::Delete), vec![]);
}
