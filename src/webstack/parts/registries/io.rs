//! Container registries' I/O: observing the stack's ECR repositories and applying
//! [`RegistryStep`]s.
//!
//! A steady re-check makes 1 call for all of the stack's repositories (DescribeRepositories by
//! name: scanning and tag mutability); on spec changes, until Ready and on deletion, also each
//! one's tags (ownership) and lifecycle policy; a repository removed from the spec, and every one
//! on deletion, is also checked for images (ListImages, one result).

use std::collections::BTreeSet;

use super::{RegistryStep, not_empty};
use crate::api::WebStack;
use crate::aws::{Clients, ecr};
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::registry::{DesiredRegistries, ObservedRepository, lifecycle_policy, mutability};
use crate::model::{Owner, TagMap};
use crate::reconcile::Blocked;

/// The `Stalled` reason while deletion waits for a repository that holds images: a person
/// decides (empty it, or set `registriesForceDelete`), like deletion protection on a database.
pub const NOT_EMPTY: &str = "RepositoryNotEmpty";

/// Which repositories to read.
pub struct RegistryKey {
    /// `(name in the spec or status, name in ECR)`: the spec's names and those in status (a name
    /// removed from the spec is still found, to be deleted or kept).
    pub names: Vec<(String, String)>,
    /// Names no longer in the spec.
    pub removed: BTreeSet<String>,
    /// Also read tags and lifecycle policies.
    pub deep: bool,
    pub deleting: bool,
}

/// The repositories found. What is not ours stops the reconcile (a conflict), or on deletion is
/// left out (never touched).
pub async fn observe(c: &Clients, key: &RegistryKey, owner: &Owner) -> Result<Vec<ObservedRepository>, Blocked> {
    let aws_names: Vec<String> = key.names.iter().map(|(_, a)| a.clone()).collect();
    let found = ecr::describe(&c.ecr, &aws_names).await?;
    let mut out = Vec::new();
    for (name, aws_name) in &key.names {
        let Some(r) = found.iter().find(|r| &r.name == aws_name) else {
            continue;
        };
        let removed = key.removed.contains(name);
        let mut o = ObservedRepository {
            name: name.clone(),
            aws_name: aws_name.clone(),
            arn: r.arn.clone(),
            uri: r.uri.clone(),
            scan_on_push: r.scan_on_push,
            tag_mutability: r.tag_mutability.clone(),
            tags: TagMap::new(),
            lifecycle_policy: None,
            has_images: None,
        };
        if key.deep || removed || key.deleting {
            o.tags = ecr::tags(&c.ecr, &r.arn).await?;
            match owner.check("ECR repository", aws_name, &o.tags) {
                Ok(()) => {}
                // Deletion, or a name the spec no longer has: another's repository is not ours to
                // delete, nor to report.
                Err(_) if key.deleting || removed => continue,
                Err(conflict) => return Err(conflict.into()),
            }
        }
        if key.deep && !key.deleting && !removed {
            o.lifecycle_policy = Some(ecr::lifecycle_policy(&c.ecr, aws_name).await?);
        }
        if removed || key.deleting {
            o.has_images = Some(ecr::has_images(&c.ecr, aws_name).await?);
        }
        out.push(o);
    }
    Ok(out)
}

/// Which repositories to read: the spec's and those in status (a name removed from the spec is
/// deleted, or kept while it holds images); on deletion all of them.
pub fn registry_key(ws: &WebStack, owner: &Owner, deep: bool, deleting: bool) -> RegistryKey {
    let recorded = ws.status.iter().flat_map(|s| s.registries.keys());
    let mut names: Vec<String> = ws.spec.registries.clone();
    let removed: BTreeSet<String> = recorded.filter(|n| !ws.spec.registries.contains(n)).cloned().collect();
    names.extend(removed.iter().cloned());
    RegistryKey {
        names: names
            .into_iter()
            .map(|n| {
                let aws = crate::model::registry::repository_name(owner, &n);
                (n, aws)
            })
            .collect(),
        removed,
        deep,
        deleting,
    }
}

/// Runs one registry step; `tags` are the repository's tags (empty on deletion).
pub async fn apply(
    c: &Clients,
    desired: Option<&DesiredRegistries>,
    observed: &[ObservedRepository],
    tags: &TagMap,
    step: &RegistryStep,
) -> Result<(), Blocked> {
    let c = &c.ecr;
    let repository = step.repository();
    let d = desired.and_then(|d| d.repositories.iter().find(|r| r.aws_name == repository));
    let o = observed.iter().find(|o| o.aws_name == repository);
    let arn = || {
        o.map(|o| o.arn.clone())
            .ok_or_else(|| Blocked::waiting(format!("repository {repository} is not known yet")))
    };
    match step {
        RegistryStep::Create { .. } => {
            let d = d.ok_or_else(|| Blocked::waiting("the registry spec is not known"))?;
            if let Err(e) = ecr::create(c, repository, d.scan_on_push, mutability(d.immutable_tags), tags).await {
                if e.code == "RepositoryAlreadyExistsException" {
                    // Created meanwhile (by us, or someone else): its owner is checked on the next pass.
                    return Err(Blocked::waiting(format!(
                        "repository {repository} appeared meanwhile; checking its owner"
                    )));
                }
                return Err(e.into());
            }
        }
        RegistryStep::PutLifecyclePolicy { keep, .. } => {
            ecr::put_lifecycle_policy(c, repository, &lifecycle_policy(*keep)).await?
        }
        RegistryStep::SetScanOnPush { on, .. } => ecr::put_scanning(c, repository, *on).await?,
        RegistryStep::SetTagMutability { to, .. } => ecr::put_mutability(c, repository, to).await?,
        RegistryStep::RestoreTags { keys, .. } => ecr::tag(c, &arn()?, &select(tags, keys)).await?,
        RegistryStep::Delete { force, .. } => {
            if let Err(e) = ecr::delete(c, repository, *force).await {
                if e.code == "RepositoryNotEmptyException" {
                    return Err(Blocked::stalled(NOT_EMPTY, not_empty(repository)));
                }
                return Err(e.into());
            }
        }
        RegistryStep::AwaitEmpty { .. } => return Err(Blocked::stalled(NOT_EMPTY, not_empty(repository))),
        RegistryStep::Untag { .. } => ecr::untag(c, &arn()?, &OWNERSHIP_KEYS).await?,
    }
    Ok(())
}
