//! ELBv2 listener rules: read with their tags, created with the ownership tags in the call,
//! modified, moved with SetRulePriorities, deleted.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig, PathPatternConditionConfig,
    QueryStringConditionConfig, QueryStringKeyValuePair, RuleCondition, RulePriorityPair, SourceIpConditionConfig, Tag,
};

use super::{AwsError, TagMap, classify, deleted, elbv2, sdk_tags, tag_map};
use crate::model::ListenerAction;
use crate::model::rule::{Condition, ObservedRule};

/// The listener's rules other than the default one, with their tags.
pub async fn describe(c: &Client, listener_arn: &str) -> Result<Vec<ObservedRule>, AwsError> {
    let out = c
        .describe_rules()
        .listener_arn(listener_arn)
        .send()
        .await
        .map_err(|e| classify("DescribeRules", e))?;
    let mut rules = Vec::new();
    for r in out.rules().iter().filter(|r| r.is_default() != Some(true)) {
        let Some(priority) = r.priority().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let mut conditions: Vec<Condition> = r.conditions().iter().filter_map(condition).collect();
        conditions.sort();
        rules.push(ObservedRule {
            arn: r.rule_arn().unwrap_or_default().into(),
            priority,
            conditions,
            action: r.actions().first().and_then(elbv2::observed_action),
            tags: TagMap::new(),
        });
    }
    // DescribeTags takes at most 20 ARNs a call.
    for chunk in rules.chunks_mut(20) {
        let arns: Vec<String> = chunk.iter().map(|r| r.arn.clone()).collect();
        let out = c
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .map_err(|e| classify("DescribeTags", e))?;
        for d in out.tag_descriptions() {
            if let Some(rule) = chunk.iter_mut().find(|r| Some(r.arn.as_str()) == d.resource_arn()) {
                rule.tags = tag_map!(d.tags());
            }
        }
    }
    Ok(rules)
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn condition(c: &RuleCondition) -> Option<Condition> {
    let legacy = || sorted(c.values());
    Some(match c.field()? {
        "path-pattern" => Condition::PathPattern(
            c.path_pattern_config()
                .map(|p| sorted(p.values()))
                .unwrap_or_else(legacy),
        ),
        "host-header" => Condition::HostHeader(
            c.host_header_config()
                .map(|h| sorted(h.values()))
                .unwrap_or_else(legacy),
        ),
        "http-header" => {
            let h = c.http_header_config()?;
            Condition::HttpHeader {
                name: h.http_header_name()?.into(),
                values: sorted(h.values()),
            }
        }
        "http-request-method" => Condition::HttpMethod(sorted(c.http_request_method_config()?.values())),
        "query-string" => {
            let mut pairs: Vec<_> = c
                .query_string_config()?
                .values()
                .iter()
                .map(|p| (p.key().map(String::from), p.value().unwrap_or_default().to_string()))
                .collect();
            pairs.sort();
            Condition::QueryString(pairs)
        }
        "source-ip" => Condition::SourceIp(sorted(c.source_ip_config()?.values())),
        _ => return None,
    })
}

fn aws_condition(c: &Condition) -> RuleCondition {
    let b = RuleCondition::builder();
    match c {
        Condition::PathPattern(v) => b.field("path-pattern").path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(Some(v.clone()))
                .build(),
        ),
        Condition::HostHeader(v) => b
            .field("host-header")
            .host_header_config(HostHeaderConditionConfig::builder().set_values(Some(v.clone())).build()),
        Condition::HttpHeader { name, values } => b.field("http-header").http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name(name)
                .set_values(Some(values.clone()))
                .build(),
        ),
        Condition::HttpMethod(v) => b.field("http-request-method").http_request_method_config(
            HttpRequestMethodConditionConfig::builder()
                .set_values(Some(v.clone()))
                .build(),
        ),
        Condition::QueryString(pairs) => b.field("query-string").query_string_config(
            QueryStringConditionConfig::builder()
                .set_values(Some(
                    pairs
                        .iter()
                        .map(|(k, v)| QueryStringKeyValuePair::builder().set_key(k.clone()).value(v).build())
                        .collect(),
                ))
                .build(),
        ),
        Condition::SourceIp(v) => b
            .field("source-ip")
            .source_ip_config(SourceIpConditionConfig::builder().set_values(Some(v.clone())).build()),
    }
    .build()
}

pub async fn create(
    c: &Client,
    listener_arn: &str,
    priority: i32,
    conditions: &[Condition],
    action: &ListenerAction,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_rule()
        .listener_arn(listener_arn)
        .priority(priority)
        .set_conditions(Some(conditions.iter().map(aws_condition).collect()))
        .actions(elbv2::action(action))
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateRule", e))?;
    Ok(out
        .rules()
        .first()
        .and_then(|r| r.rule_arn())
        .unwrap_or_default()
        .into())
}

pub async fn modify(c: &Client, arn: &str, conditions: &[Condition], action: &ListenerAction) -> Result<(), AwsError> {
    c.modify_rule()
        .rule_arn(arn)
        .set_conditions(Some(conditions.iter().map(aws_condition).collect()))
        .actions(elbv2::action(action))
        .send()
        .await
        .map_err(|e| classify("ModifyRule", e))?;
    Ok(())
}

pub async fn set_priority(c: &Client, arn: &str, priority: i32) -> Result<(), AwsError> {
    c.set_rule_priorities()
        .rule_priorities(RulePriorityPair::builder().rule_arn(arn).priority(priority).build())
        .send()
        .await
        .map_err(|e| classify("SetRulePriorities", e))?;
    Ok(())
}

pub async fn delete(c: &Client, arn: &str) -> Result<(), AwsError> {
    deleted("DeleteRule", c.delete_rule().rule_arn(arn).send().await, &[])
}
