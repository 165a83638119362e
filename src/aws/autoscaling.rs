//! EC2 Auto Scaling and EC2 launch templates: a stack's container instances (found by the
//! capacity name; the template's data read back in the form the planner compares).

use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag as Ec2Tag, TagSpecification,
};
use aws_smithy_types::base64;

use super::{AwsError, TagMap, classify, deleted, sdk_tags, tag_map};
use crate::model::capacity::{ObservedGroup, ObservedTemplate, TemplateData};

type Asg = aws_sdk_autoscaling::Client;
type Ec2 = aws_sdk_ec2::Client;

/// Launch template data as sent: instances and their volumes are tagged like the template.
fn template_data(t: &TemplateData, tags: &TagMap) -> RequestLaunchTemplateData {
    RequestLaunchTemplateData::builder()
        .image_id(&t.image_id)
        .instance_type(InstanceType::from(t.instance_type.as_str()))
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(&t.instance_profile)
                .build(),
        )
        .set_security_group_ids(Some(t.security_groups.clone()))
        .user_data(base64::encode(&t.user_data))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_tokens(if t.imdsv2_required {
                    LaunchTemplateHttpTokensState::Required
                } else {
                    LaunchTemplateHttpTokensState::Optional
                })
                .build(),
        )
        .set_tag_specifications(Some(
            [ResourceType::Instance, ResourceType::Volume]
                .into_iter()
                .map(|r| {
                    LaunchTemplateTagSpecificationRequest::builder()
                        .resource_type(r)
                        .set_tags(Some(sdk_tags!(Ec2Tag, tags)))
                        .build()
                })
                .collect(),
        ))
        .build()
}

/// Creates the launch template (tags in the call) with its first version; returns its id.
pub async fn create_template(
    c: &Ec2,
    name: &str,
    t: &TemplateData,
    tags: &TagMap,
    token: &str,
) -> Result<String, AwsError> {
    let out = c
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(template_data(t, tags))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::LaunchTemplate)
                .set_tags(Some(sdk_tags!(Ec2Tag, tags)))
                .build(),
        )
        .client_token(token)
        .send()
        .await
        .map_err(|e| classify("CreateLaunchTemplate", e))?;
    Ok(out
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .unwrap_or_default()
        .into())
}

/// A new version with the whole of `t` (the group follows `$Latest`).
pub async fn create_template_version(
    c: &Ec2,
    name: &str,
    t: &TemplateData,
    tags: &TagMap,
    token: &str,
) -> Result<(), AwsError> {
    c.create_launch_template_version()
        .launch_template_name(name)
        .launch_template_data(template_data(t, tags))
        .client_token(token)
        .send()
        .await
        .map_err(|e| classify("CreateLaunchTemplateVersion", e))?;
    Ok(())
}

/// The template named `name` with its latest version; with `tags`, its tags too (one more call).
pub async fn find_template(c: &Ec2, name: &str, tags: bool) -> Result<Option<ObservedTemplate>, AwsError> {
    let out = match c
        .describe_launch_template_versions()
        .launch_template_name(name)
        .versions("$Latest")
        .send()
        .await
        .map_err(|e| classify("DescribeLaunchTemplateVersions", e))
    {
        Err(e) if e.is_not_found() => return Ok(None),
        other => other?,
    };
    let Some(v) = out.launch_template_versions().first() else {
        return Ok(None);
    };
    let data = v.launch_template_data();
    let user_data = data
        .and_then(|d| d.user_data())
        .and_then(|u| base64::decode(u).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut groups = data.map(|d| d.security_group_ids().to_vec()).unwrap_or_default();
    groups.sort();
    let mut found = ObservedTemplate {
        id: v.launch_template_id().unwrap_or_default().into(),
        name: v.launch_template_name().unwrap_or(name).into(),
        latest_version: v.version_number().unwrap_or_default(),
        tags: TagMap::new(),
        latest: TemplateData {
            image_id: data.and_then(|d| d.image_id()).unwrap_or_default().into(),
            instance_type: data
                .and_then(|d| d.instance_type())
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            instance_profile: data
                .and_then(|d| d.iam_instance_profile())
                .and_then(|p| p.name())
                .unwrap_or_default()
                .into(),
            security_groups: groups,
            user_data,
            imdsv2_required: data.and_then(|d| d.metadata_options()).and_then(|m| m.http_tokens())
                == Some(&aws_sdk_ec2::types::LaunchTemplateHttpTokensState::Required),
        },
    };
    if tags {
        let out = c
            .describe_launch_templates()
            .launch_template_names(name)
            .send()
            .await
            .map_err(|e| classify("DescribeLaunchTemplates", e))?;
        if let Some(t) = out.launch_templates().first() {
            found.tags = tag_map!(t.tags());
        }
    }
    Ok(Some(found))
}

pub async fn delete_template(c: &Ec2, name: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteLaunchTemplate",
        c.delete_launch_template().launch_template_name(name).send().await,
        &[],
    )
}

/// The group's tags, each propagated to the instances it launches.
fn group_tags(name: &str, tags: &TagMap) -> Vec<AsgTag> {
    tags.iter()
        .map(|(k, v)| {
            AsgTag::builder()
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .build()
        })
        .collect()
}

fn latest(template: &str) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_name(template)
        .version(crate::model::capacity::LATEST)
        .build()
}

/// Sizes and placement of a group.
pub struct GroupSpec<'a> {
    pub name: &'a str,
    pub template: &'a str,
    pub min_size: i32,
    pub max_size: i32,
    pub subnets: &'a [String],
}

/// Creates the group on the template's `$Latest` version in `subnets` (tags in the call). Instances
/// are not protected from scale-in: ECS managed draining empties them before they go.
pub async fn create_group(c: &Asg, g: &GroupSpec<'_>, tags: &TagMap) -> Result<(), AwsError> {
    c.create_auto_scaling_group()
        .auto_scaling_group_name(g.name)
        .launch_template(latest(g.template))
        .min_size(g.min_size)
        .max_size(g.max_size)
        .vpc_zone_identifier(g.subnets.join(","))
        .new_instances_protected_from_scale_in(false)
        .set_tags(Some(group_tags(g.name, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateAutoScalingGroup", e))?;
    Ok(())
}

/// Sets sizes, subnets and the template (the desired capacity is managed scaling's).
pub async fn update_group(c: &Asg, g: &GroupSpec<'_>) -> Result<(), AwsError> {
    c.update_auto_scaling_group()
        .auto_scaling_group_name(g.name)
        .launch_template(latest(g.template))
        .min_size(g.min_size)
        .max_size(g.max_size)
        .set_vpc_zone_identifier((!g.subnets.is_empty()).then(|| g.subnets.join(",")))
        .send()
        .await
        .map_err(|e| classify("UpdateAutoScalingGroup", e))?;
    Ok(())
}

/// The group named `name`, if it exists.
pub async fn find_group(c: &Asg, name: &str) -> Result<Option<ObservedGroup>, AwsError> {
    let out = c
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| classify("DescribeAutoScalingGroups", e))?;
    Ok(out.auto_scaling_groups().first().map(|g| {
        let mut subnets: Vec<String> = g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        subnets.sort();
        let tags: TagMap = g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        ObservedGroup {
            name: g.auto_scaling_group_name().unwrap_or(name).into(),
            arn: g.auto_scaling_group_arn().unwrap_or_default().into(),
            min_size: g.min_size().unwrap_or_default(),
            max_size: g.max_size().unwrap_or_default(),
            desired_capacity: g.desired_capacity().unwrap_or_default(),
            launch_template: g.launch_template().map(|t| {
                (
                    t.launch_template_name().unwrap_or_default().to_string(),
                    t.version().unwrap_or("$Default").to_string(),
                )
            }),
            subnets,
            propagated: g
                .tags()
                .iter()
                .filter(|t| t.propagate_at_launch() == Some(true))
                .filter_map(|t| t.key().map(String::from))
                .collect(),
            tags,
            deleting: g.status().is_some_and(|s| s.starts_with("Delete")),
            instances: i32::try_from(g.instances().len()).unwrap_or(i32::MAX),
        }
    }))
}

/// Adds or overwrites tags (propagated at launch).
pub async fn tag_group(c: &Asg, name: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.create_or_update_tags()
        .set_tags(Some(group_tags(name, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateOrUpdateTags", e))?;
    Ok(())
}

/// Removes the ownership tags (`deletionPolicy: Retain`).
pub async fn untag_group(c: &Asg, name: &str, keys: &[&str]) -> Result<(), AwsError> {
    let tags = keys
        .iter()
        .map(|k| {
            AsgTag::builder()
                .key(*k)
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .build()
        })
        .collect();
    c.delete_tags()
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| classify("DeleteTags", e))?;
    Ok(())
}

/// Deletes the group and terminates its instances (AWS finishes asynchronously).
pub async fn delete_group(c: &Asg, name: &str) -> Result<(), AwsError> {
    // "AutoScalingGroup name not found" is a ValidationError; a deletion in progress is done.
    match c
        .delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
        .map_err(|e| classify("DeleteAutoScalingGroup", e))
    {
        Err(e) if e.message.contains("not found") || e.code == "ScalingActivityInProgress" => Ok(()),
        other => other.map(drop),
    }
}
