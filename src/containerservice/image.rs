//! A container's image written `registry: <name>` with a `tag`: resolved to the stack's
//! repository URI (`status.registries`) as `<uri>:<tag>` before the task definition is rendered
//! (pure). A name the stack's spec lacks needs a person; one it has but whose repository is not
//! created yet is waited for.

use std::collections::BTreeMap;

use crate::api::ContainerServiceSettings;
use crate::model::invalid;
use crate::reconcile::Blocked;

/// The stack's registries: the names in its spec, and each repository's URI from its status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackRegistries {
    pub names: Vec<String>,
    pub uris: BTreeMap<String, String>,
}

/// The settings with every `registry:` container given its image.
pub fn resolve(
    spec: &ContainerServiceSettings,
    stack: &str,
    registries: &StackRegistries,
) -> Result<ContainerServiceSettings, Blocked> {
    let mut out = spec.clone();
    for (i, c) in out.containers.iter_mut().enumerate() {
        let Some(name) = c.registry.clone() else { continue };
        if !registries.names.contains(&name) {
            return Err(invalid(
                format!("spec.containers[{i}].registry"),
                format!("WebStack {stack} has no registry {name} (its spec.registries)"),
            )
            .into());
        }
        let Some(uri) = registries.uris.get(&name) else {
            return Err(Blocked::waiting(format!(
                "spec.containers[{i}].registry: waiting for WebStack {stack} to create repository {name}"
            )));
        };
        let tag = c.tag.as_deref().unwrap_or("latest");
        c.image = Some(format!("{uri}:{tag}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ContainerServiceSettings {
        serde_yaml::from_str(
            "cpu: '256'\nmemory: '512'\ncontainers:\n  - {name: proxy, image: nginx:1.27}\n  - {name: posts, registry: posts, tag: 1.0.0}",
        )
        .unwrap()
    }

    fn stack(uris: &[(&str, &str)]) -> StackRegistries {
        StackRegistries {
            names: vec!["posts".into(), "threads".into()],
            uris: uris.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn a_registry_becomes_the_repository_uri_with_the_tag() {
        let uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/forum/posts";
        let out = resolve(&settings(), "forum", &stack(&[("posts", uri)])).unwrap();
        assert_eq!(out.containers[0].image.as_deref(), Some("nginx:1.27"));
        assert_eq!(
            out.containers[1].image.as_deref(),
            Some(format!("{uri}:1.0.0").as_str())
        );
    }

    #[test]
    fn a_name_the_stack_lacks_stalls_naming_the_field() {
        let mut s = settings();
        s.containers[1].registry = Some("users".into());
        match resolve(&s, "forum", &stack(&[])) {
            Err(Blocked::Stalled { reason, message }) => {
                assert_eq!(reason, "InvalidSpec");
                assert!(message.contains("spec.containers[1].registry"), "{message}");
                assert!(message.contains("users"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_repository_not_created_yet_is_waited_for() {
        match resolve(&settings(), "forum", &stack(&[])) {
            Err(Blocked::Waiting { message }) => assert!(message.contains("repository posts"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
