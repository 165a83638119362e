//! Container registries' plans (pure): one ECR repository per name in `spec.registries`, created
//! with scanning on push, the tag mutability of `registrySettings` and a lifecycle policy keeping
//! the last `keepImages` images; drift in any of these or in its tags is put back. A name removed
//! from the spec: its repository is deleted when empty, else kept (no image is ever deleted by
//! surprise) and named in the Ready message. Deletion: after everything else (the services that
//! pull from it are gone first); a repository holding images is deleted only with
//! `registriesForceDelete: true` (and `deletionPolicy: Delete`), else deletion waits, saying so;
//! `Retain` removes the ownership tags only.

pub mod io;

use std::collections::BTreeMap;
use std::fmt;

use crate::api::WebStackSpec;
use crate::model::ownership::missing_tags;
use crate::model::registry::{
    DesiredRegistries, DesiredRepository, ObservedRepository, lifecycle_policy, mutability, repository_name,
};
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::model::{InvalidSpec, Owner, TagMap, invalid};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// One change to a repository (`repository` is its name in ECR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryStep {
    /// With scanning, mutability and tags in the create call.
    Create {
        repository: String,
    },
    PutLifecyclePolicy {
        repository: String,
        keep: i32,
    },
    SetScanOnPush {
        repository: String,
        on: bool,
    },
    SetTagMutability {
        repository: String,
        from: String,
        to: &'static str,
    },
    RestoreTags {
        repository: String,
        keys: Vec<String>,
    },
    Delete {
        repository: String,
        force: bool,
    },
    /// Not an AWS call: deletion waits for a repository that holds images (no force).
    AwaitEmpty {
        repository: String,
    },
    /// `Retain`: the ownership tags go, the repository and its images stay.
    Untag {
        repository: String,
    },
}

impl RegistryStep {
    pub fn action(&self) -> &'static str {
        match self {
            RegistryStep::Create { .. } => "CreateRepository",
            RegistryStep::PutLifecyclePolicy { .. } => "PutLifecyclePolicy",
            RegistryStep::SetScanOnPush { .. } => "PutImageScanningConfiguration",
            RegistryStep::SetTagMutability { .. } => "PutImageTagMutability",
            RegistryStep::RestoreTags { .. } => "TagResource",
            RegistryStep::Delete { .. } => "DeleteRepository",
            RegistryStep::AwaitEmpty { .. } => "ListImages",
            RegistryStep::Untag { .. } => "UntagResource",
        }
    }

    /// The repository (its ECR name) the step is about.
    pub fn repository(&self) -> &str {
        match self {
            RegistryStep::Create { repository }
            | RegistryStep::PutLifecyclePolicy { repository, .. }
            | RegistryStep::SetScanOnPush { repository, .. }
            | RegistryStep::SetTagMutability { repository, .. }
            | RegistryStep::RestoreTags { repository, .. }
            | RegistryStep::Delete { repository, .. }
            | RegistryStep::AwaitEmpty { repository }
            | RegistryStep::Untag { repository } => repository,
        }
    }
}

impl fmt::Display for RegistryStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryStep::Create { repository } => write!(f, "create ECR repository {repository}"),
            RegistryStep::PutLifecyclePolicy { repository, keep } => {
                write!(
                    f,
                    "set the lifecycle policy of {repository} (keep the last {keep} images)"
                )
            }
            RegistryStep::SetScanOnPush { repository, on } => {
                write!(
                    f,
                    "turn scan on push {} on {repository}",
                    if *on { "on" } else { "off" }
                )
            }
            RegistryStep::SetTagMutability { repository, from, to } => {
                write!(f, "set the tag mutability of {repository} from {from} to {to}")
            }
            RegistryStep::RestoreTags { repository, keys } => {
                write!(f, "restore tags {} on repository {repository}", keys.join(", "))
            }
            RegistryStep::Delete { repository, force } => {
                let with = if *force {
                    " with its images (registriesForceDelete)"
                } else {
                    ""
                };
                write!(f, "delete ECR repository {repository}{with}")
            }
            RegistryStep::AwaitEmpty { repository } => write!(f, "{}", not_empty(repository)),
            RegistryStep::Untag { repository } => {
                write!(f, "remove the ownership tags of repository {repository}")
            }
        }
    }
}

/// Why deletion waits for a repository that holds images.
pub fn not_empty(repository: &str) -> String {
    format!(
        "ECR repository {repository} holds images and is not deleted: delete its images, or set \
         deletionPolicy: Delete and registriesForceDelete: true to delete it with them"
    )
}

/// The desired repositories of the spec. An inline service's container naming a registry the
/// stack lacks is refused here (the ContainerService child would stall on it too).
pub fn desired(spec: &WebStackSpec, owner: &Owner) -> Result<DesiredRegistries, InvalidSpec> {
    for (i, s) in spec.services.iter().enumerate() {
        let containers = s.container.iter().flat_map(|c| c.containers.iter().enumerate());
        for (j, c) in containers {
            if let Some(r) = c.registry.as_ref().filter(|r| !spec.registries.contains(r)) {
                return Err(invalid(
                    format!("spec.services[{i}].container.containers[{j}].registry"),
                    format!("the stack has no registry {r} (spec.registries)"),
                ));
            }
        }
    }
    let settings = spec.registry_settings.clone().unwrap_or_default();
    Ok(DesiredRegistries {
        repositories: spec
            .registries
            .iter()
            .map(|name| DesiredRepository {
                name: name.clone(),
                aws_name: repository_name(owner, name),
                immutable_tags: settings.immutable_tags,
                keep_images: settings.keep_images,
                scan_on_push: true,
            })
            .collect(),
        force_delete: spec.registries_force_delete == Some(true),
    })
}

/// Steps that make the repositories match; `tags` gives each one's tags by its spec name.
pub fn plan(
    desired: &DesiredRegistries,
    observed: &[ObservedRepository],
    tags: impl Fn(&str) -> TagMap,
) -> Vec<RegistryStep> {
    let mut steps = Vec::new();
    for d in &desired.repositories {
        let repository = d.aws_name.clone();
        let Some(o) = observed.iter().find(|o| o.aws_name == d.aws_name) else {
            steps.push(RegistryStep::Create {
                repository: repository.clone(),
            });
            steps.push(RegistryStep::PutLifecyclePolicy {
                repository,
                keep: d.keep_images,
            });
            continue;
        };
        let keys = if o.tags.is_empty() {
            Vec::new()
        } else {
            missing_tags(&tags(&d.name), &o.tags)
        };
        if !keys.is_empty() {
            steps.push(RegistryStep::RestoreTags {
                repository: repository.clone(),
                keys,
            });
        }
        if o.scan_on_push != d.scan_on_push {
            steps.push(RegistryStep::SetScanOnPush {
                repository: repository.clone(),
                on: d.scan_on_push,
            });
        }
        let want = mutability(d.immutable_tags);
        if o.tag_mutability != want {
            steps.push(RegistryStep::SetTagMutability {
                repository: repository.clone(),
                from: o.tag_mutability.clone(),
                to: want,
            });
        }
        let policy = lifecycle_policy(d.keep_images);
        if o.lifecycle_policy.as_ref().is_some_and(|p| p.as_ref() != Some(&policy)) {
            steps.push(RegistryStep::PutLifecyclePolicy {
                repository,
                keep: d.keep_images,
            });
        }
    }
    // Removed from the spec: deleted once known to be empty; one holding images is kept.
    for o in removed(desired, observed) {
        if o.has_images == Some(false) {
            steps.push(RegistryStep::Delete {
                repository: o.aws_name.clone(),
                force: false,
            });
        }
    }
    steps
}

/// Observed repositories the spec no longer has.
fn removed<'a>(
    desired: &'a DesiredRegistries,
    observed: &'a [ObservedRepository],
) -> impl Iterator<Item = &'a ObservedRepository> {
    observed
        .iter()
        .filter(|o| !desired.repositories.iter().any(|d| d.aws_name == o.aws_name))
}

/// Repositories removed from the spec and kept because they hold images (for the Ready message).
pub fn kept(desired: &DesiredRegistries, observed: &[ObservedRepository]) -> Vec<String> {
    removed(desired, observed)
        .filter(|o| o.has_images != Some(false))
        .map(|o| o.aws_name.clone())
        .collect()
}

/// Deletion: every repository goes (with its images only with `force`), or under `Retain` loses
/// its ownership tags. A repository not read for images is tried without force: ECR refuses it
/// if it holds any, which is the same wait.
pub fn plan_cleanup(observed: &[ObservedRepository], retain: bool, force: bool) -> Vec<RegistryStep> {
    observed
        .iter()
        .map(|o| {
            let repository = o.aws_name.clone();
            if retain {
                RegistryStep::Untag { repository }
            } else if o.has_images == Some(true) && !force {
                RegistryStep::AwaitEmpty { repository }
            } else {
                RegistryStep::Delete { repository, force }
            }
        })
        .collect()
}

/// `status.registries`: each repository's URI by its name (a removed one still listed while kept).
pub fn status(observed: &[ObservedRepository]) -> BTreeMap<String, String> {
    observed
        .iter()
        .filter(|o| !o.uri.is_empty())
        .map(|o| (o.name.clone(), o.uri.clone()))
        .collect()
}

impl crate::reconcile::Step for RegistryStep {
    fn action(&self) -> &'static str {
        RegistryStep::action(self)
    }

    fn destructive(&self) -> Option<String> {
        match self {
            RegistryStep::Delete {
                repository,
                force: true,
            } => Some(format!(
                "every image in repository {repository} is deleted (registriesForceDelete)"
            )),
            _ => None,
        }
    }
}

/// The container registries part.
pub struct Registries;

impl Part for Registries {
    type Step = RegistryStep;

    /// Before the role that pulls from them and the services that name them.
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<RegistryStep> {
        plan(&desired.registries, &observed.registries, |name| {
            desired.tags_for(&crate::model::registry::component(name))
        })
    }

    /// Last: nothing depends on them, and one that waits (it holds images) then holds up nothing else.
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<RegistryStep> {
        plan_cleanup(&observed.registries, how.retain, how.force_registries)
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        let key = io::registry_key(cx.ws, cx.owner, cx.deep, cx.deleting);
        observed.registries = io::observe(cx.clients, &key, cx.owner).await?;
        Ok(())
    }

    /// With the repository's tags (by its name in the spec).
    async fn apply(cx: &mut ApplyCx<'_>, step: &RegistryStep) -> Result<(), ApplyError> {
        let registries = cx.desired.map(|d| &d.registries);
        let name = registries
            .and_then(|d| d.repositories.iter().find(|x| x.aws_name == step.repository()))
            .map(|x| x.name.clone());
        let tags = match (cx.desired, name) {
            (Some(d), Some(n)) => d.tags_for(&crate::model::registry::component(&n)),
            _ => TagMap::new(),
        };
        Ok(io::apply(cx.clients, registries, &cx.observed.registries, &tags, step).await?)
    }
}

#[cfg(test)]
mod tests;
