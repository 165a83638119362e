//! A stack's EC2 capacity in domain terms: the instance role and profile, the launch template, the
//! Auto Scaling group and the ECS capacity provider it should have (`cluster.capacity`), and what
//! AWS holds of them. Pure data, no I/O.

use serde_json::{Value, json};

use super::ownership::{Owner, TagMap};
use super::role::{self, ObservedRole, RoleKind};

/// The group's launch template version: always the latest.
pub const LATEST: &str = "$Latest";

/// ECS managed scaling's target: instances as busy as the tasks placed on them need.
pub const TARGET_CAPACITY: i32 = 100;

/// The public SSM parameter naming the recommended ECS-optimized Amazon Linux 2023 AMI (x86_64).
pub const AMI_PARAMETER: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

/// The same for Graviton (arm64) instances.
pub const AMI_PARAMETER_ARM64: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id";

/// The AMI parameter for an instance type: arm64 for Graviton families, whose attribute letters
/// after the generation include `g` (`t4g`, `m7g`, `c6gn`, `r8gd`, `g5g`; not `g5`, `m7i`).
pub fn ami_parameter(instance_type: &str) -> &'static str {
    let family = instance_type.split('.').next().unwrap_or_default();
    let attributes = family.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let attributes = attributes.trim_start_matches(|c: char| c.is_ascii_digit());
    let attributes = attributes.split('-').next().unwrap_or_default();
    if attributes.contains('g') {
        AMI_PARAMETER_ARM64
    } else {
        AMI_PARAMETER
    }
}

/// The AWS managed policy container instances need (register with ECS, pull from ECR, send logs).
pub const INSTANCE_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role";

/// The instance role: [`INSTANCE_POLICY`] attached, no inline policy.
pub const INSTANCE_ROLE: RoleKind = RoleKind {
    noun: "EC2 instance role",
    inline_policy: None,
    managed_policies: true,
};

/// Who may assume the instance role: EC2 instances.
pub fn instance_trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The one name of every capacity resource of a stack (role, instance profile, launch template,
/// Auto Scaling group, capacity provider): `webstack-ec2-<namespace>-<name>-<uid8>`, at most 64
/// characters (IAM role names). It starts with `webstack-`, the prefix the operator's IAM policy
/// allows `iam:PassRole` for, and never with `aws`, `ecs` or `fargate` (refused for capacity
/// providers).
pub fn capacity_name(owner: &Owner) -> String {
    owner.aws_name("webstack-ec2", 64)
}

/// The EC2 capacity a stack should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCapacity {
    /// [`capacity_name`].
    pub name: String,
    pub instance_type: String,
    pub min_size: i32,
    pub max_size: i32,
    /// The ECS cluster the instances join.
    pub cluster: String,
}

impl DesiredCapacity {
    /// The user data that makes an instance join the cluster (plain text; base64 at the boundary).
    pub fn user_data(&self) -> String {
        format!(
            "#!/bin/bash\necho ECS_CLUSTER={} >> /etc/ecs/ecs.config\n",
            self.cluster
        )
    }

    /// The instance role of `owner`'s capacity: [`instance_trust_policy`], [`INSTANCE_POLICY`],
    /// `tags`.
    pub fn instance_role(&self, owner: &Owner, tags: TagMap) -> role::DesiredRole {
        role::DesiredRole {
            kind: INSTANCE_ROLE,
            name: self.name.clone(),
            description: format!("webstack {}/{}: ECS container instances", owner.namespace, owner.name),
            trust: instance_trust_policy(),
            policy: None,
            managed: vec![INSTANCE_POLICY.into()],
            tags,
        }
    }

    /// The launch template data wanted, with the AMI found and the services security group.
    pub fn template(&self, image_id: &str, security_group: &str) -> TemplateData {
        TemplateData {
            image_id: image_id.into(),
            instance_type: self.instance_type.clone(),
            instance_profile: self.name.clone(),
            security_groups: vec![security_group.into()],
            user_data: self.user_data(),
            imdsv2_required: true,
        }
    }
}

/// The fields of a launch template version the operator sets (compared to decide on a new version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateData {
    pub image_id: String,
    pub instance_type: String,
    /// Instance profile name.
    pub instance_profile: String,
    /// Sorted.
    pub security_groups: Vec<String>,
    /// Decoded.
    pub user_data: String,
    /// `MetadataOptions.HttpTokens: required`.
    pub imdsv2_required: bool,
}

impl TemplateData {
    /// What differs from `want`, by name (for the step's description).
    pub fn changes(&self, want: &TemplateData) -> Vec<&'static str> {
        [
            ("AMI", self.image_id != want.image_id),
            ("instance type", self.instance_type != want.instance_type),
            ("instance profile", self.instance_profile != want.instance_profile),
            ("security groups", self.security_groups != want.security_groups),
            ("user data", self.user_data != want.user_data),
            ("IMDSv2", self.imdsv2_required != want.imdsv2_required),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
    }
}

/// The instance profile as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedProfile {
    pub name: String,
    pub arn: String,
    /// Names of the roles in it.
    pub roles: Vec<String>,
    pub tags: TagMap,
}

/// The launch template as found, with its latest version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTemplate {
    pub id: String,
    pub name: String,
    pub latest_version: i64,
    /// Empty when not read (steady re-checks read the latest version only).
    pub tags: TagMap,
    pub latest: TemplateData,
}

/// The Auto Scaling group as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedGroup {
    pub name: String,
    pub arn: String,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    /// Launch template name and version (`$Latest`, `$Default` or a number).
    pub launch_template: Option<(String, String)>,
    /// Sorted.
    pub subnets: Vec<String>,
    /// Tags and whether each propagates to instances at launch.
    pub tags: TagMap,
    pub propagated: Vec<String>,
    /// `Delete in progress` (AWS deletes a group asynchronously, terminating its instances first).
    pub deleting: bool,
    pub instances: i32,
}

/// The capacity provider as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedProvider {
    pub name: String,
    pub arn: String,
    /// `ACTIVE` or `INACTIVE` (deleted, still listed for a while).
    pub status: String,
    /// `DELETE_IN_PROGRESS`, `UPDATE_COMPLETE`, ...
    pub update_status: String,
    pub group_arn: String,
    pub managed_scaling: bool,
    pub target_capacity: Option<i32>,
    pub managed_termination_protection: bool,
    pub tags: TagMap,
}

impl ObservedProvider {
    /// Deleted or being deleted: gone for every purpose but waiting.
    pub fn gone(&self) -> bool {
        self.status == "INACTIVE" || self.update_status == "DELETE_IN_PROGRESS"
    }
}

/// How the ECS cluster uses capacity providers (from DescribeClusters, read with the cluster).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterProviders {
    pub providers: Vec<String>,
    /// The default strategy's providers and weights.
    pub default_strategy: Vec<(String, i32)>,
}

/// The stack's capacity resources as found (by the deterministic name; ownership by tags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedCapacity {
    /// [`capacity_name`] (also set when nothing was found).
    pub name: String,
    /// The recommended AMI from [`AMI_PARAMETER`], when read.
    pub image_id: Option<String>,
    /// The instance role; a steady re-check knows it from its instance profile only
    /// ([`ObservedRole::known`]).
    pub role: Option<ObservedRole>,
    pub profile: Option<ObservedProfile>,
    pub template: Option<ObservedTemplate>,
    pub group: Option<ObservedGroup>,
    pub provider: Option<ObservedProvider>,
    /// The cluster's association, `None` when the cluster does not exist.
    pub cluster: Option<ClusterProviders>,
    /// The role's tags and policies, the profile's tags and the template's tags were read
    /// (on spec changes and until Ready; steady re-checks read less).
    pub deep: bool,
}

impl ObservedCapacity {
    /// Whether anything of the capacity exists.
    pub fn anything(&self) -> bool {
        self.role.is_some()
            || self.profile.is_some()
            || self.template.is_some()
            || self.group.is_some()
            || self.provider.as_ref().is_some_and(|p| !p.gone())
    }

    /// The provider's name when it is the cluster's: ECS services may use it.
    pub fn usable_provider(&self) -> Option<&str> {
        let p = self.provider.as_ref().filter(|p| !p.gone())?;
        let c = self.cluster.as_ref()?;
        c.providers.contains(&p.name).then_some(p.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_start_with_the_pass_role_prefix_and_fit_iam() {
        let o = Owner {
            cluster_id: "c".into(),
            namespace: "a-rather-long-namespace-for-the-movies-team".into(),
            kind: "WebStack",
            name: "netflux-production-stack".into(),
            uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        };
        let n = capacity_name(&o);
        assert!(n.starts_with("webstack-ec2-"), "{n}");
        assert!(n.len() <= 64, "{n}");
        assert!(n.ends_with("-0f1e2d3c"), "{n}");
    }

    #[test]
    fn graviton_types_get_the_arm64_ami() {
        for t in [
            "t4g.small",
            "m7g.large",
            "c6gn.xlarge",
            "r8gd.2xlarge",
            "g5g.xlarge",
            "hpc7g.4xlarge",
        ] {
            assert_eq!(ami_parameter(t), AMI_PARAMETER_ARM64, "{t}");
        }
        for t in [
            "t3.small",
            "m7i.large",
            "m7i-flex.large",
            "g5.xlarge",
            "c5n.large",
            "inf2.xlarge",
        ] {
            assert_eq!(ami_parameter(t), AMI_PARAMETER, "{t}");
        }
    }

    #[test]
    fn user_data_joins_the_cluster() {
        let d = DesiredCapacity {
            name: "n".into(),
            instance_type: "t3.small".into(),
            min_size: 1,
            max_size: 4,
            cluster: "forum".into(),
        };
        assert_eq!(
            d.user_data(),
            "#!/bin/bash\necho ECS_CLUSTER=forum >> /etc/ecs/ecs.config\n"
        );
        let t = d.template("ami-1", "sg-1");
        assert!(t.imdsv2_required);
        assert_eq!(t.instance_profile, "n");
        assert!(t.changes(&t).is_empty());
        let other = TemplateData {
            instance_type: "t3.large".into(),
            image_id: "ami-2".into(),
            ..t.clone()
        };
        assert_eq!(t.changes(&other), vec!["AMI", "instance type"]);
    }
}
