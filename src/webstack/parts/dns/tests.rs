//! Table tests of the DNS planner.

use super::*;
use crate::api::DnsRecordSpec;
use crate::model::Health;
use crate::model::dns::ObservedChange;

const ZONE: &str = "Z0123456789";

fn owner() -> Owner {
    Owner {
        cluster_id: "prod".into(),
        namespace: "shop".into(),
        kind: "WebStack",
        name: "web".into(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    }
}

fn other_stack() -> Owner {
    Owner {
        uid: "99999999-0000-0000-0000-000000000000".into(),
        name: "other".into(),
        ..owner()
    }
}

fn lb(dualstack: bool) -> ObservedLoadBalancer {
    ObservedLoadBalancer {
        arn: "arn:lb".into(),
        dns_name: "web-123.us-east-1.elb.amazonaws.com".into(),
        canonical_hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
        dualstack,
        internal: false,
        idle_timeout_seconds: Some(60),
        tags: Default::default(),
        vpc_id: "vpc-1".into(),
        state: "active".into(),
        security_groups: Vec::new(),
    }
}

fn lb_alias() -> Alias {
    Alias {
        hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
        dns_name: "web-123.us-east-1.elb.amazonaws.com".into(),
        evaluate_target_health: false,
    }
}

fn cf_alias() -> Alias {
    Alias {
        hosted_zone_id: CLOUDFRONT_ZONE.into(),
        dns_name: "d111.cloudfront.net".into(),
        evaluate_target_health: false,
    }
}

/// A record as Route 53 lists it (trailing dot).
fn listed(mut r: RecordSet) -> RecordSet {
    r.name = format!("{}.", r.name);
    r
}

/// The alias record and the registry record of `who` at `name`, as listed.
fn written(who: &Owner, name: &str, kind: RecordType, alias: Alias) -> Vec<RecordSet> {
    vec![
        listed(RecordSet::alias(name, kind, alias)),
        listed(RecordSet::registry(name, kind, who)),
    ]
}

fn observed_with(zones: Vec<(&str, &str, Vec<RecordSet>)>) -> ObservedDns {
    let mut o = ObservedDns {
        zones: zones
            .into_iter()
            .map(|(id, name, records)| ObservedZone {
                id: id.into(),
                name: Some(name.into()),
                private: Some(false),
                records,
            })
            .collect(),
        ..ObservedDns::default()
    };
    o.claim(&owner());
    o
}

fn observed(records: Vec<RecordSet>) -> ObservedDns {
    observed_with(vec![(ZONE, "example.com", records)])
}

fn site(domain: Option<&str>) -> Site {
    Site::Found {
        name: "web".into(),
        domain: domain.map(String::from),
        deleting: false,
    }
}

fn spec(records: &[(&str, DnsTarget)]) -> DnsSpec {
    DnsSpec {
        hosted_zone_id: ZONE.into(),
        records: records
            .iter()
            .map(|(name, target)| DnsRecordSpec {
                name: (*name).into(),
                target: *target,
            })
            .collect(),
    }
}

fn want(records: &[(&str, DnsTarget)], s: &Site) -> DesiredDns {
    desired(&spec(records), s).unwrap()
}

/// Steps as (`zone name`, [`ACTION TYPE name`]).
type Summary = Vec<(String, Vec<String>)>;

/// Records of a spec: (name, target).
type Records = Vec<(&'static str, DnsTarget)>;

/// The steps as (zone, name, [ACTION TYPE name]) for compact tables.
fn summary(steps: &[DnsStep]) -> Summary {
    steps
        .iter()
        .map(|s| {
            let changes = s
                .changes
                .iter()
                .map(|(a, r)| format!("{} {} {}", a.as_str(), r.kind, normalize(&r.name)))
                .collect();
            (format!("{} {}", s.zone_id, s.name), changes)
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn plans_from_nothing_to_the_records_and_their_ownership() {
    use DnsTarget::{LoadBalancer, StaticSite};
    let cases: Vec<(&str, Records, bool, Summary)> = vec![
        (
            "an ipv4 ALB: A only, created (CREATE fails if someone wrote it meanwhile)",
            vec![("api.example.com", LoadBalancer)],
            false,
            vec![(
                format!("{ZONE} api.example.com"),
                strings(&["CREATE A api.example.com", "CREATE TXT _webstack-a.api.example.com"]),
            )],
        ),
        (
            "a dualstack ALB: A and AAAA",
            vec![("api.example.com", LoadBalancer)],
            true,
            vec![(
                format!("{ZONE} api.example.com"),
                strings(&[
                    "CREATE A api.example.com",
                    "CREATE TXT _webstack-a.api.example.com",
                    "CREATE AAAA api.example.com",
                    "CREATE TXT _webstack-aaaa.api.example.com",
                ]),
            )],
        ),
        (
            "CloudFront serves IPv6: A and AAAA; the apex too",
            vec![("example.com", StaticSite)],
            false,
            vec![(
                format!("{ZONE} example.com"),
                strings(&[
                    "CREATE A example.com",
                    "CREATE TXT _webstack-a.example.com",
                    "CREATE AAAA example.com",
                    "CREATE TXT _webstack-aaaa.example.com",
                ]),
            )],
        ),
    ];
    for (what, records, dualstack, expected) in cases {
        let d = want(&records, &site(Some("d111.cloudfront.net")));
        let o = observed(Vec::new());
        let lb = lb(dualstack);
        assert_eq!(check(&owner(), &d, Some(&lb), &o).ok(), Some(()), "{what}");
        assert_eq!(summary(&plan(&owner(), Some(&d), Some(&lb), &o)), expected, "{what}");
    }
}

#[test]
fn alias_targets_are_the_load_balancer_and_the_distribution() {
    let d = want(
        &[
            ("api.example.com", DnsTarget::LoadBalancer),
            ("www.example.com", DnsTarget::StaticSite),
        ],
        &site(Some("D111.cloudfront.net.")),
    );
    let steps = plan(&owner(), Some(&d), Some(&lb(false)), &observed(Vec::new()));
    let alias = |name: &str, kind: &str| {
        steps
            .iter()
            .flat_map(|s| &s.changes)
            .find(|(_, r)| r.name == name && r.kind == kind)
            .and_then(|(_, r)| r.alias.clone())
            .unwrap()
    };
    assert_eq!(alias("api.example.com", "A"), lb_alias());
    assert_eq!(alias("www.example.com", "A"), cf_alias());
    assert_eq!(alias("www.example.com", "AAAA"), cf_alias());
    let txt = steps[0].changes.iter().find(|(_, r)| r.kind == "TXT").unwrap();
    assert_eq!(txt.1.ttl, Some(300));
    assert!(owner().owns(&registry_tags(&txt.1.values)));
}

#[test]
fn settled_records_plan_nothing() {
    let d = want(
        &[
            ("api.example.com", DnsTarget::LoadBalancer),
            ("www.example.com", DnsTarget::StaticSite),
        ],
        &site(Some("d111.cloudfront.net")),
    );
    let mut records = written(&owner(), "api.example.com", RecordType::A, lb_alias());
    // Route 53 may show an ELB alias with the dualstack prefix.
    records[0].alias.as_mut().unwrap().dns_name = "dualstack.web-123.us-east-1.elb.amazonaws.com.".into();
    records.extend(written(&owner(), "www.example.com", RecordType::A, cf_alias()));
    records.extend(written(&owner(), "www.example.com", RecordType::Aaaa, cf_alias()));
    // The user's own records at the same names (TXT, MX) are no concern.
    records.push(listed(RecordSet {
        name: "www.example.com".into(),
        kind: "TXT".into(),
        ttl: Some(60),
        values: vec!["\"v=spf1 -all\"".into()],
        alias: None,
        set_identifier: None,
    }));
    let o = observed(records);
    assert!(check(&owner(), &d, Some(&lb(false)), &o).is_ok());
    assert_eq!(plan(&owner(), Some(&d), Some(&lb(false)), &o), []);
    let st = status(&owner(), Some(&d), &o);
    // As Route 53 holds it.
    assert_eq!(
        st[0].alias.as_deref(),
        Some("dualstack.web-123.us-east-1.elb.amazonaws.com")
    );
    assert_eq!(st[1].alias.as_deref(), Some("d111.cloudfront.net"));
    assert_eq!(st[1].change.as_deref(), Some("INSYNC"));
    assert_eq!(st[1].hosted_zone_id.as_deref(), Some(ZONE));
}

#[test]
fn drift_and_target_changes_are_upserted_and_what_is_no_longer_wanted_deleted() {
    // The alias of an owned A record was changed by hand: UPSERT puts it back.
    let d = want(&[("api.example.com", DnsTarget::LoadBalancer)], &Site::None);
    let mut hand = lb_alias();
    hand.dns_name = "somewhere-else.example.net".into();
    let o = observed(written(&owner(), "api.example.com", RecordType::A, hand));
    assert_eq!(
        summary(&plan(&owner(), Some(&d), Some(&lb(false)), &o)),
        [(
            format!("{ZONE} api.example.com"),
            strings(&["UPSERT A api.example.com"])
        )]
    );
    // www moves from the site to the (ipv4) load balancer: A updated, the owned AAAA deleted with
    // its exact values.
    let d = want(&[("www.example.com", DnsTarget::LoadBalancer)], &Site::None);
    let mut records = written(&owner(), "www.example.com", RecordType::A, cf_alias());
    records.extend(written(&owner(), "www.example.com", RecordType::Aaaa, cf_alias()));
    let o = observed(records.clone());
    let steps = plan(&owner(), Some(&d), Some(&lb(false)), &o);
    assert_eq!(
        summary(&steps),
        [(
            format!("{ZONE} www.example.com"),
            strings(&[
                "UPSERT A www.example.com",
                "DELETE AAAA www.example.com",
                "DELETE TXT _webstack-aaaa.www.example.com",
            ])
        )]
    );
    assert_eq!(steps[0].changes[1].1, records[2], "DELETE repeats the observed values");
    assert_eq!(steps[0].changes[2].1, records[3]);
    // A record removed from the spec: deleted (alias and ownership record), in one batch.
    let d = want(&[("api.example.com", DnsTarget::LoadBalancer)], &Site::None);
    let mut records = written(&owner(), "api.example.com", RecordType::A, lb_alias());
    records.extend(written(&owner(), "old.example.com", RecordType::A, lb_alias()));
    let steps = plan(&owner(), Some(&d), Some(&lb(false)), &observed(records));
    assert_eq!(
        summary(&steps),
        [(
            format!("{ZONE} old.example.com"),
            strings(&["DELETE A old.example.com", "DELETE TXT _webstack-a.old.example.com"])
        )]
    );
    assert_eq!(
        steps[0].to_string(),
        format!("delete A old.example.com in hosted zone {ZONE} (with 1 ownership record(s))")
    );
}

#[test]
fn a_record_not_ours_is_never_overwritten() {
    let d = want(&[("api.example.com", DnsTarget::LoadBalancer)], &Site::None);
    let plain = |kind: &str, value: &str| {
        listed(RecordSet {
            name: "api.example.com".into(),
            kind: kind.into(),
            ttl: Some(300),
            values: vec![value.into()],
            alias: None,
            set_identifier: None,
        })
    };
    let cases: Vec<(&str, Vec<RecordSet>, &str)> = vec![
        (
            "an A record without an ownership record",
            vec![plain("A", "192.0.2.10")],
            "has no ownership record _webstack-a.api.example.com",
        ),
        (
            "an alias record someone wrote by hand",
            vec![listed(RecordSet::alias("api.example.com", RecordType::A, cf_alias()))],
            "has no ownership record",
        ),
        (
            "another stack's record",
            written(&other_stack(), "api.example.com", RecordType::A, lb_alias()),
            "webstack.io/uid=99999999",
        ),
        (
            "another cluster's record",
            written(
                &Owner {
                    cluster_id: "staging".into(),
                    ..owner()
                },
                "api.example.com",
                RecordType::A,
                lb_alias(),
            ),
            "webstack.io/cluster=staging",
        ),
        (
            "someone's TXT record at the registry name",
            vec![listed(RecordSet {
                name: "_webstack-a.api.example.com".into(),
                ..plain("TXT", "\"hello\"")
            })],
            "is a TXT record that is not the operator's",
        ),
        (
            "a CNAME at the name",
            vec![plain("CNAME", "elsewhere.example.net")],
            "a CNAME record exists",
        ),
        (
            "a weighted A record",
            vec![RecordSet {
                set_identifier: Some("blue".into()),
                ..plain("A", "192.0.2.10")
            }],
            "has no ownership record",
        ),
    ];
    for (what, records, why) in cases {
        let o = observed(records);
        match check(&owner(), &d, Some(&lb(false)), &o) {
            Err(Blocked::Stalled { reason, message }) => {
                assert_eq!(reason, "OwnershipConflict", "{what}");
                assert!(message.contains("spec.dns.records[0]"), "{what}: {message}");
                assert!(message.contains("the A record api.example.com"), "{what}: {message}");
                assert!(message.contains(why), "{what}: {message}");
            }
            other => panic!("{what}: {other:?}"),
        }
        // Were the plan run anyway, it writes nothing at that name.
        assert_eq!(plan(&owner(), Some(&d), Some(&lb(false)), &o), [], "{what}");
        // Nor does deletion touch it.
        assert_eq!(plan_cleanup(&o), [], "{what}");
    }
}

#[test]
fn zones_and_names_the_operator_cannot_use_stall_naming_the_field() {
    let d = want(&[("api.example.org", DnsTarget::LoadBalancer)], &Site::None);
    let stalled = |o: &ObservedDns| match check(&owner(), &d, Some(&lb(false)), o) {
        Err(Blocked::Stalled { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    let m = stalled(&observed(Vec::new()));
    assert!(
        m.starts_with("spec.dns.records[0].name: api.example.org is not in hosted zone"),
        "{m}"
    );
    let mut missing = observed(Vec::new());
    missing.zones[0].name = None;
    assert!(stalled(&missing).starts_with("spec.dns.hostedZoneId: hosted zone Z0123456789 does not exist"));
    let mut private = observed(Vec::new());
    private.zones[0].private = Some(true);
    assert!(stalled(&private).contains("is a private hosted zone"));
}

#[test]
fn static_site_targets_resolve_or_stall_or_wait() {
    let records = [
        ("api.example.com", DnsTarget::LoadBalancer),
        ("www.example.com", DnsTarget::StaticSite),
    ];
    let e = desired(&spec(&records), &Site::None).unwrap_err();
    assert_eq!(e.field, "spec.dns.records[1].target");
    assert!(e.message.contains("the stack has no static site"), "{e}");
    let e = desired(&spec(&records), &Site::Ambiguous(strings(&["a", "b"]))).unwrap_err();
    assert_eq!(e.field, "spec.dns.records[1].target");
    // Not created yet: nothing written, an existing record kept, the stack waits.
    let d = want(&records, &site(None));
    assert_eq!(d.records[1].target, Target::SitePending { site: "web".into() });
    let mut existing = written(&owner(), "www.example.com", RecordType::A, cf_alias());
    existing.extend(written(&owner(), "www.example.com", RecordType::Aaaa, cf_alias()));
    let o = observed(existing.clone());
    let steps = plan(&owner(), Some(&d), Some(&lb(false)), &o);
    assert_eq!(
        summary(&steps),
        [(
            format!("{ZONE} api.example.com"),
            strings(&["CREATE A api.example.com", "CREATE TXT _webstack-a.api.example.com"])
        )]
    );
    let w = waiting_for(Some(&d), &o).unwrap();
    assert!(w.contains("waiting for StaticSite web's distribution"), "{w}");
    // Being deleted: its records go first, never pointing at a deleted distribution.
    let going = Site::Found {
        name: "web".into(),
        domain: Some("d111.cloudfront.net".into()),
        deleting: true,
    };
    let d = want(&records[1..], &going);
    assert_eq!(
        summary(&plan(&owner(), Some(&d), None, &o)),
        [(
            format!("{ZONE} www.example.com"),
            strings(&[
                "DELETE A www.example.com",
                "DELETE TXT _webstack-a.www.example.com",
                "DELETE AAAA www.example.com",
                "DELETE TXT _webstack-aaaa.www.example.com",
            ])
        )]
    );
}

#[test]
fn names_are_checked() {
    let e = desired(
        &spec(&[
            ("api.example.com", DnsTarget::LoadBalancer),
            ("API.example.com.", DnsTarget::LoadBalancer),
        ]),
        &Site::None,
    )
    .unwrap_err();
    assert_eq!(e.field, "spec.dns.records[1].name");
    let long = format!("{}.example.com", vec!["a".repeat(60); 4].join("."));
    let e = desired(&spec(&[(long.as_str(), DnsTarget::LoadBalancer)]), &Site::None).unwrap_err();
    assert!(e.message.contains("too long"), "{e}");
}

#[test]
fn a_load_balancer_not_observed_yet_waits_without_removing_anything() {
    let d = want(&[("api.example.com", DnsTarget::LoadBalancer)], &Site::None);
    let o = observed(written(&owner(), "api.example.com", RecordType::A, lb_alias()));
    assert_eq!(plan(&owner(), Some(&d), None, &o), []);
    assert_eq!(plan(&owner(), Some(&d), None, &observed(Vec::new())), []);
}

#[test]
fn records_of_a_zone_the_spec_no_longer_names_are_deleted() {
    let d = want(&[("api.example.com", DnsTarget::LoadBalancer)], &Site::None);
    let o = observed_with(vec![
        (ZONE, "example.com", Vec::new()),
        (
            "ZOLD",
            "example.com",
            written(&owner(), "api.example.com", RecordType::A, lb_alias()),
        ),
    ]);
    assert_eq!(
        summary(&plan(&owner(), Some(&d), Some(&lb(false)), &o)),
        [
            (
                format!("{ZONE} api.example.com"),
                strings(&["CREATE A api.example.com", "CREATE TXT _webstack-a.api.example.com"])
            ),
            (
                "ZOLD api.example.com".to_string(),
                strings(&["DELETE A api.example.com", "DELETE TXT _webstack-a.api.example.com"])
            ),
        ]
    );
    // spec.dns removed: every record of the operator's goes.
    assert_eq!(
        summary(&plan(&owner(), None, Some(&lb(false)), &o)),
        [(
            "ZOLD api.example.com".to_string(),
            strings(&["DELETE A api.example.com", "DELETE TXT _webstack-a.api.example.com"])
        )]
    );
}

#[test]
fn deletion_removes_the_records_and_retain_only_their_ownership() {
    let mut records = written(&owner(), "api.example.com", RecordType::A, lb_alias());
    records.extend(written(&other_stack(), "other.example.com", RecordType::A, lb_alias()));
    let o = observed(records);
    assert_eq!(
        summary(&plan_cleanup(&o)),
        [(
            format!("{ZONE} api.example.com"),
            strings(&["DELETE A api.example.com", "DELETE TXT _webstack-a.api.example.com"])
        )]
    );
    let retained = ObservedDns { retain: true, ..o };
    let steps = plan_cleanup(&retained);
    assert_eq!(
        summary(&steps),
        [(
            format!("{ZONE} api.example.com"),
            strings(&["DELETE TXT _webstack-a.api.example.com"])
        )]
    );
    assert!(
        steps[0].to_string().starts_with("release api.example.com"),
        "{}",
        steps[0]
    );
    // Nothing of the stack's in the zone: nothing to do.
    assert_eq!(plan_cleanup(&observed(Vec::new())), []);
}

#[test]
fn a_pending_change_shows_and_holds_readiness_until_insync() {
    let d = want(&[("api.example.com", DnsTarget::LoadBalancer)], &Site::None);
    let mut o = observed(written(&owner(), "api.example.com", RecordType::A, lb_alias()));
    o.changes = vec![ObservedChange {
        id: "/change/C1".into(),
        zone_id: ZONE.into(),
        names: vec!["api.example.com".into()],
        insync: false,
    }];
    let st = status(&owner(), Some(&d), &o);
    assert_eq!(st[0].change.as_deref(), Some("PENDING"));
    assert_eq!(st[0].change_id.as_deref(), Some("/change/C1"));
    let w = waiting_for(Some(&d), &o).unwrap();
    assert!(w.contains("/change/C1") && w.contains("PENDING"), "{w}");
    // The stack is not Ready while Route 53 propagates.
    let mut stack = crate::webstack::fixtures::desired("network: {cidr: 10.0.0.0/16}");
    stack.dns = Some(d.clone());
    let observed_stack = crate::model::stack::ObservedStack {
        dns: o.clone(),
        ..Default::default()
    };
    assert!(matches!(
        crate::webstack::status::settled(&stack, &observed_stack),
        Health::Progressing { .. }
    ));
    // INSYNC: the status says so, nothing waits.
    o.changes[0].insync = true;
    assert_eq!(status(&owner(), Some(&d), &o)[0].change.as_deref(), Some("INSYNC"));
    assert_eq!(status(&owner(), Some(&d), &o)[0].change_id, None);
    assert_eq!(waiting_for(Some(&d), &o), None);
}

#[test]
fn records_go_before_what_they_point_at() {
    use crate::webstack::parts::Step;
    let o = crate::model::stack::ObservedStack {
        load_balancer: Some(lb(false)),
        dns: observed(written(&owner(), "api.example.com", RecordType::A, lb_alias())),
        ..Default::default()
    };
    // While the children (the static site) are deleted, and again in the final cleanup.
    let release = crate::webstack::parts::plan_release(&o);
    assert!(matches!(release.first(), Some(Step::Dns(_))), "{release:?}");
    let cleanup = crate::webstack::fixtures::cleanup(
        &o,
        crate::api::DeletionPolicy::Delete,
        crate::model::data::DataCleanup {
            deletion: crate::model::data::DataDeletion::Delete,
            protection_wanted: false,
        },
    );
    let dns = cleanup.iter().position(|s| matches!(s, Step::Dns(_))).unwrap();
    let lb = cleanup
        .iter()
        .position(|s| crate::reconcile::Step::action(s) == "DeleteLoadBalancer")
        .unwrap();
    assert!(dns < lb, "{cleanup:?}");
}
