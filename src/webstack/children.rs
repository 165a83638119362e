//! A stack's inline `services` and `staticSite` expanded into owned child objects: a TargetGroup
//! `<stack>-<service>`, a ListenerRule `<stack>-<service>-<index>` per route (forwarding to that
//! group), a ContainerService `<stack>-<service>` (attached to that group by default) and a
//! StaticSite `<stack>`. [`expand`] is pure and validates the inline paths first; [`observe`]
//! reads the namespace; [`apply`] writes a child by server-side apply, with an ownerReference to
//! the stack (`controller`, `blockOwnerDeletion`) and the label `webstack.io/stack`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::api::{
    Action, ContainerService, ContainerServiceSpec, ForwardAction, ListenerRule, ListenerRuleSpec,
    LoadBalancerAttachment, LocalRef, StackRef, StaticSite, StaticSiteSpec, TargetGroup, TargetGroupSpec, WebStackSpec,
    WeightedTargetGroup,
};
use crate::model::children::{ChildHealth, ChildKind, ChildStep, DesiredChild, ObservedChild, ServiceFigures};
use crate::model::{InvalidSpec, Owner, invalid};
use crate::reconcile::Blocked;
use crate::reconcile::status::{Kind, KindStatus, MANAGER};

/// The label every child (and connection Secret) carries: the stack's name.
pub const STACK_LABEL: &str = "webstack.io/stack";

/// The longest child name: a DNS label, so that it is also a valid label value and fits the
/// names derived from it.
pub const MAX_CHILD_NAME: usize = 63;

/// The ownerReference that makes an object the stack's: garbage-collected with it, and deleted
/// first when the stack is deleted in the foreground.
pub fn owner_reference(owner: &Owner) -> OwnerReference {
    OwnerReference {
        api_version: "webstack.io/v1alpha1".into(),
        kind: "WebStack".into(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

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

/// How a child is doing, from its status as of its current generation.
fn health<K: Kind>(obj: &K) -> ChildHealth {
    let Some(status) = obj.status() else {
        return ChildHealth {
            ready: false,
            message: "not reconciled yet".into(),
        };
    };
    if status.observed_generation() != obj.meta().generation {
        return ChildHealth {
            ready: false,
            message: "its latest spec is not reconciled yet".into(),
        };
    }
    match status.conditions().iter().find(|c| c.type_ == "Ready") {
        Some(c) => ChildHealth {
            ready: c.status == "True",
            message: c.message.clone(),
        },
        None => ChildHealth {
            ready: false,
            message: "no Ready condition yet".into(),
        },
    }
}

/// The objects of kind `K` that are the stack's, or have the name of one of its children.
async fn observe_kind<K: Kind>(
    kube: &Client,
    owner: &Owner,
    kind: ChildKind,
    wanted: &BTreeSet<&str>,
    figures: fn(&K) -> Option<ServiceFigures>,
) -> Result<Vec<ObservedChild>, kube::Error> {
    let all = crate::reconcile::refs::list::<K>(kube, &owner.namespace).await?;
    Ok(all
        .iter()
        .filter_map(|obj| {
            let ours = obj
                .owner_references()
                .iter()
                .any(|r| r.uid == owner.uid && r.controller == Some(true));
            let name = obj.name_any();
            if !ours && !wanted.contains(name.as_str()) {
                return None;
            }
            let spec = serde_json::to_value(obj)
                .ok()
                .map(|v| v["spec"].clone())
                .unwrap_or_default();
            Some(ObservedChild {
                kind,
                name,
                ours,
                spec,
                deleting: obj.meta().deletion_timestamp.is_some(),
                health: health(obj),
                figures: figures(obj),
            })
        })
        .collect())
}

fn service_figures(s: &ContainerService) -> Option<ServiceFigures> {
    let st = s.status.as_ref()?;
    Some(ServiceFigures {
        running: st.running_count,
        desired: st.desired_count,
        revision: st
            .task_definition_arn
            .as_deref()
            .and_then(|arn| arn.rsplit(':').next()?.parse().ok()),
    })
}

/// The stack's children and the objects that hold their names, of every child kind.
pub async fn observe(kube: &Client, owner: &Owner, desired: &[DesiredChild]) -> Result<Vec<ObservedChild>, Blocked> {
    let wanted = |kind: ChildKind| -> BTreeSet<&str> {
        desired
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.name.as_str())
            .collect()
    };
    let mut found = observe_kind::<TargetGroup>(
        kube,
        owner,
        ChildKind::TargetGroup,
        &wanted(ChildKind::TargetGroup),
        |_| None,
    )
    .await?;
    found.extend(
        observe_kind::<ListenerRule>(
            kube,
            owner,
            ChildKind::ListenerRule,
            &wanted(ChildKind::ListenerRule),
            |_| None,
        )
        .await?,
    );
    found.extend(
        observe_kind::<ContainerService>(
            kube,
            owner,
            ChildKind::ContainerService,
            &wanted(ChildKind::ContainerService),
            service_figures,
        )
        .await?,
    );
    found.extend(
        observe_kind::<StaticSite>(
            kube,
            owner,
            ChildKind::StaticSite,
            &wanted(ChildKind::StaticSite),
            |_| None,
        )
        .await?,
    );
    Ok(found)
}

/// Writes a child by server-side apply (the operator's field manager, forced: a hand edit of a
/// field the stack sets is taken back). A field only someone else set, which the stack's spec
/// leaves out, survives an apply; the spec is then replaced whole.
async fn apply_as<K: Kind>(kube: &Client, owner: &Owner, child: &DesiredChild) -> Result<(), Blocked> {
    let api = Api::<K>::namespaced(kube.clone(), &owner.namespace);
    let object = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {
            "name": child.name,
            "namespace": owner.namespace,
            "labels": {STACK_LABEL: owner.name},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": child.spec,
    });
    let applied = api
        .patch(
            &child.name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await?;
    let mut value = serde_json::to_value(&applied).map_err(|e| Blocked::waiting(e.to_string()))?;
    if value["spec"] != child.spec {
        value["spec"] = child.spec.clone();
        let replaced: K = serde_json::from_value(value).map_err(|e| Blocked::waiting(e.to_string()))?;
        let params = PostParams {
            field_manager: Some(MANAGER.into()),
            ..PostParams::default()
        };
        api.replace(&child.name, &params, &replaced).await?;
    }
    Ok(())
}

async fn delete_as<K: Kind>(kube: &Client, ns: &str, name: &str) -> Result<(), Blocked> {
    match Api::<K>::namespaced(kube.clone(), ns)
        .delete(name, &DeleteParams::background())
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other.map(drop).map_err(Blocked::from),
    }
}

/// Runs one child step.
pub async fn apply(kube: &Client, owner: &Owner, desired: &[DesiredChild], step: &ChildStep) -> Result<(), Blocked> {
    match step {
        ChildStep::Apply { kind, name, .. } => {
            let Some(child) = desired.iter().find(|d| d.kind == *kind && d.name == *name) else {
                return Err(Blocked::waiting(format!("{kind} {name} is no longer in the spec")));
            };
            match kind {
                ChildKind::TargetGroup => apply_as::<TargetGroup>(kube, owner, child).await,
                ChildKind::ListenerRule => apply_as::<ListenerRule>(kube, owner, child).await,
                ChildKind::ContainerService => apply_as::<ContainerService>(kube, owner, child).await,
                ChildKind::StaticSite => apply_as::<StaticSite>(kube, owner, child).await,
            }
        }
        ChildStep::Delete { kind, name } => {
            let ns = &owner.namespace;
            match kind {
                ChildKind::TargetGroup => delete_as::<TargetGroup>(kube, ns, name).await,
                ChildKind::ListenerRule => delete_as::<ListenerRule>(kube, ns, name).await,
                ChildKind::ContainerService => delete_as::<ContainerService>(kube, ns, name).await,
                ChildKind::StaticSite => delete_as::<StaticSite>(kube, ns, name).await,
            }
        }
    }
}

#[cfg(test)]
#[path = "children_tests.rs"]
mod tests;
