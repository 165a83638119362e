//! The TargetGroup controller: load (its stack's VPC) → validate → observe → plan → apply, status,
//! Events, drift re-check; deletion waits while a ListenerRule, ContainerService or the stack's
//! listener default action still forwards to it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use super::model::{ObservedTargetGroup, Step, plan, validate};
use crate::api::{ContainerService, DeletionPolicy, ListenerRule, TargetGroup, TargetGroupStatus, WebStack};
use crate::aws::{AwsError, Clients, elbv2, target_groups};
use crate::conditions::{Health, conditions};
use crate::context::{Context, Error, error_policy};
use crate::kubeutil;
use crate::ownership::{OWNERSHIP_KEYS, Owner, Ownership};

pub const FINALIZER: &str = "webstack.io/finalizer";
const SHORT: Duration = Duration::from_secs(10);

fn owner(tg: &TargetGroup, ctx: &Context) -> Owner {
    Owner {
        cluster_id: ctx.cluster_id.clone(),
        namespace: tg.namespace().unwrap_or_default(),
        kind: "TargetGroup",
        name: tg.name_any(),
        uid: tg.uid().unwrap_or_default(),
    }
}

/// Runs the controller until SIGINT/SIGTERM.
pub async fn run(ctx: Arc<Context>, namespace: Option<&str>) {
    let (groups, stacks): (Api<TargetGroup>, Api<WebStack>) = match namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let controller = Controller::new(groups, watcher::Config::default());
    let store = controller.store();
    controller
        // A stack whose VPC appears or changes requeues its target groups.
        .watches(stacks, watcher::Config::default(), move |ws: WebStack| {
            let ns = ws.namespace();
            store
                .state()
                .into_iter()
                .filter(|tg| tg.spec.stack_ref.name == ws.name_any() && tg.namespace() == ns)
                .map(|tg| ObjectRef::from_obj(&*tg))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %crate::manager::report(&err), "target group reconcile failed");
            }
        })
        .await;
}

async fn reconcile(tg: Arc<TargetGroup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<TargetGroup> = Api::namespaced(ctx.client.clone(), &tg.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, tg, |event| async {
        match event {
            FinalizerEvent::Apply(tg) => reconcile_apply(&tg, &ctx).await,
            FinalizerEvent::Cleanup(tg) => reconcile_cleanup(&tg, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn write_status(tg: &TargetGroup, ctx: &Context, mut st: TargetGroupStatus, health: Health) -> Result<(), Error> {
    let previous = tg.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    st.observed_generation = tg.metadata.generation;
    st.conditions = conditions(&previous, &health, tg.metadata.generation, &kubeutil::now());
    kubeutil::apply_status(&ctx.client, tg, &st).await.map_err(Error::Kube)
}

/// The stack, if it has a VPC yet.
async fn stack(tg: &TargetGroup, ctx: &Context) -> Result<Option<WebStack>, Error> {
    let api: Api<WebStack> = Api::namespaced(ctx.client.clone(), &tg.namespace().unwrap_or_default());
    let ws = api.get_opt(&tg.spec.stack_ref.name).await.map_err(Error::Kube)?;
    Ok(ws.filter(|ws| ws.status.as_ref().is_some_and(|s| s.vpc_id.is_some())))
}

/// The group with the desired name plus the replaced ones recorded in status (those that exist).
async fn observe(
    clients: &Clients,
    name: &str,
    previous: &TargetGroupStatus,
) -> Result<(Option<ObservedTargetGroup>, Vec<ObservedTargetGroup>), AwsError> {
    let current = target_groups::find_by_name(&clients.elbv2, name).await?;
    let mut replaced = Vec::new();
    let candidates = previous.arn.iter().chain(&previous.replaced_arns);
    for arn in candidates {
        if current.as_ref().is_some_and(|c| &c.arn == arn)
            || replaced.iter().any(|r: &ObservedTargetGroup| &r.arn == arn)
        {
            continue;
        }
        if let Some(old) = target_groups::find_by_arn(&clients.elbv2, arn).await? {
            replaced.push(old);
        }
    }
    Ok((current, replaced))
}

async fn reconcile_apply(tg: &TargetGroup, ctx: &Context) -> Result<Action, Error> {
    let previous = tg.status.clone().unwrap_or_default();
    let Some(ws) = stack(tg, ctx).await? else {
        let message = format!("waiting for WebStack {} to have a VPC", tg.spec.stack_ref.name);
        write_status(
            tg,
            ctx,
            previous,
            Health::Progressing {
                reason: "DependencyNotReady",
                message,
            },
        )
        .await?;
        return Ok(Action::requeue(Duration::from_secs(15)));
    };
    let vpc = ws.status.as_ref().and_then(|s| s.vpc_id.clone()).unwrap_or_default();
    let owner = owner(tg, ctx);
    let desired = validate(&tg.spec, &owner, &vpc, &ws.spec.tags);
    let (clients, _) = ctx.region(&ws).await.map_err(Error::Aws)?;
    let (current, replaced) = match observe(&clients, &desired.name, &previous).await {
        Ok(found) => found,
        Err(e) => {
            write_status(tg, ctx, previous, Health::from_aws(&e)).await?;
            return Ok(Action::requeue(SHORT));
        }
    };
    let conflict = current.as_ref().and_then(|c| match owner.ownership(&c.tags) {
        Ownership::Ours => None,
        Ownership::Foreign { tag, value } => Some(format!("target group {} is tagged {tag}={value}", c.arn)),
        Ownership::Unmanaged => Some(format!("target group {} is not managed by webstack-operator", c.arn)),
    });
    if let Some(detail) = conflict {
        let message = format!("{detail}: it belongs to someone else and is never touched");
        write_status(
            tg,
            ctx,
            previous,
            Health::Stalled {
                reason: "OwnershipConflict",
                message,
            },
        )
        .await?;
        return Ok(Action::requeue(ctx.resync));
    }
    let steps = plan(&desired, current.as_ref(), &replaced);
    let drift =
        crate::conditions::is_ready(&previous.conditions) && previous.observed_generation == tg.metadata.generation;
    let mut arn = current.as_ref().map(|c| c.arn.clone());
    let mut draining = Vec::new();
    for step in &steps {
        let done = match step {
            Step::Create => target_groups::create(&clients.elbv2, &desired)
                .await
                .map(|a| arn = Some(a)),
            Step::ModifyHealthCheck { .. } => {
                target_groups::modify_health(&clients.elbv2, arn.as_deref().unwrap_or_default(), &desired.health).await
            }
            Step::ModifyAttributes { changed } => {
                target_groups::set_attributes(&clients.elbv2, arn.as_deref().unwrap_or_default(), changed).await
            }
            Step::RestoreTags { arn, keys } => {
                let missing = desired
                    .tags
                    .iter()
                    .filter(|(k, _)| keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                elbv2::add_tags(&clients.elbv2, arn, &missing).await
            }
            Step::Delete { arn } => match target_groups::delete(&clients.elbv2, arn).await {
                // Still forwarded to: kept until the rules and services using it follow the new group.
                Err(e) if e.code == "ResourceInUse" => {
                    draining.push(arn.clone());
                    continue;
                }
                other => other,
            },
        };
        if let Err(e) = done {
            write_status(tg, ctx, previous, Health::from_aws(&e)).await?;
            return Ok(Action::requeue(SHORT));
        }
        let reason = if drift && !matches!(step, Step::Delete { .. }) {
            "DriftCorrected"
        } else {
            "Provisioning"
        };
        kubeutil::publish(
            &ctx.recorder,
            tg,
            EventType::Normal,
            reason,
            step.action(),
            &step.to_string(),
        )
        .await;
    }
    let status = TargetGroupStatus {
        arn: arn.clone(),
        name: Some(desired.name.clone()),
        replaced_arns: draining.clone(),
        ..TargetGroupStatus::default()
    };
    let health = if draining.is_empty() {
        Health::Ready {
            message: "AWS matches the spec".into(),
        }
    } else {
        Health::Ready {
            message: format!(
                "replaced group(s) kept until nothing forwards to them: {}",
                draining.join(", ")
            ),
        }
    };
    let requeue = if steps.is_empty() { ctx.resync } else { SHORT };
    write_status(tg, ctx, status, health).await?;
    Ok(Action::requeue(requeue))
}

/// What in Kubernetes still forwards to this target group.
async fn users(tg: &TargetGroup, ctx: &Context) -> Result<Vec<String>, Error> {
    let ns = tg.namespace().unwrap_or_default();
    let name = tg.name_any();
    let lp = ListParams::default();
    let mut found = Vec::new();
    for r in Api::<ListenerRule>::namespaced(ctx.client.clone(), &ns)
        .list(&lp)
        .await
        .map_err(Error::Kube)?
    {
        if r.spec
            .action
            .forward
            .iter()
            .flat_map(|f| &f.target_groups)
            .any(|t| t.name == name)
        {
            found.push(format!("ListenerRule/{}", r.name_any()));
        }
    }
    for s in Api::<ContainerService>::namespaced(ctx.client.clone(), &ns)
        .list(&lp)
        .await
        .map_err(Error::Kube)?
    {
        let attached = s
            .spec
            .settings
            .load_balancer
            .as_ref()
            .and_then(|l| l.target_group_ref.as_ref());
        if attached.is_some_and(|r| r.name == name) {
            found.push(format!("ContainerService/{}", s.name_any()));
        }
    }
    for ws in Api::<WebStack>::namespaced(ctx.client.clone(), &ns)
        .list(&lp)
        .await
        .map_err(Error::Kube)?
    {
        if ws.metadata.deletion_timestamp.is_none()
            && crate::webstack::desired::referenced_target_groups(&ws.spec).contains(&name)
        {
            found.push(format!("WebStack/{} (listener default action)", ws.name_any()));
        }
    }
    Ok(found)
}

async fn reconcile_cleanup(tg: &TargetGroup, ctx: &Context) -> Result<Action, Error> {
    let previous = tg.status.clone().unwrap_or_default();
    let users = users(tg, ctx).await?;
    if !users.is_empty() {
        let message = format!("waiting: still forwarded to by {}", users.join(", "));
        write_status(
            tg,
            ctx,
            previous,
            Health::Progressing {
                reason: "Deleting",
                message: message.clone(),
            },
        )
        .await?;
        return Err(Error::Waiting(message));
    }
    let api: Api<WebStack> = Api::namespaced(ctx.client.clone(), &tg.namespace().unwrap_or_default());
    let Some(ws) = api.get_opt(&tg.spec.stack_ref.name).await.map_err(Error::Kube)? else {
        // Without its stack the region is the operator's; find the groups there.
        return delete_recorded(tg, ctx, None, &previous).await;
    };
    delete_recorded(tg, ctx, Some(&ws), &previous).await
}

async fn delete_recorded(
    tg: &TargetGroup,
    ctx: &Context,
    ws: Option<&WebStack>,
    st: &TargetGroupStatus,
) -> Result<Action, Error> {
    let clients = match ws {
        Some(ws) => ctx.region(ws).await.map_err(Error::Aws)?.0,
        None => Clients::new(&ctx.sdk),
    };
    let name = st.name.clone().unwrap_or_default();
    let (current, replaced) = observe(&clients, &name, st).await.map_err(Error::Aws)?;
    let owner = owner(tg, ctx);
    for group in current
        .iter()
        .chain(&replaced)
        .filter(|g| owner.ownership(&g.tags) == Ownership::Ours)
    {
        if tg.spec.deletion_policy == DeletionPolicy::Retain {
            elbv2::untag(&clients.elbv2, std::slice::from_ref(&group.arn), &OWNERSHIP_KEYS)
                .await
                .map_err(Error::Aws)?;
        } else {
            target_groups::delete(&clients.elbv2, &group.arn)
                .await
                .map_err(|e| Error::Waiting(e.to_string()))?;
            kubeutil::publish(
                &ctx.recorder,
                tg,
                EventType::Normal,
                "Deleting",
                "DeleteTargetGroup",
                &group.arn,
            )
            .await;
        }
    }
    Ok(Action::await_change())
}
