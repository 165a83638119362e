//! What the operator left of a namespace's alarms: CloudWatch alarms, dashboards and SNS topics
//! tagged for the namespace.

use std::collections::BTreeMap;

use aws_config::SdkConfig;

type Tags = BTreeMap<String, String>;

fn ours(tags: &Tags, ns: &str) -> bool {
    tags.get("webstack.io/owner")
        .is_some_and(|o| o.starts_with(&format!("{ns}/")))
}

/// The tags of a CloudWatch alarm or dashboard.
async fn cloudwatch_tags(cw: &aws_sdk_cloudwatch::Client, arn: &str) -> Tags {
    let out = cw.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
    out.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// `kind id` of every alarm, topic and dashboard still there for `ns`.
pub async fn leftovers(config: &SdkConfig, ns: &str) -> Vec<String> {
    let mut left = Vec::new();
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let alarms = cw.describe_alarms().send().await.unwrap();
    for a in alarms.metric_alarms() {
        let arn = a.alarm_arn().unwrap_or_default();
        if ours(&cloudwatch_tags(&cw, arn).await, ns) {
            left.push(format!("alarm {}", a.alarm_name().unwrap_or_default()));
        }
    }
    let dashboards = cw.list_dashboards().send().await.unwrap();
    for d in dashboards.dashboard_entries() {
        let arn = d.dashboard_arn().unwrap_or_default();
        if ours(&cloudwatch_tags(&cw, arn).await, ns) {
            left.push(format!("dashboard {}", d.dashboard_name().unwrap_or_default()));
        }
    }
    let sns = aws_sdk_sns::Client::new(config);
    for t in sns.list_topics().send().await.unwrap().topics() {
        let arn = t.topic_arn().unwrap_or_default();
        let tags = sns.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
        let tags: Tags = tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if ours(&tags, ns) {
            left.push(format!("SNS topic {arn}"));
        }
    }
    left
}
