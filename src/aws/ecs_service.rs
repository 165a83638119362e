//! ECS services and task definition revisions of a ContainerService.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, LoadBalancer as EcsLoadBalancer, NetworkConfiguration, ServiceField, Tag,
    TaskDefinitionField, TaskDefinitionStatus,
};

use super::{AwsError, TagMap, classify, deleted, sdk_tags, tag_map};
use crate::model::service::{DesiredService, ObservedService};

/// The service named `name` in `cluster`, if ECS knows it (an INACTIVE one reports `active: false`).
pub async fn describe(c: &Client, cluster: &str, name: &str) -> Result<Option<ObservedService>, AwsError> {
    let out = c
        .describe_services()
        .cluster(cluster)
        .services(name)
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| classify("DescribeServices", e))?;
    Ok(out.services().first().map(|s| {
        let deployment = s.deployment_configuration();
        let breaker = deployment.and_then(|d| d.deployment_circuit_breaker());
        ObservedService {
            arn: s.service_arn().unwrap_or_default().into(),
            active: s.status() == Some("ACTIVE"),
            task_definition: s.task_definition().unwrap_or_default().into(),
            capacity_provider: s
                .capacity_provider_strategy()
                .first()
                .map(|x| x.capacity_provider().to_string()),
            desired_count: s.desired_count(),
            running_count: s.running_count(),
            network: s
                .network_configuration()
                .and_then(|n| n.awsvpc_configuration())
                .map(|v| {
                    (
                        v.subnets().to_vec(),
                        v.security_groups().to_vec(),
                        v.assign_public_ip() == Some(&AssignPublicIp::Enabled),
                    )
                }),
            load_balancer: s.load_balancers().first().map(|l| {
                (
                    l.target_group_arn().unwrap_or_default().into(),
                    l.container_name().unwrap_or_default().into(),
                    l.container_port().unwrap_or_default(),
                )
            }),
            deployment: (
                deployment.and_then(|d| d.maximum_percent()).unwrap_or(200),
                deployment.and_then(|d| d.minimum_healthy_percent()).unwrap_or(100),
                breaker.is_some_and(|b| b.enable()),
                breaker.is_some_and(|b| b.rollback()),
            ),
            health_check_grace_seconds: s.health_check_grace_period_seconds(),
            failed: s
                .deployments()
                .iter()
                .find(|d| d.rollout_state().map(|r| r.as_str()) == Some("FAILED"))
                .map(|d| {
                    (
                        d.task_definition().unwrap_or_default().to_string(),
                        d.rollout_state_reason().unwrap_or_default().to_string(),
                    )
                }),
            deployed: s
                .deployments()
                .iter()
                .filter_map(|d| d.task_definition().map(String::from))
                .collect(),
            rollout: s.deployments().iter().find(|d| d.status() == Some("PRIMARY")).map(|d| {
                (
                    d.rollout_state().map(|r| r.as_str().to_string()).unwrap_or_default(),
                    d.rollout_state_reason().unwrap_or_default().to_string(),
                )
            }),
            tags: tag_map!(s.tags()),
        }
    }))
}

fn deployment(d: &DesiredService) -> DeploymentConfiguration {
    let (max, min, breaker, rollback) = d.deployment;
    DeploymentConfiguration::builder()
        .maximum_percent(max)
        .minimum_healthy_percent(min)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(breaker)
                .rollback(rollback)
                .build(),
        )
        .build()
}

fn network(d: &DesiredService) -> Result<Option<NetworkConfiguration>, AwsError> {
    let Some((subnets, groups, public)) = &d.network else {
        return Ok(None);
    };
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(subnets.clone()))
        .set_security_groups(Some(groups.clone()))
        .assign_public_ip(if *public {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| AwsError::invalid_request("CreateService", e))?;
    Ok(Some(NetworkConfiguration::builder().awsvpc_configuration(vpc).build()))
}

fn load_balancers(d: &DesiredService) -> Option<Vec<EcsLoadBalancer>> {
    d.load_balancer.as_ref().map(|(tg, container, port)| {
        vec![
            EcsLoadBalancer::builder()
                .target_group_arn(tg)
                .container_name(container)
                .container_port(*port)
                .build(),
        ]
    })
}

/// Creates the service on `task_definition`; the client token ([`super::token`]) makes a retried
/// call idempotent.
pub async fn create(
    c: &Client,
    d: &DesiredService,
    task_definition: &str,
    token: &str,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_service()
        .cluster(&d.cluster)
        .service_name(&d.name)
        .task_definition(task_definition)
        .set_launch_type(
            d.capacity_provider
                .is_none()
                .then(|| LaunchType::from(d.launch_type.as_str())),
        )
        .set_capacity_provider_strategy(strategy(d)?)
        .desired_count(d.desired_count)
        .set_network_configuration(network(d)?)
        .set_load_balancers(load_balancers(d))
        .deployment_configuration(deployment(d))
        .set_health_check_grace_period_seconds(d.load_balancer.as_ref().and(d.health_check_grace_seconds))
        .client_token(token)
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateService", e))?;
    Ok(out.service().and_then(|s| s.service_arn()).unwrap_or_default().into())
}

/// The capacity provider strategy: the stack's provider alone (AWS refuses it next to a launch type).
fn strategy(d: &DesiredService) -> Result<Option<Vec<CapacityProviderStrategyItem>>, AwsError> {
    d.capacity_provider
        .as_ref()
        .map(|p| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(p)
                .weight(1)
                .build()
                .map(|item| vec![item])
                .map_err(|e| AwsError::invalid_request("CreateService", e))
        })
        .transpose()
}

/// Updates the service; `desired_count` is left alone when the scaler owns it. `new_capacity`:
/// the service moves to the capacity provider (from the EC2 launch type), which takes a new
/// deployment.
pub async fn update(c: &Client, d: &DesiredService, task_definition: &str, new_capacity: bool) -> Result<(), AwsError> {
    c.update_service()
        .cluster(&d.cluster)
        .service(&d.name)
        .task_definition(task_definition)
        .set_capacity_provider_strategy(strategy(d)?)
        .set_force_new_deployment(new_capacity.then_some(true))
        .set_desired_count((!d.autoscaled).then_some(d.desired_count))
        .set_network_configuration(network(d)?)
        .set_load_balancers(load_balancers(d))
        .deployment_configuration(deployment(d))
        .set_health_check_grace_period_seconds(d.load_balancer.as_ref().and(d.health_check_grace_seconds))
        .send()
        .await
        .map_err(|e| classify("UpdateService", e))?;
    Ok(())
}

/// Scales the service to zero and deletes it, tolerating one already gone.
pub async fn delete(c: &Client, cluster: &str, name: &str) -> Result<(), AwsError> {
    let _ = c
        .update_service()
        .cluster(cluster)
        .service(name)
        .desired_count(0)
        .send()
        .await;
    deleted(
        "DeleteService",
        c.delete_service()
            .cluster(cluster)
            .service(name)
            .force(true)
            .send()
            .await,
        &["ServiceNotActiveException"],
    )
}

/// Active revisions of a family, oldest first.
pub async fn revisions(c: &Client, family: &str) -> Result<Vec<String>, AwsError> {
    let out = c
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .send()
        .await
        .map_err(|e| classify("ListTaskDefinitions", e))?;
    Ok(out
        .task_definition_arns()
        .iter()
        .filter(|a| a.contains(&format!("/{family}:")))
        .cloned()
        .collect())
}

/// Deregisters a revision, tolerating one already gone.
pub async fn deregister(c: &Client, arn: &str) -> Result<(), AwsError> {
    deleted(
        "DeregisterTaskDefinition",
        c.deregister_task_definition().task_definition(arn).send().await,
        &[],
    )
}

/// The tags of a registered revision (checked before it is deregistered or untagged).
pub async fn revision_tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    let out = c
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| classify("DescribeTaskDefinition", e))?;
    Ok(tag_map!(out.tags()))
}
