//! validate and plan for a ListenerRule (pure). Priorities are never stolen: an explicit one held
//! by another rule is a conflict; without one, a free priority is picked deterministically from
//! the rule's uid and kept (status, then the rule itself). AWS refuses two rules with one priority
//! on a listener (`PriorityInUse`), so concurrent allocations cannot collide: the loser re-plans.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::api::{DeletionPolicy, ListenerRuleSpec, RuleConditions};
use crate::model::TagMap;
use crate::model::ownership::missing_tags;
use crate::model::rule::{Condition, DesiredRule, MAX_CONDITION_VALUES, MAX_RULES_PER_LISTENER, ObservedRule};
use crate::reconcile::Blocked;
use crate::reconcile::spec::action;

/// The rules of the listener: this resource's (every copy found by uid) and the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedRules {
    pub ours: Vec<ObservedRule>,
    pub others: Vec<ObservedRule>,
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The spec's conditions in AWS terms, sorted.
pub fn conditions(c: &RuleConditions) -> Vec<Condition> {
    let mut out = Vec::new();
    if !c.path_patterns.is_empty() {
        out.push(Condition::PathPattern(sorted(&c.path_patterns)));
    }
    if !c.host_headers.is_empty() {
        out.push(Condition::HostHeader(sorted(&c.host_headers)));
    }
    for h in &c.http_headers {
        out.push(Condition::HttpHeader {
            name: h.name.clone(),
            values: sorted(&h.values),
        });
    }
    if !c.methods.is_empty() {
        out.push(Condition::HttpMethod(sorted(&c.methods)));
    }
    if !c.query_strings.is_empty() {
        let pairs: Vec<_> = c
            .query_strings
            .iter()
            .map(|q| (q.key.clone(), q.value.clone()))
            .collect();
        out.push(Condition::QueryString(sorted(&pairs)));
    }
    if !c.source_ips.is_empty() {
        out.push(Condition::SourceIp(sorted(&c.source_ips)));
    }
    out.sort();
    out
}

/// Validates a spec; `target_groups` maps Ready TargetGroup names to ARNs, `existing` names every
/// TargetGroup resource of the namespace.
pub fn validate(
    spec: &ListenerRuleSpec,
    target_groups: &BTreeMap<String, String>,
    existing: &BTreeSet<String>,
) -> Result<DesiredRule, Blocked> {
    let conditions = conditions(&spec.route.conditions);
    if conditions.is_empty() {
        return Err(Blocked::stalled(
            "InvalidSpec",
            "spec.conditions: at least one condition is required",
        ));
    }
    let values: usize = conditions.iter().map(Condition::values).sum();
    if values > MAX_CONDITION_VALUES {
        return Err(Blocked::Stalled {
            reason: "RuleQuotaExceeded",
            message: format!("spec.conditions: {values} condition values; an ALB rule allows {MAX_CONDITION_VALUES}"),
        });
    }
    if let Some(f) = &spec.action.forward {
        for (i, t) in f.target_groups.iter().enumerate() {
            let field = format!("spec.action.forward.targetGroups[{i}]");
            if !existing.contains(&t.name) {
                return Err(Blocked::Waiting {
                    message: format!("{field}: TargetGroup {} does not exist", t.name),
                });
            }
            if !target_groups.contains_key(&t.name) {
                return Err(Blocked::Waiting {
                    message: format!("{field}: TargetGroup {} is not Ready", t.name),
                });
            }
        }
        if f.target_groups.len() > 1 && f.target_groups.iter().all(|t| t.weight == Some(0)) {
            return Err(Blocked::Stalled {
                reason: "InvalidSpec",
                message: "spec.action.forward.targetGroups: at least one weight must be above 0".into(),
            });
        }
    }
    let action = action(&spec.action, "spec.action", target_groups).map_err(|e| Blocked::Stalled {
        reason: "InvalidSpec",
        message: e.to_string(),
    })?;
    Ok(DesiredRule {
        priority: spec.route.priority,
        conditions,
        action,
    })
}

/// A free priority, probed upward from a point derived from the uid, in 10000..=50000 (1..9999
/// stays for people who pick priorities by hand). `None` when every one is taken.
pub fn allocate(uid: &str, taken: &BTreeSet<i32>) -> Option<i32> {
    const LOW: i32 = 10_000;
    const SPAN: i32 = 40_001;
    let start = (crate::model::ownership::stable_hash(uid) % SPAN as u32) as i32;
    (0..SPAN).map(|i| LOW + (start + i) % SPAN).find(|p| !taken.contains(p))
}

/// One change to AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Create {
        priority: i32,
    },
    Modify {
        arn: String,
        changes: Vec<&'static str>,
    },
    /// Moves the rule in place (SetRulePriorities), so it never disappears during a reorder.
    SetPriority {
        arn: String,
        from: i32,
        to: i32,
    },
    RestoreTags {
        arn: String,
        keys: Vec<String>,
    },
    /// A copy of the rule beyond the one in use (while converging), or the rule (deletion).
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
            Step::Create { .. } => "CreateRule",
            Step::Modify { .. } => "ModifyRule",
            Step::SetPriority { .. } => "SetRulePriorities",
            Step::RestoreTags { .. } => "AddTags",
            Step::Delete { .. } => "DeleteRule",
            Step::Untag { .. } => "RemoveTags",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create { priority } => write!(f, "create rule at priority {priority}"),
            Step::Modify { changes, .. } => write!(f, "modify rule: {}", changes.join(", ")),
            Step::SetPriority { from, to, .. } => write!(f, "move rule from priority {from} to {to}"),
            Step::RestoreTags { keys, .. } => write!(f, "restore tags {}", keys.join(", ")),
            Step::Delete { arn } => write!(f, "delete rule {arn}"),
            Step::Untag { arns } => write!(f, "remove the ownership tags of {}", arns.join(", ")),
        }
    }
}

/// Deletion: every copy of the rule, deleted or (`Retain`) untagged.
pub fn plan_cleanup(observed: &ObservedRules, policy: DeletionPolicy) -> Vec<Step> {
    let arns: Vec<String> = observed.ours.iter().map(|r| r.arn.clone()).collect();
    match policy {
        _ if arns.is_empty() => Vec::new(),
        DeletionPolicy::Delete => arns.into_iter().map(|arn| Step::Delete { arn }).collect(),
        DeletionPolicy::Retain => vec![Step::Untag { arns }],
    }
}

/// `ours` is this resource's rule (found by tag), `others` every other rule of the listener,
/// `recorded` the priority in status. Returns the steps and the priority the rule has after them.
pub fn plan(
    desired: &DesiredRule,
    tags: &TagMap,
    uid: &str,
    ours: Option<&ObservedRule>,
    others: &[ObservedRule],
    recorded: Option<i32>,
) -> Result<(Vec<Step>, i32), Blocked> {
    let taken: BTreeSet<i32> = others.iter().map(|r| r.priority).collect();
    let priority = match (desired.priority, ours, recorded) {
        (Some(p), _, _) => p,
        (None, Some(o), _) => o.priority,
        (None, None, Some(p)) if !taken.contains(&p) => p,
        _ => allocate(uid, &taken).ok_or_else(|| Blocked::Stalled {
            reason: "RuleQuotaExceeded",
            message: "no free priority on the listener".into(),
        })?,
    };
    if let Some(holder) = others.iter().find(|r| r.priority == priority) {
        let owner = holder
            .tags
            .get(crate::model::ownership::OWNER)
            .map(String::as_str)
            .unwrap_or("not managed by webstack-operator");
        return Err(Blocked::Stalled {
            reason: "PriorityConflict",
            message: format!(
                "spec.priority: {priority} is held by rule {} ({owner}); it is never taken over: choose another",
                holder.arn
            ),
        });
    }
    let mut steps = Vec::new();
    match ours {
        None => {
            if others.len() >= MAX_RULES_PER_LISTENER {
                return Err(Blocked::Stalled {
                    reason: "RuleQuotaExceeded",
                    message: format!(
                        "the listener has {} rules; an ALB listener allows {MAX_RULES_PER_LISTENER}",
                        others.len()
                    ),
                });
            }
            steps.push(Step::Create { priority });
        }
        Some(o) => {
            if o.priority != priority {
                steps.push(Step::SetPriority {
                    arn: o.arn.clone(),
                    from: o.priority,
                    to: priority,
                });
            }
            let mut changes = Vec::new();
            if o.conditions != desired.conditions {
                changes.push("conditions");
            }
            if o.action.as_ref() != Some(&desired.action) {
                changes.push("action");
            }
            if !changes.is_empty() {
                steps.push(Step::Modify {
                    arn: o.arn.clone(),
                    changes,
                });
            }
            let keys = missing_tags(tags, &o.tags);
            if !keys.is_empty() {
                steps.push(Step::RestoreTags {
                    arn: o.arn.clone(),
                    keys,
                });
            }
        }
    }
    Ok((steps, priority))
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
