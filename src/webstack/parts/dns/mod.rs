//! DNS plans (pure) for `spec.dns`: Route 53 alias records (A, and AAAA where the target serves
//! IPv6) to the stack's load balancer or its static site's CloudFront distribution, each with its
//! ownership registry record (see [`crate::model::dns`]), written in one atomic change batch per
//! name. A record of that name and type that is not the operator's is never overwritten: the stack
//! stalls, naming it. Records the spec no longer has, in any zone the stack wrote to, are deleted;
//! so are all of them on deletion (before the load balancer and distribution go), except that
//! `Retain` only deletes the registry records and keeps the aliases.
//!
//! Aliases and their targets: an ALB alias uses the load balancer's `DNSName` and
//! `CanonicalHostedZoneId`, with an AAAA record only when the load balancer is `dualstack` (the
//! stack's own ALB is `ipv4`: A only). A CloudFront alias uses the distribution's domain name and
//! the CloudFront zone `Z2FDTNDATAQYW2`, with A and AAAA (the operator's distributions have
//! `IsIPV6Enabled`). `EvaluateTargetHealth` is false: these are simple records, with no other
//! record to fail over to (and CloudFront aliases cannot evaluate health).

pub mod io;

use std::collections::BTreeMap;
use std::fmt;

use crate::api::{DnsRecordStatus, DnsSpec, DnsTarget};
use crate::aws::route53::Action;
use crate::model::dns::{
    Alias, CLOUDFRONT_ZONE, DesiredDns, DesiredRecord, ObservedDns, ObservedZone, RecordSet, RecordType, Target,
    in_zone, normalize, registry_name, registry_tags, registry_value,
};
use crate::model::stack::ObservedLoadBalancer;
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::model::{InvalidSpec, Owner, Ownership, invalid};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part};

/// The longest record name whose registry name (`_webstack-aaaa.<name>`) is still a valid DNS name.
const MAX_NAME: usize = 253 - "_webstack-aaaa.".len();

/// One atomic change of the records at one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsStep {
    pub zone_id: String,
    /// Normalized.
    pub name: String,
    pub changes: Vec<(Action, RecordSet)>,
}

impl DnsStep {
    pub fn action(&self) -> &'static str {
        "ChangeResourceRecordSets"
    }
}

impl fmt::Display for DnsStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (action, r) in self.changes.iter().filter(|(_, r)| r.kind != "TXT") {
            let verb = match action {
                Action::Create => "create",
                Action::Upsert => "update",
                Action::Delete => "delete",
            };
            match (&r.alias, action) {
                (Some(a), Action::Create | Action::Upsert) => {
                    parts.push(format!("{verb} {} {} -> {}", r.kind, self.name, normalize(&a.dns_name)))
                }
                _ => parts.push(format!("{verb} {} {}", r.kind, self.name)),
            }
        }
        let registry = self.changes.iter().filter(|(_, r)| r.kind == "TXT").count();
        if parts.is_empty() {
            write!(
                f,
                "release {} in hosted zone {} (delete {registry} ownership record(s), keep the records)",
                self.name, self.zone_id
            )
        } else {
            write!(
                f,
                "{} in hosted zone {} (with {registry} ownership record(s))",
                parts.join(", "),
                self.zone_id
            )
        }
    }
}

/// The static site a `staticSite` record points at, as loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Site {
    /// Neither `spec.staticSite` nor a StaticSite whose `stackRef` names the stack.
    None,
    /// Several StaticSites refer to the stack and none is its inline one.
    Ambiguous(Vec<String>),
    Found {
        name: String,
        /// `status.domainName`, once the distribution exists.
        domain: Option<String>,
        deleting: bool,
    },
}

/// `spec.dns` checked, with the site's distribution resolved.
pub fn desired(spec: &DnsSpec, site: &Site) -> Result<DesiredDns, InvalidSpec> {
    let mut records: Vec<DesiredRecord> = Vec::new();
    for (index, r) in spec.records.iter().enumerate() {
        let name = normalize(&r.name);
        let path = format!("spec.dns.records[{index}]");
        if name.starts_with("*.") || name.contains('*') {
            return Err(invalid(format!("{path}.name"), "wildcard names are not supported"));
        }
        if name.len() > MAX_NAME {
            return Err(invalid(
                format!("{path}.name"),
                format!("{name} is too long: its ownership record _webstack-aaaa.{name} must fit in 253 characters"),
            ));
        }
        if let Some(other) = records.iter().find(|d| d.name == name) {
            return Err(invalid(
                format!("{path}.name"),
                format!("{name} is already spec.dns.records[{}]", other.index),
            ));
        }
        let target = match (r.target, site) {
            (DnsTarget::LoadBalancer, _) => Target::LoadBalancer,
            (DnsTarget::StaticSite, Site::None) => {
                return Err(invalid(
                    format!("{path}.target"),
                    "staticSite: the stack has no static site (set spec.staticSite, or create a StaticSite whose \
                     stackRef names this stack)",
                ));
            }
            (DnsTarget::StaticSite, Site::Ambiguous(names)) => {
                return Err(invalid(
                    format!("{path}.target"),
                    format!(
                        "staticSite: several StaticSites refer to this stack ({}); keep one",
                        names.join(", ")
                    ),
                ));
            }
            (
                DnsTarget::StaticSite,
                Site::Found {
                    name, deleting: true, ..
                },
            ) => Target::SiteGoing { site: name.clone() },
            (
                DnsTarget::StaticSite,
                Site::Found {
                    domain: Some(domain), ..
                },
            ) => Target::Site {
                domain: normalize(domain),
                // Every distribution the operator creates has IsIPV6Enabled (aws/cloudfront.rs).
                ipv6: true,
            },
            (DnsTarget::StaticSite, Site::Found { name, .. }) => Target::SitePending { site: name.clone() },
        };
        records.push(DesiredRecord { index, name, target });
    }
    Ok(DesiredDns {
        hosted_zone_id: spec.hosted_zone_id.clone(),
        records,
    })
}

/// The alias a record should have, and its types; `None` while its target is not known yet.
fn wanted(r: &DesiredRecord, lb: Option<&ObservedLoadBalancer>) -> Option<(Alias, Vec<RecordType>)> {
    match &r.target {
        Target::LoadBalancer => {
            let lb = lb.filter(|lb| !lb.dns_name.is_empty() && !lb.canonical_hosted_zone_id.is_empty())?;
            let mut kinds = vec![RecordType::A];
            if lb.dualstack {
                kinds.push(RecordType::Aaaa);
            }
            let alias = Alias {
                hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
                dns_name: lb.dns_name.clone(),
                evaluate_target_health: false,
            };
            Some((alias, kinds))
        }
        Target::Site { domain, ipv6 } => {
            let mut kinds = vec![RecordType::A];
            if *ipv6 {
                kinds.push(RecordType::Aaaa);
            }
            let alias = Alias {
                hosted_zone_id: CLOUDFRONT_ZONE.into(),
                dns_name: domain.clone(),
                evaluate_target_health: false,
            };
            Some((alias, kinds))
        }
        Target::SitePending { .. } | Target::SiteGoing { .. } => None,
    }
}

/// Whose the `kind` record at `name` is.
enum Claim<'a> {
    /// The registry record is ours (here it is, exactly as observed).
    Ours(&'a RecordSet),
    /// Neither the record nor its registry record exists.
    Free,
    /// Someone else's: why.
    Taken(String),
}

fn claim<'a>(zone: &'a ObservedZone, name: &str, kind: RecordType, owner: &Owner) -> Claim<'a> {
    let registry = registry_name(name, kind);
    if let Some(txt) = zone.find(&registry, "TXT") {
        return match owner.ownership(&registry_tags(&txt.values)) {
            Ownership::Ours => Claim::Ours(txt),
            Ownership::Foreign { tag, value } => {
                Claim::Taken(format!("its ownership record {registry} says {tag}={value}"))
            }
            Ownership::Unmanaged => Claim::Taken(format!("{registry} is a TXT record that is not the operator's")),
        };
    }
    if zone.records.iter().any(|r| r.is(name, kind.as_str())) {
        return Claim::Taken(format!("it exists and has no ownership record {registry}"));
    }
    if zone.records.iter().any(|r| r.is(name, "CNAME")) {
        return Claim::Taken(format!("a CNAME record exists at {name}"));
    }
    Claim::Free
}

/// Stops on what the operator cannot or must not do: a zone that does not exist or is private, a
/// name outside the zone, a record that is not the operator's.
pub fn check(
    owner: &Owner,
    desired: &DesiredDns,
    lb: Option<&ObservedLoadBalancer>,
    observed: &ObservedDns,
) -> Result<(), Blocked> {
    let id = &desired.hosted_zone_id;
    let zone = observed.zone(id).filter(|z| z.exists()).ok_or_else(|| {
        Blocked::stalled(
            "InvalidSpec",
            format!("spec.dns.hostedZoneId: hosted zone {id} does not exist (or the operator may not read it)"),
        )
    })?;
    let zone_name = zone.name.as_deref().unwrap_or_default();
    if zone.private == Some(true) {
        return Err(Blocked::stalled(
            "InvalidSpec",
            format!(
                "spec.dns.hostedZoneId: {id} ({zone_name}) is a private hosted zone; the records point at public \
                 endpoints: name a public hosted zone"
            ),
        ));
    }
    for r in &desired.records {
        if !in_zone(&r.name, zone_name) {
            return Err(Blocked::stalled(
                "InvalidSpec",
                format!(
                    "spec.dns.records[{}].name: {} is not in hosted zone {id} ({zone_name})",
                    r.index, r.name
                ),
            ));
        }
        let kinds = wanted(r, lb).map(|(_, k)| k).unwrap_or_else(|| vec![RecordType::A]);
        for kind in kinds {
            if let Claim::Taken(why) = claim(zone, &r.name, kind, owner) {
                return Err(Blocked::stalled(
                    "OwnershipConflict",
                    format!(
                        "spec.dns.records[{}]: the {} record {} in hosted zone {id} is not the operator's ({why}); it \
                         is never overwritten: remove it or choose another name",
                        r.index,
                        kind.as_str(),
                        r.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Changes by (zone, name), kept in order.
#[derive(Default)]
struct Batches(BTreeMap<(String, String), Vec<(Action, RecordSet)>>);

impl Batches {
    fn push(&mut self, zone: &str, name: &str, action: Action, r: RecordSet) {
        self.0
            .entry((zone.to_string(), normalize(name)))
            .or_default()
            .push((action, r));
    }

    fn steps(self) -> Vec<DnsStep> {
        self.0
            .into_iter()
            .map(|((zone_id, name), changes)| DnsStep { zone_id, name, changes })
            .collect()
    }
}

/// The steps that give the zones exactly the desired records (and remove the operator's others).
pub fn plan(
    owner: &Owner,
    desired: Option<&DesiredDns>,
    lb: Option<&ObservedLoadBalancer>,
    observed: &ObservedDns,
) -> Vec<DnsStep> {
    let mut b = Batches::default();
    // (zone, name, kind) the desired records account for: kept, written or waiting.
    let mut covered: Vec<(String, String, RecordType)> = Vec::new();
    if let Some(d) = desired {
        let zone = observed.zone(&d.hosted_zone_id).filter(|z| z.exists());
        for r in d.records.iter() {
            let Some(zone) = zone.filter(|z| in_zone(&r.name, z.name.as_deref().unwrap_or_default())) else {
                continue;
            };
            let want = wanted(r, lb);
            for kind in RecordType::ALL {
                let keep = matches!(r.target, Target::SitePending { .. })
                    || want.as_ref().is_some_and(|(_, k)| k.contains(&kind))
                    // The load balancer not observed yet: nothing to write, nothing to remove.
                    || (r.target == Target::LoadBalancer && want.is_none());
                if keep {
                    covered.push((zone.id.clone(), r.name.clone(), kind));
                }
                let Some((alias, _)) = want.as_ref().filter(|(_, k)| k.contains(&kind)) else {
                    continue;
                };
                let record = RecordSet::alias(&r.name, kind, alias.clone());
                let registry = RecordSet::registry(&r.name, kind, owner);
                match claim(zone, &r.name, kind, owner) {
                    Claim::Free => {
                        b.push(&zone.id, &r.name, Action::Create, record);
                        b.push(&zone.id, &r.name, Action::Create, registry);
                    }
                    Claim::Ours(txt) => {
                        let have = zone.find(&r.name, kind.as_str());
                        if !have.and_then(|h| h.alias.as_ref()).is_some_and(|h| h.same_as(alias)) {
                            b.push(&zone.id, &r.name, Action::Upsert, record);
                        }
                        if registry_tags(&txt.values) != registry_tags(&[registry_value(owner)]) {
                            b.push(&zone.id, &r.name, Action::Upsert, registry);
                        }
                    }
                    // Stalled by `check`.
                    Claim::Taken(_) => {}
                }
            }
        }
    }
    release(observed, &covered, false, &mut b);
    b.steps()
}

/// Deletes the operator's records (in every observed zone) that `covered` does not keep; with
/// `retain`, only their registry records.
fn release(observed: &ObservedDns, covered: &[(String, String, RecordType)], retain: bool, b: &mut Batches) {
    for (zone_id, name, kind) in &observed.owned {
        if covered.iter().any(|(z, n, k)| z == zone_id && n == name && k == kind) {
            continue;
        }
        let Some(zone) = observed.zone(zone_id) else {
            continue;
        };
        let Some(txt) = zone.find(&registry_name(name, *kind), "TXT") else {
            continue;
        };
        if !retain && let Some(record) = zone.find(name, kind.as_str()) {
            b.push(zone_id, name, Action::Delete, record.clone());
        }
        b.push(zone_id, name, Action::Delete, txt.clone());
    }
}

/// Deletion: every record of the operator's goes (before its load balancer and distribution);
/// with `Retain` the records stay and only their ownership records go, so that nothing claims them.
pub fn plan_cleanup(observed: &ObservedDns) -> Vec<DnsStep> {
    let mut b = Batches::default();
    release(observed, &[], observed.retain, &mut b);
    b.steps()
}

/// Why the records are not settled yet: a change Route 53 has not propagated, a target not known.
pub fn waiting_for(desired: Option<&DesiredDns>, observed: &ObservedDns) -> Option<String> {
    if let Some(c) = observed.changes.iter().find(|c| !c.insync) {
        return Some(format!(
            "Route 53 change {} ({}) is PENDING, waiting for INSYNC",
            c.id,
            c.names.join(", ")
        ));
    }
    desired?.records.iter().find_map(|r| match &r.target {
        Target::SitePending { site } => Some(format!(
            "waiting for StaticSite {site}'s distribution (record {})",
            r.name
        )),
        Target::SiteGoing { site } => Some(format!(
            "StaticSite {site} is being deleted: record {} removed with it",
            r.name
        )),
        _ => None,
    })
}

/// `status.dns`: each desired record, its alias once the operator's record exists, and its last
/// change's state.
pub fn status(owner: &Owner, desired: Option<&DesiredDns>, observed: &ObservedDns) -> Vec<DnsRecordStatus> {
    let Some(d) = desired else {
        return Vec::new();
    };
    let zone = observed.zone(&d.hosted_zone_id);
    d.records
        .iter()
        .map(|r| {
            let ours = zone.and_then(|z| match claim(z, &r.name, RecordType::A, owner) {
                Claim::Ours(_) => z.find(&r.name, "A"),
                _ => None,
            });
            let pending = observed.pending(&d.hosted_zone_id, &r.name);
            DnsRecordStatus {
                name: r.name.clone(),
                alias: ours.and_then(|o| o.alias.as_ref()).map(|a| normalize(&a.dns_name)),
                change: match (pending, ours) {
                    (Some(_), _) => Some("PENDING".into()),
                    (None, Some(_)) => Some("INSYNC".into()),
                    (None, None) => None,
                },
                change_id: pending.map(|c| c.id.clone()),
                hosted_zone_id: Some(d.hosted_zone_id.clone()),
            }
        })
        .collect()
}

impl crate::reconcile::Step for DnsStep {
    fn action(&self) -> &'static str {
        DnsStep::action(self)
    }
}

/// The DNS part.
pub struct Dns;

impl Part for Dns {
    type Step = DnsStep;

    /// Once their targets exist (the load balancer, the static site's child).
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<DnsStep> {
        plan(
            &desired.owner,
            desired.dns.as_ref(),
            observed.load_balancer.as_ref(),
            &observed.dns,
        )
    }

    /// First (already gone in the release, normally): they point at the load balancer.
    fn cleanup(observed: &ObservedStack, _how: &Cleanup) -> Vec<DnsStep> {
        plan_cleanup(&observed.dns)
    }

    /// First of all: none may point at a distribution or load balancer being deleted (`Retain`
    /// keeps them, releasing their ownership records).
    fn release(observed: &ObservedStack) -> Vec<DnsStep> {
        plan_cleanup(&observed.dns)
    }

    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        observed.dns = io::observe(cx.clients, cx.ws, cx.owner, cx.deep, cx.deleting).await?;
        Ok(())
    }

    async fn apply(cx: &mut ApplyCx<'_>, step: &DnsStep) -> Result<(), ApplyError> {
        Ok(io::apply(cx.clients, &cx.owner.uid, step).await?)
    }
}

#[cfg(test)]
mod tests;
