//! The ListenerRule controller: load (the stack's listener, the TargetGroups it forwards to) →
//! validate → observe (the listener's rules) → plan → apply, status, Events, drift re-check.
//! A TargetGroup or WebStack change requeues the rules that use it, through watches on the
//! controller's own cache (no polling).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use super::model::{Blocked, Step, plan, validate};
use crate::api::{DeletionPolicy, ListenerRule, ListenerRuleStatus, TargetGroup, WebStack};
use crate::aws::{elbv2, rules};
use crate::conditions::{Health, conditions, is_ready};
use crate::context::{Context, Error, error_policy};
use crate::kubeutil;
use crate::ownership::{OWNERSHIP_KEYS, Owner, UID};

pub const FINALIZER: &str = "webstack.io/finalizer";
const SHORT: Duration = Duration::from_secs(10);

fn owner(r: &ListenerRule, ctx: &Context) -> Owner {
    Owner {
        cluster_id: ctx.cluster_id.clone(),
        namespace: r.namespace().unwrap_or_default(),
        kind: "ListenerRule",
        name: r.name_any(),
        uid: r.uid().unwrap_or_default(),
    }
}

/// Runs the controller until SIGINT/SIGTERM.
pub async fn run(ctx: Arc<Context>, namespace: Option<&str>) {
    let c = ctx.client.clone();
    let (rules_api, groups, stacks): (Api<ListenerRule>, Api<TargetGroup>, Api<WebStack>) = match namespace {
        Some(ns) => (
            Api::namespaced(c.clone(), ns),
            Api::namespaced(c.clone(), ns),
            Api::namespaced(c, ns),
        ),
        None => (Api::all(c.clone()), Api::all(c.clone()), Api::all(c)),
    };
    let controller = Controller::new(rules_api, watcher::Config::default());
    let (by_group, by_stack) = (controller.store(), controller.store());
    controller
        // A TargetGroup that becomes Ready or changes ARN requeues the rules forwarding to it.
        .watches(groups, watcher::Config::default(), move |tg: TargetGroup| {
            let (ns, name) = (tg.namespace(), tg.name_any());
            by_group
                .state()
                .into_iter()
                .filter(|r| r.namespace() == ns)
                .filter(|r| {
                    r.spec
                        .action
                        .forward
                        .iter()
                        .flat_map(|f| &f.target_groups)
                        .any(|t| t.name == name)
                })
                .map(|r| ObjectRef::from_obj(&*r))
                .collect::<Vec<_>>()
        })
        // A stack whose listeners change requeues its rules.
        .watches(stacks, watcher::Config::default(), move |ws: WebStack| {
            let (ns, name) = (ws.namespace(), ws.name_any());
            by_stack
                .state()
                .into_iter()
                .filter(|r| r.namespace() == ns && r.spec.stack_ref.name == name)
                .map(|r| ObjectRef::from_obj(&*r))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %crate::manager::report(&err), "listener rule reconcile failed");
            }
        })
        .await;
}

async fn reconcile(r: Arc<ListenerRule>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<ListenerRule> = Api::namespaced(ctx.client.clone(), &r.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, r, |event| async {
        match event {
            FinalizerEvent::Apply(r) => reconcile_apply(&r, &ctx).await,
            FinalizerEvent::Cleanup(r) => reconcile_cleanup(&r, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn write_status(
    r: &ListenerRule,
    ctx: &Context,
    mut st: ListenerRuleStatus,
    health: Health,
) -> Result<(), Error> {
    let previous = r.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    st.observed_generation = r.metadata.generation;
    st.conditions = conditions(&previous, &health, r.metadata.generation, &kubeutil::now());
    kubeutil::apply_status(&ctx.client, r, &st).await.map_err(Error::Kube)
}

/// The stack and the ARN of the rule's listener, or why not.
async fn listener(r: &ListenerRule, ctx: &Context) -> Result<Result<(WebStack, String), Health>, Error> {
    let stacks: Api<WebStack> = Api::namespaced(ctx.client.clone(), &r.namespace().unwrap_or_default());
    let stack = &r.spec.stack_ref.name;
    let Some(ws) = stacks.get_opt(stack).await.map_err(Error::Kube)? else {
        let message = format!("spec.stackRef: WebStack {stack} does not exist");
        return Ok(Err(Health::Progressing {
            reason: "DependencyNotReady",
            message,
        }));
    };
    let wanted = &r.spec.route.listener;
    let names: Vec<&str> = ws
        .spec
        .load_balancer
        .iter()
        .flat_map(|lb| &lb.listeners)
        .map(|l| l.name.as_str())
        .collect();
    if !names.contains(&wanted.as_str()) {
        let message = format!(
            "spec.listener: WebStack {stack} has no listener named {wanted} (it has: {})",
            names.join(", ")
        );
        return Ok(Err(Health::Stalled {
            reason: "InvalidSpec",
            message,
        }));
    }
    let arn = ws
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.listeners.get(wanted))
        .cloned();
    match arn {
        Some(arn) => Ok(Ok((ws, arn))),
        None => Ok(Err(Health::Progressing {
            reason: "DependencyNotReady",
            message: format!("waiting for listener {wanted} of WebStack {stack}"),
        })),
    }
}

async fn reconcile_apply(r: &ListenerRule, ctx: &Context) -> Result<Action, Error> {
    let previous = r.status.clone().unwrap_or_default();
    let (ws, listener_arn) = match listener(r, ctx).await? {
        Ok(found) => found,
        Err(health) => {
            let stalled = matches!(health, Health::Stalled { .. });
            write_status(r, ctx, previous, health).await?;
            return Ok(Action::requeue(if stalled {
                ctx.resync
            } else {
                Duration::from_secs(15)
            }));
        }
    };
    let (ready, existing) = crate::targetgroup::in_namespace(&ctx.client, &r.namespace().unwrap_or_default())
        .await
        .map_err(Error::Kube)?;
    let desired = match validate(&r.spec, &ready, &existing) {
        Ok(d) => d,
        Err(blocked) => return report_blocked(r, ctx, previous, blocked).await,
    };
    let owner = owner(r, ctx);
    let mut user_tags = ws.spec.tags.clone();
    user_tags.extend(r.spec.tags.clone());
    let tags = owner.tags(&user_tags, "listener-rule", &owner.aws_name("wlr", 200));
    let (clients, _) = ctx.region(&ws).await.map_err(Error::Aws)?;
    let all = match rules::describe(&clients.elbv2, &listener_arn).await {
        Ok(all) => all,
        Err(e) => {
            write_status(r, ctx, previous, Health::from_aws(&e)).await?;
            return Ok(Action::requeue(SHORT));
        }
    };
    let (ours, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|o| o.tags.get(UID) == Some(&owner.uid));
    let (steps, priority) = match plan(&desired, &tags, &owner.uid, ours.first(), &others, previous.priority) {
        Ok(planned) => planned,
        Err(blocked) => return report_blocked(r, ctx, previous, blocked).await,
    };
    let drift = is_ready(&previous.conditions) && previous.observed_generation == r.metadata.generation;
    let mut arn = ours.first().map(|o| o.arn.clone());
    for step in &steps {
        let done = match step {
            Step::Create { priority } => rules::create(
                &clients.elbv2,
                &listener_arn,
                *priority,
                &desired.conditions,
                &desired.action,
                &tags,
            )
            .await
            .map(|a| arn = Some(a)),
            Step::Modify { arn, .. } => rules::modify(&clients.elbv2, arn, &desired.conditions, &desired.action).await,
            Step::SetPriority { arn, to, .. } => rules::set_priority(&clients.elbv2, arn, *to).await,
            Step::RestoreTags { arn, keys } => {
                let missing = tags
                    .iter()
                    .filter(|(k, _)| keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                elbv2::add_tags(&clients.elbv2, arn, &missing).await
            }
        };
        if let Err(e) = done {
            // Another rule took the priority first (two allocations at once): plan again soon.
            let requeue = if e.code == "PriorityInUse" {
                Duration::from_secs(1)
            } else {
                SHORT
            };
            write_status(r, ctx, previous, Health::from_aws(&e)).await?;
            return Ok(Action::requeue(requeue));
        }
        let reason = if drift { "DriftCorrected" } else { "Provisioning" };
        kubeutil::publish(
            &ctx.recorder,
            r,
            EventType::Normal,
            reason,
            step.action(),
            &step.to_string(),
        )
        .await;
    }
    let status = ListenerRuleStatus {
        arn,
        priority: Some(priority),
        ..ListenerRuleStatus::default()
    };
    write_status(
        r,
        ctx,
        status,
        Health::Ready {
            message: format!("rule at priority {priority}"),
        },
    )
    .await?;
    Ok(Action::requeue(if steps.is_empty() { ctx.resync } else { SHORT }))
}

async fn report_blocked(
    r: &ListenerRule,
    ctx: &Context,
    previous: ListenerRuleStatus,
    b: Blocked,
) -> Result<Action, Error> {
    let (health, requeue) = match b {
        Blocked::Stalled { reason, message } => {
            kubeutil::publish(&ctx.recorder, r, EventType::Warning, reason, "Validate", &message).await;
            (
                Health::Stalled {
                    reason,
                    message: format!("{message}; nothing was changed in AWS"),
                },
                ctx.resync,
            )
        }
        Blocked::Waiting { message } => (
            Health::Progressing {
                reason: "DependencyNotReady",
                message,
            },
            Duration::from_secs(15),
        ),
    };
    write_status(r, ctx, previous, health).await?;
    Ok(Action::requeue(requeue))
}

async fn reconcile_cleanup(r: &ListenerRule, ctx: &Context) -> Result<Action, Error> {
    // Without its stack or listener there is no rule left to remove.
    let Ok((ws, listener_arn)) = listener(r, ctx).await? else {
        return Ok(Action::await_change());
    };
    let (clients, _) = ctx.region(&ws).await.map_err(Error::Aws)?;
    let uid = r.uid().unwrap_or_default();
    let ours: Vec<_> = rules::describe(&clients.elbv2, &listener_arn)
        .await
        .map_err(Error::Aws)?
        .into_iter()
        .filter(|o| o.tags.get(UID) == Some(&uid))
        .collect();
    for rule in ours {
        if r.spec.deletion_policy == DeletionPolicy::Retain {
            elbv2::untag(&clients.elbv2, std::slice::from_ref(&rule.arn), &OWNERSHIP_KEYS)
                .await
                .map_err(Error::Aws)?;
        } else {
            rules::delete(&clients.elbv2, &rule.arn).await.map_err(Error::Aws)?;
            kubeutil::publish(&ctx.recorder, r, EventType::Normal, "Deleting", "DeleteRule", &rule.arn).await;
        }
    }
    Ok(Action::await_change())
}
