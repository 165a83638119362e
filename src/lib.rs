//! webstack-operator: a Kubernetes operator that turns a few manifests (`WebStack`, `TargetGroup`,
//! `ListenerRule`, `ContainerService`, `StaticSite`) into a complete web stack on AWS.

pub mod api;
pub mod aws;
pub mod cidr;
pub mod conditions;
pub mod containerservice;
pub mod context;
pub mod kubeutil;
pub mod listenerrule;
pub mod manager;
pub mod ownership;
pub mod targetgroup;
pub mod webstack;
