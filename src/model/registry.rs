//! The stack's container registries (`spec.registries`): ECR repositories, their names in AWS,
//! lifecycle policy and settings as they should be ([`DesiredRepository`]) and as found
//! ([`ObservedRepository`]), and the ECR repository an image reference names. Pure, no I/O.

use serde_json::{Value, json};

use super::ownership::{Owner, TagMap, stable_hash};

/// ECR's longest repository name.
pub const MAX_NAME: usize = 256;

/// A repository as it should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredRepository {
    /// The name in `spec.registries` (what a container's `registry:` names).
    pub name: String,
    /// The repository's name in ECR: [`repository_name`].
    pub aws_name: String,
    pub immutable_tags: bool,
    /// The lifecycle policy keeps this many most recent images.
    pub keep_images: i32,
    /// Always true: every push is scanned.
    pub scan_on_push: bool,
}

/// The registries of a stack, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredRegistries {
    pub repositories: Vec<DesiredRepository>,
    /// `registriesForceDelete` (only ever true with `deletionPolicy: Delete`).
    pub force_delete: bool,
}

/// A repository as ECR has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRepository {
    /// The name in `spec.registries` (or in status, for one removed from the spec).
    pub name: String,
    pub aws_name: String,
    pub arn: String,
    pub uri: String,
    pub scan_on_push: bool,
    /// `MUTABLE` or `IMMUTABLE` (or an `_WITH_EXCLUSION` variant set by hand).
    pub tag_mutability: String,
    /// Empty when not read on this pass (a steady re-check reads no tags).
    pub tags: TagMap,
    /// The lifecycle policy: `None` not read on this pass, `Some(None)` the repository has none.
    pub lifecycle_policy: Option<Option<Value>>,
    /// Whether it holds an image: `None` when not read (only read where deletion depends on it).
    pub has_images: Option<bool>,
}

/// The repository's name in ECR: `<namespace>/<stack>/<name>`, unique per account and region
/// across namespaces and stacks, and stable across re-creations of the stack (image URIs written
/// into CI keep working). Kubernetes names may hold runs of `-`/`.` that ECR refuses; each run
/// becomes one `-`. A name longer than ECR's 256 characters keeps its end (the registry's own
/// name) and shortens the stack part, which then ends in a hash of the full name.
pub fn repository_name(owner: &Owner, name: &str) -> String {
    let clean = |s: &str| {
        let mut out = String::new();
        for c in s.to_ascii_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with(['-', '.', '_']) {
                out.push(if c == '.' || c == '_' { c } else { '-' });
            }
        }
        out.trim_end_matches(['-', '.', '_']).to_string()
    };
    let prefix = format!("{}/{}", clean(&owner.namespace), clean(&owner.name));
    let full = format!("{prefix}/{name}");
    if full.len() <= MAX_NAME {
        return full;
    }
    let hash = format!("{:08x}", stable_hash(&full));
    let room = MAX_NAME.saturating_sub(name.len() + hash.len() + 2);
    let cut = prefix[..prefix.len().min(room)].trim_end_matches(['-', '.', '_', '/']);
    format!("{cut}-{hash}/{name}")
}

/// The `webstack.io/component` of a repository.
pub fn component(name: &str) -> String {
    format!("registry/{name}")
}

/// The lifecycle policy: one rule that expires images beyond the `keep` most recent, tagged or not.
pub fn lifecycle_policy(keep: i32) -> Value {
    json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("keep the {keep} most recent images"),
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": keep
            },
            "action": {"type": "expire"}
        }]
    })
}

/// The ECR mutability value.
pub fn mutability(immutable: bool) -> &'static str {
    if immutable { "IMMUTABLE" } else { "MUTABLE" }
}

/// The ARN pattern of a repository the stack owns, for the task execution role. The account is
/// left as `*` (the stack's role and repositories live in the same account; the name carries the
/// namespace and stack).
pub fn repository_arn(region: &str, aws_name: &str) -> String {
    format!("arn:aws:ecr:{region}:*:repository/{aws_name}")
}

/// The private ECR repository an image reference pulls from, as its ARN:
/// `<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]` →
/// `arn:aws:ecr:<region>:<account>:repository/<repo>`. `None` for any other registry (Docker Hub,
/// ECR Public, a private registry with credentials): those need no ECR permission.
pub fn ecr_repository_of(image: &str) -> Option<String> {
    let (host, rest) = image.split_once('/')?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    let (dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?);
    let suffix: Vec<&str> = parts.collect();
    let known = matches!(suffix.as_slice(), ["amazonaws", "com"] | ["amazonaws", "com", "cn"]);
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || dkr != "dkr" || ecr != "ecr" || !known {
        return None;
    }
    let repo = rest.split('@').next()?;
    // A tag follows the last `:` after the last `/`.
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    if repo.is_empty() {
        return None;
    }
    let partition = if suffix.len() == 3 { "aws-cn" } else { "aws" };
    Some(format!("arn:{partition}:ecr:{region}:{account}:repository/{repo}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(namespace: &str, name: &str) -> Owner {
        Owner {
            cluster_id: "c".into(),
            namespace: namespace.into(),
            kind: "WebStack",
            name: name.into(),
            uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        }
    }

    /// ECR's documented pattern for repository names.
    fn ecr_accepts(name: &str) -> bool {
        let component = |c: &str| {
            !c.is_empty()
                && c.split(['.', '_', '-'])
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        };
        name.len() >= 2 && name.len() <= MAX_NAME && name.split('/').all(component)
    }

    #[test]
    fn names_are_namespaced_stable_and_acceptable_to_ecr() {
        let cases = [
            (("shop", "forum"), "posts", "shop/forum/posts"),
            (("shop", "forum"), "team/posts", "shop/forum/team/posts"),
            (("a--b", "web.v2"), "x", "a-b/web.v2/x"),
            (("a", "b-.c"), "x", "a/b-c/x"),
        ];
        for ((ns, stack), name, want) in cases {
            let got = repository_name(&owner(ns, stack), name);
            assert_eq!(got, want);
            assert!(ecr_accepts(&got), "{got}");
        }
        // Too long for ECR: the stack part is shortened and hashed, the registry's name kept.
        let long = owner(&"n".repeat(63), &"s".repeat(253));
        let name = "p".repeat(100);
        let got = repository_name(&long, &name);
        assert_eq!(got.len(), MAX_NAME);
        assert!(got.ends_with(&format!("/{name}")));
        assert!(ecr_accepts(&got), "{got}");
        assert_ne!(got, repository_name(&owner(&"n".repeat(63), &"s".repeat(252)), &name));
    }

    #[test]
    fn the_lifecycle_policy_expires_beyond_the_most_recent() {
        let p = lifecycle_policy(30);
        let rule = &p["rules"][0];
        assert_eq!(rule["selection"]["countType"], "imageCountMoreThan");
        assert_eq!(rule["selection"]["countNumber"], 30);
        assert_eq!(rule["selection"]["tagStatus"], "any");
        assert_eq!(rule["action"]["type"], "expire");
    }

    #[test]
    fn private_ecr_images_name_their_repository() {
        let cases = [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/posts:1.0",
                Some("arn:aws:ecr:eu-west-1:123456789012:repository/shop/posts"),
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:abcd",
                Some("arn:aws:ecr:us-east-1:123456789012:repository/web"),
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/web",
                Some("arn:aws:ecr:us-east-1:123456789012:repository/web"),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/web:1",
                Some("arn:aws-cn:ecr:cn-north-1:123456789012:repository/web"),
            ),
            ("nginx:1.27", None),
            ("public.ecr.aws/nginx/nginx:1", None),
            ("registry.example.com:5000/web:1", None),
            ("docker.io/library/nginx", None),
        ];
        for (image, want) in cases {
            assert_eq!(ecr_repository_of(image).as_deref(), want, "{image}");
        }
    }
}
