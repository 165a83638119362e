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
use crate::reconcile::change::{FieldChange, Op};

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
    /// `replacing`: what changed of the group this one replaces (protocol, port, target type or
    /// VPC, which AWS cannot change in place); empty for a first group.
    Create {
        replacing: Vec<FieldChange>,
    },
    ModifyHealthCheck {
        fields: Vec<FieldChange>,
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
            Step::Create { .. } => "CreateTargetGroup",
            Step::ModifyHealthCheck { .. } => "ModifyTargetGroup",
            Step::ModifyAttributes { .. } => "ModifyTargetGroupAttributes",
            Step::RestoreTags { .. } => "AddTags",
            Step::Delete { .. } => "DeleteTargetGroup",
            Step::Untag { .. } => "RemoveTags",
        }
    }

    fn op(&self) -> Op {
        match self {
            Step::Create { replacing } if !replacing.is_empty() => Op::Replace,
            _ => Op::of_action(crate::reconcile::Step::action(self)),
        }
    }

    fn fields(&self) -> Vec<FieldChange> {
        match self {
            Step::Create { replacing: f } | Step::ModifyHealthCheck { fields: f } => f.clone(),
            Step::ModifyAttributes { changed } => changed
                .iter()
                .map(|(k, v)| FieldChange::new(k.as_str(), None::<String>, v))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create { replacing } if replacing.is_empty() => write!(f, "create target group"),
            Step::Create { replacing } => {
                let what: Vec<_> = replacing.iter().map(|c| c.field.as_str()).collect();
                write!(
                    f,
                    "create target group replacing the current one ({} cannot change in place; the old group \
                     is deleted once nothing forwards to it)",
                    what.join(", ")
                )
            }
            Step::ModifyHealthCheck { fields } => {
                let names: Vec<_> = fields.iter().map(|c| c.field.as_str()).collect();
                write!(f, "modify health check: {}", names.join(", "))
            }
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

/// What differs between a group and the one replacing it (always something: the name hashes them;
/// a group whose AWS description lacks them, or the VPC alone when nothing else changed).
fn identity_changes(d: &DesiredTargetGroup, o: &ObservedTargetGroup) -> Vec<FieldChange> {
    let found: Vec<_> = [
        FieldChange::of("protocol", &o.protocol, &d.protocol),
        FieldChange::of("port", &o.port, &d.port),
        FieldChange::of("target type", &o.target_type, &d.target_type),
        FieldChange::of("VPC", &o.vpc_id, &d.vpc_id),
    ]
    .into_iter()
    .flatten()
    .collect();
    if found.is_empty() {
        vec![FieldChange::new("name", Some(&o.name), &d.name)]
    } else {
        found
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
        None => {
            // The group recorded last (status lists it first) is the one this one replaces.
            let replacing = replaced
                .first()
                .map(|o| identity_changes(desired, o))
                .unwrap_or_default();
            p.push(Step::Create { replacing })
        }
        Some(o) => {
            let (d, h) = (&desired.health, &o.health);
            let fields: Vec<FieldChange> = [
                FieldChange::of("path", &h.path, &d.path),
                FieldChange::of("protocol", &h.protocol, &d.protocol),
                FieldChange::of("port", &h.port, &d.port),
                FieldChange::of("healthy threshold", &h.healthy_threshold, &d.healthy_threshold),
                FieldChange::of("unhealthy threshold", &h.unhealthy_threshold, &d.unhealthy_threshold),
                FieldChange::of("timeout", &h.timeout_seconds, &d.timeout_seconds),
                FieldChange::of("interval", &h.interval_seconds, &d.interval_seconds),
                FieldChange::of("matcher", &h.matcher, &d.matcher),
            ]
            .into_iter()
            .flatten()
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
