//! Leader election end to end: two operator processes with `--leader-elect` and one stack. Only
//! the leader makes AWS calls; both answer their health probes, and a scrape of each one's
//! `/metrics` shows what it did (the leader's reconciles and AWS calls, nothing for the standby);
//! `kill -9` of the leader (no release) and the standby takes over within the bound of its
//! timings; the stack stays correct (a change converges, nothing is duplicated) and deletes cleanly.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::WebStack;

use crate::harness::kube::{chart_identity_kubeconfig_path, client, grant_leader_election_in, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::moto::Moto;
use crate::harness::operator::{Operator, http_get, sample};

const STACK: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: netflux}
spec:
  network: {cidr: 10.0.0.0/16}
  loadBalancer:
    idleTimeoutSeconds: 60
    listeners:
      - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404, messageBody: "nothing here"}}}
"#;

/// Short timings for the test: a standby takes an unrenewed lease after 6 s on its own clock,
/// checking every 1 s, so it takes over at most 6 + 1 (the last renewal it saw may be up to one
/// retry period old when the leader dies) + 1 (its next check) = 8 s after the kill.
pub(crate) const LEASE: [&str; 6] = [
    "--lease-duration",
    "6s",
    "--renew-deadline",
    "4s",
    "--retry-period",
    "1s",
];
const TAKEOVER_BOUND: Duration = Duration::from_secs(8);

/// Ready, at `generation`.
pub(crate) fn ready_at(ws: &WebStack, generation: i64) -> bool {
    let ready = ws
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    ready.is_some_and(|c| c.status == "True")
        && ws.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
}

fn start(moto: &Moto, ns: &str, name: &str) -> Operator {
    let mut args = vec!["--leader-elect", "--leader-election-namespace", ns];
    args.extend(LEASE);
    Operator::start_named(
        moto,
        ns,
        "3s",
        &chart_identity_kubeconfig_path(),
        &[],
        &format!("{ns}-{name}"),
        &args,
    )
}

/// The AWS operations an operator recorded so far.
fn operations(op: &Operator) -> Vec<String> {
    std::fs::read_to_string(&op.operations)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

async fn lease_holder(api: &Api<Lease>) -> Option<String> {
    api.get_opt("webstack-operator")
        .await
        .unwrap()
        .and_then(|l| l.spec?.holder_identity)
        .filter(|h| !h.is_empty())
}

#[tokio::test]
async fn only_the_leader_acts_and_a_standby_takes_over_after_kill_9() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "leader").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    // The operators run as the chart's ServiceAccount; their Lease is in the test namespace, so
    // the chart's leader election Role (release namespace only) is granted there as well.
    grant_leader_election_in(&client, &ns).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);

    // A starts first and leads; B waits.
    let mut a = start(&moto, &ns, "a");
    let deadline = Instant::now() + Duration::from_secs(30);
    while lease_holder(&leases).await.is_none() {
        assert!(Instant::now() < deadline, "A never led:\n{}", a.log_tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b = start(&moto, &ns, "b");
    let api: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let manifest: serde_json::Value = serde_yaml::from_str(STACK).unwrap();
    let ws = api
        .patch("netflux", &PatchParams::apply("e2e-user"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    let uid = ws.uid().unwrap();
    crate::harness::wait::until(&api, "netflux", &a, "Ready under A", 120, |w| ready_at(w, 1)).await;
    // Some resync periods with both running: B has made no AWS call at all.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!operations(&a).is_empty(), "A reconciled");
    assert_eq!(operations(&b), Vec::<String>::new(), "the standby made no AWS call");
    assert!(b.log_text().contains("waiting for leadership"), "{}", b.log_tail());
    let leader = lease_holder(&leases).await.unwrap();

    // Both are alive and ready; the leader's metrics tell what it did, the standby's nothing.
    for op in [&a, &b] {
        let health = op.served("Health");
        assert_eq!(http_get(&health, "/healthz").await.0, 200);
        assert_eq!(http_get(&health, "/readyz").await.0, 200);
    }
    let (status, scrape) = http_get(&a.served("Metrics"), "/metrics").await;
    assert_eq!(status, 200);
    let reconciles = sample(
        &scrape,
        "controller_runtime_reconcile_total{controller=\"webstack\",result=\"success\"}",
    );
    assert!(reconciles.is_some_and(|n| n >= 1.0), "{scrape}");
    assert_eq!(
        sample(
            &scrape,
            "webstack_aws_api_calls_total{service=\"EC2\",operation=\"CreateVpc\",outcome=\"success\"}"
        ),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "webstack_resources{kind=\"WebStack\",condition=\"Ready\"}"),
        Some(1.0)
    );
    assert!(
        sample(
            &scrape,
            "controller_runtime_reconcile_time_seconds_count{controller=\"webstack\"}"
        )
        .is_some()
    );
    assert_eq!(sample(&scrape, "webstack_aws_throttled_total"), Some(0.0));
    let (_, standby) = http_get(&b.served("Metrics"), "/metrics").await;
    assert!(
        !standby.contains("webstack_aws_api_calls_total{"),
        "the standby made no call:\n{standby}"
    );

    // kill -9 the leader: it releases nothing; B takes over once the lease stops changing.
    a.kill();
    let killed = Instant::now();
    let taken = loop {
        if b.log_text().contains("acquired leadership") {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "B did not take over:\n{}",
            b.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "standby took over {:.1}s after kill -9 of the leader (bound {TAKEOVER_BOUND:?})",
        taken.as_secs_f64()
    );
    assert!(taken <= TAKEOVER_BOUND, "took over after {taken:?}");
    let new_leader = lease_holder(&leases).await.unwrap();
    assert_ne!(new_leader, leader);

    // The stack stays correct under B: a change converges, nothing exists twice.
    let changed = STACK.replace("idleTimeoutSeconds: 60", "idleTimeoutSeconds: 120");
    let manifest: serde_json::Value = serde_yaml::from_str(&changed).unwrap();
    api.patch("netflux", &PatchParams::apply("e2e-user"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    crate::harness::wait::until(&api, "netflux", &b, "Ready under B", 120, |w| ready_at(w, 2)).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let vpcs = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:webstack.io/uid").values(&uid).build())
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "one VPC");
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert_eq!(lbs.load_balancers().len(), 1, "one load balancer");
    let attrs = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(lbs.load_balancers()[0].load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let idle = attrs
        .attributes()
        .iter()
        .find(|x| x.key() == Some("idle_timeout.timeout_seconds"))
        .and_then(|x| x.value());
    assert_eq!(idle, Some("120"), "B applied the change");

    api.delete("netflux", &DeleteParams::default()).await.unwrap();
    crate::harness::wait::gone(&api, "netflux", &b, 120).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS: {left:#?}");
}
