//! The ContainerService controller: load (the stack's cluster, subnets and services group; the
//! TargetGroup) → render and check the task definition → observe (log group, service, the running
//! revision) → plan → apply, status (counts and the primary deployment's rollout), Events, drift
//! re-check. Deletion scales to zero, deletes the service, deregisters the revisions and deletes the
//! log group (`Retain` keeps them). Autoscaling: a scalable target and target-tracking policies,
//! removed first on deletion; while it is on, the desired count is the scaler's.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use super::scaling::{Step as ScalingStep, plan as scaling_plan};
use super::service::{DesiredService, Step, plan};
use super::taskdef::{LogTarget, TaskDef, render};
use crate::api::{
    ContainerService, ContainerServiceStatus, DeletionPolicy, LaunchType, NetworkMode, RolloutStatus, SubnetKind,
    TargetGroup, WebStack,
};
use crate::aws::{AwsError, Clients, ecs, ecs_service, logs, scaling};
use crate::conditions::{Health, conditions, is_ready};
use crate::context::{Context, Error, error_policy};
use crate::kubeutil;
use crate::ownership::{OWNERSHIP_KEYS, Owner};

pub const FINALIZER: &str = "webstack.io/finalizer";
const SHORT: Duration = Duration::from_secs(10);
/// Revisions kept registered per service.
const KEEP_REVISIONS: usize = 5;

fn owner(s: &ContainerService, ctx: &Context) -> Owner {
    Owner {
        cluster_id: ctx.cluster_id.clone(),
        namespace: s.namespace().unwrap_or_default(),
        kind: "ContainerService",
        name: s.name_any(),
        uid: s.uid().unwrap_or_default(),
    }
}

pub async fn run(ctx: Arc<Context>, namespace: Option<&str>) {
    let c = ctx.client.clone();
    let (services, groups, stacks): (Api<ContainerService>, Api<TargetGroup>, Api<WebStack>) = match namespace {
        Some(ns) => (
            Api::namespaced(c.clone(), ns),
            Api::namespaced(c.clone(), ns),
            Api::namespaced(c, ns),
        ),
        None => (Api::all(c.clone()), Api::all(c.clone()), Api::all(c)),
    };
    let controller = Controller::new(services, watcher::Config::default());
    let (by_group, by_stack) = (controller.store(), controller.store());
    controller
        .watches(groups, watcher::Config::default(), move |tg: TargetGroup| {
            let (ns, name) = (tg.namespace(), tg.name_any());
            by_group
                .state()
                .into_iter()
                .filter(|s| s.namespace() == ns)
                .filter(|s| {
                    let lb = s.spec.settings.load_balancer.as_ref();
                    lb.and_then(|l| l.target_group_ref.as_ref())
                        .is_some_and(|r| r.name == name)
                })
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .watches(stacks, watcher::Config::default(), move |ws: WebStack| {
            let (ns, name) = (ws.namespace(), ws.name_any());
            by_stack
                .state()
                .into_iter()
                .filter(|s| s.namespace() == ns && s.spec.stack_ref.name == name)
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %crate::manager::report(&err), "container service reconcile failed");
            }
        })
        .await;
}

async fn reconcile(s: Arc<ContainerService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<ContainerService> = Api::namespaced(ctx.client.clone(), &s.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, s, |event| async {
        match event {
            FinalizerEvent::Apply(s) => reconcile_apply(&s, &ctx).await,
            FinalizerEvent::Cleanup(s) => reconcile_cleanup(&s, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn write_status(
    s: &ContainerService,
    ctx: &Context,
    mut st: ContainerServiceStatus,
    health: Health,
) -> Result<(), Error> {
    let previous = s.status.as_ref().map(|x| x.conditions.clone()).unwrap_or_default();
    st.observed_generation = s.metadata.generation;
    st.conditions = conditions(&previous, &health, s.metadata.generation, &kubeutil::now());
    kubeutil::apply_status(&ctx.client, s, &st).await.map_err(Error::Kube)
}

/// Names derived from the owner: service, task family, log group.
fn names(owner: &Owner) -> (String, String) {
    let name = owner.aws_name("wcs", 200);
    (name.clone(), format!("/webstack/{name}"))
}

/// What the stack and the target group give; `Err` says what is missing.
async fn load(s: &ContainerService, ctx: &Context) -> Result<Result<(WebStack, Option<String>), String>, Error> {
    let ns = s.namespace().unwrap_or_default();
    let stack = &s.spec.stack_ref.name;
    let ws = Api::<WebStack>::namespaced(ctx.client.clone(), &ns)
        .get_opt(stack)
        .await
        .map_err(Error::Kube)?;
    let Some(ws) = ws.filter(|w| w.status.as_ref().is_some_and(|st| st.cluster_arn.is_some())) else {
        return Ok(Err(format!("waiting for WebStack {stack} to have its cluster")));
    };
    let Some(tg_ref) = s
        .spec
        .settings
        .load_balancer
        .as_ref()
        .and_then(|l| l.target_group_ref.as_ref())
    else {
        return Ok(Ok((ws, None)));
    };
    let tg = Api::<TargetGroup>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&tg_ref.name)
        .await
        .map_err(Error::Kube)?;
    match tg.and_then(|t| t.status.filter(|st| is_ready(&st.conditions)).and_then(|st| st.arn)) {
        Some(arn) => Ok(Ok((ws, Some(arn)))),
        None => Ok(Err(format!(
            "spec.loadBalancer.targetGroupRef: waiting for TargetGroup {} to be Ready",
            tg_ref.name
        ))),
    }
}

fn desired_service(
    s: &ContainerService,
    ws: &WebStack,
    tg: Option<String>,
    task: &TaskDef,
    name: &str,
) -> DesiredService {
    let st = ws.status.clone().unwrap_or_default();
    let spec = &s.spec.settings;
    let network = (spec.network_mode == NetworkMode::Awsvpc).then(|| {
        let subnets = if spec.subnets == SubnetKind::Public {
            st.public_subnet_ids.clone()
        } else {
            st.private_subnet_ids.clone()
        };
        let groups = st
            .security_groups
            .as_ref()
            .and_then(|g| g.services.clone())
            .into_iter()
            .collect();
        (subnets, groups, spec.assign_public_ip)
    });
    let load_balancer = tg.map(|arn| {
        let lb = spec.load_balancer.as_ref();
        let container = lb
            .and_then(|l| l.container_name.clone())
            .unwrap_or_else(|| task.containers[0].name.clone());
        let port = lb.and_then(|l| l.container_port).unwrap_or_else(|| {
            let c = task.containers.iter().find(|c| c.name == container);
            c.and_then(|c| c.port_mappings.first()).map(|p| p.0).unwrap_or_default()
        });
        (arn, container, port)
    });
    let d = &spec.deployment;
    DesiredService {
        name: name.into(),
        cluster: st.cluster_arn.unwrap_or_default(),
        launch_type: if spec.launch_type == LaunchType::Fargate {
            "FARGATE"
        } else {
            "EC2"
        }
        .into(),
        desired_count: spec.desired_count,
        autoscaled: spec.autoscaling.is_some(),
        network,
        load_balancer,
        deployment: (
            d.maximum_percent,
            d.minimum_healthy_percent,
            d.circuit_breaker.enabled,
            d.circuit_breaker.rollback,
        ),
        health_check_grace_seconds: Some(d.health_check_grace_period_seconds),
    }
}

async fn reconcile_apply(s: &ContainerService, ctx: &Context) -> Result<Action, Error> {
    let previous = s.status.clone().unwrap_or_default();
    let (ws, tg) = match load(s, ctx).await? {
        Ok(found) => found,
        Err(message) => {
            write_status(
                s,
                ctx,
                previous,
                Health::Progressing {
                    reason: "DependencyNotReady",
                    message,
                },
            )
            .await?;
            return Ok(Action::requeue(Duration::from_secs(15)));
        }
    };
    let owner = owner(s, ctx);
    let (name, log_group) = names(&owner);
    let (clients, _) = ctx.region(&ws).await.map_err(Error::Aws)?;
    let region = clients.ecs.config().region().map(|r| r.to_string()).unwrap_or_default();
    let task = match render(
        &s.spec.settings,
        &name,
        &LogTarget {
            group: &log_group,
            region: &region,
        },
    ) {
        Ok(t) => t,
        Err(invalid) => {
            let message = format!("{invalid}; nothing was changed in AWS");
            kubeutil::publish(
                &ctx.recorder,
                s,
                EventType::Warning,
                "InvalidSpec",
                "Validate",
                &message,
            )
            .await;
            write_status(
                s,
                ctx,
                previous,
                Health::Stalled {
                    reason: "InvalidSpec",
                    message,
                },
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    let desired = desired_service(s, &ws, tg, &task, &name);
    let mut user = ws.spec.tags.clone();
    user.extend(s.spec.tags.clone());
    let tags = owner.tags(&user, "service", &name);
    match converge(s, ctx, &clients, &desired, &task, &log_group, &tags).await {
        Ok(action) => Ok(action),
        Err(e) => {
            write_status(s, ctx, previous, Health::from_aws(&e)).await?;
            Ok(Action::requeue(SHORT))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn converge(
    s: &ContainerService,
    ctx: &Context,
    clients: &Clients,
    desired: &DesiredService,
    task: &TaskDef,
    log_group: &str,
    tags: &crate::aws::TagMap,
) -> Result<Action, AwsError> {
    let retention = s.spec.settings.logs.retention_days;
    let log = logs::retention(&clients.logs, log_group).await?;
    let service = ecs_service::describe(&clients.ecs, &desired.cluster, &desired.name).await?;
    // The revision to compare with: the service's, else the family's latest (a crash after
    // registering and before creating the service must not register another).
    let current_arn = match service.as_ref().filter(|x| x.active) {
        Some(x) => Some(x.task_definition.clone()),
        None => ecs_service::revisions(&clients.ecs, &task.family).await?.pop(),
    };
    // Revisions are immutable: when status says that at this generation the service already runs
    // the revision rendered from it, that revision is `task` and need not be read again (this keeps
    // a steady-state reconcile at 4 reads).
    let recorded = s
        .status
        .as_ref()
        .filter(|st| st.observed_generation == s.metadata.generation && is_ready(&st.conditions))
        .and_then(|st| st.task_definition_arn.as_deref());
    let running = match &current_arn {
        Some(arn) if Some(arn.as_str()) == recorded => Some(task.clone()),
        Some(arn) => Some(ecs::describe_task_definition(&clients.ecs, arn).await?),
        None => None,
    };
    let steps = plan(desired, task, retention, log, service.as_ref(), running.as_ref());
    let drift = is_ready(&s.status.as_ref().map(|x| x.conditions.clone()).unwrap_or_default())
        && s.status.as_ref().and_then(|x| x.observed_generation) == s.metadata.generation;
    let mut task_arn = current_arn.clone().unwrap_or_default();
    for step in &steps {
        match step {
            Step::CreateLogGroup => logs::create(&clients.logs, log_group, tags).await?,
            Step::SetLogRetention { days } => logs::set_retention(&clients.logs, log_group, *days).await?,
            Step::RegisterTaskDefinition => task_arn = ecs::register_task_definition(&clients.ecs, task, tags).await?,
            Step::CreateService => {
                let token: String = s
                    .uid()
                    .unwrap_or_default()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(32)
                    .collect();
                ecs_service::create(&clients.ecs, desired, &task_arn, &token, tags).await?;
            }
            Step::UpdateService { .. } => ecs_service::update(&clients.ecs, desired, &task_arn).await?,
        }
        let reason = if drift { "DriftCorrected" } else { "Provisioning" };
        kubeutil::publish(
            &ctx.recorder,
            s,
            EventType::Normal,
            reason,
            step.action(),
            &step.to_string(),
        )
        .await;
    }
    if steps.contains(&Step::RegisterTaskDefinition) {
        prune_revisions(ctx, s, clients, &task.family, &task_arn).await?;
    }
    // Autoscaling, once the service exists.
    let resource = scaling::resource_id(&desired.cluster, &desired.name);
    let scaled = scaling::observe(&clients.scaling, &resource).await?;
    let scaling_steps = scaling_plan(s.spec.settings.autoscaling.as_ref(), &scaled);
    for step in &scaling_steps {
        match step {
            ScalingStep::RegisterTarget { min, max } => {
                scaling::register_target(&clients.scaling, &resource, *min, *max).await?
            }
            ScalingStep::PutPolicy(p) => scaling::put_policy(&clients.scaling, &resource, p).await?,
            ScalingStep::DeletePolicy { metric } => scaling::delete_policy(&clients.scaling, &resource, metric).await?,
            ScalingStep::DeregisterTarget => scaling::deregister_target(&clients.scaling, &resource).await?,
        }
        let reason = if drift { "DriftCorrected" } else { "Provisioning" };
        kubeutil::publish(
            &ctx.recorder,
            s,
            EventType::Normal,
            reason,
            step.action(),
            &step.to_string(),
        )
        .await;
    }
    let service = if steps.is_empty() {
        service
    } else {
        ecs_service::describe(&clients.ecs, &desired.cluster, &desired.name).await?
    };
    let Some(service) = service else {
        return Ok(Action::requeue(SHORT));
    };
    let (state, reason) = service.rollout.clone().unwrap_or_default();
    let status = ContainerServiceStatus {
        service_arn: Some(service.arn.clone()),
        task_definition_arn: Some(service.task_definition.clone()),
        desired_count: Some(service.desired_count),
        running_count: Some(service.running_count),
        rollout: Some(RolloutStatus {
            state: Some(state.clone()).filter(|x| !x.is_empty()),
            reason: Some(reason.clone()).filter(|x| !x.is_empty()),
        }),
        ..ContainerServiceStatus::default()
    };
    let health = rollout_health(&state, &reason, service.running_count, service.desired_count);
    let requeue = if matches!(health, Health::Ready { .. }) {
        ctx.resync
    } else {
        SHORT
    };
    let write = write_status(s, ctx, status, health).await;
    if let Err(e) = write {
        tracing::warn!(error = %crate::manager::report(&e), "status write failed");
    }
    Ok(Action::requeue(requeue))
}

/// Ready only when the primary deployment's rollout is COMPLETED and every desired task runs; a
/// FAILED rollout needs a person (a bad image, a crashing container): ECS's reason is the message.
fn rollout_health(state: &str, reason: &str, running: i32, desired: i32) -> Health {
    match state {
        "FAILED" => Health::Stalled {
            reason: "RolloutFailed",
            message: reason.to_string(),
        },
        "COMPLETED" if running == desired => Health::Ready {
            message: format!("{running} of {desired} tasks running"),
        },
        _ => Health::Progressing {
            reason: "Provisioning",
            message: format!("rollout {state}: {running} of {desired} tasks running"),
        },
    }
}

/// Keeps the last [`KEEP_REVISIONS`] revisions of the family (never the one in use).
async fn prune_revisions(
    ctx: &Context,
    s: &ContainerService,
    clients: &Clients,
    family: &str,
    in_use: &str,
) -> Result<(), AwsError> {
    let all = ecs_service::revisions(&clients.ecs, family).await?;
    let excess = all.len().saturating_sub(KEEP_REVISIONS);
    for arn in all.iter().take(excess).filter(|a| a.as_str() != in_use) {
        ecs_service::deregister(&clients.ecs, arn).await?;
        kubeutil::publish(
            &ctx.recorder,
            s,
            EventType::Normal,
            "Provisioning",
            "DeregisterTaskDefinition",
            arn,
        )
        .await;
    }
    Ok(())
}

async fn reconcile_cleanup(s: &ContainerService, ctx: &Context) -> Result<Action, Error> {
    let ns = s.namespace().unwrap_or_default();
    let ws = Api::<WebStack>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&s.spec.stack_ref.name)
        .await
        .map_err(Error::Kube)?;
    let (Some(ws), Some(cluster)) = (ws.clone(), ws.and_then(|w| w.status).and_then(|st| st.cluster_arn)) else {
        return Ok(Action::await_change());
    };
    let (clients, _) = ctx.region(&ws).await.map_err(Error::Aws)?;
    let (name, log_group) = names(&owner(s, ctx));
    if s.spec.deletion_policy == DeletionPolicy::Retain {
        // Keep everything; the service stops being ours.
        if let Some(service) = ecs_service::describe(&clients.ecs, &cluster, &name)
            .await
            .map_err(Error::Aws)?
        {
            let keys = OWNERSHIP_KEYS;
            ecs::untag(&clients.ecs, &service.arn, &keys)
                .await
                .map_err(Error::Aws)?;
        }
        return Ok(Action::await_change());
    }
    // Scaling first, so the scaler does not fight the scale-down.
    let resource = scaling::resource_id(&cluster, &name);
    let scaled = scaling::observe(&clients.scaling, &resource)
        .await
        .map_err(Error::Aws)?;
    for p in &scaled.policies {
        scaling::delete_policy(&clients.scaling, &resource, &p.metric)
            .await
            .map_err(Error::Aws)?;
    }
    if scaled.target.is_some() {
        scaling::deregister_target(&clients.scaling, &resource)
            .await
            .map_err(Error::Aws)?;
    }
    ecs_service::delete(&clients.ecs, &cluster, &name)
        .await
        .map_err(Error::Aws)?;
    for arn in ecs_service::revisions(&clients.ecs, &name).await.map_err(Error::Aws)? {
        ecs_service::deregister(&clients.ecs, &arn).await.map_err(Error::Aws)?;
    }
    logs::delete(&clients.logs, &log_group).await.map_err(Error::Aws)?;
    kubeutil::publish(&ctx.recorder, s, EventType::Normal, "Deleting", "DeleteService", &name).await;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_decides_readiness() {
        let cases = [
            ("COMPLETED", 2, 2, "Ready"),
            ("COMPLETED", 1, 2, "Progressing"),
            ("IN_PROGRESS", 2, 2, "Progressing"),
            ("", 0, 2, "Progressing"),
            ("FAILED", 0, 2, "Stalled"),
        ];
        for (state, running, desired, want) in cases {
            let got = match rollout_health(state, "tasks failed to start", running, desired) {
                Health::Ready { .. } => "Ready",
                Health::Progressing { .. } => "Progressing",
                Health::Stalled { reason, message, .. } => {
                    assert_eq!((reason, message.as_str()), ("RolloutFailed", "tasks failed to start"));
                    "Stalled"
                }
                Health::Paused { .. } => "Paused",
            };
            assert_eq!(got, want, "{state} {running}/{desired}");
        }
    }
}
