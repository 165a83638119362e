//! VPC flow logs (EC2) and their destination's tags (CloudWatch Logs). The delivery role uses the
//! IAM functions of [`super::iam`] with its own policy name.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};

use super::ec2::tag_spec;
use super::{AwsError, TagMap, classify, tag_map, token};
use crate::model::flowlogs::{ObservedFlowLog, ObservedLogGroup};

/// The flow logs tagged with the stack's uid (one DescribeFlowLogs call).
pub async fn find(c: &Client, uid: &str) -> Result<Vec<ObservedFlowLog>, AwsError> {
    let out = c
        .describe_flow_logs()
        .filter(Filter::builder().name("tag:webstack.io/uid").values(uid).build())
        .send()
        .await
        .map_err(|e| classify("DescribeFlowLogs", e))?;
    let mut found: Vec<ObservedFlowLog> = out
        .flow_logs()
        .iter()
        .map(|l| ObservedFlowLog {
            id: l.flow_log_id().unwrap_or_default().into(),
            vpc_id: l.resource_id().unwrap_or_default().into(),
            traffic_type: l.traffic_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            log_group: l.log_group_name().map(String::from),
            role_arn: l.deliver_logs_permission_arn().map(String::from),
            delivery: l.deliver_logs_status().map(|s| match l.deliver_logs_error_message() {
                Some(m) if !m.is_empty() => format!("{s}: {m}"),
                _ => s.to_string(),
            }),
            tags: tag_map!(l.tags()),
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// Creates the flow log of `vpc` into `group`, delivered with `role_arn`, tagged in the call.
/// AWS reports a refused request per resource in `Unsuccessful` (with HTTP 200).
pub async fn create(
    c: &Client,
    vpc: &str,
    group: &str,
    role_arn: &str,
    traffic: &str,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_flow_logs()
        .resource_type(FlowLogsResourceType::Vpc)
        .resource_ids(vpc)
        .traffic_type(TrafficType::from(traffic))
        .log_destination_type(LogDestinationType::CloudWatchLogs)
        .log_group_name(group)
        .deliver_logs_permission_arn(role_arn)
        .client_token(token())
        .tag_specifications(tag_spec(ResourceType::VpcFlowLog, tags))
        .send()
        .await
        .map_err(|e| classify("CreateFlowLogs", e))?;
    unsuccessful("CreateFlowLogs", out.unsuccessful(), &[])?;
    Ok(out.flow_log_ids().first().cloned().unwrap_or_default())
}

/// The first per-resource error of a flow-log call that answered 200, unless its code is in `gone`.
fn unsuccessful(
    operation: &'static str,
    items: &[aws_sdk_ec2::types::UnsuccessfulItem],
    gone: &[&str],
) -> Result<(), AwsError> {
    match items
        .iter()
        .filter_map(|u| u.error())
        .find(|e| !gone.contains(&e.code().unwrap_or_default()))
    {
        None => Ok(()),
        Some(e) => Err(AwsError {
            operation,
            code: e.code().unwrap_or("Unsuccessful").to_string(),
            message: e.message().unwrap_or_default().to_string(),
            request_id: "-".into(),
            class: crate::model::RetryClass::Terminal,
        }),
    }
}

/// Deletes the flow log; one already gone counts as done.
pub async fn delete(c: &Client, id: &str) -> Result<(), AwsError> {
    let out = c
        .delete_flow_logs()
        .flow_log_ids(id)
        .send()
        .await
        .map_err(|e| classify("DeleteFlowLogs", e));
    let out = match out {
        Ok(out) => out,
        Err(e) => return super::done_if_gone(Err(e), &["InvalidFlowLogId.NotFound"]),
    };
    unsuccessful("DeleteFlowLogs", out.unsuccessful(), &["InvalidFlowLogId.NotFound"])
}

/// The log group named `name` with its tags when `with_tags` (ListTagsForResource: a second call).
pub async fn log_group(
    c: &aws_sdk_cloudwatchlogs::Client,
    name: &str,
    with_tags: bool,
) -> Result<Option<ObservedLogGroup>, AwsError> {
    let Some(g) = super::logs::find(c, name).await? else {
        return Ok(None);
    };
    let tags = if with_tags {
        super::logs::tags(c, &g.arn).await?
    } else {
        TagMap::new()
    };
    Ok(Some(ObservedLogGroup {
        name: name.into(),
        arn: g.arn,
        retention: g.retention,
        tags,
    }))
}
