use super::*;
use crate::api::ListenerRuleSpec;
use crate::model::ListenerAction;

fn spec(yaml: &str) -> ListenerRuleSpec {
    serde_yaml::from_str(yaml).expect("spec")
}

fn tgs() -> (BTreeMap<String, String>, BTreeSet<String>) {
    let ready = BTreeMap::from([
        ("movies".to_string(), "arn:tg/movies".to_string()),
        ("v2".into(), "arn:tg/v2".into()),
    ]);
    let existing = ["movies", "v2", "starting"].map(String::from).into();
    (ready, existing)
}

fn desired(yaml: &str) -> Result<DesiredRule, Blocked> {
    let (ready, existing) = tgs();
    validate(&spec(yaml), &ready, &existing)
}

const BASE: &str = "stackRef: {name: netflux}\nlistener: http\n";

#[test]
fn all_six_condition_types_and_three_action_kinds() {
    let d = desired(&format!(
        "{BASE}priority: 500
conditions:
  pathPatterns: [/api/movies*]
  hostHeaders: [api.example.com]
  httpHeaders: [{{name: X-Env, values: [beta]}}]
  methods: [POST]
  queryStrings: [{{key: version, value: '2'}}]
action: {{forward: {{targetGroups: [{{name: movies, weight: 90}}, {{name: v2, weight: 10}}]}}}}"
    ))
    .unwrap();
    assert_eq!(
        d.conditions,
        vec![
            Condition::PathPattern(vec!["/api/movies*".into()]),
            Condition::HostHeader(vec!["api.example.com".into()]),
            Condition::HttpHeader {
                name: "X-Env".into(),
                values: vec!["beta".into()]
            },
            Condition::HttpMethod(vec!["POST".into()]),
            Condition::QueryString(vec![(Some("version".into()), "2".into())]),
        ]
    );
    assert_eq!(
        d.action,
        ListenerAction::Forward {
            target_groups: vec![("arn:tg/movies".into(), 90), ("arn:tg/v2".into(), 10)]
        }
    );
    assert_eq!(d.priority, Some(500));
    let ip = desired(&format!(
        "{BASE}conditions: {{sourceIps: [10.0.0.0/8]}}\naction: {{fixedResponse: {{statusCode: 403}}}}"
    ))
    .unwrap();
    assert_eq!(ip.conditions, vec![Condition::SourceIp(vec!["10.0.0.0/8".into()])]);
    let redirect = desired(&format!(
        "{BASE}conditions: {{hostHeaders: [old.example.com]}}\naction: {{redirect: {{host: new.example.com, statusCode: HTTP_302}}}}"
    ))
    .unwrap();
    assert!(
        matches!(redirect.action, ListenerAction::Redirect { ref host, ref status_code, .. } if host == "new.example.com" && status_code == "HTTP_302")
    );
}

#[test]
fn blocked_specs_name_the_field() {
    let cases = [
        (
            format!("{BASE}conditions: {{}}\naction: {{fixedResponse: {{statusCode: 200}}}}"),
            "InvalidSpec",
            "spec.conditions",
        ),
        (
            format!(
                "{BASE}conditions: {{pathPatterns: [/a, /b, /c], hostHeaders: [a.io, b.io, c.io]}}\naction: {{fixedResponse: {{statusCode: 200}}}}"
            ),
            "RuleQuotaExceeded",
            "6 condition values",
        ),
        (
            format!(
                "{BASE}conditions: {{pathPatterns: [/a]}}\naction: {{forward: {{targetGroups: [{{name: nope}}]}}}}"
            ),
            "waiting",
            "spec.action.forward.targetGroups[0]: TargetGroup nope does not exist",
        ),
        (
            format!(
                "{BASE}conditions: {{pathPatterns: [/a]}}\naction: {{forward: {{targetGroups: [{{name: starting}}]}}}}"
            ),
            "waiting",
            "TargetGroup starting is not Ready",
        ),
        (
            format!(
                "{BASE}conditions: {{pathPatterns: [/a]}}\naction: {{forward: {{targetGroups: [{{name: movies, weight: 0}}, {{name: v2, weight: 0}}]}}}}"
            ),
            "InvalidSpec",
            "at least one weight",
        ),
    ];
    for (yaml, kind, text) in cases {
        let got = desired(&yaml).unwrap_err();
        let (k, message) = match got {
            Blocked::Stalled { reason, message } => (reason, message),
            Blocked::Waiting { message } => ("waiting", message),
            other => panic!("{other:?}"),
        };
        assert_eq!(k, kind, "{yaml}");
        assert!(message.contains(text), "{yaml}: {message}");
    }
}

fn rule(arn: &str, priority: i32, d: &DesiredRule) -> ObservedRule {
    ObservedRule {
        arn: arn.into(),
        priority,
        conditions: d.conditions.clone(),
        action: Some(d.action.clone()),
        tags: TagMap::new(),
    }
}

fn names(steps: &[Step]) -> Vec<String> {
    steps.iter().map(ToString::to_string).collect()
}

#[test]
fn explicit_priorities_are_honoured_and_never_stolen() {
    let d = desired(&format!("{BASE}priority: 500\nconditions: {{pathPatterns: [/api/movies*]}}\naction: {{forward: {{targetGroups: [{{name: movies}}]}}}}")).unwrap();
    let tags = TagMap::new();
    let (steps, p) = plan(&d, &tags, "uid", None, &[], None).unwrap();
    assert_eq!(
        (names(&steps), p),
        (vec!["create rule at priority 500".to_string()], 500)
    );

    let mut holder = rule("arn:rule/theirs", 500, &d);
    holder.tags.insert(
        crate::model::ownership::OWNER.into(),
        "movies/ListenerRule/other".into(),
    );
    let err = plan(&d, &tags, "uid", None, &[holder], None).unwrap_err();
    assert!(
        matches!(&err, Blocked::Stalled { reason: "PriorityConflict", message } if message.contains("movies/ListenerRule/other")),
        "{err:?}"
    );

    // Reordering our own rule moves it in place.
    let ours = rule("arn:rule/ours", 400, &d);
    let (steps, _) = plan(&d, &tags, "uid", Some(&ours), &[], None).unwrap();
    assert_eq!(names(&steps), ["move rule from priority 400 to 500"]);
    // Converged: nothing to do.
    let ours = rule("arn:rule/ours", 500, &d);
    assert_eq!(plan(&d, &tags, "uid", Some(&ours), &[], None).unwrap().0, vec![]);
}

#[test]
fn allocated_priorities_are_deterministic_free_and_kept() {
    let d = desired(&format!(
        "{BASE}conditions: {{pathPatterns: [/x]}}\naction: {{fixedResponse: {{statusCode: 200}}}}"
    ))
    .unwrap();
    let tags = TagMap::new();
    let (_, first) = plan(&d, &tags, "uid-a", None, &[], None).unwrap();
    let (_, again) = plan(&d, &tags, "uid-a", None, &[], None).unwrap();
    assert_eq!(first, again, "deterministic");
    assert!((10_000..=50_000).contains(&first));
    // Taken by someone else: the next free one.
    let (_, moved) = plan(&d, &tags, "uid-a", None, &[rule("arn:x", first, &d)], None).unwrap();
    assert_ne!(moved, first);
    // Kept: the recorded priority (status) and the rule's own win over allocation.
    assert_eq!(plan(&d, &tags, "uid-a", None, &[], Some(12_345)).unwrap().1, 12_345);
    let ours = rule("arn:ours", 23_456, &d);
    assert_eq!(
        plan(&d, &tags, "uid-a", Some(&ours), &[], Some(12_345)).unwrap().1,
        23_456
    );
    // Two rules allocating at once start from different points (AWS's PriorityInUse settles the rest).
    assert_ne!(allocate("uid-a", &BTreeSet::new()), allocate("uid-b", &BTreeSet::new()));
    // Every priority in the range taken: nothing to allocate.
    let all: BTreeSet<i32> = (10_000..=50_000).collect();
    assert_eq!(allocate("uid-a", &all), None);
}

#[test]
fn drift_and_quota() {
    let d = desired(&format!("{BASE}priority: 10\nconditions: {{hostHeaders: [app.example.com]}}\naction: {{forward: {{targetGroups: [{{name: movies}}]}}}}")).unwrap();
    let tags = TagMap::from([("webstack.io/uid".to_string(), "u".to_string())]);
    let mut edited = rule("arn:ours", 10, &d);
    edited.tags = tags.clone();
    edited.conditions = vec![Condition::HostHeader(vec!["evil.example.com".into()])];
    edited.action = Some(ListenerAction::Fixed {
        status_code: "200".into(),
        content_type: None,
        message_body: None,
    });
    assert_eq!(
        names(&plan(&d, &tags, "u", Some(&edited), &[], None).unwrap().0),
        ["modify rule: conditions, action"]
    );
    let mut untagged = rule("arn:ours", 10, &d);
    untagged.tags.clear();
    assert_eq!(
        names(&plan(&d, &tags, "u", Some(&untagged), &[], None).unwrap().0),
        ["restore tags webstack.io/uid"]
    );
    let full: Vec<ObservedRule> = (100..200).map(|p| rule(&format!("arn:{p}"), p, &d)).collect();
    let err = plan(&d, &tags, "u", None, &full, None).unwrap_err();
    assert!(
        matches!(
            err,
            Blocked::Stalled {
                reason: "RuleQuotaExceeded",
                ..
            }
        ),
        "{err:?}"
    );
}

/// Deletion removes every copy of the rule found by uid on the listener (status may be empty).
#[test]
fn cleanup_deletes_every_copy() {
    let d = desired(&format!(
        "{BASE}conditions: {{pathPatterns: [/a]}}\naction: {{forward: {{targetGroups: [{{name: movies}}]}}}}"
    ))
    .unwrap();
    let found = ObservedRules {
        ours: vec![rule("arn:rule/1", 10_001, &d), rule("arn:rule/2", 10_002, &d)],
        others: vec![rule("arn:rule/other", 5, &d)],
    };
    let names = |steps: Vec<Step>| steps.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        names(plan_cleanup(&found, DeletionPolicy::Delete)),
        ["delete rule arn:rule/1", "delete rule arn:rule/2"]
    );
    assert_eq!(
        names(plan_cleanup(&found, DeletionPolicy::Retain)),
        ["remove the ownership tags of arn:rule/1, arn:rule/2"]
    );
}
