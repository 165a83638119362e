//! Sharding end to end: operator processes with `--shards 2` (and a `--namespace-selector` of
//! this test's namespaces: the API server is shared with every other test), as the chart's
//! ServiceAccount with the chart's sharding lease Role. One alone holds both shards; a second
//! takes one of them over, after which each reconciles only its own shard's namespace (the
//! Kubernetes Events each one publishes say who acted); `kill -9` of one moves its namespace to
//! the other within the bound of the lease timings; both stacks stay single and delete cleanly.
//!
//! With drift events (`--events create`), two replicas started together: an event about either
//! shard's stack corrects its drift within 10 s, the one whose replica does not run the pipeline
//! through the hints ConfigMap; `kill -9` of the pipeline's replica moves the pipeline with
//! shard 0, and an event about the moved stack is still acted on.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::WebStack;
use webstack_operator::model::shards::shard_of;

use crate::harness::kube::{chart_identity_kubeconfig_path, client, grant_sharding_in, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::leader_e2e::{LEASE, ready_at};

/// With [`LEASE`]'s timings: after a kill, the survivor sees the dead member's lease unchanged
/// for the lease duration (6 s, from a change up to one retry period old, seen at its next look),
/// and the dead one's shard lease expired by then too: it takes the shard at the look after,
/// 6 + 1 + 1 + 1 s, plus what its looks themselves take (a LIST, an attempt: 1 s allowed each).
const TAKEOVER_BOUND: Duration = Duration::from_secs(12);

fn stack(idle: u32) -> serde_json::Value {
    serde_yaml::from_str(&format!(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {{name: web}}
spec:
  network: {{cidr: 10.0.0.0/16}}
  loadBalancer:
    idleTimeoutSeconds: {idle}
    listeners:
      - {{name: http, port: 80, defaultAction: {{fixedResponse: {{statusCode: 404}}}}}}
"#
    ))
    .unwrap()
}

/// An operator named `name` (its `POD_NAME`: the start of its identity and its Events'
/// reportingInstance) with two shards, its leases in `home`.
fn start(moto: &Moto, home: &str, selector: &str, name: &str) -> Operator {
    start_with(moto, home, selector, name, "3s", &[])
}

/// [`start`] re-checking every `resync`, with `extra` arguments.
fn start_with(moto: &Moto, home: &str, selector: &str, name: &str, resync: &str, extra: &[&str]) -> Operator {
    let mut args = vec![
        "--shards",
        "2",
        "--leader-election-namespace",
        home,
        "--namespace-selector",
        selector,
    ];
    args.extend(LEASE);
    args.extend(extra);
    Operator::start_scoped(
        moto,
        None,
        resync,
        &chart_identity_kubeconfig_path(),
        &[("POD_NAME", name)],
        &format!("{home}-{name}"),
        &args,
    )
}

/// Who holds shard `i`: the `POD_NAME` its identity starts with.
async fn holder(leases: &Api<Lease>, shard: u32) -> Option<String> {
    Some(held(leases, shard).await?.0)
}

/// The holders of shards 0 and 1 once two different replicas hold them (60 s at most; `logs` for
/// the failure).
async fn shared_out(leases: &Api<Lease>, logs: impl Fn() -> String) -> [String; 2] {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = [holder(leases, 0).await, holder(leases, 1).await];
        if let [Some(x), Some(y)] = &h
            && x != y
        {
            return [x.clone(), y.clone()];
        }
        assert!(
            Instant::now() < deadline,
            "the shards were not shared out: {h:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Who holds shard `i`, and since when (the lease's acquireTime).
async fn held(leases: &Api<Lease>, shard: u32) -> Option<(String, k8s_openapi::jiff::Timestamp)> {
    let spec = leases
        .get_opt(&format!("webstack-operator-shard-{shard}"))
        .await
        .unwrap()?
        .spec?;
    let identity = spec.holder_identity.filter(|h| !h.is_empty())?;
    let who = identity.split('_').next().unwrap_or_default().to_string();
    Some((who, spec.acquire_time?.0))
}

/// The Events published about `web` in `ns` by each reporting instance, with the time of the
/// last occurrence of each.
async fn reporters(client: &kube::Client, ns: &str) -> Vec<(String, k8s_openapi::jiff::Timestamp, String)> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web"))
        .filter_map(|e| {
            let last = e
                .series
                .as_ref()
                .map(|s| s.last_observed_time.0)
                .or(e.event_time.as_ref().map(|t| t.0))?;
            Some((
                e.reporting_instance.clone()?,
                last,
                e.reason.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

/// One namespace in each of two shards, labelled `webstack.io/e2e-shards=<home>` for one test's
/// operators only.
async fn namespaces_by_shard(client: &kube::Client, home: &str) -> [String; 2] {
    let mut by_shard: [Option<String>; 2] = [None, None];
    let namespaces: Api<Namespace> = Api::all(client.clone());
    while by_shard.iter().any(Option::is_none) {
        let ns = namespace(client, "shard").await;
        let shard = shard_of(&ns, 2) as usize;
        if by_shard[shard].is_some() {
            namespaces.delete(&ns, &DeleteParams::default()).await.unwrap();
            continue;
        }
        let label = serde_json::json!({"metadata": {"labels": {"webstack.io/e2e-shards": &home}}});
        namespaces
            .patch(&ns, &PatchParams::default(), &Patch::Merge(&label))
            .await
            .unwrap();
        by_shard[shard] = Some(ns);
    }
    let ns = by_shard.map(Option::unwrap);
    println!("shard 0: {}, shard 1: {}", ns[0], ns[1]);
    ns
}

#[tokio::test]
async fn two_shards_split_the_namespaces_and_a_killed_replicas_move_to_the_other() {
    let client = client().await;
    install_crds(&client).await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    // The leases live in a namespace of the test's own, with the chart's sharding Role there.
    let home = namespace(&client, "shards").await;
    grant_sharding_in(&client, &home).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &home);
    let selector = format!("webstack.io/e2e-shards={home}");
    let ns = namespaces_by_shard(&client, &home).await;
    let apis: Vec<Api<WebStack>> = ns.iter().map(|n| Api::namespaced(client.clone(), n)).collect();
    let apply = |api: &Api<WebStack>, idle: u32| {
        let api = api.clone();
        async move {
            api.patch("web", &PatchParams::apply("e2e-user"), &Patch::Apply(&stack(idle)))
                .await
                .unwrap()
        }
    };

    // A alone holds both shards and builds both stacks.
    let mut a = start(&moto, &home, &selector, "a");
    let deadline = Instant::now() + Duration::from_secs(30);
    while holder(&leases, 0).await.as_deref() != Some("a") || holder(&leases, 1).await.as_deref() != Some("a") {
        assert!(Instant::now() < deadline, "A never held both shards:\n{}", a.log_tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut uids = Vec::new();
    for api in &apis {
        uids.push(apply(api, 60).await.uid().unwrap());
    }
    for api in &apis {
        crate::harness::wait::until(api, "web", &a, "Ready under A alone", 120, |w| ready_at(w, 1)).await;
    }

    // B joins: the shards are shared out, one each.
    let mut b = start(&moto, &home, &selector, "b");
    // B is given a shard once A has seen it alive for a lease duration; A hands it over then.
    let holders = shared_out(&leases, || format!("A:\n{}\nB:\n{}", a.log_tail(), b.log_tail())).await;
    println!("shard 0 held by {}, shard 1 by {}", holders[0], holders[1]);
    // Since when each shard has its holder: the other must not act there from then on (an
    // overlap during the hand-over shows as the other's Event after it).
    let mut since = Vec::new();
    for shard in 0..2 {
        since.push(held(&leases, shard).await.unwrap().1);
    }
    // Each says so at the end of its look.
    for (op, name) in [(&a, "a"), (&b, "b")] {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let scrape = op.scrape().await;
            if scrape.lines().any(|l| l == "webstack_shards_held 1") {
                break;
            }
            assert!(Instant::now() < deadline, "{name} holds one shard:\n{scrape}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Each changes only its own shard's stack.
    for api in &apis {
        apply(api, 120).await;
    }
    let op_of = |who: &str| if who == "a" { &a } else { &b };
    for (i, api) in apis.iter().enumerate() {
        crate::harness::wait::until(
            api,
            "web",
            op_of(&holders[i]),
            "the change under its shard's holder",
            120,
            |w| ready_at(w, 2),
        )
        .await;
    }
    for i in 0..2 {
        let seen = reporters(&client, &ns[i]).await;
        let by_holder = seen
            .iter()
            .filter(|(who, t, _)| *who == holders[i] && *t >= since[i])
            .count();
        assert!(
            by_holder > 0,
            "{} published nothing about the change in {}: {seen:?}",
            holders[i],
            ns[i]
        );
        let other = &holders[1 - i];
        let stray: Vec<_> = seen
            .iter()
            .filter(|(who, t, _)| who == other && *t >= since[i])
            .collect();
        assert!(
            stray.is_empty(),
            "{other} acted in {} after {} took it over: {stray:?}",
            ns[i],
            holders[i]
        );
    }

    // kill -9 of B: its shard moves to A, and A converges a change there.
    let b_shard = holders.iter().position(|h| h == "b").unwrap();
    b.kill();
    let killed = Instant::now();
    while holder(&leases, b_shard as u32).await.as_deref() != Some("a") {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "A did not take B's shard:\n{}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let taken = killed.elapsed();
    println!(
        "A took shard {b_shard} {:.1}s after kill -9 of B (bound {TAKEOVER_BOUND:?})",
        taken.as_secs_f64()
    );
    assert!(taken <= TAKEOVER_BOUND, "took over after {taken:?}");
    apply(&apis[b_shard], 90).await;
    crate::harness::wait::until(&apis[b_shard], "web", &a, "B's stack changed under A", 120, |w| {
        ready_at(w, 3)
    })
    .await;
    let scrape = a.scrape().await;
    assert!(scrape.lines().any(|l| l == "webstack_shards_held 2"), "{scrape}");

    // Nothing was made twice; deletion finishes and leaves nothing.
    let ec2 = aws_sdk_ec2::Client::new(&config);
    for uid in &uids {
        let vpcs = ec2
            .describe_vpcs()
            .filters(Filter::builder().name("tag:webstack.io/uid").values(uid).build())
            .send()
            .await
            .unwrap();
        assert_eq!(vpcs.vpcs().len(), 1, "one VPC per stack");
    }
    for api in &apis {
        api.delete("web", &DeleteParams::default()).await.unwrap();
    }
    for api in &apis {
        crate::harness::wait::gone(api, "web", &a, 120).await;
    }
    for n in &ns {
        let left = leftovers(&config, n).await;
        assert!(left.is_empty(), "left in AWS by {n}: {left:#?}");
    }
    a.kill();
}

/// A stack without NAT gateways (quick to build), whose load balancer group events name.
fn quick_stack() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "webstack.io/v1alpha1", "kind": "WebStack", "metadata": {"name": "web"},
        "spec": {"network": {"cidr": "10.0.0.0/16", "natGateways": "none"}},
    })
}

/// SSH opened by hand on the group, and its CloudTrail event put on the bus: how long until the
/// operator closed it again (`None`: not within 10 s).
async fn drift_with_event(
    ec2: &aws_sdk_ec2::Client,
    bus: &aws_sdk_eventbridge::Client,
    group: &str,
) -> Option<Duration> {
    use crate::events_e2e::{open_ssh, ssh_event, ssh_open, within};
    open_ssh(ec2, group).await;
    crate::harness::events::put_event(bus, "aws.ec2", &ssh_event(group)).await;
    within(10, || async { !ssh_open(ec2, group).await }).await
}

#[tokio::test]
async fn drift_events_reach_every_shard_and_move_with_shard_0() {
    use crate::events_e2e::within;
    use crate::harness::events::{echo_heartbeats, queue_url};
    use crate::harness::operator::sample;
    use k8s_openapi::api::core::v1::ConfigMap;
    let client = client().await;
    install_crds(&client).await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let (ec2, sqs, bus) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
        aws_sdk_eventbridge::Client::new(&config),
    );
    let home = namespace(&client, "shev").await;
    grant_sharding_in(&client, &home).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &home);
    let selector = format!("webstack.io/e2e-shards={home}");
    let ns = namespaces_by_shard(&client, &home).await;
    // Re-checks an hour apart and no sweep: within the test, only events correct drift.
    let events = [
        "--events",
        "create",
        "--events-heartbeat",
        "4s",
        "--events-resync-period",
        "1h",
        "--events-sweep-period",
        "off",
    ];
    let mut ops = [
        Some(start_with(&moto, &home, &selector, "a", "1h", &events)),
        Some(start_with(&moto, &home, &selector, "b", "1h", &events)),
    ];
    let op = |ops: &[Option<Operator>; 2], who: &str| -> usize {
        let i = if who == "a" { 0 } else { 1 };
        assert!(ops[i].is_some(), "{who} was killed");
        i
    };
    let tails = |ops: &[Option<Operator>; 2]| -> String {
        ops.iter()
            .flatten()
            .map(|o| o.log_tail())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    // Started together, each takes one shard.
    let holders = shared_out(&leases, || tails(&ops)).await;
    println!(
        "shard 0 (the pipeline) held by {}, shard 1 by {}",
        holders[0], holders[1]
    );
    let apis: Vec<Api<WebStack>> = ns.iter().map(|n| Api::namespaced(client.clone(), n)).collect();
    for api in &apis {
        api.patch("web", &PatchParams::apply("e2e-user"), &Patch::Apply(&quick_stack()))
            .await
            .unwrap();
    }
    for (i, api) in apis.iter().enumerate() {
        let o = ops[op(&ops, &holders[i])].as_ref().unwrap();
        crate::harness::wait::until(api, "web", o, "Ready under its shard's holder", 180, |w| ready_at(w, 1)).await;
    }
    let url = queue_url(&sqs).await.unwrap_or_else(|e| panic!("{e}\n{}", tails(&ops)));
    let echo = echo_heartbeats(url, sqs.clone(), bus.clone());
    // Both healthy: the pipeline's replica by its heartbeats, the other by the hints ConfigMap.
    for who in ["a", "b"] {
        let o = ops[op(&ops, who)].as_ref().unwrap();
        let healthy = within(30, || async {
            sample(&o.scrape().await, "webstack_events_pipeline_healthy") == Some(1.0)
        })
        .await;
        assert!(
            healthy.is_some(),
            "{who} never saw the pipeline healthy:\n{}",
            tails(&ops)
        );
    }
    // Drift in each shard's stack, with its event: corrected in seconds.
    let mut groups = Vec::new();
    for n in &ns {
        groups.push(crate::events_e2e::lb_group(&client, n, "web").await);
    }
    for i in [1, 0] {
        let fixed = drift_with_event(&ec2, &bus, &groups[i]).await;
        println!(
            "shard {i} (held by {}{}): drift with an event corrected in {fixed:?}",
            holders[i],
            if i == 0 {
                ", the pipeline's replica"
            } else {
                ", through the hints"
            }
        );
        assert!(
            fixed.is_some(),
            "shard {i}'s drift not corrected within 10 s of its event:\n{}",
            tails(&ops)
        );
    }
    let other = ops[op(&ops, &holders[1])].as_ref().unwrap();
    let scrape = other.scrape().await;
    assert!(
        sample(&scrape, "webstack_events_received_total{outcome=\"hinted\"}").unwrap_or(0.0) >= 1.0,
        "{scrape}"
    );
    // What carried the hint, read back from the API server.
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &home)
        .get("webstack-operator-events")
        .await
        .unwrap();
    let data = cm.data.unwrap_or_default();
    assert_eq!(data.get("health").map(String::as_str), Some("healthy"), "{data:?}");
    assert!(
        data.iter()
            .any(|(k, v)| k.starts_with("batch-") && v.lines().any(|l| l == groups[1])),
        "the hint naming shard 1's group: {data:?}"
    );

    // kill -9 of the pipeline's replica: the other takes shard 0, and the pipeline with it.
    let (dead, survivor) = (op(&ops, &holders[0]), op(&ops, &holders[1]));
    ops[dead].take().unwrap().kill();
    let killed = Instant::now();
    let name = holders[1].clone();
    while holder(&leases, 0).await.as_deref() != Some(name.as_str()) {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "shard 0 not taken over:\n{}",
            tails(&ops)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{name} took shard 0 {:.1}s after kill -9",
        killed.elapsed().as_secs_f64()
    );
    let o = ops[survivor].as_ref().unwrap();
    // Its own heartbeats come back (the echo goes on), and it writes the hints now.
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &home);
    let healthy = within(30, || async {
        let scrape = o.scrape().await;
        let data = configmaps
            .get("webstack-operator-events")
            .await
            .ok()
            .and_then(|c| c.data)
            .unwrap_or_default();
        sample(&scrape, "webstack_shards_held") == Some(2.0)
            && sample(&scrape, "webstack_events_pipeline_healthy") == Some(1.0)
            && data.get("writer").is_some_and(|w| w.starts_with(&format!("{name}_")))
            && data.get("health").map(String::as_str) == Some("healthy")
    })
    .await;
    assert!(
        healthy.is_some(),
        "the moved pipeline never turned healthy:\n{}",
        tails(&ops)
    );
    // The killed replica's last long poll (20 s) is still open on the queue's side: an event sent
    // meanwhile may go to it, and come back only after the visibility timeout (60 s), as on AWS
    // (docs/operations.md). The test waits that poll out.
    let poll_over = Duration::from_secs(21).saturating_sub(killed.elapsed());
    tokio::time::sleep(poll_over).await;
    let fixed = drift_with_event(&ec2, &bus, &groups[0]).await;
    println!("after the move: drift in shard 0's stack corrected in {fixed:?}");
    assert!(
        fixed.is_some(),
        "not corrected after the pipeline moved:\n{}",
        tails(&ops)
    );
    echo.abort();

    for api in &apis {
        api.delete("web", &DeleteParams::default()).await.unwrap();
    }
    for api in &apis {
        crate::harness::wait::gone(api, "web", o, 120).await;
    }
    for n in &ns {
        let left = leftovers(&config, n).await;
        assert!(left.is_empty(), "left in AWS by {n}: {left:#?}");
    }
}
