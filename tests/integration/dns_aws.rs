//! The Route 53 side of DNS records against the emulator, through the operator's own wrappers
//! (`aws/route53.rs`) and planner: a zone that does not exist reads as absent; the planned batch
//! (alias + ownership record) is applied atomically and PENDING until INSYNC; a CREATE racing a
//! record someone wrote meanwhile fails as a whole (nothing overwritten, no ownership record
//! left behind); a DELETE with values other than the current ones is refused; the cleanup plan,
//! built from what was observed, deletes exactly.

use std::time::Duration;

use webstack_operator::aws::Clients;
use webstack_operator::aws::route53::{self, Action};
use webstack_operator::model::Owner;
use webstack_operator::model::dns::{Alias, ObservedDns, ObservedZone, RecordSet, RecordType, normalize};

use crate::harness::moto::Moto;

const ZONE: &str = "ZDNSAWSTEST";

fn owner() -> Owner {
    Owner {
        cluster_id: "it".into(),
        namespace: "shop".into(),
        kind: "WebStack",
        name: "web".into(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    }
}

fn alias(dns: &str) -> Alias {
    Alias {
        hosted_zone_id: "Z2FDTNDATAQYW2".into(),
        dns_name: dns.into(),
        evaluate_target_health: false,
    }
}

async fn observe(c: &aws_sdk_route53::Client) -> ObservedDns {
    let (name, private) = route53::hosted_zone(c, ZONE).await.unwrap().unwrap();
    let mut o = ObservedDns {
        zones: vec![ObservedZone {
            id: ZONE.into(),
            name: Some(name),
            private: Some(private),
            records: route53::record_sets(c, ZONE).await.unwrap().unwrap(),
        }],
        ..ObservedDns::default()
    };
    o.claim(&owner());
    o
}

#[tokio::test]
async fn route53_batches_are_atomic_pending_then_insync_and_deletes_exact() {
    let moto = Moto::start_with_env(&[("MOTO_ROUTE53_PROPAGATION_SECONDS", "1")]);
    let clients = Clients::new(&moto.sdk_config().await);
    let c = &clients.route53;
    assert_eq!(route53::hosted_zone(c, ZONE).await.unwrap(), None);
    assert_eq!(route53::record_sets(c, ZONE).await.unwrap(), None);
    moto.hosted_zone(ZONE, "example.test");
    assert_eq!(
        route53::hosted_zone(c, ZONE).await.unwrap(),
        Some(("example.test".to_string(), false))
    );

    // The alias and its ownership record in one batch: PENDING, then INSYNC.
    let www = vec![
        (
            Action::Create,
            RecordSet::alias("www.example.test", RecordType::A, alias("d1.cloudfront.net")),
        ),
        (
            Action::Create,
            RecordSet::registry("www.example.test", RecordType::A, &owner()),
        ),
    ];
    let (id, insync) = route53::change(c, ZONE, &www).await.unwrap();
    assert!(!insync && id.starts_with("/change/"), "{id} {insync}");
    assert!(!route53::insync(c, &id).await.unwrap());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(route53::insync(c, &id).await.unwrap());
    let o = observe(c).await;
    assert_eq!(
        o.owned,
        [(ZONE.to_string(), "www.example.test".to_string(), RecordType::A)]
    );

    // Someone writes api.example.test between an observation and the apply: the CREATE fails and
    // the ownership record of the same batch is not written either.
    let theirs = (
        Action::Create,
        RecordSet {
            name: "api.example.test".into(),
            kind: "A".into(),
            ttl: Some(60),
            values: vec!["192.0.2.10".into()],
            alias: None,
            set_identifier: None,
        },
    );
    route53::change(c, ZONE, std::slice::from_ref(&theirs)).await.unwrap();
    let racing = vec![
        (
            Action::Create,
            RecordSet::registry("api.example.test", RecordType::A, &owner()),
        ),
        (
            Action::Create,
            RecordSet::alias("api.example.test", RecordType::A, alias("d1.cloudfront.net")),
        ),
    ];
    let e = route53::change(c, ZONE, &racing).await.unwrap_err();
    assert_eq!(e.code, "InvalidChangeBatch", "{e:?}");
    let all = route53::record_sets(c, ZONE).await.unwrap().unwrap();
    assert!(
        !all.iter().any(|r| normalize(&r.name) == "_webstack-a.api.example.test"),
        "{all:?}"
    );
    let api = all.iter().find(|r| normalize(&r.name) == "api.example.test").unwrap();
    assert_eq!(api.values, ["192.0.2.10"]);

    // A DELETE must repeat the current values.
    let stale = vec![(
        Action::Delete,
        RecordSet::alias("www.example.test", RecordType::A, alias("d2.cloudfront.net")),
    )];
    assert_eq!(
        route53::change(c, ZONE, &stale).await.unwrap_err().code,
        "InvalidChangeBatch"
    );

    // The cleanup plan deletes exactly what was observed: the stack's records, not the user's.
    let steps = webstack_operator::webstack::parts::dns::plan_cleanup(&observe(c).await);
    assert_eq!(steps.len(), 1);
    route53::change(c, ZONE, &steps[0].changes).await.unwrap();
    let left: Vec<(String, String)> = route53::record_sets(c, ZONE)
        .await
        .unwrap()
        .unwrap()
        .iter()
        .filter(|r| r.kind != "NS" && r.kind != "SOA")
        .map(|r| (r.kind.clone(), normalize(&r.name)))
        .collect();
    assert_eq!(left, [("A".to_string(), "api.example.test".to_string())]);
    // A change Route 53 no longer knows is long done.
    assert!(route53::insync(c, "/change/CUNKNOWN").await.unwrap());
}
