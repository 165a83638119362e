//! End to end: the operator binary against the real API server and the emulator, driven the way
//! users drive it. Apply a WebStack → Ready with status filled → add a listener → converges →
//! drift made by hand is corrected with a `DriftCorrected` Event → an invalid spec stalls without
//! touching AWS → delete → no AWS resource tagged with the stack's uid remains.

use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::WebStack;

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;

const STACK: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: netflux}
spec:
  tags: {team: movies}
  network: {cidr: 10.0.0.0/16}
  loadBalancer:
    listeners:
      - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404, messageBody: "nothing here"}}}
"#;

fn condition(ws: &WebStack, type_: &str) -> Option<(String, String, String)> {
    let c = ws.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Polls the WebStack until `done` holds, for at most `secs` seconds.
async fn wait_for(
    api: &Api<WebStack>,
    op: &Operator,
    what: &str,
    secs: u64,
    done: impl Fn(&WebStack) -> bool,
) -> WebStack {
    crate::harness::wait::until(api, "netflux", op, what, secs, done).await
}

/// Waits until the WebStack `netflux` is gone (its finalizer removed).
async fn wait_gone(api: &Api<WebStack>, op: &Operator, secs: u64) {
    crate::harness::wait::gone(api, "netflux", op, secs).await;
}

fn ready_at(ws: &WebStack, generation: i64) -> bool {
    condition(ws, "Ready").is_some_and(|c| c.0 == "True")
        && ws.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
}

async fn tagged_count(ec2: &aws_sdk_ec2::Client, elb: &aws_sdk_elasticloadbalancingv2::Client, uid: &str) -> usize {
    let f = || Filter::builder().name("tag:webstack.io/uid").values(uid).build();
    let mut n = ec2.describe_vpcs().filters(f()).send().await.unwrap().vpcs().len();
    n += ec2
        .describe_subnets()
        .filters(f())
        .send()
        .await
        .unwrap()
        .subnets()
        .len();
    n += ec2
        .describe_security_groups()
        .filters(f())
        .send()
        .await
        .unwrap()
        .security_groups()
        .len();
    n += ec2
        .describe_internet_gateways()
        .filters(f())
        .send()
        .await
        .unwrap()
        .internet_gateways()
        .len();
    n += ec2
        .describe_route_tables()
        .filters(f())
        .send()
        .await
        .unwrap()
        .route_tables()
        .len();
    // No client token on AllocateAddress: a retried create must not leave a second address.
    let (nats, addresses, endpoints) = crate::harness::leftovers::egress_of(ec2, uid).await;
    n += nats + addresses + endpoints;
    n + elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .len()
}

#[tokio::test]
async fn webstack_lifecycle_through_the_api_server() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-ws").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (ec2, elb) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_elasticloadbalancingv2::Client::new(&config),
    );
    let op = Operator::start(&moto, &ns, "3s");
    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let ssa = PatchParams::apply("e2e-user");

    // Apply → Ready, status filled.
    let manifest: serde_json::Value = serde_yaml::from_str(STACK).unwrap();
    api.patch("netflux", &ssa, &Patch::Apply(&manifest))
        .await
        .expect("apply WebStack");
    let ws = wait_for(&api, &op, "Ready", 90, |ws| ready_at(ws, 1)).await;
    let uid = ws.uid().unwrap();
    let st = ws.status.clone().unwrap();
    assert!(st.vpc_id.as_deref().is_some_and(|v| v.starts_with("vpc-")), "{st:?}");
    assert_eq!(st.public_subnet_ids.len(), 2);
    assert_eq!(st.private_subnet_ids.len(), 2);
    let sgs = st.security_groups.clone().unwrap();
    assert!(
        sgs.load_balancer.is_some() && sgs.services.is_some() && sgs.database.is_none(),
        "{sgs:?}"
    );
    let lb = st.load_balancer.clone().unwrap();
    let lb_arn = lb.arn.clone().unwrap();
    assert!(lb.listeners.contains_key("http"), "{lb:?}");
    assert!(st.cluster_arn.is_some());
    assert!(ws.finalizers().iter().any(|f| f == "webstack.io/finalizer"));
    let conditions: Vec<_> = st
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        conditions,
        [("Ready", "True"), ("Reconciling", "False"), ("Stalled", "False")]
    );
    // ... and AWS agrees, read back through the SDK.
    let described = elb
        .describe_load_balancers()
        .load_balancer_arns(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.load_balancers()[0].dns_name(), lb.dns_name.as_deref());

    // Add a listener → converges.
    let mut two = manifest.clone();
    two["spec"]["loadBalancer"]["listeners"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "alt", "port": 8080}));
    api.patch("netflux", &ssa, &Patch::Apply(&two))
        .await
        .expect("add a listener");
    wait_for(&api, &op, "the new listener", 60, |ws| {
        ready_at(ws, 2)
            && ws
                .status
                .as_ref()
                .unwrap()
                .load_balancer
                .as_ref()
                .unwrap()
                .listeners
                .contains_key("alt")
    })
    .await;
    assert_eq!(
        elb.describe_listeners()
            .load_balancer_arn(&lb_arn)
            .send()
            .await
            .unwrap()
            .listeners()
            .len(),
        2
    );

    // Drift by hand: the periodic re-check (3 s here) restores it and says so with an Event.
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key("idle_timeout.timeout_seconds")
                .value("300")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let events: Api<CoreEvent> = Api::namespaced(client.clone(), &ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = events.list(&ListParams::default()).await.unwrap();
        let corrected = list.items.iter().any(|e| {
            e.reason.as_deref() == Some("DriftCorrected")
                && e.message.as_deref().is_some_and(|m| m.contains("idle timeout"))
        });
        if corrected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no DriftCorrected event; operator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let attrs = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    let idle = attrs
        .attributes()
        .iter()
        .find(|a| a.key() == Some("idle_timeout.timeout_seconds"))
        .unwrap();
    assert_eq!(idle.value(), Some("60"), "idle timeout restored");
    // An Event per kind of AWS mutation (equal ones are folded into a counted series).
    let actions: std::collections::BTreeSet<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.action)
        .collect();
    for wanted in [
        "CreateVpc",
        "CreateSubnet",
        "CreateSecurityGroup",
        "CreateLoadBalancer",
        "CreateListener",
        "CreateCluster",
    ] {
        assert!(actions.contains(wanted), "no Event for {wanted}: {actions:?}");
    }

    // Paused: drift is observed and reported, never corrected; unpausing corrects it.
    let paused = serde_json::json!({"metadata": {"annotations": {"webstack.io/paused": "true"}}});
    api.patch("netflux", &PatchParams::default(), &Patch::Merge(&paused))
        .await
        .unwrap();
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key("idle_timeout.timeout_seconds")
                .value("120")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ws = wait_for(&api, &op, "paused drift report", 60, |ws| {
        condition(ws, "Ready").is_some_and(|c| c.0 == "False" && c.1 == "Paused" && c.2.contains("idle timeout"))
    })
    .await;
    let (_, _, message) = condition(&ws, "Ready").unwrap();
    assert!(message.contains("change idle timeout from 120s to 60s"), "{message}");
    tokio::time::sleep(Duration::from_secs(4)).await; // more than one re-check period
    let idle_now = |attrs: aws_sdk_elasticloadbalancingv2::operation::describe_load_balancer_attributes::DescribeLoadBalancerAttributesOutput| {
        attrs.attributes().iter().find(|a| a.key() == Some("idle_timeout.timeout_seconds")).and_then(|a| a.value().map(String::from))
    };
    let attrs = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(idle_now(attrs).as_deref(), Some("120"), "paused: AWS untouched");
    let unpaused = serde_json::json!({"metadata": {"annotations": {"webstack.io/paused": null}}});
    api.patch("netflux", &PatchParams::default(), &Patch::Merge(&unpaused))
        .await
        .unwrap();
    wait_for(&api, &op, "Ready after unpausing", 60, |ws| ready_at(ws, 2)).await;
    let attrs = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(idle_now(attrs).as_deref(), Some("60"), "unpaused: corrected");

    // An invalid spec the schema cannot catch: three zones in a region that has two (us-west-1 in
    // the emulator, as in most accounts). Stalled with the field named, and nothing created in AWS.
    let west: serde_json::Value = serde_yaml::from_str(
        "{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: west},
          spec: {region: us-west-1, network: {cidr: 10.1.0.0/16, availabilityZones: 3}}}",
    )
    .unwrap();
    api.patch("west", &ssa, &Patch::Apply(&west)).await.expect("apply");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stalled = loop {
        let w = api.get("west").await.unwrap();
        if let Some(c) = condition(&w, "Stalled").filter(|c| c.0 == "True") {
            break (w, c);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "west not Stalled; operator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let (w, (_, reason, message)) = stalled;
    assert_eq!(reason, "InvalidSpec");
    assert_eq!(
        crate::harness::kstatus::of(&w),
        crate::harness::kstatus::KStatus::Failed,
        "InvalidSpec is Failed for Flux"
    );
    assert!(
        message.contains("spec.network.availabilityZones") && message.contains("the region has 2"),
        "{message}"
    );
    let west_config = config.to_builder().region(aws_config::Region::new("us-west-1")).build();
    let west_ec2 = aws_sdk_ec2::Client::new(&west_config);
    let west_elb = aws_sdk_elasticloadbalancingv2::Client::new(&west_config);
    assert_eq!(
        tagged_count(&west_ec2, &west_elb, &w.uid().unwrap()).await,
        0,
        "nothing created in AWS"
    );
    api.delete("west", &DeleteParams::default()).await.expect("delete west");

    // Delete → the finalizer removes every AWS resource, then lets the object go.
    api.delete("netflux", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, &op, 90).await;
    assert_eq!(
        tagged_count(&ec2, &elb, &uid).await,
        0,
        "no AWS resource tagged with the uid remains"
    );
}

/// The operator runs under the chart's ClusterRole (`deploy/webstack-operator.yaml`), bound to a
/// user of its own (not the chart's ServiceAccount the other tests' operators use), first without permission to write WebStack status:
/// every reconcile creates or finds the AWS resources and then fails to record them, as if the
/// operator crashed between the creates and the status write. Retries find everything by tag and
/// name and create no duplicate; once status may be written the stack becomes Ready as is.
#[tokio::test]
async fn failed_status_writes_never_duplicate_aws_resources() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    use kube::api::PostParams;

    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-crash").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (ec2, elb) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_elasticloadbalancingv2::Client::new(&config),
    );

    // The product's ClusterRole, under a test name, minus the status rule; bound to the test user.
    let rbac = crate::harness::kube::deploy_rbac();
    let role_obj = rbac
        .iter()
        .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "ClusterRole") && o.name_any() == "webstack-operator")
        .unwrap();
    let mut full: ClusterRole = serde_json::from_value(serde_json::to_value(role_obj).unwrap()).unwrap();
    let role_name = format!("webstack-operator-{ns}");
    full.metadata = kube::api::ObjectMeta {
        name: Some(role_name.clone()),
        ..Default::default()
    };
    let mut no_status = full.clone();
    no_status
        .rules
        .as_mut()
        .unwrap()
        .retain(|r| !r.resources.iter().flatten().any(|x| x.ends_with("/status")));
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .create(&PostParams::default(), &no_status)
        .await
        .expect("create role");
    let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "webstack-operator"}]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("bind");

    let op = Operator::start_as(&moto, &ns, "3s", &crate::harness::kube::operator_kubeconfig_path());
    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let manifest: serde_json::Value = serde_yaml::from_str(STACK).unwrap();
    let ws = api
        .patch("netflux", &PatchParams::apply("e2e-user"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    let uid = ws.uid().unwrap();

    // Wait for the resources, then for several failed status writes (each a full reconcile).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let log = std::fs::read_to_string(&op.log).unwrap_or_default();
        let failures = log.matches("retrying").count();
        if tagged_count(&ec2, &elb, &uid).await >= 8 && failures >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no repeated failures; operator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        api.get("netflux").await.unwrap().status.is_none(),
        "status could not be written"
    );
    // 1 VPC + 4 subnets + 2 groups + 1 gateway + 3 route tables (public, 2 private) + 1 Elastic
    // IP + 1 NAT gateway + 1 S3 endpoint + 1 load balancer.
    assert_eq!(
        tagged_count(&ec2, &elb, &uid).await,
        15,
        "no duplicates after repeated 'crashes'"
    );

    // Allow status writes: Ready, with the same single set of resources.
    roles
        .replace(&role_name, &PostParams::default(), &{
            let mut r = full.clone();
            r.metadata.resource_version = roles.get(&role_name).await.unwrap().metadata.resource_version;
            r
        })
        .await
        .expect("grant status");
    let ws = wait_for(&api, &op, "Ready", 90, |ws| ready_at(ws, 1)).await;
    assert_eq!(tagged_count(&ec2, &elb, &uid).await, 15);
    let vpcs = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:webstack.io/uid").values(&uid).build())
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status.unwrap().vpc_id.as_deref(), vpcs.vpcs()[0].vpc_id());

    api.delete("netflux", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, &op, 90).await;
    assert_eq!(tagged_count(&ec2, &elb, &uid).await, 0);
}

/// `webstack.io/external-id` adopts a load balancer made by hand (in an adopted VPC) once an
/// administrator tagged both `webstack.io/adoptable` for the namespace (before that: Stalled,
/// nothing changed in AWS): it is tagged as managed with an `Adopted` Event, gets the stack's group and listeners. Deletion waits for a
/// TargetGroup that still points at the stack, naming it; with `deletionPolicy: Retain` the AWS
/// resources stay, their ownership tags removed.
#[tokio::test]
async fn external_load_balancer_adoption_children_wait_and_retain() {
    use kube::api::PostParams;
    use webstack_operator::api::TargetGroup;

    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-adopt").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (ec2, elb) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_elasticloadbalancingv2::Client::new(&config),
    );

    // A network and a load balancer made by hand, as a team would have before the operator.
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.70.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.70.0.0/24", "us-east-1a"),
        ("10.70.1.0/24", "us-east-1b"),
        ("10.70.2.0/24", "us-east-1a"),
    ] {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let lb = elb
        .create_load_balancer()
        .name("legacy-alb")
        .set_subnets(Some(subnets[..2].to_vec()))
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();

    let op = Operator::start(&moto, &ns, "3s");
    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let manifest = serde_json::json!({
        "apiVersion": "webstack.io/v1alpha1", "kind": "WebStack",
        "metadata": {"name": "netflux", "annotations": {"webstack.io/external-id": lb_arn}},
        "spec": {
            "deletionPolicy": "Retain",
            "network": {"vpcId": vpc, "publicSubnetIds": &subnets[..2], "privateSubnetIds": [&subnets[2]]},
            "loadBalancer": {"listeners": [{"name": "http", "port": 80}]}
        }
    });
    let mark = moto.calls().len();
    api.patch("netflux", &PatchParams::apply("e2e-user"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    // Neither is tagged by an administrator for this namespace: Stalled, naming the field and the
    // rule, and nothing in AWS is changed (no call that mutates, the VPC and load balancer untouched).
    let stalled_on = |field: &'static str| {
        move |ws: &WebStack| {
            condition(ws, "Stalled").is_some_and(|(status, reason, message)| {
                status == "True"
                    && reason == "PolicyViolation"
                    && message.starts_with(&format!("{field}: "))
                    && message.contains("webstack.io/adoptable=")
            })
        }
    };
    wait_for(&api, &op, "Stalled on the VPC", 60, stalled_on("spec.network.vpcId")).await;
    let adoptable = |resource: &str| {
        let tag = aws_sdk_ec2::types::Tag::builder()
            .key("webstack.io/adoptable")
            .value(format!("other-team {ns}"))
            .build();
        ec2.create_tags().resources(resource).tags(tag).send()
    };
    adoptable(&vpc).await.unwrap();
    wait_for(
        &api,
        &op,
        "Stalled on the load balancer",
        60,
        stalled_on("metadata.annotations[webstack.io/external-id]"),
    )
    .await;
    let mutations: Vec<_> = moto.calls()[mark..].iter().filter(|c| c.mutates()).cloned().collect();
    assert_eq!(mutations.len(), 1, "only the test's own CreateTags: {mutations:#?}");
    let lb_tag = aws_sdk_elasticloadbalancingv2::types::Tag::builder()
        .key("webstack.io/adoptable")
        .value(&ns)
        .build();
    elb.add_tags().resource_arns(&lb_arn).tags(lb_tag).send().await.unwrap();
    let ws = wait_for(&api, &op, "Ready", 90, |ws| ready_at(ws, 1)).await;
    let uid = ws.uid().unwrap();
    assert_eq!(
        ws.status
            .as_ref()
            .unwrap()
            .load_balancer
            .as_ref()
            .unwrap()
            .arn
            .as_deref(),
        Some(lb_arn.as_str())
    );

    // Adopted: tagged as ours, our group attached, our listener on it; no second load balancer.
    let tags = webstack_operator::aws::elbv2::tags(&elb, &lb_arn).await.unwrap();
    assert_eq!(tags.get("webstack.io/uid"), Some(&uid));
    assert_eq!(
        tags.get("webstack.io/managed-by").map(String::as_str),
        Some("webstack-operator")
    );
    assert_eq!(
        elb.describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .len(),
        1
    );
    let described = elb
        .describe_load_balancers()
        .load_balancer_arns(&lb_arn)
        .send()
        .await
        .unwrap();
    let lb_group = ws
        .status
        .as_ref()
        .unwrap()
        .security_groups
        .as_ref()
        .unwrap()
        .load_balancer
        .clone()
        .unwrap();
    assert_eq!(
        described.load_balancers()[0].security_groups(),
        std::slice::from_ref(&lb_group)
    );
    assert_eq!(
        elb.describe_listeners()
            .load_balancer_arn(&lb_arn)
            .send()
            .await
            .unwrap()
            .listeners()
            .len(),
        1
    );
    let events: Api<CoreEvent> = Api::namespaced(client.clone(), &ns);
    let adopted = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .any(|e| e.reason.as_deref() == Some("Adopted"));
    assert!(adopted, "an Adopted event");

    // A TargetGroup still points at the stack: deletion waits, naming it.
    let tg: TargetGroup = serde_json::from_value(serde_json::json!({
        "apiVersion": "webstack.io/v1alpha1", "kind": "TargetGroup", "metadata": {"name": "movies"},
        "spec": {"stackRef": {"name": "netflux"}, "port": 8080}
    }))
    .unwrap();
    let tgs: Api<TargetGroup> = Api::namespaced(client.clone(), &ns);
    tgs.create(&PostParams::default(), &tg).await.unwrap();
    api.delete("netflux", &DeleteParams::default()).await.unwrap();
    let ws = wait_for(&api, &op, "waiting for children", 60, |ws| {
        condition(ws, "Reconciling").is_some_and(|c| c.1 == "Deleting" && c.2.contains("TargetGroup/movies"))
    })
    .await;
    assert!(ws.metadata.deletion_timestamp.is_some());
    tgs.delete("movies", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, &op, 60).await;

    // Retain: the load balancer and the groups are still there, no longer tagged as managed.
    let kept = elb
        .describe_load_balancers()
        .load_balancer_arns(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.load_balancers().len(), 1);
    let tags = webstack_operator::aws::elbv2::tags(&elb, &lb_arn).await.unwrap();
    assert!(
        !tags.contains_key("webstack.io/managed-by") && !tags.contains_key("webstack.io/uid"),
        "{tags:?}"
    );
    let groups = ec2
        .describe_security_groups()
        .group_ids(&lb_group)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.security_groups().len(), 1, "group kept");
    assert!(
        groups.security_groups()[0]
            .tags()
            .iter()
            .all(|t| t.key() != Some("webstack.io/managed-by"))
    );
}
