//! Table tests of the role planner, for every case the three roles rely on: the task execution role
//! (always read whole), the flow logs' delivery role and the EC2 instance role (read whole while
//! not settled, known only by what names them on a steady pass).

use serde_json::json;

use super::*;
use crate::model::capacity::{DesiredCapacity, INSTANCE_POLICY, INSTANCE_ROLE, instance_trust_policy};
use crate::model::execution::{EXECUTION_ROLE, POLICY_NAME};
use crate::model::flowlogs::{self, DELIVERY_ROLE, DesiredFlowLogs};
use crate::model::{Owner, execution};

fn owner() -> Owner {
    Owner {
        cluster_id: "test".into(),
        namespace: "movies".into(),
        kind: "WebStack",
        name: "netflux".into(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    }
}

fn tags() -> TagMap {
    TagMap::from([
        ("webstack.io/uid".to_string(), "0f1e2d3c".to_string()),
        ("webstack.io/component".to_string(), "role".to_string()),
    ])
}

fn execution_role() -> DesiredRole {
    let needs = execution::DesiredRole {
        name: "webstack-exec-movies-netflux-0f1e2d3c".into(),
        region: "us-east-1".into(),
        services: Vec::new(),
        repositories: vec!["movies/netflux/posts".into()],
    };
    needs.iam_role(&[], tags())
}

fn delivery_role() -> DesiredRole {
    let flow_logs = DesiredFlowLogs {
        vpc_id: Some("vpc-1".into()),
        log_group: flowlogs::log_group_name(&owner()),
        region: "eu-west-1".into(),
        retention_days: 30,
        traffic_type: "ALL",
        role_name: flowlogs::role_name(&owner()),
    };
    flow_logs.delivery_role(&owner(), tags())
}

fn instance_role() -> DesiredRole {
    let capacity = DesiredCapacity {
        name: "webstack-ec2-movies-netflux-0f1e2d3c".into(),
        instance_type: "t3.small".into(),
        min_size: 1,
        max_size: 4,
        cluster: "netflux".into(),
    };
    capacity.instance_role(&owner(), tags())
}

/// The three roles, by what the tables call them.
fn roles() -> [(&'static str, DesiredRole); 3] {
    [
        ("execution", execution_role()),
        ("delivery", delivery_role()),
        ("instance", instance_role()),
    ]
}

fn step(want: &DesiredRole, change: RoleChange) -> RoleStep {
    RoleStep::new(want.kind, want.name.clone(), change)
}

fn attach(want: &DesiredRole) -> RoleStep {
    step(
        want,
        RoleChange::AttachPolicy {
            arn: INSTANCE_POLICY.into(),
        },
    )
}

fn arn(want: &DesiredRole) -> String {
    format!("arn:aws:iam::123456789012:role/{}", want.name)
}

#[test]
fn the_kinds_and_documents_of_the_three_roles() {
    let e = execution_role();
    assert_eq!((e.kind, e.kind.inline_policy), (EXECUTION_ROLE, Some(POLICY_NAME)));
    assert_eq!(e.description, "webstack-operator: ECS task execution role of one stack");
    assert_eq!(e.trust, execution::trust_policy());
    assert!(e.policy.is_some() && e.managed.is_empty());
    let d = delivery_role();
    assert_eq!(
        (d.kind, d.kind.inline_policy),
        (DELIVERY_ROLE, Some(flowlogs::POLICY_NAME))
    );
    assert_eq!(
        d.description,
        "webstack-operator: VPC flow logs delivery role of movies/netflux"
    );
    assert_eq!(d.trust, flowlogs::trust_policy());
    assert!(d.policy.is_some() && d.managed.is_empty());
    let i = instance_role();
    assert_eq!(i.kind, INSTANCE_ROLE);
    assert_eq!((i.kind.inline_policy, i.kind.managed_policies), (None, true));
    assert_eq!(i.description, "webstack movies/netflux: ECS container instances");
    assert_eq!(i.trust["Statement"][0]["Principal"]["Service"], "ec2.amazonaws.com");
    assert_eq!((i.policy, i.managed), (None, vec![INSTANCE_POLICY.to_string()]));
}

#[test]
fn a_missing_role_is_created_then_given_its_policies() {
    let e = execution_role();
    assert_eq!(
        plan(&e, None),
        [step(&e, RoleChange::Create), step(&e, RoleChange::PutPolicy)]
    );
    let d = delivery_role();
    assert_eq!(
        plan(&d, None),
        [step(&d, RoleChange::Create), step(&d, RoleChange::PutPolicy)]
    );
    let i = instance_role();
    assert_eq!(plan(&i, None), [step(&i, RoleChange::Create), attach(&i)]);
}

#[test]
fn a_converged_role_plans_nothing_read_whole_or_only_known() {
    for (what, want) in roles() {
        let read = want.observed(arn(&want));
        assert_eq!(plan(&want, Some(&read)), [], "{what} read whole");
        let known = ObservedRole::known(want.kind, want.name.clone(), arn(&want));
        assert_eq!(plan(&want, Some(&known)), [], "{what} known only");
    }
}

#[test]
fn drift_read_on_this_pass_is_corrected_in_order_tags_trust_policy_managed() {
    type Edit = fn(&mut ObservedRole);
    let no_uid: Edit = |o| {
        o.tags.as_mut().unwrap().remove("webstack.io/uid");
    };
    let other_uid: Edit = |o| {
        o.tags
            .as_mut()
            .unwrap()
            .insert("webstack.io/uid".into(), "other".into());
    };
    let trust: Edit = |o| o.trust = Some(json!({"Version": "2012-10-17", "Statement": []}));
    let policy: Edit = |o| o.policy = Some(Some(json!({"Statement": [{"Action": "*"}]})));
    let policy_deleted: Edit = |o| o.policy = Some(None);
    let detached: Edit = |o| o.managed = Some(vec!["arn:aws:iam::aws:policy/Other".into()]);
    let everything: Edit = |o| {
        o.tags.as_mut().unwrap().remove("webstack.io/uid");
        o.trust = Some(json!({}));
        o.policy = Some(None);
        o.managed = o.managed.as_ref().map(|_| Vec::new());
    };
    let uid = || RoleChange::RestoreTags {
        keys: vec!["webstack.io/uid".into()],
    };
    let cases: Vec<(&str, DesiredRole, Edit, Vec<RoleChange>)> = vec![
        ("execution: tag removed", execution_role(), no_uid, vec![uid()]),
        ("execution: tag changed", execution_role(), other_uid, vec![uid()]),
        (
            "execution: trust",
            execution_role(),
            trust,
            vec![RoleChange::UpdateTrust],
        ),
        (
            "execution: policy",
            execution_role(),
            policy,
            vec![RoleChange::PutPolicy],
        ),
        (
            "execution: policy deleted",
            execution_role(),
            policy_deleted,
            vec![RoleChange::PutPolicy],
        ),
        (
            "execution: all",
            execution_role(),
            everything,
            vec![uid(), RoleChange::UpdateTrust, RoleChange::PutPolicy],
        ),
        ("delivery: tag changed", delivery_role(), other_uid, vec![uid()]),
        ("delivery: trust", delivery_role(), trust, vec![RoleChange::UpdateTrust]),
        ("delivery: policy", delivery_role(), policy, vec![RoleChange::PutPolicy]),
        (
            "delivery: policy deleted",
            delivery_role(),
            policy_deleted,
            vec![RoleChange::PutPolicy],
        ),
        (
            "delivery: all",
            delivery_role(),
            everything,
            vec![uid(), RoleChange::UpdateTrust, RoleChange::PutPolicy],
        ),
        ("instance: tag removed", instance_role(), no_uid, vec![uid()]),
        ("instance: trust", instance_role(), trust, vec![RoleChange::UpdateTrust]),
        (
            "instance: its policy detached, another attached",
            instance_role(),
            detached,
            vec![RoleChange::AttachPolicy {
                arn: INSTANCE_POLICY.into(),
            }],
        ),
        (
            "instance: all",
            instance_role(),
            everything,
            vec![
                uid(),
                RoleChange::UpdateTrust,
                RoleChange::AttachPolicy {
                    arn: INSTANCE_POLICY.into(),
                },
            ],
        ),
    ];
    for (what, want, edit, changes) in cases {
        let mut o = want.observed(arn(&want));
        edit(&mut o);
        let steps: Vec<RoleStep> = changes.into_iter().map(|c| step(&want, c)).collect();
        assert_eq!(plan(&want, Some(&o)), steps, "{what}");
    }
}

#[test]
fn what_was_not_read_plans_nothing() {
    for (what, want) in roles() {
        let mut o = want.observed(arn(&want));
        o.tags = None;
        o.trust = None;
        o.policy = None;
        o.managed = None;
        assert_eq!(plan(&want, Some(&o)), [], "{what}");
        // Only the inline policy read (and drifted): only it is written.
        o.policy = Some(None);
        let put = want.policy.is_some().then(|| step(&want, RoleChange::PutPolicy));
        assert_eq!(plan(&want, Some(&o)), Vec::from_iter(put), "{what}");
    }
}

#[test]
fn the_spec_changing_the_inline_policy_rewrites_it() {
    let before = execution_role();
    let o = before.observed(arn(&before));
    let mut more = execution::DesiredRole {
        name: before.name.clone(),
        region: "us-east-1".into(),
        services: Vec::new(),
        repositories: vec!["movies/netflux/posts".into()],
    };
    more.repositories.push("movies/netflux/thumbs".into());
    let after = more.iam_role(&[], tags());
    assert_eq!(plan(&after, Some(&o)), [step(&after, RoleChange::PutPolicy)]);
}

#[test]
fn deletion_detaches_managed_policies_first_and_retain_untags() {
    for (what, want) in roles() {
        let o = want.observed(arn(&want));
        let delete = if want.kind.managed_policies {
            vec![step(&want, RoleChange::DetachPolicies), step(&want, RoleChange::Delete)]
        } else {
            vec![step(&want, RoleChange::Delete)]
        };
        assert_eq!(plan_cleanup(Some(&o), false), delete, "{what}");
        assert_eq!(plan_cleanup(Some(&o), true), [step(&want, RoleChange::Untag)], "{what}");
        // Known only (the policies not read): the same.
        let known = ObservedRole::known(want.kind, want.name.clone(), arn(&want));
        assert_eq!(plan_cleanup(Some(&known), false), delete, "{what} known only");
        assert_eq!(plan_cleanup(None, false), [], "{what} gone");
        assert_eq!(plan_cleanup(None, true), [], "{what} gone");
    }
    // Read with no managed policy: nothing to detach.
    let i = instance_role();
    let mut o = i.observed(arn(&i));
    o.managed = Some(Vec::new());
    assert_eq!(plan_cleanup(Some(&o), false), [step(&i, RoleChange::Delete)]);
}

#[test]
fn display_and_action_of_every_step() {
    let e = execution_role();
    let i = instance_role();
    let d = delivery_role();
    let cases = [
        (
            step(&e, RoleChange::Create),
            "create task execution role webstack-exec-movies-netflux-0f1e2d3c",
            "CreateRole",
        ),
        (
            step(&d, RoleChange::Create),
            "create flow logs delivery role webstack-flowlogs-movies-netflux-0f1e2d3c",
            "CreateRole",
        ),
        (
            step(&e, RoleChange::PutPolicy),
            "write the inline policy of role webstack-exec-movies-netflux-0f1e2d3c",
            "PutRolePolicy",
        ),
        (
            step(&d, RoleChange::UpdateTrust),
            "restore the trust policy of role webstack-flowlogs-movies-netflux-0f1e2d3c",
            "UpdateAssumeRolePolicy",
        ),
        (
            step(
                &e,
                RoleChange::RestoreTags {
                    keys: vec!["webstack.io/uid".into(), "Name".into()],
                },
            ),
            "restore tags webstack.io/uid, Name on role webstack-exec-movies-netflux-0f1e2d3c",
            "TagRole",
        ),
        (
            attach(&i),
            "attach AmazonEC2ContainerServiceforEC2Role to EC2 instance role webstack-ec2-movies-netflux-0f1e2d3c",
            "AttachRolePolicy",
        ),
        (
            step(&i, RoleChange::DetachPolicies),
            "detach the managed policies of EC2 instance role webstack-ec2-movies-netflux-0f1e2d3c",
            "DetachRolePolicy",
        ),
        (
            step(&d, RoleChange::Delete),
            "delete flow logs delivery role webstack-flowlogs-movies-netflux-0f1e2d3c",
            "DeleteRole",
        ),
        (
            step(&e, RoleChange::Untag),
            "remove the ownership tags of role webstack-exec-movies-netflux-0f1e2d3c",
            "UntagRole",
        ),
    ];
    for (s, text, action) in cases {
        assert_eq!((s.to_string().as_str(), s.action()), (text, action));
    }
}

#[test]
fn documents_are_read_url_encoded() {
    let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
    assert_eq!(
        parse_document(raw),
        Some(json!({"Version": "2012-10-17", "Statement": []}))
    );
    assert_eq!(parse_document("not json"), None);
    assert_eq!(
        parse_document(&instance_trust_policy().to_string()),
        Some(instance_trust_policy())
    );
}
