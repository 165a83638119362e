//! Table tests of the flow-logs planner.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::model::execution::ObservedRole;
use crate::model::flowlogs::{ObservedLogGroup, POLICY_NAME};

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

fn all_tags() -> Tags {
    Tags {
        log_group: tags(LOG_GROUP),
        role: tags(super::ROLE),
    }
}

fn flow_log(id: &str, traffic: &str) -> ObservedFlowLog {
    ObservedFlowLog {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        traffic_type: traffic.into(),
        log_group: Some(GROUP.into()),
        role_arn: Some(format!("arn:aws:iam::123456789012:role/{ROLE}")),
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
        role: Some(ObservedRole {
            name: ROLE.into(),
            arn: format!("arn:aws:iam::123456789012:role/{ROLE}"),
            tags: tags(super::ROLE),
            trust: Some(trust_policy()),
            policy: Some(role_policy(&want())),
        }),
        role_read: true,
    }
}

fn plan_of(o: &ObservedFlowLogs) -> Vec<FlowLogStep> {
    plan(&want(), o, &all_tags())
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
            FlowLogStep::CreateRole { name: ROLE.into() },
            FlowLogStep::PutRolePolicy { name: ROLE.into() },
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
        plan(&w, &o, &all_tags()),
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
    o.role_read = false;
    let role = o.role.as_mut().unwrap();
    role.tags.clear();
    role.trust = None;
    role.policy = None;
    o.log_group.as_mut().unwrap().tags.clear();
    assert_eq!(plan_of(&o), []);
}

#[test]
fn a_traffic_type_change_replaces_the_flow_log() {
    let mut w = want();
    w.traffic_type = "REJECT";
    assert_eq!(
        plan(&w, &converged(), &all_tags()),
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
    let role = o.role.as_mut().unwrap();
    role.trust = Some(json!({"Statement": []}));
    role.policy = None;
    role.tags.insert("webstack.io/uid".into(), "other".into());
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
            FlowLogStep::RestoreRoleTags {
                name: ROLE.into(),
                keys: vec!["webstack.io/uid".into()]
            },
            FlowLogStep::UpdateTrust { name: ROLE.into() },
            FlowLogStep::PutRolePolicy { name: ROLE.into() },
        ]
    );
}

#[test]
fn a_retention_change_is_one_call() {
    let mut w = want();
    w.retention_days = 365;
    assert_eq!(
        plan(&w, &converged(), &all_tags()),
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
            FlowLogStep::DeleteRole { name: ROLE.into() },
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
            FlowLogStep::DeleteRole { name: ROLE.into() },
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
            FlowLogStep::UntagRole { name: ROLE.into() },
        ]
    );
}
