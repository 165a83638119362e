//! VPC flow logs end to end (`network.flowLogs`), as a user drives them: a created VPC's flow log
//! with its log group and delivery role, read back through the SDK; a traffic-type and retention
//! change; flow logs on an adopted VPC (the VPC itself untouched); disabling (the history stays);
//! deletion leaves nothing.

use aws_sdk_ec2::types::Filter;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::WebStack;

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;

fn ready_at(ws: &WebStack, generation: i64) -> bool {
    let st = ws.status.as_ref();
    st.and_then(|s| s.observed_generation) == Some(generation)
        && st.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn stack(name: &str, network: &str) -> serde_json::Value {
    let yaml = format!(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {{name: {name}}}\nspec:\n  network: {network}\n"
    );
    serde_yaml::from_str(&yaml).unwrap()
}

/// The flow logs of `vpc` as AWS has them: `(id, traffic type, log group, role ARN)`.
async fn flow_logs_of(ec2: &aws_sdk_ec2::Client, vpc: &str) -> Vec<(String, String, String, String)> {
    let out = ec2
        .describe_flow_logs()
        .filter(Filter::builder().name("resource-id").values(vpc).build())
        .send()
        .await
        .unwrap();
    out.flow_logs()
        .iter()
        .map(|l| {
            (
                l.flow_log_id().unwrap_or_default().to_string(),
                l.traffic_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                l.log_group_name().unwrap_or_default().to_string(),
                l.deliver_logs_permission_arn().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `(retention days, tags)` of the log group `name`, if it exists.
async fn log_group(
    logs: &aws_sdk_cloudwatchlogs::Client,
    name: &str,
) -> Option<(Option<i32>, std::collections::HashMap<String, String>)> {
    let out = logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .unwrap();
    let g = out.log_groups().iter().find(|g| g.log_group_name() == Some(name))?;
    let arn = g.arn().unwrap_or_default().trim_end_matches(":*").to_string();
    let tags = logs.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    Some((g.retention_in_days(), tags.tags().cloned().unwrap_or_default()))
}

#[tokio::test]
async fn flow_logs_of_created_and_adopted_vpcs() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-flowlogs").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let op = Operator::start(&moto, &ns, "3s");
    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let ssa = PatchParams::apply("e2e-user");
    let wait = |name: &'static str, what: &'static str, generation: i64| {
        let (api, op) = (api.clone(), &op);
        async move { crate::harness::wait::until(&api, name, op, what, 120, move |ws| ready_at(ws, generation)).await }
    };

    // A created VPC with flow logs of rejected traffic, kept 14 days.
    let mut manifest = stack(
        "logged",
        "{cidr: 10.1.0.0/16, flowLogs: {enabled: true, retentionDays: 14, trafficType: REJECT}}",
    );
    api.patch("logged", &ssa, &Patch::Apply(&manifest)).await.unwrap();
    let ws = wait("logged", "Ready with flow logs", 1).await;
    let uid = ws.uid().unwrap();
    let st = ws.status.clone().unwrap();
    let vpc = st.vpc_id.clone().unwrap();
    let status = st.flow_logs.clone().expect("status.flowLogs");
    let group = status.log_group.clone().unwrap();
    assert!(group.starts_with(&format!("/webstack/{ns}/logged-")), "{group}");
    let found = flow_logs_of(&ec2, &vpc).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let (id, traffic, to, role_arn) = found[0].clone();
    assert_eq!(status.flow_log_id.as_deref(), Some(id.as_str()));
    assert_eq!((traffic.as_str(), to.as_str()), ("REJECT", group.as_str()));
    let (retention, tags) = log_group(&logs, &group).await.expect("the log group");
    assert_eq!(retention, Some(14));
    assert_eq!(tags.get("webstack.io/uid"), Some(&uid));
    // The delivery role: trusted by VPC Flow Logs only, allowed to write to that group only.
    let role_name = role_arn.rsplit('/').next().unwrap().to_string();
    assert!(role_name.starts_with("webstack-flowlogs-"), "{role_arn}");
    let role = iam.get_role().role_name(&role_name).send().await.unwrap();
    let trust = role.role().unwrap().assume_role_policy_document().unwrap();
    let trust = percent_encoding::percent_decode_str(trust).decode_utf8().unwrap();
    assert!(trust.contains("vpc-flow-logs.amazonaws.com"), "{trust}");
    let policy = iam
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("webstack-flow-logs")
        .send()
        .await
        .unwrap();
    let policy = percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8()
        .unwrap()
        .to_string();
    assert!(policy.contains(&format!(":log-group:{group}:*")), "{policy}");

    // Steady state: the flow logs add two calls per reconcile (DescribeFlowLogs, DescribeLogGroups).
    let before = op.steady_reconciles().len();
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let steady: Vec<u32> = op
        .steady_reconciles()
        .into_iter()
        .skip(before)
        .filter(|(kind, _)| kind == "WebStack")
        .map(|(_, calls)| calls)
        .collect();
    println!("steady-state WebStack reconciles with flow logs: {steady:?} AWS calls");
    assert!(!steady.is_empty(), "no steady reconcile in 8 s");

    // Traffic type and retention change: the flow log is replaced, the retention set.
    manifest["spec"]["network"]["flowLogs"] = serde_json::json!({"enabled": true, "retentionDays": 30});
    api.patch("logged", &ssa, &Patch::Apply(&manifest)).await.unwrap();
    wait("logged", "the flow log replaced", 2).await;
    let found = flow_logs_of(&ec2, &vpc).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_ne!(found[0].0, id, "a new flow log");
    assert_eq!(found[0].1, "ALL");
    assert_eq!(log_group(&logs, &group).await.unwrap().0, Some(30));

    // Drift: the flow log deleted by hand comes back.
    ec2.delete_flow_logs().flow_log_ids(&found[0].0).send().await.unwrap();
    let ws = crate::harness::wait::until(&api, "logged", &op, "the flow log restored", 60, |ws| {
        ws.status
            .as_ref()
            .and_then(|s| s.flow_logs.as_ref())
            .and_then(|f| f.flow_log_id.as_ref())
            .is_some_and(|f| *f != found[0].0)
    })
    .await;
    assert_eq!(flow_logs_of(&ec2, &vpc).await.len(), 1);
    assert!(ready_at(&ws, 2) || ws.status.is_some());

    // Disabled: the flow log and the role go, the group keeps its history.
    manifest["spec"]["network"]["flowLogs"] = serde_json::json!({"enabled": false});
    api.patch("logged", &ssa, &Patch::Apply(&manifest)).await.unwrap();
    let ws = wait("logged", "flow logs disabled", 3).await;
    assert!(flow_logs_of(&ec2, &vpc).await.is_empty());
    assert!(
        iam.get_role().role_name(&role_name).send().await.is_err(),
        "the role is deleted"
    );
    assert!(log_group(&logs, &group).await.is_some(), "the history is kept");
    let status = ws.status.unwrap().flow_logs.expect("the group is still reported");
    assert_eq!((status.flow_log_id, status.log_group), (None, Some(group.clone())));

    // An adopted VPC: flow logs only when asked, and the VPC is never changed.
    let user_vpc = ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap();
    let user_vpc = user_vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    // Adoptable by this namespace, as an administrator tags it.
    let tag = aws_sdk_ec2::types::Tag::builder()
        .key("webstack.io/adoptable")
        .value(&ns)
        .build();
    ec2.create_tags().resources(&user_vpc).tags(tag).send().await.unwrap();
    let mut subnets = Vec::new();
    for (i, cidr) in ["10.9.0.0/24", "10.9.1.0/24"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&user_vpc)
            .cidr_block(*cidr)
            .availability_zone(format!("{}{}", crate::harness::moto::REGION, ["a", "b"][i]))
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let adopted = stack(
        "adopted",
        &format!(
            "{{vpcId: {user_vpc}, publicSubnetIds: [{}], privateSubnetIds: [{}], flowLogs: {{enabled: true}}}}",
            subnets[0], subnets[1]
        ),
    );
    api.patch("adopted", &ssa, &Patch::Apply(&adopted)).await.unwrap();
    wait("adopted", "Ready on the adopted VPC", 1).await;
    let found = flow_logs_of(&ec2, &user_vpc).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "ALL");

    // Deletion: nothing of either stack remains; the adopted VPC does.
    for name in ["logged", "adopted"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["logged", "adopted"] {
        crate::harness::wait::gone(&api, name, &op, 120).await;
    }
    assert!(flow_logs_of(&ec2, &user_vpc).await.is_empty());
    assert!(
        log_group(&logs, &group).await.is_none(),
        "the group goes with the stack"
    );
    let vpcs = ec2.describe_vpcs().vpc_ids(&user_vpc).send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "the adopted VPC stays");
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS: {left:?}");
}
