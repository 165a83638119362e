//! The alarms' plans (pure, `spec.alarms`): the stack's SNS topic and its email subscriptions
//! (unless `snsTopicArn` names the user's topic), one CloudWatch alarm per threshold and watched
//! resource (written again when a threshold or anything else of it differs, deleted with what it
//! watches), tags restored, and the dashboard. Deleted with the stack (alarms, dashboard, topic);
//! under `Retain` they lose their ownership tags instead.

pub mod io;

use std::fmt;

use crate::api::{AlarmsSpec, ContainerService, WebStackSpec};
use crate::model::TagMap;
use crate::model::alarms::{
    AlarmDef, DesiredAlarms, DesiredTopic, ObservedAlarms, Thresholds, WatchedService, alarm_prefix, dashboard_name,
    topic_arn, topic_name,
};
use crate::model::ownership::{Owner, missing_tags};
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// The topic's and the alarms' component tag.
pub const COMPONENT: &str = "alarms";

/// One change to the alarms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmStep {
    CreateTopic {
        name: String,
    },
    RestoreTopicTags {
        arn: String,
        keys: Vec<String>,
    },
    /// An email address to subscribe (AWS mails it a confirmation link).
    Subscribe {
        email: String,
    },
    /// A confirmed subscription of an address no longer in the spec.
    Unsubscribe {
        arn: String,
        email: String,
    },
    /// PutMetricAlarm: creates the alarm, or replaces its definition (`changes` says what differs).
    PutAlarm {
        alarm: Box<AlarmDef>,
        changes: Vec<&'static str>,
    },
    RestoreAlarmTags {
        arn: String,
        name: String,
        keys: Vec<String>,
    },
    DeleteAlarms {
        names: Vec<String>,
    },
    PutDashboard {
        name: String,
    },
    RestoreDashboardTags {
        arn: String,
        keys: Vec<String>,
    },
    UntagDashboard {
        arn: String,
    },
    DeleteDashboard {
        name: String,
    },
    /// Deletes the topic and with it its subscriptions.
    DeleteTopic {
        arn: String,
    },
    UntagTopic {
        arn: String,
    },
    UntagAlarms {
        arns: Vec<String>,
    },
}

impl AlarmStep {
    pub fn action(&self) -> &'static str {
        match self {
            AlarmStep::CreateTopic { .. } => "CreateTopic",
            AlarmStep::RestoreTopicTags { .. }
            | AlarmStep::RestoreAlarmTags { .. }
            | AlarmStep::RestoreDashboardTags { .. } => "TagResource",
            AlarmStep::Subscribe { .. } => "Subscribe",
            AlarmStep::Unsubscribe { .. } => "Unsubscribe",
            AlarmStep::PutAlarm { .. } => "PutMetricAlarm",
            AlarmStep::DeleteAlarms { .. } => "DeleteAlarms",
            AlarmStep::PutDashboard { .. } => "PutDashboard",
            AlarmStep::DeleteDashboard { .. } => "DeleteDashboards",
            AlarmStep::DeleteTopic { .. } => "DeleteTopic",
            AlarmStep::UntagTopic { .. } | AlarmStep::UntagAlarms { .. } | AlarmStep::UntagDashboard { .. } => {
                "UntagResource"
            }
        }
    }
}

impl fmt::Display for AlarmStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlarmStep::CreateTopic { name } => write!(f, "create SNS topic {name}"),
            AlarmStep::RestoreTopicTags { arn, keys } => write!(f, "restore tags {} on topic {arn}", keys.join(", ")),
            AlarmStep::Subscribe { email } => write!(f, "subscribe {email} to the alarms' topic"),
            AlarmStep::Unsubscribe { email, .. } => write!(f, "unsubscribe {email} from the alarms' topic"),
            AlarmStep::PutAlarm { alarm, changes } if changes.is_empty() => {
                write!(f, "create alarm {}", alarm.name)
            }
            AlarmStep::PutAlarm { alarm, changes } => {
                write!(f, "update alarm {}: {}", alarm.name, changes.join(", "))
            }
            AlarmStep::RestoreAlarmTags { name, keys, .. } => {
                write!(f, "restore tags {} on alarm {name}", keys.join(", "))
            }
            AlarmStep::DeleteAlarms { names } => write!(f, "delete alarm(s) {}", names.join(", ")),
            AlarmStep::PutDashboard { name } => write!(f, "write dashboard {name}"),
            AlarmStep::RestoreDashboardTags { arn, keys } => {
                write!(f, "restore tags {} on dashboard {arn}", keys.join(", "))
            }
            AlarmStep::UntagDashboard { arn } => write!(f, "remove the ownership tags of dashboard {arn}"),
            AlarmStep::DeleteDashboard { name } => write!(f, "delete dashboard {name}"),
            AlarmStep::DeleteTopic { arn } => write!(f, "delete SNS topic {arn} and its subscriptions"),
            AlarmStep::UntagTopic { arn } => write!(f, "remove the ownership tags of topic {arn}"),
            AlarmStep::UntagAlarms { arns } => {
                write!(f, "remove the ownership tags of {} alarm(s)", arns.len())
            }
        }
    }
}

/// `spec.alarms` checked (the schema bounds the thresholds; CEL keeps `email` to the stack's own
/// topic). The region and the services are the controller's to fill in.
pub fn desired(a: &AlarmsSpec, spec: &WebStackSpec, owner: &Owner) -> DesiredAlarms {
    DesiredAlarms {
        prefix: alarm_prefix(owner),
        dashboard: dashboard_name(owner),
        region: String::new(),
        topic: match &a.sns_topic_arn {
            Some(arn) => DesiredTopic::Given { arn: arn.clone() },
            None => {
                let mut emails: Vec<String> = a.email.iter().map(|e| e.to_ascii_lowercase()).collect();
                emails.sort();
                emails.dedup();
                DesiredTopic::Own {
                    name: topic_name(owner),
                    emails,
                }
            }
        },
        thresholds: Thresholds {
            load_balancer_5xx_percent: a.load_balancer_5xx_percent,
            target_response_time_seconds: a.target_response_time_seconds,
            service_cpu_percent: a.service_cpu_percent,
            service_memory_percent: a.service_memory_percent,
            database_cpu_percent: a.database_cpu_percent,
            database_free_storage_gib: a.database_free_storage_gib,
        },
        cluster: crate::reconcile::spec::cluster_name(spec, owner),
        services: Vec::new(),
        database: spec
            .database
            .as_ref()
            .map(|_| crate::model::data::database_identifier(owner)),
    }
}

/// The stack's ContainerServices (not being deleted) with the ECS service names their controller
/// gives them, sorted.
pub fn watched_services(found: &[ContainerService], cluster_id: &str) -> Vec<WatchedService> {
    use kube::ResourceExt;
    let mut out: Vec<WatchedService> = found
        .iter()
        .map(|s| WatchedService {
            name: s.name_any(),
            ecs_name: crate::reconcile::spec::ecs_service_name(s, cluster_id),
        })
        .collect();
    out.sort();
    out
}

/// The load balancer the alarms watch: the stack's, once it exists and while the spec has one.
pub fn load_balancer<'a>(desired: Option<&DesiredStack>, observed: &'a ObservedStack) -> Option<&'a str> {
    let wanted = desired.is_some_and(|d| d.load_balancer.is_some());
    observed
        .load_balancer
        .as_ref()
        .filter(|_| wanted)
        .map(|lb| lb.arn.as_str())
}

/// The stack's alarm steps: towards `spec.alarms`, or, once it is removed, towards nothing.
pub fn plan_stack(desired: &DesiredStack, observed: &ObservedStack) -> Vec<AlarmStep> {
    match &desired.alarms {
        Some(a) => plan(
            a,
            &observed.alarms,
            load_balancer(Some(desired), observed),
            &desired.tags_for(COMPONENT),
        ),
        None if observed.alarms.read => plan_cleanup(&observed.alarms, false),
        None => Vec::new(),
    }
}

/// `status.alarms`: the topic notified, the alarms and the dashboard as found.
pub fn status(desired: &DesiredStack, observed: &ObservedStack) -> Option<crate::api::AlarmsStatus> {
    let o = &observed.alarms;
    let d = desired.alarms.as_ref();
    if d.is_none() && o.topic.is_none() && o.alarms.is_empty() {
        return None;
    }
    let mut alarms: Vec<String> = o.alarms.iter().map(|a| a.def.name.clone()).collect();
    alarms.sort();
    Some(crate::api::AlarmsStatus {
        topic_arn: match d {
            Some(d) => topic_arn(d, o),
            None => o.topic.as_ref().map(|t| t.arn.clone()),
        },
        alarms,
        dashboard: d
            .filter(|_| !o.dashboard_read || o.dashboard.is_some())
            .map(|d| d.dashboard.clone()),
    })
}

/// The alarms as they should be now (the load balancer's as soon as it exists).
pub fn desired_alarms(
    desired: &DesiredAlarms,
    observed: &ObservedAlarms,
    load_balancer: Option<&str>,
) -> Vec<AlarmDef> {
    desired.alarms(load_balancer, topic_arn(desired, observed).as_deref())
}

/// What differs between an alarm as wanted and as found.
pub fn alarm_changes(want: &AlarmDef, have: &AlarmDef) -> Vec<&'static str> {
    let mut changes = Vec::new();
    if want.threshold != have.threshold {
        changes.push("threshold");
    }
    if want.comparison != have.comparison {
        changes.push("comparison");
    }
    if want.metric != have.metric {
        changes.push("metric");
    }
    if (want.period, want.evaluation_periods) != (have.period, have.evaluation_periods) {
        changes.push("periods");
    }
    if want.treat_missing_data != have.treat_missing_data {
        changes.push("missing data");
    }
    if want.actions != have.actions {
        changes.push("actions");
    }
    if want.description != have.description {
        changes.push("description");
    }
    changes
}

/// Steps that make the alarms match: topic and subscriptions, alarms, tags, the dashboard.
/// `load_balancer` is the stack's load balancer's ARN, when it has one.
pub fn plan(
    desired: &DesiredAlarms,
    observed: &ObservedAlarms,
    load_balancer: Option<&str>,
    tags: &TagMap,
) -> Vec<AlarmStep> {
    let mut steps = Vec::new();
    match (&desired.topic, &observed.topic) {
        (DesiredTopic::Own { name, emails }, topic) => {
            match topic {
                None => steps.push(AlarmStep::CreateTopic { name: name.clone() }),
                Some(t) => {
                    if let Some(have) = &t.tags {
                        let keys = missing_tags(tags, have);
                        if !keys.is_empty() {
                            steps.push(AlarmStep::RestoreTopicTags {
                                arn: t.arn.clone(),
                                keys,
                            });
                        }
                    }
                }
            }
            let subs = topic.as_ref().map(|t| t.subscriptions.as_slice()).unwrap_or_default();
            let email = |s: &&crate::model::alarms::Subscription| s.protocol == "email";
            for e in emails {
                if !subs.iter().filter(email).any(|s| s.endpoint.eq_ignore_ascii_case(e)) {
                    steps.push(AlarmStep::Subscribe { email: e.clone() });
                }
            }
            // A pending subscription cannot be removed (AWS refuses); it expires unconfirmed.
            for s in subs.iter().filter(email) {
                if let Some(arn) = &s.arn
                    && !emails.iter().any(|e| e.eq_ignore_ascii_case(&s.endpoint))
                {
                    steps.push(AlarmStep::Unsubscribe {
                        arn: arn.clone(),
                        email: s.endpoint.clone(),
                    });
                }
            }
        }
        // The user's topic now: the stack's own one goes.
        (DesiredTopic::Given { .. }, Some(t)) => steps.push(AlarmStep::DeleteTopic { arn: t.arn.clone() }),
        (DesiredTopic::Given { .. }, None) => {}
    }
    let want = desired_alarms(desired, observed, load_balancer);
    for w in &want {
        match observed.alarms.iter().find(|o| o.def.name == w.name) {
            None => steps.push(AlarmStep::PutAlarm {
                alarm: Box::new(w.clone()),
                changes: Vec::new(),
            }),
            Some(o) => {
                let changes = alarm_changes(w, &o.def);
                if !changes.is_empty() {
                    steps.push(AlarmStep::PutAlarm {
                        alarm: Box::new(w.clone()),
                        changes,
                    });
                }
                // PutMetricAlarm's tags apply only when it creates the alarm.
                if let Some(have) = &o.tags {
                    let keys = missing_tags(tags, have);
                    if !keys.is_empty() {
                        steps.push(AlarmStep::RestoreAlarmTags {
                            arn: o.arn.clone(),
                            name: o.def.name.clone(),
                            keys,
                        });
                    }
                }
            }
        }
    }
    // An alarm whose service, database or load balancer is gone from the stack goes too.
    let gone: Vec<String> = observed
        .alarms
        .iter()
        .filter(|o| !want.iter().any(|w| w.name == o.def.name))
        .map(|o| o.def.name.clone())
        .collect();
    let removed = !gone.is_empty();
    if removed {
        steps.push(AlarmStep::DeleteAlarms { names: gone });
    }
    let body = desired.dashboard_body(&want);
    if let Some(d) = &observed.dashboard
        && let Some(have) = &d.tags
    {
        let keys = missing_tags(tags, have);
        if !keys.is_empty() {
            steps.push(AlarmStep::RestoreDashboardTags {
                arn: d.arn.clone(),
                keys,
            });
        }
    }
    let stale = if observed.dashboard_read {
        observed.dashboard.as_ref().map(|d| &d.body) != Some(&body)
    } else {
        // Not read (settled): rewritten when the alarms change, which is when its graphs do.
        steps
            .iter()
            .any(|s| matches!(s, AlarmStep::PutAlarm { changes, .. } if changes.is_empty()))
            || removed
    };
    if stale {
        steps.push(AlarmStep::PutDashboard {
            name: desired.dashboard.clone(),
        });
    }
    steps
}

/// Deletion, or `spec.alarms` removed: the alarms, the dashboard and the stack's own topic go;
/// under `Retain` they lose their ownership tags.
pub fn plan_cleanup(observed: &ObservedAlarms, retain: bool) -> Vec<AlarmStep> {
    let mut steps = Vec::new();
    if retain {
        if !observed.alarms.is_empty() {
            steps.push(AlarmStep::UntagAlarms {
                arns: observed.alarms.iter().map(|a| a.arn.clone()).collect(),
            });
        }
        if let Some(d) = &observed.dashboard {
            steps.push(AlarmStep::UntagDashboard { arn: d.arn.clone() });
        }
        if let Some(t) = &observed.topic {
            steps.push(AlarmStep::UntagTopic { arn: t.arn.clone() });
        }
        return steps;
    }
    if !observed.alarms.is_empty() {
        steps.push(AlarmStep::DeleteAlarms {
            names: observed.alarms.iter().map(|a| a.def.name.clone()).collect(),
        });
    }
    if observed.dashboard.is_some() {
        steps.push(AlarmStep::DeleteDashboard {
            name: observed.dashboard_name.clone(),
        });
    }
    if let Some(t) = &observed.topic {
        steps.push(AlarmStep::DeleteTopic { arn: t.arn.clone() });
    }
    steps
}

impl crate::reconcile::Step for AlarmStep {
    fn action(&self) -> &'static str {
        AlarmStep::action(self)
    }
}

/// The alarms part.
pub struct Alarms;

impl Part for Alarms {
    type Step = AlarmStep;

    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<AlarmStep> {
        plan_stack(desired, observed)
    }

    /// First: they only watch the rest.
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<AlarmStep> {
        plan_cleanup(&observed.alarms, how.retain)
    }

    /// When the spec or status has them, and always on deletion.
    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        let st = cx.ws.status.as_ref();
        let wanted = cx.desired.and_then(|d| d.alarms.as_ref());
        if cx.deleting || wanted.is_some() || st.is_some_and(|s| s.alarms.is_some()) {
            let key = io::AlarmsKey {
                desired: wanted,
                known_topic: st.and_then(|s| s.alarms.as_ref()).and_then(|a| a.topic_arn.as_deref()),
                load_balancer: load_balancer(cx.desired, observed),
                deep: cx.deep,
            };
            observed.alarms = Box::pin(io::observe(cx.clients, &key, cx.owner, cx.deleting)).await?;
        }
        Ok(())
    }

    /// With the topic as known at this point (created by an earlier step of this pass).
    async fn apply(cx: &mut ApplyCx<'_>, step: &AlarmStep) -> Result<(), ApplyError> {
        let mut x = io::AlarmsApply {
            clients: cx.clients,
            desired: cx.desired.and_then(|d| d.alarms.as_ref()),
            observed: &cx.observed.alarms,
            load_balancer: load_balancer(cx.desired, cx.observed),
            tags: cx.tags(COMPONENT),
            topic: cx.ids.alarm_topic.clone(),
        };
        Box::pin(io::apply(&mut x, step)).await?;
        cx.ids.alarm_topic = x.topic;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
