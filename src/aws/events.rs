//! Drift events' AWS calls: the SQS queue the operator long-polls, the EventBridge rules that feed
//! it (`--events create`), and who the operator is (STS), so that its own calls are not events.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;

use super::{AwsError, TagMap, classify};

/// The clients of one region's pipeline (built by [`EventClients::new`], counted and budgeted
/// like the controllers').
#[derive(Clone, Debug)]
pub struct EventClients {
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
}

/// A message taken from the queue: its body (an EventBridge event) and the handle that deletes it.
#[derive(Clone, Debug)]
pub struct Message {
    pub body: String,
    pub receipt: String,
}

/// How long a receive waits for a message (SQS's longest long poll).
pub const LONG_POLL_SECONDS: i32 = 20;

impl EventClients {
    /// Up to 10 messages, waiting up to [`LONG_POLL_SECONDS`] for the first.
    pub async fn receive(&self, queue_url: &str) -> Result<Vec<Message>, AwsError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(LONG_POLL_SECONDS)
            .send()
            .await
            .map_err(|e| classify("ReceiveMessage", e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Message {
                    body: m.body()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                })
            })
            .collect())
    }

    /// Deletes handled messages (one batch of at most 10). Entries SQS refuses come back to the
    /// queue after their visibility timeout, and are handled again: handling is idempotent.
    pub async fn delete(&self, queue_url: &str, receipts: &[String]) -> Result<(), AwsError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
                    .map_err(|e| AwsError::invalid_request("DeleteMessageBatch", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify("DeleteMessageBatch", e))?;
        Ok(())
    }

    /// Tags the queue: the heartbeat, whose CloudTrail event must come back through the pipeline.
    pub async fn tag_queue(&self, queue_url: &str, key: &str, value: &str) -> Result<(), AwsError> {
        self.sqs
            .tag_queue()
            .queue_url(queue_url)
            .tags(key, value)
            .send()
            .await
            .map_err(|e| classify("TagQueue", e))?;
        Ok(())
    }

    /// The ARN of the operator's own identity (`arn:aws:sts::…:assumed-role/ROLE/SESSION` for a
    /// role).
    pub async fn caller_arn(&self) -> Result<String, AwsError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("GetCallerIdentity", e))?;
        Ok(out.arn().unwrap_or_default().to_string())
    }

    /// The queue's ARN.
    pub async fn queue_arn(&self, queue_url: &str) -> Result<String, AwsError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| classify("GetQueueAttributes", e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default())
    }

    /// Creates the queue named `name` with `attributes` and `tags`, or, when it exists, sets the
    /// attributes on it (CreateQueue refuses an existing name with other attributes). Its URL.
    pub async fn ensure_queue(
        &self,
        name: &str,
        attributes: &BTreeMap<QueueAttributeName, String>,
        tags: &TagMap,
    ) -> Result<String, AwsError> {
        let created = self
            .sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes.clone().into_iter().collect()))
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await;
        match created {
            Ok(out) => Ok(out.queue_url().unwrap_or_default().to_string()),
            Err(e) => {
                let e = classify("CreateQueue", e);
                if e.code != "QueueAlreadyExists" && e.code != "QueueNameExists" {
                    return Err(e);
                }
                let url = self
                    .sqs
                    .get_queue_url()
                    .queue_name(name)
                    .send()
                    .await
                    .map_err(|e| classify("GetQueueUrl", e))?
                    .queue_url()
                    .unwrap_or_default()
                    .to_string();
                self.set_queue_attributes(&url, attributes).await?;
                Ok(url)
            }
        }
    }

    /// Sets `attributes` on the queue (its policy, its redrive policy).
    pub async fn set_queue_attributes(
        &self,
        queue_url: &str,
        attributes: &BTreeMap<QueueAttributeName, String>,
    ) -> Result<(), AwsError> {
        self.sqs
            .set_queue_attributes()
            .queue_url(queue_url)
            .set_attributes(Some(attributes.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify("SetQueueAttributes", e))?;
        Ok(())
    }

    /// Creates or updates the rule `name` on the default bus with `pattern`, its target the queue
    /// (PutRule and PutTargets are upserts). The rule's ARN.
    pub async fn ensure_rule(
        &self,
        name: &str,
        description: &str,
        pattern: &str,
        tags: &TagMap,
        queue_arn: &str,
    ) -> Result<String, AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_eventbridge::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| AwsError::invalid_request("PutRule", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let arn = self
            .events
            .put_rule()
            .name(name)
            .description(description)
            .event_pattern(pattern)
            .state(aws_sdk_eventbridge::types::RuleState::Enabled)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("PutRule", e))?
            .rule_arn()
            .unwrap_or_default()
            .to_string();
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("webstack-operator")
            .arn(queue_arn)
            .build()
            .map_err(|e| AwsError::invalid_request("PutTargets", e))?;
        let out = self
            .events
            .put_targets()
            .rule(name)
            .targets(target)
            .send()
            .await
            .map_err(|e| classify("PutTargets", e))?;
        if out.failed_entry_count() > 0 {
            let why = out
                .failed_entries()
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f.error_code().unwrap_or("?"),
                        f.error_message().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(AwsError::invalid_request("PutTargets", why));
        }
        Ok(arn)
    }
}
