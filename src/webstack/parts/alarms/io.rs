//! The alarms' I/O: observing the stack's topic, alarms and dashboard, and applying
//! [`AlarmStep`]s.
//!
//! A steady re-check makes 2 calls: DescribeAlarms by the stack's name prefix (every alarm, one
//! call) and ListSubscriptionsByTopic (which also proves the topic exists); 1 with `snsTopicArn`.
//! While not settled, on deletion, or when the alarms differ from the desired ones, also
//! GetDashboard; while not settled and on deletion the tags of the topic, of every alarm and of
//! the dashboard (ListTagsForResource each), and ListTopics when status does not name the stack's
//! topic.

use super::{AlarmStep, desired_alarms};
use crate::aws::{Clients, cloudwatch, sns};
use crate::model::alarms::{DesiredAlarms, ObservedAlarms, ObservedTopic, alarm_prefix, dashboard_name, topic_name};
use crate::model::ownership::OWNERSHIP_KEYS;
use crate::model::{Owner, TagMap};
use crate::reconcile::Blocked;

/// Where the alarms are read from.
pub struct AlarmsKey<'a> {
    pub desired: Option<&'a DesiredAlarms>,
    /// `status.alarms.topicArn`.
    pub known_topic: Option<&'a str>,
    /// The stack's load balancer's ARN, when it has one.
    pub load_balancer: Option<&'a str>,
    pub deep: bool,
}

/// Observes the alarms. With `deleting`, what is someone else's is left out instead of stopping.
pub async fn observe(
    c: &Clients,
    key: &AlarmsKey<'_>,
    owner: &Owner,
    deleting: bool,
) -> Result<ObservedAlarms, Blocked> {
    let keep = |what: &'static str, id: &str, tags: &TagMap| -> Result<bool, Blocked> {
        match owner.check(what, id, tags) {
            Ok(()) => Ok(true),
            Err(_) if deleting => Ok(false),
            Err(conflict) => Err(conflict.into()),
        }
    };
    let deep = key.deep || deleting;
    let mut o = ObservedAlarms {
        read: true,
        dashboard_name: dashboard_name(owner),
        ..ObservedAlarms::default()
    };
    // The stack's own topic: by the ARN in status when it is the stack's name, else looked up.
    let name = topic_name(owner);
    let known = key.known_topic.filter(|a| a.ends_with(&format!(":{name}")));
    let arn = match known {
        Some(a) => Some(a.to_string()),
        None if deep => sns::find_topic(&c.sns, &name).await?,
        None => None,
    };
    if let Some(arn) = arn
        && let Some(subscriptions) = sns::subscriptions(&c.sns, &arn).await?
    {
        let tags = if deep {
            Some(sns::tags(&c.sns, &arn).await?)
        } else {
            None
        };
        let ours = match &tags {
            Some(t) => keep("SNS topic", &arn, t)?,
            None => true,
        };
        if ours {
            o.topic = Some(ObservedTopic {
                arn,
                tags,
                subscriptions,
            });
        }
    }
    for mut a in cloudwatch::alarms(&c.cloudwatch, &alarm_prefix(owner)).await? {
        if deep {
            let tags = cloudwatch::tags(&c.cloudwatch, &a.arn).await?;
            if !keep("CloudWatch alarm", &a.arn, &tags)? {
                continue;
            }
            a.tags = Some(tags);
        }
        o.alarms.push(a);
    }
    let differ = key.desired.is_none_or(|d| {
        let mut want: Vec<String> = desired_alarms(d, &o, key.load_balancer)
            .into_iter()
            .map(|a| a.name)
            .collect();
        let mut have: Vec<String> = o.alarms.iter().map(|a| a.def.name.clone()).collect();
        want.sort();
        have.sort();
        want != have
    });
    if deep || differ {
        o.dashboard_read = true;
        if let Some(mut d) = cloudwatch::dashboard(&c.cloudwatch, &o.dashboard_name).await? {
            let ours = if deep {
                let tags = cloudwatch::tags(&c.cloudwatch, &d.arn).await?;
                let ours = keep("CloudWatch dashboard", &d.arn, &tags)?;
                d.tags = Some(tags);
                ours
            } else {
                true
            };
            if ours {
                o.dashboard = Some(d);
            }
        }
    }
    Ok(o)
}

/// What applying alarm steps needs besides the step.
pub struct AlarmsApply<'a> {
    pub clients: &'a Clients,
    pub desired: Option<&'a DesiredAlarms>,
    pub observed: &'a ObservedAlarms,
    pub load_balancer: Option<&'a str>,
    pub tags: TagMap,
    /// The topic's ARN as known at this point (created by an earlier step of this pass).
    pub topic: Option<String>,
}

fn need<'a, T>(v: Option<&'a T>, what: &str) -> Result<&'a T, Blocked> {
    v.ok_or_else(|| Blocked::waiting(format!("{what} is not known yet")))
}

/// Runs one alarm step.
pub async fn apply(a: &mut AlarmsApply<'_>, step: &AlarmStep) -> Result<(), Blocked> {
    let (cw, sn) = (&a.clients.cloudwatch, &a.clients.sns);
    match step {
        AlarmStep::CreateTopic { name } => {
            a.topic = Some(sns::create_topic(sn, name, &a.tags).await?);
        }
        AlarmStep::RestoreTopicTags { arn, keys } => {
            sns::tag(sn, arn, &crate::model::ownership::select(&a.tags, keys)).await?
        }
        AlarmStep::Subscribe { email } => {
            let topic = need(a.topic.as_ref(), "the alarms' topic")?;
            sns::subscribe_email(sn, topic, email).await?
        }
        AlarmStep::Unsubscribe { arn, .. } => sns::unsubscribe(sn, arn).await?,
        AlarmStep::PutAlarm { alarm, .. } => {
            // The topic as known now (the plan may have been made before it was created).
            let mut def = (**alarm).clone();
            def.actions = a.topic.iter().cloned().collect();
            cloudwatch::put_alarm(cw, &def, &a.tags).await?
        }
        AlarmStep::RestoreAlarmTags { arn, keys, .. } => {
            cloudwatch::tag(cw, arn, &crate::model::ownership::select(&a.tags, keys)).await?
        }
        AlarmStep::DeleteAlarms { names } => cloudwatch::delete_alarms(cw, names).await?,
        AlarmStep::PutDashboard { name } => {
            let d = need(a.desired, "the alarms spec")?;
            let mut observed = a.observed.clone();
            if let (Some(t), Some(arn)) = (observed.topic.as_mut(), a.topic.as_ref()) {
                t.arn = arn.clone();
            }
            let alarms = desired_alarms(d, &observed, a.load_balancer);
            cloudwatch::put_dashboard(cw, name, &d.dashboard_body(&alarms), &a.tags).await?
        }
        AlarmStep::RestoreDashboardTags { arn, keys } => {
            cloudwatch::tag(cw, arn, &crate::model::ownership::select(&a.tags, keys)).await?
        }
        AlarmStep::UntagDashboard { arn } => cloudwatch::untag(cw, arn, &OWNERSHIP_KEYS).await?,
        AlarmStep::DeleteDashboard { name } => cloudwatch::delete_dashboard(cw, name).await?,
        AlarmStep::DeleteTopic { arn } => sns::delete_topic(sn, arn).await?,
        AlarmStep::UntagTopic { arn } => sns::untag(sn, arn, &OWNERSHIP_KEYS).await?,
        AlarmStep::UntagAlarms { arns } => {
            for arn in arns {
                cloudwatch::untag(cw, arn, &OWNERSHIP_KEYS).await?;
            }
        }
    }
    Ok(())
}
