//! The WebStack kind: the shared infrastructure of one application. Load (the TargetGroups its
//! listeners forward to, the region's zones) → validate ([`validate`]) → observe ([`observe`]) →
//! plan ([`plan`], pure) → apply ([`apply`]) → status ([`status`]); deletion waits for the stack's
//! children, releasing its listeners meanwhile, then plans towards nothing ([`cleanup`]).

pub mod alarms;
pub mod alarms_io;
pub mod apply;
pub mod capacity;
pub mod capacity_io;
pub mod children;
pub mod cleanup;
pub mod data;
pub mod data_io;
pub mod dns;
mod dns_io;
pub mod egress;
mod egress_io;
pub mod flowlogs;
pub mod flowlogs_io;
pub mod observe;
pub mod plan;
pub mod registry;
mod registry_io;
pub mod role;
pub mod status;
pub mod step;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::Controller;

use self::observe::ObserveError;
use self::step::Step;
use crate::api::{
    ContainerService, DatabaseDeletionPolicy, DeletionPolicy, ListenerRule, StaticSite, TargetGroup, WebStack,
    WebStackStatus,
};
use crate::aws::Clients;
use crate::model::data::DataDeletion;
use crate::model::stack::{DesiredStack, ObservedStack, StackKey};
use crate::model::{Health, Owner};
use crate::reconcile::refs::{self, Child};
use crate::reconcile::{Blocked, Context, Done, EXTERNAL_ID, Reconciler};

/// What a stack's reconcile loads.
pub struct Deps {
    clients: Clients,
    kube: kube::Client,
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
}

pub struct WebStackReconciler;

/// Which repositories to read: the spec's and those in status (a name removed from the spec is
/// deleted, or kept while it holds images); on deletion all of them.
fn registry_key(ws: &WebStack, owner: &Owner, deep: bool, deleting: bool) -> registry_io::RegistryKey {
    let recorded = ws.status.iter().flat_map(|s| s.registries.keys());
    let mut names: Vec<String> = ws.spec.registries.clone();
    let removed: std::collections::BTreeSet<String> =
        recorded.filter(|n| !ws.spec.registries.contains(n)).cloned().collect();
    names.extend(removed.iter().cloned());
    registry_io::RegistryKey {
        names: names
            .into_iter()
            .map(|n| {
                let aws = crate::model::registry::repository_name(owner, &n);
                (n, aws)
            })
            .collect(),
        removed,
        deep,
        deleting,
    }
}

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
        let region = ctx.region(ws.spec.region.as_deref()).await?;
        // TargetGroups not Ready yet leave their listeners pending (see DesiredListener::pending)
        // rather than blocking the stack: a TargetGroup needs the stack's VPC first.
        let wanted = refs::stack_forwards(&ws.spec);
        let target_groups = if wanted.is_empty() || deleting {
            BTreeMap::new()
        } else {
            let ns = ws.namespace().unwrap_or_default();
            let all = refs::target_groups(&ctx.client, &ns).await?;
            all.ready
                .into_iter()
                .filter(|(name, _)| wanted.contains(name))
                .collect()
        };
        let (services, alarm_services) = if deleting {
            (Vec::new(), Vec::new())
        } else {
            let ns = ws.namespace().unwrap_or_default();
            let found = refs::stack_services(&ctx.client, &ns, &ws.name_any()).await?;
            let watched = alarms::watched_services(&found, &ctx.cluster_id);
            let mut needs: Vec<_> = found
                .iter()
                .filter_map(|s| crate::reconcile::spec::execution_needs(s, &ctx.cluster_id))
                .collect();
            needs.sort_by(|a, b| a.log_group.cmp(&b.log_group));
            (needs, watched)
        };
        let site = dns_io::load_site(&ctx.client, ws, deleting).await?;
        let status = ws.status.clone().unwrap_or_default();
        let settled = status.observed_generation == ws.metadata.generation
            && crate::reconcile::status::is_ready(&status.conditions);
        Ok(Deps {
            clients: region.clients,
            kube: ctx.client.clone(),
            zones: region.zones,
            target_groups,
            deep: deleting || !settled,
            services,
            alarm_services,
            site,
        })
    }

    fn validate(ws: &WebStack, owner: &Owner, deps: &Deps) -> Result<DesiredStack, Blocked> {
        let mut desired = validate::validate(&ws.spec, owner.clone(), &deps.zones, &deps.target_groups)?;
        desired.external_load_balancer = ws.annotations().get(EXTERNAL_ID).cloned();
        desired.children = children::expand(&ws.name_any(), &ws.spec)?;
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
        let mut observed = observe::observe(&deps.clients, &key, deleting)
            .await
            .map_err(|e| match e {
                ObserveError::Aws(e) => Blocked::Aws(e),
                ObserveError::Conflict(c) => c.into(),
                missing @ ObserveError::ExternalMissing { .. } => Blocked::stalled("InvalidSpec", missing.to_string()),
            })?;
        // The data tier when the spec or status has one (a database removed from the spec is still
        // found and deleted), and always on deletion.
        let st = ws.status.as_ref();
        let names = validate::data_names(&ws.spec, owner);
        let data = data_io::DataKey {
            names: &names,
            namespace: &owner.namespace,
            database: deleting || ws.spec.database.is_some() || st.is_some_and(|s| s.database.is_some()),
            cache: deleting || ws.spec.cache.is_some() || st.is_some_and(|s| s.cache.is_some()),
            deep: deps.deep,
        };
        observed.data = Box::pin(data_io::observe(&deps.clients, &deps.kube, &data, owner, deleting)).await?;
        // EC2 capacity likewise: when the spec or status has it, and always on deletion.
        let wanted = desired.and_then(|d| d.capacity.as_ref());
        if deleting || wanted.is_some() || st.is_some_and(|s| s.capacity.is_some()) {
            let key = capacity_io::CapacityKey {
                name: &crate::model::capacity::capacity_name(owner),
                instance_type: wanted.map(|c| c.instance_type.as_str()),
                deep: deps.deep,
                cluster: observed
                    .cluster
                    .as_ref()
                    .filter(|c| c.active)
                    .map(|c| c.capacity_providers.clone()),
            };
            observed.capacity = Box::pin(capacity_io::observe(&deps.clients, &key, owner, deleting)).await?;
        }
        // Flow logs likewise: when the spec or status has them, and always on deletion.
        let enabled = ws.spec.network.flow_logs.as_ref().is_some_and(|f| f.enabled);
        if deleting || enabled || st.is_some_and(|s| s.flow_logs.is_some()) {
            let key = flowlogs_io::FlowLogsKey {
                log_group: &crate::model::flowlogs::log_group_name(owner),
                role_name: &crate::model::flowlogs::role_name(owner),
                deep: deps.deep,
            };
            observed.flow_logs = Box::pin(flowlogs_io::observe(&deps.clients, &key, owner, deleting)).await?;
        }
        // The alarms when the spec or status has them, and always on deletion.
        if deleting || desired.is_some_and(|d| d.alarms.is_some()) || st.is_some_and(|s| s.alarms.is_some()) {
            let key = alarms_io::AlarmsKey {
                desired: desired.and_then(|d| d.alarms.as_ref()),
                known_topic: st.and_then(|s| s.alarms.as_ref()).and_then(|a| a.topic_arn.as_deref()),
                load_balancer: alarms::load_balancer(desired, &observed),
                deep: deps.deep,
            };
            observed.alarms = Box::pin(alarms_io::observe(&deps.clients, &key, owner, deleting)).await?;
        }
        let wanted = desired.map(|d| d.children.as_slice()).unwrap_or_default();
        observed.children = children::observe(&deps.kube, owner, wanted).await?;
        observed.registries =
            registry_io::observe(&deps.clients, &registry_key(ws, owner, deps.deep, deleting), owner).await?;
        observed.dns = dns_io::observe(&deps.clients, ws, owner, deps.deep, deleting).await?;
        Ok(observed)
    }

    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Result<Vec<Step>, Blocked> {
        validate::check_adopted(desired, observed)?;
        validate::check_external_load_balancer(desired, observed)?;
        if let Some(c) = crate::model::children::conflict(&desired.children, &observed.children) {
            return Err(Blocked::stalled("OwnershipConflict", c.to_string()));
        }
        if let Some(d) = &desired.dns {
            dns::check(&desired.owner, d, observed.load_balancer.as_ref(), &observed.dns)?;
        }
        Ok(plan::plan(desired, observed))
    }

    fn plan_cleanup(ws: &WebStack, observed: &ObservedStack, policy: DeletionPolicy) -> Vec<Step> {
        let db = ws.spec.database.as_ref();
        let deletion = match db.map(|d| d.deletion_policy) {
            Some(DatabaseDeletionPolicy::Retain) => DataDeletion::Retain,
            Some(DatabaseDeletionPolicy::Delete) => DataDeletion::Delete,
            _ => DataDeletion::Snapshot,
        };
        let protection_wanted = db.is_some_and(|d| d.deletion_protection);
        let mut steps = cleanup::plan_cleanup(
            observed,
            policy,
            data::DataCleanup {
                deletion,
                protection_wanted,
            },
        );
        // Repositories last: nothing depends on them, and one that waits (it holds images)
        // then holds up nothing else.
        let retain = policy == DeletionPolicy::Retain;
        let force = ws.spec.registries_force_delete == Some(true);
        let registries = registry::plan_cleanup(&observed.registries, retain, force);
        steps.extend(registries.into_iter().map(Step::Registry));
        steps
    }

    fn plan_release(observed: &ObservedStack) -> Vec<Step> {
        cleanup::plan_release(observed)
    }

    async fn apply(
        deps: &Deps,
        owner: &Owner,
        desired: Option<&DesiredStack>,
        observed: &ObservedStack,
        steps: &[Step],
        done: Done<'_, Step>,
    ) -> Result<(), Blocked> {
        let env = apply::DataEnv {
            kube: &deps.kube,
            owner,
        };
        apply::apply(&deps.clients, &env, desired, observed, steps, done)
            .await
            .map_err(|e| match e {
                apply::ApplyError::Aws(e) => Blocked::Aws(e),
                apply::ApplyError::Blocked(b) => b,
                missing => Blocked::waiting(missing.to_string()),
            })
    }

    fn status(desired: &DesiredStack, observed: &ObservedStack, remaining: &[Step]) -> (WebStackStatus, Health) {
        status::status(desired, observed, remaining)
    }

    async fn blockers(ctx: &Context, ws: &WebStack) -> Result<Vec<String>, Blocked> {
        let ns = ws.namespace().unwrap_or_default();
        Ok(refs::children(&ctx.client, &ns, &ws.name_any()).await?)
    }

    fn watches(c: Controller<WebStack>, ctx: &Arc<Context>, ns: Option<&str>) -> Controller<WebStack> {
        let client = &ctx.client;
        // A TargetGroup a listener forwards to becomes Ready (or changes ARN); a child goes.
        let c = refs::on(c, client, ns, |tg: &TargetGroup, ws: &WebStack| {
            tg.stack() == Some(&ws.name_any()) || refs::stack_forwards(&ws.spec).contains(&tg.name_any())
        });
        let c = refs::on(c, client, ns, |r: &ListenerRule, ws: &WebStack| {
            r.stack() == Some(&ws.name_any())
        });
        let c = refs::on(c, client, ns, |s: &ContainerService, ws: &WebStack| {
            s.stack() == Some(&ws.name_any())
        });
        refs::on(c, client, ns, |s: &StaticSite, ws: &WebStack| {
            s.stack() == Some(&ws.name_any())
        })
    }
}
