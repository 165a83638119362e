//! Table tests of the flow-logs planner.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::model::flowlogs::{DELIVERY_ROLE, ObservedLogGroup, POLICY_NAME, role_policy, trust_policy};
use crate::model::role::{ObservedRole, RoleChange};

const GROUP: &str = "/webstack/movies/netflux-0f1e2d3c/vpc-flow-logs";
const ROLE: &str = "webstack-flowlogs-movies-netflux-0f1e2d3c";

fn want() -> DesiredFlowLogs {
    DesiredFlowLogs {
        vpc_id: Some("vpc-1".into()),
        log_group: GROUP.into(),
        region: "eu-west-1".into(),
        retention_days: 30,
        traffic_type: "ALL",
        role_name: ROLE.into(),
    }
}

fn tags(component: &str) -> TagMap {
    BTreeMap::from([
        ("webstack.io/uid".to_string(), "0f1e2d3c".to_string()),
        ("webstack.io/component".to_string(), component.to_string()),
    ])
}

fn cx() -> Context {
    Context {
        log_group_tags: tags(LOG_GROUP),
        role: want().delivery_role(&crate::webstack::validate::tests::owner(), tags(super::ROLE)),
    }
}

/// A step of the delivery role.
fn role(change: RoleChange) -> FlowLogStep {
    FlowLogStep::Role(RoleStep::new(DELIVERY_ROLE, ROLE, change))
}

fn role_arn() -> String {
    format!("arn:aws:iam::123456789012:role/{ROLE}")
}

fn flow_log(id: &str, traffic: &str) -> ObservedFlowLog {
    ObservedFlowLog {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        traffic_type: traffic.into(),
        log_group: Some(GROUP.into()),
        role_arn: Some(role_arn()),
        delivery: Some("SUCCESS".into()),
        tags: tags(FLOW_LOG),
    }
}

/// Everything in place, as a deep read sees it.
fn converged() -> ObservedFlowLogs {
    ObservedFlowLogs {
        read: true,
        flow_logs: vec![flow_log("fl-1", "ALL")],
        log_group: Some(ObservedLogGroup {
            name: GROUP.into(),
            arn: format!("arn:aws:logs:eu-west-1:123456789012:log-group:{GROUP}"),
            retention: Some(30),
            tags: tags(LOG_GROUP),
        }),
        role: Some(cx().role.observed(role_arn())),
    }
}

fn plan_of(o: &ObservedFlowLogs) -> Vec<FlowLogStep> {
    plan(&want(), o, &cx())
}

#[test]
fn from_nothing_the_group_then_the_role_then_the_flow_log() {
    assert_eq!(
        plan_of(&ObservedFlowLogs::default()),
        [
            FlowLogStep::CreateLogGroup { name: GROUP.into() },
            FlowLogStep::SetRetention {
                name: GROUP.into(),
                from: None,
                to: 30
            },
            role(RoleChange::Create),
            role(RoleChange::PutPolicy),
            FlowLogStep::CreateFlowLog { traffic_type: "ALL" },
        ]
    );
}

#[test]
fn on_a_vpc_being_created_the_flow_log_follows_it_and_stale_ones_go() {
    let mut w = want();
    w.vpc_id = None;
    let mut o = converged();
    o.flow_logs[0].vpc_id = "vpc-deleted-by-hand".into();
    assert_eq!(
        plan(&w, &o, &cx()),
        [
            FlowLogStep::DeleteFlowLog {
                id: "fl-1".into(),
                why: "on another VPC"
            },
            FlowLogStep::CreateFlowLog { traffic_type: "ALL" },
        ]
    );
}

#[test]
fn converged_is_quiet_read_deep_or_not() {
    assert_eq!(plan_of(&converged()), []);
    // A steady pass: the role known from the flow log, nothing of it read.
    let mut o = converged();
    o.role = Some(ObservedRole::known(DELIVERY_ROLE, ROLE, role_arn()));
    o.log_group.as_mut().unwrap().tags.clear();
    assert_eq!(plan_of(&o), []);
}

#[test]
fn a_traffic_type_change_replaces_the_flow_log() {
    let mut w = want();
    w.traffic_type = "REJECT";
    assert_eq!(
        plan(&w, &converged(), &cx()),
        [
            FlowLogStep::DeleteFlowLog {
                id: "fl-1".into(),
                why: "replaced: the traffic type changed"
            },
            FlowLogStep::CreateFlowLog { traffic_type: "REJECT" },
        ]
    );
}

#[test]
fn a_flow_log_to_another_group_or_role_is_replaced_and_duplicates_go() {
    let mut o = converged();
    let mut elsewhere = flow_log("fl-2", "ALL");
    elsewhere.log_group = Some("/someone/else".into());
    let dup = flow_log("fl-3", "ALL");
    o.flow_logs.push(elsewhere);
    o.flow_logs.push(dup);
    assert_eq!(
        plan_of(&o),
        [
            FlowLogStep::DeleteFlowLog {
                id: "fl-2".into(),
                why: "replaced: its destination or role changed"
            },
            FlowLogStep::DeleteFlowLog {
                id: "fl-3".into(),
                why: "a duplicate"
            },
        ]
    );
}

#[test]
fn retention_trust_policy_and_tags_drift_is_corrected() {
    let mut o = converged();
    o.log_group.as_mut().unwrap().retention = Some(7);
    o.log_group.as_mut().unwrap().tags.remove("webstack.io/component");
    let r = o.role.as_mut().unwrap();
    r.trust = Some(json!({"Statement": []}));
    r.policy = Some(None);
    r.tags
        .as_mut()
        .unwrap()
        .insert("webstack.io/uid".into(), "other".into());
    assert_eq!(
        plan_of(&o),
        [
            FlowLogStep::SetRetention {
                name: GROUP.into(),
                from: Some(7),
                to: 30
            },
            FlowLogStep::RestoreLogGroupTags {
                name: GROUP.into(),
                keys: vec!["webstack.io/component".into()]
            },
            role(RoleChange::RestoreTags {
                keys: vec!["webstack.io/uid".into()]
            }),
            role(RoleChange::UpdateTrust),
            role(RoleChange::PutPolicy),
        ]
    );
}

#[test]
fn a_retention_change_is_one_call() {
    let mut w = want();
    w.retention_days = 365;
    assert_eq!(
        plan(&w, &converged(), &cx()),
        [FlowLogStep::SetRetention {
            name: GROUP.into(),
            from: Some(30),
            to: 365
        }]
    );
}

#[test]
fn the_role_policy_names_only_the_stacks_group() {
    let p = role_policy(&want());
    let arn = format!("arn:aws:logs:eu-west-1:*:log-group:{GROUP}");
    assert_eq!(p["Statement"][0]["Resource"], json!([arn.clone(), format!("{arn}:*")]));
    assert_eq!(p["Statement"][1]["Action"], "logs:DescribeLogGroups");
    assert_eq!(
        trust_policy()["Statement"][0]["Principal"]["Service"],
        "vpc-flow-logs.amazonaws.com"
    );
    assert_eq!(POLICY_NAME, "webstack-flow-logs");
}

#[test]
fn disabling_deletes_the_flow_log_and_role_and_keeps_the_history() {
    assert_eq!(
        plan_disabled(&converged()),
        [
            FlowLogStep::DeleteFlowLog {
                id: "fl-1".into(),
                why: "flow logs are disabled"
            },
            role(RoleChange::Delete),
        ]
    );
    assert_eq!(plan_disabled(&ObservedFlowLogs::default()), []);
}

#[test]
fn deletion_removes_everything_and_retain_untags_everything() {
    assert_eq!(
        plan_cleanup(&converged(), false),
        [
            FlowLogStep::DeleteFlowLog {
                id: "fl-1".into(),
                why: "the stack is deleted"
            },
            role(RoleChange::Delete),
            FlowLogStep::DeleteLogGroup { name: GROUP.into() },
        ]
    );
    assert_eq!(
        plan_cleanup(&converged(), true),
        [
            FlowLogStep::UntagFlowLogs {
                ids: vec!["fl-1".into()]
            },
            FlowLogStep::UntagLogGroup {
                arn: format!("arn:aws:logs:eu-west-1:123456789012:log-group:{GROUP}")
            },
            role(RoleChange::Untag),
        ]
    );
}
