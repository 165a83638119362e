//! CloudWatch Logs: the log group a ContainerService owns, with its retention.

use aws_sdk_cloudwatchlogs::Client;

use super::{AwsError, TagMap, classify, done_if_gone};

/// The group's retention in days, if the group exists (`Some(None)`: exists, kept forever).
pub async fn retention(c: &Client, name: &str) -> Result<Option<Option<i32>>, AwsError> {
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
        .map(|g| g.retention_in_days()))
}

pub async fn create(c: &Client, name: &str, tags: &TagMap) -> Result<(), AwsError> {
    match c
        .create_log_group()
        .log_group_name(name)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = classify("CreateLogGroup", e);
            if e.code == "ResourceAlreadyExistsException" {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
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
    done_if_gone(
        c.delete_log_group()
            .log_group_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("DeleteLogGroup", e)),
        &[],
    )
}
