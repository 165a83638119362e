//! What an object may name outside its own stack: the operator's safe defaults, which hold with or
//! without a platform team's policy. Each field that names something the stack does not create (a
//! secret, a role, a VPC, a load balancer) is a way into another team's resources until one of these
//! rules guards it. Pure rules over names, ARNs and tags; no I/O.
//!
//! - A secret reference (`valueFrom`, `repositoryCredentialsArn`) names exactly one secret or
//!   parameter: no IAM wildcard (`*`, `?`), which the task execution role's policy would otherwise
//!   grant as written, and never a secret the operator manages for another namespace
//!   (`webstack/<namespace>/...`).
//! - A role (`taskRoleArn`, `executionRoleArn`) is never one the operator manages (`webstack-*`,
//!   which its `iam:PassRole` may pass) unless it is the stack's own task execution role.
//! - A VPC or load balancer is adopted only when an administrator tagged it
//!   `webstack.io/adoptable` with the namespace, and never when the operator manages it for a stack.

use super::ownership::{MANAGED_BY, TagMap};

/// The tag an administrator sets on a VPC or load balancer that a namespace's stacks may adopt: the
/// namespace, or several separated by spaces.
pub const ADOPTABLE: &str = "webstack.io/adoptable";

/// The name prefix of every IAM role the operator creates (its `iam:PassRole` names it).
pub const ROLE_PREFIX: &str = "webstack-";

/// The name prefix of every Secrets Manager secret the operator creates: `webstack/<namespace>/`.
pub const SECRET_PREFIX: &str = "webstack/";

/// A reference the rules refuse: the field, and why, naming the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} (rule {rule} of {origin})")]
pub struct Violation {
    pub field: String,
    pub message: String,
    /// A short, stable name of the rule, e.g. `no-wildcard-secrets`.
    pub rule: &'static str,
    /// Where the rule comes from: the operator's defaults, or a WebStackPolicy by name.
    pub origin: String,
}

/// The source of the rules below.
pub const DEFAULTS: &str = "webstack-operator's defaults";

fn violation(field: &str, rule: &'static str, message: String) -> Violation {
    Violation {
        field: field.to_string(),
        message,
        rule,
        origin: DEFAULTS.to_string(),
    }
}

/// The name a secret reference points at: a Secrets Manager secret's name (after `secret:`, JSON
/// key and version suffix removed), an SSM parameter's name (after `parameter`), or the reference
/// itself (a parameter by name), without a leading `/`.
pub fn secret_name(reference: &str) -> &str {
    let name = if reference.starts_with("arn:") {
        let parts: Vec<&str> = reference.splitn(7, ':').collect();
        match (parts.get(2), parts.get(5), parts.get(6)) {
            (Some(&"secretsmanager"), Some(&"secret"), Some(rest)) => rest.split(':').next().unwrap_or_default(),
            (Some(&"ssm"), Some(resource), _) => resource.strip_prefix("parameter").unwrap_or(resource),
            _ => parts.get(5).copied().unwrap_or_default(),
        }
    } else {
        reference
    };
    name.trim_start_matches('/')
}

/// A `valueFrom` or `repositoryCredentialsArn` of an object in `namespace`.
pub fn check_secret(field: &str, reference: &str, namespace: &str) -> Result<(), Violation> {
    if reference.contains(['*', '?']) {
        return Err(violation(
            field,
            "no-wildcard-secrets",
            format!(
                "{reference:?} has a wildcard; name exactly one secret or parameter (the task execution role is granted what this names)"
            ),
        ));
    }
    let name = secret_name(reference);
    if let Some(rest) = name.strip_prefix(SECRET_PREFIX) {
        let owner = rest.split('/').next().unwrap_or_default();
        if owner != namespace {
            return Err(violation(
                field,
                "own-namespace-secrets",
                format!(
                    "{reference:?} is a secret webstack-operator manages for namespace {owner:?}; a stack reads only its own namespace's"
                ),
            ));
        }
    }
    Ok(())
}

/// The role name of a role ARN (`arn:aws:iam::123456789012:role/path/name` → `path/name`).
pub fn role_path_and_name(arn: &str) -> &str {
    arn.split_once(":role/").map_or(arn, |(_, name)| name)
}

/// A `taskRoleArn` or `executionRoleArn`: never a role this operator manages (`webstack-*`, which
/// its `iam:PassRole` can pass to ECS), except the stack's own task execution role `own`.
pub fn check_role(field: &str, arn: &str, own: Option<&str>) -> Result<(), Violation> {
    let name = role_path_and_name(arn);
    if name.starts_with(ROLE_PREFIX) && Some(name) != own {
        return Err(violation(
            field,
            "no-operator-roles",
            format!(
                "{arn} is a role webstack-operator manages (webstack-*); a service may name only roles of its own team{}",
                own.map(|o| format!(" or its stack's task execution role {o}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Whether `namespace` may adopt a resource with these tags: it is not managed by the operator (for
/// any stack, in any cluster) and an administrator tagged it `webstack.io/adoptable` with the
/// namespace (alone or in a space-separated list).
pub fn check_adoptable(field: &str, what: &str, id: &str, tags: &TagMap, namespace: &str) -> Result<(), Violation> {
    if tags.contains_key(MANAGED_BY) {
        return Err(violation(
            field,
            "adopt-unmanaged-only",
            format!("{what} {id} is managed by webstack-operator for a stack; it is never adopted"),
        ));
    }
    let listed = tags
        .get(ADOPTABLE)
        .is_some_and(|v| v.split_whitespace().any(|n| n == namespace));
    if !listed {
        return Err(violation(
            field,
            "adopt-tagged-only",
            format!(
                "{what} {id} is not tagged {ADOPTABLE}={namespace}; an administrator tags what a namespace may adopt"
            ),
        ));
    }
    Ok(())
}

/// Whether `text` matches the glob `pattern`: `*` any run of characters (`/` and `:` included),
/// `?` one character, everything else literally. Linear in both lengths (no backtracking blow-up).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether an ARN matches one of the globs. An ARN whose account is `*` (an SSM parameter named
/// without its ARN, whose account the operator does not know) is matched with each pattern's own
/// account field, so `arn:aws:ssm:us-east-1:*:parameter/app/k` matches
/// `arn:aws:ssm:us-east-1:123456789012:parameter/app/*`.
pub fn arn_allowed(patterns: &[String], arn: &str) -> bool {
    patterns.iter().any(|p| {
        let fields: Vec<&str> = arn.splitn(6, ':').collect();
        if fields.len() == 6 && fields[4] == "*" {
            let account = p.split(':').nth(4).unwrap_or("*");
            let concrete = [fields[0], fields[1], fields[2], fields[3], account, fields[5]].join(":");
            glob(p, &concrete)
        } else {
            glob(p, arn)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "arn:aws:iam::1:role/a/b", true),
            ("arn:aws:iam::1:role/movies-*", "arn:aws:iam::1:role/movies-api", true),
            ("arn:aws:iam::1:role/movies-*", "arn:aws:iam::1:role/books-api", false),
            ("t3.*", "t3.small", true),
            ("t3.*", "t3a.small", false),
            ("db.t4g.?icro", "db.t4g.micro", true),
            ("*.movies.example.com", "api.movies.example.com", true),
            ("*.movies.example.com", "movies.example.com", false),
            ("a*b*c", "aXXbYYbZc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn arns_by_name_match_any_account_of_the_pattern() {
        let allowed = ["arn:aws:ssm:us-east-1:123456789012:parameter/movies/*".to_string()];
        assert!(arn_allowed(&allowed, "arn:aws:ssm:us-east-1:*:parameter/movies/key"));
        assert!(arn_allowed(
            &allowed,
            "arn:aws:ssm:us-east-1:123456789012:parameter/movies/key"
        ));
        assert!(!arn_allowed(
            &allowed,
            "arn:aws:ssm:us-east-1:210987654321:parameter/movies/key"
        ));
        assert!(!arn_allowed(&allowed, "arn:aws:ssm:us-east-1:*:parameter/books/key"));
        assert!(!arn_allowed(&[], "arn:aws:ssm:us-east-1:*:parameter/books/key"));
    }

    const NS: &str = "team-a";

    #[test]
    fn secret_names_from_arns_and_parameter_names() {
        for (reference, name) in [
            (
                "arn:aws:secretsmanager:us-east-1:1:secret:webstack/team-a/x-1/db-AbCdEf",
                "webstack/team-a/x-1/db-AbCdEf",
            ),
            (
                "arn:aws:secretsmanager:us-east-1:1:secret:app/db-AbCdEf:password::",
                "app/db-AbCdEf",
            ),
            (
                "arn:aws:ssm:us-east-1:1:parameter/webstack/team-b/k",
                "webstack/team-b/k",
            ),
            ("arn:aws:ssm:us-east-1:1:parameter/k", "k"),
            ("/app/key", "app/key"),
            ("key", "key"),
        ] {
            assert_eq!(secret_name(reference), name, "{reference}");
        }
    }

    #[test]
    fn secret_references_without_wildcards_in_the_own_namespace() {
        let ok = [
            "arn:aws:secretsmanager:us-east-1:1:secret:app/db-AbCdEf",
            "arn:aws:secretsmanager:us-east-1:1:secret:webstack/team-a/shop-1a2b3c4d/database-AbCdEf",
            "arn:aws:ssm:us-east-1:1:parameter/app/key",
            "/app/key",
            "webstack/team-a/k",
        ];
        for r in ok {
            assert_eq!(check_secret("f", r, NS), Ok(()), "{r}");
        }
        let refused = [
            ("*", "no-wildcard-secrets"),
            ("arn:aws:secretsmanager:us-east-1:1:secret:*", "no-wildcard-secrets"),
            (
                "arn:aws:secretsmanager:us-east-1:1:secret:webstack/team-b/*",
                "no-wildcard-secrets",
            ),
            ("arn:aws:ssm:us-east-1:1:parameter/app/ke?", "no-wildcard-secrets"),
            (
                "arn:aws:secretsmanager:us-east-1:1:secret:webstack/team-b/shop-1a2b3c4d/database-AbCdEf",
                "own-namespace-secrets",
            ),
            (
                "arn:aws:ssm:us-east-1:1:parameter/webstack/team-b/k",
                "own-namespace-secrets",
            ),
            ("/webstack/team-ab/k", "own-namespace-secrets"),
        ];
        for (r, rule) in refused {
            let e = check_secret("spec.containers[0].secrets[0].valueFrom", r, NS).unwrap_err();
            assert_eq!(e.rule, rule, "{r}");
            assert!(
                e.to_string().starts_with("spec.containers[0].secrets[0].valueFrom: "),
                "{e}"
            );
            assert!(e.to_string().contains(DEFAULTS), "{e}");
        }
    }

    #[test]
    fn operator_roles_only_the_stacks_own() {
        let own = "webstack-exec-team-a-shop-1a2b3c4d";
        for arn in [
            "arn:aws:iam::1:role/app-task",
            "arn:aws:iam::1:role/team/webstack-like",
            &format!("arn:aws:iam::1:role/{own}"),
        ] {
            assert_eq!(check_role("f", arn, Some(own)), Ok(()), "{arn}");
        }
        for arn in [
            "arn:aws:iam::1:role/webstack-exec-team-b-shop-9f8e7d6c",
            "arn:aws:iam::1:role/webstack-ec2-team-a-shop-1a2b3c4d",
            "arn:aws:iam::1:role/webstack-flowlogs-x",
        ] {
            let e = check_role("spec.taskRoleArn", arn, Some(own)).unwrap_err();
            assert_eq!(e.rule, "no-operator-roles");
        }
        assert!(check_role("f", &format!("arn:aws:iam::1:role/{own}"), None).is_err());
    }

    #[test]
    fn adoption_needs_the_administrators_tag_and_no_operator_tags() {
        let tags =
            |pairs: &[(&str, &str)]| -> TagMap { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        for ok in [
            tags(&[(ADOPTABLE, NS)]),
            tags(&[(ADOPTABLE, "team-b team-a"), ("Name", "shared")]),
        ] {
            assert_eq!(check_adoptable("f", "VPC", "vpc-1", &ok, NS), Ok(()));
        }
        for (t, rule) in [
            (tags(&[]), "adopt-tagged-only"),
            (tags(&[(ADOPTABLE, "team-b")]), "adopt-tagged-only"),
            (tags(&[(ADOPTABLE, "team-ab")]), "adopt-tagged-only"),
            (
                tags(&[(ADOPTABLE, NS), (MANAGED_BY, "webstack-operator")]),
                "adopt-unmanaged-only",
            ),
        ] {
            let e = check_adoptable("spec.network.vpcId", "VPC", "vpc-1", &t, NS).unwrap_err();
            assert_eq!(e.rule, rule, "{t:?}");
        }
    }
}
