//! An ECS service in domain terms: its task definition in the canonical form revisions are
//! compared in, the service itself, and its Application Auto Scaling. Pure data and comparisons.

use std::collections::BTreeMap;

use super::change::FieldChange;
use super::ownership::{Owner, TagMap};

/// A port mapping: container port, host port (0 = dynamic), protocol.
pub type PortMapping = (i32, i32, String);

/// A container health check: command, interval, timeout, retries, start period.
pub type HealthCheck = (Vec<String>, i32, i32, i32, i32);

/// One container, canonical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerDef {
    pub name: String,
    pub image: String,
    pub essential: bool,
    pub cpu: i32,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    pub port_mappings: Vec<PortMapping>,
    pub environment: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub repository_credentials: Option<String>,
    pub command: Vec<String>,
    pub entry_point: Vec<String>,
    pub health_check: Option<HealthCheck>,
    /// awslogs: log group, region, stream prefix.
    pub logs: Option<(String, String, String)>,
}

/// A task definition, canonical: containers sorted by name, maps sorted by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDef {
    pub family: String,
    pub network_mode: String,
    pub requires_compatibilities: Vec<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub execution_role_arn: Option<String>,
    pub task_role_arn: Option<String>,
    pub containers: Vec<ContainerDef>,
}

impl TaskDef {
    /// Sorts what AWS does not keep in order, and fills what it fills by default.
    pub fn canonical(mut self) -> TaskDef {
        let mode = self.network_mode.clone();
        for c in &mut self.containers {
            for (container, host, _) in &mut c.port_mappings {
                // awsvpc and host modes use the container port; AWS reports it.
                if mode != "bridge" && *host == 0 {
                    *host = *container;
                }
            }
            c.port_mappings.sort();
        }
        self.containers.sort_by(|a, b| a.name.cmp(&b.name));
        self.requires_compatibilities.sort();
        self
    }

    /// Whether the service must move to a new revision: the running one differs from `self`.
    pub fn differs_from(&self, running: Option<&TaskDef>) -> bool {
        running.is_none_or(|r| r.clone().canonical() != self.clone().canonical())
    }

    /// What a new revision changes from the running one, field by field (nothing for a first
    /// revision). Values of the environment and of secrets are not shown, only their names.
    pub fn changes(&self, running: Option<&TaskDef>) -> Vec<FieldChange> {
        let Some(r) = running else { return Vec::new() };
        let (old, new) = (r.clone().canonical(), self.clone().canonical());
        let mut out: Vec<FieldChange> = [
            FieldChange::of_opt("cpu", &old.cpu, &new.cpu),
            FieldChange::of_opt("memory", &old.memory, &new.memory),
            FieldChange::of("network mode", &old.network_mode, &new.network_mode),
            FieldChange::of_opt("execution role", &old.execution_role_arn, &new.execution_role_arn),
            FieldChange::of_opt("task role", &old.task_role_arn, &new.task_role_arn),
        ]
        .into_iter()
        .flatten()
        .collect();
        for c in &new.containers {
            let at = |f: &str| format!("containers[{}].{f}", c.name);
            let Some(o) = old.containers.iter().find(|o| o.name == c.name) else {
                out.push(FieldChange::new(
                    format!("containers[{}]", c.name),
                    None::<String>,
                    "added",
                ));
                continue;
            };
            out.extend(
                [
                    FieldChange::of(&at("image"), &o.image, &c.image),
                    FieldChange::of(&at("cpu"), &o.cpu, &c.cpu),
                    FieldChange::of_opt(&at("memory"), &o.memory, &c.memory),
                    FieldChange::of_opt(&at("memoryReservation"), &o.memory_reservation, &c.memory_reservation),
                    FieldChange::of(&at("essential"), &o.essential, &c.essential),
                ]
                .into_iter()
                .flatten(),
            );
            let keys = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
                let mut k: Vec<&str> = a
                    .keys()
                    .chain(b.keys())
                    .filter(|k| a.get(*k) != b.get(*k))
                    .map(String::as_str)
                    .collect();
                k.dedup();
                k.join(", ")
            };
            let env = keys(&o.environment, &c.environment);
            if !env.is_empty() {
                out.push(FieldChange::new(
                    at("environment"),
                    None::<String>,
                    format!("{env} changed"),
                ));
            }
            let secrets = keys(&o.secrets, &c.secrets);
            if !secrets.is_empty() {
                out.push(FieldChange::new(
                    at("secrets"),
                    None::<String>,
                    format!("{secrets} changed"),
                ));
            }
            let other = [
                ("portMappings", o.port_mappings != c.port_mappings),
                ("command", o.command != c.command),
                ("entryPoint", o.entry_point != c.entry_point),
                ("healthCheck", o.health_check != c.health_check),
                ("logConfiguration", o.logs != c.logs),
                (
                    "repositoryCredentials",
                    o.repository_credentials != c.repository_credentials,
                ),
            ];
            out.extend(
                other
                    .into_iter()
                    .filter(|(_, differs)| *differs)
                    .map(|(f, _)| FieldChange::new(at(f), None::<String>, "changed")),
            );
        }
        for o in old
            .containers
            .iter()
            .filter(|o| !new.containers.iter().any(|c| c.name == o.name))
        {
            out.push(FieldChange::new(
                format!("containers[{}]", o.name),
                None::<String>,
                "removed",
            ));
        }
        out
    }
}

/// Task-level memory (MiB) Fargate offers for a task-level cpu, from AWS's documented table.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let range = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect::<Vec<_>>();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

/// awsvpc settings: subnets, security groups, public IP.
pub type Network = (Vec<String>, Vec<String>, bool);

/// Target group ARN, container name, container port.
pub type LoadBalancer = (String, String, i32);

/// The deployment configuration: maximum %, minimum healthy %, circuit breaker on, rollback on.
pub type DeploymentConfig = (i32, i32, bool, bool);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredService {
    pub name: String,
    pub cluster: String,
    pub launch_type: String,
    /// The stack's EC2 capacity provider, used instead of `launch_type` (`EC2`) when it has one.
    pub capacity_provider: Option<String>,
    pub desired_count: i32,
    /// The scaler owns the desired count after creation.
    pub autoscaled: bool,
    pub network: Option<Network>,
    pub load_balancer: Option<LoadBalancer>,
    pub deployment: DeploymentConfig,
    pub health_check_grace_seconds: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedService {
    pub arn: String,
    pub active: bool,
    pub task_definition: String,
    /// The (first) capacity provider of its strategy.
    pub capacity_provider: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
    pub network: Option<Network>,
    pub load_balancer: Option<LoadBalancer>,
    pub deployment: DeploymentConfig,
    pub health_check_grace_seconds: Option<i32>,
    /// The primary deployment's rollout state and reason.
    pub rollout: Option<(String, String)>,
    /// A deployment the circuit breaker marked FAILED: its task definition and ECS's reason (after a
    /// rollback it stays listed, ACTIVE, until the rollback completes).
    pub failed: Option<(String, String)>,
    /// The revision of every deployment ECS lists (the primary, the one draining, the one a
    /// rollback returns to): none of them is deregistered.
    pub deployed: Vec<String>,
    pub tags: TagMap,
}

/// The two predefined ECS metrics.
pub const CPU: &str = "ECSServiceAverageCPUUtilization";
pub const MEMORY: &str = "ECSServiceAverageMemoryUtilization";

/// A target-tracking policy: metric, target %, scale-in and scale-out cooldowns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Policy {
    pub metric: String,
    pub target: i32,
    pub scale_in_cooldown: i32,
    pub scale_out_cooldown: i32,
}

/// What Application Auto Scaling holds for the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedScaling {
    /// (min, max) of the scalable target.
    pub target: Option<(i32, i32)>,
    pub policies: Vec<Policy>,
}

/// The names a ContainerService's owner derives: its ECS service (and task family) and its log group.
pub fn service_names(owner: &Owner) -> (String, String) {
    let name = owner.aws_name("wcs", 200);
    (name.clone(), format!("/webstack/{name}"))
}
