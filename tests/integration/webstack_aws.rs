//! The WebStack's AWS side against the emulator: observe → plan → apply creates the stack; a second
//! pass plans nothing (and its calls are counted); observing from scratch (as after a crash between
//! the creates and the status write) finds everything and creates no duplicate; hand-made drift is
//! restored; deletion leaves nothing tagged with the stack's uid. State is read back through the SDK.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
use webstack_operator::api::WebStackSpec;
use webstack_operator::aws::{Clients, ec2 as aws_ec2};
use webstack_operator::model::Owner;
use webstack_operator::model::stack::{DesiredStack, ObservedStack, StackKey};
use webstack_operator::reconcile::Blocked;
use webstack_operator::webstack::parts::PartId::{Cluster, Egress, LoadBalancer, Network, Role};
use webstack_operator::webstack::parts::{Step, observe_only, plan, plan_cleanup};
use webstack_operator::webstack::shared::{ApplyCx, ApplyError, Cleanup, Ids, ObserveCx};
use webstack_operator::webstack::validate::validate;

/// Observes the network tier (network, load balancer, egress, execution role, cluster) as the
/// controller does; `deleting`: every copy, what is someone else's left out.
async fn observe_tier(clients: &Clients, key: &StackKey, deleting: bool) -> Result<ObservedStack, Blocked> {
    let kube = no_kube();
    let spec: WebStackSpec = serde_yaml::from_str("{}").expect("an empty spec");
    let ws = webstack_operator::api::WebStack::new(&key.owner.name, spec);
    let source = webstack_operator::reconcile::refs::Source::cluster(kube.clone());
    let cx = ObserveCx {
        clients,
        kube: &kube,
        source: &source,
        ws: &ws,
        key,
        owner: &key.owner,
        desired: None,
        deep: true,
        deleting,
    };
    observe_only(&cx, &[Network, LoadBalancer, Egress, Role, Cluster]).await
}

/// Observes a stack while converging (conflicts are errors).
async fn observe(clients: &Clients, key: &StackKey) -> Result<ObservedStack, Blocked> {
    observe_tier(clients, key, false).await
}

/// The stack's deletion plan (`deletionPolicy: Delete`, no data tier).
fn plan_delete(observed: &ObservedStack) -> Vec<Step> {
    let how = Cleanup {
        retain: false,
        data: webstack_operator::model::data::DataCleanup {
            deletion: webstack_operator::model::data::DataDeletion::Delete,
            protection_wanted: false,
        },
        keep_network: false,
        force_registries: false,
    };
    plan_cleanup(observed, how)
}

/// Observes a stack for deletion: every copy, what is someone else's left out.
/// Deletes the stack as the controller does: observe, plan the cleanup, apply, until nothing is
/// left; waits (NAT gateways and endpoints being deleted, interfaces of a deleted load balancer
/// lingering) are retried a second later.
async fn delete_all(clients: &Clients, key: &StackKey) -> usize {
    let mut passes = 0;
    loop {
        let observed = observe_deleting(clients, key).await;
        let steps = plan_delete(&observed);
        if steps.is_empty() {
            return passes;
        }
        passes += 1;
        assert!(passes < 20, "deletion does not finish: {steps:?}");
        if let Err(e) = apply(clients, None, &observed, &steps, &mut |_| {}).await {
            // A wait: a NAT gateway or endpoint being deleted, or the network interfaces of a
            // deleted load balancer still holding its group and subnets (DependencyViolation).
            let wait = e.to_string();
            assert!(
                wait.contains("being deleted") || wait.contains("DependencyViolation"),
                "{e}"
            );
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

async fn observe_deleting(clients: &Clients, key: &StackKey) -> ObservedStack {
    let key = StackKey {
        every_copy: true,
        ..key.clone()
    };
    observe_tier(clients, &key, true).await.expect("observe for deletion")
}

use crate::harness::moto::Moto;
use crate::harness::unique;

const SPEC: &str = r#"
network: {cidr: 10.0.0.0/16, availabilityZones: 2}
tags: {team: movies}
loadBalancer:
  listeners:
    - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404, contentType: text/plain, messageBody: "Netflux: nothing here"}}}
database: {engine: postgres}
cluster: {containerInsights: true}
"#;

async fn desired(clients: &Clients, uid: &str, yaml: &str) -> DesiredStack {
    let spec: WebStackSpec = serde_yaml::from_str(yaml).expect("spec");
    let owner = Owner {
        cluster_id: "it".into(),
        namespace: "movies".into(),
        kind: "WebStack",
        name: "netflux".into(),
        uid: uid.into(),
    };
    let zones = aws_ec2::availability_zones(&clients.ec2).await.expect("zones");
    let mut d = validate(&spec, owner, &zones, &BTreeMap::new()).expect("valid");
    // The network tier only: the spec's database gives the database group and its rule; the
    // database itself is the data tier's, tested end to end (datatier_e2e.rs).
    d.database = None;
    d.cache = None;
    d
}

/// Data steps need a Kubernetes client; this tier never makes any, so one that reaches nothing.
fn no_kube() -> kube::Client {
    kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap()
}

/// Applies `steps` as the controller does.
async fn apply(
    clients: &Clients,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    steps: &[Step],
    done: &mut (dyn FnMut(&Step) + Send),
) -> Result<(), ApplyError> {
    let kube = no_kube();
    let owner = desired.map(|d| d.owner.clone()).unwrap_or_else(|| Owner {
        cluster_id: "it".into(),
        namespace: "movies".into(),
        kind: "WebStack",
        name: "netflux".into(),
        uid: String::new(),
    });
    let mut cx = ApplyCx {
        clients,
        kube: &kube,
        owner: &owner,
        desired,
        observed,
        ids: Ids::new(desired, observed),
    };
    for step in steps {
        step.apply(&mut cx).await?;
        done(step);
    }
    Ok(())
}

/// One reconcile pass; returns the steps it applied.
async fn reconcile(clients: &Clients, d: &DesiredStack) -> Vec<Step> {
    reconcile_key(clients, d, d.key()).await
}

/// One reconcile pass with a given key (the controller adds the VPC from status).
async fn reconcile_key(clients: &Clients, d: &DesiredStack, key: StackKey) -> Vec<Step> {
    let observed = observe(clients, &key).await.expect("observe");
    let steps = plan(d, &observed);
    apply(clients, Some(d), &observed, &steps, &mut |_| {})
        .await
        .expect("apply");
    steps
}

async fn count_tagged(clients: &Clients, uid: &str) -> BTreeMap<&'static str, usize> {
    let f = || Filter::builder().name("tag:webstack.io/uid").values(uid).build();
    let ec2 = &clients.ec2;
    let mut n = BTreeMap::new();
    n.insert(
        "vpc",
        ec2.describe_vpcs().filters(f()).send().await.unwrap().vpcs().len(),
    );
    n.insert(
        "subnet",
        ec2.describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    );
    n.insert(
        "igw",
        ec2.describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
    );
    n.insert(
        "rtb",
        ec2.describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
    );
    let (nats, addresses, endpoints) = crate::harness::leftovers::egress_of(ec2, uid).await;
    n.insert("nat", nats);
    n.insert("eip", addresses);
    n.insert("vpce", endpoints);
    n.insert(
        "sg",
        ec2.describe_security_groups()
            .filters(f())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    );
    let lbs = clients.elbv2.describe_load_balancers().send().await.unwrap();
    let mut ours = 0;
    for lb in lbs.load_balancers() {
        let tags = webstack_operator::aws::elbv2::tags(&clients.elbv2, lb.load_balancer_arn().unwrap())
            .await
            .unwrap();
        ours += usize::from(tags.get("webstack.io/uid").map(String::as_str) == Some(uid));
    }
    n.insert("lb", ours);
    let clusters = clients.ecs.list_clusters().send().await.unwrap();
    let described = clients
        .ecs
        .describe_clusters()
        .set_clusters(Some(clusters.cluster_arns().to_vec()))
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .unwrap();
    n.insert(
        "cluster",
        described
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .filter(|c| {
                c.tags()
                    .iter()
                    .any(|t| t.key() == Some("webstack.io/uid") && t.value() == Some(uid))
            })
            .count(),
    );
    n
}

#[tokio::test]
async fn webstack_create_converge_drift_delete() {
    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk_config().await);
    let uid = unique("uid");
    let d = desired(&clients, &uid, SPEC).await;

    // Create.
    let created = reconcile(&clients, &d).await;
    assert!(created.len() > 15, "{created:?}");
    let expected = BTreeMap::from([
        ("vpc", 1),
        ("subnet", 4),
        ("igw", 1),
        ("rtb", 3),
        ("nat", 1),
        ("eip", 1),
        ("vpce", 1),
        ("sg", 3),
        ("lb", 1),
        ("cluster", 1),
    ]);
    assert_eq!(count_tagged(&clients, &uid).await, expected);

    // Read the essentials back through the SDK.
    let lb_name = d.load_balancer.as_ref().unwrap().name.clone();
    let lb = clients
        .elbv2
        .describe_load_balancers()
        .names(&lb_name)
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let listeners = clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listeners.listeners().len(), 1);
    let fixed = listeners.listeners()[0].default_actions()[0]
        .fixed_response_config()
        .unwrap();
    assert_eq!(fixed.status_code(), Some("404"));
    assert_eq!(fixed.message_body(), Some("Netflux: nothing here"));
    let groups = clients
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("tag:webstack.io/uid").values(&uid).build())
        .send()
        .await
        .unwrap();
    let by_component: BTreeMap<String, &aws_sdk_ec2::types::SecurityGroup> = groups
        .security_groups()
        .iter()
        .map(|g| {
            let c = g
                .tags()
                .iter()
                .find(|t| t.key() == Some("webstack.io/component"))
                .unwrap()
                .value()
                .unwrap();
            (c.to_string(), g)
        })
        .collect();
    let lb_sg = by_component["sg/load-balancer"].group_id().unwrap();
    let services = by_component["sg/services"];
    let services_sources: Vec<_> = services
        .ip_permissions()
        .iter()
        .flat_map(|p| p.user_id_group_pairs())
        .filter_map(|p| p.group_id())
        .collect();
    assert!(
        services_sources.contains(&lb_sg),
        "services admits the load balancer group: {services_sources:?}"
    );
    let db = by_component["sg/database"];
    assert_eq!(db.ip_permissions().len(), 1);
    assert_eq!(db.ip_permissions()[0].from_port(), Some(5432));
    assert_eq!(
        db.ip_permissions()[0].user_id_group_pairs()[0].group_id(),
        services.group_id()
    );
    assert!(
        by_component
            .values()
            .all(|g| g.tags().iter().any(|t| t.key() == Some("team"))),
        "user tags on every group"
    );

    // The NAT gateway is pending at first (AWS takes minutes, the emulator 2 s): once it is
    // available, the private route tables route to it.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let routed: Vec<String> = reconcile(&clients, &d).await.iter().map(ToString::to_string).collect();
    assert_eq!(
        routed,
        [
            "route 0.0.0.0/0 of private zone 0 to NAT gateway 0",
            "route 0.0.0.0/0 of private zone 1 to NAT gateway 0"
        ]
    );

    // Converged: the next pass plans nothing. Count its calls: the steady-state figure.
    clients.calls.reset();
    let again = reconcile(&clients, &d).await;
    assert_eq!(again, vec![], "a converged stack plans nothing");
    let calls = clients.calls.snapshot();
    println!("steady-state AWS calls: {} {calls:?}", calls.values().sum::<u64>());
    assert!(
        calls.keys().all(|op| op.contains(":Describe") || op.contains(":Get")),
        "steady state only reads: {calls:?}"
    );
    assert!(
        calls.values().sum::<u64>() <= 13,
        "at most 13 calls in steady state (8 before NAT gateways, Elastic IPs, VPC endpoints and the execution role): {calls:?}"
    );

    // A crash after the creates and before the status write: a fresh observe (no ids carried over)
    // finds every resource by tag or name and creates nothing.
    let fresh = Clients::new(&moto.sdk_config().await);
    assert_eq!(reconcile(&fresh, &d).await, vec![]);
    assert_eq!(count_tagged(&clients, &uid).await, expected, "no duplicates");

    // Drift made by hand: idle timeout, a deleted listener, an extra ingress rule.
    clients
        .elbv2
        .modify_load_balancer_attributes()
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
    clients
        .elbv2
        .delete_listener()
        .listener_arn(listeners.listeners()[0].listener_arn().unwrap())
        .send()
        .await
        .unwrap();
    clients
        .ec2
        .authorize_security_group_ingress()
        .group_id(lb_sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let corrected: Vec<String> = reconcile(&clients, &d).await.iter().map(ToString::to_string).collect();
    assert_eq!(
        corrected,
        [
            "revoke 1 ingress rule(s) on sg/load-balancer",
            "change idle timeout from 300s to 60s",
            "create listener http on port 80",
        ]
    );
    assert_eq!(reconcile(&clients, &d).await, vec![], "drift corrected");
    let attrs = clients
        .elbv2
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
    assert_eq!(idle.value(), Some("60"));

    // Every tag of a subnet deleted by hand: with the VPC known (as from status), the subnet is
    // found by VPC and CIDR and re-tagged, not created a second time.
    let subnets = clients
        .ec2
        .describe_subnets()
        .filters(Filter::builder().name("tag:webstack.io/uid").values(&uid).build())
        .send()
        .await
        .unwrap();
    let victim = subnets.subnets()[0].clone();
    let vpc_id = victim.vpc_id().unwrap().to_string();
    // AWS deletes every tag when DeleteTags names none; moto 5.2.5 then deletes nothing, so the
    // keys are named one by one here.
    let keys: Vec<_> = victim
        .tags()
        .iter()
        .map(|t| aws_sdk_ec2::types::Tag::builder().key(t.key().unwrap()).build())
        .collect();
    clients
        .ec2
        .delete_tags()
        .resources(victim.subnet_id().unwrap())
        .set_tags(Some(keys))
        .send()
        .await
        .unwrap();
    let key = StackKey {
        known_vpc: Some(vpc_id.clone()),
        ..d.key()
    };
    let retagged: Vec<String> = reconcile_key(&clients, &d, key.clone())
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(retagged.len(), 1, "{retagged:?}");
    assert!(
        retagged[0].starts_with("restore tags Name, team, webstack.io/cluster"),
        "{retagged:?}"
    );
    assert_eq!(reconcile_key(&clients, &d, key).await, vec![]);
    assert_eq!(
        count_tagged(&clients, &uid).await,
        expected,
        "the subnet is back, not duplicated"
    );
    let all = clients
        .ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
        .send()
        .await
        .unwrap();
    assert_eq!(all.subnets().len(), 4);

    // A spec change: another listener.
    let d2 = desired(
        &clients,
        &uid,
        &SPEC.replace("    - {name: http", "    - {name: alt, port: 8080}\n    - {name: http"),
    )
    .await;
    let changed: Vec<String> = reconcile(&clients, &d2).await.iter().map(ToString::to_string).collect();
    assert_eq!(
        changed,
        [
            "authorize 1 ingress rule(s) on sg/load-balancer",
            "create listener alt on port 8080"
        ]
    );
    let listeners = clients
        .elbv2
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listeners.listeners().len(), 2);

    // A second VPC and gateway with the stack's tags, as a retried CreateVpc / CreateInternetGateway
    // (neither takes a client token) would leave: deletion finds every copy by uid.
    let real = clients
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:webstack.io/uid").values(&uid).build())
        .send()
        .await
        .unwrap();
    let tags = aws_sdk_ec2::types::TagSpecification::builder()
        .set_tags(Some(real.vpcs()[0].tags().to_vec()))
        .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
        .build();
    clients
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(tags.clone())
        .send()
        .await
        .unwrap();
    clients
        .ec2
        .create_internet_gateway()
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .set_tags(tags.tags.clone())
                .resource_type(aws_sdk_ec2::types::ResourceType::InternetGateway)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(count_tagged(&clients, &uid).await["vpc"], 2);

    // Delete: plan towards nothing (waiting while AWS deletes the NAT gateway, then releasing its
    // Elastic IP), then nothing tagged with the uid remains.
    delete_all(&clients, &d2.key()).await;
    let none = expected.keys().map(|k| (*k, 0)).collect::<BTreeMap<_, _>>();
    assert_eq!(count_tagged(&clients, &uid).await, none);
    assert_eq!(
        plan_delete(&observe_deleting(&clients, &d2.key()).await),
        vec![],
        "deletion is complete"
    );
}

/// A load balancer with the stack's deterministic name, tagged for another operator cluster, is
/// never touched: observe stops with a conflict naming the tag, and the plan is never run.
#[tokio::test]
async fn a_resource_of_another_cluster_is_never_touched() {
    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk_config().await);
    let uid = unique("uid");
    let d = desired(&clients, &uid, SPEC).await;

    // Someone else's load balancer under our name (e.g. the same namespace/name/uid prefix from a
    // second Kubernetes cluster sharing the account).
    let vpc = clients.ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = clients
            .ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.9.{i}.0/24"))
            .availability_zone(*zone)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let mut foreign = d.owner.tags(&BTreeMap::new(), "load-balancer", "theirs");
    foreign.insert("webstack.io/cluster".into(), "other-cluster".into());
    let lb_name = d.load_balancer.as_ref().unwrap().name.clone();
    clients
        .elbv2
        .create_load_balancer()
        .name(&lb_name)
        .set_subnets(Some(subnets))
        .set_tags(Some(
            foreign
                .iter()
                .map(|(k, v)| {
                    aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                })
                .collect(),
        ))
        .send()
        .await
        .unwrap();

    let err = observe(&clients, &d.key()).await.expect_err("a conflict");
    let message = err.to_string();
    assert!(message.contains("webstack.io/cluster=other-cluster"), "{message}");
    // Nothing of ours was created and theirs is unchanged.
    assert_eq!(count_tagged(&clients, &uid).await.get("vpc"), Some(&0));
    let theirs = clients
        .elbv2
        .describe_load_balancers()
        .names(&lb_name)
        .send()
        .await
        .unwrap();
    let arn = theirs.load_balancers()[0].load_balancer_arn().unwrap();
    let tags = webstack_operator::aws::elbv2::tags(&clients.elbv2, arn).await.unwrap();
    assert_eq!(
        tags.get("webstack.io/cluster").map(String::as_str),
        Some("other-cluster")
    );
}

/// An adopted VPC: the stack's groups and load balancer go into it, its subnets are checked (one
/// of another VPC is refused naming the field), and deletion leaves the VPC and subnets alone.
#[tokio::test]
async fn an_adopted_network_is_used_checked_and_kept() {
    use webstack_operator::webstack::validate::check_adopted;

    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk_config().await);
    let ec2 = &clients.ec2;
    let mk_vpc = |cidr: &'static str| async move {
        ec2.create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .unwrap()
            .vpc()
            .unwrap()
            .vpc_id()
            .unwrap()
            .to_string()
    };
    let (vpc, other) = (mk_vpc("10.50.0.0/16").await, mk_vpc("10.60.0.0/16").await);
    let mk_subnet = |vpc: String, cidr: &'static str, zone: &'static str| async move {
        let out = ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        out.subnet().unwrap().subnet_id().unwrap().to_string()
    };
    let pub_a = mk_subnet(vpc.clone(), "10.50.0.0/24", "us-east-1a").await;
    let pub_b = mk_subnet(vpc.clone(), "10.50.1.0/24", "us-east-1b").await;
    let priv_a = mk_subnet(vpc.clone(), "10.50.2.0/24", "us-east-1a").await;
    let stranger = mk_subnet(other.clone(), "10.60.0.0/24", "us-east-1b").await;
    let spec = |private: &str| {
        format!(
            "network: {{vpcId: {vpc}, publicSubnetIds: [{pub_a}, {pub_b}], privateSubnetIds: [{private}]}}
loadBalancer: {{listeners: [{{name: http, port: 80}}]}}"
        )
    };

    // A private subnet of another VPC: refused, naming the field, before anything is created.
    let uid = unique("uid");
    let bad = desired(&clients, &uid, &spec(&stranger)).await;
    let observed = observe(&clients, &bad.key()).await.unwrap();
    let err = check_adopted(&bad, &observed).unwrap_err();
    assert_eq!(err.field, "spec.network.privateSubnetIds[0]");
    assert!(err.message.contains(&other), "{err}");
    assert_eq!(count_tagged(&clients, &uid).await.get("sg"), Some(&0));

    // The right subnets: the stack is built in the adopted VPC and converges.
    let d = desired(&clients, &uid, &spec(&priv_a)).await;
    let observed = observe(&clients, &d.key()).await.unwrap();
    check_adopted(&d, &observed).expect("valid adopted network");
    let steps: Vec<String> = reconcile(&clients, &d).await.iter().map(ToString::to_string).collect();
    assert!(
        steps.iter().all(|s| !s.contains("VPC") && !s.contains("subnet")),
        "{steps:?}"
    );
    assert_eq!(reconcile(&clients, &d).await, vec![]);
    let lb = clients
        .elbv2
        .describe_load_balancers()
        .names(&d.load_balancer.as_ref().unwrap().name)
        .send()
        .await
        .unwrap();
    assert_eq!(lb.load_balancers()[0].vpc_id(), Some(vpc.as_str()));
    let mut lb_subnets: Vec<_> = lb.load_balancers()[0]
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .map(String::from)
        .collect();
    lb_subnets.sort();
    let mut public = vec![pub_a.clone(), pub_b.clone()];
    public.sort();
    assert_eq!(lb_subnets, public, "the load balancer sits in the public subnets given");

    // Deletion removes the stack's resources and keeps the adopted VPC and its subnets, untagged.
    delete_all(&clients, &d.key()).await;
    assert_eq!(count_tagged(&clients, &uid).await.values().sum::<usize>(), 0);
    let kept = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .unwrap();
    assert_eq!(kept.subnets().len(), 3, "adopted subnets kept");
    let vpcs = ec2.describe_vpcs().vpc_ids(&vpc).send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "adopted VPC kept");
    assert!(
        vpcs.vpcs()[0].tags().is_empty(),
        "the adopted VPC was never tagged or modified"
    );
}

/// Egress variants read back from EC2: `perZone` gives each zone its own NAT gateway, Elastic IP
/// and route; interface endpoints sit in the private subnets with private DNS and the endpoints
/// group (443 from services only). Going back to `single` and `[s3]` moves zone 1's route before
/// its gateway goes, releases that address once AWS has, and deletes the interface endpoints and
/// then their group. Deletion leaves no gateway, address or endpoint.
#[tokio::test]
async fn egress_per_zone_and_interface_endpoints_change_and_go() {
    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk_config().await);
    let uid = unique("uid");
    let rich = SPEC.replace(
        "network: {cidr: 10.0.0.0/16, availabilityZones: 2}",
        "network: {cidr: 10.0.0.0/16, availabilityZones: 2, natGateways: perZone, vpcEndpoints: [s3, ecr, logs, secretsmanager]}",
    );
    let d = desired(&clients, &uid, &rich).await;
    // Converge: the gateways are pending for 2 s (nothing to do meanwhile), then routed to.
    assert!(!reconcile(&clients, &d).await.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let routed: Vec<String> = reconcile(&clients, &d).await.iter().map(ToString::to_string).collect();
    assert_eq!(
        routed,
        [
            "route 0.0.0.0/0 of private zone 0 to NAT gateway 0",
            "route 0.0.0.0/0 of private zone 1 to NAT gateway 1"
        ]
    );
    assert_eq!(reconcile(&clients, &d).await, vec![]);
    let counts = count_tagged(&clients, &uid).await;
    assert_eq!((counts["nat"], counts["eip"], counts["vpce"]), (2, 2, 5), "{counts:?}");
    let ec2 = &clients.ec2;
    let by_uid = || Filter::builder().name("tag:webstack.io/uid").values(&uid).build();
    let component = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .find(|t| t.key() == Some("webstack.io/component"))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let subnets = ec2.describe_subnets().filters(by_uid()).send().await.unwrap();
    let subnet = |c: &str| {
        subnets
            .subnets()
            .iter()
            .find(|s| component(s.tags()) == c)
            .unwrap()
            .subnet_id()
            .unwrap()
            .to_string()
    };
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    let nat_of = |c: &str| {
        nats.nat_gateways()
            .iter()
            .find(|n| component(n.tags()) == c && n.state().map(|s| s.as_str()) == Some("available"))
            .unwrap_or_else(|| panic!("{c}: {:?}", nats.nat_gateways()))
            .clone()
    };
    let tables = ec2.describe_route_tables().filters(by_uid()).send().await.unwrap();
    for zone in 0..2 {
        let nat = nat_of(&format!("nat/{zone}"));
        assert_eq!(nat.subnet_id(), Some(subnet(&format!("subnet/public/{zone}")).as_str()));
        let table = tables
            .route_tables()
            .iter()
            .find(|t| component(t.tags()) == format!("rtb/private/{zone}"))
            .unwrap();
        let default = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .unwrap();
        assert_eq!(
            default.nat_gateway_id(),
            nat.nat_gateway_id(),
            "zone {zone} routes to its own gateway"
        );
        assert_eq!(
            table.associations()[0].subnet_id(),
            Some(subnet(&format!("subnet/private/{zone}")).as_str())
        );
    }
    let groups = ec2.describe_security_groups().filters(by_uid()).send().await.unwrap();
    let group = |c: &str| {
        groups
            .security_groups()
            .iter()
            .find(|g| component(g.tags()) == c)
            .cloned()
    };
    let endpoints_group = group("sg/endpoints").expect("the endpoints group");
    let services_group = group("sg/services").unwrap();
    let rules = endpoints_group.ip_permissions();
    assert_eq!(rules.len(), 1);
    assert_eq!((rules[0].from_port(), rules[0].to_port()), (Some(443), Some(443)));
    assert_eq!(rules[0].user_id_group_pairs()[0].group_id(), services_group.group_id());
    let mut private = vec![subnet("subnet/private/0"), subnet("subnet/private/1")];
    private.sort();
    let endpoints = ec2.describe_vpc_endpoints().filters(by_uid()).send().await.unwrap();
    let mut services: Vec<String> = Vec::new();
    for e in endpoints.vpc_endpoints() {
        let name = e.service_name().unwrap().to_string();
        services.push(name.rsplit("us-east-1.").next().unwrap().to_string());
        if name.ends_with(".s3") {
            assert_eq!(e.vpc_endpoint_type().map(|t| t.as_str()), Some("Gateway"));
            assert_eq!(e.route_table_ids().len(), 2);
            continue;
        }
        assert_eq!(e.vpc_endpoint_type().map(|t| t.as_str()), Some("Interface"), "{name}");
        let mut at = e.subnet_ids().to_vec();
        at.sort();
        assert_eq!(at, private, "{name} in the private subnets");
        assert_eq!(e.groups()[0].group_id(), endpoints_group.group_id(), "{name}");
        assert_eq!(e.private_dns_enabled(), Some(true), "{name}");
    }
    services.sort();
    assert_eq!(services, ["ecr.api", "ecr.dkr", "logs", "s3", "secretsmanager"]);

    // Back to the defaults.
    let plain = desired(&clients, &uid, SPEC).await;
    let changed: Vec<String> = reconcile(&clients, &plain)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let at = |s: &str| {
        changed
            .iter()
            .position(|c| c.contains(s))
            .unwrap_or_else(|| panic!("{s}: {changed:?}"))
    };
    assert!(at("route 0.0.0.0/0 of private zone 1 to NAT gateway 0") < at("delete NAT gateway"));
    for gone in ["ecr.api", "ecr.dkr", "logs", "secretsmanager"] {
        at(&format!("delete VPC endpoint {gone}"));
    }
    assert!(
        !changed.iter().any(|c| c.contains("release")),
        "the address is still held: {changed:?}"
    );
    // The gateway takes 2 s to go (AWS: minutes); then its address is released and, the
    // interface endpoints gone, their group deleted.
    let mut passes = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let steps = reconcile(&clients, &plain).await;
        if steps.is_empty() {
            break;
        }
        passes += 1;
        assert!(passes < 10, "does not settle: {steps:?}");
    }
    let counts = count_tagged(&clients, &uid).await;
    assert_eq!((counts["nat"], counts["eip"], counts["vpce"]), (1, 1, 1), "{counts:?}");
    let groups = ec2.describe_security_groups().filters(by_uid()).send().await.unwrap();
    assert!(
        !groups
            .security_groups()
            .iter()
            .any(|g| component(g.tags()) == "sg/endpoints")
    );

    delete_all(&clients, &plain.key()).await;
    let counts = count_tagged(&clients, &uid).await;
    assert!(counts.values().all(|n| *n == 0), "{counts:?}");
}
