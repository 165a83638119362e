//! DNS records (`spec.dns`) end to end: a record target `staticSite` on a stack without a site
//! stalls naming the field; a record of that name the operator did not write is never
//! overwritten (Stalled, naming it, the record read back unchanged); a free name gets its alias to
//! the load balancer, PENDING in status until Route 53 reports INSYNC; deletion leaves the user's
//! record and nothing of the stack's. Reference architecture 2's records are checked by
//! [`example_2_records`] from `examples_e2e.rs`.

use aws_config::SdkConfig;
use aws_sdk_route53::types::{ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use webstack_operator::api::{StaticSite, WebStack};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::leftovers_dns::record_sets;
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::wait::{gone, until};

/// The hosted zone of reference architecture 2 (`examples/2-fargate-autoscaled-postgres-cdn.yaml`).
pub const EXAMPLE_ZONE: &str = "Z0123456789ABCDEFGHIJ";

fn condition(ws: &WebStack, type_: &str) -> Option<(String, String, String)> {
    let c = ws.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn ready_at(ws: &WebStack, generation: i64) -> bool {
    condition(ws, "Ready").is_some_and(|c| c.0 == "True")
        && ws.status.as_ref().and_then(|st| st.observed_generation) == Some(generation)
}

/// `(type, name without the trailing dot)` → the record set, read from Route 53.
async fn records(config: &SdkConfig, zone: &str) -> Vec<ResourceRecordSet> {
    record_sets(&aws_sdk_route53::Client::new(config), zone).await
}

fn find<'a>(records: &'a [ResourceRecordSet], kind: &str, name: &str) -> Option<&'a ResourceRecordSet> {
    records
        .iter()
        .find(|r| r.r#type().as_str() == kind && r.name().trim_end_matches('.') == name)
}

/// Reference architecture 2, read back from Route 53: `www` aliases the static site's distribution
/// (A and AAAA, CloudFront's zone), `api` the load balancer (A only: the stack's ALB is ipv4, with
/// its canonical zone), each with its ownership record naming the stack; status says INSYNC.
pub async fn example_2_records(client: &kube::Client, ns: &str, config: &SdkConfig) {
    let ws = Api::<WebStack>::namespaced(client.clone(), ns)
        .get("webapp")
        .await
        .unwrap();
    let site = Api::<StaticSite>::namespaced(client.clone(), ns)
        .get("webapp")
        .await
        .unwrap();
    let domain = site.status.unwrap().domain_name.expect("the distribution's domain");
    let st = ws.status.unwrap();
    let lb_dns = st.load_balancer.unwrap().dns_name.unwrap();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    let lb = lbs
        .load_balancers()
        .iter()
        .find(|l| l.dns_name() == Some(lb_dns.as_str()))
        .unwrap();
    let all = records(config, EXAMPLE_ZONE).await;
    let alias = |kind: &str, name: &str| {
        let r = find(&all, kind, name).unwrap_or_else(|| panic!("{kind} {name}: {all:#?}"));
        let a = r.alias_target().expect("an alias");
        (
            a.hosted_zone_id().to_string(),
            a.dns_name().trim_end_matches('.').to_string(),
        )
    };
    let cloudfront = ("Z2FDTNDATAQYW2".to_string(), domain.clone());
    assert_eq!(alias("A", "www.webapp.example"), cloudfront);
    assert_eq!(alias("AAAA", "www.webapp.example"), cloudfront);
    assert_eq!(
        alias("A", "api.webapp.example"),
        (lb.canonical_hosted_zone_id().unwrap().to_string(), lb_dns.clone())
    );
    assert!(
        find(&all, "AAAA", "api.webapp.example").is_none(),
        "an ipv4 ALB: A only"
    );
    for owner in [
        "_webstack-a.www.webapp.example",
        "_webstack-aaaa.www.webapp.example",
        "_webstack-a.api.webapp.example",
    ] {
        let txt = find(&all, "TXT", owner).unwrap_or_else(|| panic!("ownership record {owner}"));
        let value = txt.resource_records()[0].value();
        assert!(
            value.contains(&format!("webstack.io/owner={ns}/WebStack/webapp")) && value.contains("webstack.io/uid="),
            "{value}"
        );
    }
    let names: Vec<(String, Option<String>, Option<String>)> = st
        .dns
        .iter()
        .map(|r| (r.name.clone(), r.alias.clone(), r.change.clone()))
        .collect();
    let insync = Some("INSYNC".to_string());
    assert_eq!(
        names,
        [
            ("www.webapp.example".to_string(), Some(domain), insync.clone()),
            ("api.webapp.example".to_string(), Some(lb_dns.to_lowercase()), insync),
        ]
    );
}

/// After deletion the zone holds only what Route 53 made (NS, SOA) and `keep`.
pub async fn zone_holds_only(config: &SdkConfig, zone: &str, keep: &[(&str, &str)]) {
    let left: Vec<(String, String)> = records(config, zone)
        .await
        .iter()
        .map(|r| {
            (
                r.r#type().as_str().to_string(),
                r.name().trim_end_matches('.').to_string(),
            )
        })
        // `filler-*`: the records of others a test fills a zone with.
        .filter(|(t, n)| t != "NS" && t != "SOA" && !n.starts_with("filler-"))
        .collect();
    let keep: Vec<(String, String)> = keep.iter().map(|(t, n)| (t.to_string(), n.to_string())).collect();
    assert_eq!(left, keep, "records left in {zone}");
}

const ZONE: &str = "ZDNSE2ETEST";

fn stack(name: &str, records: &str, load_balancer: bool) -> serde_json::Value {
    let lb = if load_balancer {
        "loadBalancer: {listeners: [{name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404}}}]},"
    } else {
        ""
    };
    serde_yaml::from_str(&format!(
        "{{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {{name: {name}}},
          spec: {{network: {{cidr: 10.0.0.0/16}}, {lb} dns: {{hostedZoneId: {ZONE}, records: {records}}}}}}}"
    ))
    .unwrap()
}

#[tokio::test]
async fn dns_records_stall_on_bad_input_never_overwrite_and_wait_for_insync() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-dns").await;
    // Changes stay PENDING for 4 seconds (tests/moto/route53.py).
    let moto = Moto::start_with_env(&[("MOTO_ROUTE53_PROPAGATION_SECONDS", "4")]);
    let config = moto.sdk_config().await;
    moto.hosted_zone(ZONE, "example.test");
    // The user's own record, written before any stack.
    let r53 = aws_sdk_route53::Client::new(&config);
    let theirs = ResourceRecordSet::builder()
        .name("taken.example.test")
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value("192.0.2.10").build().unwrap())
        .build()
        .unwrap();
    r53.change_resource_record_sets()
        .hosted_zone_id(ZONE)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(theirs)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // 5,000 records of others in the zone: listed whole, 17 pages of 300 a reconcile.
    for batch in 0..5 {
        let changes = (0..1000).map(|i| {
            let n = batch * 1000 + i;
            aws_sdk_route53::types::Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(
                    ResourceRecordSet::builder()
                        .name(format!("filler-{n}.example.test"))
                        .r#type(RrType::A)
                        .ttl(60)
                        .resource_records(
                            ResourceRecord::builder()
                                .value(format!("198.51.100.{}", n % 250))
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        });
        r53.change_resource_record_sets()
            .hosted_zone_id(ZONE)
            .change_batch(
                aws_sdk_route53::types::ChangeBatch::builder()
                    .set_changes(Some(changes.collect()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let op = Operator::start(&moto, &ns, "3s");
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let ssa = PatchParams::apply("e2e-user").force();

    // A staticSite record on a stack without a static site: Stalled, naming the field.
    let nosite = stack("nosite", "[{name: www.example.test, target: staticSite}]", false);
    stacks.patch("nosite", &ssa, &Patch::Apply(&nosite)).await.unwrap();
    let ws = until(&stacks, "nosite", &op, "Stalled on the missing site", 60, |w| {
        condition(w, "Stalled").is_some_and(|c| c.0 == "True")
    })
    .await;
    let (_, reason, message) = condition(&ws, "Stalled").unwrap();
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.starts_with("spec.dns.records[0].target: staticSite"),
        "{message}"
    );

    // A record of that name exists and is not the operator's: Stalled naming it, never touched.
    let web = stack("web", "[{name: taken.example.test, target: loadBalancer}]", true);
    stacks.patch("web", &ssa, &Patch::Apply(&web)).await.unwrap();
    let ws = until(&stacks, "web", &op, "Stalled on the user's record", 90, |w| {
        condition(w, "Stalled").is_some_and(|c| c.0 == "True" && c.1 == "OwnershipConflict")
    })
    .await;
    let message = condition(&ws, "Stalled").unwrap().2;
    assert!(
        message.contains("spec.dns.records[0]") && message.contains("the A record taken.example.test"),
        "{message}"
    );
    // A few more reconciles: still untouched.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let all = records(&config, ZONE).await;
    let taken = find(&all, "A", "taken.example.test").unwrap();
    assert!(taken.alias_target().is_none());
    assert_eq!(taken.resource_records()[0].value(), "192.0.2.10");
    assert!(find(&all, "TXT", "_webstack-a.taken.example.test").is_none());

    // A free name: written, PENDING (with the change id) until Route 53 reports INSYNC, then Ready.
    let web = stack("web", "[{name: app.example.test, target: loadBalancer}]", true);
    stacks.patch("web", &ssa, &Patch::Apply(&web)).await.unwrap();
    let pending = until(&stacks, "web", &op, "the change PENDING in status", 90, |w| {
        w.status
            .as_ref()
            .is_some_and(|s| s.dns.iter().any(|r| r.change.as_deref() == Some("PENDING")))
    })
    .await;
    let record = &pending.status.as_ref().unwrap().dns[0];
    assert!(record.change_id.as_deref().is_some_and(|c| c.starts_with("/change/")));
    assert!(
        condition(&pending, "Ready").is_none_or(|c| c.0 != "True"),
        "not Ready while PENDING"
    );
    let generation = pending.metadata.generation.unwrap();
    let ws = until(&stacks, "web", &op, "Ready, INSYNC", 60, |w| ready_at(w, generation)).await;
    let st = ws.status.unwrap();
    assert_eq!(st.dns[0].change.as_deref(), Some("INSYNC"));
    assert_eq!(st.dns[0].change_id, None);
    let lb_dns = st.load_balancer.unwrap().dns_name.unwrap();
    let all = records(&config, ZONE).await;
    let a = find(&all, "A", "app.example.test").expect("the alias");
    assert_eq!(
        a.alias_target().unwrap().dns_name().trim_end_matches('.'),
        lb_dns.as_str()
    );
    assert!(find(&all, "TXT", "_webstack-a.app.example.test").is_some());

    // Steady state: what the records add to each reconcile of the settled stack (its reconciles
    // counted by DescribeLoadBalancers, which each observation makes once): three
    // ListResourceRecordSets (the name and its two registry names, read by name), nothing else,
    // however many records the zone holds (5,000 here: the whole zone would be 17 pages).
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let before = moto.calls().len();
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let calls = moto.calls();
    let window = &calls[before..];
    let count = |f: &dyn Fn(&str) -> bool| window.iter().filter(|c| f(&c.action)).count();
    let reconciles = count(&|a| a == "DescribeLoadBalancers");
    let listed = count(&|a| a.contains("/rrset"));
    let route53: Vec<&str> = window
        .iter()
        .map(|c| c.action.as_str())
        .filter(|a| a.contains("/2013-04-01/"))
        .collect();
    println!("dns: {reconciles} steady reconciles, Route 53 calls: {route53:?}");
    assert!(reconciles > 0, "the stack was re-checked");
    // A reconcile straddling either edge of the window has one of its two calls inside it: on a
    // loaded machine (reconciles take longer) the counts may differ by one, never more.
    assert!(
        listed.abs_diff(3 * reconciles) <= 3,
        "three ListResourceRecordSets per reconcile ({reconciles} reconciles): {route53:?}"
    );
    assert_eq!(
        route53.len(),
        listed,
        "no other Route 53 call at steady state: {route53:?}"
    );

    // Deletion: the stack's records go, the user's stays.
    for name in ["web", "nosite"] {
        stacks.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["web", "nosite"] {
        gone(&stacks, name, &op, 120).await;
    }
    zone_holds_only(&config, ZONE, &[("A", "taken.example.test")]).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
}
