//! validate and plan for a TargetGroup (pure). A target group's protocol, port, target type and VPC
//! cannot change in AWS, so its name carries a short hash of them: changing one yields a new name,
//! hence a new group created beside the old one, which is deleted only once nothing uses it: AWS
//! refuses to delete a group a listener or rule forwards to (`ResourceInUse`), and that refusal is
//! the test (a group's `LoadBalancerArns` can lag; the emulator never clears it).

use std::collections::BTreeMap;
use std::fmt;

use crate::api::{DeletionPolicy, HttpProtocol, TargetGroupSpec, TargetType};
use crate::model::TagMap;
use crate::model::ownership::{Owner, missing_tags, stable_hash};
use crate::model::target_group::{DesiredTargetGroup, HealthCheck, ObservedTargetGroup};

/// What AWS holds of a TargetGroup resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedGroups {
    /// The group with the desired name.
    pub current: Option<ObservedTargetGroup>,
    /// Groups of this resource with other names (after a change of protocol, port, target type or
    /// VPC), recorded in status.
    pub replaced: Vec<ObservedTargetGroup>,
    /// Deletion: every group of this resource, found by status and by name and tags.
    pub all: Vec<String>,
}

/// The name prefix of every group: `tg` and four hex digits of the immutable fields' hash.
pub const NAME_PREFIX: &str = "tg";

fn protocol(p: HttpProtocol) -> &'static str {
    match p {
        HttpProtocol::Http => "HTTP",
        HttpProtocol::Https => "HTTPS",
    }
}

/// Validates a spec against its stack's VPC. (The schema already checked ranges and enums.)
pub fn validate(spec: &TargetGroupSpec, owner: &Owner, vpc_id: &str, stack_tags: &TagMap) -> DesiredTargetGroup {
    let s = &spec.settings;
    let target_type = match s.target_type {
        TargetType::Ip => "ip",
        TargetType::Instance => "instance",
    };
    let immutable = format!("{}/{}/{}/{}", protocol(s.protocol), s.port, target_type, vpc_id);
    let name = owner.aws_name(&format!("{NAME_PREFIX}{:04x}", stable_hash(&immutable) & 0xffff), 32);
    let h = &s.health_check;
    let mut attributes = BTreeMap::from([
        (
            "deregistration_delay.timeout_seconds".to_string(),
            s.deregistration_delay_seconds.to_string(),
        ),
        (
            "slow_start.duration_seconds".to_string(),
            s.slow_start_seconds.to_string(),
        ),
    ]);
    let sticky = s.stickiness.as_ref();
    attributes.insert(
        "stickiness.enabled".into(),
        sticky.is_some_and(|st| st.enabled).to_string(),
    );
    if let Some(st) = sticky.filter(|st| st.enabled) {
        attributes.insert("stickiness.type".into(), "lb_cookie".into());
        attributes.insert(
            "stickiness.lb_cookie.duration_seconds".into(),
            st.duration_seconds.to_string(),
        );
    }
    let mut user = stack_tags.clone();
    user.extend(spec.tags.clone());
    DesiredTargetGroup {
        tags: owner.tags(&user, "target-group", &name),
        name,
        vpc_id: vpc_id.into(),
        protocol: protocol(s.protocol).into(),
        port: s.port,
        target_type: target_type.into(),
        health: HealthCheck {
            path: h.path.clone(),
            protocol: protocol(h.protocol).into(),
            port: h.port.clone(),
            healthy_threshold: h.healthy_threshold,
            unhealthy_threshold: h.unhealthy_threshold,
            timeout_seconds: h.timeout_seconds,
            interval_seconds: h.interval_seconds,
            matcher: h.matcher.clone(),
        },
        attributes,
    }
}

/// One change to AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Create,
    ModifyHealthCheck {
        fields: Vec<&'static str>,
    },
    ModifyAttributes {
        changed: BTreeMap<String, String>,
    },
    RestoreTags {
        arn: String,
        keys: Vec<String>,
    },
    /// A replaced group nothing forwards to any more (while converging), or every group (deletion).
    Delete {
        arn: String,
    },
    /// `deletionPolicy: Retain`.
    Untag {
        arns: Vec<String>,
    },
}

impl crate::reconcile::Step for Step {
    fn action(&self) -> &'static str {
        match self {
            Step::Create => "CreateTargetGroup",
            Step::ModifyHealthCheck { .. } => "ModifyTargetGroup",
            Step::ModifyAttributes { .. } => "ModifyTargetGroupAttributes",
            Step::RestoreTags { .. } => "AddTags",
            Step::Delete { .. } => "DeleteTargetGroup",
            Step::Untag { .. } => "RemoveTags",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create => write!(f, "create target group"),
            Step::ModifyHealthCheck { fields } => write!(f, "modify health check: {}", fields.join(", ")),
            Step::ModifyAttributes { changed } => {
                let keys: Vec<_> = changed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "set attributes {}", keys.join(", "))
            }
            Step::RestoreTags { keys, .. } => write!(f, "restore tags {}", keys.join(", ")),
            Step::Delete { arn } => write!(f, "delete target group {arn}"),
            Step::Untag { arns } => write!(f, "remove the ownership tags of {}", arns.join(", ")),
        }
    }
}

/// Deletion: every group, deleted or (`Retain`) untagged.
pub fn plan_cleanup(observed: &ObservedGroups, policy: DeletionPolicy) -> Vec<Step> {
    match policy {
        _ if observed.all.is_empty() => Vec::new(),
        DeletionPolicy::Delete => observed
            .all
            .iter()
            .map(|arn| Step::Delete { arn: arn.clone() })
            .collect(),
        DeletionPolicy::Retain => vec![Step::Untag {
            arns: observed.all.clone(),
        }],
    }
}

/// `current` is the group with the desired name, `replaced` groups of this resource with other
/// names (after a change of protocol, port, target type or VPC).
pub fn plan(
    desired: &DesiredTargetGroup,
    current: Option<&ObservedTargetGroup>,
    replaced: &[ObservedTargetGroup],
) -> Vec<Step> {
    let mut p = Vec::new();
    match current {
        None => p.push(Step::Create),
        Some(o) => {
            let (d, h) = (&desired.health, &o.health);
            let fields: Vec<&'static str> = [
                ("path", d.path != h.path),
                ("protocol", d.protocol != h.protocol),
                ("port", d.port != h.port),
                ("healthy threshold", d.healthy_threshold != h.healthy_threshold),
                ("unhealthy threshold", d.unhealthy_threshold != h.unhealthy_threshold),
                ("timeout", d.timeout_seconds != h.timeout_seconds),
                ("interval", d.interval_seconds != h.interval_seconds),
                ("matcher", d.matcher != h.matcher),
            ]
            .into_iter()
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect();
            if !fields.is_empty() {
                p.push(Step::ModifyHealthCheck { fields });
            }
            let changed: BTreeMap<_, _> = desired
                .attributes
                .iter()
                .filter(|(k, v)| o.attributes.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !changed.is_empty() {
                p.push(Step::ModifyAttributes { changed });
            }
            let keys = missing_tags(&desired.tags, &o.tags);
            if !keys.is_empty() {
                p.push(Step::RestoreTags {
                    arn: o.arn.clone(),
                    keys,
                });
            }
        }
    }
    for old in replaced {
        p.push(Step::Delete { arn: old.arn.clone() });
    }
    p
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
