//! Reference architecture 5's EC2 capacity read back through the SDK: the launch template (the
//! recommended ECS-optimized AMI from SSM, the instance type, the instance profile, the services
//! group, user data joining the cluster, IMDSv2), the Auto Scaling group (sizes, private subnets,
//! `$Latest`, tags propagated), the instance role and profile, the capacity provider (managed
//! scaling on that group) as the cluster's only provider, and the services on it.

use aws_config::SdkConfig;
use aws_smithy_types::base64;
use webstack_operator::api::WebStackStatus;

/// What `cluster.capacity` says.
pub struct Expected<'a> {
    pub cluster: &'a str,
    pub instance_type: &'a str,
    pub min: i32,
    pub max: i32,
    pub services: &'a [String],
}

/// Reads everything back and checks it against `e` and the stack's status; returns the capacity
/// resources' name.
pub async fn check(config: &SdkConfig, status: &WebStackStatus, e: &Expected<'_>) -> String {
    let cap = status.capacity.as_ref().expect("status.capacity");
    let name = cap.capacity_provider.clone().expect("status.capacity.capacityProvider");
    assert!(name.starts_with("webstack-"), "{name}");
    assert_eq!(cap.auto_scaling_group.as_deref(), Some(name.as_str()));

    let ssm = aws_sdk_ssm::Client::new(config);
    let ami = ssm
        .get_parameter()
        .name("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")
        .send()
        .await
        .unwrap()
        .parameter()
        .and_then(|p| p.value())
        .unwrap()
        .to_string();

    let ec2 = aws_sdk_ec2::Client::new(config);
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_name(&name)
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let data = versions.launch_template_versions()[0].launch_template_data().unwrap();
    assert_eq!(data.image_id(), Some(ami.as_str()));
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some(e.instance_type));
    assert_eq!(data.iam_instance_profile().and_then(|p| p.name()), Some(name.as_str()));
    let services_group = status
        .security_groups
        .as_ref()
        .and_then(|g| g.services.clone())
        .unwrap();
    assert_eq!(data.security_group_ids(), [services_group]);
    let user_data = String::from_utf8(base64::decode(data.user_data().unwrap()).unwrap()).unwrap();
    assert!(
        user_data.contains(&format!("ECS_CLUSTER={} >> /etc/ecs/ecs.config", e.cluster)),
        "{user_data}"
    );
    assert_eq!(
        data.metadata_options().and_then(|m| m.http_tokens()),
        Some(&aws_sdk_ec2::types::LaunchTemplateHttpTokensState::Required)
    );

    let asg = aws_sdk_autoscaling::Client::new(config);
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&name)
        .send()
        .await
        .unwrap();
    let g = &groups.auto_scaling_groups()[0];
    assert_eq!((g.min_size(), g.max_size()), (Some(e.min), Some(e.max)));
    let lt = g.launch_template().unwrap();
    assert_eq!(
        (lt.launch_template_name(), lt.version()),
        (Some(name.as_str()), Some("$Latest"))
    );
    let mut subnets: Vec<&str> = g.vpc_zone_identifier().unwrap().split(',').collect();
    subnets.sort();
    let mut private: Vec<&str> = status.private_subnet_ids.iter().map(String::as_str).collect();
    private.sort();
    assert_eq!(subnets, private, "the group is in the private subnets");
    let owner = g.tags().iter().find(|t| t.key() == Some("webstack.io/owner")).unwrap();
    assert_eq!(owner.propagate_at_launch(), Some(true));
    assert_eq!(g.new_instances_protected_from_scale_in(), Some(false));

    let iam = aws_sdk_iam::Client::new(config);
    let profile = iam
        .get_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await
        .unwrap();
    let roles: Vec<&str> = profile
        .instance_profile()
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name())
        .collect();
    assert_eq!(roles, [name.as_str()]);
    let role = iam.get_role().role_name(&name).send().await.unwrap();
    let trust = role.role().unwrap().assume_role_policy_document().unwrap_or_default();
    let trust = trust.replace("%22", "\"").replace("%3A", ":").replace("%2F", "/");
    assert!(trust.contains("ec2.amazonaws.com"), "{trust}");
    let policies = iam.list_attached_role_policies().role_name(&name).send().await.unwrap();
    let arns: Vec<&str> = policies
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    assert_eq!(
        arns,
        ["arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"]
    );

    let ecs = aws_sdk_ecs::Client::new(config);
    let providers = ecs
        .describe_capacity_providers()
        .capacity_providers(&name)
        .send()
        .await
        .unwrap();
    let p = &providers.capacity_providers()[0];
    let provider = p.auto_scaling_group_provider().unwrap();
    assert_eq!(provider.auto_scaling_group_arn(), g.auto_scaling_group_arn().unwrap());
    let scaling = provider.managed_scaling().unwrap();
    assert_eq!(
        scaling.status(),
        Some(&aws_sdk_ecs::types::ManagedScalingStatus::Enabled)
    );
    assert_eq!(scaling.target_capacity(), Some(100));

    let clusters = ecs.describe_clusters().clusters(e.cluster).send().await.unwrap();
    let c = &clusters.clusters()[0];
    assert_eq!(c.capacity_providers(), std::slice::from_ref(&name));
    let default: Vec<(&str, i32)> = c
        .default_capacity_provider_strategy()
        .iter()
        .map(|s| (s.capacity_provider(), s.weight()))
        .collect();
    assert_eq!(default, [(name.as_str(), 1)]);

    let described = ecs
        .describe_services()
        .cluster(e.cluster)
        .set_services(Some(e.services.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(described.services().len(), e.services.len());
    for s in described.services() {
        let strategy: Vec<(&str, i32)> = s
            .capacity_provider_strategy()
            .iter()
            .map(|i| (i.capacity_provider(), i.weight()))
            .collect();
        assert_eq!(strategy, [(name.as_str(), 1)], "{:?}", s.service_name());
        assert_eq!(
            s.launch_type(),
            None,
            "a strategy, no launch type: {:?}",
            s.service_name()
        );
    }
    name
}

/// Polls `read` every half second until it returns what is wanted, for up to `secs`.
async fn eventually<T, F, Fut>(what: &str, secs: u64, read: F, want: T) -> T
where
    T: PartialEq + std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let got = read().await;
        if got == want {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {got:?}, want {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The group's sizes changed by hand are put back by the next drift check.
pub async fn sizes_drift_corrected(config: &SdkConfig, name: &str, min: i32, max: i32) {
    let asg = aws_sdk_autoscaling::Client::new(config);
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(0)
        .max_size(9)
        .send()
        .await
        .unwrap();
    let sizes = || async {
        let out = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap();
        let g = &out.auto_scaling_groups()[0];
        (g.min_size(), g.max_size())
    };
    eventually("group sizes", 30, sizes, (Some(min), Some(max))).await;
}

/// The launch template's latest version has `instance_type` (a spec change is a new version).
pub async fn latest_instance_type(config: &SdkConfig, name: &str, instance_type: &str) {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let latest = || async {
        let out = ec2
            .describe_launch_template_versions()
            .launch_template_name(name)
            .versions("$Latest")
            .send()
            .await
            .unwrap();
        let v = &out.launch_template_versions()[0];
        v.launch_template_data()
            .and_then(|d| d.instance_type())
            .map(|t| t.as_str().to_string())
    };
    eventually("latest instance type", 30, latest, Some(instance_type.to_string())).await;
}
