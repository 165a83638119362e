//! The task definition of a ContainerService, rendered from the spec and compared in a canonical
//! form with the one the service runs (pure). A new revision is registered only when the two
//! differ: AWS fills defaults the spec leaves out (host ports, container cpu 0, essential), so the
//! comparison normalises both sides first and never compares raw responses.

use std::collections::BTreeMap;

use crate::api::{ContainerServiceSettings, LaunchType, NetworkMode, PortProtocol};
use crate::webstack::desired::InvalidSpec;

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

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidSpec {
    InvalidSpec {
        field: field.into(),
        message: message.into(),
    }
}

/// Where the containers log.
pub struct LogTarget<'a> {
    pub group: &'a str,
    pub region: &'a str,
}

/// Renders the task definition of `family` from the spec, checking what the schema cannot: the
/// Fargate cpu/memory table, host ports in awsvpc mode, and the load balancer's container and port.
pub fn render(spec: &ContainerServiceSettings, family: &str, logs: &LogTarget<'_>) -> Result<TaskDef, InvalidSpec> {
    let fargate = spec.launch_type == LaunchType::Fargate;
    let mode = match spec.network_mode {
        NetworkMode::Awsvpc => "awsvpc",
        NetworkMode::Bridge => "bridge",
        NetworkMode::Host => "host",
    };
    if fargate {
        let cpu = spec.cpu.as_deref().and_then(|c| c.parse::<u32>().ok());
        let memory = spec.memory.as_deref().and_then(|m| m.parse::<u32>().ok());
        let Some(options) = cpu.and_then(fargate_memory_options) else {
            return Err(invalid(
                "spec.cpu",
                "Fargate task cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384",
            ));
        };
        if !memory.is_some_and(|m| options.contains(&m)) {
            let allowed: Vec<String> = options.iter().map(u32::to_string).collect();
            return Err(invalid(
                "spec.memory",
                format!(
                    "Fargate offers cpu {} with memory {} (MiB)",
                    cpu.unwrap_or_default(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    let mut containers = Vec::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let mut port_mappings = Vec::new();
        for (j, p) in c.port_mappings.iter().enumerate() {
            let host = match (mode, p.host_port) {
                ("bridge", h) => h.unwrap_or(0),
                (_, Some(h)) if h != 0 && h != p.container_port => {
                    return Err(invalid(
                        format!("spec.containers[{i}].portMappings[{j}].hostPort"),
                        format!(
                            "in {mode} mode hostPort must equal containerPort ({})",
                            p.container_port
                        ),
                    ));
                }
                _ => p.container_port,
            };
            let protocol = match p.protocol {
                PortProtocol::Tcp => "tcp",
                PortProtocol::Udp => "udp",
            };
            port_mappings.push((p.container_port, host, protocol.to_string()));
        }
        containers.push(ContainerDef {
            name: c.name.clone(),
            image: c.image.clone(),
            essential: c.essential,
            cpu: c.cpu.unwrap_or(0),
            memory: c.memory,
            memory_reservation: c.memory_reservation,
            port_mappings,
            environment: c.env.clone(),
            secrets: c
                .secrets
                .iter()
                .map(|s| (s.name.clone(), s.value_from.clone()))
                .collect(),
            repository_credentials: c.repository_credentials_arn.clone(),
            command: c.command.clone(),
            entry_point: c.entry_point.clone(),
            health_check: c.health_check.as_ref().map(|h| {
                (
                    h.command.clone(),
                    h.interval_seconds,
                    h.timeout_seconds,
                    h.retries,
                    h.start_period_seconds,
                )
            }),
            logs: Some((logs.group.to_string(), logs.region.to_string(), c.name.clone())),
        });
        if !fargate && c.memory.is_none() && c.memory_reservation.is_none() && spec.memory.is_none() {
            return Err(invalid(
                format!("spec.containers[{i}].memoryReservation"),
                "on EC2 each container needs memory or memoryReservation when the task has no memory",
            ));
        }
    }
    if let Some(lb) = &spec.load_balancer {
        let container = match &lb.container_name {
            Some(name) => containers.iter().position(|c| &c.name == name).ok_or_else(|| {
                invalid(
                    "spec.loadBalancer.containerName",
                    format!("no container is named {name}"),
                )
            })?,
            None => 0,
        };
        if let Some(port) = lb.container_port
            && !containers[container].port_mappings.iter().any(|(p, _, _)| *p == port)
        {
            return Err(invalid(
                "spec.loadBalancer.containerPort",
                format!("container {} maps no port {port}", containers[container].name),
            ));
        }
        if lb.container_port.is_none() && containers[container].port_mappings.is_empty() {
            return Err(invalid(
                "spec.loadBalancer.containerPort",
                format!(
                    "container {} maps no port for the load balancer",
                    containers[container].name
                ),
            ));
        }
    }
    Ok(TaskDef {
        family: family.into(),
        network_mode: mode.into(),
        requires_compatibilities: vec![if fargate { "FARGATE" } else { "EC2" }.into()],
        cpu: spec.cpu.clone(),
        memory: spec.memory.clone(),
        execution_role_arn: spec.execution_role_arn.clone(),
        task_role_arn: spec.task_role_arn.clone(),
        containers,
    }
    .canonical())
}

#[cfg(test)]
#[path = "taskdef_tests.rs"]
mod tests;
