//! SNS: the topic a stack's alarms notify, its tags and its email subscriptions.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::Tag;

use super::{AwsError, TagMap, classify, deleted};
use crate::model::alarms::Subscription;

/// SNS's tags (key and value required).
fn sns_tags(tags: &TagMap) -> Result<Vec<Tag>, AwsError> {
    super::built_sdk_tags!(Tag, tags, "TagResource")
}

/// The ARN of the topic named `name` in the region, if it exists (ListTopics pages through the
/// account's topics: used only when status does not say it).
pub async fn find_topic(c: &Client, name: &str) -> Result<Option<String>, AwsError> {
    let suffix = format!(":{name}");
    let mut token = None;
    loop {
        let out = c
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("ListTopics", e))?;
        if let Some(arn) = out
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|a| a.ends_with(&suffix))
        {
            return Ok(Some(arn.to_string()));
        }
        token = out.next_token().map(String::from);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// Creates the topic with its tags, or returns the ARN of ours of that name (CreateTopic is
/// idempotent for the same name, attributes and tags).
pub async fn create_topic(c: &Client, name: &str, tags: &TagMap) -> Result<String, AwsError> {
    let out = c
        .create_topic()
        .name(name)
        .set_tags(Some(sns_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("CreateTopic", e))?;
    Ok(out.topic_arn().unwrap_or_default().to_string())
}

/// The topic's subscriptions; `Ok(None)` when the topic does not exist.
pub async fn subscriptions(c: &Client, topic: &str) -> Result<Option<Vec<Subscription>>, AwsError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = match c
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = classify("ListSubscriptionsByTopic", e);
                return if e.is_not_found() { Ok(None) } else { Err(e) };
            }
        };
        found.extend(out.subscriptions().iter().map(|s| Subscription {
            protocol: s.protocol().unwrap_or_default().to_string(),
            endpoint: s.endpoint().unwrap_or_default().to_string(),
            // `PendingConfirmation` (or `Deleted`) instead of an ARN until it is confirmed.
            arn: s.subscription_arn().filter(|a| a.starts_with("arn:")).map(String::from),
        }));
        token = out.next_token().map(String::from);
        if token.is_none() {
            return Ok(Some(found));
        }
    }
}

/// Subscribes an email address (AWS mails it a link; the subscription is pending until confirmed).
pub async fn subscribe_email(c: &Client, topic: &str, email: &str) -> Result<(), AwsError> {
    c.subscribe()
        .topic_arn(topic)
        .protocol("email")
        .endpoint(email)
        .send()
        .await
        .map_err(|e| classify("Subscribe", e))?;
    Ok(())
}

pub async fn unsubscribe(c: &Client, arn: &str) -> Result<(), AwsError> {
    deleted("Unsubscribe", c.unsubscribe().subscription_arn(arn).send().await, &[])
}

pub async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    let out = c
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(super::required_tag_map!(out.tags()))
}

pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(sns_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("TagResource", e))?;
    Ok(())
}

pub async fn untag(c: &Client, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("UntagResource", e))?;
    Ok(())
}

/// Deletes the topic and its subscriptions (deleting a topic that does not exist succeeds).
pub async fn delete_topic(c: &Client, arn: &str) -> Result<(), AwsError> {
    deleted("DeleteTopic", c.delete_topic().topic_arn(arn).send().await, &[])
}
