//! The TargetGroup kind: an ELBv2 target group in its stack's VPC. Load (the stack's VPC) →
//! validate and plan ([`model`], pure) → observe (the group by name, replaced ones from status) →
//! apply. Deletion waits while a ListenerRule, a ContainerService or a stack's listener still uses
//! the group, then deletes every group of the resource (found by status, names and tags).

pub mod model;

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::Controller;

use self::model::{NAME_PREFIX, ObservedGroups, Step, plan, plan_cleanup, validate};
use crate::api::{ContainerService, DeletionPolicy, ListenerRule, TargetGroup, TargetGroupStatus, WebStack};
use crate::aws::{Clients, elbv2, target_groups};
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::target_group::{DesiredTargetGroup, ObservedTargetGroup};
use crate::model::{Health, Owner};
use crate::reconcile::caches::Caches;
use crate::reconcile::refs::{self, Child};
use crate::reconcile::{Blocked, Context, Done, Reconciler};

/// What a target group's reconcile loads.
pub struct Deps {
    clients: Clients,
    /// The stack, when it exists (deletion goes on without it).
    stack: Option<Arc<WebStack>>,
    /// Status of the object (the replaced groups it records).
    recorded: Vec<String>,
}

pub struct TargetGroupReconciler;

impl Reconciler for TargetGroupReconciler {
    type K = TargetGroup;
    type Deps = Deps;
    type Desired = DesiredTargetGroup;
    type Observed = ObservedGroups;
    type Step = Step;
    const KIND: &'static str = "TargetGroup";

    async fn load(ctx: &Context, tg: &TargetGroup, deleting: bool) -> Result<Deps, Blocked> {
        let ns = tg.namespace().unwrap_or_default();
        if !deleting {
            ctx.policy_for(&ns)?; // a namespace selected twice, or none under --require-policy
        }
        let name = &tg.spec.stack_ref.name;
        let stack = refs::get::<WebStack>(&ctx.source, &ns, name).await?;
        let has_vpc = stack
            .as_ref()
            .and_then(|ws| ws.status.as_ref()?.vpc_id.as_ref())
            .is_some();
        if !deleting && !has_vpc {
            return Err(Blocked::waiting(format!("waiting for WebStack {name} to have a VPC")));
        }
        let region = ctx
            .region(&ns, stack.as_ref().and_then(|ws| ws.spec.region.as_deref()))
            .await?;
        let st = tg.status.clone().unwrap_or_default();
        Ok(Deps {
            clients: region.clients,
            stack,
            recorded: st.arn.into_iter().chain(st.replaced_arns).collect(),
        })
    }

    fn validate(tg: &TargetGroup, owner: &Owner, deps: &Deps) -> Result<DesiredTargetGroup, Blocked> {
        let ws = deps
            .stack
            .as_ref()
            .ok_or_else(|| Blocked::waiting("waiting for the stack"))?;
        let vpc = ws.status.as_ref().and_then(|s| s.vpc_id.clone()).unwrap_or_default();
        Ok(validate(&tg.spec, owner, &vpc, &ws.spec.tags))
    }

    async fn observe(
        _tg: &TargetGroup,
        owner: &Owner,
        deps: &Deps,
        desired: Option<&DesiredTargetGroup>,
    ) -> Result<ObservedGroups, Blocked> {
        let elb = &deps.clients.elbv2;
        let Some(desired) = desired else {
            // Deletion: every group named like this resource's and tagged with its uid, plus those
            // recorded in status.
            let suffix = format!("-{}", owner.uid8());
            let mut all: Vec<String> = target_groups::find_named(elb, NAME_PREFIX, &suffix)
                .await?
                .into_iter()
                .filter(|(_, tags)| owner.owns(tags))
                .map(|(arn, _)| arn)
                .collect();
            for arn in &deps.recorded {
                if !all.contains(arn)
                    && let Some(g) = target_groups::find_by_arn(elb, arn).await?
                    && owner.owns(&g.tags)
                {
                    all.push(g.arn);
                }
            }
            return Ok(ObservedGroups {
                all,
                ..ObservedGroups::default()
            });
        };
        let current = target_groups::find_by_name(elb, &desired.name).await?;
        if let Some(c) = &current {
            owner.check("target group", &c.arn, &c.tags)?;
        }
        let mut replaced: Vec<ObservedTargetGroup> = Vec::new();
        for arn in &deps.recorded {
            if current.as_ref().is_some_and(|c| &c.arn == arn) || replaced.iter().any(|r| &r.arn == arn) {
                continue;
            }
            if let Some(old) = target_groups::find_by_arn(elb, arn).await?
                && owner.owns(&old.tags)
            {
                replaced.push(old);
            }
        }
        Ok(ObservedGroups {
            current,
            replaced,
            all: Vec::new(),
        })
    }

    fn plan(desired: &DesiredTargetGroup, observed: &ObservedGroups) -> Result<Vec<Step>, Blocked> {
        Ok(plan(desired, observed.current.as_ref(), &observed.replaced))
    }

    fn plan_cleanup(_: &TargetGroup, observed: &ObservedGroups, policy: DeletionPolicy) -> Vec<Step> {
        plan_cleanup(observed, policy)
    }

    async fn apply(
        deps: &Deps,
        _owner: &Owner,
        desired: Option<&DesiredTargetGroup>,
        observed: &ObservedGroups,
        steps: &[Step],
        done: Done<'_, Step>,
    ) -> Result<(), Blocked> {
        let elb = &deps.clients.elbv2;
        let mut arn = observed.current.as_ref().map(|c| c.arn.clone()).unwrap_or_default();
        for step in steps {
            let need = || desired.ok_or_else(|| Blocked::waiting(format!("cannot {step} while deleting")));
            match step {
                Step::Create { .. } => arn = target_groups::create(elb, need()?).await?,
                Step::ModifyHealthCheck { .. } => target_groups::modify_health(elb, &arn, &need()?.health).await?,
                Step::ModifyAttributes { changed } => target_groups::set_attributes(elb, &arn, changed).await?,
                Step::RestoreTags { arn, keys } => elbv2::add_tags(elb, arn, &select(&need()?.tags, keys)).await?,
                Step::Delete { arn } => match target_groups::delete(elb, arn).await {
                    // A replaced group still forwarded to is kept until the listeners, rules and
                    // services using it follow the new group (deletion retries it instead).
                    Err(e) if e.code == "ResourceInUse" && desired.is_some() => continue,
                    other => other?,
                },
                Step::Untag { arns } => elbv2::untag(elb, arns, &OWNERSHIP_KEYS).await?,
            }
            done(step);
        }
        Ok(())
    }

    fn status(desired: &DesiredTargetGroup, observed: &ObservedGroups, _: &[Step]) -> (TargetGroupStatus, Health) {
        let replaced: Vec<String> = observed.replaced.iter().map(|g| g.arn.clone()).collect();
        let health = match (&observed.current, replaced.is_empty()) {
            (None, _) => Health::progressing("Provisioning", "creating the target group"),
            (Some(_), true) => Health::ready("AWS matches the spec"),
            (Some(_), false) => Health::ready(format!(
                "replaced group(s) kept until nothing forwards to them: {}",
                replaced.join(", ")
            )),
        };
        let status = TargetGroupStatus {
            arn: observed.current.as_ref().map(|c| c.arn.clone()),
            name: Some(desired.name.clone()),
            replaced_arns: replaced,
            load_balancer_arns: observed
                .current
                .as_ref()
                .map(|c| c.load_balancer_arns.clone())
                .unwrap_or_default(),
            ..TargetGroupStatus::default()
        };
        (status, health)
    }

    async fn blockers(ctx: &Context, tg: &TargetGroup) -> Result<Vec<String>, Blocked> {
        let ns = tg.namespace().unwrap_or_default();
        Ok(refs::target_group_users(&ctx.source, &ns, &tg.name_any()).await?)
    }

    fn watches(c: Controller<TargetGroup>, caches: &Caches) -> Controller<TargetGroup> {
        // The stack's VPC appears or changes; a user goes (deletion waits for it).
        let c = refs::on(c, caches, |ws: &WebStack, tg: &TargetGroup| {
            tg.stack() == Some(&ws.name_any())
        });
        let c = refs::on(c, caches, |r: &ListenerRule, tg: &TargetGroup| {
            refs::rule_forwards_to(r, &tg.name_any())
        });
        refs::on(c, caches, |s: &ContainerService, tg: &TargetGroup| {
            refs::service_target_group(s) == Some(&tg.name_any())
        })
    }
}
