//! Table tests of the data tier's planner.

use std::collections::BTreeMap;

use super::*;
use crate::model::data::{ObservedCache, ObservedDatabase, ObservedSecret, ObservedSubnetGroup, Sensitive};

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
        cache_secret: Some(cache_secret),
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
    assert_eq!(
        names(&plan_cache(&bigger, &o, &cx)),
        [
            "change the cache node type from cache.t4g.micro to cache.t4g.small",
            "change the cache from 1 to 3 node(s)"
        ]
    );
    // Once the replicas are there, failover and Multi-AZ follow; back to one node, they are off.
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
        ["change the cache from 3 to 1 node(s)"]
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
            "delete the database after a final snapshot",
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
        "delete the database (no final snapshot)"
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
            "delete the database after a final snapshot"
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
