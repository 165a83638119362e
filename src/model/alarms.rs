//! A stack's alarms in domain terms (`spec.alarms`): the SNS topic they notify, the CloudWatch
//! alarms on the load balancer, each ContainerService and the database, and the dashboard showing
//! the same metrics. Names are deterministic per stack; the alarm definitions are pure functions of
//! the thresholds and what they watch. No I/O.

use serde_json::{Value, json};

use super::ownership::{Owner, TagMap};

/// Bytes in a GiB (FreeStorageSpace is reported in bytes).
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The thresholds of `spec.alarms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    pub load_balancer_5xx_percent: i32,
    pub target_response_time_seconds: f64,
    pub service_cpu_percent: i32,
    pub service_memory_percent: i32,
    pub database_cpu_percent: i32,
    pub database_free_storage_gib: i32,
}

/// The topic the alarms notify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DesiredTopic {
    /// A topic owned by the stack, named `name`, with these email subscriptions.
    Own { name: String, emails: Vec<String> },
    /// `snsTopicArn`: the user's topic, only ever named in the alarms' actions.
    Given { arn: String },
}

/// A ContainerService of the stack, as its alarms name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WatchedService {
    /// The ContainerService's name in Kubernetes (the alarm name says it).
    pub name: String,
    /// The ECS service's name (the `ServiceName` dimension).
    pub ecs_name: String,
}

/// `spec.alarms`, checked: what the planner turns into alarms once it knows what they watch.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredAlarms {
    /// Every alarm's name starts with it: `webstack-<namespace>-<name>-<uid8>/`.
    pub prefix: String,
    pub dashboard: String,
    pub region: String,
    pub topic: DesiredTopic,
    pub thresholds: Thresholds,
    /// The ECS cluster of the stack's services (`ClusterName`).
    pub cluster: String,
    pub services: Vec<WatchedService>,
    /// The stack's database instance (`DBInstanceIdentifier`), when the spec has one.
    pub database: Option<String>,
}

/// The alarm name prefix of a stack: `webstack-<namespace>-<name>-<uid8>/`. Kubernetes names
/// cannot hold `/`, so no other stack's names start with it.
pub fn alarm_prefix(owner: &Owner) -> String {
    format!("{}/", owner.aws_name("webstack", 200))
}

/// The dashboard's name (letters, digits, `-` and `_`, at most 255).
pub fn dashboard_name(owner: &Owner) -> String {
    owner.aws_name("webstack", 255)
}

/// The stack's own topic's name (letters, digits, `-` and `_`, at most 256).
pub fn topic_name(owner: &Owner) -> String {
    owner.aws_name("webstack-alarms", 256)
}

/// One metric as CloudWatch names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricRef {
    pub namespace: String,
    pub metric: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
}

/// What an alarm evaluates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmMetric {
    /// One metric's statistic.
    Single { metric: MetricRef, stat: String },
    /// Metric math: `queries` (id, metric, stat; not returned) and the returned expression `e1`.
    Math {
        queries: Vec<(String, MetricRef, String)>,
        expression: String,
        label: String,
    },
}

/// One alarm, as PutMetricAlarm writes it and DescribeAlarms returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmDef {
    pub name: String,
    pub description: String,
    pub metric: AlarmMetric,
    pub period: i32,
    pub evaluation_periods: i32,
    /// `GreaterThanThreshold` or `LessThanThreshold`.
    pub comparison: String,
    pub threshold: f64,
    /// `notBreaching` or `missing`.
    pub treat_missing_data: String,
    /// The topic, in AlarmActions and OKActions (empty while the topic is not known).
    pub actions: Vec<String>,
}

// Thresholds are whole numbers or the user's decimal as written: equal or not, never NaN.
impl Eq for AlarmDef {}

/// An alarm as found (DescribeAlarms by prefix).
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedAlarm {
    pub arn: String,
    pub def: AlarmDef,
    /// Read only while the stack is not settled (ListTagsForResource per alarm).
    pub tags: Option<TagMap>,
}

/// An SNS subscription of the topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
    /// `None` while the subscription waits for its confirmation (`PendingConfirmation`): AWS
    /// refuses to unsubscribe it; it expires unconfirmed.
    pub arn: Option<String>,
}

/// The stack's own topic as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTopic {
    pub arn: String,
    /// Read only while the stack is not settled.
    pub tags: Option<TagMap>,
    pub subscriptions: Vec<Subscription>,
}

/// The stack's dashboard as found.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedDashboard {
    pub arn: String,
    /// Its body, parsed.
    pub body: Value,
    /// Read only while the stack is not settled.
    pub tags: Option<TagMap>,
}

/// What AWS has of a stack's alarms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedAlarms {
    /// Whether anything was looked for (spec, status or deletion asked).
    pub read: bool,
    /// The dashboard's name (deterministic, with the stack's uid).
    pub dashboard_name: String,
    pub topic: Option<ObservedTopic>,
    pub alarms: Vec<ObservedAlarm>,
    /// The dashboard, when it was read and exists.
    pub dashboard: Option<ObservedDashboard>,
    /// Whether the dashboard was read on this pass (only while not settled, on deletion, or when
    /// the alarms differ from the desired ones).
    pub dashboard_read: bool,
}

fn metric(namespace: &str, name: &str, dims: &[(&str, &str)]) -> MetricRef {
    let mut dimensions: Vec<(String, String)> = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    dimensions.sort();
    MetricRef {
        namespace: namespace.into(),
        metric: name.into(),
        dimensions,
    }
}

/// The `LoadBalancer` dimension of an ALB: its ARN after `loadbalancer/` (`app/<name>/<id>`).
pub fn load_balancer_dimension(arn: &str) -> Option<&str> {
    arn.split_once(":loadbalancer/").map(|(_, suffix)| suffix)
}

/// The 5xx share: the targets' 5xx responses over all requests, in percent; a minute without
/// requests is 0 (IF avoids the division by zero), one without 5xx counts none (FILL).
pub const FIVE_XX_EXPRESSION: &str = "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)";

impl DesiredAlarms {
    /// Every alarm, given the load balancer's ARN (none yet: no load balancer alarms) and the
    /// topic's ARN (none yet: no actions).
    pub fn alarms(&self, load_balancer_arn: Option<&str>, topic: Option<&str>) -> Vec<AlarmDef> {
        let t = &self.thresholds;
        let actions: Vec<String> = topic.into_iter().map(String::from).collect();
        let def = |what: &str, description: String, metric, comparison: &str, threshold: f64| AlarmDef {
            name: format!("{}{what}", self.prefix),
            description,
            metric,
            period: 60,
            evaluation_periods: 5,
            comparison: comparison.into(),
            threshold,
            treat_missing_data: "missing".into(),
            actions: actions.clone(),
        };
        let mut out = Vec::new();
        if let Some(lb) = load_balancer_arn.and_then(load_balancer_dimension) {
            let dims = [("LoadBalancer", lb)];
            let sum = |m: &str| metric("AWS/ApplicationELB", m, &dims);
            let mut five = def(
                "load-balancer/5xx-percent",
                format!(
                    "5xx responses of the targets above {}% of the requests",
                    t.load_balancer_5xx_percent
                ),
                AlarmMetric::Math {
                    queries: vec![
                        ("m1".into(), sum("HTTPCode_Target_5XX_Count"), "Sum".into()),
                        ("m2".into(), sum("RequestCount"), "Sum".into()),
                    ],
                    expression: FIVE_XX_EXPRESSION.into(),
                    label: "5xx percent".into(),
                },
                "GreaterThanThreshold",
                f64::from(t.load_balancer_5xx_percent),
            );
            // No requests, no data: not an error.
            five.treat_missing_data = "notBreaching".into();
            out.push(five);
            let mut time = def(
                "load-balancer/response-time",
                format!(
                    "average target response time above {} s",
                    t.target_response_time_seconds
                ),
                AlarmMetric::Single {
                    metric: metric("AWS/ApplicationELB", "TargetResponseTime", &dims),
                    stat: "Average".into(),
                },
                "GreaterThanThreshold",
                t.target_response_time_seconds,
            );
            time.treat_missing_data = "notBreaching".into();
            out.push(time);
        }
        for s in &self.services {
            let dims = [
                ("ClusterName", self.cluster.as_str()),
                ("ServiceName", s.ecs_name.as_str()),
            ];
            for (what, m, limit) in [
                ("cpu", "CPUUtilization", t.service_cpu_percent),
                ("memory", "MemoryUtilization", t.service_memory_percent),
            ] {
                out.push(def(
                    &format!("service/{}/{what}", s.name),
                    format!("ContainerService {}: average {what} above {limit}%", s.name),
                    AlarmMetric::Single {
                        metric: metric("AWS/ECS", m, &dims),
                        stat: "Average".into(),
                    },
                    "GreaterThanThreshold",
                    f64::from(limit),
                ));
            }
        }
        if let Some(db) = &self.database {
            let dims = [("DBInstanceIdentifier", db.as_str())];
            out.push(def(
                "database/cpu",
                format!("database {db}: CPU above {}%", t.database_cpu_percent),
                AlarmMetric::Single {
                    metric: metric("AWS/RDS", "CPUUtilization", &dims),
                    stat: "Average".into(),
                },
                "GreaterThanThreshold",
                f64::from(t.database_cpu_percent),
            ));
            let mut storage = def(
                "database/free-storage",
                format!("database {db}: free storage below {} GiB", t.database_free_storage_gib),
                AlarmMetric::Single {
                    metric: metric("AWS/RDS", "FreeStorageSpace", &dims),
                    stat: "Minimum".into(),
                },
                "LessThanThreshold",
                f64::from(t.database_free_storage_gib) * GIB,
            );
            storage.period = 300;
            storage.evaluation_periods = 1;
            out.push(storage);
        }
        out
    }

    /// The dashboard's body: one graph per alarm, its threshold drawn as a line.
    pub fn dashboard_body(&self, alarms: &[AlarmDef]) -> Value {
        let widgets: Vec<Value> = alarms
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let metrics: Vec<Value> = match &a.metric {
                    AlarmMetric::Single { metric, stat } => vec![metric_row(metric, json!({"stat": stat}))],
                    AlarmMetric::Math {
                        queries,
                        expression,
                        label,
                    } => {
                        let mut rows: Vec<Value> = queries
                            .iter()
                            .map(|(id, m, stat)| metric_row(m, json!({"id": id, "stat": stat, "visible": false})))
                            .collect();
                        rows.push(json!([{"expression": expression, "label": label, "id": "e1"}]));
                        rows
                    }
                };
                let title = a.name.strip_prefix(&self.prefix).unwrap_or(&a.name);
                json!({
                    "type": "metric",
                    "x": (i % 2) * 12,
                    "y": (i / 2) * 6,
                    "width": 12,
                    "height": 6,
                    "properties": {
                        "title": title,
                        "region": self.region,
                        "view": "timeSeries",
                        "period": a.period,
                        "metrics": metrics,
                        "annotations": {"horizontal": [{"label": "alarm", "value": a.threshold}]}
                    }
                })
            })
            .collect();
        json!({ "widgets": widgets })
    }
}

fn metric_row(m: &MetricRef, options: Value) -> Value {
    let mut row = vec![json!(m.namespace), json!(m.metric)];
    for (k, v) in &m.dimensions {
        row.push(json!(k));
        row.push(json!(v));
    }
    row.push(options);
    Value::Array(row)
}

/// The topic the alarms notify, when known: the given one, else the stack's own as observed.
pub fn topic_arn(desired: &DesiredAlarms, observed: &ObservedAlarms) -> Option<String> {
    match &desired.topic {
        DesiredTopic::Given { arn } => Some(arn.clone()),
        DesiredTopic::Own { .. } => observed.topic.as_ref().map(|t| t.arn.clone()),
    }
}

/// The topic the alarms notify before any step runs.
pub fn initial_topic(desired: Option<&DesiredAlarms>, observed: &ObservedAlarms) -> Option<String> {
    match desired {
        Some(d) => topic_arn(d, observed),
        None => observed.topic.as_ref().map(|t| t.arn.clone()),
    }
}
