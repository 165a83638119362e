//! EC2 capacity left in AWS for a namespace: Auto Scaling groups, launch templates, capacity
//! providers (ACTIVE), IAM roles and instance profiles whose `webstack.io/owner` tag names it, and
//! instances tagged for it that are not terminated. (The tagging API lists none of the IAM ones.)

use std::collections::BTreeMap;

use aws_config::SdkConfig;

type Tags = BTreeMap<String, String>;

const OWNER: &str = "webstack.io/owner";

fn ours(tags: &Tags, ns: &str) -> bool {
    tags.get(OWNER).is_some_and(|o| o.starts_with(&format!("{ns}/")))
}

/// `kind id` of every capacity resource still tagged for `ns`.
pub async fn leftovers(config: &SdkConfig, ns: &str) -> Vec<String> {
    let mut left = Vec::new();
    let asg = aws_sdk_autoscaling::Client::new(config);
    for g in asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()
    {
        let tags: Tags = g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        if ours(&tags, ns) {
            left.push(format!(
                "Auto Scaling group {}",
                g.auto_scaling_group_name().unwrap_or_default()
            ));
        }
    }
    let ec2 = aws_sdk_ec2::Client::new(config);
    let ec2_tags = |tags: &[aws_sdk_ec2::types::Tag]| -> Tags {
        tags.iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect()
    };
    for t in ec2.describe_launch_templates().send().await.unwrap().launch_templates() {
        if ours(&ec2_tags(t.tags()), ns) {
            left.push(format!(
                "launch template {}",
                t.launch_template_name().unwrap_or_default()
            ));
        }
    }
    let out = ec2.describe_instances().send().await.unwrap();
    for i in out.reservations().iter().flat_map(|r| r.instances()) {
        let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string());
        if state.as_deref() != Some("terminated") && ours(&ec2_tags(i.tags()), ns) {
            left.push(format!("instance {}", i.instance_id().unwrap_or_default()));
        }
    }
    let ecs = aws_sdk_ecs::Client::new(config);
    let providers = ecs
        .describe_capacity_providers()
        .include(aws_sdk_ecs::types::CapacityProviderField::Tags)
        .send()
        .await
        .unwrap();
    for p in providers.capacity_providers() {
        let tags: Tags = p
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        let active = p.status() == Some(&aws_sdk_ecs::types::CapacityProviderStatus::Active);
        if active && ours(&tags, ns) {
            left.push(format!("capacity provider {}", p.name().unwrap_or_default()));
        }
    }
    let iam = aws_sdk_iam::Client::new(config);
    let iam_tags = |tags: &[aws_sdk_iam::types::Tag]| -> Tags {
        tags.iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    };
    for r in iam.list_roles().send().await.unwrap().roles() {
        let tags = iam.list_role_tags().role_name(r.role_name()).send().await.unwrap();
        if ours(&iam_tags(tags.tags()), ns) {
            left.push(format!("IAM role {}", r.role_name()));
        }
    }
    for p in iam.list_instance_profiles().send().await.unwrap().instance_profiles() {
        let name = p.instance_profile_name();
        // GetInstanceProfile carries the tags (the emulator has no ListInstanceProfileTags).
        let got = iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .unwrap();
        let tags = got.instance_profile().map(|p| iam_tags(p.tags())).unwrap_or_default();
        if ours(&tags, ns) {
            left.push(format!("instance profile {name}"));
        }
    }
    left
}
