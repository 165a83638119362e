//! Table tests of the alarms planner.

use serde_json::json;

use super::*;
use crate::model::alarms::{AlarmMetric, GIB, ObservedAlarm, ObservedDashboard, ObservedTopic, Subscription};
use crate::model::stack::ObservedLoadBalancer;
use crate::webstack::fixtures::{converged, desired};
use crate::webstack::parts::Step;

const LB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/ws-movies-netflux-0f1e2d3c/50dc6c495c0c9188";
const DASHBOARD: &str = "arn:aws:cloudwatch::123456789012:dashboard/webstack-movies-netflux-0f1e2d3c";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:webstack-alarms-movies-netflux-0f1e2d3c";

const STACK: &str = r#"
network: {cidr: 10.0.0.0/16}
loadBalancer:
  listeners:
    - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404}}}
database: {engine: postgres}
alarms:
  email: [ops@example.com]
  serviceCpuPercent: 70
"#;

/// The stack of `yaml` with two services, its region filled in as the controller does.
fn stack(yaml: &str) -> DesiredStack {
    let mut d = desired(yaml);
    if let Some(a) = d.alarms.as_mut() {
        a.region = "us-east-1".into();
        a.services = vec![
            WatchedService {
                name: "api".into(),
                ecs_name: "wcs-movies-api-11111111".into(),
            },
            WatchedService {
                name: "web".into(),
                ecs_name: "wcs-movies-web-22222222".into(),
            },
        ];
    }
    d
}

fn load_balancer() -> ObservedLoadBalancer {
    ObservedLoadBalancer {
        arn: LB_ARN.into(),
        dns_name: "lb.example".into(),
        internal: false,
        idle_timeout_seconds: Some(60),
        tags: TagMap::new(),
        vpc_id: "vpc-1".into(),
        state: "active".into(),
        security_groups: Vec::new(),
        canonical_hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
        dualstack: false,
    }
}

/// AWS as it is once the alarms of `d` were applied (tags read: a deep pass).
fn settled(d: &DesiredStack) -> ObservedStack {
    let mut o = converged(d);
    o.load_balancer = Some(load_balancer());
    let a = d.alarms.as_ref().unwrap();
    let tags = d.tags_for(COMPONENT);
    let topic = match &a.topic {
        DesiredTopic::Own { emails, .. } => Some(ObservedTopic {
            arn: TOPIC.into(),
            tags: Some(tags.clone()),
            subscriptions: emails
                .iter()
                .map(|e| Subscription {
                    protocol: "email".into(),
                    endpoint: e.clone(),
                    arn: None,
                })
                .collect(),
        }),
        DesiredTopic::Given { .. } => None,
    };
    let mut observed = ObservedAlarms {
        read: true,
        dashboard_name: a.dashboard.clone(),
        topic,
        dashboard_read: true,
        ..ObservedAlarms::default()
    };
    let defs = desired_alarms(a, &observed, Some(LB_ARN));
    observed.dashboard = Some(ObservedDashboard {
        arn: DASHBOARD.into(),
        body: a.dashboard_body(&defs),
        tags: Some(tags.clone()),
    });
    observed.alarms = defs
        .into_iter()
        .map(|def| ObservedAlarm {
            arn: format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}", def.name),
            def,
            tags: Some(tags.clone()),
        })
        .collect();
    o.alarms = observed;
    o
}

fn alarm_steps(d: &DesiredStack, o: &ObservedStack) -> Vec<AlarmStep> {
    crate::webstack::parts::plan(d, o)
        .into_iter()
        .filter_map(|s| match s {
            Step::Alarms(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn names(steps: &[AlarmStep]) -> Vec<String> {
    steps.iter().map(|s| s.to_string()).collect()
}

const PREFIX: &str = "webstack-movies-netflux-0f1e2d3c/";

#[test]
fn every_threshold_watches_its_resource_with_deterministic_names() {
    let d = stack(STACK);
    let a = d.alarms.as_ref().unwrap();
    assert_eq!(a.prefix, PREFIX);
    assert_eq!(a.dashboard, "webstack-movies-netflux-0f1e2d3c");
    let defs = a.alarms(Some(LB_ARN), Some(TOPIC));
    let by = |what: &str| defs.iter().find(|x| x.name == format!("{PREFIX}{what}")).unwrap();
    let listed: Vec<&str> = defs.iter().map(|x| x.name.strip_prefix(PREFIX).unwrap()).collect();
    assert_eq!(
        listed,
        [
            "load-balancer/5xx-percent",
            "load-balancer/response-time",
            "service/api/cpu",
            "service/api/memory",
            "service/web/cpu",
            "service/web/memory",
            "database/cpu",
            "database/free-storage",
        ]
    );
    let five = by("load-balancer/5xx-percent");
    assert_eq!(
        (five.threshold, five.comparison.as_str()),
        (5.0, "GreaterThanThreshold")
    );
    let AlarmMetric::Math {
        queries, expression, ..
    } = &five.metric
    else {
        panic!("metric math")
    };
    assert_eq!(expression, "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)");
    let metrics: Vec<(&str, &str, &str)> = queries
        .iter()
        .map(|(id, m, stat)| (id.as_str(), m.metric.as_str(), stat.as_str()))
        .collect();
    assert_eq!(
        metrics,
        [
            ("m1", "HTTPCode_Target_5XX_Count", "Sum"),
            ("m2", "RequestCount", "Sum")
        ]
    );
    assert_eq!(
        queries[0].1.dimensions,
        [(
            "LoadBalancer".to_string(),
            "app/ws-movies-netflux-0f1e2d3c/50dc6c495c0c9188".to_string()
        )]
    );
    assert_eq!(by("load-balancer/response-time").threshold, 2.0);
    let cpu = by("service/api/cpu");
    assert_eq!(cpu.threshold, 70.0);
    let AlarmMetric::Single { metric, stat } = &cpu.metric else {
        panic!("single metric")
    };
    assert_eq!((metric.namespace.as_str(), stat.as_str()), ("AWS/ECS", "Average"));
    assert_eq!(
        metric.dimensions,
        [
            ("ClusterName".to_string(), d.cluster.name.clone()),
            ("ServiceName".to_string(), "wcs-movies-api-11111111".to_string())
        ]
    );
    assert_eq!(by("service/web/memory").threshold, 80.0);
    let storage = by("database/free-storage");
    assert_eq!(storage.threshold, 2.0 * GIB);
    assert_eq!(storage.comparison, "LessThanThreshold");
    let AlarmMetric::Single { metric, stat } = &storage.metric else {
        panic!("single metric")
    };
    assert_eq!((metric.metric.as_str(), stat.as_str()), ("FreeStorageSpace", "Minimum"));
    assert_eq!(
        metric.dimensions,
        [(
            "DBInstanceIdentifier".to_string(),
            d.database.as_ref().unwrap().identifier.clone()
        )]
    );
    assert!(defs.iter().all(|x| x.actions == [TOPIC]));
}

#[test]
fn a_new_stack_gets_its_topic_subscription_alarms_and_dashboard() {
    let d = stack(STACK);
    let mut o = converged(&d);
    o.alarms = ObservedAlarms {
        read: true,
        dashboard_read: true,
        ..ObservedAlarms::default()
    };
    // No load balancer yet: its alarms come once it exists.
    let steps = alarm_steps(&d, &o);
    assert_eq!(
        steps[0],
        AlarmStep::CreateTopic {
            name: "webstack-alarms-movies-netflux-0f1e2d3c".into()
        }
    );
    assert_eq!(
        steps[1],
        AlarmStep::Subscribe {
            email: "ops@example.com".into()
        }
    );
    let created: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            AlarmStep::PutAlarm { alarm, changes } if changes.is_empty() => Some(alarm.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 6, "{created:?}");
    assert!(created.iter().all(|n| !n.contains("load-balancer")), "{created:?}");
    assert_eq!(
        steps.last(),
        Some(&AlarmStep::PutDashboard {
            name: "webstack-movies-netflux-0f1e2d3c".into()
        })
    );
    o.load_balancer = Some(load_balancer());
    let with_lb = alarm_steps(&d, &o);
    assert_eq!(
        with_lb
            .iter()
            .filter(|s| matches!(s, AlarmStep::PutAlarm { .. }))
            .count(),
        8
    );
}

#[test]
fn a_settled_stack_plans_nothing_deep_or_not() {
    let d = stack(STACK);
    let o = settled(&d);
    assert_eq!(alarm_steps(&d, &o), []);
    // A steady re-check reads neither tags nor the dashboard.
    let mut steady = o.clone();
    steady.alarms.dashboard_read = false;
    steady.alarms.topic.as_mut().unwrap().tags = None;
    steady.alarms.dashboard = None;
    for a in &mut steady.alarms.alarms {
        a.tags = None;
    }
    assert_eq!(alarm_steps(&d, &steady), []);
}

#[test]
fn threshold_changes_update_the_alarm_and_the_dashboard() {
    let before = stack(STACK);
    let o = settled(&before);
    let cases: [(&str, &str, f64); 6] = [
        ("loadBalancer5xxPercent: 10", "load-balancer/5xx-percent", 10.0),
        ("targetResponseTimeSeconds: 0.5", "load-balancer/response-time", 0.5),
        ("serviceMemoryPercent: 90", "service/api/memory", 90.0),
        ("databaseCpuPercent: 60", "database/cpu", 60.0),
        ("databaseFreeStorageGiB: 10", "database/free-storage", 10.0 * GIB),
        ("serviceCpuPercent: 95", "service/api/cpu", 95.0),
    ];
    for (line, alarm, threshold) in cases {
        let yaml = STACK.replace(
            "  serviceCpuPercent: 70\n",
            &format!("  serviceCpuPercent: 70\n  {line}\n"),
        );
        let yaml = if line.starts_with("serviceCpuPercent") {
            STACK.replace("serviceCpuPercent: 70", line)
        } else {
            yaml
        };
        let after = stack(&yaml);
        let steps = alarm_steps(&after, &o);
        let updates: Vec<&AlarmStep> = steps
            .iter()
            .filter(|s| matches!(s, AlarmStep::PutAlarm { .. }))
            .collect();
        let name = format!("{PREFIX}{alarm}");
        let AlarmStep::PutAlarm { alarm: a, changes } = updates
            .iter()
            .find(|s| matches!(s, AlarmStep::PutAlarm { alarm, .. } if alarm.name == name))
            .unwrap_or_else(|| panic!("{line}: {steps:?}"))
        else {
            unreachable!()
        };
        assert_eq!(changes, &["threshold", "description"], "{line}");
        assert_eq!(a.threshold, threshold, "{line}");
        // Only the alarms of that threshold (cpu of both services for serviceCpuPercent).
        let expected = if line.starts_with("service") { 2 } else { 1 };
        assert_eq!(updates.len(), expected, "{line}: {steps:?}");
        assert!(steps.contains(&AlarmStep::PutDashboard {
            name: "webstack-movies-netflux-0f1e2d3c".into()
        }));
        assert_eq!(
            steps[0].to_string(),
            format!("update alarm {name}: threshold, description"),
            "{line}"
        );
    }
}

#[test]
fn an_alarm_changed_by_hand_is_put_back() {
    let d = stack(STACK);
    let mut o = settled(&d);
    let a = o
        .alarms
        .alarms
        .iter_mut()
        .find(|a| a.def.name.ends_with("database/cpu"))
        .unwrap();
    a.def.actions.clear();
    a.def.evaluation_periods = 1;
    let steps = alarm_steps(&d, &o);
    assert_eq!(
        names(&steps),
        [format!("update alarm {PREFIX}database/cpu: periods, actions")]
    );
}

#[test]
fn alarms_go_with_what_they_watch() {
    let d = stack(STACK);
    let o = settled(&d);
    // The web service is gone, and the database from the spec.
    let mut after = stack(&STACK.replace("database: {engine: postgres}\n", ""));
    after.alarms.as_mut().unwrap().services.truncate(1);
    let steps = alarm_steps(&after, &o);
    assert_eq!(
        steps,
        [
            AlarmStep::DeleteAlarms {
                names: vec![
                    format!("{PREFIX}service/web/cpu"),
                    format!("{PREFIX}service/web/memory"),
                    format!("{PREFIX}database/cpu"),
                    format!("{PREFIX}database/free-storage"),
                ]
            },
            AlarmStep::PutDashboard {
                name: "webstack-movies-netflux-0f1e2d3c".into()
            }
        ]
    );
    // Not read while settled: rewritten all the same, since its graphs changed.
    let mut steady = o.clone();
    steady.alarms.dashboard_read = false;
    steady.alarms.dashboard = None;
    assert_eq!(alarm_steps(&after, &steady), steps);
}

#[test]
fn emails_are_subscribed_and_confirmed_removed_ones_unsubscribed() {
    let d = stack(&STACK.replace("[ops@example.com]", "[ops@example.com, Oncall@Example.com]"));
    let mut o = settled(&stack(STACK));
    o.alarms.topic.as_mut().unwrap().subscriptions = vec![
        Subscription {
            protocol: "email".into(),
            endpoint: "ops@example.com".into(),
            arn: None,
        },
        Subscription {
            protocol: "email".into(),
            endpoint: "old@example.com".into(),
            arn: Some(format!("{TOPIC}:1111")),
        },
        // Pending: AWS refuses to unsubscribe it; it expires unconfirmed.
        Subscription {
            protocol: "email".into(),
            endpoint: "pending@example.com".into(),
            arn: None,
        },
        // Not an email subscription: not the spec's.
        Subscription {
            protocol: "sqs".into(),
            endpoint: "arn:aws:sqs:us-east-1:123456789012:q".into(),
            arn: Some(format!("{TOPIC}:2222")),
        },
    ];
    assert_eq!(
        alarm_steps(&d, &o),
        [
            AlarmStep::Subscribe {
                email: "oncall@example.com".into()
            },
            AlarmStep::Unsubscribe {
                arn: format!("{TOPIC}:1111"),
                email: "old@example.com".into()
            },
        ]
    );
}

#[test]
fn a_given_topic_is_only_named_and_the_own_one_goes() {
    let yaml = STACK.replace(
        "  email: [ops@example.com]\n",
        "  snsTopicArn: arn:aws:sns:us-east-1:123456789012:ops\n",
    );
    let d = stack(&yaml);
    let o = settled(&stack(STACK));
    let steps = alarm_steps(&d, &o);
    assert_eq!(steps[0], AlarmStep::DeleteTopic { arn: TOPIC.into() });
    let puts: Vec<&AlarmStep> = steps
        .iter()
        .filter(|s| matches!(s, AlarmStep::PutAlarm { .. }))
        .collect();
    assert_eq!(puts.len(), 8);
    for p in puts {
        let AlarmStep::PutAlarm { alarm, changes } = p else {
            unreachable!()
        };
        assert_eq!(changes, &["actions"]);
        assert_eq!(alarm.actions, ["arn:aws:sns:us-east-1:123456789012:ops"]);
    }
    // Settled on the given topic: nothing, and no topic of its own.
    let settled_given = settled(&d);
    assert!(settled_given.alarms.topic.is_none());
    assert_eq!(alarm_steps(&d, &settled_given), []);
}

#[test]
fn removed_tags_are_restored_on_the_topic_the_alarms_and_the_dashboard() {
    let d = stack(STACK);
    let mut o = settled(&d);
    o.alarms
        .topic
        .as_mut()
        .unwrap()
        .tags
        .as_mut()
        .unwrap()
        .remove("webstack.io/uid");
    o.alarms.alarms[0]
        .tags
        .as_mut()
        .unwrap()
        .remove("webstack.io/component");
    let dashboard = o.alarms.dashboard.as_mut().unwrap();
    dashboard
        .tags
        .as_mut()
        .unwrap()
        .insert("webstack.io/cluster".into(), "changed".into());
    let steps = alarm_steps(&d, &o);
    assert_eq!(
        names(&steps),
        [
            format!("restore tags webstack.io/uid on topic {TOPIC}"),
            format!("restore tags webstack.io/component on alarm {PREFIX}load-balancer/5xx-percent"),
            format!("restore tags webstack.io/cluster on dashboard {DASHBOARD}"),
        ]
    );
}

#[test]
fn dashboard_drift_is_rewritten_when_read() {
    let d = stack(STACK);
    let mut o = settled(&d);
    o.alarms.dashboard.as_mut().unwrap().body = json!({"widgets": []});
    assert_eq!(
        alarm_steps(&d, &o),
        [AlarmStep::PutDashboard {
            name: "webstack-movies-netflux-0f1e2d3c".into()
        }]
    );
    let body =
        d.alarms
            .as_ref()
            .unwrap()
            .dashboard_body(&desired_alarms(d.alarms.as_ref().unwrap(), &o.alarms, Some(LB_ARN)));
    let widgets = body["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 8);
    assert_eq!(widgets[0]["properties"]["title"], "load-balancer/5xx-percent");
    assert_eq!(widgets[0]["properties"]["region"], "us-east-1");
    assert_eq!(
        widgets[0]["properties"]["metrics"][2][0]["expression"],
        "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)"
    );
    assert_eq!(
        widgets[7]["properties"]["annotations"]["horizontal"][0]["value"],
        json!(2.0 * GIB)
    );
}

#[test]
fn removing_the_alarms_deletes_them_the_dashboard_and_the_topic() {
    let d = stack(STACK);
    let o = settled(&d);
    let without = stack(&STACK[..STACK.find("alarms:").unwrap()]);
    let steps = alarm_steps(&without, &o);
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(matches!(&steps[0], AlarmStep::DeleteAlarms { names } if names.len() == 8));
    assert_eq!(
        steps[1],
        AlarmStep::DeleteDashboard {
            name: "webstack-movies-netflux-0f1e2d3c".into()
        }
    );
    assert_eq!(steps[2], AlarmStep::DeleteTopic { arn: TOPIC.into() });
}

#[test]
fn deletion_takes_the_alarms_first_and_retain_untags() {
    use crate::api::DeletionPolicy;
    use crate::model::data::DataCleanup;
    use crate::webstack::fixtures::cleanup as plan_cleanup;
    let d = stack(STACK);
    let o = settled(&d);
    let data = DataCleanup {
        deletion: crate::model::data::DataDeletion::Delete,
        protection_wanted: false,
    };
    let steps = plan_cleanup(&o, DeletionPolicy::Delete, data);
    let first: Vec<&str> = steps.iter().take(3).map(crate::reconcile::Step::action).collect();
    assert_eq!(first, ["DeleteAlarms", "DeleteDashboards", "DeleteTopic"]);
    let retained = plan_cleanup(&o, DeletionPolicy::Retain, data);
    assert!(matches!(&retained[0], Step::Alarms(AlarmStep::UntagAlarms { arns }) if arns.len() == 8));
    assert_eq!(
        retained[1],
        Step::Alarms(AlarmStep::UntagDashboard { arn: DASHBOARD.into() })
    );
    assert_eq!(retained[2], Step::Alarms(AlarmStep::UntagTopic { arn: TOPIC.into() }));
    assert!(
        !retained
            .iter()
            .any(|s| matches!(s, Step::Alarms(AlarmStep::DeleteDashboard { .. })))
    );
}
