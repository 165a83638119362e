//! A stack's inline `services` and `staticSite` expanded into owned child objects: a TargetGroup
//! `<stack>-<service>`, a ListenerRule `<stack>-<service>-<index>` per route (forwarding to that
//! group), a ContainerService `<stack>-<service>` (attached to that group by default) and a
//! StaticSite `<stack>`. [`expand`] is pure and validates the inline paths first; [`io::observe`]
//! reads the namespace; [`io::apply`] writes a child by server-side apply, with an ownerReference to
//! the stack (`controller`, `blockOwnerDeletion`) and the label `webstack.io/stack`.

pub mod io;

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{
    Action, ContainerServiceSpec, ForwardAction, ListenerRuleSpec, LoadBalancerAttachment, LocalRef, StackRef,
    StaticSiteSpec, TargetGroupSpec, WebStackSpec, WeightedTargetGroup,
};
use crate::model::children::{ChildKind, ChildStep, DesiredChild};
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::model::{InvalidSpec, invalid};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, ObserveCx, Part};

/// The longest child name: a DNS label, so that it is also a valid label value and fits the
/// names derived from it.
pub const MAX_CHILD_NAME: usize = 63;

fn child(
    kind: ChildKind,
    name: String,
    path: String,
    service: Option<&str>,
    spec: impl serde::Serialize,
) -> DesiredChild {
    DesiredChild {
        kind,
        name,
        path,
        service: service.map(String::from),
        spec: serde_json::to_value(spec).unwrap_or_default(),
    }
}

/// The children a stack's spec asks for, in spec order; each problem is an [`InvalidSpec`] naming
/// the inline path, and then no child is written at all.
pub fn expand(stack: &str, spec: &WebStackSpec) -> Result<Vec<DesiredChild>, InvalidSpec> {
    let listeners: Vec<&str> = spec
        .load_balancer
        .iter()
        .flat_map(|lb| &lb.listeners)
        .map(|l| l.name.as_str())
        .collect();
    let stack_ref = StackRef { name: stack.into() };
    let (policy, tags) = (spec.deletion_policy, BTreeMap::new());
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, svc) in spec.services.iter().enumerate() {
        let path = format!("spec.services[{i}]");
        if !names.insert(svc.name.as_str()) {
            return Err(invalid(
                format!("{path}.name"),
                format!("service {} is listed twice", svc.name),
            ));
        }
        let base = format!("{stack}-{}", svc.name);
        let longest = match svc.routes.len() {
            0 => base.clone(),
            n => format!("{base}-{}", n - 1),
        };
        if longest.len() > MAX_CHILD_NAME {
            return Err(invalid(
                format!("{path}.name"),
                format!(
                    "the child name {longest} would be {} characters; <stack>-<service>-<route index> must fit \
                     in {MAX_CHILD_NAME}: shorten the stack or the service name",
                    longest.len()
                ),
            ));
        }
        if svc.target_group.is_none() && !svc.routes.is_empty() {
            return Err(invalid(
                format!("{path}.routes"),
                "routes forward to the service's target group: set targetGroup",
            ));
        }
        for (j, r) in svc.routes.iter().enumerate() {
            if !listeners.contains(&r.listener.as_str()) {
                let have = if listeners.is_empty() {
                    "none".to_string()
                } else {
                    listeners.join(", ")
                };
                return Err(invalid(
                    format!("{path}.routes[{j}].listener"),
                    format!("the stack has no listener named {} (it has: {have})", r.listener),
                ));
            }
        }
        let service = Some(svc.name.as_str());
        if let Some(settings) = &svc.target_group {
            let spec = TargetGroupSpec {
                stack_ref: stack_ref.clone(),
                deletion_policy: policy,
                tags: tags.clone(),
                settings: settings.clone(),
            };
            out.push(child(ChildKind::TargetGroup, base.clone(), path.clone(), service, spec));
        }
        for (j, route) in svc.routes.iter().enumerate() {
            let spec = ListenerRuleSpec {
                stack_ref: stack_ref.clone(),
                deletion_policy: policy,
                tags: tags.clone(),
                route: route.clone(),
                action: Action {
                    forward: Some(ForwardAction {
                        target_groups: vec![WeightedTargetGroup {
                            name: base.clone(),
                            weight: None,
                        }],
                    }),
                    ..Action::default()
                },
            };
            let name = format!("{base}-{j}");
            out.push(child(
                ChildKind::ListenerRule,
                name,
                format!("{path}.routes[{j}]"),
                service,
                spec,
            ));
        }
        if let Some(container) = &svc.container {
            let mut settings = container.clone();
            if svc.target_group.is_some() {
                attach(&mut settings, &base, &path)?;
            }
            let spec = ContainerServiceSpec {
                stack_ref: stack_ref.clone(),
                deletion_policy: policy,
                tags: tags.clone(),
                settings,
            };
            let path = format!("{path}.container");
            out.push(child(ChildKind::ContainerService, base.clone(), path, service, spec));
        }
    }
    if let Some(settings) = &spec.static_site {
        let spec = StaticSiteSpec {
            stack_ref: Some(stack_ref),
            deletion_policy: policy,
            tags,
            settings: settings.clone(),
        };
        out.push(child(
            ChildKind::StaticSite,
            stack.into(),
            "spec.staticSite".into(),
            None,
            spec,
        ));
    }
    Ok(out)
}

/// An inline service's containers attach to its own target group unless they name another; the
/// container is the first with a port mapping (in spec order) and the port its first.
fn attach(settings: &mut crate::api::ContainerServiceSettings, group: &str, path: &str) -> Result<(), InvalidSpec> {
    let first = settings.containers.iter().find(|c| !c.port_mappings.is_empty());
    let default = first.map(|c| (c.name.clone(), c.port_mappings[0].container_port));
    let lb = settings.load_balancer.get_or_insert(LoadBalancerAttachment {
        target_group_ref: None,
        container_name: None,
        container_port: None,
    });
    if lb.target_group_ref.is_none() {
        lb.target_group_ref = Some(LocalRef { name: group.into() });
    }
    if lb.container_name.is_none() {
        let Some((name, port)) = default else {
            return Err(invalid(
                format!("{path}.container.loadBalancer"),
                "the service has a target group but no container with a port mapping to receive its traffic",
            ));
        };
        lb.container_name = Some(name);
        lb.container_port = lb.container_port.or(Some(port));
    }
    Ok(())
}

/// The children part.
pub struct Children;

impl crate::reconcile::Step for ChildStep {
    fn action(&self) -> &'static str {
        match self {
            ChildStep::Apply { .. } => "ApplyChild",
            ChildStep::Delete { .. } => "DeleteChild",
        }
    }

    fn op(&self) -> crate::model::change::Op {
        use crate::model::change::Op;
        match self {
            ChildStep::Apply { create: true, .. } => Op::Create,
            ChildStep::Apply { create: false, .. } => Op::Update,
            ChildStep::Delete { .. } => Op::Delete,
        }
    }
}

impl Part for Children {
    type Step = ChildStep;

    /// Before the data tier: services start while RDS creates the database.
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<ChildStep> {
        crate::model::children::plan(&desired.children, &observed.children)
    }

    /// Its own children are deleted first (their finalizers delete their AWS resources): the
    /// garbage collector would only get to them once the stack is gone, which waits for them.
    fn release(observed: &ObservedStack) -> Vec<ChildStep> {
        crate::model::children::prune(&[], &observed.children)
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        let wanted = cx.desired.map(|d| d.children.as_slice()).unwrap_or_default();
        observed.children = io::observe(cx.source, cx.owner, wanted).await?;
        Ok(())
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &ChildStep) -> Result<(), ApplyError> {
        let children = cx.desired.map(|d| d.children.as_slice()).unwrap_or_default();
        Ok(io::apply(cx.kube, cx.owner, children, step).await?)
    }
}

#[cfg(test)]
mod tests;
