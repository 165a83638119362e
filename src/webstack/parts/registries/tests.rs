//! Table tests of the registries planner.

use super::*;
use crate::model::registry::{ObservedRepository, lifecycle_policy};
use crate::webstack::fixtures::desired;

const SPEC: &str = "network: {cidr: 10.0.0.0/16}\nregistries: [posts, threads]\n";

fn wanted(yaml: &str) -> (DesiredRegistries, impl Fn(&str) -> TagMap) {
    let d = desired(yaml);
    let stack = d.clone();
    let tags = move |n: &str| stack.tags_for(&crate::model::registry::component(n));
    (d.registries, tags)
}

/// A repository as the plan leaves it (read deeply: tags, policy; images not read).
fn converged(d: &DesiredRegistries, tags: &impl Fn(&str) -> TagMap) -> Vec<ObservedRepository> {
    d.repositories
        .iter()
        .map(|r| ObservedRepository {
            name: r.name.clone(),
            aws_name: r.aws_name.clone(),
            arn: format!("arn:aws:ecr:us-east-1:123456789012:repository/{}", r.aws_name),
            uri: format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{}", r.aws_name),
            scan_on_push: true,
            tag_mutability: mutability(r.immutable_tags).into(),
            tags: tags(&r.name),
            lifecycle_policy: Some(Some(lifecycle_policy(r.keep_images))),
            has_images: None,
        })
        .collect()
}

#[test]
fn repositories_are_named_per_namespace_and_stack_with_the_settings() {
    let (d, _) = wanted(SPEC);
    let names: Vec<_> = d.repositories.iter().map(|r| r.aws_name.as_str()).collect();
    assert_eq!(names, ["movies/netflux/posts", "movies/netflux/threads"]);
    assert!(
        d.repositories
            .iter()
            .all(|r| r.immutable_tags && r.keep_images == 30 && r.scan_on_push)
    );
    assert!(!d.force_delete);
    let (d, _) = wanted(&format!(
        "{SPEC}registrySettings: {{immutableTags: false, keepImages: 5}}\nregistriesForceDelete: true\n"
    ));
    assert!(d.repositories.iter().all(|r| !r.immutable_tags && r.keep_images == 5));
    assert!(d.force_delete);
}

#[test]
fn plan_table() {
    let (d, tags) = wanted(SPEC);
    let ok = converged(&d, &tags);
    let posts = "movies/netflux/posts".to_string();
    let edit = |f: &dyn Fn(&mut ObservedRepository)| {
        let mut o = ok.clone();
        f(&mut o[0]);
        o
    };
    let cases: Vec<(&str, Vec<ObservedRepository>, Vec<RegistryStep>)> = vec![
        ("converged: nothing", ok.clone(), vec![]),
        (
            "missing: created, then its lifecycle policy",
            ok[1..].to_vec(),
            vec![
                RegistryStep::Create {
                    repository: posts.clone(),
                },
                RegistryStep::PutLifecyclePolicy {
                    repository: posts.clone(),
                    keep: 30,
                },
            ],
        ),
        (
            "scan on push turned off by hand",
            edit(&|o| o.scan_on_push = false),
            vec![RegistryStep::SetScanOnPush {
                repository: posts.clone(),
                on: true,
            }],
        ),
        (
            "tags made mutable by hand",
            edit(&|o| o.tag_mutability = "MUTABLE".into()),
            vec![RegistryStep::SetTagMutability {
                repository: posts.clone(),
                from: "MUTABLE".into(),
                to: "IMMUTABLE",
            }],
        ),
        (
            "lifecycle policy deleted by hand",
            edit(&|o| o.lifecycle_policy = Some(None)),
            vec![RegistryStep::PutLifecyclePolicy {
                repository: posts.clone(),
                keep: 30,
            }],
        ),
        (
            "lifecycle policy changed by hand",
            edit(&|o| o.lifecycle_policy = Some(Some(lifecycle_policy(100)))),
            vec![RegistryStep::PutLifecyclePolicy {
                repository: posts.clone(),
                keep: 30,
            }],
        ),
        (
            "not read on a steady pass: no policy or tag step",
            edit(&|o| {
                o.lifecycle_policy = None;
                o.tags = TagMap::new();
            }),
            vec![],
        ),
        (
            "a tag removed by hand",
            edit(&|o| {
                o.tags.remove("webstack.io/component");
            }),
            vec![RegistryStep::RestoreTags {
                repository: posts.clone(),
                keys: vec!["webstack.io/component".into()],
            }],
        ),
    ];
    for (what, observed, want) in cases {
        assert_eq!(plan(&d, &observed, &tags), want, "{what}");
    }
}

#[test]
fn settings_changes_update_the_repositories() {
    let (d, tags) = wanted(SPEC);
    let ok = converged(&d, &tags);
    let (changed, _) = wanted(&format!(
        "{SPEC}registrySettings: {{immutableTags: false, keepImages: 10}}\n"
    ));
    let steps = plan(&changed, &ok, &tags);
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!(
        steps[0],
        RegistryStep::SetTagMutability {
            repository: "movies/netflux/posts".into(),
            from: "IMMUTABLE".into(),
            to: "MUTABLE",
        }
    );
    assert_eq!(
        steps[1],
        RegistryStep::PutLifecyclePolicy {
            repository: "movies/netflux/posts".into(),
            keep: 10,
        }
    );
}

#[test]
fn a_name_removed_from_the_spec_is_deleted_only_when_empty() {
    let (d, tags) = wanted(SPEC);
    let mut observed = converged(&d, &tags);
    let (only_posts, _) = wanted("network: {cidr: 10.0.0.0/16}\nregistries: [posts]\n");
    let threads = "movies/netflux/threads".to_string();
    observed[1].has_images = Some(false);
    assert_eq!(
        plan(&only_posts, &observed, &tags),
        vec![RegistryStep::Delete {
            repository: threads.clone(),
            force: false
        }]
    );
    assert!(kept(&only_posts, &observed).is_empty());
    // Holding images: kept (no surprise deletion of images), and said so.
    observed[1].has_images = Some(true);
    assert_eq!(plan(&only_posts, &observed, &tags), vec![]);
    assert_eq!(kept(&only_posts, &observed), vec![threads.clone()]);
    // Still listed in status while kept.
    assert!(status(&observed).contains_key("threads"));
}

#[test]
fn cleanup_table() {
    let (d, tags) = wanted(SPEC);
    let mut o = converged(&d, &tags);
    o[0].has_images = Some(true);
    o[1].has_images = Some(false);
    let posts = "movies/netflux/posts".to_string();
    let threads = "movies/netflux/threads".to_string();
    // Without force: the empty one goes, the other waits (a message naming the fields to set).
    let steps = plan_cleanup(&o, false, false);
    assert_eq!(
        steps,
        vec![
            RegistryStep::AwaitEmpty {
                repository: posts.clone()
            },
            RegistryStep::Delete {
                repository: threads.clone(),
                force: false
            },
        ]
    );
    let message = steps[0].to_string();
    assert!(
        message.contains(&posts) && message.contains("registriesForceDelete: true"),
        "{message}"
    );
    assert!(message.contains("deletionPolicy: Delete"), "{message}");
    // With force: both go, with their images.
    assert_eq!(
        plan_cleanup(&o, false, true),
        vec![
            RegistryStep::Delete {
                repository: posts.clone(),
                force: true
            },
            RegistryStep::Delete {
                repository: threads.clone(),
                force: true
            },
        ]
    );
    // Retain: untagged only, images or not.
    assert_eq!(
        plan_cleanup(&o, true, false),
        vec![
            RegistryStep::Untag { repository: posts },
            RegistryStep::Untag { repository: threads },
        ]
    );
    assert_eq!(plan_cleanup(&[], false, true), vec![]);
}

#[test]
fn an_inline_container_naming_a_missing_registry_is_refused() {
    let spec: WebStackSpec = serde_yaml::from_str(
        "registries: [posts]\nservices: [{name: web, container: {cpu: '256', memory: '512', containers: [{name: a, image: nginx:1}, {name: w, registry: users, tag: '1'}]}}]",
    )
    .unwrap();
    let owner = desired(SPEC).owner;
    let err = super::desired(&spec, &owner).unwrap_err();
    assert_eq!(err.field, "spec.services[0].container.containers[1].registry");
    assert!(err.message.contains("users"), "{}", err.message);
}

/// The whole stack plan creates the repositories before the role that pulls from them, and the
/// role's policy names them.
#[test]
fn the_stack_plan_creates_repositories_before_the_role() {
    let d = desired(SPEC);
    let steps = crate::webstack::parts::plan(&d, &crate::model::stack::ObservedStack::default());
    let at = |f: &dyn Fn(&crate::webstack::parts::Step) -> bool| steps.iter().position(f).unwrap();
    let repo = at(&|s| matches!(s, crate::webstack::parts::Step::Registry(RegistryStep::Create { .. })));
    let role = at(&|s| matches!(s, crate::webstack::parts::Step::Role(_)));
    assert!(repo < role);
    let doc = crate::model::execution::policy(&d.execution_role, &[]);
    let pull = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "EcrPull")
        .unwrap()
        .clone();
    assert_eq!(
        pull["Resource"],
        serde_json::json!([
            format!(
                "arn:aws:ecr:{}:*:repository/movies/netflux/posts",
                d.execution_role.region
            ),
            format!(
                "arn:aws:ecr:{}:*:repository/movies/netflux/threads",
                d.execution_role.region
            ),
        ])
    );
}
