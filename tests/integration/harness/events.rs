//! Drift events under the emulator: moto emits no CloudTrail events, so the tests and the
//! benchmark put them on the bus themselves, as AWS would.

use std::time::Duration;

/// CloudTrail's detail type.
pub const CLOUDTRAIL: &str = "AWS API Call via CloudTrail";

/// The URL of the queue `--events create` makes for the tests' cluster id (`e2e`).
pub async fn queue_url(sqs: &aws_sdk_sqs::Client) -> Result<String, String> {
    let out = sqs
        .get_queue_url()
        .queue_name("webstack-e2e-events")
        .send()
        .await
        .map_err(|e| format!("no events queue: {e:?}"))?;
    Ok(out.queue_url().unwrap_or_default().to_string())
}

/// Puts one event of `source` with `detail` on the default bus.
pub async fn put_event(bus: &aws_sdk_eventbridge::Client, source: &str, detail: &serde_json::Value) {
    let out = bus
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(source)
                .detail_type(CLOUDTRAIL)
                .detail(detail.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 0, "{out:?}");
}

/// Echoes every new heartbeat tag on the queue as its CloudTrail event (what CloudTrail and the
/// heartbeat rule do on AWS), until the task is aborted.
pub fn echo_heartbeats(
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
    bus: aws_sdk_eventbridge::Client,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            if let Ok(tags) = sqs.list_queue_tags().queue_url(&queue_url).send().await
                && let Some(nonce) = tags.tags().and_then(|t| t.get("webstack.io/heartbeat"))
                && *nonce != last
            {
                last = nonce.clone();
                let detail = serde_json::json!({
                    "eventName": "TagQueue", "eventSource": "sqs.amazonaws.com", "readOnly": false,
                    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/operator"},
                    "requestParameters": {"queueUrl": queue_url, "tags": {"webstack.io/heartbeat": nonce}},
                });
                put_event(&bus, "aws.sqs", &detail).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
