//! CloudWatch: a stack's metric alarms (one DescribeAlarms by name prefix finds them all; metric
//! math alarms through `Metrics`), their tags, and its dashboard.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic, Tag,
};
use serde_json::Value;

use super::{AwsError, TagMap, classify, done_if_gone, sdk_tags, tag_map};
use crate::model::alarms::{AlarmDef, AlarmMetric, MetricRef, ObservedAlarm, ObservedDashboard};

/// Every metric alarm whose name starts with `prefix`, 100 a page (tags not read).
pub async fn alarms(c: &Client, prefix: &str) -> Result<Vec<ObservedAlarm>, AwsError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = c
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
            .max_records(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("DescribeAlarms", e))?;
        found.extend(out.metric_alarms().iter().filter_map(observed));
        token = out.next_token().map(String::from);
        if token.is_none() {
            return Ok(found);
        }
    }
}

fn metric_ref(m: &Metric) -> MetricRef {
    let mut dimensions: Vec<(String, String)> = m
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
        .collect();
    dimensions.sort();
    MetricRef {
        namespace: m.namespace().unwrap_or_default().into(),
        metric: m.metric_name().unwrap_or_default().into(),
        dimensions,
    }
}

/// An alarm in the model's terms; `None` without a name.
fn observed(a: &MetricAlarm) -> Option<ObservedAlarm> {
    let name = a.alarm_name()?.to_string();
    let (metric, period) = if a.metrics().is_empty() {
        let mut dimensions: Vec<(String, String)> = a
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
            .collect();
        dimensions.sort();
        let metric = AlarmMetric::Single {
            metric: MetricRef {
                namespace: a.namespace().unwrap_or_default().into(),
                metric: a.metric_name().unwrap_or_default().into(),
                dimensions,
            },
            stat: a.statistic().map(|s| s.as_str().to_string()).unwrap_or_default(),
        };
        (metric, a.period().unwrap_or_default())
    } else {
        let mut queries = Vec::new();
        let (mut expression, mut label, mut period) = (String::new(), String::new(), 0);
        for q in a.metrics() {
            match (q.metric_stat(), q.expression()) {
                (Some(s), _) => {
                    period = s.period().unwrap_or_default();
                    let m = s.metric().map(metric_ref).unwrap_or(MetricRef {
                        namespace: String::new(),
                        metric: String::new(),
                        dimensions: Vec::new(),
                    });
                    queries.push((
                        q.id().unwrap_or_default().to_string(),
                        m,
                        s.stat().unwrap_or_default().to_string(),
                    ));
                }
                (None, Some(e)) => {
                    expression = e.to_string();
                    label = q.label().unwrap_or_default().to_string();
                }
                (None, None) => {}
            }
        }
        queries.sort_by(|a, b| a.0.cmp(&b.0));
        (
            AlarmMetric::Math {
                queries,
                expression,
                label,
            },
            period,
        )
    };
    let mut actions = a.alarm_actions().to_vec();
    actions.sort();
    Some(ObservedAlarm {
        arn: a.alarm_arn().unwrap_or_default().to_string(),
        def: AlarmDef {
            name,
            description: a.alarm_description().unwrap_or_default().to_string(),
            metric,
            period,
            evaluation_periods: a.evaluation_periods().unwrap_or_default(),
            comparison: a
                .comparison_operator()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            threshold: a.threshold().unwrap_or_default(),
            treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_string(),
            actions,
        },
        tags: None,
    })
}

fn sdk_metric(m: &MetricRef) -> Metric {
    Metric::builder()
        .namespace(&m.namespace)
        .metric_name(&m.metric)
        .set_dimensions(Some(
            m.dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// Creates or replaces an alarm (PutMetricAlarm replaces the whole definition). `tags` apply only
/// when it creates the alarm: AWS ignores them on an update (see [`tag`]). The topic is notified
/// on ALARM and on the return to OK.
pub async fn put_alarm(c: &Client, a: &AlarmDef, tags: &TagMap) -> Result<(), AwsError> {
    let mut put = c
        .put_metric_alarm()
        .alarm_name(&a.name)
        .alarm_description(&a.description)
        .actions_enabled(true)
        .set_alarm_actions(Some(a.actions.clone()))
        .set_ok_actions(Some(a.actions.clone()))
        .evaluation_periods(a.evaluation_periods)
        .comparison_operator(ComparisonOperator::from(a.comparison.as_str()))
        .threshold(a.threshold)
        .treat_missing_data(&a.treat_missing_data)
        .set_tags(Some(sdk_tags!(Tag, tags)));
    put = match &a.metric {
        AlarmMetric::Single { metric, stat } => put
            .namespace(&metric.namespace)
            .metric_name(&metric.metric)
            .set_dimensions(Some(
                metric
                    .dimensions
                    .iter()
                    .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                    .collect(),
            ))
            .statistic(Statistic::from(stat.as_str()))
            .period(a.period),
        AlarmMetric::Math {
            queries,
            expression,
            label,
        } => {
            let mut metrics: Vec<MetricDataQuery> = queries
                .iter()
                .map(|(id, m, stat)| {
                    MetricDataQuery::builder()
                        .id(id)
                        .metric_stat(
                            MetricStat::builder()
                                .metric(sdk_metric(m))
                                .period(a.period)
                                .stat(stat)
                                .build(),
                        )
                        .return_data(false)
                        .build()
                })
                .collect();
            metrics.push(
                MetricDataQuery::builder()
                    .id("e1")
                    .expression(expression)
                    .label(label)
                    .return_data(true)
                    .build(),
            );
            put.set_metrics(Some(metrics))
        }
    };
    put.send().await.map_err(|e| classify("PutMetricAlarm", e))?;
    Ok(())
}

/// The tags of an alarm or a dashboard.
pub async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    let out = c
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(tag_map!(out.tags()))
}

pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(sdk_tags!(Tag, tags)))
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

/// Deletes alarms by name (AWS takes up to 100 per call; names that do not exist are ignored).
pub async fn delete_alarms(c: &Client, names: &[String]) -> Result<(), AwsError> {
    for chunk in names.chunks(100) {
        let result = c.delete_alarms().set_alarm_names(Some(chunk.to_vec())).send().await;
        done_if_gone(
            result.map(drop).map_err(|e| classify("DeleteAlarms", e)),
            &["ResourceNotFound"],
        )?;
    }
    Ok(())
}

/// The dashboard's ARN and body (parsed, tags not read); `None` when there is no dashboard of
/// that name.
pub async fn dashboard(c: &Client, name: &str) -> Result<Option<ObservedDashboard>, AwsError> {
    match c.get_dashboard().dashboard_name(name).send().await {
        Ok(out) => Ok(Some(ObservedDashboard {
            arn: out.dashboard_arn().unwrap_or_default().to_string(),
            body: serde_json::from_str(out.dashboard_body().unwrap_or("{}")).unwrap_or(Value::Null),
            tags: None,
        })),
        Err(e) => {
            let e = classify("GetDashboard", e);
            if e.is_not_found() || e.code == "ResourceNotFound" {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Creates or replaces the dashboard; `tags` apply only when it creates it (see [`tag`]).
pub async fn put_dashboard(c: &Client, name: &str, body: &Value, tags: &TagMap) -> Result<(), AwsError> {
    c.put_dashboard()
        .dashboard_name(name)
        .dashboard_body(body.to_string())
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("PutDashboard", e))?;
    Ok(())
}

pub async fn delete_dashboard(c: &Client, name: &str) -> Result<(), AwsError> {
    let result = c.delete_dashboards().dashboard_names(name).send().await;
    done_if_gone(
        result.map(drop).map_err(|e| classify("DeleteDashboards", e)),
        &["ResourceNotFound", "DashboardNotFoundError"],
    )
}
