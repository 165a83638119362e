//! The task definition of a ContainerService, rendered from the spec and compared in a canonical
//! form with the one the service runs (pure). A new revision is registered only when the two
//! differ: AWS fills defaults the spec leaves out (host ports, container cpu 0, essential), so the
//! comparison normalises both sides first and never compares raw responses.

use crate::api::{ContainerSecret, ContainerServiceSettings, FromStack, LaunchType, NetworkMode, PortProtocol};
use crate::model::service::{ContainerDef, TaskDef, fargate_memory_options};
use crate::model::{InvalidSpec, invalid};

/// Where the containers log, and the stack's secrets `fromStack` refers to.
pub struct LogTarget<'a> {
    pub group: &'a str,
    pub region: &'a str,
    pub stack: StackSecrets,
}

/// The ARNs of the stack's database and cache secrets (`None`: the stack has none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackSecrets {
    pub database: Option<String>,
    pub cache: Option<String>,
}

/// The `valueFrom` of a container secret: as given, or a key of the stack's database or cache
/// secret as Secrets Manager's `<arn>:<json key>::` (the value is never copied).
pub fn value_from(s: &ContainerSecret, stack: &StackSecrets, field: &str) -> Result<String, InvalidSpec> {
    if let Some(v) = &s.value_from {
        return Ok(v.clone());
    }
    let (arn, key, what) = match s.from_stack.as_ref() {
        Some(FromStack { database: Some(k), .. }) => (&stack.database, json_key(k), "database"),
        Some(FromStack { cache: Some(k), .. }) => (&stack.cache, json_key(k), "cache"),
        _ => return Err(invalid(field, "set exactly one of valueFrom or fromStack")),
    };
    match arn {
        Some(arn) => Ok(format!("{arn}:{key}::")),
        None => Err(invalid(
            format!("{field}.fromStack"),
            format!("the stack has no {what}"),
        )),
    }
}

/// A key of a stack secret as its JSON field name (`url`, `dbname`, ...).
fn json_key<T: serde::Serialize>(k: &T) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
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
            image: c.image.clone().unwrap_or_default(),
            essential: c.essential,
            cpu: c.cpu.unwrap_or(0),
            memory: c.memory,
            memory_reservation: c.memory_reservation,
            port_mappings,
            environment: c.env.clone(),
            secrets: c
                .secrets
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    Ok((
                        s.name.clone(),
                        value_from(s, &logs.stack, &format!("spec.containers[{i}].secrets[{j}]"))?,
                    ))
                })
                .collect::<Result<_, InvalidSpec>>()?,
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
    load_balancer_target(spec)?;
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

/// The container and port the load balancer sends traffic to: `loadBalancer.containerName`, else
/// the first container in spec order; `containerPort`, else that container's first mapped port.
/// `None` without `loadBalancer`. (The task definition's canonical form sorts containers by name:
/// this is read from the spec, never from it.)
pub fn load_balancer_target(spec: &ContainerServiceSettings) -> Result<Option<(String, i32)>, InvalidSpec> {
    let Some(lb) = &spec.load_balancer else {
        return Ok(None);
    };
    let container = match &lb.container_name {
        Some(name) => spec.containers.iter().find(|c| &c.name == name).ok_or_else(|| {
            invalid(
                "spec.loadBalancer.containerName",
                format!("no container is named {name}"),
            )
        })?,
        None => spec
            .containers
            .first()
            .ok_or_else(|| invalid("spec.containers", "at least one container is required"))?,
    };
    let ports: Vec<i32> = container.port_mappings.iter().map(|p| p.container_port).collect();
    let port = match lb.container_port {
        Some(port) if ports.contains(&port) => port,
        Some(port) => {
            return Err(invalid(
                "spec.loadBalancer.containerPort",
                format!("container {} maps no port {port}", container.name),
            ));
        }
        None => *ports.first().ok_or_else(|| {
            invalid(
                "spec.loadBalancer.containerPort",
                format!("container {} maps no port for the load balancer", container.name),
            )
        })?,
    };
    Ok(Some((container.name.clone(), port)))
}

#[cfg(test)]
#[path = "taskdef_tests.rs"]
mod tests;
