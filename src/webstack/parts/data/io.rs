//! The data tier's I/O: observing the database, the cache, their secrets and connection Secrets,
//! and applying [`DataStep`]s. The order that makes credentials crash-safe: the password is
//! generated once and stored in Secrets Manager (client request token from the uid), and only
//! then is the instance created, with the password read back from that secret.
//!
//! A connection Secret is created only when absent (a create: 409 if one appeared meanwhile), and
//! replaced or deleted only while it is the stack's ([`Holder::Ours`]), at the version observed
//! (a replace at its `resourceVersion`, a delete with uid and `resourceVersion` preconditions), so
//! that a Secret changed or swapped between observe and apply is never touched.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client};

use super::DataStep;
use crate::aws::{AwsError, Clients, elasticache, rds, secrets};
use crate::model::data::{
    DataNames, DesiredCache, DesiredDatabase, FoundSecret, Holder, ObjectVersion, ObservedData, ObservedSecret,
    Sensitive, cache_connection, cache_secret, database_connection, database_secret, digest, holder,
};
use crate::model::ownership::OWNERSHIP_KEYS;
use crate::model::stack::SgRole;
use crate::model::{Owner, TagMap};
use crate::reconcile::Blocked;
use crate::reconcile::status::MANAGER;
use crate::webstack::shared::{ApplyCx, ApplyError, ObserveCx, STACK_LABEL, owner_reference};

/// Where the data tier is read from.
pub struct DataKey<'a> {
    pub names: &'a DataNames,
    /// Read the database / the cache at all (the spec or status has one, or the stack is deleted).
    pub database: bool,
    pub cache: bool,
    /// Also read subnet groups, the cache's tags and the secrets' tags (not on a steady re-check).
    pub deep: bool,
}

async fn secret(c: &Clients, name: &str, owner: &Owner, deep: bool) -> Result<Option<ObservedSecret>, Blocked> {
    let found = if deep {
        secrets::find(&c.secrets, name).await?
    } else {
        secrets::find_value(&c.secrets, name).await?
    };
    match found {
        Some(s) if !s.tags.is_empty() && !owner.owns(&s.tags) => {
            owner.check("secret", &s.arn, &s.tags)?;
            Ok(None)
        }
        other => Ok(other),
    }
}

/// The connection Secret `name` in the stack's namespace: whose it is, and the digest of its data
/// when it is the stack's (one GET).
///
/// While `deleting`, a namespace where the operator may not read Secrets has none of its
/// connection Secrets (it could not have written one; one it owns goes with the stack through its
/// ownerReference, by the garbage collector): deletion goes on.
pub async fn observe_connection(
    kube: &Client,
    owner: &Owner,
    name: &str,
    deleting: bool,
) -> Result<(Option<u64>, Holder), Blocked> {
    let found = Api::<Secret>::namespaced(kube.clone(), &owner.namespace)
        .get_opt(name)
        .await;
    let found = match found {
        Err(kube::Error::Api(e)) if e.code == 403 && deleting => return Ok((None, Holder::Absent)),
        other => other.map_err(|e| secret_error(owner, name, e))?,
    };
    let Some(s) = found else {
        return Ok((None, Holder::Absent));
    };
    let found = FoundSecret {
        version: version_of(&s.metadata),
        owner_uids: s
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|r| r.uid.clone())
            .collect(),
        stack_label: s.metadata.labels.as_ref().and_then(|l| l.get(STACK_LABEL)).cloned(),
    };
    let holder = holder(owner, STACK_LABEL, &found);
    let digest = matches!(holder, Holder::Ours(_)).then(|| {
        let data: BTreeMap<String, Vec<u8>> = s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
        digest(&data)
    });
    Ok((digest, holder))
}

fn version_of(meta: &ObjectMeta) -> ObjectVersion {
    ObjectVersion {
        uid: meta.uid.clone().unwrap_or_default(),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
    }
}

/// The data tier of the stack `cx` observes, with the names its spec gives.
pub async fn observe_stack(cx: &ObserveCx<'_>, names: DataNames) -> Result<ObservedData, Blocked> {
    let (spec, st) = (&cx.ws.spec, cx.ws.status.as_ref());
    let key = DataKey {
        names: &names,
        database: cx.deleting || spec.database.is_some() || st.is_some_and(|s| s.database.is_some()),
        cache: cx.deleting || spec.cache.is_some() || st.is_some_and(|s| s.cache.is_some()),
        deep: cx.deep,
    };
    observe(cx.clients, cx.kube, &key, cx.owner, cx.deleting).await
}

/// Runs one data step with the private subnets and the database group as known at this point.
pub async fn apply_step(cx: &mut ApplyCx<'_>, step: &DataStep) -> Result<(), ApplyError> {
    let component = if step.is_cache() { "cache" } else { "database" };
    let a = DataApply {
        clients: cx.clients,
        kube: cx.kube,
        owner: cx.owner,
        database: cx.desired.and_then(|x| x.database.as_ref()),
        cache: cx.desired.and_then(|x| x.cache.as_ref()),
        observed: &cx.observed.data,
        tags: cx.tags(component),
        subnets: cx.ids.private_subnets(cx.desired),
        security_group: cx.ids.groups.get(&SgRole::Database).cloned(),
    };
    apply(&a, step).await?;
    Ok(())
}

/// Observes the data tier. With `deleting`, what is someone else's is left out instead of stopping.
pub async fn observe(
    c: &Clients,
    kube: &Client,
    key: &DataKey<'_>,
    owner: &Owner,
    deleting: bool,
) -> Result<ObservedData, Blocked> {
    let mut o = ObservedData {
        names: key.names.clone(),
        subnet_groups_read: key.deep,
        ..ObservedData::default()
    };
    let keep = |what: &'static str, id: &str, tags: &TagMap| -> Result<bool, Blocked> {
        match owner.check(what, id, tags) {
            Ok(()) => Ok(true),
            Err(_) if deleting => Ok(false),
            Err(conflict) => Err(conflict.into()),
        }
    };
    let n = key.names;
    if key.database {
        if key.deep {
            o.db_subnet_group = match rds::find_subnet_group(&c.rds, &n.database).await? {
                Some(g) if !g.tags.is_empty() && !keep("subnet group", &g.name, &g.tags)? => None,
                other => other,
            };
        }
        o.database = match rds::find(&c.rds, &n.database).await? {
            Some(db) if !keep("database", &db.identifier, &db.tags)? => None,
            other => other,
        };
        o.db_secret = secret(c, &n.db_secret, owner, key.deep).await.or_else(|e| match e {
            Blocked::Stalled { .. } if deleting => Ok(None),
            e => Err(e),
        })?;
        (o.db_connection, o.db_connection_holder) = observe_connection(kube, owner, &n.db_connection, deleting).await?;
    }
    if key.cache {
        if key.deep {
            o.cache_subnet_group = match elasticache::find_subnet_group(&c.elasticache, &n.cache).await? {
                Some(g) if !g.tags.is_empty() && !keep("subnet group", &g.name, &g.tags)? => None,
                other => other,
            };
        }
        o.cache = match elasticache::find(&c.elasticache, &n.cache, key.deep).await? {
            Some(cache) if !cache.tags.is_empty() && !keep("cache", &cache.replication_group, &cache.tags)? => None,
            other => other,
        };
        o.cache_secret = secret(c, &n.cache_secret, owner, key.deep).await.or_else(|e| match e {
            Blocked::Stalled { .. } if deleting => Ok(None),
            e => Err(e),
        })?;
        (o.cache_connection, o.cache_connection_holder) =
            observe_connection(kube, owner, &n.cache_connection, deleting).await?;
    }
    Ok(o)
}

/// What applying data steps needs besides the step.
pub struct DataApply<'a> {
    pub clients: &'a Clients,
    pub kube: &'a Client,
    pub owner: &'a Owner,
    pub database: Option<&'a DesiredDatabase>,
    pub cache: Option<&'a DesiredCache>,
    pub observed: &'a ObservedData,
    pub tags: TagMap,
    /// The private subnets and the database security group, as known at this point of the apply.
    pub subnets: Vec<String>,
    pub security_group: Option<String>,
}

/// The client request token of a stack's secret: derived from the uid, so that a retried
/// CreateSecret returns the same secret.
fn token(owner: &Owner, what: &str) -> String {
    format!("{}-{what}", owner.uid)
}

fn need<'a, T>(v: Option<&'a T>, what: &str) -> Result<&'a T, Blocked> {
    v.ok_or_else(|| Blocked::waiting(format!("{what} is not known yet")))
}

/// A failed call on the connection Secret `name`. Refused by RBAC (the chart grants Secrets only in
/// the namespaces of its value `secretNamespaces` when that is set) it needs a person: Stalled,
/// naming the Secret and the value; other errors are retried.
fn secret_error(owner: &Owner, name: &str, e: kube::Error) -> Blocked {
    match e {
        kube::Error::Api(r) if r.code == 403 => Blocked::stalled(
            "Forbidden",
            format!(
                "the operator may not read or write the connection Secret {}/{name}: {}; give it Secrets in \
                 namespace {} (the chart's secretNamespaces) or remove the connection Secret's database or cache",
                owner.namespace, r.message, owner.namespace
            ),
        ),
        e => Blocked::from(e),
    }
}

/// Why a connection Secret was not touched: it changed (or appeared) since it was read. The next
/// pass reads it again.
fn changed(owner: &Owner, name: &str, what: &str) -> Blocked {
    Blocked::waiting(format!(
        "Secret {}/{name} {what} since it was read; it is read again before anything is written",
        owner.namespace
    ))
}

/// Writes the connection Secret `name` as observed with `holder`: created when absent (owned by
/// the stack, so that it goes with it), replaced at the version observed when the stack's, and
/// never when someone else's.
pub async fn write_connection(
    kube: &Client,
    owner: &Owner,
    name: &str,
    holder: &Holder,
    data: BTreeMap<String, Sensitive>,
) -> Result<(), Blocked> {
    let api = Api::<Secret>::namespaced(kube.clone(), &owner.namespace);
    let data: BTreeMap<String, ByteString> = data
        .into_iter()
        .map(|(k, v)| (k, ByteString(v.expose().as_bytes().to_vec())))
        .collect();
    let params = PostParams {
        field_manager: Some(MANAGER.into()),
        ..PostParams::default()
    };
    let (result, what) = match holder {
        Holder::Absent => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some(owner.namespace.clone()),
                    owner_references: Some(vec![owner_reference(owner)]),
                    labels: Some(BTreeMap::from([(STACK_LABEL.to_string(), owner.name.clone())])),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                data: Some(data),
                ..Secret::default()
            };
            (api.create(&params, &secret).await.map(drop), "appeared")
        }
        Holder::Ours(version) => {
            // Replaced as it is, whatever else it carries (annotations, labels, finalizers), only
            // while it is the version observed; its resourceVersion makes the replace fail if it
            // changes in between.
            let Some(mut current) = api.get_opt(name).await.map_err(|e| secret_error(owner, name, e))? else {
                return Err(changed(owner, name, "was deleted"));
            };
            if version_of(&current.metadata) != *version {
                return Err(changed(owner, name, "changed"));
            }
            current.data = Some(data);
            current.string_data = None;
            (api.replace(name, &params, &current).await.map(drop), "changed")
        }
        Holder::Foreign(why) => {
            return Err(Blocked::stalled(
                "OwnershipConflict",
                format!(
                    "Secret {}/{name} is not this stack's: {why}; it is never written",
                    owner.namespace
                ),
            ));
        }
    };
    match result {
        Err(kube::Error::Api(e)) if e.code == 409 => Err(changed(owner, name, what)),
        other => other.map_err(|e| secret_error(owner, name, e)),
    }
}

/// Deletes the connection Secret `name` when it is the stack's, with the uid and resourceVersion
/// observed as preconditions; one that is not (or is gone) is left alone.
pub async fn delete_connection(kube: &Client, owner: &Owner, name: &str, holder: &Holder) -> Result<(), Blocked> {
    let Holder::Ours(version) = holder else {
        return Ok(());
    };
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(version.uid.clone()),
            resource_version: Some(version.resource_version.clone()),
        }),
        ..DeleteParams::default()
    };
    match Api::<Secret>::namespaced(kube.clone(), &owner.namespace)
        .delete(name, &params)
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(changed(owner, name, "changed")),
        other => other.map(drop).map_err(|e| secret_error(owner, name, e)),
    }
}

/// The `Stalled` of a connection Secret that is someone else's, naming the field and the Secret.
fn conflict(owner: &Owner, cache: bool, secret: &str, why: &str) -> Blocked {
    Blocked::stalled(
        "OwnershipConflict",
        format!(
            "Secret {}/{secret}, named by {}, is not this stack's: {why}. The operator neither writes nor \
             deletes it, and changes nothing of the database and cache until it is removed or renamed \
             (deleting the stack leaves it alone)",
            owner.namespace,
            DataStep::connection_field(cache)
        ),
    )
}

/// The name of a final snapshot: the instance and a UTC timestamp.
fn snapshot_name(identifier: &str) -> String {
    let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%d%H%M%S");
    format!("{identifier}-final-{now}")
}

/// Runs one data step.
pub async fn apply(a: &DataApply<'_>, step: &DataStep) -> Result<(), Blocked> {
    let (c, o) = (a.clients, a.observed);
    let n = &o.names;
    match step {
        DataStep::ConnectionConflict { cache, secret, why } => return Err(conflict(a.owner, *cache, secret, why)),
        DataStep::CreateDbSubnetGroup => rds::create_subnet_group(&c.rds, &n.database, &a.subnets, &a.tags).await?,
        DataStep::UpdateDbSubnetGroup => rds::modify_subnet_group(&c.rds, &n.database, &a.subnets).await?,
        DataStep::CreateDbSecret => {
            let d = need(a.database, "the database")?;
            let value = database_secret(d, &secrets::generate_password()?, None);
            let what = format!("webstack {}/{}: database credentials", a.owner.namespace, a.owner.name);
            secrets::create(
                &c.secrets,
                &n.db_secret,
                &what,
                &value,
                &token(a.owner, "database"),
                &a.tags,
            )
            .await?
        }
        DataStep::CreateDatabase => {
            let d = need(a.database, "the database")?;
            // The password as stored: never one that only this process knows.
            let stored = need(
                secrets::find_value(&c.secrets, &n.db_secret).await?.as_ref(),
                "the database secret",
            )?
            .password
            .clone();
            let group = need(a.security_group.as_ref(), "the database security group")?;
            rds::create(&c.rds, d, &stored, group, &a.tags).await?
        }
        DataStep::ModifyDatabase { .. } => rds::modify(&c.rds, need(a.database, "the database")?).await?,
        DataStep::RestoreDatabaseTags => {
            rds::tag(&c.rds, &need(o.database.as_ref(), "the database")?.arn, &a.tags).await?
        }
        DataStep::UpdateDbSecret => {
            let (d, db) = (
                need(a.database, "the database")?,
                need(o.database.as_ref(), "the database")?,
            );
            let s = need(o.db_secret.as_ref(), "the database secret")?;
            secrets::put(
                &c.secrets,
                &n.db_secret,
                &database_secret(d, &s.password, db.endpoint.as_ref()),
            )
            .await?
        }
        DataStep::WriteDbConnection => {
            let (d, db) = (
                need(a.database, "the database")?,
                need(o.database.as_ref(), "the database")?,
            );
            let s = need(o.db_secret.as_ref(), "the database secret")?;
            let endpoint = need(db.endpoint.as_ref(), "the database endpoint")?;
            let data = database_connection(d, s, endpoint);
            write_connection(a.kube, a.owner, &n.db_connection, &o.db_connection_holder, data).await?
        }
        DataStep::CreateCacheSubnetGroup => {
            elasticache::create_subnet_group(&c.elasticache, &n.cache, &a.subnets, &a.tags).await?
        }
        DataStep::UpdateCacheSubnetGroup => {
            elasticache::modify_subnet_group(&c.elasticache, &n.cache, &a.subnets).await?
        }
        DataStep::CreateCacheSecret => {
            let value = cache_secret(&secrets::generate_password()?, None);
            let what = format!("webstack {}/{}: cache AUTH token", a.owner.namespace, a.owner.name);
            secrets::create(
                &c.secrets,
                &n.cache_secret,
                &what,
                &value,
                &token(a.owner, "cache"),
                &a.tags,
            )
            .await?
        }
        DataStep::CreateCache => {
            let d = need(a.cache, "the cache")?;
            let stored = need(
                secrets::find_value(&c.secrets, &n.cache_secret).await?.as_ref(),
                "the cache secret",
            )?
            .password
            .clone();
            let group = need(a.security_group.as_ref(), "the database security group")?;
            elasticache::create(&c.elasticache, d, &stored, group, &a.tags).await?
        }
        DataStep::SetCacheNodeType { to, .. } => elasticache::set_node_type(&c.elasticache, &n.cache, to).await?,
        // Failover is off already before a scale-in to one node (the planner's own pass).
        DataStep::SetCacheNodes { from, to } => {
            elasticache::set_replicas(&c.elasticache, &n.cache, from - 1, to - 1).await?
        }
        DataStep::SetCacheFailover { on } => elasticache::set_failover(&c.elasticache, &n.cache, *on).await?,
        DataStep::RestoreCacheTags => {
            elasticache::tag(&c.elasticache, &need(o.cache.as_ref(), "the cache")?.arn, &a.tags).await?
        }
        DataStep::UpdateCacheSecret => {
            let cache = need(o.cache.as_ref(), "the cache")?;
            let s = need(o.cache_secret.as_ref(), "the cache secret")?;
            secrets::put(
                &c.secrets,
                &n.cache_secret,
                &cache_secret(&s.password, cache.endpoint.as_ref()),
            )
            .await?
        }
        DataStep::WriteCacheConnection => {
            need(a.cache, "the cache")?;
            let cache = need(o.cache.as_ref(), "the cache")?;
            let s = need(o.cache_secret.as_ref(), "the cache secret")?;
            let endpoint = need(cache.endpoint.as_ref(), "the cache endpoint")?;
            let data = cache_connection(s, endpoint);
            write_connection(a.kube, a.owner, &n.cache_connection, &o.cache_connection_holder, data).await?
        }
        DataStep::UnprotectDatabase => rds::unprotect(&c.rds, &n.database).await?,
        DataStep::ProtectedDatabase { identifier } => {
            return Err(Blocked::stalled(
                "DeletionProtection",
                format!(
                    "database {identifier} has deletion protection, so deletion waits: set \
                     spec.database.deletionProtection: false (the operator then turns it off and deletes \
                     the database as spec.database.deletionPolicy says), or set \
                     spec.database.deletionPolicy: Retain to keep it"
                ),
            ));
        }
        DataStep::DeleteDatabase { final_snapshot, .. } => {
            let snapshot = final_snapshot.then(|| snapshot_name(&n.database));
            rds::delete(&c.rds, &n.database, snapshot.as_deref()).await?
        }
        DataStep::AwaitDatabaseGone => {
            return Err(Blocked::waiting(format!(
                "database {} is being deleted (RDS takes minutes)",
                n.database
            )));
        }
        DataStep::DeleteDbSubnetGroup => rds::delete_subnet_group(&c.rds, &n.database).await?,
        DataStep::DeleteDbSecret => secrets::delete(&c.secrets, &n.db_secret).await?,
        DataStep::DeleteDbConnection => {
            delete_connection(a.kube, a.owner, &n.db_connection, &o.db_connection_holder).await?
        }
        DataStep::DeleteCache => elasticache::delete(&c.elasticache, &n.cache).await?,
        DataStep::AwaitCacheGone => {
            return Err(Blocked::waiting(format!("cache {} is being deleted", n.cache)));
        }
        DataStep::DeleteCacheSubnetGroup => elasticache::delete_subnet_group(&c.elasticache, &n.cache).await?,
        DataStep::DeleteCacheSecret => secrets::delete(&c.secrets, &n.cache_secret).await?,
        DataStep::DeleteCacheConnection => {
            delete_connection(a.kube, a.owner, &n.cache_connection, &o.cache_connection_holder).await?
        }
        DataStep::UntagData => untag(a).await?,
    }
    Ok(())
}

/// `Retain`: removes the ownership tags of whatever of the data tier was observed (all of it is
/// ours: observe leaves out what is not).
async fn untag(a: &DataApply<'_>) -> Result<(), AwsError> {
    let (c, o, keys) = (a.clients, a.observed, &OWNERSHIP_KEYS);
    if let Some(db) = &o.database {
        rds::untag(&c.rds, &db.arn, keys).await?;
    }
    if let Some(cache) = &o.cache {
        elasticache::untag(&c.elasticache, &cache.arn, keys).await?;
    }
    if let Some(g) = o.db_subnet_group.as_ref().filter(|g| !g.tags.is_empty()) {
        rds::untag(&c.rds, &g.arn, keys).await?;
    }
    if let Some(g) = o.cache_subnet_group.as_ref().filter(|g| !g.tags.is_empty()) {
        elasticache::untag(&c.elasticache, &g.arn, keys).await?;
    }
    for s in o.db_secret.iter().chain(&o.cache_secret) {
        secrets::untag(&c.secrets, &s.name, keys).await?;
    }
    Ok(())
}
