//! The stack's task execution role: the IAM role ECS assumes to start a task (pull the image, send
//! logs, read the secrets it injects). Its inline policy is scoped to exactly what the stack's
//! services use. Pure data and documents, no I/O.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::ownership::{Owner, TagMap};
use super::role::{self, RoleKind};

/// The inline policy's name on the role.
pub const POLICY_NAME: &str = "webstack-task-execution";

/// The role: an inline policy, no managed policy.
pub const EXECUTION_ROLE: RoleKind = RoleKind {
    noun: "task execution role",
    inline_policy: Some(POLICY_NAME),
    managed_policies: false,
};

/// What a ContainerService of the stack needs from the role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceNeeds {
    /// Its log group's name.
    pub log_group: String,
    /// `valueFrom` of its secrets and its `repositoryCredentialsArn`s, as written.
    pub secrets: Vec<String>,
    /// ARNs of the private ECR repositories its `image:`s pull from (other registries need no
    /// ECR permission; `registry:` images are the stack's own repositories).
    pub ecr_repositories: Vec<String>,
}

impl ServiceNeeds {
    /// What a service whose owner is `owner` needs: its log group, the secrets it references
    /// (`valueFrom`, `repositoryCredentialsArn`) and the private ECR repositories of its `image:`s.
    pub fn new<'a>(owner: &Owner, secrets: Vec<String>, images: impl IntoIterator<Item = &'a str>) -> Self {
        ServiceNeeds {
            log_group: super::service::service_names(owner).1,
            secrets,
            ecr_repositories: images
                .into_iter()
                .filter_map(super::registry::ecr_repository_of)
                .collect(),
        }
    }
}

/// The role as it should be.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRole {
    pub name: String,
    pub region: String,
    /// The stack's ContainerServices, by name.
    pub services: Vec<ServiceNeeds>,
    /// ECR names of the stack's repositories (`spec.registries`).
    pub repositories: Vec<String>,
}

impl DesiredRole {
    /// The IAM role: [`trust_policy`], [`policy`] with the stack's own secrets, `tags`.
    pub fn iam_role(&self, stack_secrets: &[String], tags: TagMap) -> role::DesiredRole {
        role::DesiredRole {
            kind: EXECUTION_ROLE,
            name: self.name.clone(),
            description: "webstack-operator: ECS task execution role of one stack".into(),
            trust: trust_policy(),
            policy: Some(policy(self, stack_secrets)),
            managed: Vec::new(),
            tags,
        }
    }
}

/// The role's name: `webstack-exec-<namespace>-<stack>-<uid8>`, at most 64 characters (IAM's
/// limit). The `webstack-` prefix is what the operator's `iam:PassRole` permission names.
pub fn role_name(owner: &Owner) -> String {
    owner.aws_name("webstack-exec", 64)
}

/// Who may assume the role: ECS tasks.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The IAM resource a `valueFrom` (or repository credentials) names, with the action that reads
/// it: a Secrets Manager secret (a JSON key or version suffix removed; a partial ARN without
/// AWS's six random characters matched with `-??????`), or an SSM parameter (by ARN, or by name in
/// the stack's region).
pub fn secret_resource(value_from: &str, region: &str) -> (&'static str, String) {
    if value_from.starts_with("arn:") && value_from.split(':').nth(2) == Some("secretsmanager") {
        let arn: Vec<&str> = value_from.split(':').take(7).collect();
        let mut arn = arn.join(":");
        let name = arn.rsplit(':').next().unwrap_or_default();
        let suffixed = name
            .rsplit_once('-')
            .is_some_and(|(_, s)| s.len() == 6 && s.chars().all(|c| c.is_ascii_alphanumeric()));
        if !suffixed {
            arn.push_str("-??????");
        }
        ("secretsmanager:GetSecretValue", arn)
    } else if value_from.starts_with("arn:") {
        ("ssm:GetParameters", value_from.to_string())
    } else {
        let name = value_from.trim_start_matches('/');
        ("ssm:GetParameters", format!("arn:aws:ssm:{region}:*:parameter/{name}"))
    }
}

/// The inline policy: logs of the stack's log groups, ECR pulls from exactly the stack's
/// repositories and the ECR repositories its services' images name, and exactly the secrets the
/// services reference plus the stack's own database and cache secrets (`stack_secrets`).
pub fn policy(role: &DesiredRole, stack_secrets: &[String]) -> Value {
    let groups: BTreeSet<String> = role
        .services
        .iter()
        .map(|s| format!("arn:aws:logs:{}:*:log-group:{}:*", role.region, s.log_group))
        .collect();
    let mut secrets = BTreeSet::new();
    let mut parameters = BTreeSet::new();
    let all = role.services.iter().flat_map(|s| &s.secrets).chain(stack_secrets);
    for v in all {
        match secret_resource(v, &role.region) {
            ("secretsmanager:GetSecretValue", arn) => secrets.insert(arn),
            (_, arn) => parameters.insert(arn),
        };
    }
    let mut statements = Vec::new();
    if !groups.is_empty() {
        statements.push(json!({
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": groups.into_iter().collect::<Vec<_>>()
        }));
    }
    // ECR: pulls from exactly the stack's repositories and the private ECR repositories the
    // services' images name; the authorization token is account-wide (GetAuthorizationToken has
    // no resource-level permission, so `*`) and grants no image by itself: always there, so the
    // document is never empty (IAM refuses a policy without statements).
    let pulls: BTreeSet<String> = role
        .repositories
        .iter()
        .map(|r| super::registry::repository_arn(&role.region, r))
        .chain(role.services.iter().flat_map(|s| s.ecr_repositories.iter().cloned()))
        .collect();
    statements.push(json!({
        "Sid": "EcrAuth",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": "*"
    }));
    if !pulls.is_empty() {
        statements.push(json!({
            "Sid": "EcrPull",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage"
            ],
            "Resource": pulls.into_iter().collect::<Vec<_>>()
        }));
    }
    if !secrets.is_empty() {
        statements.push(json!({
            "Sid": "Secrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": secrets.into_iter().collect::<Vec<_>>()
        }));
    }
    if !parameters.is_empty() {
        statements.push(json!({
            "Sid": "Parameters",
            "Effect": "Allow",
            "Action": ["ssm:GetParameters"],
            "Resource": parameters.into_iter().collect::<Vec<_>>()
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}
