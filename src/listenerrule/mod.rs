//! The ListenerRule kind: a rule on one listener of a stack's load balancer. Load (the stack's
//! listener, the TargetGroups the rule forwards to) → validate and plan ([`model`], pure: safe
//! priorities) → observe (the listener's rules) → apply. Deletion finds the listener from status
//! or from the stack and deletes every copy of the rule tagged with the resource's uid.

pub mod model;

use kube::ResourceExt;
use kube::runtime::Controller;

use self::model::{ObservedRules, Step, plan, plan_cleanup, validate};
use crate::api::{DeletionPolicy, ListenerRule, ListenerRuleStatus, TargetGroup, WebStack};
use crate::aws::{Clients, elbv2, rules};
use crate::model::ownership::{OWNERSHIP_KEYS, UID, select};
use crate::model::rule::DesiredRule;
use crate::model::stack::load_balancer_name;
use crate::model::{Health, Owner, TagMap};
use crate::reconcile::caches::Caches;
use crate::reconcile::refs::{self, Child, TargetGroups};
use crate::reconcile::spec::{self, user_tags};
use crate::reconcile::{Blocked, Context, Done, EXTERNAL_ID, Reconciler};

/// What a rule's reconcile loads.
pub struct Deps {
    clients: Clients,
    /// The listener's ARN from the stack's status; on deletion, else the one recorded in status,
    /// else every listener of the stack's load balancer (found by its deterministic name).
    listeners: Vec<String>,
    stack_tags: TagMap,
    target_groups: TargetGroups,
    recorded_priority: Option<i32>,
}

/// The rule the spec asks for, on its listener.
pub struct Desired {
    pub rule: DesiredRule,
    pub listener_arn: String,
    pub tags: TagMap,
    pub uid: String,
    /// The priority in status (kept when the spec names none).
    pub recorded_priority: Option<i32>,
}

pub struct ListenerRuleReconciler;

/// The ARN of the rule's listener in the stack's status; `Err` says why there is none.
fn listener_of(r: &ListenerRule, stack: Option<&WebStack>) -> Result<String, Blocked> {
    let name = &r.spec.stack_ref.name;
    let Some(ws) = stack else {
        return Err(Blocked::waiting(format!(
            "spec.stackRef: WebStack {name} does not exist"
        )));
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
        return Err(Blocked::stalled(
            "InvalidSpec",
            format!(
                "spec.listener: WebStack {name} has no listener named {wanted} (it has: {}); nothing was changed in AWS",
                names.join(", ")
            ),
        ));
    }
    ws.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.listeners.get(wanted))
        .cloned()
        .ok_or_else(|| Blocked::waiting(format!("waiting for listener {wanted} of WebStack {name}")))
}

/// Every listener of the stack's load balancer (deletion with no listener recorded anywhere): the
/// load balancer from the stack's status, its external-id annotation, else its deterministic name.
async fn stack_listeners(ctx: &Context, ws: &WebStack, clients: &Clients) -> Result<Vec<String>, Blocked> {
    let recorded = ws.status.as_ref().and_then(|s| s.load_balancer.as_ref()?.arn.clone());
    let arn = match recorded.or_else(|| ws.annotations().get(EXTERNAL_ID).cloned()) {
        Some(arn) => Some(arn),
        None => {
            let owner = spec::owner(ws, "WebStack", &ctx.cluster_id);
            elbv2::find_load_balancer(&clients.elbv2, &load_balancer_name(&owner))
                .await?
                .map(|(lb, _)| lb.arn)
        }
    };
    let Some(arn) = arn else {
        return Ok(Vec::new());
    };
    match elbv2::listeners(&clients.elbv2, &arn).await {
        Ok(listeners) => Ok(listeners.into_iter().map(|l| l.arn).collect()),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

impl Reconciler for ListenerRuleReconciler {
    type K = ListenerRule;
    type Deps = Deps;
    type Desired = Desired;
    type Observed = ObservedRules;
    type Step = Step;
    const KIND: &'static str = "ListenerRule";

    async fn load(ctx: &Context, r: &ListenerRule, deleting: bool) -> Result<Deps, Blocked> {
        let ns = r.namespace().unwrap_or_default();
        if !deleting {
            ctx.policy_for(&ns)?; // a namespace selected twice, or none under --require-policy
        }
        let stack = refs::get::<WebStack>(&ctx.source, &ns, &r.spec.stack_ref.name).await?;
        let status = r.status.clone().unwrap_or_default();
        let region = ctx
            .region(&ns, stack.as_ref().and_then(|ws| ws.spec.region.as_deref()))
            .await?;
        let listeners = match (listener_of(r, stack.as_deref()), status.listener_arn.clone()) {
            (Ok(arn), _) => vec![arn],
            (Err(blocked), _) if !deleting => return Err(blocked),
            (Err(_), Some(arn)) => vec![arn],
            (Err(_), None) => match &stack {
                Some(ws) => stack_listeners(ctx, ws, &region.clients).await?,
                None => Vec::new(),
            },
        };
        let target_groups = if deleting {
            TargetGroups::default()
        } else {
            refs::target_groups(&ctx.source, &ns).await?
        };
        Ok(Deps {
            clients: region.clients,
            listeners,
            stack_tags: stack.map(|ws| ws.spec.tags.clone()).unwrap_or_default(),
            target_groups,
            recorded_priority: status.priority,
        })
    }

    fn validate(r: &ListenerRule, owner: &Owner, deps: &Deps) -> Result<Desired, Blocked> {
        let rule = validate(&r.spec, &deps.target_groups.ready, &deps.target_groups.existing)?;
        let tags = owner.tags(
            &user_tags(&deps.stack_tags, &r.spec.tags),
            "listener-rule",
            &owner.aws_name("wlr", 200),
        );
        Ok(Desired {
            rule,
            listener_arn: deps.listeners.first().cloned().unwrap_or_default(),
            tags,
            uid: owner.uid.clone(),
            recorded_priority: deps.recorded_priority,
        })
    }

    async fn observe(
        _r: &ListenerRule,
        owner: &Owner,
        deps: &Deps,
        desired: Option<&Desired>,
    ) -> Result<ObservedRules, Blocked> {
        // A rule is only ever created on a listener of its stack's load balancer, and a deleted
        // listener takes its rules with it: without a listener there is no rule.
        let mut all = Vec::new();
        for listener in &deps.listeners {
            match rules::describe(&deps.clients.elbv2, listener).await {
                Ok(found) => all.extend(found),
                Err(e) if e.is_not_found() && desired.is_none() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut found = ObservedRules::default();
        for rule in all {
            if rule.tags.get(UID) != Some(&owner.uid) {
                found.others.push(rule);
            } else if owner.owns(&rule.tags) {
                found.ours.push(rule);
            } else if desired.is_some() {
                owner.check("listener rule", &rule.arn, &rule.tags)?;
            }
        }
        Ok(found)
    }

    fn plan(d: &Desired, observed: &ObservedRules) -> Result<Vec<Step>, Blocked> {
        let (ours, copies) = match observed.ours.split_first() {
            Some((first, rest)) => (Some(first), rest),
            None => (None, &[][..]),
        };
        let (mut steps, _) = plan(&d.rule, &d.tags, &d.uid, ours, &observed.others, d.recorded_priority)?;
        // Copies of the rule a retried create made (the rule in use is the first found).
        steps.extend(copies.iter().map(|c| Step::Delete { arn: c.arn.clone() }));
        Ok(steps)
    }

    fn plan_cleanup(_: &ListenerRule, observed: &ObservedRules, policy: DeletionPolicy) -> Vec<Step> {
        plan_cleanup(observed, policy)
    }

    async fn apply(
        deps: &Deps,
        _owner: &Owner,
        desired: Option<&Desired>,
        _observed: &ObservedRules,
        steps: &[Step],
        done: Done<'_, Step>,
    ) -> Result<(), Blocked> {
        let elb = &deps.clients.elbv2;
        for step in steps {
            let need = || desired.ok_or_else(|| Blocked::waiting(format!("cannot {step} while deleting")));
            match step {
                Step::Create { priority } => {
                    let d = need()?;
                    rules::create(
                        elb,
                        &d.listener_arn,
                        *priority,
                        &d.rule.conditions,
                        &d.rule.action,
                        &d.tags,
                    )
                    .await?;
                }
                Step::Modify { arn, .. } => {
                    let d = need()?;
                    rules::modify(elb, arn, &d.rule.conditions, &d.rule.action).await?
                }
                Step::SetPriority { arn, to, .. } => rules::set_priority(elb, arn, *to).await?,
                Step::RestoreTags { arn, keys } => elbv2::add_tags(elb, arn, &select(&need()?.tags, keys)).await?,
                Step::Delete { arn } => rules::delete(elb, arn).await?,
                Step::Untag { arns } => elbv2::untag(elb, arns, &OWNERSHIP_KEYS).await?,
            }
            done(step);
        }
        Ok(())
    }

    fn status(d: &Desired, observed: &ObservedRules, _: &[Step]) -> (ListenerRuleStatus, Health) {
        let ours = observed.ours.first();
        let status = ListenerRuleStatus {
            arn: ours.map(|r| r.arn.clone()),
            priority: ours.map(|r| r.priority),
            listener_arn: Some(d.listener_arn.clone()),
            ..ListenerRuleStatus::default()
        };
        let health = match ours {
            Some(r) => Health::ready(format!("rule at priority {}", r.priority)),
            None => Health::progressing("Provisioning", "creating the rule"),
        };
        (status, health)
    }

    fn watches(c: Controller<ListenerRule>, caches: &Caches) -> Controller<ListenerRule> {
        // A TargetGroup it forwards to becomes Ready or changes ARN; the stack's listeners change.
        let c = refs::on(c, caches, |tg: &TargetGroup, r: &ListenerRule| {
            refs::rule_forwards_to(r, &tg.name_any())
        });
        refs::on(c, caches, |ws: &WebStack, r: &ListenerRule| {
            r.stack() == Some(&ws.name_any())
        })
    }
}
