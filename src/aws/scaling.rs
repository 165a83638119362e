//! Application Auto Scaling for an ECS service's desired count: the scalable target and its
//! target-tracking policies (named `<service>-<metric>`).

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

use super::{AwsError, classify, deleted};
use crate::model::service::{ObservedScaling, Policy};

/// `service/<cluster name>/<service name>`.
pub fn resource_id(cluster_arn: &str, service: &str) -> String {
    let cluster = cluster_arn.rsplit('/').next().unwrap_or(cluster_arn);
    format!("service/{cluster}/{service}")
}

fn policy_name(resource: &str, metric: &str) -> String {
    format!("{}-{metric}", resource.rsplit('/').next().unwrap_or(resource))
}

pub async fn observe(c: &Client, resource: &str) -> Result<ObservedScaling, AwsError> {
    let targets = c
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| classify("DescribeScalableTargets", e))?;
    let target = targets
        .scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity()));
    let out = c
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| classify("DescribeScalingPolicies", e))?;
    let mut policies: Vec<Policy> = out
        .scaling_policies()
        .iter()
        .filter_map(|p| {
            let cfg = p.target_tracking_scaling_policy_configuration()?;
            Some(Policy {
                metric: cfg
                    .predefined_metric_specification()?
                    .predefined_metric_type()
                    .as_str()
                    .to_string(),
                target: cfg.target_value() as i32,
                scale_in_cooldown: cfg.scale_in_cooldown().unwrap_or_default(),
                scale_out_cooldown: cfg.scale_out_cooldown().unwrap_or_default(),
            })
        })
        .collect();
    policies.sort();
    Ok(ObservedScaling { target, policies })
}

pub async fn register_target(c: &Client, resource: &str, min: i32, max: i32) -> Result<(), AwsError> {
    c.register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(min)
        .max_capacity(max)
        .send()
        .await
        .map_err(|e| classify("RegisterScalableTarget", e))?;
    Ok(())
}

pub async fn put_policy(c: &Client, resource: &str, p: &Policy) -> Result<(), AwsError> {
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(p.metric.as_str()))
        .build()
        .map_err(|e| AwsError::invalid_request("PutScalingPolicy", e))?;
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(f64::from(p.target))
        .predefined_metric_specification(metric)
        .scale_in_cooldown(p.scale_in_cooldown)
        .scale_out_cooldown(p.scale_out_cooldown)
        .build()
        .map_err(|e| AwsError::invalid_request("PutScalingPolicy", e))?;
    c.put_scaling_policy()
        .policy_name(policy_name(resource, &p.metric))
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(|e| classify("PutScalingPolicy", e))?;
    Ok(())
}

pub async fn delete_policy(c: &Client, resource: &str, metric: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteScalingPolicy",
        c.delete_scaling_policy()
            .policy_name(policy_name(resource, metric))
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await,
        &[],
    )
}

pub async fn deregister_target(c: &Client, resource: &str) -> Result<(), AwsError> {
    deleted(
        "DeregisterScalableTarget",
        c.deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await,
        &[],
    )
}
