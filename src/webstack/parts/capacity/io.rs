//! EC2 capacity's I/O: observing the instance role and profile, the launch template, the Auto
//! Scaling group, the capacity provider and the recommended AMI, and applying [`CapacityStep`]s.
//!
//! A steady re-check makes 5 calls (GetParameter for the AMI, GetInstanceProfile, which also
//! proves the role, DescribeLaunchTemplateVersions, DescribeAutoScalingGroups,
//! DescribeCapacityProviders; the cluster's association comes with its DescribeClusters); on spec
//! changes, until Ready and on deletion, also GetRole, ListAttachedRolePolicies and
//! DescribeLaunchTemplates (tags). IAM is eventually consistent: a profile just created may be
//! refused for a few seconds by EC2 and Auto Scaling, which is a wait, not an error.

use super::{CapacityStep, Resource};
use crate::aws::autoscaling::{self as asg, GroupSpec};
use crate::aws::{AwsError, Clients, capacity as cap, ec2, ecs, iam, token};
use crate::model::capacity::{
    ClusterProviders, DesiredCapacity, INSTANCE_ROLE, ObservedCapacity, TARGET_CAPACITY, ami_parameter,
};
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::role::RoleChange;
use crate::model::{Owner, TagMap};
use crate::reconcile::Blocked;

/// Where the capacity is read from.
pub struct CapacityKey<'a> {
    pub name: &'a str,
    /// The AMI parameter to read (the capacity is wanted), `None` otherwise.
    pub instance_type: Option<&'a str>,
    /// Also read the role (tags, policies) and the template's tags.
    pub deep: bool,
    /// The cluster's association, read with the cluster (`None`: no cluster).
    pub cluster: Option<ClusterProviders>,
}

/// Observes the capacity. With `deleting`, what is someone else's is left out instead of stopping.
pub async fn observe(
    c: &Clients,
    key: &CapacityKey<'_>,
    owner: &Owner,
    deleting: bool,
) -> Result<ObservedCapacity, Blocked> {
    let keep = |what: &'static str, id: &str, tags: &TagMap| -> Result<bool, Blocked> {
        Ok(owner.keep_named(what, id, tags, deleting)?)
    };
    let name = key.name;
    let mut o = ObservedCapacity {
        name: name.into(),
        cluster: key.cluster.clone(),
        deep: key.deep,
        ..ObservedCapacity::default()
    };
    if let Some(t) = key.instance_type {
        o.image_id = Some(cap::image_id(&c.ssm, ami_parameter(t)).await?);
    }
    let (profile, role) = match cap::find_profile(&c.iam, name).await? {
        Some((p, r)) => (Some(p), r),
        None => (None, None),
    };
    o.profile = match profile {
        Some(p) if !keep("instance profile", &p.arn, &p.tags)? => None,
        other => other,
    };
    o.role = if key.deep || role.is_none() {
        iam::read_role(&c.iam, INSTANCE_ROLE, name).await?
    } else {
        role
    };
    o.role = match o.role.take() {
        Some(r) if !keep("IAM role", &r.arn, r.tags_read())? => None,
        other => other,
    };
    o.template = match asg::find_template(&c.ec2, name, key.deep).await? {
        Some(t) if !keep("launch template", &t.id, &t.tags)? => None,
        other => other,
    };
    o.group = match asg::find_group(&c.autoscaling, name).await? {
        Some(g) if !keep("Auto Scaling group", &g.arn, &g.tags)? => None,
        other => other,
    };
    o.provider = match cap::find_provider(&c.ecs, name).await? {
        Some(p) if !keep("capacity provider", &p.arn, &p.tags)? => None,
        other => other,
    };
    Ok(o)
}

/// What applying capacity steps needs besides the step.
pub struct CapacityApply<'a> {
    pub clients: &'a Clients,
    pub owner: &'a Owner,
    pub desired: Option<&'a DesiredCapacity>,
    pub observed: &'a ObservedCapacity,
    pub tags: TagMap,
    /// The private subnets and the services group, as known at this point of the apply.
    pub subnets: Vec<String>,
    pub security_group: Option<String>,
    /// The cluster's name (its association).
    pub cluster: String,
}

fn need<'a, T>(v: Option<&'a T>, what: &str) -> Result<&'a T, Blocked> {
    v.ok_or_else(|| Blocked::waiting(format!("{what} is not known yet")))
}

/// IAM is eventually consistent: an instance profile or role just created may be unknown to EC2
/// and Auto Scaling for a few seconds. That is a wait (retried soon), not an error.
fn iam_propagating(e: AwsError) -> Blocked {
    let m = e.message.to_ascii_lowercase();
    let about_iam = m.contains("instance profile") || m.contains("iaminstanceprofile") || m.contains("role");
    if about_iam
        && matches!(
            e.code.as_str(),
            "ValidationError" | "InvalidParameterValue" | "InvalidParameterException"
        )
    {
        Blocked::waiting(format!(
            "the instance profile is not visible to EC2 yet (IAM is eventually consistent): {}",
            e.message
        ))
    } else {
        e.into()
    }
}

fn group_spec<'a>(a: &'a CapacityApply<'_>, d: &DesiredCapacity) -> GroupSpec<'a> {
    GroupSpec {
        name: &a.observed.name,
        template: &a.observed.name,
        min_size: d.min_size,
        max_size: d.max_size,
        subnets: &a.subnets,
    }
}

/// Runs one capacity step.
pub async fn apply(a: &CapacityApply<'_>, step: &CapacityStep) -> Result<(), Blocked> {
    let (c, o) = (a.clients, a.observed);
    let name = o.name.as_str();
    let d = || need(a.desired, "the capacity spec");
    match step {
        CapacityStep::Role(step) => {
            let want = a.desired.map(|d| d.instance_role(a.owner, a.tags.clone()));
            match iam::apply_role(&c.iam, want.as_ref(), step).await {
                // A retry after a lost response: observe checks ownership on the next pass.
                Err(e) if step.change == RoleChange::Create && e.code == "EntityAlreadyExists" => {}
                other => {
                    other?;
                }
            }
        }
        CapacityStep::CreateInstanceProfile => cap::create_profile(&c.iam, name, &a.tags).await?,
        CapacityStep::RemoveRoleFromProfile { role } => cap::remove_role_from_profile(&c.iam, name, role).await?,
        CapacityStep::AddRoleToProfile => cap::add_role_to_profile(&c.iam, name, name).await?,
        CapacityStep::CreateLaunchTemplate | CapacityStep::CreateLaunchTemplateVersion { .. } => {
            let d = d()?;
            // The AMI as observed; read here when observe could not (not expected).
            let image = match &o.image_id {
                Some(i) => i.clone(),
                None => cap::image_id(&c.ssm, ami_parameter(&d.instance_type)).await?,
            };
            let group = need(a.security_group.as_ref(), "the services security group")?;
            let data = d.template(&image, group);
            if matches!(step, CapacityStep::CreateLaunchTemplate) {
                asg::create_template(&c.ec2, name, &data, &a.tags, &token())
                    .await
                    .map_err(iam_propagating)?;
            } else {
                asg::create_template_version(&c.ec2, name, &data, &a.tags, &token())
                    .await
                    .map_err(iam_propagating)?;
            }
        }
        CapacityStep::CreateGroup => {
            if a.subnets.is_empty() {
                return Err(Blocked::waiting("the private subnets are not known yet"));
            }
            asg::create_group(&c.autoscaling, &group_spec(a, d()?), &a.tags)
                .await
                .map_err(iam_propagating)?
        }
        CapacityStep::UpdateGroup { .. } => asg::update_group(&c.autoscaling, &group_spec(a, d()?))
            .await
            .map_err(iam_propagating)?,
        CapacityStep::CreateProvider => {
            // The group's ARN: observed, else read back after its creation in this pass.
            let arn = match o.group.as_ref().filter(|g| !g.deleting) {
                Some(g) => g.arn.clone(),
                None => need(
                    asg::find_group(&c.autoscaling, name).await?.as_ref(),
                    "the Auto Scaling group",
                )?
                .arn
                .clone(),
            };
            cap::create_provider(&c.ecs, name, &arn, TARGET_CAPACITY, &a.tags).await?
        }
        CapacityStep::UpdateProvider => cap::update_provider(&c.ecs, name, TARGET_CAPACITY).await?,
        CapacityStep::AssociateProvider => cap::put_cluster_providers(&c.ecs, &a.cluster, Some(name)).await?,
        CapacityStep::RestoreTags { resource } => restore_tags(a, *resource).await?,
        CapacityStep::DisassociateProvider => cap::put_cluster_providers(&c.ecs, &a.cluster, None).await?,
        CapacityStep::DeleteProvider => cap::delete_provider(&c.ecs, name).await?,
        CapacityStep::AwaitProviderGone => {
            return Err(Blocked::waiting(format!("capacity provider {name} is being deleted")));
        }
        CapacityStep::DeleteGroup => asg::delete_group(&c.autoscaling, name).await?,
        CapacityStep::AwaitGroupGone => {
            return Err(Blocked::waiting(format!(
                "Auto Scaling group {name} is being deleted (its instances are terminated first)"
            )));
        }
        CapacityStep::DeleteLaunchTemplate => asg::delete_template(&c.ec2, name).await?,
        CapacityStep::DeleteInstanceProfile => cap::delete_profile(&c.iam, name).await?,
        CapacityStep::UntagCapacity => untag(a).await?,
    }
    Ok(())
}

/// Puts back the tags of one resource (those missing or changed).
async fn restore_tags(a: &CapacityApply<'_>, resource: Resource) -> Result<(), AwsError> {
    let (c, o) = (a.clients, a.observed);
    let name = o.name.as_str();
    let have = match resource {
        Resource::Profile => o.profile.as_ref().map(|p| p.tags.clone()),
        Resource::Template => o.template.as_ref().map(|t| t.tags.clone()),
        Resource::Group => o.group.as_ref().map(|g| g.tags.clone()),
        Resource::Provider => o.provider.as_ref().map(|p| p.tags.clone()),
    }
    .unwrap_or_default();
    // The group's tags are all rewritten: one that no longer propagates is fixed too.
    let tags = if resource == Resource::Group {
        a.tags.clone()
    } else {
        select(&a.tags, &crate::model::ownership::missing_tags(&a.tags, &have))
    };
    match resource {
        Resource::Profile => cap::tag_profile(&c.iam, name, &tags).await,
        Resource::Template => match &o.template {
            Some(t) => ec2::tag(&c.ec2, &t.id, &tags).await,
            None => Ok(()),
        },
        Resource::Group => asg::tag_group(&c.autoscaling, name, &tags).await,
        Resource::Provider => match &o.provider {
            Some(p) => ecs::tag(&c.ecs, &p.arn, &tags).await,
            None => Ok(()),
        },
    }
}

/// `Retain`: removes the ownership tags of whatever of the capacity was observed (all of it is
/// ours: observe leaves out what is not). The instances keep theirs (they were tagged at launch).
async fn untag(a: &CapacityApply<'_>) -> Result<(), AwsError> {
    let (c, o, keys) = (a.clients, a.observed, &OWNERSHIP_KEYS);
    let name = o.name.as_str();
    if o.role.is_some() {
        iam::untag_role(&c.iam, name).await?;
    }
    if o.profile.is_some() {
        cap::untag_profile(&c.iam, name, keys).await?;
    }
    if let Some(t) = &o.template {
        ec2::untag(&c.ec2, std::slice::from_ref(&t.id), keys).await?;
    }
    if o.group.is_some() {
        asg::untag_group(&c.autoscaling, name, keys).await?;
    }
    if let Some(p) = o.provider.as_ref().filter(|p| !p.gone()) {
        ecs::untag(&c.ecs, &p.arn, keys).await?;
    }
    Ok(())
}
