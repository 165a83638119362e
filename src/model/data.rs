//! A stack's data tier in domain terms: the RDS database and the ElastiCache Redis it should have,
//! what AWS holds of them, the Secrets Manager secrets holding their credentials, and the
//! Kubernetes Secrets that mirror them, with whose each of those is ([`Holder`]). Credentials are
//! [`Sensitive`]: they never print.

use std::collections::BTreeMap;
use std::fmt;

use super::ownership::{Owner, TagMap};

/// A credential: `Debug` and `Display` print `<redacted>`, so it cannot reach a log, an Event,
/// a condition or an error message by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(s: impl Into<String>) -> Sensitive {
        Sensitive(s.into())
    }

    /// The value itself, for the one place that needs it (an AWS call, a Secret's data).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What happens to the database when the stack (or its `database`) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDeletion {
    /// A final snapshot, then delete.
    Snapshot,
    Delete,
    /// Keep it, untagged.
    Retain,
}

/// The database a stack should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredDatabase {
    pub identifier: String,
    pub subnet_group: String,
    /// `postgres` or `mysql`.
    pub engine: String,
    pub engine_version: Option<String>,
    pub instance_class: String,
    pub storage_gib: i32,
    pub multi_az: bool,
    pub backup_retention_days: i32,
    pub deletion_protection: bool,
    pub database_name: String,
    pub username: String,
    pub port: i32,
    /// The Secrets Manager secret holding the credentials.
    pub secret_name: String,
    /// The Kubernetes Secret mirroring them, in the stack's namespace.
    pub connection_secret: String,
    pub deletion: DataDeletion,
}

/// The Redis cache a stack should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCache {
    pub replication_group: String,
    pub subnet_group: String,
    pub node_type: String,
    /// The primary plus its replicas.
    pub num_nodes: i32,
    pub secret_name: String,
    pub connection_secret: String,
}

/// A DB or cache subnet group as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSubnetGroup {
    pub name: String,
    pub arn: String,
    /// Sorted.
    pub subnets: Vec<String>,
    pub tags: TagMap,
}

impl ObservedSubnetGroup {
    /// A subnet group as found (its subnets in any order).
    pub fn new(name: &str, arn: &str, subnets: impl IntoIterator<Item = String>, tags: TagMap) -> Self {
        let mut subnets: Vec<String> = subnets.into_iter().collect();
        subnets.sort();
        ObservedSubnetGroup {
            name: name.into(),
            arn: arn.into(),
            subnets,
            tags,
        }
    }
}

/// The database as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedDatabase {
    pub identifier: String,
    pub arn: String,
    /// `creating`, `available`, `modifying`, `deleting`, ...
    pub status: String,
    pub endpoint: Option<(String, i32)>,
    pub instance_class: String,
    pub storage_gib: i32,
    pub multi_az: bool,
    pub backup_retention_days: i32,
    pub deletion_protection: bool,
    /// Modifications AWS has accepted and not applied yet.
    pub pending: bool,
    pub tags: TagMap,
}

/// The replication group as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedCache {
    pub replication_group: String,
    pub arn: String,
    pub status: String,
    pub endpoint: Option<(String, i32)>,
    pub node_type: String,
    pub num_nodes: i32,
    pub automatic_failover: bool,
    pub tags: TagMap,
}

/// A Secrets Manager secret as found: its JSON fields, the password apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedSecret {
    pub arn: String,
    pub name: String,
    pub tags: TagMap,
    /// Every JSON field but `password`, as strings.
    pub fields: BTreeMap<String, String>,
    pub password: Sensitive,
}

/// The names of what the data tier may hold, derived from the stack (present even when the spec
/// no longer has a database or cache, so that what was made is still found and deleted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataNames {
    pub database: String,
    pub db_secret: String,
    pub db_connection: String,
    pub cache: String,
    pub cache_secret: String,
    pub cache_connection: String,
}

/// What AWS (and the namespace) holds of a stack's data tier.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedData {
    /// Where it was looked for.
    pub names: DataNames,
    /// Whether the subnet groups were read: not on a steady re-check, where the instance and the
    /// cache being there is enough (their absence then means "not read", never "missing").
    pub subnet_groups_read: bool,
    pub db_subnet_group: Option<ObservedSubnetGroup>,
    pub database: Option<ObservedDatabase>,
    pub db_secret: Option<ObservedSecret>,
    /// A digest of the data of the database's connection Secret while it is this stack's
    /// (compared, never printed); `None`: absent, or someone else's.
    pub db_connection: Option<u64>,
    /// Whose the Secret of that name is, and the version of the stack's own that a change is made at.
    pub db_connection_holder: Holder,
    pub cache_subnet_group: Option<ObservedSubnetGroup>,
    pub cache: Option<ObservedCache>,
    pub cache_secret: Option<ObservedSecret>,
    pub cache_connection: Option<u64>,
    pub cache_connection_holder: Holder,
}

/// The version of a Kubernetes object that a change is made at: a replace at this
/// `resourceVersion`, or a delete with these preconditions, fails (409) when the object was changed,
/// or deleted and re-created, since it was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectVersion {
    pub uid: String,
    pub resource_version: String,
}

/// Whose a connection Secret of the name the spec gives is, as observed. The data digest
/// ([`ObservedData::db_connection`]) is there exactly when it is [`Holder::Ours`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Holder {
    /// No Secret of that name: one is created (a create, which fails if one appeared meanwhile).
    #[default]
    Absent,
    /// It carries this stack's ownerReference (uid) and stack label: changed and deleted only at
    /// this version.
    Ours(ObjectVersion),
    /// Someone else's: never written, never deleted. Says why it is not the stack's.
    Foreign(String),
}

/// What a Kubernetes Secret found under a connection name says about who holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoundSecret {
    pub version: ObjectVersion,
    /// The uids its ownerReferences name.
    pub owner_uids: Vec<String>,
    /// The value of its stack label (`webstack.io/stack`), if any.
    pub stack_label: Option<String>,
}

/// Whose a found Secret is: the stack's only while it carries both the stack's ownerReference
/// (its uid) and the stack label with the stack's name.
pub fn holder(owner: &Owner, label: &str, found: &FoundSecret) -> Holder {
    let referenced = found.owner_uids.contains(&owner.uid);
    let labelled = found.stack_label.as_deref() == Some(owner.name.as_str());
    if referenced && labelled {
        return Holder::Ours(found.version.clone());
    }
    let label_says = match &found.stack_label {
        Some(v) => format!("its {label} label is {v:?}"),
        None => format!("it has no {label} label"),
    };
    let why = match (referenced, labelled) {
        (false, false) => format!("it has no ownerReference to WebStack {} and {label_says}", owner.name),
        (false, true) => format!(
            "it has no ownerReference to WebStack {} (uid {})",
            owner.name, owner.uid
        ),
        _ => format!("{label_says}, not {:?}", owner.name),
    };
    Holder::Foreign(why)
}

/// The default port of an engine.
pub fn engine_port(engine: &str) -> i32 {
    if engine == "mysql" { 3306 } else { 5432 }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for a password in a URL).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The database's connection URL: `postgres://` or `mysql://`, the password percent-encoded.
pub fn database_url(engine: &str, user: &str, password: &Sensitive, host: &str, port: i32, db: &str) -> Sensitive {
    let scheme = if engine == "mysql" { "mysql" } else { "postgres" };
    Sensitive::new(format!(
        "{scheme}://{}:{}@{host}:{port}/{db}",
        percent_encode(user),
        percent_encode(password.expose())
    ))
}

/// The cache's connection URL: TLS (`rediss://`) with the AUTH token percent-encoded.
pub fn cache_url(password: &Sensitive, host: &str, port: i32) -> Sensitive {
    Sensitive::new(format!("rediss://:{}@{host}:{port}", percent_encode(password.expose())))
}

/// The JSON the database's Secrets Manager secret holds: the keys AWS's RDS rotation functions
/// expect (`engine host port username password dbname`), plus `url` once the endpoint is known.
pub fn database_secret(d: &DesiredDatabase, password: &Sensitive, endpoint: Option<&(String, i32)>) -> Sensitive {
    let mut v = serde_json::json!({
        "engine": d.engine, "username": d.username, "password": password.expose(),
        "dbname": d.database_name, "port": d.port, "host": "",
    });
    if let Some((host, port)) = endpoint {
        v["host"] = serde_json::json!(host);
        v["port"] = serde_json::json!(port);
        v["url"] =
            serde_json::json!(database_url(&d.engine, &d.username, password, host, *port, &d.database_name).expose());
    }
    Sensitive::new(v.to_string())
}

/// The JSON the cache's secret holds: `host port password url`.
pub fn cache_secret(password: &Sensitive, endpoint: Option<&(String, i32)>) -> Sensitive {
    let mut v = serde_json::json!({"password": password.expose(), "host": "", "port": 6379});
    if let Some((host, port)) = endpoint {
        v["host"] = serde_json::json!(host);
        v["port"] = serde_json::json!(port);
        v["url"] = serde_json::json!(cache_url(password, host, *port).expose());
    }
    Sensitive::new(v.to_string())
}

/// Whether a secret's fields are what they should be for this endpoint (the password aside).
pub fn secret_current(fields: &BTreeMap<String, String>, endpoint: Option<&(String, i32)>) -> bool {
    match endpoint {
        Some((host, port)) => {
            fields.get("host") == Some(host)
                && fields.get("port") == Some(&port.to_string())
                && fields.contains_key("url")
        }
        None => true,
    }
}

/// The data of the database's Kubernetes Secret: `host port username password database url engine`.
pub fn database_connection(
    d: &DesiredDatabase,
    s: &ObservedSecret,
    endpoint: &(String, i32),
) -> BTreeMap<String, Sensitive> {
    let (host, port) = endpoint;
    let url = database_url(&d.engine, &d.username, &s.password, host, *port, &d.database_name);
    BTreeMap::from([
        ("host".to_string(), Sensitive::new(host.clone())),
        ("port".into(), Sensitive::new(port.to_string())),
        ("username".into(), Sensitive::new(d.username.clone())),
        ("password".into(), s.password.clone()),
        ("database".into(), Sensitive::new(d.database_name.clone())),
        ("url".into(), url),
        ("engine".into(), Sensitive::new(d.engine.clone())),
    ])
}

/// The data of the cache's Kubernetes Secret: `host port password url`.
pub fn cache_connection(s: &ObservedSecret, endpoint: &(String, i32)) -> BTreeMap<String, Sensitive> {
    let (host, port) = endpoint;
    BTreeMap::from([
        ("host".to_string(), Sensitive::new(host.clone())),
        ("port".into(), Sensitive::new(port.to_string())),
        ("password".into(), s.password.clone()),
        ("url".into(), cache_url(&s.password, host, *port)),
    ])
}

/// A digest of a Secret's data (FNV-1a over the sorted keys and values): compared, never shown.
pub fn digest(data: &BTreeMap<String, Vec<u8>>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in data {
        for b in k.bytes().chain([0]).chain(v.iter().copied()).chain([0]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The digest of the data a Secret should hold.
pub fn digest_of(data: &BTreeMap<String, Sensitive>) -> u64 {
    digest(
        &data
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().as_bytes().to_vec()))
            .collect(),
    )
}

/// The stack's RDS instance identifier (also its DB subnet group's name).
pub fn database_identifier(owner: &Owner) -> String {
    owner.rds_name("ws", 63)
}

/// What the spec says about deleting the database (the spec is read at deletion time: the
/// policy, and whether deletion protection may be turned off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataCleanup {
    pub deletion: DataDeletion,
    pub protection_wanted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_the_stacks_only_with_its_owner_reference_and_label() {
        let owner = Owner {
            cluster_id: "c".into(),
            namespace: "movies".into(),
            kind: "WebStack",
            name: "netflux".into(),
            uid: "u-1".into(),
        };
        let version = ObjectVersion {
            uid: "s-1".into(),
            resource_version: "42".into(),
        };
        let found = |uids: &[&str], label: Option<&str>| FoundSecret {
            version: version.clone(),
            owner_uids: uids.iter().map(ToString::to_string).collect(),
            stack_label: label.map(String::from),
        };
        let l = "webstack.io/stack";
        assert_eq!(
            holder(&owner, l, &found(&["other", "u-1"], Some("netflux"))),
            Holder::Ours(version.clone())
        );
        let cases = [
            (
                found(&[], None),
                "it has no ownerReference to WebStack netflux and it has no webstack.io/stack label",
            ),
            (
                found(&["u-2"], Some("netflux")),
                "it has no ownerReference to WebStack netflux (uid u-1)",
            ),
            (
                found(&["u-1"], None),
                "it has no webstack.io/stack label, not \"netflux\"",
            ),
            (
                found(&["u-1"], Some("other")),
                "its webstack.io/stack label is \"other\", not \"netflux\"",
            ),
        ];
        for (f, why) in cases {
            assert_eq!(holder(&owner, l, &f), Holder::Foreign(why.into()), "{f:?}");
        }
    }

    #[test]
    fn credentials_never_print() {
        let p = Sensitive::new("hunter2-secret");
        assert_eq!(format!("{p:?} {p}"), "<redacted> <redacted>");
        let s = ObservedSecret {
            arn: "arn".into(),
            name: "n".into(),
            tags: TagMap::new(),
            fields: BTreeMap::new(),
            password: p,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn urls_percent_encode_the_password() {
        let url = database_url(
            "postgres",
            "app",
            &Sensitive::new("a#b&c^d<e>f!$-"),
            "db.example",
            5432,
            "app",
        );
        assert_eq!(
            url.expose(),
            "postgres://app:a%23b%26c%5Ed%3Ce%3Ef%21%24-@db.example:5432/app"
        );
        let url = cache_url(&Sensitive::new("x$y"), "cache.example", 6379);
        assert_eq!(url.expose(), "rediss://:x%24y@cache.example:6379");
    }

    #[test]
    fn secrets_hold_what_rotation_expects() {
        let d = DesiredDatabase {
            identifier: "ws-db".into(),
            subnet_group: "ws-db".into(),
            engine: "postgres".into(),
            engine_version: None,
            instance_class: "db.t4g.micro".into(),
            storage_gib: 20,
            multi_az: false,
            backup_retention_days: 7,
            deletion_protection: false,
            database_name: "app".into(),
            username: "app".into(),
            port: 5432,
            secret_name: "s".into(),
            connection_secret: "c".into(),
            deletion: DataDeletion::Snapshot,
        };
        let json: serde_json::Value =
            serde_json::from_str(database_secret(&d, &Sensitive::new("pw"), None).expose()).unwrap();
        for key in ["engine", "host", "port", "username", "password", "dbname"] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json.get("url").is_none(), "no url before the endpoint is known");
        let ep = ("db.example".to_string(), 5432);
        let json: serde_json::Value =
            serde_json::from_str(database_secret(&d, &Sensitive::new("pw"), Some(&ep)).expose()).unwrap();
        assert_eq!(json["url"], "postgres://app:pw@db.example:5432/app");
    }
}
