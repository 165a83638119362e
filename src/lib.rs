//! webstack-operator: a Kubernetes operator that turns a few manifests (`WebStack`, `TargetGroup`,
//! `ListenerRule`, `ContainerService`, `StaticSite`) into a complete web stack on AWS.
//!
//! Layers, imports pointing down only: [`manager`] (the CLI's `run`) → [`reconcile`] (the generic
//! driver) ↔ one module per kind → [`aws`] (the SDK boundary) → [`model`] (pure domain) and [`api`]
//! (the CRD types, the user contract).

pub mod api;
pub mod aws;
pub mod containerservice;
pub mod leader;
pub mod listenerrule;
pub mod manager;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod staticsite;
pub mod targetgroup;
pub mod webstack;
