//! The data tier's plans (pure): the database (subnet group, credentials stored first, then the
//! instance created with them, modified in place, its secret and Kubernetes Secret kept equal to
//! AWS) and the cache likewise; deletion by `database.deletionPolicy`, with deletion protection
//! never turned off unless the spec says so.
//!
//! A connection Secret is the stack's only while it carries the stack's ownerReference and label
//! ([`Holder`]): one that is someone else's is never written or deleted, and the data tier's plan
//! is then that conflict alone (`Stalled`, `OwnershipConflict`), before any change to the database,
//! the cache or their secrets. The parts planned before the data tier still converge; those after
//! it (the alarms) wait with it, since a stalled step ends the pass.

pub mod io;

use std::fmt;

use crate::api::WebStackSpec;
use crate::model::data::{DataCleanup, DataNames, database_identifier};
use crate::model::data::{
    DataDeletion, DesiredCache, DesiredDatabase, Holder, ObservedData, ObservedSubnetGroup, cache_connection,
    database_connection, digest_of, secret_current,
};
use crate::model::ownership::missing_tags;
use crate::model::stack::{DesiredStack, ObservedStack};
use crate::model::{Owner, TagMap};
use crate::reconcile::Blocked;
use crate::webstack::shared::{ApplyCx, ApplyError, Cleanup, ObserveCx, Part, private_subnets};

/// The spec field naming the database's connection Secret.
pub const DB_CONNECTION_FIELD: &str = "spec.database.connectionSecretName";
/// The spec field naming the cache's connection Secret.
pub const CACHE_CONNECTION_FIELD: &str = "spec.cache.connectionSecretName";

/// One change to the data tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataStep {
    /// Not a change: the connection Secret of the spec's name is someone else's. It is never
    /// written or deleted, and the data tier stops here (`Stalled`, `OwnershipConflict`).
    ConnectionConflict {
        cache: bool,
        secret: String,
        why: String,
    },
    CreateDbSubnetGroup,
    UpdateDbSubnetGroup,
    /// Generates the master password and stores it, before anything uses it.
    CreateDbSecret,
    /// Creates the instance with the password read back from its secret.
    CreateDatabase,
    ModifyDatabase {
        changes: Vec<&'static str>,
    },
    RestoreDatabaseTags,
    /// Adds host, port and url to the secret once the endpoint is known (the password kept).
    UpdateDbSecret,
    WriteDbConnection,
    CreateCacheSubnetGroup,
    UpdateCacheSubnetGroup,
    CreateCacheSecret,
    CreateCache,
    SetCacheNodeType {
        from: String,
        to: String,
    },
    SetCacheNodes {
        from: i32,
        to: i32,
    },
    /// Automatic failover and Multi-AZ: on with replicas, off without (on after a scale-out, off
    /// before a scale-in to one node, each in a pass of its own).
    SetCacheFailover {
        on: bool,
    },
    RestoreCacheTags,
    UpdateCacheSecret,
    WriteCacheConnection,
    /// The spec turned deletion protection off: so is it in AWS, then the instance is deleted.
    UnprotectDatabase,
    /// Deletion protection is on in the spec: deletion waits for a person (never silently off).
    ProtectedDatabase {
        identifier: String,
    },
    /// `identifier`: the instance's; its final snapshot is `<identifier>-final-<UTC time>`.
    DeleteDatabase {
        identifier: String,
        final_snapshot: bool,
    },
    /// Not an AWS call: RDS takes minutes to delete an instance.
    AwaitDatabaseGone,
    DeleteDbSubnetGroup,
    DeleteDbSecret,
    DeleteDbConnection,
    DeleteCache,
    AwaitCacheGone,
    DeleteCacheSubnetGroup,
    DeleteCacheSecret,
    DeleteCacheConnection,
    /// `Retain`: the ownership tags of the database, the cache, their subnet groups and secrets go.
    UntagData,
}

impl DataStep {
    /// Whether the step is about the cache (else the database).
    pub fn is_cache(&self) -> bool {
        matches!(
            self,
            DataStep::ConnectionConflict { cache: true, .. }
                | DataStep::CreateCacheSubnetGroup
                | DataStep::UpdateCacheSubnetGroup
                | DataStep::CreateCacheSecret
                | DataStep::CreateCache
                | DataStep::SetCacheNodeType { .. }
                | DataStep::SetCacheNodes { .. }
                | DataStep::SetCacheFailover { .. }
                | DataStep::RestoreCacheTags
                | DataStep::UpdateCacheSecret
                | DataStep::WriteCacheConnection
                | DataStep::DeleteCache
                | DataStep::AwaitCacheGone
                | DataStep::DeleteCacheSubnetGroup
                | DataStep::DeleteCacheSecret
                | DataStep::DeleteCacheConnection
        )
    }

    /// The spec field naming the connection Secret of a [`DataStep::ConnectionConflict`].
    pub fn connection_field(cache: bool) -> &'static str {
        if cache {
            CACHE_CONNECTION_FIELD
        } else {
            DB_CONNECTION_FIELD
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            DataStep::ConnectionConflict { .. } => "GetConnectionSecret",
            DataStep::CreateDbSubnetGroup => "CreateDBSubnetGroup",
            DataStep::UpdateDbSubnetGroup => "ModifyDBSubnetGroup",
            DataStep::CreateDbSecret | DataStep::CreateCacheSecret => "CreateSecret",
            DataStep::CreateDatabase => "CreateDBInstance",
            DataStep::ModifyDatabase { .. } | DataStep::UnprotectDatabase => "ModifyDBInstance",
            DataStep::RestoreDatabaseTags | DataStep::RestoreCacheTags => "AddTagsToResource",
            DataStep::UpdateDbSecret | DataStep::UpdateCacheSecret => "PutSecretValue",
            DataStep::WriteDbConnection | DataStep::WriteCacheConnection => "WriteConnectionSecret",
            DataStep::CreateCacheSubnetGroup => "CreateCacheSubnetGroup",
            DataStep::UpdateCacheSubnetGroup => "ModifyCacheSubnetGroup",
            DataStep::CreateCache => "CreateReplicationGroup",
            DataStep::SetCacheNodeType { .. } | DataStep::SetCacheFailover { .. } => "ModifyReplicationGroup",
            DataStep::SetCacheNodes { .. } => "ModifyReplicaCount",
            DataStep::ProtectedDatabase { .. } | DataStep::AwaitDatabaseGone => "DescribeDBInstances",
            DataStep::DeleteDatabase { .. } => "DeleteDBInstance",
            DataStep::DeleteDbSubnetGroup => "DeleteDBSubnetGroup",
            DataStep::DeleteDbSecret | DataStep::DeleteCacheSecret => "DeleteSecret",
            DataStep::DeleteDbConnection | DataStep::DeleteCacheConnection => "DeleteConnectionSecret",
            DataStep::DeleteCache => "DeleteReplicationGroup",
            DataStep::AwaitCacheGone => "DescribeReplicationGroups",
            DataStep::DeleteCacheSubnetGroup => "DeleteCacheSubnetGroup",
            DataStep::UntagData => "RemoveTagsFromResource",
        }
    }
}

impl fmt::Display for DataStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataStep::ConnectionConflict { cache, secret, why } => write!(
                f,
                "wait: Secret {secret} ({}) is not this stack's: {why}",
                DataStep::connection_field(*cache)
            ),
            DataStep::CreateDbSubnetGroup => write!(f, "create the DB subnet group"),
            DataStep::UpdateDbSubnetGroup => write!(f, "set the DB subnet group to the private subnets"),
            DataStep::CreateDbSecret => write!(f, "generate the database password and store it in Secrets Manager"),
            DataStep::CreateDatabase => write!(f, "create the database"),
            DataStep::ModifyDatabase { changes } => write!(f, "modify the database: {}", changes.join(", ")),
            DataStep::RestoreDatabaseTags => write!(f, "restore the database's tags"),
            DataStep::UpdateDbSecret => write!(f, "record the database endpoint in its secret"),
            DataStep::WriteDbConnection => write!(f, "write the database connection Secret"),
            DataStep::CreateCacheSubnetGroup => write!(f, "create the cache subnet group"),
            DataStep::UpdateCacheSubnetGroup => write!(f, "set the cache subnet group to the private subnets"),
            DataStep::CreateCacheSecret => write!(f, "generate the cache AUTH token and store it in Secrets Manager"),
            DataStep::CreateCache => write!(f, "create the cache"),
            DataStep::SetCacheNodeType { from, to } => write!(f, "change the cache node type from {from} to {to}"),
            DataStep::SetCacheNodes { from, to } => write!(f, "change the cache from {from} to {to} node(s)"),
            DataStep::SetCacheFailover { on: true } => write!(f, "turn on the cache's automatic failover and Multi-AZ"),
            DataStep::SetCacheFailover { on: false } => {
                write!(f, "turn off the cache's automatic failover and Multi-AZ")
            }
            DataStep::RestoreCacheTags => write!(f, "restore the cache's tags"),
            DataStep::UpdateCacheSecret => write!(f, "record the cache endpoint in its secret"),
            DataStep::WriteCacheConnection => write!(f, "write the cache connection Secret"),
            DataStep::UnprotectDatabase => write!(
                f,
                "turn off the database's deletion protection (the spec turned it off)"
            ),
            DataStep::ProtectedDatabase { identifier } => {
                write!(f, "wait: database {identifier} has deletion protection")
            }
            DataStep::DeleteDatabase {
                identifier,
                final_snapshot: true,
            } => write!(
                f,
                "delete database {identifier} after a final snapshot {identifier}-final-<UTC time of deletion>"
            ),
            DataStep::DeleteDatabase {
                identifier,
                final_snapshot: false,
            } => write!(f, "delete database {identifier} (no final snapshot)"),
            DataStep::AwaitDatabaseGone => write!(f, "wait until the database is deleted"),
            DataStep::DeleteDbSubnetGroup => write!(f, "delete the DB subnet group"),
            DataStep::DeleteDbSecret => write!(f, "delete the database secret"),
            DataStep::DeleteDbConnection => write!(f, "delete the database connection Secret"),
            DataStep::DeleteCache => write!(f, "delete the cache"),
            DataStep::AwaitCacheGone => write!(f, "wait until the cache is deleted"),
            DataStep::DeleteCacheSubnetGroup => write!(f, "delete the cache subnet group"),
            DataStep::DeleteCacheSecret => write!(f, "delete the cache secret"),
            DataStep::DeleteCacheConnection => write!(f, "delete the cache connection Secret"),
            DataStep::UntagData => write!(
                f,
                "remove the ownership tags of the database, the cache, their subnet groups and secrets"
            ),
        }
    }
}

/// What the database and cache should look like besides the specs: their tags and the private
/// subnets (`None` when not known yet: the network is being created in the same pass).
pub struct Context<'a> {
    pub owner: &'a Owner,
    pub tags: &'a TagMap,
    pub private_subnets: Option<Vec<String>>,
}

/// The conflict step when the database's (or with `cache`, the cache's) connection Secret is
/// someone else's.
pub fn connection_conflict(o: &ObservedData, cache: bool) -> Option<DataStep> {
    let (holder, secret) = if cache {
        (&o.cache_connection_holder, &o.names.cache_connection)
    } else {
        (&o.db_connection_holder, &o.names.db_connection)
    };
    match holder {
        Holder::Foreign(why) => Some(DataStep::ConnectionConflict {
            cache,
            secret: secret.clone(),
            why: why.clone(),
        }),
        _ => None,
    }
}

/// Whether a connection Secret observed with `digest` and `holder` is the stack's, to delete.
fn deletable(digest: Option<u64>, holder: &Holder) -> bool {
    digest.is_some() && !matches!(holder, Holder::Foreign(_))
}

/// The database's steps: only the conflict when its connection Secret is someone else's.
pub fn plan_database(d: &DesiredDatabase, o: &ObservedData, cx: &Context<'_>) -> Vec<DataStep> {
    if let Some(conflict) = connection_conflict(o, false) {
        return vec![conflict];
    }
    let mut steps = Vec::new();
    match &o.db_subnet_group {
        _ if !o.subnet_groups_read => {}
        None => steps.push(DataStep::CreateDbSubnetGroup),
        Some(g) if cx.private_subnets.as_ref().is_some_and(|s| *s != g.subnets) => {
            steps.push(DataStep::UpdateDbSubnetGroup)
        }
        Some(_) => {}
    }
    let Some(secret) = &o.db_secret else {
        // The password is stored first; the instance is created with it once it reads back.
        steps.extend([DataStep::CreateDbSecret, DataStep::CreateDatabase]);
        return steps;
    };
    let Some(db) = &o.database else {
        steps.push(DataStep::CreateDatabase);
        return steps;
    };
    if !missing_tags(cx.tags, &db.tags).is_empty() {
        steps.push(DataStep::RestoreDatabaseTags);
    }
    if db.status == "available" && !db.pending {
        let changes: Vec<&'static str> = [
            ("instance class", d.instance_class != db.instance_class),
            ("storage", d.storage_gib > db.storage_gib),
            ("Multi-AZ", d.multi_az != db.multi_az),
            ("backup retention", d.backup_retention_days != db.backup_retention_days),
            ("deletion protection", d.deletion_protection != db.deletion_protection),
        ]
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect();
        if !changes.is_empty() {
            steps.push(DataStep::ModifyDatabase { changes });
        }
    }
    if let Some(endpoint) = &db.endpoint {
        if !secret_current(&secret.fields, Some(endpoint)) {
            steps.push(DataStep::UpdateDbSecret);
        }
        if o.db_connection != Some(digest_of(&database_connection(d, secret, endpoint))) {
            steps.push(DataStep::WriteDbConnection);
        }
    }
    steps
}

/// The cache's steps: only the conflict when its connection Secret is someone else's. Failover
/// needs a replica: it is turned on after a scale-out and off before a scale-in to one node.
pub fn plan_cache(d: &DesiredCache, o: &ObservedData, cx: &Context<'_>) -> Vec<DataStep> {
    if let Some(conflict) = connection_conflict(o, true) {
        return vec![conflict];
    }
    let mut steps = Vec::new();
    match &o.cache_subnet_group {
        _ if !o.subnet_groups_read => {}
        None => steps.push(DataStep::CreateCacheSubnetGroup),
        Some(g) if cx.private_subnets.as_ref().is_some_and(|s| *s != g.subnets) => {
            steps.push(DataStep::UpdateCacheSubnetGroup)
        }
        Some(_) => {}
    }
    let Some(secret) = &o.cache_secret else {
        steps.extend([DataStep::CreateCacheSecret, DataStep::CreateCache]);
        return steps;
    };
    let Some(cache) = &o.cache else {
        steps.push(DataStep::CreateCache);
        return steps;
    };
    if !cache.tags.is_empty() && !missing_tags(cx.tags, &cache.tags).is_empty() {
        steps.push(DataStep::RestoreCacheTags);
    }
    // One change per pass: each leaves the group `modifying` for minutes, and AWS refuses the
    // next one until it is `available` again (InvalidReplicationGroupState, e.g. a replica-count
    // change right after a failover toggle), so sending two at once fails the second every time.
    if cache.status == "available" {
        if cache.node_type != d.node_type {
            steps.push(DataStep::SetCacheNodeType {
                from: cache.node_type.clone(),
                to: d.node_type.clone(),
            });
        } else if d.num_nodes == 1 && cache.num_nodes > 1 && cache.automatic_failover {
            // Failover needs a replica: off before the scale-in to one node.
            steps.push(DataStep::SetCacheFailover { on: false });
        } else if cache.num_nodes != d.num_nodes {
            steps.push(DataStep::SetCacheNodes {
                from: cache.num_nodes,
                to: d.num_nodes,
            });
        } else if cache.automatic_failover != (d.num_nodes > 1) {
            // On once the replicas are there.
            steps.push(DataStep::SetCacheFailover { on: d.num_nodes > 1 });
        }
    }
    if let Some(endpoint) = &cache.endpoint {
        if !secret_current(&secret.fields, Some(endpoint)) {
            steps.push(DataStep::UpdateCacheSecret);
        }
        if o.cache_connection != Some(digest_of(&cache_connection(secret, endpoint))) {
            steps.push(DataStep::WriteCacheConnection);
        }
    }
    steps
}

/// Deletion of the data tier, first of all: the database (and the cache with it) goes before
/// the groups and subnets it sits in. `Retain` untags instead. A connection Secret that is not the
/// stack's is left alone.
pub fn plan_cleanup(o: &ObservedData, how: DataCleanup) -> Vec<DataStep> {
    let mut steps = Vec::new();
    let anything = o.database.is_some() || o.cache.is_some() || o.db_secret.is_some() || o.cache_secret.is_some();
    if how.deletion == DataDeletion::Retain {
        // What observe found is ours (tagged so); once untagged it is no longer found.
        let tagged_group = |g: &Option<ObservedSubnetGroup>| g.as_ref().is_some_and(|g| !g.tags.is_empty());
        if anything || tagged_group(&o.db_subnet_group) || tagged_group(&o.cache_subnet_group) {
            steps.push(DataStep::UntagData);
        }
        // The connection Secrets describe a stack that is gone; the credentials stay in the
        // retained Secrets Manager secrets.
        if deletable(o.db_connection, &o.db_connection_holder) {
            steps.push(DataStep::DeleteDbConnection);
        }
        if deletable(o.cache_connection, &o.cache_connection_holder) {
            steps.push(DataStep::DeleteCacheConnection);
        }
        return steps;
    }
    if let Some(db) = o.database.as_ref().filter(|db| db.status != "deleting") {
        if db.deletion_protection {
            if how.protection_wanted {
                steps.push(DataStep::ProtectedDatabase {
                    identifier: db.identifier.clone(),
                });
            } else {
                steps.push(DataStep::UnprotectDatabase);
            }
        }
        steps.push(DataStep::DeleteDatabase {
            identifier: db.identifier.clone(),
            final_snapshot: how.deletion == DataDeletion::Snapshot,
        });
    }
    if o.cache.as_ref().is_some_and(|c| c.status != "deleting") {
        steps.push(DataStep::DeleteCache);
    }
    if o.database.is_some() {
        steps.push(DataStep::AwaitDatabaseGone);
    }
    if o.cache.is_some() {
        steps.push(DataStep::AwaitCacheGone);
    }
    if o.db_subnet_group.is_some() {
        steps.push(DataStep::DeleteDbSubnetGroup);
    }
    if o.cache_subnet_group.is_some() {
        steps.push(DataStep::DeleteCacheSubnetGroup);
    }
    if o.db_secret.is_some() {
        steps.push(DataStep::DeleteDbSecret);
    }
    if o.cache_secret.is_some() {
        steps.push(DataStep::DeleteCacheSecret);
    }
    if deletable(o.db_connection, &o.db_connection_holder) {
        steps.push(DataStep::DeleteDbConnection);
    }
    if deletable(o.cache_connection, &o.cache_connection_holder) {
        steps.push(DataStep::DeleteCacheConnection);
    }
    steps
}

/// Why the data tier is not ready yet, if it is not.
pub fn waiting_for(d: Option<&DesiredDatabase>, c: Option<&DesiredCache>, o: &ObservedData) -> Option<String> {
    if d.is_some() {
        match &o.database {
            None => return Some("the database is being created".into()),
            Some(db) if db.status != "available" => {
                return Some(format!(
                    "database {} is {} (RDS takes minutes)",
                    db.identifier, db.status
                ));
            }
            Some(db) if db.pending => return Some(format!("database {} has modifications pending", db.identifier)),
            Some(_) => {}
        }
    }
    if c.is_some() {
        match &o.cache {
            None => return Some("the cache is being created".into()),
            Some(cache) if cache.status != "available" => {
                return Some(format!("cache {} is {}", cache.replication_group, cache.status));
            }
            Some(_) => {}
        }
    }
    None
}

/// The names of the stack's data tier, from the spec without validating it.
pub fn data_names(spec: &WebStackSpec, owner: &Owner) -> DataNames {
    DataNames {
        database: database_identifier(owner),
        db_secret: secret_name(owner, "database"),
        db_connection: spec
            .database
            .as_ref()
            .and_then(|d| d.connection_secret_name.clone())
            .unwrap_or_else(|| format!("{}-db", owner.name)),
        cache: owner.rds_name("ws", 40),
        cache_secret: secret_name(owner, "cache"),
        cache_connection: spec
            .cache
            .as_ref()
            .and_then(|c| c.connection_secret_name.clone())
            .unwrap_or_else(|| format!("{}-cache", owner.name)),
    }
}

/// The Secrets Manager secret of a stack's `what` (`database` or `cache`).
pub fn secret_name(owner: &Owner, what: &str) -> String {
    format!("webstack/{}/{}-{}/{what}", owner.namespace, owner.name, owner.uid8())
}

impl crate::reconcile::Step for DataStep {
    fn action(&self) -> &'static str {
        DataStep::action(self)
    }

    fn destructive(&self) -> Option<String> {
        match self {
            DataStep::DeleteDatabase {
                identifier,
                final_snapshot: false,
            } => Some(format!(
                "database {identifier} is deleted without a final snapshot (deletionPolicy: Delete)"
            )),
            DataStep::DeleteCache => Some("the cache and its data are deleted (no final snapshot)".into()),
            _ => None,
        }
    }
}

/// The data-tier part.
pub struct Data;

impl Part for Data {
    type Step = DataStep;

    /// A database or cache the spec no longer has is deleted (the database after a final snapshot:
    /// the default policy). A connection Secret of the spec that is someone else's stops the whole
    /// data tier: the plan is then that conflict (both, when both are), nothing else.
    fn plan(desired: &DesiredStack, observed: &ObservedStack) -> Vec<DataStep> {
        let o = &observed.data;
        let subnets = private_subnets(desired, observed);
        let mut data = Vec::new();
        let db_tags = desired.tags_for("database");
        let cx = |tags| Context {
            owner: &desired.owner,
            tags,
            private_subnets: subnets.clone(),
        };
        match &desired.database {
            Some(d) => data.extend(plan_database(d, o, &cx(&db_tags))),
            None => {
                let gone = ObservedData {
                    database: o.database.clone(),
                    db_subnet_group: o.db_subnet_group.clone(),
                    db_secret: o.db_secret.clone(),
                    db_connection: o.db_connection,
                    db_connection_holder: o.db_connection_holder.clone(),
                    ..ObservedData::default()
                };
                data.extend(plan_cleanup(
                    &gone,
                    DataCleanup {
                        deletion: DataDeletion::Snapshot,
                        protection_wanted: false,
                    },
                ));
            }
        }
        let cache_tags = desired.tags_for("cache");
        match &desired.cache {
            Some(c) => data.extend(plan_cache(c, o, &cx(&cache_tags))),
            None => {
                let gone = ObservedData {
                    cache: o.cache.clone(),
                    cache_subnet_group: o.cache_subnet_group.clone(),
                    cache_secret: o.cache_secret.clone(),
                    cache_connection: o.cache_connection,
                    cache_connection_holder: o.cache_connection_holder.clone(),
                    ..ObservedData::default()
                };
                data.extend(plan_cleanup(
                    &gone,
                    DataCleanup {
                        deletion: DataDeletion::Delete,
                        protection_wanted: false,
                    },
                ));
            }
        }
        if data.iter().any(|s| matches!(s, DataStep::ConnectionConflict { .. })) {
            data.retain(|s| matches!(s, DataStep::ConnectionConflict { .. }));
        }
        data
    }

    /// Before the network it sits in; `Retain` keeps it (untagged).
    fn cleanup(observed: &ObservedStack, how: &Cleanup) -> Vec<DataStep> {
        let mut data = how.data;
        if how.retain {
            data.deletion = DataDeletion::Retain;
        }
        plan_cleanup(&observed.data, data)
    }

    /// When the spec or status has a database or cache (one removed from the spec is still found
    /// and deleted), and always on deletion.
    async fn observe(cx: &ObserveCx<'_>, observed: &mut ObservedStack) -> Result<(), Blocked> {
        observed.data = Box::pin(io::observe_stack(cx, data_names(&cx.ws.spec, cx.owner))).await?;
        Ok(())
    }

    /// With the private subnets and the database group as known at this point.
    async fn apply(cx: &mut ApplyCx<'_>, step: &DataStep) -> Result<(), ApplyError> {
        Box::pin(io::apply_step(cx, step)).await
    }
}

#[cfg(test)]
mod tests;
