//! Table tests of the inline services' and static site's expansion into children.

use super::*;
use crate::api::WebStack;

fn stack(yaml: &str) -> WebStack {
    serde_yaml::from_str(yaml).expect("a WebStack")
}

fn names(children: &[DesiredChild]) -> Vec<String> {
    children.iter().map(|c| format!("{}/{}", c.kind, c.name)).collect()
}

const EXAMPLE_2: &str = include_str!("../../../../examples/2-fargate-autoscaled-postgres-cdn.yaml");
const EXAMPLE_3: &str = include_str!("../../../../examples/3-monolith-redis-postgres.yaml");

#[test]
fn example_2_expands_into_two_services_and_a_site() {
    let ws = stack(EXAMPLE_2);
    let children = expand("webapp", &ws.spec).unwrap();
    assert_eq!(
        names(&children),
        [
            "TargetGroup/webapp-frontend",
            "ListenerRule/webapp-frontend-0",
            "ContainerService/webapp-frontend",
            "TargetGroup/webapp-backend",
            "ListenerRule/webapp-backend-0",
            "ContainerService/webapp-backend",
            "StaticSite/webapp",
        ]
    );
    let rule = &children[4];
    assert_eq!(rule.path, "spec.services[1].routes[0]");
    assert_eq!(rule.service.as_deref(), Some("backend"));
    assert_eq!(rule.spec["stackRef"]["name"], "webapp");
    assert_eq!(rule.spec["listener"], "https");
    assert_eq!(rule.spec["priority"], 10);
    assert_eq!(
        rule.spec["action"],
        serde_json::json!({"forward": {"targetGroups": [{"name": "webapp-backend"}]}})
    );
    // The service attaches to its own group, through its first port-mapped container.
    let backend = &children[5];
    assert_eq!(
        backend.spec["loadBalancer"],
        serde_json::json!({"targetGroupRef": {"name": "webapp-backend"}, "containerName": "flask", "containerPort": 5000})
    );
    assert_eq!(backend.spec["autoscaling"]["maxCapacity"], 8);
    let site = &children[6];
    assert_eq!(site.spec["stackRef"]["name"], "webapp");
    assert_eq!(site.spec["routes"][0]["pathPattern"], "/api/*");
    assert_eq!(site.service, None);
    // The spec is canonical: it reads back the same through the typed child.
    let typed: ContainerServiceSpec = serde_json::from_value(backend.spec.clone()).unwrap();
    assert_eq!(serde_json::to_value(typed).unwrap(), backend.spec);
}

#[test]
fn a_named_container_keeps_its_choice_and_gets_the_group() {
    // Example 3 names the container and port; only the target group is filled in.
    let ws = stack(EXAMPLE_3);
    let children = expand("monolith", &ws.spec).unwrap();
    assert_eq!(
        names(&children),
        [
            "TargetGroup/monolith-app",
            "ContainerService/monolith-app",
            "StaticSite/monolith"
        ]
    );
    assert_eq!(
        children[1].spec["loadBalancer"],
        serde_json::json!({"targetGroupRef": {"name": "monolith-app"}, "containerName": "nginx", "containerPort": 80})
    );
}

#[test]
fn children_inherit_the_deletion_policy_and_nothing_else_of_the_stack() {
    let mut ws = stack(EXAMPLE_2);
    ws.spec.deletion_policy = crate::api::DeletionPolicy::Retain;
    for c in expand("webapp", &ws.spec).unwrap() {
        assert_eq!(c.spec["deletionPolicy"], "Retain", "{}", c.name);
        // Stack tags reach AWS through the stack; children carry none of their own.
        assert!(c.spec.get("tags").is_none(), "{}", c.name);
    }
}

#[test]
fn invalid_inline_services_name_the_inline_path() {
    let base = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
spec:
  network: {cidr: 10.0.0.0/16}
  loadBalancer: {listeners: [{name: http, port: 80}]}
"#;
    let long = "a-stack-with-a-name-long-enough-to-overflow-a-label"; // 51 characters
    let cases = [
        (
            "shop",
            "services: [{name: web, targetGroup: {port: 80}}, {name: web}]",
            "spec.services[1].name",
            "service web is listed twice",
        ),
        (
            "shop",
            "services: [{name: web, targetGroup: {port: 80}, routes: [{listener: http, conditions: {pathPatterns: [/]}}, {listener: https, conditions: {pathPatterns: [/a]}}]}]",
            "spec.services[0].routes[1].listener",
            "the stack has no listener named https (it has: http)",
        ),
        (
            "shop",
            "services: [{name: web, routes: [{listener: http, conditions: {pathPatterns: [/]}}]}]",
            "spec.services[0].routes",
            "set targetGroup",
        ),
        (
            long,
            "services: [{name: storefront-api, targetGroup: {port: 80}, routes: [{listener: http, conditions: {pathPatterns: [/]}}]}]",
            "spec.services[0].name",
            "the child name a-stack-with-a-name-long-enough-to-overflow-a-label-storefront-api-0 would be 68 characters",
        ),
        (
            "shop",
            "services: [{name: web, targetGroup: {port: 80}, container: {cpu: '256', memory: '512', containers: [{name: w, image: w:1}]}}]",
            "spec.services[0].container.loadBalancer",
            "no container with a port mapping",
        ),
    ];
    for (name, services, field, message) in cases {
        let ws = stack(&format!("{base}  {services}\n"));
        let e = expand(name, &ws.spec).unwrap_err();
        assert_eq!(e.field, field, "{services}: {}", e.message);
        assert!(e.message.contains(message), "{services}: {}", e.message);
    }
}

#[test]
fn no_inline_services_no_children() {
    let ws = stack(
        "{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: s}, spec: {network: {cidr: 10.0.0.0/16}}}",
    );
    assert_eq!(expand("s", &ws.spec).unwrap(), vec![]);
}
