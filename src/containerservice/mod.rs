//! The ContainerService kind: an ECS task definition and the service that runs it. Load (the
//! stack's cluster, subnets and services group; the TargetGroup) → validate (render the task
//! definition, [`taskdef`]) → observe (log group, service, running revision, scaling) → one plan
//! ([`plan`]: revision, service, scaling) → apply → status (counts and the primary deployment's
//! rollout). Deletion removes scaling, the service, its revisions and its log group.

pub mod image;
pub mod plan;
pub mod scaling;
pub mod service;
pub mod step;
pub mod taskdef;

use kube::ResourceExt;
use kube::runtime::Controller;

use self::plan::{Desired, LogGroup, Observed};
use self::step::Step;
use self::taskdef::{LogTarget, StackSecrets, load_balancer_target, render};
use crate::api::{
    ContainerService, ContainerServiceSettings, ContainerServiceStatus, DeletionPolicy, LaunchType, NetworkMode,
    RolloutStatus, SubnetKind, TargetGroup, WebStack, WebStackStatus,
};
use crate::aws::scaling as autoscaling;
use crate::aws::{AwsError, Clients, ecs, ecs_service, logs};
use crate::model::execution;
use crate::model::ownership::OWNERSHIP_KEYS;
use crate::model::service::{DesiredService, service_names};
use crate::model::{Health, Owner, TagMap};
use crate::reconcile::caches::Caches;
use crate::reconcile::guard;
use crate::reconcile::refs::{self, Child};
use crate::reconcile::spec::{self, user_tags};
use crate::reconcile::status::is_ready;
use crate::reconcile::{Blocked, Context, Done, Reconciler};

/// What a service's reconcile loads.
pub struct Deps {
    clients: Clients,
    region: String,
    /// The stack's cluster: from the stack, else (deletion) the one recorded in status.
    cluster: Option<String>,
    stack: WebStackStatus,
    stack_tags: TagMap,
    /// The ARN of the Ready TargetGroup the service is attached to.
    target_group: Option<String>,
    /// `status.taskDefinitionArn` when the object was Ready at this generation.
    recorded_task: Option<String>,
    /// `status.rollout.failedTaskDefinitionArn` (and ECS's reason) when status describes this
    /// generation: the rollout of that revision failed and the spec has not changed since.
    failed_before: Option<(String, String)>,
    /// The stack's database and cache secrets, and whether its spec has each.
    stack_secrets: StackSecrets,
    stack_has: (bool, bool),
    /// The stack's registries (spec names, URIs in status) that `registry:` images name.
    registries: image::StackRegistries,
    /// The name of the stack's own task execution role (the one `webstack-*` role a service may name).
    stack_role: Option<String>,
    /// The WebStackPolicy governing the namespace.
    policy: Option<std::sync::Arc<crate::api::WebStackPolicy>>,
}

pub struct ContainerServiceReconciler;

/// The ECS service the spec asks for, in the stack's cluster and network.
fn desired_service(
    spec: &ContainerServiceSettings,
    deps: &Deps,
    name: &str,
    lb: Option<(String, i32)>,
) -> DesiredService {
    let st = &deps.stack;
    let network = (spec.network_mode == NetworkMode::Awsvpc).then(|| {
        let subnets = match spec.subnets {
            SubnetKind::Public => st.public_subnet_ids.clone(),
            SubnetKind::Private => st.private_subnet_ids.clone(),
        };
        let groups = st.security_groups.as_ref().and_then(|g| g.services.clone());
        (subnets, groups.into_iter().collect(), spec.assign_public_ip)
    });
    let d = &spec.deployment;
    DesiredService {
        name: name.into(),
        cluster: deps.cluster.clone().unwrap_or_default(),
        launch_type: match spec.launch_type {
            LaunchType::Fargate => "FARGATE",
            LaunchType::Ec2 => "EC2",
        }
        .into(),
        capacity_provider: (spec.launch_type == LaunchType::Ec2)
            .then(|| st.capacity.as_ref()?.capacity_provider.clone())
            .flatten(),
        desired_count: spec.desired_count,
        autoscaled: spec.autoscaling.is_some(),
        network,
        load_balancer: deps
            .target_group
            .clone()
            .zip(lb)
            .map(|(tg, (container, port))| (tg, container, port)),
        deployment: (
            d.maximum_percent,
            d.minimum_healthy_percent,
            d.circuit_breaker.enabled,
            d.circuit_breaker.rollback,
        ),
        health_check_grace_seconds: Some(d.health_check_grace_period_seconds),
    }
}

/// Ready only when the primary deployment's rollout is COMPLETED and every desired task runs; a
/// FAILED rollout needs a person (a bad image, a crashing container): ECS's reason is the message.
fn rollout_health(state: &str, reason: &str, running: i32, desired: i32) -> Health {
    match state {
        "FAILED" => Health::Stalled {
            reason: "RolloutFailed",
            message: reason.to_string(),
        },
        "COMPLETED" if running == desired => Health::ready(format!("{running} of {desired} tasks running")),
        _ => Health::progressing(
            "Provisioning",
            format!("rollout {state}: {running} of {desired} tasks running"),
        ),
    }
}

/// The log group, if it exists; with `check`, only when it is ours (deletion leaves another's alone).
async fn log_group(c: &Clients, name: &str, owner: &Owner, check: bool) -> Result<Option<LogGroup>, AwsError> {
    let Some(found) = logs::find(&c.logs, name).await? else {
        return Ok(None);
    };
    if check && !owner.owns(&logs::tags(&c.logs, &found.arn).await?) {
        return Ok(None);
    }
    Ok(Some(LogGroup {
        arn: found.arn,
        retention: found.retention,
    }))
}

/// RegisterTaskDefinition takes no client token: when its answer is lost after ECS registered
/// the revision (a connection reset, a timeout) and the SDK retries, ECS registers a second one
/// and the first is known to no one. Right after a register, an active revision of the family
/// that the observe did not list (it lists them whenever a service exists; without one nothing
/// runs them), is not the one just registered, is used by no deployment and is tagged ours, is
/// such a copy (or one left by a reconcile that failed before using it): deregistered.
async fn drop_lost_copies(
    c: &Clients,
    owner: &Owner,
    family: &str,
    registered: &str,
    o: &Observed,
) -> Result<(), Blocked> {
    let deployed = o.service.iter().flat_map(|s| s.deployed.iter());
    let known: std::collections::BTreeSet<&str> = o
        .revisions
        .iter()
        .chain(o.running_arn.iter())
        .chain(deployed)
        .map(String::as_str)
        .chain([registered])
        .collect();
    for arn in ecs_service::revisions(&c.ecs, family).await? {
        if known.contains(arn.as_str()) {
            continue;
        }
        if owner.owns(&ecs_service::revision_tags(&c.ecs, &arn).await?) {
            tracing::info!(%arn, "a task definition revision nobody uses (a retried register whose answer was lost): deregistering it");
            ecs_service::deregister(&c.ecs, &arn).await?;
        }
    }
    Ok(())
}

/// Ownership of an existing log group, checked before it is changed or deleted.
async fn check_log_group(c: &Clients, name: &str, owner: &Owner) -> Result<(), Blocked> {
    if let Some(found) = logs::find(&c.logs, name).await? {
        owner.check("log group", &found.arn, &logs::tags(&c.logs, &found.arn).await?)?;
    }
    Ok(())
}

impl Reconciler for ContainerServiceReconciler {
    type K = ContainerService;
    type Deps = Deps;
    type Desired = Desired;
    type Observed = Observed;
    type Step = Step;
    const KIND: &'static str = "ContainerService";

    async fn load(ctx: &Context, s: &ContainerService, deleting: bool) -> Result<Deps, Blocked> {
        let ns = s.namespace().unwrap_or_default();
        let stack_name = &s.spec.stack_ref.name;
        let ws = refs::get::<WebStack>(&ctx.source, &ns, stack_name).await?;
        let stack_role = ws
            .as_ref()
            .map(|w| execution::role_name(&spec::owner(&**w, "WebStack", &ctx.cluster_id)));
        let policy = if deleting { None } else { ctx.policy_for(&ns)? };
        if !deleting {
            // Refused references stall the service at once, not after it waited for its stack.
            guard::service(&s.spec.settings, &ns, stack_role.as_deref(), "spec")?;
        }
        let stack = ws.as_ref().and_then(|w| w.status.clone()).unwrap_or_default();
        let status = s.status.clone().unwrap_or_default();
        let derived = ws
            .as_ref()
            .map(|w| spec::cluster_name(&w.spec, &spec::owner(&**w, "WebStack", &ctx.cluster_id)));
        // The stack's status is not trusted: its cluster is used only when it is the one the stack
        // names (whose ownership tags the WebStack's reconcile checks).
        let mut cluster = stack
            .cluster_arn
            .clone()
            .filter(|arn| arn.rsplit_once(":cluster/").map(|(_, n)| n) == derived.as_deref());
        if deleting {
            // Recorded in status, else the stack's cluster by name (a cluster cannot be deleted
            // while a service remains in it, so with no stack left there is no service either).
            cluster = cluster.or(status.cluster_arn.clone()).or(derived);
        } else if cluster.is_none() {
            return Err(Blocked::waiting(format!(
                "waiting for WebStack {stack_name} to have its cluster"
            )));
        }
        // Its subnets and services' group likewise: used only when the stack's own last
        // observation found them as the stack's (no AWS call; see reconcile::vouched).
        let settings = &s.spec.settings;
        if !deleting && settings.network_mode == NetworkMode::Awsvpc {
            let subnets = match settings.subnets {
                SubnetKind::Public => &stack.public_subnet_ids,
                SubnetKind::Private => &stack.private_subnet_ids,
            };
            let groups: Vec<String> = stack
                .security_groups
                .as_ref()
                .and_then(|g| g.services.clone())
                .into_iter()
                .collect();
            let uid = ws.as_ref().and_then(|w| w.metadata.uid.as_deref()).unwrap_or_default();
            ctx.vouched
                .check(&ns, stack_name, uid, subnets, &groups)
                .map_err(|why| Blocked::waiting(format!("waiting for WebStack {stack_name}: {why}")))?;
        }
        // EC2 services run on the stack's capacity provider once the cluster has it.
        let capacity_wanted = ws
            .as_ref()
            .is_some_and(|w| w.spec.cluster.as_ref().is_some_and(|c| c.capacity.is_some()));
        let provider = stack.capacity.as_ref().and_then(|c| c.capacity_provider.as_ref());
        if !deleting && s.spec.settings.launch_type == LaunchType::Ec2 && capacity_wanted && provider.is_none() {
            return Err(Blocked::waiting(format!(
                "waiting for WebStack {stack_name} to have its EC2 capacity provider"
            )));
        }
        let target_group = match refs::service_target_group(s) {
            Some(name) if !deleting => {
                let tg = refs::get::<TargetGroup>(&ctx.source, &ns, name).await?;
                let ready = tg.and_then(|t| t.status.clone().filter(|st| is_ready(&st.conditions)));
                let Some(arn) = ready.as_ref().and_then(|st| st.arn.clone()) else {
                    return Err(Blocked::waiting(format!(
                        "spec.loadBalancer.targetGroupRef: waiting for TargetGroup {name} to be Ready"
                    )));
                };
                // ECS refuses a target group no listener or rule forwards to.
                if ready.is_some_and(|st| st.load_balancer_arns.is_empty()) {
                    return Err(Blocked::waiting(format!(
                        "spec.loadBalancer.targetGroupRef: waiting for TargetGroup {name} to be behind a load balancer \
                         (a listener or ListenerRule forwarding to it): ECS refuses a target group without one"
                    )));
                }
                Some(arn)
            }
            _ => None,
        };
        let region = ctx
            .region(&ns, ws.as_ref().and_then(|w| w.spec.region.as_deref()))
            .await?;
        let ready_now = status.observed_generation == s.metadata.generation && is_ready(&status.conditions);
        let stack_secrets = StackSecrets {
            database: stack.database.as_ref().and_then(|d| d.secret_arn.clone()),
            cache: stack.cache.as_ref().and_then(|c| c.secret_arn.clone()),
        };
        let stack_has = ws
            .as_ref()
            .map(|w| (w.spec.database.is_some(), w.spec.cache.is_some()))
            .unwrap_or_default();
        let registries = image::StackRegistries {
            names: ws.as_ref().map(|w| w.spec.registries.clone()).unwrap_or_default(),
            uris: stack.registries.clone(),
        };
        Ok(Deps {
            policy,
            stack_role,
            stack_secrets,
            stack_has,
            registries,
            region: region.clients.region(),
            clients: region.clients,
            cluster,
            stack,
            stack_tags: ws.map(|w| w.spec.tags.clone()).unwrap_or_default(),
            target_group,
            failed_before: status
                .rollout
                .as_ref()
                .filter(|_| status.observed_generation == s.metadata.generation)
                .and_then(|r| {
                    Some((
                        r.failed_task_definition_arn.clone()?,
                        r.reason.clone().unwrap_or_default(),
                    ))
                }),
            recorded_task: status.task_definition_arn.filter(|_| ready_now),
        })
    }

    fn validate(s: &ContainerService, owner: &Owner, deps: &Deps) -> Result<Desired, Blocked> {
        let spec = &s.spec.settings;
        guard::service(spec, &owner.namespace, deps.stack_role.as_deref(), "spec")?;
        if let Some(p) = &deps.policy {
            crate::reconcile::policy::check_service(p, spec, "spec", &deps.region)?;
        }
        let (name, log_group) = service_names(owner);
        // A stack secret that exists in the spec but not yet in AWS is waited for.
        let refers = |db: bool| {
            spec.containers.iter().flat_map(|c| &c.secrets).any(|x| {
                x.from_stack
                    .as_ref()
                    .is_some_and(|f| if db { f.database.is_some() } else { f.cache.is_some() })
            })
        };
        for (db, has, arn, what) in [
            (true, deps.stack_has.0, &deps.stack_secrets.database, "database"),
            (false, deps.stack_has.1, &deps.stack_secrets.cache, "cache"),
        ] {
            if refers(db) && has && arn.is_none() {
                return Err(Blocked::waiting(format!("waiting for the stack's {what} secret")));
            }
        }
        let spec = &image::resolve(spec, &s.spec.stack_ref.name, &deps.registries)?;
        let mut task = render(
            spec,
            &name,
            &LogTarget {
                group: &log_group,
                region: &deps.region,
                stack: deps.stack_secrets.clone(),
            },
        )?;
        // Without its own executionRoleArn, the service uses the stack's task execution role
        // (AWS refuses a Fargate task definition with awslogs or secrets and no execution role).
        if task.execution_role_arn.is_none() {
            // From the stack's status, used only when it is the stack's own role by name.
            let stack_role = deps
                .stack
                .execution_role_arn
                .clone()
                .filter(|arn| Some(crate::model::tenancy::role_path_and_name(arn)) == deps.stack_role.as_deref());
            task.execution_role_arn = Some(stack_role.ok_or_else(|| {
                Blocked::waiting(format!(
                    "waiting for WebStack {} to have its task execution role",
                    s.spec.stack_ref.name
                ))
            })?);
        }
        let lb = load_balancer_target(spec)?;
        Ok(Desired {
            service: desired_service(spec, deps, &name, lb),
            task,
            log_group,
            retention_days: spec.logs.retention_days,
            autoscaling: spec.autoscaling.clone(),
            tags: owner.tags(&user_tags(&deps.stack_tags, &s.spec.tags), "service", &name),
            recorded_task: deps.recorded_task.clone(),
            failed_before: deps.failed_before.clone(),
        })
    }

    async fn observe(
        _s: &ContainerService,
        owner: &Owner,
        deps: &Deps,
        desired: Option<&Desired>,
    ) -> Result<Observed, Blocked> {
        let c = &deps.clients;
        let (name, log_name) = service_names(owner);
        let mut o = Observed {
            log_group: log_group(c, &log_name, owner, desired.is_none()).await?,
            ..Observed::default()
        };
        if let Some(cluster) = &deps.cluster {
            o.service = ecs_service::describe(&c.ecs, cluster, &name).await?;
            o.scaling = autoscaling::observe(&c.scaling, &autoscaling::resource_id(cluster, &name)).await?;
        }
        if let Some(svc) = o.active_service() {
            match desired {
                Some(_) => owner.check("ECS service", &svc.arn, &svc.tags)?,
                None if !owner.owns(&svc.tags) => o.service = None,
                None => {}
            }
        }
        let Some(d) = desired else {
            // Deletion: every revision of the family that is tagged as this resource's.
            for arn in ecs_service::revisions(&c.ecs, &name).await? {
                if owner.owns(&ecs_service::revision_tags(&c.ecs, &arn).await?) {
                    o.revisions.push(arn);
                }
            }
            return Ok(o);
        };
        o.running_arn = match o.active_service() {
            Some(svc) => Some(svc.task_definition.clone()),
            None => {
                o.revisions = ecs_service::revisions(&c.ecs, &d.task.family).await?;
                o.revisions.last().cloned()
            }
        };
        o.running = match &o.running_arn {
            Some(arn) if Some(arn) == d.recorded_task.as_ref() => Some(d.task.clone()),
            Some(arn) => Some(ecs::describe_task_definition(&c.ecs, arn).await?),
            None => None,
        };
        // A failed rollout (listed by ECS until its rollback completes, else as status recorded
        // it): that revision is read, only then, to tell whether the spec still asks for it.
        let failed = o
            .active_service()
            .and_then(|s| s.failed.clone())
            .or_else(|| d.failed_before.clone());
        if let Some((arn, reason)) = failed {
            let task = match &o.running_arn {
                Some(running) if *running == arn => o.running.clone(),
                _ => Some(ecs::describe_task_definition(&c.ecs, &arn).await?),
            };
            o.failed = task.map(|task| plan::FailedRevision { arn, task, reason });
        }
        if d.task.differs_from(o.running.as_ref()) && o.active_service().is_some() && o.failed_and_wanted(d).is_none() {
            o.revisions = ecs_service::revisions(&c.ecs, &d.task.family).await?;
        }
        Ok(o)
    }

    fn plan(d: &Desired, o: &Observed) -> Result<Vec<Step>, Blocked> {
        Ok(plan::plan(d, o))
    }

    fn plan_cleanup(_: &ContainerService, o: &Observed, policy: DeletionPolicy) -> Vec<Step> {
        plan::plan_cleanup(o, policy)
    }

    async fn apply(
        deps: &Deps,
        owner: &Owner,
        desired: Option<&Desired>,
        o: &Observed,
        steps: &[Step],
        done: Done<'_, Step>,
    ) -> Result<(), Blocked> {
        let c = &deps.clients;
        let (name, log_name) = service_names(owner);
        let cluster = deps.cluster.clone().unwrap_or_default();
        let resource = autoscaling::resource_id(&cluster, &name);
        let mut task_arn = o.running_arn.clone().unwrap_or_default();
        for step in steps {
            let need = || desired.ok_or_else(|| Blocked::waiting(format!("cannot {step} while deleting")));
            match step {
                Step::CreateLogGroup => {
                    if !logs::create(&c.logs, &log_name, &need()?.tags).await? {
                        check_log_group(c, &log_name, owner).await?;
                    }
                }
                Step::SetLogRetention { days } => {
                    check_log_group(c, &log_name, owner).await?;
                    logs::set_retention(&c.logs, &log_name, *days).await?
                }
                Step::RegisterTaskDefinition { .. } => {
                    let d = need()?;
                    task_arn = ecs::register_task_definition(&c.ecs, &d.task, &d.tags).await?;
                    drop_lost_copies(c, owner, &d.task.family, &task_arn, o).await?;
                }
                Step::CreateService => {
                    let d = need()?;
                    let token = crate::aws::token();
                    ecs_service::create(&c.ecs, &d.service, &task_arn, &token, &d.tags).await?;
                }
                Step::UpdateService { changes } => {
                    let moving = changes.contains(&service::CAPACITY_PROVIDER);
                    ecs_service::update(&c.ecs, &need()?.service, &task_arn, moving).await?
                }
                Step::DeregisterTaskDefinition { arn } => {
                    // Every revision of the family carries the uid in its name; its tags decide.
                    owner.check("task definition", arn, &ecs_service::revision_tags(&c.ecs, arn).await?)?;
                    ecs_service::deregister(&c.ecs, arn).await?
                }
                Step::RegisterScalableTarget { min, max } => {
                    autoscaling::register_target(&c.scaling, &resource, *min, *max).await?
                }
                Step::PutScalingPolicy(p) => autoscaling::put_policy(&c.scaling, &resource, p).await?,
                Step::DeleteScalingPolicy { metric } => {
                    autoscaling::delete_policy(&c.scaling, &resource, metric).await?
                }
                Step::DeregisterScalableTarget => autoscaling::deregister_target(&c.scaling, &resource).await?,
                Step::DeleteService { .. } => ecs_service::delete(&c.ecs, &cluster, &name).await?,
                Step::DeleteLogGroup => {
                    check_log_group(c, &log_name, owner).await?;
                    logs::delete(&c.logs, &log_name).await?
                }
                Step::UntagService { arn } => ecs::untag(&c.ecs, arn, &OWNERSHIP_KEYS).await?,
                Step::UntagLogGroup { arn } => logs::untag(&c.logs, arn, &OWNERSHIP_KEYS).await?,
                Step::UntagTaskDefinitions { arns } => {
                    for arn in arns {
                        ecs::untag(&c.ecs, arn, &OWNERSHIP_KEYS).await?;
                    }
                }
            }
            done(step);
        }
        Ok(())
    }

    fn status(d: &Desired, o: &Observed, _: &[Step]) -> (ContainerServiceStatus, Health) {
        let Some(service) = o.active_service() else {
            let status = ContainerServiceStatus {
                cluster_arn: Some(d.service.cluster.clone()),
                ..ContainerServiceStatus::default()
            };
            return (status, Health::progressing("Provisioning", "creating the service"));
        };
        let (state, reason) = service.rollout.clone().unwrap_or_default();
        let failed = o.failed_and_wanted(d);
        let status = ContainerServiceStatus {
            service_arn: Some(service.arn.clone()),
            task_definition_arn: Some(service.task_definition.clone()),
            desired_count: Some(service.desired_count),
            running_count: Some(service.running_count),
            rollout: Some(match failed {
                Some(f) => RolloutStatus {
                    state: Some("FAILED".into()),
                    reason: Some(f.reason.clone()).filter(|x| !x.is_empty()),
                    failed_task_definition_arn: Some(f.arn.clone()),
                },
                None => RolloutStatus {
                    state: Some(state.clone()).filter(|x| !x.is_empty()),
                    reason: Some(reason.clone()).filter(|x| !x.is_empty()),
                    failed_task_definition_arn: None,
                },
            }),
            cluster_arn: Some(d.service.cluster.clone()),
            ..ContainerServiceStatus::default()
        };
        let health = match failed {
            // Rolled back (or rolling back): the previous revision serves; a person fixes the spec.
            Some(f) if f.arn != service.task_definition => Health::Stalled {
                reason: "RolloutFailed",
                message: format!(
                    "the rollout of {} failed ({}); ECS rolled back to {}, which serves {} of {} tasks: change the spec to roll out again",
                    f.arn, f.reason, service.task_definition, service.running_count, service.desired_count
                ),
            },
            Some(f) => Health::Stalled {
                reason: "RolloutFailed",
                message: format!(
                    "the rollout of {} failed ({}); change the spec to roll out again",
                    f.arn, f.reason
                ),
            },
            None => rollout_health(&state, &reason, service.running_count, service.desired_count),
        };
        (status, health)
    }

    fn watches(c: Controller<ContainerService>, caches: &Caches) -> Controller<ContainerService> {
        // Its TargetGroup becomes Ready or changes ARN; the stack's cluster or network changes.
        let c = refs::on(c, caches, |tg: &TargetGroup, s: &ContainerService| {
            refs::service_target_group(s) == Some(&tg.name_any())
        });
        refs::on(c, caches, |ws: &WebStack, s: &ContainerService| {
            s.stack() == Some(&ws.name_any())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::spec::execution_needs;

    fn deps() -> Deps {
        Deps {
            clients: Clients::new(
                &aws_config::SdkConfig::builder()
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .build(),
            ),
            region: "us-east-1".into(),
            cluster: Some("arn:aws:ecs:us-east-1:1:cluster/c".into()),
            stack: WebStackStatus {
                execution_role_arn: Some("arn:aws:iam::123456789012:role/webstack-exec-shop".into()),
                ..WebStackStatus::default()
            },
            stack_tags: TagMap::new(),
            target_group: Some("arn:tg/web".into()),
            recorded_task: None,
            failed_before: None,
            stack_secrets: StackSecrets::default(),
            stack_has: (false, false),
            registries: image::StackRegistries::default(),
            stack_role: Some("webstack-exec-shop".into()),
            policy: None,
        }
    }

    /// Without `containerName`, the load balancer targets the first container in spec order, not
    /// the first of the canonical (sorted) task definition: `web`, not `agent`, which maps no port.
    #[test]
    fn the_default_load_balancer_container_is_the_first_in_spec_order() {
        let s: ContainerService = serde_yaml::from_str(
            "apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: web, namespace: shop, uid: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}
spec:
  stackRef: {name: shop}
  cpu: '256'
  memory: '512'
  containers:
    - {name: web, image: web:1, portMappings: [{containerPort: 8080}]}
    - {name: agent, image: agent:1}
  loadBalancer: {targetGroupRef: {name: web}}",
        )
        .unwrap();
        let owner = crate::reconcile::spec::owner(&s, "ContainerService", "test");
        let d = ContainerServiceReconciler::validate(&s, &owner, &deps()).unwrap();
        assert_eq!(
            d.task.containers[0].name, "agent",
            "the task definition is canonical (sorted)"
        );
        assert_eq!(
            d.service.load_balancer,
            Some(("arn:tg/web".to_string(), "web".to_string(), 8080))
        );
    }

    /// The stack's task execution role unless the service names its own; none yet: wait.
    #[test]
    fn the_execution_role_is_the_stacks_unless_named() {
        let yaml = "apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: web, namespace: shop, uid: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}
spec:
  stackRef: {name: shop}
  cpu: '256'
  memory: '512'
  containers:
    - name: web
      image: web:1
      secrets: [{name: KEY, valueFrom: 'arn:aws:ssm:us-east-1:1:parameter/k'}]
";
        let s: ContainerService = serde_yaml::from_str(yaml).unwrap();
        let owner = crate::reconcile::spec::owner(&s, "ContainerService", "test");
        let d = ContainerServiceReconciler::validate(&s, &owner, &deps()).unwrap();
        assert_eq!(
            d.task.execution_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/webstack-exec-shop")
        );
        let needs = execution_needs(&s, "test").unwrap();
        assert_eq!(needs.secrets, ["arn:aws:ssm:us-east-1:1:parameter/k"]);
        assert!(needs.log_group.starts_with("/webstack/wcs-shop-web-"));
        let mut without = deps();
        without.stack.execution_role_arn = None;
        let err = ContainerServiceReconciler::validate(&s, &owner, &without).unwrap_err();
        assert!(err.to_string().contains("task execution role"), "{err}");
        // A role in the stack's status that is not the stack's own (status is not trusted): waited for.
        let mut forged = deps();
        forged.stack.execution_role_arn = Some("arn:aws:iam::123456789012:role/webstack-exec-other".into());
        let err = ContainerServiceReconciler::validate(&s, &owner, &forged).unwrap_err();
        assert!(err.to_string().contains("task execution role"), "{err}");
        let own: ContainerService =
            serde_yaml::from_str(&yaml.replace("  cpu:", "  executionRoleArn: arn:aws:iam::1:role/mine\n  cpu:"))
                .unwrap();
        let d = ContainerServiceReconciler::validate(&own, &owner, &without).unwrap();
        assert_eq!(d.task.execution_role_arn.as_deref(), Some("arn:aws:iam::1:role/mine"));
        assert_eq!(
            execution_needs(&own, "test"),
            None,
            "its own role: not in the stack's policy"
        );
    }

    /// `registry:` becomes the stack's repository URI with the tag in the task definition; the
    /// role is asked for pull on the private ECR repositories `image:` names, not on others.
    #[test]
    fn registry_images_resolve_to_the_stacks_repository() {
        let yaml = "apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: web, namespace: shop, uid: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}
spec:
  stackRef: {name: shop}
  cpu: '256'
  memory: '512'
  containers:
    - {name: web, registry: posts, tag: 2.1.0}
    - {name: base, image: 210987654321.dkr.ecr.eu-west-1.amazonaws.com/base/runtime:7}
    - {name: proxy, image: nginx:1.27}
";
        let s: ContainerService = serde_yaml::from_str(yaml).unwrap();
        let owner = crate::reconcile::spec::owner(&s, "ContainerService", "test");
        let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/shop/posts";
        let mut d = deps();
        d.registries = image::StackRegistries {
            names: vec!["posts".into()],
            uris: [("posts".to_string(), uri.to_string())].into(),
        };
        let desired = ContainerServiceReconciler::validate(&s, &owner, &d).unwrap();
        let web = desired.task.containers.iter().find(|c| c.name == "web").unwrap();
        assert_eq!(web.image, format!("{uri}:2.1.0"));
        let needs = execution_needs(&s, "test").unwrap();
        assert_eq!(
            needs.ecr_repositories,
            ["arn:aws:ecr:eu-west-1:210987654321:repository/base/runtime"]
        );
        // The stack without that registry: Stalled, naming the field.
        d.registries.names.clear();
        let err = ContainerServiceReconciler::validate(&s, &owner, &d).unwrap_err();
        assert!(err.to_string().contains("spec.containers[0].registry"), "{err}");
    }

    /// A wildcard or another namespace's operator secret, and another stack's (or any operator-managed)
    /// role, are refused before any AWS call: Stalled, PolicyViolation, naming the field and the rule;
    /// the stack's task execution role is never granted a refused secret.
    #[test]
    fn references_outside_the_namespace_are_refused() {
        let yaml = "apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: web, namespace: shop, uid: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}
spec:
  stackRef: {name: shop}
  cpu: '256'
  memory: '512'
  containers:
    - name: web
      image: web:1
      secrets: [{name: OK, valueFrom: 'arn:aws:ssm:us-east-1:1:parameter/k'}, {name: KEY, valueFrom: VALUE}]
";
        let s = |value: &str, extra: &str| -> ContainerService {
            serde_yaml::from_str(
                &yaml
                    .replace("VALUE", value)
                    .replace("  cpu:", &format!("{extra}  cpu:")),
            )
            .unwrap()
        };
        let owner = crate::reconcile::spec::owner(&s("k2", ""), "ContainerService", "test");
        let cases = [
            (
                "'*'",
                "",
                "spec.containers[0].secrets[1].valueFrom",
                "no-wildcard-secrets",
            ),
            (
                "'arn:aws:secretsmanager:us-east-1:1:secret:webstack/other/*'",
                "",
                "spec.containers[0].secrets[1].valueFrom",
                "no-wildcard-secrets",
            ),
            (
                "'arn:aws:secretsmanager:us-east-1:1:secret:webstack/other/db-1a2b3c4d/database-AbCdEf'",
                "",
                "spec.containers[0].secrets[1].valueFrom",
                "own-namespace-secrets",
            ),
            (
                "k2",
                "  taskRoleArn: arn:aws:iam::123456789012:role/webstack-exec-other\n",
                "spec.taskRoleArn",
                "no-operator-roles",
            ),
            (
                "k2",
                "  executionRoleArn: arn:aws:iam::123456789012:role/webstack-ec2-shop\n",
                "spec.executionRoleArn",
                "no-operator-roles",
            ),
        ];
        for (value, extra, field, rule) in cases {
            let obj = s(value, extra);
            match ContainerServiceReconciler::validate(&obj, &owner, &deps()) {
                Err(Blocked::Stalled { reason, message }) => {
                    assert_eq!(reason, "PolicyViolation", "{message}");
                    assert!(message.starts_with(&format!("{field}: ")), "{message}");
                    assert!(message.contains(rule), "{message}");
                }
                other => panic!("{value} {extra}: {other:?}"),
            }
            if extra.is_empty() {
                let needs = execution_needs(&obj, "test").unwrap();
                assert_eq!(needs.secrets, ["arn:aws:ssm:us-east-1:1:parameter/k"], "{value}");
            }
        }
        let own = s(
            "k2",
            "  taskRoleArn: arn:aws:iam::123456789012:role/webstack-exec-shop\n",
        );
        assert!(ContainerServiceReconciler::validate(&own, &owner, &deps()).is_ok());
    }

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
