//! Integration tests against real components: a real kube-apiserver (with etcd, structural
//! schemas and CEL) and the moto AWS emulator. One test binary, so the API server starts once.

mod harness;

mod alarms_checks;
mod argocd_health;
mod aws_smoke;
mod capacity_checks;
mod chart;
mod connection_secrets;
mod containerservice_e2e;
mod crds;
mod datatier_e2e;
mod deletion_e2e;
mod demo_e2e;
mod deps;
mod dns_aws;
mod dns_e2e;
mod events_e2e;
mod examples;
mod examples_e2e;
mod flowlogs_e2e;
mod footprint;
mod iam_policy;
mod inline_e2e;
mod invalid;
mod kube_client;
mod leader_e2e;
mod moto_speed;
mod plan_e2e;
mod policy_admission;
mod policy_e2e;
mod recorder_api;
mod registries_e2e;
mod routing_e2e;
mod scale_e2e;
mod sharding_e2e;
mod staticsite_aws;
mod staticsite_e2e;
mod substrate_gc;
mod targetgroup_e2e;
mod taskdef_aws;
mod tenancy_e2e;
mod tenant_policy;
mod watches_e2e;
mod webstack_aws;
mod webstack_e2e;
