//! Sharding end to end: operator processes with `--shards 2` (and a `--namespace-selector` of
//! this test's namespaces: the API server is shared with every other test), as the chart's
//! ServiceAccount with the chart's sharding lease Role. One alone holds both shards; a second
//! takes one of them over, after which each reconciles only its own shard's namespace (the
//! Kubernetes Events each one publishes say who acted); `kill -9` of one moves its namespace to
//! the other within the bound of the lease timings; both stacks stay single and delete cleanly.

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
    let mut args = vec![
        "--shards",
        "2",
        "--leader-election-namespace",
        home,
        "--namespace-selector",
        selector,
    ];
    args.extend(LEASE);
    Operator::start_scoped(
        moto,
        None,
        "3s",
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
    // One namespace in each shard, labelled for this test's operators only.
    let selector = format!("webstack.io/e2e-shards={home}");
    let mut by_shard: [Option<String>; 2] = [None, None];
    let namespaces: Api<Namespace> = Api::all(client.clone());
    while by_shard.iter().any(Option::is_none) {
        let ns = namespace(&client, "shard").await;
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
    let deadline = Instant::now() + Duration::from_secs(60);
    let holders = loop {
        let h = [holder(&leases, 0).await, holder(&leases, 1).await];
        if let [Some(x), Some(y)] = &h
            && x != y
        {
            break [x.clone(), y.clone()];
        }
        assert!(
            Instant::now() < deadline,
            "the shards were not shared out: {h:?}\nA:\n{}\nB:\n{}",
            a.log_tail(),
            b.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
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
