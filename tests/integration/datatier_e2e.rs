//! The data tier end to end: reference architecture 3's PostgreSQL and Redis from `examples/`,
//! read back through the SDK (instance, subnet groups, security group, replication group, secrets)
//! and the API server (connection Secrets). The password appears nowhere but in the two secrets;
//! a ContainerService reads the credentials by reference (`fromStack`); edits of the connection
//! Secret are reverted; deletion protection stalls deletion until the spec turns it off, then one
//! final snapshot remains and nothing else. `Retain` keeps the database untagged. A crash between
//! the secret and the instance makes exactly one instance, with the stored password.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event as CoreEvent, Secret};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use webstack_operator::api::{ContainerService, WebStack};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::manifest::{apply_all, delete_all, load_manifests, parse, wait_gone, wait_ready};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::repo_root;
use crate::harness::wait::{gone, until};

const OWNER: &str = "webstack.io/owner";
const COMPONENT: &str = "webstack.io/component";

/// The example's service as explicit children (the inline `services` are the inline-services
/// issue's work): a target group the listener forwards to, and a service that reads the database
/// URL, its password and the Redis URL from the stack's secrets by reference.
const APP: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {name: monolith-app}
spec: {stackRef: {name: monolith}, port: 8080, healthCheck: {path: /healthz}}
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: monolith-app}
spec:
  stackRef: {name: monolith}
  cpu: "1024"
  memory: "2048"
  desiredCount: 2
  containers:
    - name: spring
      image: registry.example.com/monolith/backend:3.1.0
      portMappings: [{containerPort: 8080}]
      secrets:
        - {name: DATABASE_URL, fromStack: {database: url}}
        - {name: DB_PASSWORD, fromStack: {database: password}}
        - {name: REDIS_URL, fromStack: {cache: url}}
  loadBalancer: {targetGroupRef: {name: monolith-app}}
"#;

/// Example 3's WebStack without its inline services and static site, then [`APP`].
fn monolith() -> Vec<DynamicObject> {
    let mut objects = load_manifests(&repo_root().join("examples/3-monolith-redis-postgres.yaml"));
    assert_eq!(objects.len(), 1, "example 3 is one WebStack");
    let spec = objects[0].data["spec"].as_object_mut().unwrap();
    spec.remove("services");
    spec.remove("staticSite");
    objects.extend(parse(APP));
    objects
}

fn ours(tags: &BTreeMap<String, String>, ns: &str) -> bool {
    tags.get(OWNER).is_some_and(|o| o.starts_with(&format!("{ns}/")))
}

fn rds_tags(tags: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// The DB instances whose identifier starts with `prefix`.
async fn instances(rds: &aws_sdk_rds::Client, prefix: &str) -> Vec<aws_sdk_rds::types::DbInstance> {
    let out = rds.describe_db_instances().send().await.unwrap();
    out.db_instances()
        .iter()
        .filter(|d| d.db_instance_identifier().unwrap_or_default().starts_with(prefix))
        .cloned()
        .collect()
}

/// The JSON of a Secrets Manager secret.
async fn secret_json(sm: &aws_sdk_secretsmanager::Client, arn: &str) -> serde_json::Value {
    let v = sm.get_secret_value().secret_id(arn).send().await.unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

/// A Kubernetes Secret's data as text.
async fn secret_data(client: &Client, ns: &str, name: &str) -> BTreeMap<String, String> {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get(name).await.unwrap();
    s.data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("a percent escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `scheme://user:password@host:port/path` split into its parts (the password decoded).
fn parse_url(url: &str) -> (String, String, String, String, String, String) {
    let (scheme, rest) = url.split_once("://").expect("a scheme");
    let (auth, rest) = rest.rsplit_once('@').expect("credentials in the URL");
    let (user, password) = auth.split_once(':').expect("user:password");
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    for part in [user, password] {
        assert!(
            part.chars().all(|c| c.is_ascii_alphanumeric() || "-._~%".contains(c)),
            "URL credentials must be percent-encoded: {part}"
        );
    }
    (
        scheme.into(),
        percent_decode(user),
        percent_decode(password),
        host.into(),
        port.into(),
        path.into(),
    )
}

/// Everything a user can read about the stack in Kubernetes, and the operator's log: the password
/// must be in none of it.
async fn assert_nowhere(client: &Client, ns: &str, op: &Operator, secrets: &[&str]) {
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), ns);
    let services: Api<ContainerService> = Api::namespaced(client.clone(), ns);
    let events: Api<CoreEvent> = Api::namespaced(client.clone(), ns);
    let mut texts = vec![("operator log", op.log_text())];
    for s in stacks.list(&ListParams::default()).await.unwrap() {
        texts.push(("WebStack", serde_json::to_string(&s).unwrap()));
    }
    for s in services.list(&ListParams::default()).await.unwrap() {
        texts.push(("ContainerService", serde_json::to_string(&s).unwrap()));
    }
    for e in events.list(&ListParams::default()).await.unwrap() {
        texts.push(("Event", serde_json::to_string(&e).unwrap()));
    }
    for secret in secrets {
        assert!(secret.len() >= 32, "a long generated secret");
        for (what, text) in &texts {
            assert!(!text.contains(secret), "a password appears in a {what}");
            let encoded = percent_encode(secret);
            assert!(
                !text.contains(&encoded),
                "a password appears percent-encoded in a {what}"
            );
        }
    }
}

#[tokio::test]
async fn monolith_postgres_and_redis_from_the_example() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "data").await;
    // New instances stay `creating` for 30 s, as on AWS (minutes there): the waiting path. Long
    // enough that a loaded machine (tests run in parallel) still sees a pass observe it, after the
    // NAT gateway's wait, which the stack reports first.
    let moto = Moto::start_with_env(&[("MOTO_RDS_CREATE_SECONDS", "30")]);
    let config = moto.sdk_config().await;
    let (rds, cache, sm, ec2, ecs) = (
        aws_sdk_rds::Client::new(&config),
        aws_sdk_elasticache::Client::new(&config),
        aws_sdk_secretsmanager::Client::new(&config),
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_ecs::Client::new(&config),
    );
    let op = Operator::start(&moto, &ns, "3s");
    let objects = monolith();
    apply_all(&client, &ns, &objects).await;
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);

    // While RDS creates the instance, the stack says what it waits for, and is not Ready.
    let waiting = until(
        &stacks,
        "monolith",
        &op,
        "the stack waiting for its database",
        60,
        |s| {
            s.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "Reconciling" && c.status == "True" && c.message.contains("is creating"))
            })
        },
    )
    .await;
    // What Flux sees (kstatus): in progress while the database is created.
    use crate::harness::kstatus::{KStatus, of};
    assert_eq!(of(&waiting), KStatus::InProgress);
    let st = waiting.status.unwrap();
    assert!(
        st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "False"),
        "{:?}",
        st.conditions
    );
    let created_at = std::time::Instant::now();
    wait_ready(&client, &ns, &objects, &op, 150).await;
    // No hot loop while waiting: reconciles of the stack are spaced (Poll starts at 5 s).
    let waited = created_at.elapsed().as_secs_f64();
    let describes = moto
        .calls()
        .iter()
        .filter(|c| c.action == "DescribeDBInstances")
        .count();
    println!("waited {waited:.1}s for RDS; DescribeDBInstances calls so far: {describes}");

    let stack = stacks.get("monolith").await.unwrap();
    assert_eq!(of(&stack), KStatus::Current, "Ready is Current for Flux");
    let status = stack.status.clone().unwrap();
    let db_status = status.database.clone().expect("status.database");
    let cache_status = status.cache.clone().expect("status.cache");
    assert_eq!(db_status.status.as_deref(), Some("available"));
    assert_eq!(db_status.port, Some(5432));
    assert_eq!(cache_status.port, Some(6379));

    // The instance, read back.
    let found: Vec<_> = rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .filter(|d| ours(&rds_tags(d.tag_list()), &ns))
        .cloned()
        .collect();
    assert_eq!(found.len(), 1, "one instance: {found:#?}");
    let db = &found[0];
    let identifier = db.db_instance_identifier().unwrap().to_string();
    assert_eq!(db.engine(), Some("postgres"));
    assert!(
        db.engine_version().unwrap_or_default().starts_with("16"),
        "{:?}",
        db.engine_version()
    );
    assert_eq!(db.db_instance_class(), Some("db.t4g.micro"));
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(14));
    assert_eq!(db.deletion_protection(), Some(true));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.storage_type(), Some("gp3"));
    assert_eq!(db.copy_tags_to_snapshot(), Some(true));
    assert_eq!(db.endpoint().and_then(|e| e.address()), db_status.endpoint.as_deref());

    // Its security group: the stack's data group only, which admits 5432 and 6379 from the
    // services group and nothing else.
    let groups = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag-key")
                .values(OWNER)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let role = |g: &aws_sdk_ec2::types::SecurityGroup| {
        g.tags()
            .iter()
            .find(|t| t.key() == Some(COMPONENT))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let mine: Vec<_> = groups
        .security_groups()
        .iter()
        .filter(|g| {
            g.tags()
                .iter()
                .any(|t| t.key() == Some(OWNER) && t.value().unwrap_or_default().starts_with(&format!("{ns}/")))
        })
        .collect();
    let data_group = mine
        .iter()
        .find(|g| role(g) == "sg/database")
        .expect("the data security group");
    let services_group = mine
        .iter()
        .find(|g| role(g) == "sg/services")
        .expect("the services group");
    let db_groups: Vec<_> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(db_groups, vec![data_group.group_id().unwrap()]);
    let mut ingress: Vec<(i32, String)> = Vec::new();
    for p in data_group.ip_permissions() {
        assert!(p.ip_ranges().is_empty(), "no CIDR may reach the data tier: {p:?}");
        for pair in p.user_id_group_pairs() {
            ingress.push((p.from_port().unwrap(), pair.group_id().unwrap().to_string()));
        }
    }
    ingress.sort();
    let services_id = services_group.group_id().unwrap().to_string();
    assert_eq!(ingress, vec![(5432, services_id.clone()), (6379, services_id.clone())]);

    // The DB subnet group: the stack's private subnets.
    let group_name = db.db_subnet_group().and_then(|g| g.db_subnet_group_name()).unwrap();
    let subnet_group = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(group_name)
        .send()
        .await
        .unwrap();
    let mut db_subnets: Vec<String> = subnet_group.db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(String::from))
        .collect();
    db_subnets.sort();
    let mut private: Vec<String> = status.private_subnet_ids.clone();
    private.sort();
    assert_eq!(db_subnets, private, "the DB subnet group spans the private subnets");

    // The cache.
    let groups = cache.describe_replication_groups().send().await.unwrap();
    let rg: Vec<_> = groups
        .replication_groups()
        .iter()
        .filter(|g| {
            g.node_groups()
                .iter()
                .flat_map(|n| n.primary_endpoint())
                .any(|e| e.address() == cache_status.endpoint.as_deref())
        })
        .collect();
    assert_eq!(rg.len(), 1, "one replication group: {groups:#?}");
    let rg = rg[0];
    assert_eq!(rg.cache_node_type(), Some("cache.t4g.small"));
    assert_eq!(rg.member_clusters().len(), 1, "numNodes 1: the primary alone");
    assert_eq!(rg.transit_encryption_enabled(), Some(true));
    assert_eq!(rg.at_rest_encryption_enabled(), Some(true));
    assert_eq!(rg.auth_token_enabled(), Some(true));
    let cache_subnets = cache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(rg.replication_group_id().unwrap())
        .send()
        .await
        .unwrap();
    let mut subnets: Vec<String> = cache_subnets.cache_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(String::from))
        .collect();
    subnets.sort();
    assert_eq!(subnets, private, "the cache subnet group spans the private subnets");

    // The secrets: Secrets Manager holds what RDS rotation expects; the connection Secrets hold
    // every key, with the same password, and URLs that parse.
    let db_arn = db_status.secret_arn.clone().expect("status.database.secretArn");
    let stored = secret_json(&sm, &db_arn).await;
    let password = stored["password"].as_str().unwrap().to_string();
    assert_eq!(stored["engine"], "postgres");
    assert_eq!(stored["host"], db_status.endpoint.clone().unwrap().as_str());
    assert_eq!(stored["port"], 5432);
    assert_eq!(stored["username"], db.master_username().unwrap());
    assert_eq!(stored["dbname"], db.db_name().unwrap());
    let conn = secret_data(&client, &ns, "monolith-db").await;
    let keys: Vec<&str> = conn.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["database", "engine", "host", "password", "port", "url", "username"]
    );
    assert_eq!(conn["password"], password);
    assert_eq!(conn["host"], db_status.endpoint.clone().unwrap());
    assert_eq!(conn["port"], "5432");
    assert_eq!(conn["engine"], "postgres");
    assert_eq!(stored["url"].as_str().unwrap(), conn["url"]);
    let (scheme, user, pass, host, port, path) = parse_url(&conn["url"]);
    assert_eq!(
        (
            scheme.as_str(),
            user.as_str(),
            pass.as_str(),
            host.as_str(),
            port.as_str(),
            path.as_str()
        ),
        (
            "postgres",
            conn["username"].as_str(),
            password.as_str(),
            conn["host"].as_str(),
            "5432",
            conn["database"].as_str()
        )
    );
    let cache_arn = cache_status.secret_arn.clone().expect("status.cache.secretArn");
    let cache_stored = secret_json(&sm, &cache_arn).await;
    let token = cache_stored["password"].as_str().unwrap().to_string();
    let cconn = secret_data(&client, &ns, "monolith-cache").await;
    let keys: Vec<&str> = cconn.keys().map(String::as_str).collect();
    assert_eq!(keys, ["host", "password", "port", "url"]);
    assert_eq!(cconn["password"], token);
    let (scheme, _, pass, host, port, _) = parse_url(&cconn["url"]);
    assert_eq!(scheme, "rediss");
    assert_eq!(
        (pass.as_str(), host.as_str(), port.as_str()),
        (token.as_str(), cconn["host"].as_str(), "6379")
    );
    let conn_secret = Api::<Secret>::namespaced(client.clone(), &ns)
        .get("monolith-db")
        .await
        .unwrap();
    // The stack's: its ownerReference and label (what makes the operator change or delete it).
    assert_eq!(
        conn_secret.labels().get("webstack.io/stack").map(String::as_str),
        Some("monolith")
    );
    let owner_ref = conn_secret.owner_references().to_vec();
    assert_eq!(owner_ref.len(), 1);
    assert_eq!(
        (owner_ref[0].kind.as_str(), owner_ref[0].uid.as_str()),
        ("WebStack", stack.uid().unwrap().as_str())
    );

    // The service reads them by reference: `<arn>:<key>::`, never the value.
    let service = ecs
        .describe_services()
        .cluster(status.cluster_arn.clone().unwrap())
        .services(
            Api::<ContainerService>::namespaced(client.clone(), &ns)
                .get("monolith-app")
                .await
                .unwrap()
                .status
                .unwrap()
                .service_arn
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let def = ecs
        .describe_task_definition()
        .task_definition(service.services()[0].task_definition().unwrap())
        .send()
        .await
        .unwrap();
    let container = &def.task_definition().unwrap().container_definitions()[0];
    let refs: BTreeMap<&str, &str> = container.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
    assert_eq!(
        refs,
        BTreeMap::from([
            ("DATABASE_URL", format!("{db_arn}:url::").as_str()),
            ("DB_PASSWORD", format!("{db_arn}:password::").as_str()),
            ("REDIS_URL", format!("{cache_arn}:url::").as_str()),
        ])
    );
    assert!(
        container
            .environment()
            .iter()
            .all(|e| e.value().unwrap_or_default() != password),
        "the password is not copied into the environment"
    );

    // The Kubernetes Secret is kept equal to AWS: an edit is reverted, a deletion re-created.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let edit = serde_json::json!({"stringData": {"password": "edited-by-hand"}});
    secrets
        .patch("monolith-db", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    until(&secrets, "monolith-db", &op, "the edit reverted", 30, |s| {
        s.data.as_ref().and_then(|d| d.get("password")).map(|p| p.0.as_slice()) == Some(password.as_bytes())
    })
    .await;
    secrets.delete("monolith-cache", &Default::default()).await.unwrap();
    until(
        &secrets,
        "monolith-cache",
        &op,
        "the deleted Secret re-created",
        30,
        |s| s.data.as_ref().and_then(|d| d.get("password")).map(|p| p.0.as_slice()) == Some(token.as_bytes()),
    )
    .await;

    // Steady state: what a re-check of a stack with a database and a cache costs.
    // Two re-checks of the stack that change nothing (the re-creations above may take a pass or
    // two to settle on a busy machine: waited for, up to a minute).
    let before = op.steady_reconciles().len();
    let steady = || -> Vec<u32> {
        op.steady_reconciles()
            .into_iter()
            .skip(before)
            .filter(|(k, _)| k == "WebStack")
            .map(|(_, c)| c)
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while steady().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let calls = steady();
    println!("WebStack with a database and a cache: AWS calls per steady-state reconcile {calls:?}");
    assert!(!calls.is_empty(), "steady-state reconciles of the stack");
    assert!(calls.iter().all(|c| *c <= 17), "at most 17 reads: {calls:?}");

    // In-place changes: a larger class, a replica.
    let change = serde_json::json!({"spec": {"database": {"instanceClass": "db.t4g.small", "allocatedStorageGiB": 30},
                                             "cache": {"numNodes": 2}}});
    stacks
        .patch("monolith", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    until(&stacks, "monolith", &op, "the modified stack Ready", 90, |s| {
        s.status.as_ref().is_some_and(|st| {
            st.observed_generation == s.metadata.generation
                && st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
        })
    })
    .await;
    let db = &instances(&rds, &identifier).await[0];
    assert_eq!(
        (db.db_instance_class(), db.allocated_storage()),
        (Some("db.t4g.small"), Some(30))
    );
    let rg = cache
        .describe_replication_groups()
        .replication_group_id(rg.replication_group_id().unwrap())
        .send()
        .await
        .unwrap();
    let rg = &rg.replication_groups()[0];
    assert_eq!(rg.member_clusters().len(), 2, "the primary and a replica");
    assert_eq!(
        rg.automatic_failover(),
        Some(&aws_sdk_elasticache::types::AutomaticFailoverStatus::Enabled)
    );
    assert_eq!(rg.multi_az(), Some(&aws_sdk_elasticache::types::MultiAzStatus::Enabled));
    assert_eq!(
        secret_data(&client, &ns, "monolith-db").await["password"],
        password,
        "a modification keeps the password"
    );
    assert_nowhere(&client, &ns, &op, &[&password, &token]).await;

    // Deletion with protection on: Stalled saying how to proceed; nothing of the data tier goes.
    delete_all(&client, &ns, &objects).await;
    let stalled = until(&stacks, "monolith", &op, "deletion stalled on protection", 60, |s| {
        s.status.as_ref().is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == "DeletionProtection")
        })
    })
    .await;
    let message = stalled
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap()
        .message;
    assert!(message.contains("spec.database.deletionProtection: false"), "{message}");
    assert_eq!(
        instances(&rds, &identifier).await.len(),
        1,
        "protection keeps the instance"
    );
    assert_eq!(
        instances(&rds, &identifier).await[0].deletion_protection(),
        Some(true),
        "never turned off silently"
    );
    // The user turns it off: the instance goes with one final snapshot, and so does the rest.
    let off = serde_json::json!({"spec": {"database": {"deletionProtection": false}}});
    stacks
        .patch("monolith", &PatchParams::default(), &Patch::Merge(&off))
        .await
        .unwrap();
    let took = wait_gone(&client, &ns, &objects, &op, 120).await;
    println!(
        "data tier deleted in {:.1}s after protection was turned off",
        took.as_secs_f64()
    );
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
    assert!(instances(&rds, &identifier).await.is_empty());
    let snapshots = rds
        .describe_db_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    let finals: Vec<&str> = snapshots
        .db_snapshots()
        .iter()
        .filter(|s| s.db_instance_identifier() == Some(identifier.as_str()))
        .filter_map(|s| s.db_snapshot_identifier())
        .collect();
    assert_eq!(finals.len(), 1, "exactly one final snapshot: {finals:?}");
    assert!(finals[0].starts_with(&format!("{identifier}-final-")), "{finals:?}");
    for name in ["monolith-db", "monolith-cache"] {
        assert!(secrets.get_opt(name).await.unwrap().is_none(), "{name} deleted");
    }
    assert!(
        sm.list_secrets().send().await.unwrap().secret_list().is_empty(),
        "the Secrets Manager secrets are deleted without a recovery window"
    );
}

/// `deletionPolicy: Retain` keeps the database, the cache and their secrets, untagged; the rest of
/// the stack goes, and the network the database lives in stays, untagged too.
#[tokio::test]
async fn retained_data_tier_stays_untagged() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "data-retain").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let op = Operator::start(&moto, &ns, "3s");
    let objects = parse(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: keep}
spec:
  network: {cidr: 10.61.0.0/16}
  database: {engine: mysql, deletionPolicy: Retain}
  cache: {}
"#,
    );
    apply_all(&client, &ns, &objects).await;
    wait_ready(&client, &ns, &objects, &op, 90).await;
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let status = stacks.get("keep").await.unwrap().status.unwrap();
    let endpoint = status.database.unwrap().endpoint.unwrap();
    assert!(secret_data(&client, &ns, "keep-db").await["url"].starts_with("mysql://"));
    delete_all(&client, &ns, &objects).await;
    gone(&stacks, "keep", &op, 60).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "nothing stays tagged: {left:#?}");
    let kept: Vec<_> = rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .filter(|d| d.endpoint().and_then(|e| e.address()) == Some(endpoint.as_str()))
        .cloned()
        .collect();
    assert_eq!(kept.len(), 1, "the database is kept");
    let tags = rds_tags(kept[0].tag_list());
    assert!(
        !tags.contains_key(OWNER) && !tags.contains_key("webstack.io/uid"),
        "kept untagged: {tags:?}"
    );
    assert!(
        rds.describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .unwrap()
            .db_snapshots()
            .is_empty()
    );
    let groups = aws_sdk_elasticache::Client::new(&config)
        .describe_replication_groups()
        .send()
        .await
        .unwrap();
    assert_eq!(groups.replication_groups().len(), 1, "the cache is kept");
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    assert_eq!(
        sm.list_secrets().send().await.unwrap().secret_list().len(),
        2,
        "the secrets are kept"
    );
}

/// A crash after the secret is stored and before the instance exists: the next operator finds the
/// secret, creates exactly one instance, with the password from that secret.
#[tokio::test]
async fn a_crash_between_the_secret_and_the_instance_makes_one_instance() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "data-crash").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let objects = parse(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: crash}
spec:
  network: {cidr: 10.62.0.0/16}
  database: {engine: postgres, deletionPolicy: Delete}
"#,
    );
    // The first operator gets as far as the secret: CreateDBInstance fails, then it is killed.
    moto.faults(&[("CreateDBInstance", 503, "ServiceUnavailable")]);
    let first = Operator::start(&moto, &ns, "3s");
    apply_all(&client, &ns, &objects).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while moto.injected("CreateDBInstance") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no CreateDBInstance; {}",
            first.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(first);
    let creates = |action: &str| moto.calls().into_iter().filter(|c| c.action == action).count();
    assert_eq!(creates("CreateSecret"), 1, "the secret came first");
    moto.faults(&[]);
    let second = Operator::start(&moto, &ns, "3s");
    wait_ready(&client, &ns, &objects, &second, 90).await;
    assert_eq!(
        creates("CreateSecret"),
        1,
        "the stored secret is reused, never replaced"
    );
    let rds = aws_sdk_rds::Client::new(&config);
    let all = rds.describe_db_instances().send().await.unwrap();
    assert_eq!(all.db_instances().len(), 1, "exactly one instance");
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let listed = sm.list_secrets().send().await.unwrap();
    assert_eq!(listed.secret_list().len(), 1);
    let stored = secret_json(&sm, listed.secret_list()[0].arn().unwrap()).await;
    let password = stored["password"].as_str().unwrap();
    // The CreateDBInstance that AWS acted on sent the stored password (form-encoded).
    let sent: Vec<String> = moto
        .calls()
        .into_iter()
        .filter(|c| c.action == "CreateDBInstance")
        .map(|c| {
            let field = c
                .body
                .split('&')
                .find_map(|kv| kv.strip_prefix("MasterUserPassword="))
                .expect("MasterUserPassword sent")
                .replace('+', " ");
            percent_decode(&field)
        })
        .collect();
    assert_eq!(sent.len(), 1, "one CreateDBInstance reached AWS");
    assert_eq!(sent[0], password, "the instance has the stored password");
    assert_eq!(secret_data(&client, &ns, "crash-db").await["password"], password);
    assert_nowhere(&client, &ns, &second, &[password]).await;
    delete_all(&client, &ns, &objects).await;
    wait_gone(&client, &ns, &objects, &second, 60).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
    assert!(
        rds.describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .unwrap()
            .db_snapshots()
            .is_empty(),
        "deletionPolicy Delete: no snapshot"
    );
}

/// `fromStack` naming a stack with no database: Stalled naming the field, and the service makes no
/// AWS change.
#[tokio::test]
async fn from_stack_without_a_database_stalls_naming_the_field() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "data-nodb").await;
    let moto = Moto::start();
    let op = Operator::start(&moto, &ns, "3s");
    let objects = parse(
        r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: plain}
spec: {network: {cidr: 10.63.0.0/16}}
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: api}
spec:
  stackRef: {name: plain}
  cpu: "256"
  memory: "512"
  containers:
    - name: api
      image: api:1
      secrets: [{name: DATABASE_URL, fromStack: {database: url}}]
"#,
    );
    apply_all(&client, &ns, &objects[..1]).await;
    wait_ready(&client, &ns, &objects[..1], &op, 60).await;
    let before = moto.calls().len();
    apply_all(&client, &ns, &objects[1..]).await;
    let services: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    let stalled = until(&services, "api", &op, "the service Stalled", 30, |s| {
        s.status.as_ref().is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == "InvalidSpec")
        })
    })
    .await;
    let message = stalled
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap()
        .message;
    assert!(
        message.contains("spec.containers[0].secrets[0].fromStack") && message.contains("no database"),
        "{message}"
    );
    let mutations: Vec<_> = moto
        .calls()
        .into_iter()
        .skip(before)
        .filter(|c| c.mutates() && (c.service == "ecs" || c.service == "logs"))
        .map(|c| c.action)
        .collect();
    assert!(
        mutations.is_empty(),
        "no AWS change for an invalid service: {mutations:?}"
    );
}
