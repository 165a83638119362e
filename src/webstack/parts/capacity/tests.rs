//! Table tests of the EC2 capacity planner.

use std::sync::LazyLock;

use serde_json::json;

use super::*;
use crate::model::capacity::{
    ClusterProviders, INSTANCE_POLICY, INSTANCE_ROLE, ObservedGroup, ObservedProfile, ObservedProvider,
    ObservedTemplate,
};
use crate::model::role::ObservedRole;

const NAME: &str = "webstack-ec2-forum-forum-0f1e2d3c";

static OWNER: LazyLock<Owner> = LazyLock::new(crate::webstack::validate::tests::owner);

/// A step of the instance role.
fn role(change: RoleChange) -> CapacityStep {
    CapacityStep::Role(RoleStep::new(INSTANCE_ROLE, NAME, change))
}

fn attach() -> CapacityStep {
    role(RoleChange::AttachPolicy {
        arn: INSTANCE_POLICY.into(),
    })
}

fn desired() -> DesiredCapacity {
    DesiredCapacity {
        name: NAME.into(),
        instance_type: "t3.small".into(),
        min_size: 1,
        max_size: 4,
        cluster: "forum".into(),
    }
}

fn tags() -> TagMap {
    TagMap::from([
        ("webstack.io/cluster".to_string(), "test".to_string()),
        ("webstack.io/uid".to_string(), "0f1e2d3c".to_string()),
    ])
}

fn cx(tags: &TagMap) -> Context<'_> {
    Context {
        owner: &OWNER,
        tags,
        private_subnets: Some(vec!["subnet-a".into(), "subnet-b".into()]),
        services_group: Some("sg-services".into()),
    }
}

/// AWS holding exactly `desired()`, associated, everything read.
fn converged() -> ObservedCapacity {
    let d = desired();
    ObservedCapacity {
        name: NAME.into(),
        image_id: Some("ami-1".into()),
        role: Some(
            d.instance_role(&OWNER, tags())
                .observed(format!("arn:aws:iam::1:role/{NAME}")),
        ),
        profile: Some(ObservedProfile {
            name: NAME.into(),
            arn: format!("arn:aws:iam::1:instance-profile/{NAME}"),
            roles: vec![NAME.into()],
            tags: tags(),
        }),
        template: Some(ObservedTemplate {
            id: "lt-1".into(),
            name: NAME.into(),
            latest_version: 1,
            tags: tags(),
            latest: d.template("ami-1", "sg-services"),
        }),
        group: Some(ObservedGroup {
            name: NAME.into(),
            arn: "arn:asg".into(),
            min_size: 1,
            max_size: 4,
            desired_capacity: 1,
            launch_template: Some((NAME.into(), "$Latest".into())),
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            tags: tags(),
            propagated: tags().into_keys().collect(),
            deleting: false,
            instances: 1,
        }),
        provider: Some(ObservedProvider {
            name: NAME.into(),
            arn: "arn:cp".into(),
            status: "ACTIVE".into(),
            update_status: String::new(),
            group_arn: "arn:asg".into(),
            managed_scaling: true,
            target_capacity: Some(100),
            managed_termination_protection: false,
            tags: tags(),
        }),
        cluster: Some(ClusterProviders {
            providers: vec![NAME.into()],
            default_strategy: vec![(NAME.into(), 1)],
        }),
        deep: true,
    }
}

#[test]
fn nothing_yet_creates_everything_in_dependency_order() {
    let t = tags();
    let o = ObservedCapacity {
        name: NAME.into(),
        image_id: Some("ami-1".into()),
        cluster: Some(ClusterProviders::default()),
        ..ObservedCapacity::default()
    };
    assert_eq!(
        plan(&desired(), &o, &cx(&t)),
        vec![
            role(RoleChange::Create),
            attach(),
            CapacityStep::CreateInstanceProfile,
            CapacityStep::AddRoleToProfile,
            CapacityStep::CreateLaunchTemplate,
            CapacityStep::CreateGroup,
            CapacityStep::CreateProvider,
            CapacityStep::AssociateProvider,
        ]
    );
}

#[test]
fn converged_plans_nothing_also_on_a_steady_read() {
    let t = tags();
    assert_eq!(plan(&desired(), &converged(), &cx(&t)), vec![]);
    // A steady re-check: no tags of the role, profile or template, the role from its profile.
    let mut o = converged();
    o.deep = false;
    for tags in [
        &mut o.profile.as_mut().unwrap().tags,
        &mut o.template.as_mut().unwrap().tags,
    ] {
        tags.clear();
    }
    o.role = Some(ObservedRole::known(
        INSTANCE_ROLE,
        NAME,
        format!("arn:aws:iam::1:role/{NAME}"),
    ));
    assert_eq!(plan(&desired(), &o, &cx(&t)), vec![]);
}

#[test]
fn drift_is_corrected() {
    let t = tags();
    type Edit = fn(&mut ObservedCapacity);
    let cases: Vec<(&str, Edit, Vec<CapacityStep>)> = vec![
        (
            "sizes changed by hand",
            |o| {
                let g = o.group.as_mut().unwrap();
                g.min_size = 0;
                g.max_size = 10;
            },
            vec![CapacityStep::UpdateGroup {
                changes: vec!["minimum size", "maximum size"],
            }],
        ),
        (
            "group pinned to a version",
            |o| o.group.as_mut().unwrap().launch_template = Some((NAME.into(), "3".into())),
            vec![CapacityStep::UpdateGroup {
                changes: vec!["launch template"],
            }],
        ),
        (
            "group moved to other subnets",
            |o| o.group.as_mut().unwrap().subnets = vec!["subnet-x".into()],
            vec![CapacityStep::UpdateGroup {
                changes: vec!["subnets"],
            }],
        ),
        (
            "a new recommended AMI",
            |o| o.image_id = Some("ami-2".into()),
            vec![CapacityStep::CreateLaunchTemplateVersion { changes: vec!["AMI"] }],
        ),
        (
            "a version made by hand without IMDSv2",
            |o| o.template.as_mut().unwrap().latest.imdsv2_required = false,
            vec![CapacityStep::CreateLaunchTemplateVersion {
                changes: vec!["IMDSv2"],
            }],
        ),
        (
            "policy detached",
            |o| o.role.as_mut().unwrap().managed = Some(Vec::new()),
            vec![attach()],
        ),
        (
            "role untagged",
            |o| {
                o.role
                    .as_mut()
                    .unwrap()
                    .tags
                    .as_mut()
                    .unwrap()
                    .remove("webstack.io/uid");
            },
            vec![role(RoleChange::RestoreTags {
                keys: vec!["webstack.io/uid".into()],
            })],
        ),
        (
            "role's trust changed",
            |o| o.role.as_mut().unwrap().trust = Some(json!({"Version": "2012-10-17", "Statement": []})),
            vec![role(RoleChange::UpdateTrust)],
        ),
        (
            "role taken out of the profile",
            |o| o.profile.as_mut().unwrap().roles.clear(),
            vec![CapacityStep::AddRoleToProfile],
        ),
        (
            "another role put in the profile",
            |o| o.profile.as_mut().unwrap().roles = vec!["other".into()],
            vec![
                CapacityStep::RemoveRoleFromProfile { role: "other".into() },
                CapacityStep::AddRoleToProfile,
            ],
        ),
        (
            "managed scaling off",
            |o| o.provider.as_mut().unwrap().managed_scaling = false,
            vec![CapacityStep::UpdateProvider],
        ),
        (
            "provider taken off the cluster",
            |o| o.cluster = Some(ClusterProviders::default()),
            vec![CapacityStep::AssociateProvider],
        ),
        (
            "FARGATE added to the cluster by hand",
            |o| o.cluster.as_mut().unwrap().providers.push("FARGATE".into()),
            vec![CapacityStep::AssociateProvider],
        ),
        (
            "default strategy removed",
            |o| o.cluster.as_mut().unwrap().default_strategy.clear(),
            vec![CapacityStep::AssociateProvider],
        ),
        (
            "group tag no longer propagated",
            |o| o.group.as_mut().unwrap().propagated.clear(),
            vec![CapacityStep::RestoreTags {
                resource: Resource::Group,
            }],
        ),
        (
            "provider untagged",
            |o| {
                o.provider.as_mut().unwrap().tags.remove("webstack.io/cluster");
            },
            vec![CapacityStep::RestoreTags {
                resource: Resource::Provider,
            }],
        ),
        (
            "role deleted by hand",
            |o| o.role = None,
            vec![role(RoleChange::Create), attach()],
        ),
        (
            "template deleted by hand",
            |o| o.template = None,
            vec![CapacityStep::CreateLaunchTemplate],
        ),
        (
            "group being deleted by hand: wait for it, then create it",
            |o| o.group.as_mut().unwrap().deleting = true,
            vec![CapacityStep::AwaitGroupGone],
        ),
        (
            "group re-created: the provider on the old one is replaced",
            |o| o.group.as_mut().unwrap().arn = "arn:asg-2".into(),
            vec![
                CapacityStep::DisassociateProvider,
                CapacityStep::DeleteProvider,
                CapacityStep::AwaitProviderGone,
            ],
        ),
        (
            "provider deleted (INACTIVE)",
            |o| {
                o.provider.as_mut().unwrap().status = "INACTIVE".into();
                o.cluster = Some(ClusterProviders::default());
            },
            vec![CapacityStep::CreateProvider, CapacityStep::AssociateProvider],
        ),
    ];
    for (name, edit, want) in cases {
        let mut o = converged();
        edit(&mut o);
        assert_eq!(plan(&desired(), &o, &cx(&t)), want, "{name}");
    }
}

#[test]
fn spec_changes_update_in_place() {
    let t = tags();
    let bigger = DesiredCapacity {
        instance_type: "t3.large".into(),
        min_size: 2,
        max_size: 8,
        ..desired()
    };
    assert_eq!(
        plan(&bigger, &converged(), &cx(&t)),
        vec![
            CapacityStep::CreateLaunchTemplateVersion {
                changes: vec!["instance type"]
            },
            CapacityStep::UpdateGroup {
                changes: vec!["minimum size", "maximum size"]
            },
        ]
    );
}

#[test]
fn unknown_ami_or_group_never_plans_a_version() {
    let t = tags();
    let mut o = converged();
    o.image_id = None;
    o.template.as_mut().unwrap().latest.instance_type = "t3.nano".into();
    assert_eq!(plan(&desired(), &o, &cx(&t)), vec![]);
    let unknown = Context {
        services_group: None,
        ..cx(&t)
    };
    assert_eq!(plan(&desired(), &converged(), &unknown), vec![]);
}

#[test]
fn deletion_goes_provider_group_template_profile_role() {
    assert_eq!(
        plan_cleanup(&converged(), false),
        vec![
            CapacityStep::DisassociateProvider,
            CapacityStep::DeleteProvider,
            CapacityStep::AwaitProviderGone,
            CapacityStep::DeleteGroup,
            CapacityStep::AwaitGroupGone,
            CapacityStep::DeleteLaunchTemplate,
            CapacityStep::RemoveRoleFromProfile { role: NAME.into() },
            CapacityStep::DeleteInstanceProfile,
            role(RoleChange::DetachPolicies),
            role(RoleChange::Delete),
        ]
    );
}

#[test]
fn deletion_resumes_where_it_stopped() {
    // The provider is gone (INACTIVE) and the group is being deleted: wait for the group only.
    let mut o = converged();
    o.provider.as_mut().unwrap().status = "INACTIVE".into();
    o.cluster = Some(ClusterProviders::default());
    o.group.as_mut().unwrap().deleting = true;
    assert_eq!(
        plan_cleanup(&o, false)[..2],
        [CapacityStep::AwaitGroupGone, CapacityStep::DeleteLaunchTemplate]
    );
    // A provider still deleting is waited for before the group goes.
    let mut o = converged();
    o.provider.as_mut().unwrap().update_status = "DELETE_IN_PROGRESS".into();
    o.cluster = Some(ClusterProviders::default());
    assert_eq!(
        plan_cleanup(&o, false)[..2],
        [CapacityStep::AwaitProviderGone, CapacityStep::DeleteGroup]
    );
    // Only the role is left (a crash after the profile went).
    let o = ObservedCapacity {
        role: converged().role,
        ..ObservedCapacity::default()
    };
    assert_eq!(
        plan_cleanup(&o, false),
        vec![role(RoleChange::DetachPolicies), role(RoleChange::Delete)]
    );
    assert_eq!(plan_cleanup(&ObservedCapacity::default(), false), vec![]);
}

#[test]
fn retain_untags_everything_once() {
    assert_eq!(plan_cleanup(&converged(), true), vec![CapacityStep::UntagCapacity]);
    assert_eq!(plan_cleanup(&ObservedCapacity::default(), true), vec![]);
}

#[test]
fn the_role_steps_keep_the_capacitys_actions() {
    let restore = role(RoleChange::RestoreTags {
        keys: vec!["webstack.io/uid".into()],
    });
    let cases = [
        (role(RoleChange::Create), "CreateRole"),
        (attach(), "AttachRolePolicy"),
        (restore, "TagResource"),
        (role(RoleChange::DetachPolicies), "DetachRolePolicy"),
        (role(RoleChange::Delete), "DeleteRole"),
    ];
    for (step, action) in cases {
        assert_eq!(step.action(), action, "{step}");
    }
    assert_eq!(
        attach().to_string(),
        format!("attach AmazonEC2ContainerServiceforEC2Role to EC2 instance role {NAME}")
    );
}

#[test]
fn the_provider_is_usable_once_the_cluster_has_it() {
    let o = converged();
    assert_eq!(o.usable_provider(), Some(NAME));
    let mut off = converged();
    off.cluster = Some(ClusterProviders::default());
    assert_eq!(off.usable_provider(), None);
}

mod in_the_stack {
    use std::collections::BTreeMap;

    use crate::api::DeletionPolicy;
    use crate::model::data::DataCleanup;
    use crate::model::stack::ObservedStack;
    use crate::webstack::fixtures::cleanup as plan_cleanup;
    use crate::webstack::parts::capacity::CapacityStep;
    use crate::webstack::parts::{Step, plan};
    use crate::webstack::validate::tests::{owner, spec, zones};
    use crate::webstack::validate::validate;

    const FORUM: &str = r#"
network: {cidr: 10.40.0.0/16}
cluster: {name: forum, capacity: {instanceType: t3.small, minSize: 1, maxSize: 4}}
"#;

    fn capacity(steps: &[Step]) -> Vec<(usize, CapacityStep)> {
        steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Step::Capacity(c) => Some((i, c.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn capacity_comes_after_the_cluster_and_the_network() {
        let d = validate(&spec(FORUM), owner(), &zones(), &BTreeMap::new()).expect("valid");
        let c = d.capacity.as_ref().expect("capacity");
        assert_eq!((c.min_size, c.max_size, c.cluster.as_str()), (1, 4, "forum"));
        assert!(c.name.starts_with("webstack-ec2-"));
        let steps = plan(&d, &ObservedStack::default());
        let cluster = steps
            .iter()
            .position(|s| crate::reconcile::Step::action(s) == "CreateCluster")
            .unwrap();
        let groups = steps
            .iter()
            .rposition(|s| crate::reconcile::Step::action(s) == "CreateSecurityGroup")
            .unwrap();
        let cap = capacity(&steps);
        assert_eq!(cap.len(), 8, "{cap:?}");
        assert!(cap.iter().all(|(i, _)| *i > cluster && *i > groups));
    }

    #[test]
    fn a_stack_without_capacity_plans_none_and_deletes_a_removed_one() {
        let no = validate(
            &spec("network: {cidr: 10.40.0.0/16}"),
            owner(),
            &zones(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert!(no.capacity.is_none());
        assert!(capacity(&plan(&no, &ObservedStack::default())).is_empty());
        let removed = ObservedStack {
            capacity: super::converged(),
            ..ObservedStack::default()
        };
        let steps: Vec<_> = capacity(&plan(&no, &removed)).into_iter().map(|(_, c)| c).collect();
        assert_eq!(steps, super::plan_cleanup(&super::converged(), false));
    }

    #[test]
    fn stack_deletion_starts_with_the_capacity_and_retain_untags_it() {
        let o = ObservedStack {
            capacity: super::converged(),
            ..ObservedStack::default()
        };
        let how = DataCleanup {
            deletion: crate::model::data::DataDeletion::Delete,
            protection_wanted: false,
        };
        let steps = plan_cleanup(&o, DeletionPolicy::Delete, how);
        assert_eq!(steps.first(), Some(&Step::Capacity(CapacityStep::DisassociateProvider)));
        let retained = plan_cleanup(&o, DeletionPolicy::Retain, how);
        assert!(retained.contains(&Step::Capacity(CapacityStep::UntagCapacity)));
        assert!(
            !retained
                .iter()
                .any(|s| matches!(s, Step::Capacity(CapacityStep::DeleteGroup)))
        );
    }
}
