//! CloudWatch Logs: the log group a ContainerService owns, with its retention and tags.

use aws_sdk_cloudwatchlogs::Client;

use super::{AwsError, TagMap, classify, deleted};

/// A log group as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroup {
    /// Without the `:*` suffix DescribeLogGroups puts on `arn`.
    pub arn: String,
    /// Days; `None`: kept forever.
    pub retention: Option<i32>,
}

/// The group named `name`, if it exists.
pub async fn find(c: &Client, name: &str) -> Result<Option<LogGroup>, AwsError> {
    let out = c
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| classify("DescribeLogGroups", e))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .map(|g| LogGroup {
            arn: arn_of(g).unwrap_or_default(),
            retention: g.retention_in_days(),
        }))
}

/// A group's ARN, without the `:*` suffix DescribeLogGroups puts on `arn`.
pub fn arn_of(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> Option<String> {
    Some(g.log_group_arn().or(g.arn())?.trim_end_matches(":*").to_string())
}

/// Creates the group with its tags; `Ok(false)` when it already existed (its owner is then
/// unknown: the caller checks the tags before using it).
pub async fn create(c: &Client, name: &str, tags: &TagMap) -> Result<bool, AwsError> {
    match c
        .create_log_group()
        .log_group_name(name)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = classify("CreateLogGroup", e);
            if e.code == "ResourceAlreadyExistsException" {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// The group's tags (ownership is checked before every change and before deletion).
pub async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    let out = c
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(out.tags().cloned().unwrap_or_default().into_iter().collect())
}

/// Adds or overwrites tags of a group (tags removed by hand are put back).
pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags.clone().into_iter().collect()))
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

pub async fn set_retention(c: &Client, name: &str, days: i32) -> Result<(), AwsError> {
    c.put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map_err(|e| classify("PutRetentionPolicy", e))?;
    Ok(())
}

pub async fn delete(c: &Client, name: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteLogGroup",
        c.delete_log_group().log_group_name(name).send().await,
        &[],
    )
}
