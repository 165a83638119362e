//! Table tests of the task execution role's planner and policy.

use serde_json::json;

use super::*;
use crate::model::execution::{DesiredRole, EXECUTION_ROLE, ServiceNeeds, policy, secret_resource};
use crate::model::role::RoleChange;
use crate::webstack::fixtures::{converged, desired};
use crate::webstack::parts::Step;

const STACK: &str = "network: {cidr: 10.0.0.0/16}\ndatabase: {engine: postgres}\n";

fn with_services(yaml: &str) -> DesiredStack {
    let mut d = desired(yaml);
    d.execution_role = DesiredRole {
        name: "webstack-exec-movies-netflux-0f1e2d3c".into(),
        region: "us-east-1".into(),
        services: vec![
            ServiceNeeds {
                log_group: "/webstack/wcs-movies-api-11111111".into(),
                secrets: vec![
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-Ab12Cd:key::".into(),
                    "arn:aws:ssm:us-east-1:123456789012:parameter/api/flags".into(),
                ],
                ecr_repositories: vec!["arn:aws:ecr:eu-west-1:210987654321:repository/base/runtime".into()],
            },
            ServiceNeeds {
                log_group: "/webstack/wcs-movies-web-22222222".into(),
                secrets: vec!["arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub".into()],
                ecr_repositories: Vec::new(),
            },
        ],
        repositories: vec!["movies/netflux/posts".into()],
    };
    d
}

#[test]
fn the_policy_names_exactly_the_logs_and_secrets_of_the_services_and_the_stack() {
    let d = with_services(STACK);
    let doc = policy(
        &d.execution_role,
        &["arn:aws:secretsmanager:us-east-1:123456789012:secret:db-Zz99Yy".into()],
    );
    let statements = doc["Statement"].as_array().unwrap();
    let by_sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).unwrap().clone();
    assert_eq!(
        by_sid("Logs")["Resource"],
        json!([
            "arn:aws:logs:us-east-1:*:log-group:/webstack/wcs-movies-api-11111111:*",
            "arn:aws:logs:us-east-1:*:log-group:/webstack/wcs-movies-web-22222222:*"
        ])
    );
    assert_eq!(
        by_sid("Logs")["Action"],
        json!(["logs:CreateLogStream", "logs:PutLogEvents"])
    );
    assert_eq!(
        by_sid("Secrets")["Resource"],
        json!([
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-Zz99Yy",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-??????",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-Ab12Cd"
        ])
    );
    assert_eq!(
        by_sid("Parameters")["Resource"],
        json!(["arn:aws:ssm:us-east-1:123456789012:parameter/api/flags"])
    );
    assert_eq!(by_sid("EcrAuth")["Resource"], "*");
    assert_eq!(
        by_sid("EcrPull")["Resource"],
        json!([
            "arn:aws:ecr:eu-west-1:210987654321:repository/base/runtime",
            "arn:aws:ecr:us-east-1:*:repository/movies/netflux/posts"
        ])
    );
    // No services, no stack secrets, no repositories: only the ECR token (no empty Resource
    // lists, which IAM refuses; and no pull from any repository).
    let bare = DesiredRole {
        services: Vec::new(),
        repositories: Vec::new(),
        ..d.execution_role.clone()
    };
    let doc = policy(&bare, &[]);
    assert_eq!(doc["Statement"].as_array().unwrap().len(), 1);
}

#[test]
fn secret_references_become_iam_resources() {
    let cases = [
        (
            "arn:aws:secretsmanager:eu-west-1:1:secret:app/db-AbCdEf:password:AWSCURRENT:",
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:1:secret:app/db-AbCdEf",
            ),
        ),
        (
            "arn:aws:secretsmanager:eu-west-1:1:secret:app/db",
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:1:secret:app/db-??????",
            ),
        ),
        (
            "arn:aws:ssm:eu-west-1:1:parameter/app/key",
            ("ssm:GetParameters", "arn:aws:ssm:eu-west-1:1:parameter/app/key"),
        ),
        (
            "/app/key",
            ("ssm:GetParameters", "arn:aws:ssm:us-east-1:*:parameter/app/key"),
        ),
    ];
    for (value_from, (action, resource)) in cases {
        let (a, r) = secret_resource(value_from, "us-east-1");
        assert_eq!((a, r.as_str()), (action, resource), "{value_from}");
    }
}

/// A step of the stack's execution role.
fn step(d: &DesiredStack, change: RoleChange) -> RoleStep {
    RoleStep::new(EXECUTION_ROLE, d.execution_role.name.clone(), change)
}

#[test]
fn created_then_kept_equal_to_the_services() {
    let d = with_services(STACK);
    let mut o = converged(&d);
    o.execution_role = None;
    assert_eq!(
        plan(&d, &o),
        vec![step(&d, RoleChange::Create), step(&d, RoleChange::PutPolicy)]
    );
    // Converged: nothing.
    let o = converged_role(&d);
    assert_eq!(plan(&d, &o), vec![]);
    // A service added (or a secret): the policy is rewritten.
    let mut more = d.clone();
    more.execution_role.services.push(ServiceNeeds {
        log_group: "/webstack/wcs-movies-worker-33333333".into(),
        secrets: Vec::new(),
        ecr_repositories: Vec::new(),
    });
    assert_eq!(plan(&more, &o), vec![step(&d, RoleChange::PutPolicy)]);
}

/// `converged`: the role as the plan leaves it.
fn converged_role(d: &DesiredStack) -> ObservedStack {
    converged(d)
}

#[test]
fn drift_by_hand_is_corrected() {
    let d = with_services(STACK);
    let mut o = converged_role(&d);
    let role = o.execution_role.as_mut().unwrap();
    role.policy = Some(Some(
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    ));
    role.trust = Some(json!({"Version": "2012-10-17", "Statement": []}));
    role.tags.as_mut().unwrap().remove("webstack.io/uid");
    assert_eq!(
        plan(&d, &o),
        vec![
            step(
                &d,
                RoleChange::RestoreTags {
                    keys: vec!["webstack.io/uid".into()]
                }
            ),
            step(&d, RoleChange::UpdateTrust),
            step(&d, RoleChange::PutPolicy),
        ]
    );
    // The inline policy deleted by hand.
    let mut o = converged_role(&d);
    o.execution_role.as_mut().unwrap().policy = Some(None);
    assert_eq!(plan(&d, &o), vec![step(&d, RoleChange::PutPolicy)]);
}

#[test]
fn the_role_goes_with_the_stack_after_everything_else_or_is_untagged() {
    let d = with_services(STACK);
    let o = converged_role(&d);
    let cleanup = |policy| {
        crate::webstack::fixtures::cleanup(
            &o,
            policy,
            crate::model::data::DataCleanup {
                deletion: crate::model::data::DataDeletion::Delete,
                protection_wanted: false,
            },
        )
    };
    let steps = cleanup(crate::api::DeletionPolicy::Delete);
    assert_eq!(steps.last(), Some(&Step::Role(step(&d, RoleChange::Delete))));
    let steps = cleanup(crate::api::DeletionPolicy::Retain);
    assert_eq!(steps.last(), Some(&Step::Role(step(&d, RoleChange::Untag))));
}

#[test]
fn the_name_fits_iam_and_the_pass_role_prefix() {
    let mut owner = crate::webstack::validate::tests::owner();
    owner.namespace = "a-very-long-namespace-name-for-a-team".into();
    owner.name = "and-an-even-longer-stack-name-than-that".into();
    let name = crate::model::execution::role_name(&owner);
    assert!(name.len() <= 64, "{name}");
    assert!(name.starts_with("webstack-"), "{name}");
}
