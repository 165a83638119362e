//! Table tests of the data tier's planner.

use std::collections::BTreeMap;

use super::*;
use crate::model::data::{
    ObjectVersion, ObservedCache, ObservedDatabase, ObservedSecret, ObservedSubnetGroup, Sensitive,
};

fn owner() -> Owner {
    Owner {
        cluster_id: "test".into(),
        namespace: "movies".into(),
        kind: "WebStack",
        name: "netflux".into(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    }
}

fn db() -> DesiredDatabase {
    DesiredDatabase {
        identifier: "ws-movies-netflux-0f1e2d3c".into(),
        subnet_group: "ws-movies-netflux-0f1e2d3c".into(),
        engine: "postgres".into(),
        engine_version: Some("16".into()),
        instance_class: "db.t4g.micro".into(),
        storage_gib: 20,
        multi_az: false,
        backup_retention_days: 7,
        deletion_protection: false,
        database_name: "netflux".into(),
        username: "netflux".into(),
        port: 5432,
        secret_name: "webstack/movies/netflux-0f1e2d3c/database".into(),
        connection_secret: "netflux-db".into(),
        deletion: DataDeletion::Snapshot,
    }
}

fn cache() -> DesiredCache {
    DesiredCache {
        replication_group: "ws-movies-netflux-0f1e2d3c".into(),
        subnet_group: "ws-movies-netflux-0f1e2d3c".into(),
        node_type: "cache.t4g.micro".into(),
        num_nodes: 1,
        secret_name: "webstack/movies/netflux-0f1e2d3c/cache".into(),
        connection_secret: "netflux-cache".into(),
    }
}

fn secret(fields: &[(&str, &str)]) -> ObservedSecret {
    ObservedSecret {
        arn: "arn:secret".into(),
        name: "s".into(),
        tags: TagMap::new(),
        fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        password: Sensitive::new("pw"),
    }
}

/// Nothing observed, with every kind of resource read (a deep observe).
fn fresh() -> ObservedData {
    ObservedData {
        subnet_groups_read: true,
        ..ObservedData::default()
    }
}

/// The stack's own connection Secret, at some version.
fn ours() -> Holder {
    Holder::Ours(ObjectVersion {
        uid: "secret-uid".into(),
        resource_version: "7".into(),
    })
}

fn foreign() -> Holder {
    Holder::Foreign("it has no ownerReference to WebStack netflux and it has no webstack.io/stack label".into())
}

/// The names the spec gives (connection Secrets `netflux-db` and `netflux-cache`).
fn data_names() -> DataNames {
    DataNames {
        db_connection: "netflux-db".into(),
        cache_connection: "netflux-cache".into(),
        ..DataNames::default()
    }
}

/// AWS holding exactly `d` and `c`, available, their secrets and Secrets current.
fn converged(tags: &TagMap) -> ObservedData {
    let d = db();
    let endpoint = ("db.example".to_string(), 5432);
    let db_secret = secret(&[("host", "db.example"), ("port", "5432"), ("url", "postgres://...")]);
    let cache_endpoint = ("cache.example".to_string(), 6379);
    let cache_secret = secret(&[("host", "cache.example"), ("port", "6379"), ("url", "rediss://...")]);
    ObservedData {
        db_subnet_group: Some(ObservedSubnetGroup {
            name: d.subnet_group.clone(),
            arn: "arn:db-subnet-group".into(),
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            tags: tags.clone(),
        }),
        database: Some(ObservedDatabase {
            identifier: d.identifier.clone(),
            arn: "arn:db".into(),
            status: "available".into(),
            endpoint: Some(endpoint.clone()),
            instance_class: d.instance_class.clone(),
            storage_gib: d.storage_gib,
            multi_az: d.multi_az,
            backup_retention_days: d.backup_retention_days,
            deletion_protection: d.deletion_protection,
            pending: false,
            tags: tags.clone(),
        }),
        db_connection: Some(digest_of(&database_connection(&d, &db_secret, &endpoint))),
        db_connection_holder: ours(),
        db_secret: Some(db_secret),
        cache_subnet_group: Some(ObservedSubnetGroup {
            name: "g".into(),
            arn: "arn:cache-subnet-group".into(),
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            tags: tags.clone(),
        }),
        cache: Some(ObservedCache {
            replication_group: "ws".into(),
            arn: "arn:cache".into(),
            status: "available".into(),
            endpoint: Some(cache_endpoint.clone()),
            node_type: "cache.t4g.micro".into(),
            num_nodes: 1,
            automatic_failover: false,
            tags: tags.clone(),
        }),
        cache_connection: Some(digest_of(&cache_connection(&cache_secret, &cache_endpoint))),
        cache_connection_holder: ours(),
        cache_secret: Some(cache_secret),
        names: data_names(),
        ..fresh()
    }
}

fn names(steps: &[DataStep]) -> Vec<String> {
    steps.iter().map(ToString::to_string).collect()
}

#[test]
fn creates_the_secret_before_the_instance() {
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let cx = Context {
        owner: &owner(),
        tags: &tags,
        private_subnets: None,
    };
    assert_eq!(
        names(&plan_database(&db(), &fresh(), &cx)),
        [
            "create the DB subnet group",
            "generate the database password and store it in Secrets Manager",
            "create the database"
        ]
    );
    // A crash after the secret was stored: the same secret is used, no second one is made.
    let stored = ObservedData {
        db_secret: Some(secret(&[])),
        ..fresh()
    };
    assert_eq!(
        names(&plan_database(&db(), &stored, &cx)),
        ["create the DB subnet group", "create the database"]
    );
    assert_eq!(
        names(&plan_cache(&cache(), &fresh(), &cx)),
        [
            "create the cache subnet group",
            "generate the cache AUTH token and store it in Secrets Manager",
            "create the cache"
        ]
    );
}

#[test]
fn converged_plans_nothing_and_waits_for_availability() {
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let subnets = Some(vec!["subnet-a".to_string(), "subnet-b".to_string()]);
    let cx = Context {
        owner: &owner(),
        tags: &tags,
        private_subnets: subnets,
    };
    let o = converged(&tags);
    assert_eq!(plan_database(&db(), &o, &cx), vec![]);
    assert_eq!(plan_cache(&cache(), &o, &cx), vec![]);
    assert_eq!(waiting_for(Some(&db()), Some(&cache()), &o), None);
    // The endpoint appears: the secret and the connection Secret follow.
    let mut creating = o.clone();
    let d = creating.database.as_mut().unwrap();
    d.status = "creating".into();
    d.instance_class = "db.t4g.small".into();
    creating.db_secret = Some(secret(&[("host", "")]));
    assert_eq!(
        names(&plan_database(&db(), &creating, &cx)),
        ["record the database endpoint in its secret"],
        "no modification while the instance is not available"
    );
    assert!(waiting_for(Some(&db()), None, &creating).unwrap().contains("creating"));
}

#[test]
fn each_in_place_change() {
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let cx = Context {
        owner: &owner(),
        tags: &tags,
        private_subnets: None,
    };
    let o = converged(&tags);
    type Change = fn(&mut DesiredDatabase);
    let cases: [(Change, &str); 5] = [
        (|d| d.instance_class = "db.t4g.small".into(), "instance class"),
        (|d| d.storage_gib = 50, "storage"),
        (|d| d.multi_az = true, "Multi-AZ"),
        (|d| d.backup_retention_days = 14, "backup retention"),
        (|d| d.deletion_protection = true, "deletion protection"),
    ];
    for (change, what) in cases {
        let mut d = db();
        change(&mut d);
        assert_eq!(
            plan_database(&d, &o, &cx),
            vec![DataStep::ModifyDatabase { changes: vec![what] }],
            "{what}"
        );
    }
    let mut bigger = cache();
    bigger.node_type = "cache.t4g.small".into();
    bigger.num_nodes = 3;
    // One change per pass: each leaves the group `modifying`, which refuses the next.
    assert_eq!(
        names(&plan_cache(&bigger, &o, &cx)),
        ["change the cache node type from cache.t4g.micro to cache.t4g.small"]
    );
    let mut resized = o.clone();
    resized.cache.as_mut().unwrap().node_type = "cache.t4g.small".into();
    assert_eq!(
        names(&plan_cache(&bigger, &resized, &cx)),
        ["change the cache from 1 to 3 node(s)"]
    );
    let mut busy = resized.clone();
    busy.cache.as_mut().unwrap().status = "modifying".into();
    assert_eq!(plan_cache(&bigger, &busy, &cx), vec![]);
    // Once the replicas are there, failover and Multi-AZ follow; back to one node, they are off
    // first, then the replicas go.
    let mut scaled = o.clone();
    scaled.cache.as_mut().unwrap().num_nodes = 3;
    let mut three = cache();
    three.num_nodes = 3;
    assert_eq!(
        names(&plan_cache(&three, &scaled, &cx)),
        ["turn on the cache's automatic failover and Multi-AZ"]
    );
    scaled.cache.as_mut().unwrap().automatic_failover = true;
    assert_eq!(plan_cache(&three, &scaled, &cx), vec![]);
    assert_eq!(
        names(&plan_cache(&cache(), &scaled, &cx)),
        ["turn off the cache's automatic failover and Multi-AZ"]
    );
    scaled.cache.as_mut().unwrap().automatic_failover = false;
    assert_eq!(
        names(&plan_cache(&cache(), &scaled, &cx)),
        ["change the cache from 3 to 1 node(s)"]
    );
    // 3 → 2 keeps failover on.
    let mut two = cache();
    two.num_nodes = 2;
    scaled.cache.as_mut().unwrap().automatic_failover = true;
    assert_eq!(
        names(&plan_cache(&two, &scaled, &cx)),
        ["change the cache from 3 to 2 node(s)"]
    );
    // A connection Secret edited by hand is rewritten.
    let mut edited = o.clone();
    edited.db_connection = Some(1);
    assert_eq!(
        names(&plan_database(&db(), &edited, &cx)),
        ["write the database connection Secret"]
    );
}

#[test]
fn deletion_policies() {
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let o = converged(&tags);
    let how = |deletion, protection_wanted| DataCleanup {
        deletion,
        protection_wanted,
    };
    assert_eq!(
        names(&plan_cleanup(&o, how(DataDeletion::Snapshot, false))),
        [
            "delete database ws-movies-netflux-0f1e2d3c after a final snapshot ws-movies-netflux-0f1e2d3c-final-<UTC time of deletion>",
            "delete the cache",
            "wait until the database is deleted",
            "wait until the cache is deleted",
            "delete the DB subnet group",
            "delete the cache subnet group",
            "delete the database secret",
            "delete the cache secret",
            "delete the database connection Secret",
            "delete the cache connection Secret"
        ]
    );
    assert_eq!(
        names(&plan_cleanup(&o, how(DataDeletion::Delete, false)))[0],
        "delete database ws-movies-netflux-0f1e2d3c (no final snapshot)"
    );
    assert_eq!(
        names(&plan_cleanup(&o, how(DataDeletion::Retain, false))),
        [
            "remove the ownership tags of the database, the cache, their subnet groups and secrets",
            "delete the database connection Secret",
            "delete the cache connection Secret"
        ]
    );
    // Once untagged, observe no longer finds them (they are not ours): Retain is done.
    let untagged = ObservedData {
        db_subnet_group: o.db_subnet_group.clone().map(|g| ObservedSubnetGroup {
            tags: TagMap::new(),
            ..g
        }),
        ..fresh()
    };
    assert_eq!(plan_cleanup(&untagged, how(DataDeletion::Retain, false)), vec![]);
    let mut protected = o.clone();
    protected.database.as_mut().unwrap().deletion_protection = true;
    assert_eq!(
        names(&plan_cleanup(&protected, how(DataDeletion::Snapshot, true)))[0],
        "wait: database ws-movies-netflux-0f1e2d3c has deletion protection",
        "never turned off silently"
    );
    assert_eq!(
        names(&plan_cleanup(&protected, how(DataDeletion::Snapshot, false)))[..2],
        [
            "turn off the database's deletion protection (the spec turned it off)",
            "delete database ws-movies-netflux-0f1e2d3c after a final snapshot ws-movies-netflux-0f1e2d3c-final-<UTC time of deletion>"
        ]
    );
    // Once AWS deletes them, only the rest is left.
    let mut deleting = o.clone();
    deleting.database.as_mut().unwrap().status = "deleting".into();
    deleting.cache = None;
    assert_eq!(
        names(&plan_cleanup(&deleting, how(DataDeletion::Snapshot, false)))[0],
        "wait until the database is deleted"
    );
    assert_eq!(plan_cleanup(&fresh(), how(DataDeletion::Snapshot, false)), vec![]);
}

#[test]
fn a_steady_recheck_that_did_not_read_subnet_groups_changes_nothing() {
    // A re-check of a settled stack reads the instance and the cache, not their subnet groups:
    // not having read them is never taken for their absence.
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let cx = Context {
        owner: &owner(),
        tags: &tags,
        private_subnets: Some(vec!["subnet-a".into(), "subnet-b".into()]),
    };
    let steady = ObservedData {
        subnet_groups_read: false,
        db_subnet_group: None,
        cache_subnet_group: None,
        ..converged(&tags)
    };
    assert_eq!(names(&plan_database(&db(), &steady, &cx)), Vec::<String>::new());
    assert_eq!(names(&plan_cache(&cache(), &steady, &cx)), Vec::<String>::new());
    // Read, and missing: re-created.
    let read = ObservedData {
        subnet_groups_read: true,
        ..steady
    };
    assert_eq!(names(&plan_database(&db(), &read, &cx)), ["create the DB subnet group"]);
}

/// `o` with the database's (or the cache's) connection Secret someone else's, as observe records
/// it: no digest (its data is never compared), the reason it is not the stack's.
fn taken(mut o: ObservedData, cache: bool) -> ObservedData {
    if cache {
        o.cache_connection = None;
        o.cache_connection_holder = foreign();
    } else {
        o.db_connection = None;
        o.db_connection_holder = foreign();
    }
    o.names = data_names();
    o
}

#[test]
fn someone_elses_connection_secret_stops_the_data_tier_before_any_change() {
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let cx = Context {
        owner: &owner(),
        tags: &tags,
        private_subnets: Some(vec!["subnet-a".into(), "subnet-b".into()]),
    };
    let db_conflict = "wait: Secret netflux-db (spec.database.connectionSecretName) is not this stack's: it has \
                       no ownerReference to WebStack netflux and it has no webstack.io/stack label";
    let cache_conflict = "wait: Secret netflux-cache (spec.cache.connectionSecretName) is not this stack's: it \
                          has no ownerReference to WebStack netflux and it has no webstack.io/stack label";
    // Whatever else the database or cache would need (nothing yet, a modification, a stale
    // secret), the plan is the conflict alone.
    let mut bigger = db();
    bigger.instance_class = "db.t4g.small".into();
    let mut stale = converged(&tags);
    stale.db_secret = Some(secret(&[("host", "")]));
    let cases: [(&str, ObservedData, &DesiredDatabase); 3] = [
        ("nothing yet", fresh(), &db()),
        ("a modification", converged(&tags), &bigger),
        ("a stale secret", stale, &db()),
    ];
    for (what, o, d) in cases {
        assert_eq!(
            names(&plan_database(d, &taken(o.clone(), false), &cx)),
            [db_conflict],
            "{what}"
        );
        assert_eq!(
            names(&plan_cache(&cache(), &taken(o, true), &cx)),
            [cache_conflict],
            "{what}"
        );
    }
    let step = &plan_database(&db(), &taken(fresh(), false), &cx)[0];
    assert_eq!(step.action(), "GetConnectionSecret", "not a change");
    assert!(!step.is_cache());
    assert!(plan_cache(&cache(), &taken(fresh(), true), &cx)[0].is_cache());
}

#[test]
fn the_whole_data_tier_waits_on_a_connection_secret_conflict() {
    use crate::webstack::fixtures;
    let desired = fixtures::desired(
        "{network: {cidr: 10.0.0.0/16}, database: {engine: postgres, instanceClass: db.t4g.micro}, cache: {}}",
    );
    let mut observed = fixtures::converged(&desired);
    assert_eq!(names(&Data::plan(&desired, &observed)), Vec::<String>::new());
    // The cache's Secret is someone else's: the database's change waits too.
    observed.data.database.as_mut().unwrap().instance_class = "db.t4g.large".into();
    assert_eq!(
        names(&Data::plan(&desired, &observed)),
        ["modify the database: instance class"]
    );
    observed.data = taken(observed.data, true);
    let steps = Data::plan(&desired, &observed);
    assert_eq!(
        steps,
        [DataStep::ConnectionConflict {
            cache: true,
            secret: "netflux-cache".into(),
            why: "it has no ownerReference to WebStack netflux and it has no webstack.io/stack label".into()
        }]
    );
    // Both taken: both named.
    observed.data = taken(observed.data, false);
    assert_eq!(Data::plan(&desired, &observed).len(), 2);
    // A database removed from the spec is deleted without its default-named Secret when that is
    // someone else's, and is no conflict (the spec names no Secret).
    let no_db = fixtures::desired("{network: {cidr: 10.0.0.0/16}, cache: {}}");
    let mut o = fixtures::converged(&desired);
    o.data = taken(o.data, false);
    let steps = names(&Data::plan(&no_db, &o));
    assert!(
        steps.contains(&"delete database ws-movies-netflux-0f1e2d3c after a final snapshot ws-movies-netflux-0f1e2d3c-final-<UTC time of deletion>".to_string()),
        "{steps:?}"
    );
    assert!(
        !steps
            .iter()
            .any(|s| s.contains("connection Secret") || s.starts_with("wait: Secret")),
        "{steps:?}"
    );
}

#[test]
fn a_connection_secret_is_written_when_absent_or_the_stacks_and_stale() {
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let cx = Context {
        owner: &owner(),
        tags: &tags,
        private_subnets: Some(vec!["subnet-a".into(), "subnet-b".into()]),
    };
    // (digest, holder) as observed -> whether the database's Secret is written. The apply
    // creates it when absent and replaces it at the observed version when it is the stack's.
    let current = converged(&tags).db_connection;
    let cases = [
        ("absent", None, Holder::Absent, true),
        ("the stack's, edited", Some(1), ours(), true),
        ("the stack's, current", current, ours(), false),
        ("someone else's", None, foreign(), false),
    ];
    for (what, digest, holder, written) in cases {
        let o = ObservedData {
            db_connection: digest,
            db_connection_holder: holder,
            ..converged(&tags)
        };
        let steps = plan_database(&db(), &o, &cx);
        assert_eq!(
            steps.contains(&DataStep::WriteDbConnection),
            written,
            "{what}: {steps:?}"
        );
    }
}

#[test]
fn deletion_leaves_someone_elses_connection_secret_alone() {
    let tags = owner().tags(&BTreeMap::new(), "database", "n");
    let how = |deletion| DataCleanup {
        deletion,
        protection_wanted: false,
    };
    for deletion in [DataDeletion::Snapshot, DataDeletion::Delete, DataDeletion::Retain] {
        let mine = names(&plan_cleanup(&converged(&tags), how(deletion)));
        assert!(
            mine.contains(&"delete the database connection Secret".to_string()),
            "{mine:?}"
        );
        assert!(
            mine.contains(&"delete the cache connection Secret".to_string()),
            "{mine:?}"
        );
        let theirs = taken(taken(converged(&tags), false), true);
        let steps = names(&plan_cleanup(&theirs, how(deletion)));
        assert!(
            !steps.iter().any(|s| s.contains("connection Secret")),
            "{deletion:?}: {steps:?}"
        );
        // The rest of the data tier goes (or is untagged) as usual.
        assert_eq!(steps.len(), mine.len() - 2, "{deletion:?}: {steps:?}");
    }
    // Only the cache's is someone else's: the database's goes.
    let steps = names(&plan_cleanup(&taken(converged(&tags), true), how(DataDeletion::Delete)));
    assert!(
        steps.contains(&"delete the database connection Secret".to_string()),
        "{steps:?}"
    );
    assert!(
        !steps.contains(&"delete the cache connection Secret".to_string()),
        "{steps:?}"
    );
}
