//! The load-balancer part (pure planner): the ALB (created, or adopted by
//! `webstack.io/external-id` and tagged as the stack's), its idle timeout, its security group and
//! its listeners; a scheme change replaces it. While the stack's children are deleted, its
//! listeners stop forwarding (they answer 503). Deleted after the stack's data tier and egress,
//! untagged under `Retain`. Its I/O is in [`io`].

pub mod io;

use std::fmt;

use crate::model::ownership::MANAGED_BY;
use crate::model::stack::{DesiredListener, DesiredStack, ObservedListener, ObservedStack, SgRole};
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part, missing};

/// The load-balancer part.
pub struct LoadBalancer;

/// One change to the load balancer or its listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadBalancerStep {
    /// `replacing`: the field that cannot change in place (the scheme), when it replaces one.
    CreateLoadBalancer {
        name: String,
        replacing: Option<crate::model::change::FieldChange>,
    },
    ModifyIdleTimeout {
        from: Option<i32>,
        to: i32,
    },
    CreateListener {
        name: String,
        port: i32,
    },
    ModifyListener {
        arn: String,
        name: String,
        changes: Vec<&'static str>,
    },
    /// Attach exactly the stack's load-balancer group.
    SetLoadBalancerSecurityGroups {
        arn: String,
    },
    /// Put back tags removed or changed by hand (`keys` are the tags to write).
    RestoreTags {
        component: String,
        id: String,
        keys: Vec<String>,
    },
    DeleteListener {
        arn: String,
        port: i32,
    },
    DeleteLoadBalancer {
        arn: String,
    },
    /// Tag a load balancer named by `webstack.io/external-id` as the stack's.
    AdoptLoadBalancer {
        arn: String,
    },
    /// A stack being deleted stops forwarding: the listener answers 503 and releases its target groups.
    ReleaseListener {
        arn: String,
        port: i32,
    },
    /// `deletionPolicy: Retain`: remove the ownership tags, keep the resources.
    UntagLoadBalancer {
        arns: Vec<String>,
    },
}

impl crate::reconcile::Step for LoadBalancerStep {
    fn action(&self) -> &'static str {
        match self {
            LoadBalancerStep::CreateLoadBalancer { .. } => "CreateLoadBalancer",
            LoadBalancerStep::ModifyIdleTimeout { .. } => "ModifyLoadBalancerAttributes",
            LoadBalancerStep::CreateListener { .. } => "CreateListener",
            LoadBalancerStep::ModifyListener { .. } => "ModifyListener",
            LoadBalancerStep::DeleteListener { .. } => "DeleteListener",
            LoadBalancerStep::RestoreTags { .. } => "CreateTags",
            LoadBalancerStep::SetLoadBalancerSecurityGroups { .. } => "SetSecurityGroups",
            LoadBalancerStep::DeleteLoadBalancer { .. } => "DeleteLoadBalancer",
            LoadBalancerStep::AdoptLoadBalancer { .. } => "AddTags",
            LoadBalancerStep::ReleaseListener { .. } => "ModifyListener",
            LoadBalancerStep::UntagLoadBalancer { .. } => "RemoveTags",
        }
    }

    fn reason(&self) -> Option<&'static str> {
        matches!(self, LoadBalancerStep::AdoptLoadBalancer { .. }).then_some("Adopted")
    }

    fn op(&self) -> crate::model::change::Op {
        use crate::model::change::Op;
        match self {
            LoadBalancerStep::CreateLoadBalancer { replacing: Some(_), .. } => Op::Replace,
            LoadBalancerStep::ReleaseListener { .. } => Op::Update,
            _ => Op::of_action(crate::reconcile::Step::action(self)),
        }
    }

    fn fields(&self) -> Vec<crate::model::change::FieldChange> {
        use crate::model::change::FieldChange;
        match self {
            LoadBalancerStep::CreateLoadBalancer { replacing: Some(c), .. } => vec![c.clone()],
            LoadBalancerStep::ModifyIdleTimeout { from: Some(from), to } => {
                FieldChange::of("idle timeout", from, to).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    fn destructive(&self) -> Option<String> {
        match self {
            LoadBalancerStep::DeleteLoadBalancer { .. } => {
                Some("the load balancer's DNS name goes (a new load balancer gets another one)".into())
            }
            LoadBalancerStep::CreateLoadBalancer { replacing: Some(_), .. } => {
                Some("the load balancer is replaced: its DNS name changes".into())
            }
            _ => None,
        }
    }
}

impl fmt::Display for LoadBalancerStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadBalancerStep::CreateLoadBalancer { name, replacing: None } => write!(f, "create load balancer {name}"),
            LoadBalancerStep::CreateLoadBalancer {
                name,
                replacing: Some(c),
            } => write!(
                f,
                "create load balancer {name} replacing the current one ({} cannot change in place)",
                c.field
            ),
            LoadBalancerStep::ModifyIdleTimeout { from, to } => match from {
                Some(from) => write!(f, "change idle timeout from {from}s to {to}s"),
                None => write!(f, "set idle timeout to {to}s"),
            },
            LoadBalancerStep::CreateListener { name, port } => {
                write!(f, "create listener {name} on port {port}")
            }
            LoadBalancerStep::ModifyListener { name, changes, .. } => {
                write!(f, "modify listener {name}: {}", changes.join(", "))
            }
            LoadBalancerStep::DeleteListener { port, .. } => write!(f, "delete listener on port {port}"),
            LoadBalancerStep::SetLoadBalancerSecurityGroups { .. } => {
                write!(f, "attach security group sg/load-balancer (only) to the load balancer")
            }
            LoadBalancerStep::RestoreTags { component, id, keys } => {
                write!(f, "restore tags {} on {component} ({id})", keys.join(", "))
            }
            LoadBalancerStep::DeleteLoadBalancer { arn } => write!(f, "delete load balancer {arn}"),
            LoadBalancerStep::AdoptLoadBalancer { arn } => {
                write!(f, "adopt load balancer {arn} (tag it as the stack's)")
            }
            LoadBalancerStep::ReleaseListener { port, .. } => {
                write!(
                    f,
                    "stop forwarding on the listener on port {port} (answer 503 while the stack is deleted)"
                )
            }
            LoadBalancerStep::UntagLoadBalancer { arns } => {
                write!(
                    f,
                    "remove the ownership tags of {} load balancer resource(s)",
                    arns.len()
                )
            }
        }
    }
}

impl Part for LoadBalancer {
    type Step = LoadBalancerStep;

    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<LoadBalancerStep> {
        plan(desired, observed)
    }

    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<LoadBalancerStep> {
        if how.retain {
            let mut arns: Vec<String> = observed.load_balancer.iter().map(|l| l.arn.clone()).collect();
            if arns.is_empty() {
                return Vec::new();
            }
            arns.extend(observed.listeners.iter().map(|l| l.arn.clone()));
            return vec![LoadBalancerStep::UntagLoadBalancer { arns }];
        }
        let mut steps = delete_listeners(observed);
        if let Some(lb) = &observed.load_balancer {
            steps.push(LoadBalancerStep::DeleteLoadBalancer { arn: lb.arn.clone() });
        }
        steps
    }

    /// While its children are being deleted, a stack stops forwarding to target groups from its
    /// listeners' default actions: it never waits on a reference that it holds itself.
    fn release(observed: &ObservedStack) -> Vec<LoadBalancerStep> {
        observed
            .listeners
            .iter()
            .filter(|l| l.default_action.as_ref().is_some_and(|a| a.forwards()))
            .map(|l| LoadBalancerStep::ReleaseListener {
                arn: l.arn.clone(),
                port: l.port,
            })
            .collect()
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), crate::reconcile::Blocked> {
        io::observe(cx, observed).await
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &LoadBalancerStep) -> Result<(), ApplyError> {
        io::apply(cx, step).await
    }
}

fn delete_listeners(observed: &ObservedStack) -> Vec<LoadBalancerStep> {
    observed
        .listeners
        .iter()
        .map(|l| LoadBalancerStep::DeleteListener {
            arn: l.arn.clone(),
            port: l.port,
        })
        .collect()
}

fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<LoadBalancerStep> {
    let mut steps = Vec::new();
    let Some(lb) = &desired.load_balancer else {
        if let Some(o) = &observed.load_balancer {
            steps.extend(delete_listeners(observed));
            steps.push(LoadBalancerStep::DeleteLoadBalancer { arn: o.arn.clone() });
        }
        return steps;
    };
    let existing = observed.load_balancer.as_ref().filter(|o| o.internal == lb.internal);
    let scheme = |internal: bool| if internal { "internal" } else { "internet-facing" };
    let mut replacing = None;
    if let Some(o) = observed.load_balancer.as_ref().filter(|o| o.internal != lb.internal) {
        // The scheme cannot change in place: replace the load balancer.
        steps.extend(delete_listeners(observed));
        steps.push(LoadBalancerStep::DeleteLoadBalancer { arn: o.arn.clone() });
        replacing = Some(crate::model::change::FieldChange::new(
            "scheme",
            Some(scheme(o.internal)),
            scheme(lb.internal),
        ));
    }
    let Some(o) = existing else {
        steps.push(LoadBalancerStep::CreateLoadBalancer {
            name: lb.name.clone(),
            replacing,
        });
        steps.push(LoadBalancerStep::ModifyIdleTimeout {
            from: None,
            to: lb.idle_timeout_seconds,
        });
        for l in lb.listeners.iter().filter(|l| l.pending.is_none()) {
            steps.push(LoadBalancerStep::CreateListener {
                name: l.name.clone(),
                port: l.port,
            });
        }
        return steps;
    };
    if o.tags.contains_key(MANAGED_BY) {
        let keys = missing(desired, "load-balancer", &o.tags);
        if !keys.is_empty() {
            steps.push(LoadBalancerStep::RestoreTags {
                component: "load-balancer".into(),
                id: o.arn.clone(),
                keys,
            });
        }
    } else {
        steps.push(LoadBalancerStep::AdoptLoadBalancer { arn: o.arn.clone() });
    }
    let ours = observed.group_id(SgRole::LoadBalancer);
    if ours.is_none_or(|g| o.security_groups != [g]) {
        steps.push(LoadBalancerStep::SetLoadBalancerSecurityGroups { arn: o.arn.clone() });
    }
    if o.idle_timeout_seconds != Some(lb.idle_timeout_seconds) {
        steps.push(LoadBalancerStep::ModifyIdleTimeout {
            from: o.idle_timeout_seconds,
            to: lb.idle_timeout_seconds,
        });
    }
    // Listeners are matched by port: a port is unique per load balancer.
    for l in &observed.listeners {
        if !lb.listeners.iter().any(|d| d.port == l.port) {
            steps.push(LoadBalancerStep::DeleteListener {
                arn: l.arn.clone(),
                port: l.port,
            });
        }
    }
    for d in lb.listeners.iter().filter(|d| d.pending.is_none()) {
        match observed.listeners.iter().find(|l| l.port == d.port) {
            None => steps.push(LoadBalancerStep::CreateListener {
                name: d.name.clone(),
                port: d.port,
            }),
            Some(l) => {
                let changes = listener_changes(d, l);
                if !changes.is_empty() {
                    steps.push(LoadBalancerStep::ModifyListener {
                        arn: l.arn.clone(),
                        name: d.name.clone(),
                        changes,
                    });
                }
            }
        }
    }
    steps
}

/// The fields of a listener that differ; AWS's default SSL policy counts as "unset".
pub fn listener_changes(d: &DesiredListener, o: &ObservedListener) -> Vec<&'static str> {
    let mut changes = Vec::new();
    if d.https != o.https {
        changes.push("protocol");
    }
    if d.https && d.certificate_arn != o.certificate_arn {
        changes.push("certificate");
    }
    if d.https && d.ssl_policy.is_some() && d.ssl_policy != o.ssl_policy {
        changes.push("ssl policy");
    }
    if o.default_action.as_ref() != Some(&d.default_action) {
        changes.push("default action");
    }
    changes
}
