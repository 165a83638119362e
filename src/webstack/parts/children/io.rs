//! The children's I/O: reads the stack's child objects (and any object with a child's name) and
//! writes or deletes one child per step.

use crate::reconcile::refs::Source;
use std::collections::BTreeSet;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::api::{ContainerService, ListenerRule, StaticSite, TargetGroup};
use crate::model::Owner;
use crate::model::children::{ChildHealth, ChildKind, ChildStep, DesiredChild, ObservedChild, ServiceFigures};
use crate::reconcile::Blocked;
use crate::reconcile::status::{Kind, KindStatus, MANAGER};
use crate::webstack::shared::{STACK_LABEL, owner_reference};

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
async fn observe_kind<K: crate::reconcile::caches::Cached>(
    kube: &Source,
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
            let spec = serde_json::to_value(&**obj)
                .ok()
                .map(|v| v["spec"].clone())
                .unwrap_or_default();
            Some(ObservedChild {
                kind,
                name,
                ours,
                spec,
                deleting: obj.meta().deletion_timestamp.is_some(),
                health: health(&**obj),
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
pub async fn observe(kube: &Source, owner: &Owner, desired: &[DesiredChild]) -> Result<Vec<ObservedChild>, Blocked> {
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

/// The child object the stack `owner` writes for `child` (`plan` plans a new child as this).
pub fn child_object(owner: &Owner, child: &DesiredChild) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "webstack.io/v1alpha1",
        "kind": child.kind.as_str(),
        "metadata": {
            "name": child.name,
            "namespace": owner.namespace,
            "labels": {STACK_LABEL: owner.name},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": child.spec,
    })
}

/// Writes a child by server-side apply (the operator's field manager, forced: a hand edit of a
/// field the stack sets is taken back). A field only someone else set, which the stack's spec
/// leaves out, survives an apply; the spec is then replaced whole.
async fn apply_as<K: Kind>(kube: &Client, owner: &Owner, child: &DesiredChild) -> Result<(), Blocked> {
    let api = Api::<K>::namespaced(kube.clone(), &owner.namespace);
    let object = child_object(owner, child);
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
