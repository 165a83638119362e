//! EC2 capacity's plans (pure): an instance role with the ECS instance policy (one of the stack's
//! roles, planned by [`crate::model::role`]) and its instance profile, a launch template (the
//! recommended ECS-optimized Amazon Linux 2023 AMI, user data joining the cluster, IMDSv2, the
//! services group), an Auto Scaling group in the private subnets that follows the template's
//! `$Latest` version, and an ECS capacity provider with managed scaling, the cluster's only
//! provider and its default strategy. Deletion: capacity provider
//! (taken off the cluster first), then the group, then the template, the profile and the role.
//!
//! Choices: a change of instance type or AMI is a new launch template version; the group follows
//! `$Latest`, so instances launched afterwards get it and running ones are kept until scaling
//! replaces them (the operator starts no instance refresh). Managed termination protection is
//! off and instances are not protected from scale-in; ECS managed draining (on by default) moves
//! tasks off an instance before the group terminates it.

pub mod io;

use std::fmt;

use crate::model::capacity::{DesiredCapacity, ObservedCapacity};
use crate::model::ownership::missing_tags;
use crate::model::role::{self, RoleChange, RoleStep};
use crate::model::stack::{DesiredStack, ObservedStack, SgRole};
use crate::model::{Owner, TagMap};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part, private_subnets};

use crate::model::capacity::{LATEST, TARGET_CAPACITY};

/// One of the capacity resources besides the role (for tag restores).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Profile,
    Template,
    Group,
    Provider,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Profile => "instance profile",
            Resource::Template => "launch template",
            Resource::Group => "Auto Scaling group",
            Resource::Provider => "capacity provider",
        })
    }
}

/// One change to the EC2 capacity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapacityStep {
    /// A change to the instance role.
    Role(RoleStep),
    CreateInstanceProfile,
    /// A profile holds one role: another one found in it is removed first.
    RemoveRoleFromProfile {
        role: String,
    },
    AddRoleToProfile,
    CreateLaunchTemplate,
    CreateLaunchTemplateVersion {
        changes: Vec<&'static str>,
    },
    CreateGroup,
    UpdateGroup {
        changes: Vec<&'static str>,
    },
    CreateProvider,
    UpdateProvider,
    /// PutClusterCapacityProviders: exactly the stack's provider, also the default strategy.
    AssociateProvider,
    RestoreTags {
        resource: Resource,
    },
    /// PutClusterCapacityProviders without the stack's provider (it cannot be deleted while the
    /// cluster has it).
    DisassociateProvider,
    DeleteProvider,
    /// Not an AWS call: the provider is being deleted.
    AwaitProviderGone,
    /// ForceDelete: the group's instances are terminated with it.
    DeleteGroup,
    /// Not an AWS call: AWS deletes a group asynchronously, after its instances.
    AwaitGroupGone,
    DeleteLaunchTemplate,
    DeleteInstanceProfile,
    /// `Retain`: the ownership tags of all five go.
    UntagCapacity,
}

impl CapacityStep {
    pub fn action(&self) -> &'static str {
        match self {
            // The instance role's tags restored are a TagResource, as those of the other four.
            CapacityStep::Role(RoleStep {
                change: RoleChange::RestoreTags { .. },
                ..
            }) => "TagResource",
            CapacityStep::Role(s) => s.action(),
            CapacityStep::CreateInstanceProfile => "CreateInstanceProfile",
            CapacityStep::RemoveRoleFromProfile { .. } => "RemoveRoleFromInstanceProfile",
            CapacityStep::AddRoleToProfile => "AddRoleToInstanceProfile",
            CapacityStep::CreateLaunchTemplate => "CreateLaunchTemplate",
            CapacityStep::CreateLaunchTemplateVersion { .. } => "CreateLaunchTemplateVersion",
            CapacityStep::CreateGroup => "CreateAutoScalingGroup",
            CapacityStep::UpdateGroup { .. } => "UpdateAutoScalingGroup",
            CapacityStep::CreateProvider => "CreateCapacityProvider",
            CapacityStep::UpdateProvider => "UpdateCapacityProvider",
            CapacityStep::AssociateProvider | CapacityStep::DisassociateProvider => "PutClusterCapacityProviders",
            CapacityStep::RestoreTags { .. } => "TagResource",
            CapacityStep::DeleteProvider => "DeleteCapacityProvider",
            CapacityStep::AwaitProviderGone => "DescribeCapacityProviders",
            CapacityStep::DeleteGroup => "DeleteAutoScalingGroup",
            CapacityStep::AwaitGroupGone => "DescribeAutoScalingGroups",
            CapacityStep::DeleteLaunchTemplate => "DeleteLaunchTemplate",
            CapacityStep::DeleteInstanceProfile => "DeleteInstanceProfile",
            CapacityStep::UntagCapacity => "UntagResource",
        }
    }
}

impl fmt::Display for CapacityStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapacityStep::Role(s) => s.fmt(f),
            CapacityStep::CreateInstanceProfile => write!(f, "create the instance profile"),
            CapacityStep::RemoveRoleFromProfile { role } => {
                write!(f, "remove role {role} from the instance profile")
            }
            CapacityStep::AddRoleToProfile => write!(f, "put the instance role in the instance profile"),
            CapacityStep::CreateLaunchTemplate => write!(f, "create the launch template"),
            CapacityStep::CreateLaunchTemplateVersion { changes } => {
                write!(f, "create a launch template version: {}", changes.join(", "))
            }
            CapacityStep::CreateGroup => write!(f, "create the Auto Scaling group"),
            CapacityStep::UpdateGroup { changes } => {
                write!(f, "update the Auto Scaling group: {}", changes.join(", "))
            }
            CapacityStep::CreateProvider => write!(f, "create the ECS capacity provider"),
            CapacityStep::UpdateProvider => write!(f, "turn on the capacity provider's managed scaling"),
            CapacityStep::AssociateProvider => {
                write!(f, "make the capacity provider the cluster's (and its default strategy)")
            }
            CapacityStep::RestoreTags { resource } => write!(f, "restore the {resource}'s tags"),
            CapacityStep::DisassociateProvider => write!(f, "take the capacity provider off the cluster"),
            CapacityStep::DeleteProvider => write!(f, "delete the capacity provider"),
            CapacityStep::AwaitProviderGone => write!(f, "wait until the capacity provider is deleted"),
            CapacityStep::DeleteGroup => write!(f, "delete the Auto Scaling group and its instances"),
            CapacityStep::AwaitGroupGone => write!(f, "wait until the Auto Scaling group is deleted"),
            CapacityStep::DeleteLaunchTemplate => write!(f, "delete the launch template"),
            CapacityStep::DeleteInstanceProfile => write!(f, "delete the instance profile"),
            CapacityStep::UntagCapacity => write!(
                f,
                "remove the ownership tags of the instance role and profile, launch template, Auto Scaling group and capacity provider"
            ),
        }
    }
}

/// What the capacity should look like besides its spec: the stack's owner (the role's
/// description), the tags, the private subnets and the services group (`None` when not known yet:
/// created in the same pass).
pub struct Context<'a> {
    pub owner: &'a Owner,
    pub tags: &'a TagMap,
    pub private_subnets: Option<Vec<String>>,
    pub services_group: Option<String>,
}

fn restore(have: &TagMap, cx: &Context<'_>, resource: Resource, steps: &mut Vec<CapacityStep>) {
    // Empty: not read on this pass (a steady re-check).
    if !have.is_empty() && !missing_tags(cx.tags, have).is_empty() {
        steps.push(CapacityStep::RestoreTags { resource });
    }
}

/// The steps that make AWS hold `d`.
pub fn plan(d: &DesiredCapacity, o: &ObservedCapacity, cx: &Context<'_>) -> Vec<CapacityStep> {
    let instance_role = d.instance_role(cx.owner, cx.tags.clone());
    let mut steps: Vec<CapacityStep> = role::plan(&instance_role, o.role.as_ref())
        .into_iter()
        .map(CapacityStep::Role)
        .collect();
    match &o.profile {
        None => steps.extend([CapacityStep::CreateInstanceProfile, CapacityStep::AddRoleToProfile]),
        Some(p) => {
            restore(&p.tags, cx, Resource::Profile, &mut steps);
            if !p.roles.contains(&d.name) {
                for role in &p.roles {
                    steps.push(CapacityStep::RemoveRoleFromProfile { role: role.clone() });
                }
                steps.push(CapacityStep::AddRoleToProfile);
            }
        }
    }
    match &o.template {
        None => steps.push(CapacityStep::CreateLaunchTemplate),
        Some(t) => {
            restore(&t.tags, cx, Resource::Template, &mut steps);
            if let (Some(image), Some(group)) = (&o.image_id, &cx.services_group) {
                let changes = t.latest.changes(&d.template(image, group));
                if !changes.is_empty() {
                    steps.push(CapacityStep::CreateLaunchTemplateVersion { changes });
                }
            }
        }
    }
    plan_group(d, o, cx, &mut steps);
    steps
}

/// The group, the provider on it and the cluster's association.
fn plan_group(d: &DesiredCapacity, o: &ObservedCapacity, cx: &Context<'_>, steps: &mut Vec<CapacityStep>) {
    match &o.group {
        None => steps.push(CapacityStep::CreateGroup),
        Some(g) if g.deleting => {
            // Deleted by hand: a group of the same name can only be created once it is gone.
            steps.push(CapacityStep::AwaitGroupGone);
            return;
        }
        Some(g) => {
            let unpropagated = cx.tags.keys().any(|k| !g.propagated.contains(k));
            if !missing_tags(cx.tags, &g.tags).is_empty() || unpropagated {
                steps.push(CapacityStep::RestoreTags {
                    resource: Resource::Group,
                });
            }
            let subnets_differ = cx.private_subnets.as_ref().is_some_and(|s| *s != g.subnets);
            let template = g.launch_template.as_ref().map(|(n, v)| (n.as_str(), v.as_str()));
            let changes: Vec<&'static str> = [
                ("minimum size", g.min_size != d.min_size),
                ("maximum size", g.max_size != d.max_size),
                ("subnets", subnets_differ),
                ("launch template", template != Some((d.name.as_str(), LATEST))),
            ]
            .into_iter()
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect();
            if !changes.is_empty() {
                steps.push(CapacityStep::UpdateGroup { changes });
            }
        }
    }
    let associated = o.cluster.as_ref().is_some_and(|c| c.providers.contains(&d.name));
    match o.provider.as_ref().filter(|p| !p.gone()) {
        None => steps.push(CapacityStep::CreateProvider),
        Some(p) if o.group.as_ref().is_some_and(|g| g.arn != p.group_arn) => {
            // The group was re-created (deleted by hand): a provider's group cannot change, so the
            // provider is replaced (created again once the old one is gone).
            if associated {
                steps.push(CapacityStep::DisassociateProvider);
            }
            steps.extend([CapacityStep::DeleteProvider, CapacityStep::AwaitProviderGone]);
            return;
        }
        Some(p) => {
            restore(&p.tags, cx, Resource::Provider, steps);
            if !p.managed_scaling || p.target_capacity != Some(TARGET_CAPACITY) || p.managed_termination_protection {
                steps.push(CapacityStep::UpdateProvider);
            }
        }
    }
    let exact = o
        .cluster
        .as_ref()
        .is_some_and(|c| c.providers == [d.name.clone()] && c.default_strategy == [(d.name.clone(), 1)]);
    if !exact {
        steps.push(CapacityStep::AssociateProvider);
    }
}

/// Deletion in order: provider (off the cluster first), group (and its instances), template,
/// profile, role. `retain`: untag instead.
pub fn plan_cleanup(o: &ObservedCapacity, retain: bool) -> Vec<CapacityStep> {
    let mut steps = Vec::new();
    if retain {
        if o.anything() {
            steps.push(CapacityStep::UntagCapacity);
        }
        return steps;
    }
    if let Some(p) = &o.provider {
        let associated = o.cluster.as_ref().is_some_and(|c| c.providers.contains(&p.name));
        if associated {
            steps.push(CapacityStep::DisassociateProvider);
        }
        if !p.gone() {
            steps.push(CapacityStep::DeleteProvider);
        }
        if p.status != "INACTIVE" {
            steps.push(CapacityStep::AwaitProviderGone);
        }
    }
    if let Some(g) = &o.group {
        if !g.deleting {
            steps.push(CapacityStep::DeleteGroup);
        }
        steps.push(CapacityStep::AwaitGroupGone);
    }
    if o.template.is_some() {
        steps.push(CapacityStep::DeleteLaunchTemplate);
    }
    if let Some(p) = &o.profile {
        for role in &p.roles {
            steps.push(CapacityStep::RemoveRoleFromProfile { role: role.clone() });
        }
        steps.push(CapacityStep::DeleteInstanceProfile);
    }
    steps.extend(
        role::plan_cleanup(o.role.as_ref(), false)
            .into_iter()
            .map(CapacityStep::Role),
    );
    steps
}

impl crate::reconcile::Step for CapacityStep {
    fn action(&self) -> &'static str {
        CapacityStep::action(self)
    }
}

/// The EC2 capacity part.
pub struct Capacity;

impl Part for Capacity {
    type Step = CapacityStep;

    /// After the cluster and network it joins, before the services that run on it; a capacity the
    /// spec no longer has is deleted.
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<CapacityStep> {
        let tags = desired.tags_for("capacity");
        let cx = Context {
            owner: &desired.owner,
            tags: &tags,
            private_subnets: private_subnets(desired, observed),
            services_group: observed.group_id(SgRole::Services).map(String::from),
        };
        match &desired.capacity {
            Some(c) => plan(c, &observed.capacity, &cx),
            None => plan_cleanup(&observed.capacity, false),
        }
    }

    /// Early: its instances sit in the network; the services on it are gone already.
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<CapacityStep> {
        plan_cleanup(&observed.capacity, how.retain)
    }

    /// When the spec or status has it, and always on deletion.
    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        let wanted = cx.desired.and_then(|d| d.capacity.as_ref());
        let recorded = cx.ws.status.as_ref().is_some_and(|s| s.capacity.is_some());
        if cx.deleting || wanted.is_some() || recorded {
            let key = io::CapacityKey {
                name: &crate::model::capacity::capacity_name(cx.owner),
                instance_type: wanted.map(|c| c.instance_type.as_str()),
                deep: cx.deep,
                cluster: observed
                    .cluster
                    .as_ref()
                    .filter(|c| c.active)
                    .map(|c| c.capacity_providers.clone()),
            };
            observed.capacity = Box::pin(io::observe(cx.clients, &key, cx.owner, cx.deleting)).await?;
        }
        Ok(())
    }

    /// With the private subnets and the services group as known at this point.
    async fn apply(cx: &mut ApplyCx<'_>, step: &CapacityStep) -> Result<(), ApplyError> {
        let cluster = cx
            .desired
            .map(|d| d.cluster.name.clone())
            .or_else(|| cx.observed.cluster.as_ref().map(|c| c.name.clone()))
            .unwrap_or_default();
        let a = io::CapacityApply {
            clients: cx.clients,
            owner: cx.owner,
            desired: cx.desired.and_then(|d| d.capacity.as_ref()),
            observed: &cx.observed.capacity,
            tags: cx.tags("capacity"),
            subnets: cx.ids.private_subnets(cx.desired),
            security_group: cx.ids.groups.get(&SgRole::Services).cloned(),
            cluster,
        };
        Box::pin(io::apply(&a, step)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
