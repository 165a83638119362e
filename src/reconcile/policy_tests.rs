//! Table tests of namespace selection, conflicts and each rule of a WebStackPolicy.

use super::*;
use crate::api::{ContainerService, WebStack};

fn policy(name: &str, yaml: &str) -> WebStackPolicy {
    let mut p: WebStackPolicy = serde_yaml::from_str(&format!(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStackPolicy\nmetadata: {{name: {name}}}\n{yaml}"
    ))
    .expect("policy YAML");
    p.metadata.name = Some(name.into());
    p
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const MOVIES: &str = "spec:
  namespaceSelector: {matchLabels: {team: movies}}
  allow:
    taskRoleArns: ['arn:aws:iam::210987654321:role/movies-*']
    secretArns: ['arn:aws:secretsmanager:us-east-1:210987654321:secret:movies/*', 'arn:aws:ssm:us-east-1:210987654321:parameter/movies/*']
    ecrRepositories: ['arn:aws:ecr:us-east-1:210987654321:repository/movies/*']
    adoptVpcIds: [vpc-0shared]
    hostedZones: [{id: Z0123456789ABCDEFGHIJ, names: ['*.movies.example.com']}]
    certificateArns: ['arn:aws:acm:us-east-1:210987654321:certificate/movies-*']
    snsTopicArns: ['arn:aws:sns:us-east-1:210987654321:movies-*']
  limits: {maxTaskCpu: '2048', maxTaskMemory: '8192', maxDesiredCount: 20, maxStacks: 5, maxServicesPerStack: 3,
           instanceTypes: ['t3.*', 't4g.*'], maxInstances: 10, databaseInstanceClasses: ['db.t4g.*'], maxDatabaseStorageGiB: 200,
           cacheNodeTypes: ['cache.t4g.*'], maxCacheNodes: 3, natGateways: [single, none]}
  requiredTags: {cost-center: [], env: [prod, dev]}
";

#[test]
fn namespaces_are_selected_by_labels_and_expressions() {
    let p = policy(
        "p",
        "spec:
  namespaceSelector:
    matchLabels: {team: movies}
    matchExpressions: [{key: env, operator: In, values: [prod, dev]}, {key: frozen, operator: DoesNotExist}]",
    );
    let sel = &p.spec.namespace_selector;
    assert!(selects(sel, &labels(&[("team", "movies"), ("env", "prod")])));
    assert!(!selects(sel, &labels(&[("team", "movies"), ("env", "test")])));
    assert!(!selects(sel, &labels(&[("team", "books"), ("env", "prod")])));
    assert!(!selects(
        sel,
        &labels(&[("team", "movies"), ("env", "dev"), ("frozen", "yes")])
    ));
    let all = policy("all", "spec: {namespaceSelector: {}}");
    assert!(selects(&all.spec.namespace_selector, &labels(&[])));
    let not_in = policy(
        "n",
        "spec: {namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [ops]}, {key: x, operator: Exists}]}}",
    );
    assert!(selects(&not_in.spec.namespace_selector, &labels(&[("x", "1")])));
    assert!(!selects(
        &not_in.spec.namespace_selector,
        &labels(&[("x", "1"), ("team", "ops")])
    ));
}

#[test]
fn one_policy_per_namespace() {
    let movies = policy("movies", MOVIES);
    let everyone = policy("everyone", "spec: {namespaceSelector: {matchLabels: {tier: apps}}}");
    let policies = [movies.clone(), everyone.clone()];
    assert!(governing(&policies, &labels(&[("team", "books")])).unwrap().is_none());
    assert_eq!(
        governing(&policies, &labels(&[("team", "movies")]))
            .unwrap()
            .map(|p| p.name_any()),
        Some("movies".to_string())
    );
    let err = governing(&policies, &labels(&[("team", "movies"), ("tier", "apps")])).unwrap_err();
    assert!(err.contains("everyone, movies"), "{err}");
}

fn service(yaml: &str) -> ContainerServiceSettings {
    let cs: ContainerService = serde_yaml::from_str(&format!(
        "apiVersion: webstack.io/v1alpha1\nkind: ContainerService\nmetadata: {{name: web}}\nspec:\n  stackRef: {{name: s}}\n{yaml}"
    ))
    .expect("service YAML");
    cs.spec.settings
}

#[test]
fn services_reference_only_what_is_allowed_and_stay_within_limits() {
    let p = policy("movies", MOVIES);
    let ok = service(
        "  cpu: '1 vCPU'
  memory: '2048'
  desiredCount: 20
  taskRoleArn: arn:aws:iam::210987654321:role/movies-api
  autoscaling: {minCapacity: 1, maxCapacity: 20}
  containers:
    - name: web
      image: 210987654321.dkr.ecr.us-east-1.amazonaws.com/movies/api:1
      secrets:
        - {name: A, valueFrom: 'arn:aws:secretsmanager:us-east-1:210987654321:secret:movies/db-AbCdEf'}
        - {name: B, valueFrom: /movies/key}
    - {name: proxy, image: 'nginx:1.27'}",
    );
    assert_eq!(check_service(&p, &ok, "spec", "us-east-1"), Ok(()));
    let cases = [
        (
            "  containers: [{name: a, image: 'a:1', secrets: [{name: X, valueFrom: 'arn:aws:secretsmanager:us-east-1:210987654321:secret:books/db-AbCdEf'}]}]",
            "spec.containers[0].secrets[0].valueFrom",
            "secretArns",
        ),
        (
            "  containers: [{name: a, image: 'a:1', secrets: [{name: X, valueFrom: books/key}]}]",
            "spec.containers[0].secrets[0].valueFrom",
            "secretArns",
        ),
        (
            "  containers: [{name: a, image: 210987654321.dkr.ecr.us-east-1.amazonaws.com/books/api:1}]",
            "spec.containers[0].image",
            "ecrRepositories",
        ),
        (
            "  taskRoleArn: arn:aws:iam::210987654321:role/books-api\n  containers: [{name: a, image: 'a:1'}]",
            "spec.taskRoleArn",
            "taskRoleArns",
        ),
        (
            "  executionRoleArn: arn:aws:iam::210987654321:role/movies-exec\n  containers: [{name: a, image: 'a:1'}]",
            "spec.executionRoleArn",
            "executionRoleArns",
        ),
        (
            "  cpu: '4096'\n  memory: '8192'\n  containers: [{name: a, image: 'a:1'}]",
            "spec.cpu",
            "maxTaskCpu",
        ),
        (
            "  cpu: '1024'\n  memory: '16 GB'\n  containers: [{name: a, image: 'a:1'}]",
            "spec.memory",
            "maxTaskMemory",
        ),
        (
            "  desiredCount: 21\n  containers: [{name: a, image: 'a:1'}]",
            "spec.desiredCount",
            "maxDesiredCount",
        ),
        (
            "  autoscaling: {minCapacity: 1, maxCapacity: 50}\n  containers: [{name: a, image: 'a:1'}]",
            "spec.autoscaling.maxCapacity",
            "maxDesiredCount",
        ),
    ];
    for (yaml, field, rule) in cases {
        let err = check_service(&p, &service(yaml), "spec", "us-east-1").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), (field, rule), "{yaml}\n{err}");
        assert_eq!(err.origin, "WebStackPolicy movies");
        assert!(
            err.to_string().contains("(rule ") && err.to_string().contains("of WebStackPolicy movies)"),
            "{err}"
        );
    }
}

fn stack(yaml: &str) -> WebStackSpec {
    let ws: WebStack = serde_yaml::from_str(&format!(
        "apiVersion: webstack.io/v1alpha1\nkind: WebStack\nmetadata: {{name: s}}\nspec:\n{yaml}"
    ))
    .expect("stack YAML");
    ws.spec
}

const TAGS: &str = "  tags: {cost-center: '42', env: prod}\n";

fn facts() -> StackFacts<'static> {
    StackFacts {
        external_id: None,
        stacks_in_namespace: 1,
        services_naming_it: 0,
        region: "us-east-1",
    }
}

#[test]
fn stacks_within_the_policy() {
    let p = policy("movies", MOVIES);
    let ok = stack(&format!(
        "{TAGS}  network: {{vpcId: vpc-0shared, publicSubnetIds: [subnet-a], privateSubnetIds: [subnet-b]}}
  loadBalancer: {{listeners: [{{name: https, port: 443, protocol: HTTPS, certificateArn: 'arn:aws:acm:us-east-1:210987654321:certificate/movies-1'}}]}}
  cluster: {{capacity: {{instanceType: t3.large, maxSize: 10}}}}
  database: {{instanceClass: db.t4g.small, allocatedStorageGiB: 200}}
  cache: {{nodeType: cache.t4g.micro, numNodes: 3}}
  dns: {{hostedZoneId: Z0123456789ABCDEFGHIJ, records: [{{name: www.movies.example.com, target: loadBalancer}}]}}
  alarms: {{snsTopicArn: 'arn:aws:sns:us-east-1:210987654321:movies-oncall'}}"
    ));
    assert_eq!(check_stack(&p, &ok, &facts()), Ok(()));
    let created = stack(&format!("{TAGS}  network: {{cidr: 10.0.0.0/16, natGateways: none}}"));
    assert_eq!(check_stack(&p, &created, &facts()), Ok(()));
}

/// A created VPC's default egress (`single`) is checked like a value set; an adopted VPC gets no NAT
/// gateway, so the limit does not concern it.
#[test]
fn the_default_nat_gateway_is_checked() {
    let p = policy(
        "lean",
        "spec:\n  namespaceSelector: {matchLabels: {team: lean}}\n  allow: {adoptVpcIds: [vpc-0shared]}\n  limits: {natGateways: [none]}",
    );
    let defaulted = stack("  network: {cidr: 10.0.0.0/16}");
    let err = check_stack(&p, &defaulted, &facts()).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule),
        ("spec.network.natGateways", "natGateways")
    );
    let adopted = stack("  network: {vpcId: vpc-0shared, publicSubnetIds: [subnet-a], privateSubnetIds: [subnet-b]}");
    assert_eq!(check_stack(&p, &adopted, &facts()), Ok(()));
}

/// `aws.regions` confines the stack's region (its own or the operator's default).
#[test]
fn a_policys_regions_confine_the_stack() {
    let p = policy(
        "eu",
        "spec:\n  namespaceSelector: {matchLabels: {team: eu}}\n  aws: {assumeRoleArn: 'arn:aws:iam::210987654321:role/webstack-tenant-eu', regions: [eu-west-1]}",
    );
    let spec = stack("  network: {cidr: 10.0.0.0/16}");
    let outside = StackFacts {
        region: "us-east-1",
        ..facts()
    };
    let err = check_stack(&p, &spec, &outside).unwrap_err();
    assert_eq!((err.field.as_str(), err.rule), ("spec.region", "regions"));
    let inside = StackFacts {
        region: "eu-west-1",
        ..facts()
    };
    assert_eq!(check_stack(&p, &spec, &inside), Ok(()));
}

#[test]
fn each_stack_rule_names_its_field() {
    let p = policy("movies", MOVIES);
    let cases = [
        ("  tags: {env: prod}", "spec.tags.cost-center", "requiredTags"),
        ("  tags: {cost-center: '1', env: test}", "spec.tags.env", "requiredTags"),
        (
            "  network: {vpcId: vpc-0other, publicSubnetIds: [subnet-a], privateSubnetIds: [subnet-b]}",
            "spec.network.vpcId",
            "adoptVpcIds",
        ),
        (
            "  network: {cidr: 10.0.0.0/16, natGateways: perZone}",
            "spec.network.natGateways",
            "natGateways",
        ),
        (
            "  loadBalancer: {listeners: [{name: https, port: 443, protocol: HTTPS, certificateArn: 'arn:aws:acm:us-east-1:1:certificate/corp-wildcard'}]}",
            "spec.loadBalancer.listeners[0].certificateArn",
            "certificateArns",
        ),
        (
            "  cluster: {capacity: {instanceType: p4d.24xlarge, maxSize: 2}}",
            "spec.cluster.capacity.instanceType",
            "instanceTypes",
        ),
        (
            "  cluster: {capacity: {instanceType: t3.small, maxSize: 1000}}",
            "spec.cluster.capacity.maxSize",
            "maxInstances",
        ),
        (
            "  database: {instanceClass: db.r6g.16xlarge}",
            "spec.database.instanceClass",
            "databaseInstanceClasses",
        ),
        (
            "  database: {allocatedStorageGiB: 65536}",
            "spec.database.allocatedStorageGiB",
            "maxDatabaseStorageGiB",
        ),
        (
            "  cache: {nodeType: cache.r6g.16xlarge}",
            "spec.cache.nodeType",
            "cacheNodeTypes",
        ),
        ("  cache: {numNodes: 6}", "spec.cache.numNodes", "maxCacheNodes"),
        (
            "  dns: {hostedZoneId: ZCORP, records: [{name: login.corp.example, target: loadBalancer}]}",
            "spec.dns.hostedZoneId",
            "hostedZones",
        ),
        (
            "  dns: {hostedZoneId: Z0123456789ABCDEFGHIJ, records: [{name: movies.example.com, target: loadBalancer}]}",
            "spec.dns.records[0].name",
            "hostedZones",
        ),
        (
            "  alarms: {snsTopicArn: 'arn:aws:sns:us-east-1:210987654321:corp-pager'}",
            "spec.alarms.snsTopicArn",
            "snsTopicArns",
        ),
        (
            "  staticSite: {aliases: [www.corp.example], certificateArn: 'arn:aws:acm:us-east-1:210987654321:certificate/corp'}",
            "spec.staticSite.certificateArn",
            "certificateArns",
        ),
        (
            "  staticSite: {webAclId: 'arn:aws:wafv2:us-east-1:210987654321:global/webacl/corp/1'}",
            "spec.staticSite.webAclId",
            "webAclIds",
        ),
        (
            "  services: [{name: api, container: {cpu: '256', memory: '512', taskRoleArn: 'arn:aws:iam::1:role/x', containers: [{name: a, image: 'a:1'}]}}]",
            "spec.services[0].container.taskRoleArn",
            "taskRoleArns",
        ),
        (
            "  services: [{name: a}, {name: b}, {name: c}, {name: d}]",
            "spec.services",
            "maxServicesPerStack",
        ),
    ];
    for (yaml, field, rule) in cases {
        let yaml = if yaml.starts_with("  tags:") {
            yaml.to_string()
        } else {
            format!("{TAGS}{yaml}")
        };
        let err = check_stack(&p, &stack(&yaml), &facts()).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), (field, rule), "{yaml}\n{err}");
    }
    // Counts the namespace and the other objects give.
    let ok = stack(TAGS);
    let many = StackFacts {
        stacks_in_namespace: 6,
        ..facts()
    };
    assert_eq!(check_stack(&p, &ok, &many).unwrap_err().rule, "maxStacks");
    let services = StackFacts {
        services_naming_it: 4,
        ..facts()
    };
    assert_eq!(check_stack(&p, &ok, &services).unwrap_err().rule, "maxServicesPerStack");
    let adopting = StackFacts {
        external_id: Some("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x/1"),
        ..facts()
    };
    let err = check_stack(&p, &ok, &adopting).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule),
        ("metadata.annotations[webstack.io/external-id]", "adoptLoadBalancers")
    );
}

#[test]
fn an_empty_policy_allows_only_what_the_stack_creates() {
    let p = policy("strict", "spec: {namespaceSelector: {}}");
    assert_eq!(
        check_stack(&p, &stack("  network: {cidr: 10.0.0.0/16}"), &facts()),
        Ok(())
    );
    let svc = service("  containers: [{name: a, image: 'nginx:1.27', secrets: [{name: X, valueFrom: /app/key}]}]");
    let err = check_service(&p, &svc, "spec", "us-east-1").unwrap_err();
    assert!(err.message.contains("allow.secretArns: none"), "{err}");
}

#[test]
fn a_namespace_selector_flag_reads_equality_and_existence_and_refuses_the_rest() {
    let s = parse_selector("webstack.io/shard-group=blue, tier!=legacy,team,!frozen").unwrap();
    assert!(selects(
        &s,
        &labels(&[("webstack.io/shard-group", "blue"), ("team", "a")])
    ));
    assert!(selects(
        &s,
        &labels(&[("webstack.io/shard-group", "blue"), ("team", "a"), ("tier", "web")])
    ));
    assert!(!selects(
        &s,
        &labels(&[("webstack.io/shard-group", "green"), ("team", "a")])
    ));
    assert!(!selects(
        &s,
        &labels(&[("webstack.io/shard-group", "blue"), ("team", "a"), ("tier", "legacy")])
    ));
    assert!(!selects(&s, &labels(&[("webstack.io/shard-group", "blue")])));
    assert!(!selects(
        &s,
        &labels(&[("webstack.io/shard-group", "blue"), ("team", "a"), ("frozen", "")])
    ));
    assert_eq!(
        parse_selector("a==b").unwrap(),
        parse_selector("a=b").unwrap(),
        "== is ="
    );
    for bad in ["", "a,,b", "env in (a,b)", "a=b c", "=x"] {
        assert!(parse_selector(bad).is_err(), "{bad}");
    }
}
