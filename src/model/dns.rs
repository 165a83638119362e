//! Route 53 records of a stack (`spec.dns`) in domain terms: the alias records it should have,
//! the record sets found in its hosted zones, and the ownership registry that tells the
//! operator's records from everyone else's. Pure data and pure functions, no I/O.
//!
//! Route 53 records carry no tags, so ownership is kept the way external-dns keeps it: a TXT
//! "registry" record next to each alias record, written in the same change batch (atomically) and
//! deleted with it. Its name is the alias's name under a label no host name can have
//! (`_webstack-a.www.example.com` for the A record of `www.example.com`): it never collides with
//! the user's own TXT records at `www.example.com`, nor with a real host. Its value holds the
//! ownership tags of [`Owner::tags`] as character strings (`"webstack.io/uid=..."`), and is
//! classified by [`Owner::ownership`] like any tagged resource.

use super::ownership::{CLUSTER, MANAGED_BY, MANAGED_BY_VALUE, OWNER, Owner, TagMap, UID};

/// The hosted zone id of every CloudFront alias target (Route 53 `AliasTarget` reference).
pub const CLOUDFRONT_ZONE: &str = "Z2FDTNDATAQYW2";
/// The TTL of the registry TXT records.
pub const REGISTRY_TTL: i64 = 300;
/// The first label of registry records: `_webstack-a`, `_webstack-aaaa`.
const REGISTRY_PREFIX: &str = "_webstack-";

/// The record types the operator writes as aliases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    A,
    Aaaa,
}

impl RecordType {
    pub const ALL: [RecordType; 2] = [RecordType::A, RecordType::Aaaa];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A DNS name as compared: lowercase, without the trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `name` is the zone's apex or a name below it (label-wise: `notexample.com` is not in
/// `example.com`).
pub fn in_zone(name: &str, zone: &str) -> bool {
    let (name, zone) = (normalize(name), normalize(zone));
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// The name of the registry record that owns the `kind` record at `name`.
pub fn registry_name(name: &str, kind: RecordType) -> String {
    format!(
        "{REGISTRY_PREFIX}{}.{}",
        kind.as_str().to_ascii_lowercase(),
        normalize(name)
    )
}

/// The record a registry name stands for: (`www.example.com`, A) for `_webstack-a.www.example.com`.
pub fn registry_target(registry: &str) -> Option<(String, RecordType)> {
    let registry = normalize(registry);
    let rest = registry.strip_prefix(REGISTRY_PREFIX)?;
    let (kind, name) = rest.split_once('.')?;
    let kind = RecordType::ALL
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(kind))?;
    Some((name.to_string(), kind))
}

/// The value of the registry record of `owner`: one character string per ownership tag, each
/// within the 255 characters a TXT string may hold.
pub fn registry_value(owner: &Owner) -> String {
    let tags = [
        (MANAGED_BY, MANAGED_BY_VALUE.to_string()),
        (CLUSTER, owner.cluster_id.clone()),
        (UID, owner.uid.clone()),
        (OWNER, format!("{}/{}/{}", owner.namespace, owner.kind, owner.name)),
    ];
    tags.iter()
        .map(|(k, v)| {
            let s: String = format!("{k}={v}").chars().take(255).collect();
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ownership tags a registry record's values hold (`key=value` strings; anything else is
/// ignored, so a TXT record of someone else's classifies as unmanaged).
pub fn registry_tags(values: &[String]) -> TagMap {
    values
        .iter()
        .flat_map(|v| txt_strings(v))
        .filter_map(|s| {
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The character strings of one TXT value as Route 53 returns it: `"a" "b"` → [a, b].
fn txt_strings(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars();
    let mut current: Option<String> = None;
    while let Some(c) = chars.next() {
        match (&mut current, c) {
            (None, '"') => current = Some(String::new()),
            (None, _) => {}
            (Some(s), '\\') => {
                if let Some(n) = chars.next() {
                    s.push(n);
                }
            }
            (Some(_), '"') => out.extend(current.take()),
            (Some(s), c) => s.push(c),
        }
    }
    out
}

/// An alias target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub hosted_zone_id: String,
    pub dns_name: String,
    pub evaluate_target_health: bool,
}

impl Alias {
    /// The same target as `other`, as Route 53 compares them: names case-insensitively without the
    /// trailing dot, and ELB names with or without the `dualstack.` prefix Route 53 may add.
    pub fn same_as(&self, other: &Alias) -> bool {
        let name = |a: &Alias| {
            let n = normalize(&a.dns_name);
            n.strip_prefix("dualstack.").map(String::from).unwrap_or(n)
        };
        self.hosted_zone_id == other.hosted_zone_id
            && name(self) == name(other)
            && self.evaluate_target_health == other.evaluate_target_health
    }
}

/// A record set as Route 53 holds it (exactly: a DELETE must repeat every value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSet {
    /// As returned (lowercase, with the trailing dot); compare with [`normalize`].
    pub name: String,
    /// `A`, `AAAA`, `TXT`, `CNAME`, ...
    pub kind: String,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    pub alias: Option<Alias>,
    /// Weighted, latency, failover ... records have one: never the operator's.
    pub set_identifier: Option<String>,
}

impl RecordSet {
    /// The alias record the operator writes.
    pub fn alias(name: &str, kind: RecordType, alias: Alias) -> RecordSet {
        RecordSet {
            name: normalize(name),
            kind: kind.as_str().into(),
            ttl: None,
            values: Vec::new(),
            alias: Some(alias),
            set_identifier: None,
        }
    }

    /// The registry record of `owner` for the `kind` record at `name`.
    pub fn registry(name: &str, kind: RecordType, owner: &Owner) -> RecordSet {
        RecordSet {
            name: registry_name(name, kind),
            kind: "TXT".into(),
            ttl: Some(REGISTRY_TTL),
            values: vec![registry_value(owner)],
            alias: None,
            set_identifier: None,
        }
    }

    pub fn is(&self, name: &str, kind: &str) -> bool {
        normalize(&self.name) == normalize(name) && self.kind == kind
    }
}

/// What a record points at, as validation resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The stack's load balancer (its DNS name and zone are observed).
    LoadBalancer,
    /// The static site's distribution, once it has a domain name. CloudFront serves IPv6 when the
    /// distribution has `IsIPV6Enabled` (the operator's distributions always do).
    Site { domain: String, ipv6: bool },
    /// The static site exists but has no distribution yet: the record waits (and an existing one
    /// is left as it is).
    SitePending { site: String },
    /// The static site is being deleted: the record goes first, so that it never points at a
    /// distribution that no longer exists.
    SiteGoing { site: String },
}

/// One alias record the stack should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredRecord {
    /// Its index in `spec.dns.records` (for messages naming the field).
    pub index: usize,
    /// Normalized (lowercase, no trailing dot).
    pub name: String,
    pub target: Target,
}

/// `spec.dns`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredDns {
    pub hosted_zone_id: String,
    pub records: Vec<DesiredRecord>,
}

/// A hosted zone as observed: the records relevant to the stack (those at its record names and
/// every registry record).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedZone {
    pub id: String,
    /// Normalized; `None` when the zone does not exist.
    pub name: Option<String>,
    /// Known only when the zone was read (`GetHostedZone`, while not settled).
    pub private: Option<bool>,
    pub records: Vec<RecordSet>,
}

impl ObservedZone {
    pub fn exists(&self) -> bool {
        self.name.is_some()
    }

    /// The record set of `name` and `kind` without a set identifier.
    pub fn find(&self, name: &str, kind: &str) -> Option<&RecordSet> {
        self.records
            .iter()
            .find(|r| r.is(name, kind) && r.set_identifier.is_none())
    }
}

/// A change Route 53 has accepted, and whether it serves it everywhere yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedChange {
    pub id: String,
    pub zone_id: String,
    /// The record names (normalized) it changed.
    pub names: Vec<String>,
    /// `INSYNC`; false while `PENDING`.
    pub insync: bool,
}

/// What the stack has in Route 53.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedDns {
    /// The spec's zone and the zones its status names (records moved out of them are deleted).
    pub zones: Vec<ObservedZone>,
    /// Changes not yet known to be INSYNC.
    pub changes: Vec<ObservedChange>,
    /// Deleting with `deletionPolicy: Retain`: the records stay, only the registry records go.
    pub retain: bool,
    /// The records whose registry record is the stack's (zone, name, type): see [`ObservedDns::claim`].
    pub owned: Vec<(String, String, RecordType)>,
}

impl ObservedDns {
    /// Finds the records `owner`'s registry records claim (observation checks ownership, as it does
    /// for every resource found; the cleanup plans delete exactly these).
    pub fn claim(&mut self, owner: &Owner) {
        self.owned = self
            .zones
            .iter()
            .flat_map(|z| {
                z.records
                    .iter()
                    .filter(|r| r.kind == "TXT" && owner.owns(&registry_tags(&r.values)))
                    .filter_map(|r| registry_target(&r.name))
                    .map(|(name, kind)| (z.id.clone(), name, kind))
            })
            .collect();
    }

    pub fn zone(&self, id: &str) -> Option<&ObservedZone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The pending change covering `name` in `zone`, if any.
    pub fn pending(&self, zone: &str, name: &str) -> Option<&ObservedChange> {
        let name = normalize(name);
        self.changes
            .iter()
            .find(|c| !c.insync && c.zone_id == zone && c.names.contains(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ownership;

    fn owner() -> Owner {
        Owner {
            cluster_id: "prod".into(),
            namespace: "shop".into(),
            kind: "WebStack",
            name: "web".into(),
            uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        }
    }

    #[test]
    fn registry_names_stand_apart_from_hosts_and_map_back() {
        assert_eq!(
            registry_name("WWW.Example.com.", RecordType::A),
            "_webstack-a.www.example.com"
        );
        assert_eq!(
            registry_target("_webstack-aaaa.www.example.com."),
            Some(("www.example.com".into(), RecordType::Aaaa))
        );
        assert_eq!(registry_target("www.example.com"), None);
        assert_eq!(registry_target("_webstack-mx.www.example.com"), None);
    }

    #[test]
    fn registry_values_classify_like_tags() {
        let o = owner();
        // As Route 53 returns it: the value as written.
        let tags = registry_tags(&[registry_value(&o)]);
        assert_eq!(o.ownership(&tags), Ownership::Ours);
        let other = Owner {
            uid: "another".into(),
            ..owner()
        };
        assert!(matches!(
            o.ownership(&registry_tags(&[registry_value(&other)])),
            Ownership::Foreign { tag: UID, .. }
        ));
        // Someone's own TXT record is not the operator's.
        assert_eq!(
            o.ownership(&registry_tags(&["\"v=spf1 -all\"".into()])),
            Ownership::Unmanaged
        );
    }

    #[test]
    fn txt_strings_unescape() {
        assert_eq!(txt_strings(r#""a=b" "c\"d" x"#), ["a=b", "c\"d"]);
    }

    #[test]
    fn zones_contain_names_label_wise() {
        assert!(in_zone("www.example.com", "example.com."));
        assert!(in_zone("example.com", "example.com"));
        assert!(!in_zone("notexample.com", "example.com"));
        assert!(!in_zone("www.example.org", "example.com"));
    }

    #[test]
    fn aliases_compare_as_route53_does() {
        let a = Alias {
            hosted_zone_id: "Z1".into(),
            dns_name: "Web-123.us-east-1.elb.amazonaws.com".into(),
            evaluate_target_health: false,
        };
        let b = Alias {
            dns_name: "dualstack.web-123.us-east-1.elb.amazonaws.com.".into(),
            ..a.clone()
        };
        assert!(a.same_as(&b));
        let c = Alias {
            hosted_zone_id: "Z2".into(),
            ..a.clone()
        };
        assert!(!a.same_as(&c));
    }
}
