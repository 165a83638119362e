//! DNS I/O: the static site a `staticSite` record points at (from Kubernetes), the stack's hosted
//! zones and record sets (from Route 53), the changes not yet INSYNC, and running DNS steps.
//!
//! Calls per reconcile: one `ListResourceRecordSets` per zone (per 300 records) at steady state;
//! `GetHostedZone` only while not settled; `GetChange` only while a change is PENDING.
//!
//! A change's id must outlive the reconcile that made it: the re-observation right after the
//! apply (before the status is written) finds it in this process's [`CHANGES`], later reconciles
//! (and another replica) in `status.dns[].changeId`.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

use kube::ResourceExt;

use super::{DnsStep, Site};
use crate::api::{DeletionPolicy, StaticSite, WebStack};
use crate::aws::{AwsError, Clients, route53};
use crate::model::Owner;
use crate::model::dns::{
    ObservedChange, ObservedDns, ObservedZone, RecordType, in_zone, normalize, registry_name, registry_target,
};
use crate::reconcile::Blocked;
use crate::reconcile::refs::{self, Child};

/// Changes made by this process and not yet seen INSYNC, by stack uid.
static CHANGES: LazyLock<Mutex<BTreeMap<String, Vec<ObservedChange>>>> = LazyLock::new(Default::default);

/// Hosted zones' names by id, as this process last read them (a zone's name never changes).
static ZONES: LazyLock<Mutex<BTreeMap<String, String>>> = LazyLock::new(Default::default);

fn zone_name(id: &str) -> Option<String> {
    ZONES.lock().ok()?.get(id).cloned()
}

fn remember_zone(id: &str, name: &str) {
    if let Ok(mut m) = ZONES.lock() {
        m.insert(id.to_string(), name.to_string());
    }
}

fn remember(uid: &str, change: ObservedChange) {
    if let Ok(mut m) = CHANGES.lock() {
        m.entry(uid.to_string()).or_default().push(change);
    }
}

fn remembered(uid: &str) -> Vec<ObservedChange> {
    CHANGES
        .lock()
        .map(|m| m.get(uid).cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn forget(uid: &str, id: &str) {
    if let Ok(mut m) = CHANGES.lock()
        && let Some(v) = m.get_mut(uid)
    {
        v.retain(|c| c.id != id);
        if v.is_empty() {
            m.remove(uid);
        }
    }
}

/// The static site of the stack, when a record points at one: its inline `staticSite` child, else
/// the one StaticSite whose `stackRef` names it.
pub async fn load_site(kube: &refs::Source, ws: &WebStack, deleting: bool) -> Result<Site, Blocked> {
    let wanted = ws
        .spec
        .dns
        .as_ref()
        .is_some_and(|d| d.records.iter().any(|r| r.target == crate::api::DnsTarget::StaticSite));
    if deleting || !wanted {
        return Ok(Site::None);
    }
    let (ns, stack) = (ws.namespace().unwrap_or_default(), ws.name_any());
    let sites: Vec<std::sync::Arc<StaticSite>> = refs::list::<StaticSite>(kube, &ns)
        .await?
        .into_iter()
        .filter(|s| s.stack() == Some(stack.as_str()))
        .collect();
    let inline = ws.spec.static_site.is_some();
    let chosen = match sites.iter().find(|s| inline && s.name_any() == stack) {
        Some(s) => Some(s),
        None if sites.len() > 1 => {
            return Ok(Site::Ambiguous(sites.iter().map(|s| s.name_any()).collect()));
        }
        None => sites.first(),
    };
    Ok(match chosen {
        Some(s) => Site::Found {
            name: s.name_any(),
            domain: s.status.as_ref().and_then(|st| st.domain_name.clone()),
            deleting: s.metadata.deletion_timestamp.is_some(),
        },
        // The inline site's child is not written yet.
        None if inline => Site::Found {
            name: stack,
            domain: None,
            deleting: false,
        },
        None => Site::None,
    })
}

/// Observes the spec's zone and the zones the status names (nothing at all without either).
pub async fn observe(
    clients: &Clients,
    ws: &WebStack,
    owner: &Owner,
    deep: bool,
    deleting: bool,
) -> Result<ObservedDns, AwsError> {
    let uid = ws.uid().unwrap_or_default();
    let spec_zone = ws.spec.dns.as_ref().map(|d| d.hosted_zone_id.clone());
    let st = ws.status.as_ref().map(|s| s.dns.as_slice()).unwrap_or_default();
    let mut zones: Vec<String> = spec_zone.iter().cloned().collect();
    for id in st.iter().filter_map(|r| r.hosted_zone_id.clone()) {
        if !zones.contains(&id) {
            zones.push(id);
        }
    }
    let names: Vec<String> = ws
        .spec
        .dns
        .iter()
        .flat_map(|d| &d.records)
        .map(|r| normalize(&r.name))
        .chain(st.iter().map(|r| normalize(&r.name)))
        .collect();
    let mut observed = ObservedDns {
        retain: deleting && ws.spec.deletion_policy == DeletionPolicy::Retain,
        ..ObservedDns::default()
    };
    let r53 = &clients.route53;
    for id in zones {
        let mut zone = ObservedZone {
            id: id.clone(),
            ..ObservedZone::default()
        };
        // The zone itself (private? its name) while not settled; at steady state its name as
        // this process last read it (a zone is never renamed), else read once.
        let known = zone_name(&id);
        if (deep || known.is_none()) && !deleting {
            match route53::hosted_zone(r53, &id).await? {
                Some((name, private)) => {
                    remember_zone(&id, &name);
                    zone.name = Some(name);
                    zone.private = Some(private);
                }
                None => {
                    observed.zones.push(zone);
                    continue;
                }
            }
        } else if !deleting {
            zone.name = known;
        }
        // Converging or at steady state, only the stack's names are read (each name and its two
        // registry records, a call each, whatever the zone's size); deleting, the whole zone,
        // so that every record the stack registered is found, even one its status lost.
        let records = match (&zone.name, deleting) {
            (Some(zone_name), false) => {
                let mine: std::collections::BTreeSet<&String> =
                    names.iter().filter(|n| in_zone(n, zone_name)).collect();
                records_named(r53, &id, mine).await?
            }
            _ => route53::record_sets(r53, &id).await?,
        };
        if let Some(records) = records {
            if zone.name.is_none() {
                zone.name = Some(
                    records
                        .iter()
                        .find(|r| r.kind == "SOA")
                        .map(|r| normalize(&r.name))
                        .unwrap_or_default(),
                );
            }
            // Only what concerns the stack: records at its names, and registry records with the
            // records they stand for.
            let registered: Vec<String> = records
                .iter()
                .filter_map(|r| registry_target(&r.name).map(|(n, _)| n))
                .collect();
            zone.records = records
                .into_iter()
                .filter(|r| {
                    let n = normalize(&r.name);
                    names.contains(&n) || registered.contains(&n) || registry_target(&n).is_some()
                })
                .collect();
        } else {
            zone.name = None;
        }
        observed.zones.push(zone);
    }
    observed.claim(owner);
    if !deleting {
        observed.changes = changes(clients, &uid, ws).await?;
    }
    Ok(observed)
}

/// The records at each of `names` and at its two registry names, read by name (three calls a
/// name, whatever the zone's size); `None` when the zone does not exist.
async fn records_named(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    names: impl IntoIterator<Item = &String>,
) -> Result<Option<Vec<crate::model::dns::RecordSet>>, AwsError> {
    let mut found = Vec::new();
    for n in names {
        for name in [
            n.clone(),
            registry_name(n, RecordType::A),
            registry_name(n, RecordType::Aaaa),
        ] {
            match route53::record_sets_named(r53, zone, &name).await? {
                Some(records) => found.extend(records),
                None => return Ok(None),
            }
        }
    }
    Ok(Some(found))
}

/// The changes made for the stack that were PENDING when last seen, now asked again.
async fn changes(clients: &Clients, uid: &str, ws: &WebStack) -> Result<Vec<ObservedChange>, AwsError> {
    let mut known = remembered(uid);
    let st = ws.status.as_ref().map(|s| s.dns.as_slice()).unwrap_or_default();
    for r in st {
        if let (Some(id), Some(zone)) = (&r.change_id, &r.hosted_zone_id) {
            match known.iter_mut().find(|c| &c.id == id) {
                Some(c) if !c.names.contains(&r.name) => c.names.push(normalize(&r.name)),
                Some(_) => {}
                None => known.push(ObservedChange {
                    id: id.clone(),
                    zone_id: zone.clone(),
                    names: vec![normalize(&r.name)],
                    insync: false,
                }),
            }
        }
    }
    let mut out = Vec::new();
    for mut c in known {
        c.insync = route53::insync(&clients.route53, &c.id).await?;
        if c.insync {
            forget(uid, &c.id);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Runs one DNS step: its changes in one batch; a change not INSYNC yet is remembered.
pub async fn apply(clients: &Clients, uid: &str, step: &DnsStep) -> Result<(), AwsError> {
    let (id, insync) = route53::change(&clients.route53, &step.zone_id, &step.changes).await?;
    if !insync && !id.is_empty() {
        remember(
            uid,
            ObservedChange {
                id,
                zone_id: step.zone_id.clone(),
                names: vec![step.name.clone()],
                insync: false,
            },
        );
    }
    Ok(())
}
