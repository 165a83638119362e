//! AWS smoke test: the real AWS SDK against the moto emulator — create a VPC and a target group
//! with ownership tags, and read both back.

use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, Tag, TargetTypeEnum};

use crate::harness::moto::Moto;

#[tokio::test]
async fn create_and_describe_a_target_group() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);

    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();

    let created = elbv2
        .create_target_group()
        .name("smoke-movies")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/actuator/health")
        .healthy_threshold_count(3)
        .unhealthy_threshold_count(3)
        .health_check_timeout_seconds(5)
        .health_check_interval_seconds(30)
        .tags(
            Tag::builder()
                .key("webstack.io/managed-by")
                .value("webstack-operator")
                .build(),
        )
        .send()
        .await
        .expect("CreateTargetGroup");
    let arn = created.target_groups()[0].target_group_arn().expect("arn").to_string();

    let described = elbv2
        .describe_target_groups()
        .target_group_arns(&arn)
        .send()
        .await
        .expect("DescribeTargetGroups");
    let tg = &described.target_groups()[0];
    assert_eq!(tg.target_group_name(), Some("smoke-movies"));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.protocol(), Some(&ProtocolEnum::Http));
    assert_eq!(tg.target_type(), Some(&TargetTypeEnum::Ip));
    assert_eq!(tg.vpc_id(), Some(vpc_id.as_str()));
    assert_eq!(tg.health_check_path(), Some("/actuator/health"));
    assert_eq!(tg.healthy_threshold_count(), Some(3));

    let tags = elbv2
        .describe_tags()
        .resource_arns(&arn)
        .send()
        .await
        .expect("DescribeTags");
    let tag = tags.tag_descriptions()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("webstack.io/managed-by"));
    assert_eq!(tag.and_then(|t| t.value()), Some("webstack-operator"));
}
