//! Route 53: the hosted zone the stack's records live in, its record sets (every page, or those
//! at one name: a few calls whatever the zone's size), one atomic change batch per record name,
//! and the change's propagation (`GetChange`).

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};

use super::{AwsError, classify};
use crate::model::dns::{Alias, RecordSet, normalize};

/// What one change of a batch does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Fails (the whole batch) if a record of that name and type exists.
    Create,
    Upsert,
    /// Needs the record's exact current values.
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Upsert => "UPSERT",
            Action::Delete => "DELETE",
        }
    }
}

/// A hosted zone: its name (normalized) and whether it is private; `None` when it does not exist.
pub async fn hosted_zone(c: &Client, id: &str) -> Result<Option<(String, bool)>, AwsError> {
    match c.get_hosted_zone().id(id).send().await {
        Ok(out) => Ok(out.hosted_zone().map(|z| {
            let private = z.config().is_some_and(|c| c.private_zone());
            (normalize(z.name()), private)
        })),
        Err(e) => match classify("GetHostedZone", e) {
            e if e.code == "NoSuchHostedZone" => Ok(None),
            e => Err(e),
        },
    }
}

/// Every record set of the zone (all pages), or `None` when the zone does not exist.
pub async fn record_sets(c: &Client, zone: &str) -> Result<Option<Vec<RecordSet>>, AwsError> {
    let mut out = Vec::new();
    let mut next: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut request = c.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((name, kind, id)) = next.take() {
            request = request
                .start_record_name(name)
                .start_record_type(kind)
                .set_start_record_identifier(id);
        }
        let page = match request.send().await {
            Ok(page) => page,
            Err(e) => match classify("ListResourceRecordSets", e) {
                e if e.code == "NoSuchHostedZone" => return Ok(None),
                e => return Err(e),
            },
        };
        out.extend(page.resource_record_sets().iter().map(record_set));
        match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
            (true, Some(name), Some(kind)) => {
                next = Some((
                    name.to_string(),
                    kind.clone(),
                    page.next_record_identifier().map(String::from),
                ));
            }
            _ => return Ok(Some(out)),
        }
    }
}

/// Records a page of a by-name read asks for: the few at one name, and the first past it.
const NAMED_PAGE: i32 = 8;

/// The record sets named exactly `name` (every type), read from that name on: one call unless
/// more than a page of types sit at the name, however large the zone (Route 53 lists in DNS
/// order, a name's records together). `None` when the zone does not exist.
pub async fn record_sets_named(c: &Client, zone: &str, name: &str) -> Result<Option<Vec<RecordSet>>, AwsError> {
    let want = normalize(name);
    let mut out = Vec::new();
    let mut from: (String, Option<RrType>, Option<String>) = (want.clone(), None, None);
    loop {
        let page = match c
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(&from.0)
            .set_start_record_type(from.1.clone())
            .set_start_record_identifier(from.2.clone())
            .max_items(NAMED_PAGE)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) => match classify("ListResourceRecordSets", e) {
                e if e.code == "NoSuchHostedZone" => return Ok(None),
                e => return Err(e),
            },
        };
        let mut past = false;
        for r in page.resource_record_sets() {
            if normalize(r.name()) == want {
                out.push(record_set(r));
            } else {
                past = true;
                break;
            }
        }
        match (
            past,
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (false, true, Some(name), Some(kind)) => {
                from = (
                    name.to_string(),
                    Some(kind.clone()),
                    page.next_record_identifier().map(String::from),
                );
            }
            _ => return Ok(Some(out)),
        }
    }
}

fn record_set(r: &ResourceRecordSet) -> RecordSet {
    RecordSet {
        name: r.name().to_string(),
        kind: r.r#type().as_str().to_string(),
        ttl: r.ttl(),
        values: r.resource_records().iter().map(|v| v.value().to_string()).collect(),
        alias: r.alias_target().map(|a| Alias {
            hosted_zone_id: a.hosted_zone_id().to_string(),
            dns_name: a.dns_name().to_string(),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        set_identifier: r.set_identifier().map(String::from),
    }
}

fn sdk_record_set(r: &RecordSet) -> Result<ResourceRecordSet, AwsError> {
    let bad = |e| AwsError::invalid_request("ChangeResourceRecordSets", e);
    let alias = r
        .alias
        .as_ref()
        .map(|a| {
            AliasTarget::builder()
                .hosted_zone_id(&a.hosted_zone_id)
                .dns_name(&a.dns_name)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
        })
        .transpose()
        .map_err(bad)?;
    let values = r
        .values
        .iter()
        .map(|v| ResourceRecord::builder().value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(RrType::from(r.kind.as_str()))
        .set_ttl(r.ttl)
        .set_resource_records((!values.is_empty()).then_some(values))
        .set_alias_target(alias)
        .set_set_identifier(r.set_identifier.clone())
        .build()
        .map_err(bad)
}

/// Applies `changes` in one batch (all or nothing); returns the change's id and whether it is
/// already INSYNC.
pub async fn change(c: &Client, zone: &str, changes: &[(Action, RecordSet)]) -> Result<(String, bool), AwsError> {
    let bad = |e| AwsError::invalid_request("ChangeResourceRecordSets", e);
    let changes = changes
        .iter()
        .map(|(action, r)| {
            Change::builder()
                .action(ChangeAction::from(action.as_str()))
                .resource_record_set(sdk_record_set(r)?)
                .build()
                .map_err(bad)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment("webstack-operator")
        .build()
        .map_err(bad)?;
    let out = c
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| classify("ChangeResourceRecordSets", e))?;
    let info = out.change_info();
    Ok((
        info.map(|i| i.id().to_string()).unwrap_or_default(),
        info.is_some_and(|i| *i.status() == ChangeStatus::Insync),
    ))
}

/// Whether the change is INSYNC (a change Route 53 no longer knows is long done).
pub async fn insync(c: &Client, id: &str) -> Result<bool, AwsError> {
    match c.get_change().id(id).send().await {
        Ok(out) => Ok(out.change_info().is_none_or(|i| *i.status() == ChangeStatus::Insync)),
        Err(e) => match classify("GetChange", e) {
            e if e.code == "NoSuchChange" => Ok(true),
            e => Err(e),
        },
    }
}
