//! ELBv2 target groups: found by deterministic name or by ARN, created with every setting and the
//! ownership tags in the create call, modified in place where AWS allows.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, Tag, TargetGroup, TargetGroupAttribute, TargetTypeEnum,
};

use super::{AwsError, TagMap, classify, deleted, sdk_tags};
use crate::model::target_group::{DesiredTargetGroup, HealthCheck, ObservedTargetGroup};

/// The group with this name, if any.
pub async fn find_by_name(c: &Client, name: &str) -> Result<Option<ObservedTargetGroup>, AwsError> {
    find(c, c.describe_target_groups().names(name)).await
}

/// The group with this ARN, if any.
pub async fn find_by_arn(c: &Client, arn: &str) -> Result<Option<ObservedTargetGroup>, AwsError> {
    find(c, c.describe_target_groups().target_group_arns(arn)).await
}

async fn find(
    c: &Client,
    request: aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::builders::DescribeTargetGroupsFluentBuilder,
) -> Result<Option<ObservedTargetGroup>, AwsError> {
    let out = match request.send().await {
        Ok(out) => out,
        Err(e) => {
            let e = classify("DescribeTargetGroups", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let Some(tg) = out.target_groups().first() else {
        return Ok(None);
    };
    let arn = tg.target_group_arn().unwrap_or_default().to_string();
    let attrs = c
        .describe_target_group_attributes()
        .target_group_arn(&arn)
        .send()
        .await
        .map_err(|e| classify("DescribeTargetGroupAttributes", e))?;
    let attributes = attrs
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string())))
        .collect();
    Ok(Some(ObservedTargetGroup {
        health: health(tg),
        name: tg.target_group_name().unwrap_or_default().into(),
        attributes,
        tags: super::elbv2::tags(c, &arn).await?,
        load_balancer_arns: tg.load_balancer_arns().to_vec(),
        protocol: tg.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
        port: tg.port().unwrap_or_default(),
        target_type: tg.target_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        vpc_id: tg.vpc_id().unwrap_or_default().into(),
        arn,
    }))
}

fn health(tg: &TargetGroup) -> HealthCheck {
    HealthCheck {
        path: tg.health_check_path().unwrap_or("/").into(),
        protocol: tg
            .health_check_protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        port: tg.health_check_port().unwrap_or("traffic-port").into(),
        healthy_threshold: tg.healthy_threshold_count().unwrap_or_default(),
        unhealthy_threshold: tg.unhealthy_threshold_count().unwrap_or_default(),
        timeout_seconds: tg.health_check_timeout_seconds().unwrap_or_default(),
        interval_seconds: tg.health_check_interval_seconds().unwrap_or_default(),
        matcher: tg.matcher().and_then(|m| m.http_code()).unwrap_or_default().into(),
    }
}

/// Sets every health-check field of a CreateTargetGroup or ModifyTargetGroup request.
macro_rules! health_check {
    ($request:expr, $h:expr) => {
        $request
            .health_check_path(&$h.path)
            .health_check_protocol(ProtocolEnum::from($h.protocol.as_str()))
            .health_check_port(&$h.port)
            .healthy_threshold_count($h.healthy_threshold)
            .unhealthy_threshold_count($h.unhealthy_threshold)
            .health_check_timeout_seconds($h.timeout_seconds)
            .health_check_interval_seconds($h.interval_seconds)
            .matcher(Matcher::builder().http_code(&$h.matcher).build())
    };
}

/// Creates the group with its health check and tags, then sets its attributes; returns the ARN.
pub async fn create(c: &Client, d: &DesiredTargetGroup) -> Result<String, AwsError> {
    let h = &d.health;
    let request = c
        .create_target_group()
        .name(&d.name)
        .protocol(ProtocolEnum::from(d.protocol.as_str()))
        .port(d.port)
        .vpc_id(&d.vpc_id)
        .target_type(TargetTypeEnum::from(d.target_type.as_str()))
        .health_check_enabled(true);
    let out = health_check!(request, h)
        .set_tags(Some(sdk_tags!(Tag, d.tags)))
        .send()
        .await
        .map_err(|e| classify("CreateTargetGroup", e))?;
    let arn = out
        .target_groups()
        .first()
        .and_then(|t| t.target_group_arn())
        .unwrap_or_default()
        .to_string();
    set_attributes(c, &arn, &d.attributes).await?;
    Ok(arn)
}

pub async fn modify_health(c: &Client, arn: &str, h: &HealthCheck) -> Result<(), AwsError> {
    let request = c.modify_target_group().target_group_arn(arn);
    health_check!(request, h)
        .send()
        .await
        .map_err(|e| classify("ModifyTargetGroup", e))?;
    Ok(())
}

pub async fn set_attributes(c: &Client, arn: &str, attributes: &BTreeMap<String, String>) -> Result<(), AwsError> {
    c.modify_target_group_attributes()
        .target_group_arn(arn)
        .set_attributes(Some(
            attributes
                .iter()
                .map(|(k, v)| TargetGroupAttribute::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| classify("ModifyTargetGroupAttributes", e))?;
    Ok(())
}

/// Deletes a group, tolerating one already gone.
pub async fn delete(c: &Client, arn: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteTargetGroup",
        c.delete_target_group().target_group_arn(arn).send().await,
        &[],
    )
}

/// Every target group whose name starts with `prefix` and ends with `suffix`, with its tags:
/// how deletion finds the groups of a resource whose status was lost. (DescribeTargetGroups has no
/// tag filter; names are deterministic, so the listing is narrowed by name before tags are read.)
pub async fn find_named(c: &Client, prefix: &str, suffix: &str) -> Result<Vec<(String, TagMap)>, AwsError> {
    let mut arns = Vec::new();
    let mut marker = None;
    loop {
        let out = c
            .describe_target_groups()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("DescribeTargetGroups", e))?;
        for tg in out.target_groups() {
            let name = tg.target_group_name().unwrap_or_default();
            if name.starts_with(prefix) && name.ends_with(suffix) {
                arns.extend(tg.target_group_arn().map(String::from));
            }
        }
        marker = out.next_marker().map(String::from);
        if marker.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for arn in arns {
        found.push((arn.clone(), super::elbv2::tags(c, &arn).await?));
    }
    Ok(found)
}
