//! The WebStack controller: kube-runtime `Controller` + finalizer around the load → validate →
//! observe → plan → apply steps, status written by server-side apply, an Event for every AWS
//! mutation, a periodic drift re-check, and `webstack.io/paused` (observe and report only).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};

use super::apply::{ApplyError, apply};
use super::desired::{DesiredStack, check_adopted, check_external_load_balancer, referenced_target_groups, validate};
use super::observe::{ObserveError, StackKey, observe};
use super::observed::ObservedStack;
use super::plan::{Step, plan, plan_delete};
use super::status::status;
use crate::api::{ContainerService, ListenerRule, StaticSite, TargetGroup, WebStack, WebStackStatus};
use crate::aws::{AwsError, Clients, RetryClass, ec2, ecs, elbv2};
use crate::conditions::{Health, conditions, is_ready};
use crate::context::{Context, Error, error_policy};
use crate::kubeutil;
use crate::ownership::{OWNERSHIP_KEYS, Owner};

/// The finalizer that holds a WebStack until its AWS resources are gone.
pub const FINALIZER: &str = "webstack.io/finalizer";
/// Observe and report only.
pub const PAUSED: &str = "webstack.io/paused";
/// Adopt this existing load balancer (by ARN) instead of creating one.
pub const EXTERNAL_ID: &str = "webstack.io/external-id";
const SHORT: Duration = Duration::from_secs(10);

fn owner(ws: &WebStack, ctx: &Context) -> Owner {
    Owner {
        cluster_id: ctx.cluster_id.clone(),
        namespace: ws.namespace().unwrap_or_default(),
        kind: "WebStack",
        name: ws.name_any(),
        uid: ws.uid().unwrap_or_default(),
    }
}

/// Runs the controller until SIGINT/SIGTERM. `namespace` limits it to one namespace.
pub async fn run(ctx: Arc<Context>, namespace: Option<&str>) {
    let (stacks, groups): (Api<WebStack>, Api<TargetGroup>) = match namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    Controller::new(stacks, watcher::Config::default())
        // A TargetGroup that becomes ready (or changes ARN) requeues the stack that uses it.
        .watches(groups, watcher::Config::default(), |tg: TargetGroup| {
            Some(ObjectRef::<WebStack>::new(&tg.spec.stack_ref.name).within(&tg.namespace()?))
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %crate::manager::report(&err), "reconcile failed");
            }
        })
        .await;
}

async fn reconcile(ws: Arc<WebStack>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<WebStack> = Api::namespaced(ctx.client.clone(), &ws.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, ws, |event| async {
        match event {
            FinalizerEvent::Apply(ws) => reconcile_apply(&ws, &ctx).await,
            FinalizerEvent::Cleanup(ws) => reconcile_cleanup(&ws, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Health for an AWS error: the message names the code, the request id and what to do.
fn aws_health(e: &AwsError) -> (Health, Duration) {
    let requeue = match e.class {
        RetryClass::Transient => SHORT,
        RetryClass::Throttled => Duration::from_secs(30),
        RetryClass::AccessDenied | RetryClass::Terminal => Duration::from_secs(300),
    };
    (Health::from_aws(e), requeue)
}

async fn reconcile_apply(ws: &WebStack, ctx: &Context) -> Result<Action, Error> {
    let previous = ws.status.clone().unwrap_or_default();
    let ns = ws.namespace().unwrap_or_default();

    // load: the TargetGroups that listener default actions forward to.
    let wanted = referenced_target_groups(&ws.spec);
    let target_groups = ready_target_groups(ctx, &ns, &wanted).await?;
    // TargetGroups not Ready yet leave their listeners pending (see DesiredListener::pending)
    // rather than blocking the stack: a TargetGroup needs the stack's VPC first.

    let (clients, zones) = match ctx.region(ws).await {
        Ok(found) => found,
        Err(e) => return report_aws(ws, ctx, previous, &e).await,
    };
    // validate
    let desired = match validate(&ws.spec, owner(ws, ctx), &zones, &target_groups) {
        Ok(d) => d,
        Err(invalid) => {
            stall_invalid(ws, ctx, previous, &invalid).await?;
            return Ok(Action::await_change());
        }
    };
    // observe + plan (subnets by the VPC in status, so stripped tags are found and restored)
    let external = ws.annotations().get(EXTERNAL_ID).cloned();
    let key = StackKey {
        known_vpc: previous.vpc_id.clone(),
        external_load_balancer: external.clone(),
        ..desired.key()
    };
    let observed = match observe(&clients, &key).await {
        Ok(o) => o,
        Err(e) => return report_observe(ws, ctx, previous, e).await,
    };
    let checked = check_adopted(&desired, &observed).and_then(|()| match external {
        Some(_) => check_external_load_balancer(&desired, &observed),
        None => Ok(()),
    });
    if let Err(invalid) = checked {
        stall_invalid(ws, ctx, previous, &invalid).await?;
        return Ok(Action::requeue(ctx.resync));
    }
    let steps = plan(&desired, &observed);
    let fields = status(&desired, &observed);

    if ws.annotations().get(PAUSED).map(String::as_str) == Some("true") {
        let in_sync = steps.is_empty();
        let message = if in_sync {
            "paused: AWS matches the spec".to_string()
        } else {
            format!("paused: {} change(s) not applied: {}", steps.len(), describe(&steps))
        };
        write_status(ws, ctx, fields, Health::Paused { in_sync, message }).await?;
        return Ok(Action::requeue(ctx.resync));
    }
    if steps.is_empty() {
        let (health, requeue) = settled(&desired, &observed, ctx.resync);
        write_status(ws, ctx, fields, health).await?;
        return Ok(Action::requeue(requeue));
    }

    // apply: no spec change since the last Ready means what differs was changed behind our back.
    let drift = is_ready(&previous.conditions) && previous.observed_generation == ws.metadata.generation;
    let reason = if drift { "DriftCorrected" } else { "Provisioning" };
    let adopting = external.is_some()
        && observed
            .load_balancer
            .as_ref()
            .is_some_and(|lb| !lb.tags.contains_key(crate::ownership::MANAGED_BY));
    let mut done = Vec::new();
    let result = apply(&clients, Some(&desired), &observed, &steps, |s| done.push(s.clone())).await;
    for step in &done {
        let reason = match step {
            Step::RestoreTags { component, .. } if adopting && component == "load-balancer" => "Adopted",
            _ => reason,
        };
        publish(ctx, ws, EventType::Normal, reason, step.action(), &step.to_string()).await;
    }
    if let Err(e) = result {
        return match e {
            ApplyError::Aws(e) => report_aws(ws, ctx, fields, &e).await,
            other => {
                let message = other.to_string();
                write_status(
                    ws,
                    ctx,
                    fields,
                    Health::Progressing {
                        reason: "Provisioning",
                        message,
                    },
                )
                .await?;
                Ok(Action::requeue(SHORT))
            }
        };
    }
    let observed = match observe(&clients, &key).await {
        Ok(o) => o,
        Err(e) => return report_observe(ws, ctx, fields, e).await,
    };
    let remaining = plan(&desired, &observed);
    let fields = status(&desired, &observed);
    if remaining.is_empty() {
        let (health, requeue) = settled(&desired, &observed, ctx.resync);
        write_status(ws, ctx, fields, health).await?;
        Ok(Action::requeue(requeue))
    } else {
        let message = format!("converging: {}", describe(&remaining));
        write_status(
            ws,
            ctx,
            fields,
            Health::Progressing {
                reason: "Provisioning",
                message,
            },
        )
        .await?;
        Ok(Action::requeue(SHORT))
    }
}

async fn reconcile_cleanup(ws: &WebStack, ctx: &Context) -> Result<Action, Error> {
    let previous = ws.status.clone().unwrap_or_default();
    let ns = ws.namespace().unwrap_or_default();
    let children = children(ctx, &ns, &ws.name_any()).await?;
    if !children.is_empty() {
        let message = format!("waiting for {} to be deleted first", children.join(", "));
        write_status(
            ws,
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
    let (clients, _) = ctx.region(ws).await.map_err(Error::Aws)?;
    let key = StackKey {
        known_vpc: previous.vpc_id.clone(),
        external_load_balancer: ws.annotations().get(EXTERNAL_ID).cloned(),
        ..StackKey::new(&ws.spec, owner(ws, ctx))
    };
    let observed = match observe(&clients, &key).await {
        Ok(o) => o,
        Err(ObserveError::Aws(e)) => return Err(Error::Aws(e)),
        Err(conflict) => {
            let message =
                format!("{conflict}; deletion stops here: remove the finalizer {FINALIZER} by hand once resolved");
            write_status(
                ws,
                ctx,
                previous,
                Health::Stalled {
                    reason: "OwnershipConflict",
                    message: message.clone(),
                },
            )
            .await?;
            return Err(Error::Waiting(message));
        }
    };
    if ws.spec.deletion_policy == crate::api::DeletionPolicy::Retain {
        untag(&clients, &observed).await.map_err(Error::Aws)?;
        publish(
            ctx,
            ws,
            EventType::Normal,
            "Deleting",
            "RemoveTags",
            "deletionPolicy Retain: AWS resources kept, ownership tags removed",
        )
        .await;
        return Ok(Action::await_change());
    }
    let steps = plan_delete(&observed);
    let mut done = Vec::new();
    let result = apply(&clients, None, &observed, &steps, |s| done.push(s.clone())).await;
    for step in &done {
        publish(ctx, ws, EventType::Normal, "Deleting", step.action(), &step.to_string()).await;
    }
    if let Err(e) = result {
        let message = format!("deleting: {e}");
        write_status(
            ws,
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
    let left = plan_delete(
        &observe(&clients, &key)
            .await
            .map_err(|e| Error::Waiting(e.to_string()))?,
    );
    if left.is_empty() {
        Ok(Action::await_change())
    } else {
        Err(Error::Waiting(format!("still deleting: {}", describe(&left))))
    }
}

/// Health once nothing is left to change: Ready, unless a listener waits for a TargetGroup, or the
/// load balancer is still provisioning (an ALB takes minutes) or has failed.
fn settled(desired: &DesiredStack, observed: &ObservedStack, resync: Duration) -> (Health, Duration) {
    let pending = desired.pending();
    if !pending.is_empty() {
        let message = format!(
            "waiting for TargetGroup {} to be Ready (its listener is not created yet)",
            pending.join(", ")
        );
        return (
            Health::Progressing {
                reason: "DependencyNotReady",
                message,
            },
            Duration::from_secs(15),
        );
    }
    match observed.load_balancer.as_ref().map(|lb| lb.state.as_str()) {
        None | Some("active") => (
            Health::Ready {
                message: "AWS matches the spec".into(),
            },
            resync,
        ),
        Some("failed") => (
            Health::Stalled {
                reason: "AwsError",
                message: "the load balancer is in state failed".into(),
            },
            resync,
        ),
        Some(state) => (
            Health::Progressing {
                reason: "Provisioning",
                message: format!("the load balancer is {state}"),
            },
            Duration::from_secs(15),
        ),
    }
}

/// Removes the ownership tags from everything observed (`deletionPolicy: Retain`).
async fn untag(clients: &Clients, o: &ObservedStack) -> Result<(), AwsError> {
    let keys = OWNERSHIP_KEYS;
    let mut ids: Vec<String> = o
        .subnets
        .iter()
        .filter(|s| s.component.is_some())
        .map(|s| s.id.clone())
        .collect();
    ids.extend(o.vpc.iter().filter(|v| v.managed).map(|v| v.id.clone()));
    ids.extend(o.internet_gateway.iter().map(|g| g.id.clone()));
    ids.extend(o.route_tables.iter().map(|t| t.id.clone()));
    ids.extend(o.security_groups.iter().map(|g| g.id.clone()));
    ec2::untag(&clients.ec2, &ids, &keys).await?;
    let mut arns: Vec<String> = o.load_balancer.iter().map(|l| l.arn.clone()).collect();
    arns.extend(o.listeners.iter().map(|l| l.arn.clone()));
    elbv2::untag(&clients.elbv2, &arns, &keys).await?;
    if let Some(c) = o.cluster.as_ref().filter(|c| c.active) {
        ecs::untag(&clients.ecs, &c.arn, &keys).await?;
    }
    Ok(())
}

fn describe(steps: &[Step]) -> String {
    steps.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A spec the operator cannot act on: Stalled/InvalidSpec naming the field, and a Warning Event.
async fn stall_invalid(
    ws: &WebStack,
    ctx: &Context,
    previous: WebStackStatus,
    invalid: &super::desired::InvalidSpec,
) -> Result<(), Error> {
    let message = format!("{invalid}; nothing was changed in AWS");
    publish(ctx, ws, EventType::Warning, "InvalidSpec", "Validate", &message).await;
    write_status(
        ws,
        ctx,
        previous,
        Health::Stalled {
            reason: "InvalidSpec",
            message,
        },
    )
    .await
}

async fn report_aws(ws: &WebStack, ctx: &Context, fields: WebStackStatus, e: &AwsError) -> Result<Action, Error> {
    let (health, requeue) = aws_health(e);
    if matches!(health, Health::Stalled { .. }) {
        publish(ctx, ws, EventType::Warning, "AwsError", e.operation, &e.to_string()).await;
    }
    write_status(ws, ctx, fields, health).await?;
    Ok(Action::requeue(requeue))
}

async fn report_observe(
    ws: &WebStack,
    ctx: &Context,
    fields: WebStackStatus,
    e: ObserveError,
) -> Result<Action, Error> {
    match e {
        ObserveError::Aws(e) => report_aws(ws, ctx, fields, &e).await,
        missing @ ObserveError::ExternalMissing { .. } => {
            let message = format!("{missing}; fix or remove the annotation");
            write_status(
                ws,
                ctx,
                fields,
                Health::Stalled {
                    reason: "InvalidSpec",
                    message,
                },
            )
            .await?;
            Ok(Action::requeue(ctx.resync))
        }
        conflict => {
            let message = conflict.to_string();
            publish(ctx, ws, EventType::Warning, "OwnershipConflict", "Observe", &message).await;
            write_status(
                ws,
                ctx,
                fields,
                Health::Stalled {
                    reason: "OwnershipConflict",
                    message,
                },
            )
            .await?;
            Ok(Action::requeue(ctx.resync))
        }
    }
}

/// Writes the whole status with conditions for `health`.
async fn write_status(ws: &WebStack, ctx: &Context, mut st: WebStackStatus, health: Health) -> Result<(), Error> {
    let previous = ws.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    st.observed_generation = ws.metadata.generation;
    st.conditions = conditions(&previous, &health, ws.metadata.generation, &kubeutil::now());
    kubeutil::apply_status(&ctx.client, ws, &st).await.map_err(Error::Kube)
}

async fn publish(ctx: &Context, ws: &WebStack, type_: EventType, reason: &str, action: &str, note: &str) {
    kubeutil::publish(&ctx.recorder, ws, type_, reason, action, note).await;
}

/// ARNs of the named TargetGroups that are Ready (no call when nothing is named).
async fn ready_target_groups(
    ctx: &Context,
    ns: &str,
    names: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, Error> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let (ready, _) = crate::targetgroup::in_namespace(&ctx.client, ns)
        .await
        .map_err(Error::Kube)?;
    Ok(ready.into_iter().filter(|(name, _)| names.contains(name)).collect())
}

/// Resources of the other kinds that point at this stack.
async fn children(ctx: &Context, ns: &str, stack: &str) -> Result<Vec<String>, Error> {
    let mut found = referring::<TargetGroup>(ctx, ns, |t| t.spec.stack_ref.name == stack).await?;
    found.extend(referring::<ListenerRule>(ctx, ns, |r| r.spec.stack_ref.name == stack).await?);
    found.extend(referring::<ContainerService>(ctx, ns, |c| c.spec.stack_ref.name == stack).await?);
    found.extend(
        referring::<StaticSite>(ctx, ns, |s| s.spec.stack_ref.as_ref().is_some_and(|r| r.name == stack)).await?,
    );
    Ok(found)
}

/// `<Kind>/<name>` of the objects of kind `K` in `ns` for which `refers` holds.
async fn referring<K>(ctx: &Context, ns: &str, refers: impl Fn(&K) -> bool) -> Result<Vec<String>, Error>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let list = Api::<K>::namespaced(ctx.client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(Error::Kube)?;
    Ok(list
        .items
        .iter()
        .filter(|o| refers(o))
        .map(|o| format!("{}/{}", K::kind(&()), o.name_any()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webstack::observed::ObservedLoadBalancer;

    /// A stack with nothing pending.
    fn nothing() -> DesiredStack {
        let spec: crate::api::WebStackSpec = serde_yaml::from_str("network: {cidr: 10.0.0.0/16}").unwrap();
        let owner = Owner {
            cluster_id: "c".into(),
            namespace: "n".into(),
            kind: "WebStack",
            name: "s".into(),
            uid: "u".into(),
        };
        validate(&spec, owner, &["z".into(), "y".into()], &Default::default()).unwrap()
    }

    #[test]
    fn ready_waits_for_an_active_load_balancer() {
        let with = |state: &str| ObservedStack {
            load_balancer: Some(ObservedLoadBalancer {
                arn: "arn".into(),
                dns_name: String::new(),
                internal: false,
                idle_timeout_seconds: Some(60),
                tags: Default::default(),
                vpc_id: String::new(),
                state: state.into(),
                security_groups: Vec::new(),
            }),
            ..ObservedStack::default()
        };
        let resync = Duration::from_secs(600);
        assert!(matches!(
            settled(&nothing(), &with("active"), resync).0,
            Health::Ready { .. }
        ));
        assert!(matches!(
            settled(&nothing(), &ObservedStack::default(), resync).0,
            Health::Ready { .. }
        ));
        let (health, requeue) = settled(&nothing(), &with("provisioning"), resync);
        assert_eq!(
            health,
            Health::Progressing {
                reason: "Provisioning",
                message: "the load balancer is provisioning".into()
            }
        );
        assert!(requeue < resync);
        assert!(matches!(
            settled(&nothing(), &with("failed"), resync).0,
            Health::Stalled { .. }
        ));
    }
}
