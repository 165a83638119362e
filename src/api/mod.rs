//! The user-facing API, group `webstack.io/v1alpha1`: the five namespaced custom resource kinds of
//! `shared/API.md` and the cluster-scoped `WebStackPolicy`, their schemas (doc comments become descriptions) and validation rules.

// clippy reads the repeated `type_ = ...` of several `#[kube(printcolumn(...))]` entries as one
// attribute given twice; they are separate columns.
#![allow(clippy::duplicated_attributes)]

pub mod common;
pub mod containerservice;
pub mod listenerrule;
pub mod operations;
pub mod policy;
pub mod reference;
pub mod staticsite;
pub mod targetgroup;
pub mod webstack;

#[cfg(test)]
mod docs_tests;

pub use common::*;
pub use containerservice::*;
pub use listenerrule::*;
pub use operations::*;
pub use policy::*;
pub use staticsite::*;
pub use targetgroup::*;
pub use webstack::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every kind.
pub const GROUP: &str = "webstack.io";

/// Every CRD of the operator, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        WebStack::crd(),
        TargetGroup::crd(),
        ListenerRule::crd(),
        ContainerService::crd(),
        StaticSite::crd(),
        WebStackPolicy::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream: the content of `crds/` and of `webstack-operator crds`.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKED_IN: &str = include_str!("../../crds/webstack-operator.yaml");

    #[test]
    fn checked_in_crds_are_current() {
        let generated = crds_yaml().expect("render CRDs");
        assert!(
            generated == CHECKED_IN,
            "crds/webstack-operator.yaml is stale: run `cargo run -- crds > crds/webstack-operator.yaml`"
        );
    }

    #[test]
    fn every_kind_has_status_short_name_and_printer_columns() {
        let expected = [
            ("WebStack", "webstacks", "ws"),
            ("TargetGroup", "targetgroups", "wtg"),
            ("ListenerRule", "listenerrules", "wlr"),
            ("ContainerService", "containerservices", "wcs"),
            ("StaticSite", "staticsites", "wss"),
            ("WebStackPolicy", "webstackpolicies", "wsp"),
        ];
        let crds = crds();
        assert_eq!(crds.len(), expected.len());
        for (crd, (kind, plural, short)) in crds.iter().zip(expected) {
            assert_eq!(crd.spec.group, GROUP);
            let scope = if kind == "WebStackPolicy" {
                "Cluster"
            } else {
                "Namespaced"
            };
            assert_eq!(crd.spec.scope, scope, "{kind}");
            assert_eq!(crd.spec.names.kind, kind);
            assert_eq!(crd.spec.names.plural, plural);
            assert_eq!(crd.spec.names.short_names.as_deref(), Some(&[short.to_string()][..]));
            let version = &crd.spec.versions[0];
            assert_eq!(version.name, "v1alpha1");
            assert!(
                version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(),
                "{kind} status"
            );
            let columns: Vec<_> = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(columns.first(), Some(&"Ready"), "{kind} columns {columns:?}");
            assert_eq!(columns.last(), Some(&"Age"), "{kind} columns {columns:?}");
        }
    }

    /// Every property of every schema carries a description (doc comments become descriptions).
    #[test]
    fn every_field_is_documented() {
        fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (name, prop) in props {
                    let here = format!("{path}.{name}");
                    let documented = prop
                        .get("description")
                        .and_then(|d| d.as_str())
                        .is_some_and(|d| !d.is_empty());
                    // metadata and the standard Condition type are documented by Kubernetes itself.
                    if !documented && name != "metadata" && name != "apiVersion" && name != "kind" {
                        missing.push(here.clone());
                    }
                    if !here.ends_with(".conditions") {
                        walk(&here, prop, missing);
                    }
                }
            }
            if let Some(items) = schema.get("items") {
                walk(&format!("{path}[]"), items, missing);
            }
            if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                walk(&format!("{path}{{}}"), extra, missing);
            }
        }
        let mut missing = Vec::new();
        for crd in crds() {
            let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema");
            walk(&crd.spec.names.kind, &schema["openAPIV3Schema"], &mut missing);
        }
        assert!(missing.is_empty(), "fields without a description: {missing:#?}");
    }

    /// The examples deserialize into the typed specs (catches drift between examples and types
    /// without an API server; the integration tests also apply them to a real one).
    #[test]
    fn examples_parse_as_typed_resources() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("examples/")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        assert_eq!(files.len(), 5, "one example per reference architecture");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read example");
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("yaml");
                let kind = value["kind"].as_str().unwrap_or_default().to_string();
                let result = match kind.as_str() {
                    "WebStack" => serde_json::from_value::<WebStack>(value).map(drop),
                    "TargetGroup" => serde_json::from_value::<TargetGroup>(value).map(drop),
                    "ListenerRule" => serde_json::from_value::<ListenerRule>(value).map(drop),
                    "ContainerService" => serde_json::from_value::<ContainerService>(value).map(drop),
                    "StaticSite" => serde_json::from_value::<StaticSite>(value).map(drop),
                    other => panic!("{}: unexpected kind {other}", file.display()),
                };
                result.unwrap_or_else(|e| panic!("{}: {kind}: {e}", file.display()));
            }
        }
    }
}
