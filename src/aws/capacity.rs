//! EC2 capacity besides the group and template: the instance profile (IAM; the instance role is
//! one of the stack's roles, `iam.rs`), the recommended ECS-optimized AMI (a public SSM parameter)
//! and the ECS capacity provider with the cluster's association. IAM's "not found" is
//! `NoSuchEntity`.

use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, AutoScalingGroupProviderUpdate, CapacityProviderField, CapacityProviderStrategyItem,
    ManagedDraining, ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection, Tag as EcsTag,
};

use super::iam::{NO_SUCH_ENTITY, absent, sdk_tags as iam_tags, tag_map as iam_tag_map};
use super::{AwsError, TagMap, classify, deleted, sdk_tags, tag_map};
use crate::model::capacity::{INSTANCE_ROLE, ObservedProfile, ObservedProvider};
use crate::model::role::ObservedRole;

type Iam = aws_sdk_iam::Client;
type Ecs = aws_sdk_ecs::Client;

/// The recommended AMI named by a public SSM parameter.
pub async fn image_id(c: &aws_sdk_ssm::Client, parameter: &str) -> Result<String, AwsError> {
    let out = c
        .get_parameter()
        .name(parameter)
        .send()
        .await
        .map_err(|e| classify("GetParameter", e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(String::from)
        .ok_or_else(|| AwsError::invalid_request("GetParameter", format!("{parameter} has no value")))
}

/// Creates the instance profile (tags in the call).
pub async fn create_profile(c: &Iam, name: &str, tags: &TagMap) -> Result<(), AwsError> {
    match c
        .create_instance_profile()
        .instance_profile_name(name)
        .set_tags(Some(iam_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("CreateInstanceProfile", e))
    {
        Err(e) if e.code == "EntityAlreadyExists" => Ok(()),
        other => other.map(drop),
    }
}

/// The instance profile named `name`: its roles (so, on a steady re-check, the role too) and tags.
pub async fn find_profile(c: &Iam, name: &str) -> Result<Option<(ObservedProfile, Option<ObservedRole>)>, AwsError> {
    let found = absent(
        c.get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .map_err(|e| classify("GetInstanceProfile", e)),
    )?;
    let Some(p) = found.as_ref().and_then(|o| o.instance_profile()) else {
        return Ok(None);
    };
    let role = p
        .roles()
        .iter()
        .find(|r| r.role_name() == name)
        .map(|r| ObservedRole::known(INSTANCE_ROLE, r.role_name(), r.arn()));
    let profile = ObservedProfile {
        name: p.instance_profile_name().into(),
        arn: p.arn().into(),
        roles: p.roles().iter().map(|r| r.role_name().to_string()).collect(),
        tags: iam_tag_map(p.tags()),
    };
    Ok(Some((profile, role)))
}

pub async fn add_role_to_profile(c: &Iam, profile: &str, role: &str) -> Result<(), AwsError> {
    match c
        .add_role_to_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await
        .map_err(|e| classify("AddRoleToInstanceProfile", e))
    {
        // Already in it (LimitExceeded: the profile holds one role, this one).
        Err(e) if e.code == "LimitExceeded" || e.code == "EntityAlreadyExists" => Ok(()),
        other => other.map(drop),
    }
}

pub async fn remove_role_from_profile(c: &Iam, profile: &str, role: &str) -> Result<(), AwsError> {
    deleted(
        "RemoveRoleFromInstanceProfile",
        c.remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await,
        &[NO_SUCH_ENTITY],
    )
}

pub async fn delete_profile(c: &Iam, name: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteInstanceProfile",
        c.delete_instance_profile().instance_profile_name(name).send().await,
        &[NO_SUCH_ENTITY],
    )
}

pub async fn tag_profile(c: &Iam, name: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_instance_profile()
        .instance_profile_name(name)
        .set_tags(Some(iam_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("TagInstanceProfile", e))?;
    Ok(())
}

/// Removes the ownership tags of the instance profile (`deletionPolicy: Retain`).
pub async fn untag_profile(c: &Iam, name: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.untag_instance_profile()
        .instance_profile_name(name)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("UntagInstanceProfile", e))?;
    Ok(())
}

fn managed_scaling(target: i32) -> ManagedScaling {
    ManagedScaling::builder()
        .status(ManagedScalingStatus::Enabled)
        .target_capacity(target)
        .build()
}

/// Creates the capacity provider on the group: managed scaling to `target` %, managed
/// termination protection off, managed draining on (tags in the call).
pub async fn create_provider(c: &Ecs, name: &str, group_arn: &str, target: i32, tags: &TagMap) -> Result<(), AwsError> {
    const OP: &str = "CreateCapacityProvider";
    let provider = AutoScalingGroupProvider::builder()
        .auto_scaling_group_arn(group_arn)
        .managed_scaling(managed_scaling(target))
        .managed_termination_protection(ManagedTerminationProtection::Disabled)
        .managed_draining(ManagedDraining::Enabled)
        .build()
        .map_err(|e| AwsError::invalid_request(OP, e))?;
    c.create_capacity_provider()
        .name(name)
        .auto_scaling_group_provider(provider)
        .set_tags(Some(sdk_tags!(EcsTag, tags)))
        .send()
        .await
        .map_err(|e| classify(OP, e))?;
    Ok(())
}

pub async fn update_provider(c: &Ecs, name: &str, target: i32) -> Result<(), AwsError> {
    c.update_capacity_provider()
        .name(name)
        .auto_scaling_group_provider(
            AutoScalingGroupProviderUpdate::builder()
                .managed_scaling(managed_scaling(target))
                .managed_termination_protection(ManagedTerminationProtection::Disabled)
                .managed_draining(ManagedDraining::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify("UpdateCapacityProvider", e))?;
    Ok(())
}

/// The capacity provider named `name` with its tags, if ECS knows it (INACTIVE ones included).
pub async fn find_provider(c: &Ecs, name: &str) -> Result<Option<ObservedProvider>, AwsError> {
    let out = c
        .describe_capacity_providers()
        .capacity_providers(name)
        .include(CapacityProviderField::Tags)
        .send()
        .await
        .map_err(|e| classify("DescribeCapacityProviders", e))?;
    Ok(out
        .capacity_providers()
        .iter()
        .find(|p| p.name() == Some(name))
        .map(|p| {
            let asg = p.auto_scaling_group_provider();
            let scaling = asg.and_then(|a| a.managed_scaling());
            ObservedProvider {
                name: name.into(),
                arn: p.capacity_provider_arn().unwrap_or_default().into(),
                status: p.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                update_status: p.update_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                group_arn: asg.map(|a| a.auto_scaling_group_arn().to_string()).unwrap_or_default(),
                managed_scaling: scaling.and_then(|s| s.status()) == Some(&ManagedScalingStatus::Enabled),
                target_capacity: scaling.and_then(|s| s.target_capacity()),
                managed_termination_protection: asg.and_then(|a| a.managed_termination_protection())
                    == Some(&ManagedTerminationProtection::Enabled),
                tags: tag_map!(p.tags()),
            }
        }))
}

/// Deletes the provider (AWS finishes asynchronously: `DELETE_IN_PROGRESS`, then `INACTIVE`).
pub async fn delete_provider(c: &Ecs, name: &str) -> Result<(), AwsError> {
    match c
        .delete_capacity_provider()
        .capacity_provider(name)
        .send()
        .await
        .map_err(|e| classify("DeleteCapacityProvider", e))
    {
        Err(e) if e.is_not_found() || e.message.contains("does not exist") => Ok(()),
        other => other.map(drop),
    }
}

/// Sets the cluster's capacity providers and default strategy to exactly `provider` (weight 1),
/// or to none. PutClusterCapacityProviders replaces both lists.
pub async fn put_cluster_providers(c: &Ecs, cluster: &str, provider: Option<&str>) -> Result<(), AwsError> {
    const OP: &str = "PutClusterCapacityProviders";
    let strategy = provider
        .map(|p| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(p)
                .weight(1)
                .build()
                .map_err(|e| AwsError::invalid_request(OP, e))
        })
        .transpose()?;
    c.put_cluster_capacity_providers()
        .cluster(cluster)
        .set_capacity_providers(Some(provider.into_iter().map(String::from).collect()))
        .set_default_capacity_provider_strategy(Some(strategy.into_iter().collect()))
        .send()
        .await
        .map_err(|e| classify(OP, e))?;
    Ok(())
}
