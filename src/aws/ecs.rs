//! ECS: the stack's cluster (found by name) and task definitions (registered and read back in
//! the canonical form the revision diff compares).

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    ClusterField, ClusterSetting, ClusterSettingName, Compatibility, ContainerDefinition,
    HealthCheck as EcsHealthCheck, KeyValuePair, LogConfiguration, LogDriver, NetworkMode as EcsNetworkMode,
    PortMapping, RepositoryCredentials, Secret, Tag, TransportProtocol,
};

use super::{AwsError, TagMap, classify, deleted, sdk_tags, tag_map};
use crate::model::service::{ContainerDef, TaskDef};
use crate::model::stack::ObservedCluster;

/// The cluster named `name` and its tags, if it exists (an INACTIVE one counts as gone).
pub async fn find_cluster(c: &Client, name: &str) -> Result<Option<(ObservedCluster, TagMap)>, AwsError> {
    let out = c
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|e| classify("DescribeClusters", e))?;
    Ok(out.clusters().first().map(|cl| {
        let insights = cl
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value())
            .is_some_and(|v| v == "enabled" || v == "enhanced");
        let tags: TagMap = tag_map!(cl.tags());
        let observed = ObservedCluster {
            arn: cl.cluster_arn().unwrap_or_default().into(),
            name: cl.cluster_name().unwrap_or_default().into(),
            active: cl.status() == Some("ACTIVE"),
            container_insights: insights,
            tags: tags.clone(),
            capacity_providers: crate::model::capacity::ClusterProviders {
                providers: cl.capacity_providers().to_vec(),
                default_strategy: cl
                    .default_capacity_provider_strategy()
                    .iter()
                    .map(|s| (s.capacity_provider().to_string(), s.weight()))
                    .collect(),
            },
        };
        (observed, tags)
    }))
}

fn insights(enabled: bool) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if enabled { "enabled" } else { "disabled" })
        .build()
}

pub async fn create_cluster(
    c: &Client,
    name: &str,
    container_insights: bool,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_cluster()
        .cluster_name(name)
        .settings(insights(container_insights))
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateCluster", e))?;
    Ok(out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default().into())
}

pub async fn set_container_insights(c: &Client, name: &str, enabled: bool) -> Result<(), AwsError> {
    c.update_cluster_settings()
        .cluster(name)
        .settings(insights(enabled))
        .send()
        .await
        .map_err(|e| classify("UpdateClusterSettings", e))?;
    Ok(())
}

pub async fn delete_cluster(c: &Client, name_or_arn: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteCluster",
        c.delete_cluster().cluster(name_or_arn).send().await,
        &[],
    )
}

/// Adds or overwrites tags.
pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("TagResource", e))?;
    Ok(())
}

/// Removes the ownership tags (`deletionPolicy: Retain`).
pub async fn untag(c: &Client, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("UntagResource", e))?;
    Ok(())
}

fn container_definition(c: &ContainerDef) -> Result<ContainerDefinition, AwsError> {
    const OP: &str = "RegisterTaskDefinition";
    let mut b = ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(c.essential)
        .cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation)
        .set_command(Some(c.command.clone()).filter(|v| !v.is_empty()))
        .set_entry_point(Some(c.entry_point.clone()).filter(|v| !v.is_empty()));
    for (container, host, protocol) in &c.port_mappings {
        b = b.port_mappings(
            PortMapping::builder()
                .container_port(*container)
                .host_port(*host)
                .protocol(TransportProtocol::from(protocol.as_str()))
                .build(),
        );
    }
    for (k, v) in &c.environment {
        b = b.environment(KeyValuePair::builder().name(k).value(v).build());
    }
    for (name, from) in &c.secrets {
        b = b.secrets(
            Secret::builder()
                .name(name)
                .value_from(from)
                .build()
                .map_err(|e| AwsError::invalid_request(OP, e))?,
        );
    }
    if let Some(arn) = &c.repository_credentials {
        let creds = RepositoryCredentials::builder()
            .credentials_parameter(arn)
            .build()
            .map_err(|e| AwsError::invalid_request(OP, e))?;
        b = b.repository_credentials(creds);
    }
    if let Some((command, interval, timeout, retries, start)) = &c.health_check {
        let h = EcsHealthCheck::builder()
            .set_command(Some(command.clone()))
            .interval(*interval)
            .timeout(*timeout)
            .retries(*retries)
            .start_period(*start)
            .build()
            .map_err(|e| AwsError::invalid_request(OP, e))?;
        b = b.health_check(h);
    }
    if let Some((group, region, prefix)) = &c.logs {
        let logs = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", group)
            .options("awslogs-region", region)
            .options("awslogs-stream-prefix", prefix)
            .build()
            .map_err(|e| AwsError::invalid_request(OP, e))?;
        b = b.log_configuration(logs);
    }
    Ok(b.build())
}

/// Registers a revision of the task definition (tags in the call); returns its ARN.
pub async fn register_task_definition(c: &Client, t: &TaskDef, tags: &TagMap) -> Result<String, AwsError> {
    let containers = t
        .containers
        .iter()
        .map(container_definition)
        .collect::<Result<Vec<_>, _>>()?;
    let out = c
        .register_task_definition()
        .family(&t.family)
        .network_mode(EcsNetworkMode::from(t.network_mode.as_str()))
        .set_requires_compatibilities(Some(
            t.requires_compatibilities
                .iter()
                .map(|r| Compatibility::from(r.as_str()))
                .collect(),
        ))
        .set_cpu(t.cpu.clone())
        .set_memory(t.memory.clone())
        .set_execution_role_arn(t.execution_role_arn.clone())
        .set_task_role_arn(t.task_role_arn.clone())
        .set_container_definitions(Some(containers))
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("RegisterTaskDefinition", e))?;
    Ok(out
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .into())
}

/// A registered revision in the canonical form of [`TaskDef`].
pub async fn describe_task_definition(c: &Client, arn: &str) -> Result<TaskDef, AwsError> {
    let out = c
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| classify("DescribeTaskDefinition", e))?;
    let t = out
        .task_definition()
        .ok_or_else(|| AwsError::invalid_request("DescribeTaskDefinition", "no task definition"))?;
    let containers = t
        .container_definitions()
        .iter()
        .map(|c| ContainerDef {
            name: c.name().unwrap_or_default().into(),
            image: c.image().unwrap_or_default().into(),
            essential: c.essential().unwrap_or(true),
            cpu: c.cpu(),
            memory: c.memory(),
            memory_reservation: c.memory_reservation(),
            port_mappings: c
                .port_mappings()
                .iter()
                .map(|p| {
                    let protocol = p
                        .protocol()
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_else(|| "tcp".into());
                    (
                        p.container_port().unwrap_or_default(),
                        p.host_port().unwrap_or(0),
                        protocol,
                    )
                })
                .collect(),
            environment: c
                .environment()
                .iter()
                .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
                .collect(),
            secrets: c
                .secrets()
                .iter()
                .map(|s| (s.name().to_string(), s.value_from().to_string()))
                .collect(),
            repository_credentials: c
                .repository_credentials()
                .map(|r| r.credentials_parameter().to_string()),
            command: c.command().to_vec(),
            entry_point: c.entry_point().to_vec(),
            health_check: c.health_check().map(|h| {
                (
                    h.command().to_vec(),
                    h.interval().unwrap_or(30),
                    h.timeout().unwrap_or(5),
                    h.retries().unwrap_or(3),
                    h.start_period().unwrap_or(0),
                )
            }),
            logs: c.log_configuration().map(|l| {
                let opt = |k: &str| l.options().and_then(|o| o.get(k)).cloned().unwrap_or_default();
                (
                    opt("awslogs-group"),
                    opt("awslogs-region"),
                    opt("awslogs-stream-prefix"),
                )
            }),
        })
        .collect();
    Ok(TaskDef {
        family: t.family().unwrap_or_default().into(),
        network_mode: t
            .network_mode()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "bridge".into()),
        requires_compatibilities: t
            .requires_compatibilities()
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        cpu: t.cpu().map(String::from),
        memory: t.memory().map(String::from),
        execution_role_arn: t.execution_role_arn().map(String::from),
        task_role_arn: t.task_role_arn().map(String::from),
        containers,
    }
    .canonical())
}
