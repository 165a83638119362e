//! Drift events (`--events`), end to end. Moto emits no CloudTrail events, so the tests put
//! CloudTrail-shaped events on the bus themselves (as AWS would after a console change), and echo
//! the operator's heartbeat (its TagQueue) the same way while they want the pipeline healthy.
//!
//! - `create`: the operator makes its queue (SSE, a dead-letter queue, a policy for its rules
//!   only) and rules; a security group rule added by hand and its event: removed within 10 s, with
//!   the re-check period an hour; heartbeats no longer echoed: the pipeline turns degraded, every
//!   object is re-checked, and the same drift without an event is removed by that sweep.
//! - the batched sweep: with events healthy, the same drift and no event is corrected by the next
//!   sweep (a few calls for every stack), not by a re-check; a quiet account makes the sweeps
//!   find nothing changed.
//! - `queue=`: a queue the platform made; an event sent to it corrects drift, and the operator
//!   creates no rule.
//! - reach: a stack in a region whose events the pipeline does not read keeps the short re-check
//!   period while the pipeline is healthy (its drift corrected without an event); a stack in the
//!   home region keeps waiting for its event.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IpPermission, IpRange};
use aws_sdk_sqs::types::QueueAttributeName;
use kube::Api;
use serde_json::json;
use webstack_operator::api::WebStack;

use crate::harness::events::{CLOUDTRAIL, echo_heartbeats, put_event, queue_url};
use crate::harness::kube::{chart_identity_kubeconfig_path, client, install_crds, namespace};
use crate::harness::manifest::{apply_all, parse, wait_ready};
use crate::harness::moto::Moto;
use crate::harness::operator::{Operator, sample};

const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Admin/alice";

fn stack(name: &str) -> String {
    format!(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {{name: {name}}}\n\
         spec: {{network: {{cidr: 10.0.0.0/16, natGateways: none}}}}\n"
    )
}

/// The stack's load balancer security group, once Ready.
pub(crate) async fn lb_group(client: &kube::Client, ns: &str, name: &str) -> String {
    let ws = Api::<WebStack>::namespaced(client.clone(), ns).get(name).await.unwrap();
    ws.status
        .and_then(|s| s.security_groups)
        .and_then(|g| g.load_balancer)
        .expect("the load balancer's group in status")
}

/// Adds SSH from anywhere to `group`, as someone would in the console.
pub(crate) async fn open_ssh(ec2: &aws_sdk_ec2::Client, group: &str) {
    ec2.authorize_security_group_ingress()
        .group_id(group)
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
}

pub(crate) async fn ssh_open(ec2: &aws_sdk_ec2::Client, group: &str) -> bool {
    let out = ec2.describe_security_groups().group_ids(group).send().await.unwrap();
    out.security_groups()[0]
        .ip_permissions()
        .iter()
        .any(|p| p.from_port() == Some(22))
}

/// The CloudTrail event of that change, as EventBridge delivers it.
pub(crate) fn ssh_event(group: &str) -> serde_json::Value {
    json!({
        "eventName": "AuthorizeSecurityGroupIngress", "eventSource": "ec2.amazonaws.com",
        "readOnly": false, "awsRegion": "us-east-1",
        "userIdentity": {"type": "AssumedRole", "arn": ALICE},
        "requestParameters": {"groupId": group, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22}]}},
        "responseElements": {"_return": true},
    })
}

/// Every attribute of the queue.
async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> std::collections::HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

/// Waits up to `secs` for `ok`, polling every 200 ms; how long it took.
pub(crate) async fn within<F, Fut>(secs: u64, mut ok: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if ok().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// A namespace, the emulator, an operator with `args` (re-checks an hour apart), and one Ready stack
/// `stack`; clients of EC2, SQS and EventBridge.
struct World {
    client: kube::Client,
    ns: String,
    op: Operator,
    ec2: aws_sdk_ec2::Client,
    sqs: aws_sdk_sqs::Client,
    bus: aws_sdk_eventbridge::Client,
    _moto: Moto,
}

impl World {
    async fn start(moto: Moto, prefix: &str, stack_name: &str, args: &[&str]) -> World {
        let client = client().await;
        install_crds(&client).await;
        let ns = namespace(&client, prefix).await;
        let config = moto.sdk_config().await;
        let op = Operator::start_named(&moto, &ns, "1h", &chart_identity_kubeconfig_path(), &[], &ns, args);
        let objects = parse(&stack(stack_name));
        apply_all(&client, &ns, &objects).await;
        wait_ready(&client, &ns, &objects, &op, 180).await;
        World {
            client,
            ns,
            op,
            ec2: aws_sdk_ec2::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            bus: aws_sdk_eventbridge::Client::new(&config),
            _moto: moto,
        }
    }
}

#[tokio::test]
async fn events_create_correct_drift_in_seconds_and_a_lost_heartbeat_rechecks_everything() {
    // Re-checks an hour apart: within the test, only events (and the degraded sweep) correct.
    let world = World::start(
        Moto::start(),
        "events",
        "watched",
        &[
            "--events",
            "create",
            "--events-heartbeat",
            "6s",
            "--events-resync-period",
            "1h",
        ],
    )
    .await;
    let (client, ns, op, ec2, sqs, bus) = (&world.client, &world.ns, &world.op, &world.ec2, &world.sqs, &world.bus);
    let url = queue_url(sqs)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", op.log_tail()));
    let attributes = queue_attributes(sqs, &url).await;
    let attr = |name: QueueAttributeName| attributes.get(&name).cloned().unwrap_or_default();
    assert_eq!(attr(QueueAttributeName::SqsManagedSseEnabled), "true", "{attributes:?}");
    assert!(
        attr(QueueAttributeName::RedrivePolicy).contains("webstack-e2e-events-dlq"),
        "{attributes:?}"
    );
    let policy: serde_json::Value = serde_json::from_str(&attr(QueueAttributeName::Policy)).unwrap();
    assert_eq!(policy["Statement"][0]["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(
        policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "only the operator's three rules may send: {policy}"
    );
    let rules = bus.list_rules().name_prefix("webstack-e2e-").send().await.unwrap();
    let mut names: Vec<&str> = rules.rules().iter().filter_map(|r| r.name()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["webstack-e2e-drift", "webstack-e2e-ecs", "webstack-e2e-heartbeat"]
    );
    let drift = rules
        .rules()
        .iter()
        .find(|r| r.name() == Some("webstack-e2e-drift"))
        .unwrap();
    let pattern: serde_json::Value = serde_json::from_str(drift.event_pattern().unwrap()).unwrap();
    assert!(
        pattern["detail"]["userIdentity"]["arn"][0]["anything-but"].is_array(),
        "the operator's own calls are left out: {pattern}"
    );

    // Healthy once heartbeats come back.
    let echo = echo_heartbeats(url.clone(), sqs.clone(), bus.clone());
    let healthy = within(30, || async {
        sample(&op.scrape().await, "webstack_events_pipeline_healthy") == Some(1.0)
    })
    .await;
    assert!(
        healthy.is_some(),
        "the pipeline never turned healthy:\n{}",
        op.log_tail()
    );

    // Drift with its event: corrected in seconds, an hour before any re-check.
    let group = lb_group(client, ns, "watched").await;
    open_ssh(ec2, &group).await;
    put_event(bus, "aws.ec2", &ssh_event(&group)).await;
    let fixed = within(10, || async { !ssh_open(ec2, &group).await }).await;
    println!("drift with an event corrected in {fixed:?}");
    assert!(
        fixed.is_some(),
        "not corrected within 10 s of its event:\n{}",
        op.log_tail()
    );
    let scrape = op.scrape().await;
    assert!(sample(&scrape, "webstack_events_received_total{outcome=\"matched\"}").unwrap_or(0.0) >= 1.0);

    // An event about nothing the operator manages reconciles nothing.
    put_event(bus, "aws.ec2", &ssh_event("sg-0000000000000dead")).await;
    let unmatched = within(10, || async {
        sample(
            &op.scrape().await,
            "webstack_events_received_total{outcome=\"unmatched\"}",
        )
        .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    assert!(unmatched.is_some(), "{}", op.log_tail());

    // The same drift without an event stays: nothing polls.
    open_ssh(ec2, &group).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        ssh_open(ec2, &group).await,
        "corrected without an event: something polled"
    );

    // Heartbeats stop coming back: degraded, and that sweep corrects it. (Waited for in that
    // order: a WebStackPolicy changed by a test running beside this one re-checks every object of
    // every operator of the API server, which can correct the drift before the pipeline degrades.)
    echo.abort();
    let degraded = within(40, || async {
        sample(&op.scrape().await, "webstack_events_pipeline_healthy") == Some(0.0)
    })
    .await;
    assert!(degraded.is_some(), "not degraded: {}", op.log_tail());
    let swept = within(40, || async { !ssh_open(ec2, &group).await }).await;
    println!("heartbeats lost: drift without an event corrected by the sweep after {swept:?}");
    assert!(
        swept.is_some(),
        "the degraded pipeline's sweep did not correct it:\n{}",
        op.log_tail()
    );
}

#[tokio::test]
async fn a_sweep_corrects_drift_no_event_reported() {
    // Re-checks an hour apart, the sweep every 4 s: only the sweep can find the drift.
    let world = World::start(
        Moto::start(),
        "sweep",
        "swept",
        &[
            "--events",
            "create",
            "--events-heartbeat",
            "6s",
            "--events-sweep-period",
            "4s",
        ],
    )
    .await;
    let (client, ns, op, ec2, sqs, bus) = (&world.client, &world.ns, &world.op, &world.ec2, &world.sqs, &world.bus);
    let url = queue_url(sqs)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", op.log_tail()));
    let _echo = echo_heartbeats(url, sqs.clone(), bus.clone());
    let metric = |scrape: &str, name: &str| sample(scrape, name).unwrap_or(0.0);
    // Two sweeps have seen the stack, and a quiet account changes nothing between sweeps: no
    // field a sweep prints moves by itself.
    let swept = within(30, || async {
        metric(&op.scrape().await, "webstack_sweeps_total{outcome=\"ok\"}") >= 3.0
    })
    .await;
    assert!(swept.is_some(), "no sweep succeeded:\n{}", op.log_tail());
    let quiet = op.scrape().await;
    tokio::time::sleep(Duration::from_secs(13)).await;
    let after = op.scrape().await;
    assert!(
        metric(&after, "webstack_sweeps_total{outcome=\"ok\"}")
            >= metric(&quiet, "webstack_sweeps_total{outcome=\"ok\"}") + 2.0
    );
    assert_eq!(
        metric(&after, "webstack_sweep_changes_total"),
        metric(&quiet, "webstack_sweep_changes_total"),
        "sweeps of an unchanged account found changes:\n{}",
        op.log_tail()
    );
    assert_eq!(
        metric(&after, "webstack_sweeps_total{outcome=\"error\"}"),
        0.0,
        "{}",
        op.log_tail()
    );

    // Drift, and no event: the next sweep finds it.
    let group = lb_group(client, ns, "swept").await;
    open_ssh(ec2, &group).await;
    let fixed = within(20, || async { !ssh_open(ec2, &group).await }).await;
    println!("drift without an event corrected by the sweep in {fixed:?}");
    assert!(fixed.is_some(), "the sweep did not correct it:\n{}", op.log_tail());
    assert!(metric(&op.scrape().await, "webstack_sweep_changes_total") >= 1.0);
}

#[tokio::test]
async fn events_from_a_queue_the_platform_made() {
    // The platform's queue, made before the operator starts.
    let moto = Moto::start();
    let url = aws_sdk_sqs::Client::new(&moto.sdk_config().await)
        .create_queue()
        .queue_name("webstack-platform-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let world = World::start(moto, "eventsq", "given", &["--events", &format!("queue={url}")]).await;
    let (client, ns, op, ec2, sqs, bus) = (&world.client, &world.ns, &world.op, &world.ec2, &world.sqs, &world.bus);
    let group = lb_group(client, ns, "given").await;
    open_ssh(ec2, &group).await;
    // What EventBridge would deliver to the queue.
    let event = json!({
        "version": "0", "id": "1", "detail-type": CLOUDTRAIL, "source": "aws.ec2",
        "account": "123456789012", "region": "us-east-1", "resources": [],
        "detail": ssh_event(&group),
    });
    sqs.send_message()
        .queue_url(&url)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();
    let fixed = within(10, || async { !ssh_open(ec2, &group).await }).await;
    println!("queue=: drift corrected {fixed:?} after its event");
    assert!(
        fixed.is_some(),
        "not corrected within 10 s of its event:\n{}",
        op.log_tail()
    );
    let rules = bus.list_rules().send().await.unwrap();
    assert!(rules.rules().is_empty(), "queue= creates no rule: {rules:?}");
    // The message was handled and deleted.
    let left = queue_attributes(sqs, &url)
        .await
        .remove(&QueueAttributeName::ApproximateNumberOfMessages);
    assert_eq!(left.as_deref(), Some("0"));
}

/// Drift where no event can come from (here, a stack in another region than the pipeline's
/// queues) is found by the `--resync-period` re-check, not left for the long re-check of a
/// healthy pipeline; a stack the pipeline hears of keeps the long one.
#[tokio::test]
async fn drift_events_cannot_report_is_rechecked_every_resync_period() {
    let moto = Moto::start();
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "reach").await;
    let config = moto.sdk_config().await;
    // The re-check period 8 s; while healthy, an hour; no sweep.
    let op = Operator::start_named(
        &moto,
        &ns,
        "8s",
        &chart_identity_kubeconfig_path(),
        &[],
        &ns,
        &[
            "--events",
            "create",
            "--events-heartbeat",
            "6s",
            "--events-resync-period",
            "1h",
            "--events-sweep-period",
            "off",
        ],
    );
    let away = stack("away").replace("spec: {", "spec: {region: eu-west-1, ");
    let objects = parse(&format!("{}---\n{away}", stack("home")));
    apply_all(&client, &ns, &objects).await;
    let (sqs, bus) = (
        aws_sdk_sqs::Client::new(&config),
        aws_sdk_eventbridge::Client::new(&config),
    );
    wait_ready(&client, &ns, &objects, &op, 180).await;
    let url = queue_url(&sqs)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", op.log_tail()));
    let _echo = echo_heartbeats(url, sqs, bus);
    let healthy = || async { sample(&op.scrape().await, "webstack_events_pipeline_healthy") == Some(1.0) };
    assert!(
        within(60, healthy).await.is_some(),
        "the pipeline never became healthy:\n{}",
        op.log_tail()
    );
    // Each stack's next re-check is decided while healthy: a re-check period and some.
    tokio::time::sleep(Duration::from_secs(14)).await;

    let ec2_home = aws_sdk_ec2::Client::new(&config);
    let ec2_away = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&config)
            .region(aws_sdk_ec2::config::Region::new("eu-west-1"))
            .build(),
    );
    let (home, away) = (
        lb_group(&client, &ns, "home").await,
        lb_group(&client, &ns, "away").await,
    );
    open_ssh(&ec2_home, &home).await;
    open_ssh(&ec2_away, &away).await;
    // A heartbeat late even once re-checks every object (the home stack's drift too): watched.
    let blip = std::cell::Cell::new(false);
    let fixed = within(30, || async {
        if !healthy().await {
            blip.set(true);
        }
        !ssh_open(&ec2_away, &away).await
    })
    .await;
    println!("drift in eu-west-1, no event: corrected after {fixed:?}");
    assert!(
        fixed.is_some(),
        "drift where no event comes from was not re-checked within 30 s at an 8 s re-check period:\n{}",
        op.log_tail()
    );
    // No event, no sweep, an hour's re-check while healthy: the stack the pipeline hears of
    // waits for its event, past two of the short re-check periods.
    let drifted = Instant::now();
    while drifted.elapsed() < Duration::from_secs(18) {
        if !healthy().await {
            blip.set(true);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !blip.get() && healthy().await,
        "the pipeline was degraded during the test (late heartbeats), which re-checks every object:\n{}",
        op.log_tail()
    );
    assert!(
        ssh_open(&ec2_home, &home).await,
        "the home stack was re-checked early: its drift should wait for its event"
    );
}
