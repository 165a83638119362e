//! The WebStack kind: the shared infrastructure of one application. Load (the TargetGroups its
//! listeners forward to, the region's zones) → validate ([`validate`]) → observe, plan (pure) and
//! apply, each dispatched to the stack's [`parts`] in the order registered there → status
//! ([`status`]); deletion waits for the stack's children, releasing its listeners meanwhile, then
//! plans towards nothing. What the parts share is in [`shared`].

#[cfg(test)]
pub(crate) mod fixtures;
pub mod parts;
pub mod shared;
pub mod status;
pub mod validate;

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::runtime::Controller;

use self::parts::{Step, alarms, children, dns};
use self::shared::{ApplyCx, ApplyError, Cleanup, Ids, ObserveCx};
use crate::api::{
    ContainerService, DatabaseDeletionPolicy, DeletionPolicy, ListenerRule, StaticSite, TargetGroup, WebStack,
    WebStackStatus,
};
use crate::aws::Clients;
use crate::model::data::{DataCleanup, DataDeletion};
use crate::model::stack::{DesiredStack, ObservedStack, StackKey};
use crate::model::{Health, Owner};
use crate::reconcile::caches::Caches;
use crate::reconcile::refs::{self, Child};
use crate::reconcile::{Blocked, Context, Done, EXTERNAL_ID, Reconciler};

/// What a stack's reconcile loads.
pub struct Deps {
    clients: Clients,
    kube: kube::Client,
    source: crate::reconcile::refs::Source,
    zones: Vec<String>,
    /// ARNs of the Ready TargetGroups that listener default actions forward to, by name.
    target_groups: BTreeMap<String, String>,
    /// Not settled at this generation: read everything (subnet groups, tags of the cache and the
    /// secrets), not only what a steady re-check reads.
    deep: bool,
    /// What the stack's ContainerServices need from its task execution role.
    services: Vec<crate::model::execution::ServiceNeeds>,
    /// The stack's ContainerServices as its alarms watch them.
    alarm_services: Vec<crate::model::alarms::WatchedService>,
    /// The static site `staticSite` DNS records point at.
    site: dns::Site,
    /// The WebStackPolicy governing the namespace, and what its limits count.
    policy: Option<std::sync::Arc<crate::api::WebStackPolicy>>,
    stacks_in_namespace: usize,
    services_naming_it: usize,
    /// Where each observation records what it found as the stack's, for its ContainerServices.
    vouched: std::sync::Arc<crate::reconcile::vouched::Vouched>,
}

pub struct WebStackReconciler;

/// How to find the stack's resources: from the spec, the VPC in status and the external-id annotation.
fn key(ws: &WebStack, owner: &Owner, deleting: bool) -> StackKey {
    StackKey {
        known_vpc: ws.status.as_ref().and_then(|s| s.vpc_id.clone()),
        external_load_balancer: ws.annotations().get(EXTERNAL_ID).cloned(),
        every_copy: deleting,
        ..validate::stack_key(&ws.spec, owner.clone())
    }
}

impl Reconciler for WebStackReconciler {
    type K = WebStack;
    type Deps = Deps;
    type Desired = DesiredStack;
    type Observed = ObservedStack;
    type Step = Step;
    const KIND: &'static str = "WebStack";

    async fn load(ctx: &Context, ws: &WebStack, deleting: bool) -> Result<Deps, Blocked> {
        let ns = ws.namespace().unwrap_or_default();
        let region = ctx.region(&ns, ws.spec.region.as_deref()).await?;
        // TargetGroups not Ready yet leave their listeners pending (see DesiredListener::pending)
        // rather than blocking the stack: a TargetGroup needs the stack's VPC first.
        let wanted = refs::stack_forwards(&ws.spec);
        let target_groups = if wanted.is_empty() || deleting {
            BTreeMap::new()
        } else {
            let all = refs::target_groups(&ctx.source, &ns).await?;
            all.ready
                .into_iter()
                .filter(|(name, _)| wanted.contains(name))
                .collect()
        };
        // Deletion cleans up whatever a policy says now; converging follows the namespace's policy.
        let policy = if deleting { None } else { ctx.policy_for(&ns)? };
        let (services, alarm_services, services_naming_it) = if deleting {
            (Vec::new(), Vec::new(), 0)
        } else {
            let found = refs::stack_services(&ctx.source, &ns, &ws.name_any()).await?;
            let watched = alarms::watched_services(&found, &ctx.cluster_id);
            let mut needs: Vec<_> = found
                .iter()
                .filter_map(|s| crate::reconcile::spec::execution_needs(s, &ctx.cluster_id))
                .collect();
            if let Some(p) = &policy {
                // What the policy refuses stalls its service and is granted nothing.
                let region = region.clients.region();
                needs
                    .iter_mut()
                    .for_each(|n| crate::reconcile::policy::grantable(p, n, &region));
            }
            needs.sort_by(|a, b| a.log_group.cmp(&b.log_group));
            (needs, watched, found.len())
        };
        let stacks_in_namespace = match policy.as_ref().and_then(|p| p.spec.limits.max_stacks) {
            Some(_) => refs::list::<WebStack>(&ctx.source, &ns)
                .await?
                .iter()
                .filter(|w| w.metadata.deletion_timestamp.is_none())
                .count(),
            None => 0,
        };
        let site = dns::io::load_site(&ctx.source, ws, deleting).await?;
        let status = ws.status.clone().unwrap_or_default();
        let settled = status.observed_generation == ws.metadata.generation
            && crate::reconcile::status::is_ready(&status.conditions);
        // Whether a drift event named the stack (what it changed may be a deep-only read), or this
        // is its first reconcile here with events on; asked every time, so that a mark is cleared
        // by any reconcile, not only a settled one.
        let event_named = ctx.events.take_deep(Self::KIND, &ns, &ws.name_any());
        Ok(Deps {
            clients: region.clients,
            kube: ctx.client.clone(),
            source: ctx.source.clone(),
            zones: region.zones,
            target_groups,
            deep: deleting || !settled || event_named,
            services,
            alarm_services,
            site,
            policy,
            stacks_in_namespace,
            services_naming_it,
            vouched: ctx.vouched.clone(),
        })
    }

    fn validate(ws: &WebStack, owner: &Owner, deps: &Deps) -> Result<DesiredStack, Blocked> {
        let mut desired = validate::validate(&ws.spec, owner.clone(), &deps.zones, &deps.target_groups)?;
        desired.external_load_balancer = ws.annotations().get(EXTERNAL_ID).cloned();
        let recorded = ws
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref()?.arn.as_deref());
        validate::check_external_id(
            desired.external_load_balancer.as_deref(),
            recorded,
            &crate::model::stack::load_balancer_name(owner),
        )?;
        desired.children = children::expand(&ws.name_any(), &ws.spec)?;
        let own_role = crate::model::execution::role_name(owner);
        for (i, svc) in ws.spec.services.iter().enumerate() {
            if let Some(c) = &svc.container {
                let at = format!("spec.services[{i}].container");
                crate::reconcile::guard::service(c, &owner.namespace, Some(&own_role), &at)?;
            }
        }
        desired.execution_role.region = deps.clients.region();
        if let Some(f) = desired.flow_logs.as_mut() {
            f.region = deps.clients.region();
        }
        desired.execution_role.services = deps.services.clone();
        if let Some(a) = desired.alarms.as_mut() {
            a.region = deps.clients.region();
            a.services = deps.alarm_services.clone();
        }
        desired.dns = ws.spec.dns.as_ref().map(|d| dns::desired(d, &deps.site)).transpose()?;
        if let Some(p) = &deps.policy {
            let region = deps.clients.region();
            let facts = crate::reconcile::policy::StackFacts {
                external_id: desired.external_load_balancer.as_deref(),
                stacks_in_namespace: deps.stacks_in_namespace,
                services_naming_it: deps.services_naming_it,
                region: &region,
            };
            crate::reconcile::policy::check_stack(p, &ws.spec, &facts)?;
        }
        Ok(desired)
    }

    async fn observe(
        ws: &WebStack,
        owner: &Owner,
        deps: &Deps,
        desired: Option<&DesiredStack>,
    ) -> Result<ObservedStack, Blocked> {
        let deleting = desired.is_none();
        let key = key(ws, owner, deleting);
        let cx = ObserveCx {
            clients: &deps.clients,
            kube: &deps.kube,
            source: &deps.source,
            ws,
            key: &key,
            owner,
            desired,
            deep: deps.deep,
            deleting,
        };
        let observed = parts::observe(&cx).await?;
        let (ns, name) = (ws.namespace().unwrap_or_default(), ws.name_any());
        match desired {
            Some(desired) => deps.vouched.record(&ns, &name, status::vouched(ws, desired, &observed)),
            None => deps.vouched.forget(&ns, &name),
        }
        Ok(observed)
    }

    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Result<Vec<Step>, Blocked> {
        // Adoption first: nothing about another team's resources is reported before it is allowed.
        validate::check_adoption(desired, observed)?;
        validate::check_adopted(desired, observed)?;
        validate::check_external_load_balancer(desired, observed)?;
        if let Some(c) = crate::model::children::conflict(&desired.children, &observed.children) {
            return Err(Blocked::stalled("OwnershipConflict", c.to_string()));
        }
        if let Some(d) = &desired.dns {
            dns::check(&desired.owner, d, observed.load_balancer.as_ref(), &observed.dns)?;
        }
        Ok(parts::plan(desired, observed))
    }

    fn plan_cleanup(ws: &WebStack, observed: &ObservedStack, policy: DeletionPolicy) -> Vec<Step> {
        let db = ws.spec.database.as_ref();
        let deletion = match db.map(|d| d.deletion_policy) {
            Some(DatabaseDeletionPolicy::Retain) => DataDeletion::Retain,
            Some(DatabaseDeletionPolicy::Delete) => DataDeletion::Delete,
            _ => DataDeletion::Snapshot,
        };
        let how = Cleanup {
            retain: policy == DeletionPolicy::Retain,
            data: DataCleanup {
                deletion,
                protection_wanted: db.is_some_and(|d| d.deletion_protection),
            },
            keep_network: false,
            force_registries: ws.spec.registries_force_delete == Some(true),
        };
        parts::plan_cleanup(observed, how)
    }

    fn plan_release(observed: &ObservedStack) -> Vec<Step> {
        parts::plan_release(observed)
    }

    async fn apply(
        deps: &Deps,
        owner: &Owner,
        desired: Option<&DesiredStack>,
        observed: &ObservedStack,
        steps: &[Step],
        done: Done<'_, Step>,
    ) -> Result<(), Blocked> {
        let mut cx = ApplyCx {
            clients: &deps.clients,
            kube: &deps.kube,
            owner,
            desired,
            observed,
            ids: Ids::new(desired, observed),
        };
        for step in steps {
            step.apply(&mut cx).await.map_err(|e| match e {
                ApplyError::Aws(e) => Blocked::Aws(e),
                ApplyError::Blocked(b) => b,
                missing => Blocked::waiting(missing.to_string()),
            })?;
            done(step);
        }
        Ok(())
    }

    fn status(desired: &DesiredStack, observed: &ObservedStack, remaining: &[Step]) -> (WebStackStatus, Health) {
        status::status(desired, observed, remaining)
    }

    async fn blockers(ctx: &Context, ws: &WebStack) -> Result<Vec<String>, Blocked> {
        let ns = ws.namespace().unwrap_or_default();
        Ok(refs::children(&ctx.source, &ns, &ws.name_any()).await?)
    }

    /// Children's changes that the stack reads ([`refs::child_digest`]: spec, deletion, Ready,
    /// a target group's ARN, a site's domain) requeue it; their other status writes (a service's
    /// task counts while it rolls) do not: the stack's status takes those at its next re-check.
    fn watches(c: Controller<WebStack>, caches: &Caches) -> Controller<WebStack> {
        // A TargetGroup a listener forwards to becomes Ready (or changes ARN); a child goes.
        let c = refs::on_changes(
            c,
            caches,
            |tg: &TargetGroup, ws: &WebStack| {
                tg.stack() == Some(&ws.name_any()) || refs::stack_forwards(&ws.spec).contains(&tg.name_any())
            },
            refs::child_digest,
        );
        let c = refs::on_changes(
            c,
            caches,
            |r: &ListenerRule, ws: &WebStack| r.stack() == Some(&ws.name_any()),
            refs::child_digest,
        );
        let c = refs::on_changes(
            c,
            caches,
            |s: &ContainerService, ws: &WebStack| s.stack() == Some(&ws.name_any()),
            refs::child_digest,
        );
        refs::on_changes(
            c,
            caches,
            |s: &StaticSite, ws: &WebStack| s.stack() == Some(&ws.name_any()),
            refs::child_digest,
        )
    }
}
