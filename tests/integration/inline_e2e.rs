//! A stack's inline services as owned children, end to end: written with an ownerReference and
//! the stack's label, reported in `status.services`; a hand edit of a child reverted; an object
//! of a child's name that is someone else's never overwritten (the stack says so); a service
//! removed from the spec pruned with its AWS resources; the stack deleted alone takes its
//! children and everything in AWS with it.

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use webstack_operator::api::{ContainerService, InlineServiceStatus, ListenerRule, TargetGroup, WebStack};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::wait::{gone, until};

const STACK: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: shop}
spec:
  network: {cidr: 10.70.0.0/16}
  loadBalancer:
    listeners:
      - {name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404}}}
  services:
    - name: web
      targetGroup: {port: 8080, healthCheck: {path: /health}}
      routes: [{listener: http, priority: 10, conditions: {pathPatterns: ["/*"]}}]
      container:
        cpu: "256"
        memory: "512"
        desiredCount: 2
        containers: [{name: web, image: "registry.example.com/shop/web:1.0.0", portMappings: [{containerPort: 8080}]}]
    - name: api
      targetGroup: {port: 9090, healthCheck: {path: /ready}}
      routes: [{listener: http, priority: 5, conditions: {pathPatterns: ["/api/*"]}}]
      container:
        cpu: "256"
        memory: "512"
        desiredCount: 1
        containers: [{name: api, image: "registry.example.com/shop/api:1.0.0", portMappings: [{containerPort: 9090}]}]
"#;

/// Ready, at the stack's current generation.
pub(crate) fn ready_at_generation(ws: &WebStack) -> bool {
    ws.status.as_ref().is_some_and(|st| {
        st.observed_generation == ws.metadata.generation
            && st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::test]
async fn inline_services_are_owned_children() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "inline").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let op = Operator::start(&moto, &ns, "3s");
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let groups: Api<TargetGroup> = Api::namespaced(client.clone(), &ns);
    let rules: Api<ListenerRule> = Api::namespaced(client.clone(), &ns);
    let services: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    let stack: WebStack = serde_yaml::from_str(STACK).unwrap();
    stacks.create(&PostParams::default(), &stack).await.unwrap();
    let ws = until(
        &stacks,
        "shop",
        &op,
        "the stack and its children Ready",
        120,
        ready_at_generation,
    )
    .await;
    let uid = ws.uid().unwrap();

    // The children: owned by the stack (controller, blockOwnerDeletion), labelled with it.
    for (kind, name, refs, labels) in [
        (
            "TargetGroup",
            "shop-web",
            groups.get("shop-web").await.unwrap().metadata,
        ),
        (
            "TargetGroup",
            "shop-api",
            groups.get("shop-api").await.unwrap().metadata,
        ),
        (
            "ListenerRule",
            "shop-web-0",
            rules.get("shop-web-0").await.unwrap().metadata,
        ),
        (
            "ListenerRule",
            "shop-api-0",
            rules.get("shop-api-0").await.unwrap().metadata,
        ),
        (
            "ContainerService",
            "shop-web",
            services.get("shop-web").await.unwrap().metadata,
        ),
        (
            "ContainerService",
            "shop-api",
            services.get("shop-api").await.unwrap().metadata,
        ),
    ]
    .map(|(k, n, m)| {
        (
            k,
            n,
            m.owner_references.unwrap_or_default(),
            m.labels.unwrap_or_default(),
        )
    }) {
        assert_eq!(refs.len(), 1, "{kind} {name}");
        let r = &refs[0];
        assert_eq!(
            (
                r.kind.as_str(),
                r.name.as_str(),
                r.uid.as_str(),
                r.controller,
                r.block_owner_deletion
            ),
            ("WebStack", "shop", uid.as_str(), Some(true), Some(true)),
            "{kind} {name}"
        );
        assert_eq!(
            labels.get("webstack.io/stack").map(String::as_str),
            Some("shop"),
            "{kind} {name}"
        );
    }
    let rule = rules.get("shop-api-0").await.unwrap();
    assert_eq!(rule.spec.action.forward.unwrap().target_groups[0].name, "shop-api");
    let web = services.get("shop-web").await.unwrap();
    let lb = web.spec.settings.load_balancer.unwrap();
    assert_eq!(
        (lb.target_group_ref.unwrap().name, lb.container_name, lb.container_port),
        ("shop-web".to_string(), Some("web".to_string()), Some(8080))
    );
    // The stack reports its services.
    let service = |name: &str, n: i32| InlineServiceStatus {
        name: name.into(),
        ready: true,
        running_count: Some(n),
        desired_count: Some(n),
        task_definition_revision: Some(1),
    };
    assert_eq!(ws.status.unwrap().services, [service("web", 2), service("api", 1)]);

    // A hand edit of a child is reverted to the stack's spec.
    let edit = serde_json::json!({"spec": {"healthCheck": {"path": "/edited"}}});
    groups
        .patch("shop-web", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    until(&groups, "shop-web", &op, "the hand edit reverted", 30, |g| {
        g.spec.settings.health_check.path == "/health"
    })
    .await;

    // An object with a future child's name that is someone else's: never overwritten.
    let theirs: TargetGroup = serde_yaml::from_str(
        "{apiVersion: webstack.io/v1alpha1, kind: TargetGroup, metadata: {name: shop-extra},
          spec: {stackRef: {name: shop}, port: 7000}}",
    )
    .unwrap();
    groups.create(&PostParams::default(), &theirs).await.unwrap();
    let add = serde_json::json!({"spec": {"services": [
        {"name": "web"}, {"name": "api"},
        {"name": "extra", "targetGroup": {"port": 7070}}
    ]}});
    // The list is a map keyed by name: a strategic or apply patch would merge it; this merge
    // patch replaces it, so send the whole list.
    let mut spec = serde_json::to_value(&stacks.get("shop").await.unwrap().spec).unwrap();
    spec["services"]
        .as_array_mut()
        .unwrap()
        .push(add["spec"]["services"][2].clone());
    stacks
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": spec})),
        )
        .await
        .unwrap();
    let stalled = until(&stacks, "shop", &op, "the conflict reported", 30, |s| {
        s.status.as_ref().is_some_and(|st| {
            st.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == "OwnershipConflict")
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
        message.contains("TargetGroup shop-extra already exists") && message.contains("spec.services[2]"),
        "{message}"
    );
    let still = groups.get("shop-extra").await.unwrap();
    assert_eq!(
        still.spec.settings.port, 7000,
        "someone else's object is not overwritten"
    );
    assert!(still.owner_references().is_empty());
    // Once theirs is gone, the stack's own is made.
    groups.delete("shop-extra", &DeleteParams::default()).await.unwrap();
    until(&groups, "shop-extra", &op, "the stack's own shop-extra", 60, |g| {
        g.spec.settings.port == 7070 && g.owner_references().iter().any(|r| r.uid == uid)
    })
    .await;
    until(&stacks, "shop", &op, "the stack Ready again", 60, ready_at_generation).await;

    // A service removed from the spec: its children are deleted, and its AWS resources with them.
    let mut spec = serde_json::to_value(&stacks.get("shop").await.unwrap().spec).unwrap();
    spec["services"].as_array_mut().unwrap().retain(|s| s["name"] != "api");
    stacks
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": spec})),
        )
        .await
        .unwrap();
    gone(&services, "shop-api", &op, 60).await;
    gone(&rules, "shop-api-0", &op, 60).await;
    gone(&groups, "shop-api", &op, 60).await;
    let left = leftovers(&config, &ns).await;
    assert!(
        !left.iter().any(|l| l.contains("-shop-api-")),
        "the pruned service's AWS resources are deleted: {left:#?}"
    );
    assert!(
        left.iter().any(|l| l.contains("-shop-web-")),
        "the others stay: {left:#?}"
    );
    until(
        &stacks,
        "shop",
        &op,
        "the stack Ready without api",
        60,
        ready_at_generation,
    )
    .await;

    // The stack deleted alone (as `kubectl delete webstack shop`): its children go first, then it.
    stacks.delete("shop", &DeleteParams::default()).await.unwrap();
    gone(&stacks, "shop", &op, 120).await;
    for name in ["shop-web", "shop-extra"] {
        assert!(groups.get_opt(name).await.unwrap().is_none(), "{name}");
    }
    assert!(services.get_opt("shop-web").await.unwrap().is_none());
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
}

/// Invalid inline services stall naming the inline path, and no child is written.
#[tokio::test]
async fn an_invalid_inline_service_writes_no_child() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "inline-bad").await;
    let moto = Moto::start();
    let op = Operator::start(&moto, &ns, "3s");
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let mut stack: WebStack = serde_yaml::from_str(STACK).unwrap();
    stack.spec.services[1].routes[0].listener = "https".into();
    stacks.create(&PostParams::default(), &stack).await.unwrap();
    let stalled = until(&stacks, "shop", &op, "Stalled on the route's listener", 30, |s| {
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
        message.contains("spec.services[1].routes[0].listener") && message.contains("no listener named https"),
        "{message}"
    );
    let groups: Api<TargetGroup> = Api::namespaced(client.clone(), &ns);
    let services: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    assert!(groups.list(&Default::default()).await.unwrap().items.is_empty());
    assert!(services.list(&Default::default()).await.unwrap().items.is_empty());
    assert!(
        moto.calls().iter().all(|c| !c.mutates()),
        "nothing changed in AWS for an invalid stack"
    );
}

/// With the test API server's garbage collector and namespace controller, deletion behaves as in
/// a cluster: a stack deleted in the foreground (`kubectl delete --cascade=foreground`) waits for
/// its children (the collector deletes them, their finalizers delete their AWS resources), and a
/// namespace deleted whole (`kubectl delete namespace`) takes every object and AWS resource in it.
#[tokio::test]
async fn foreground_and_namespace_deletion_clean_up() {
    let client = client().await;
    install_crds(&client).await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;

    // Foreground.
    let ns = namespace(&client, "inline-fg").await;
    let op = Operator::start(&moto, &ns, "3s");
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    let stack: WebStack = serde_yaml::from_str(STACK).unwrap();
    stacks.create(&PostParams::default(), &stack).await.unwrap();
    until(&stacks, "shop", &op, "the stack Ready", 120, ready_at_generation).await;
    stacks.delete("shop", &DeleteParams::foreground()).await.unwrap();
    gone(&stacks, "shop", &op, 120).await;
    let services: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    assert!(services.list(&Default::default()).await.unwrap().items.is_empty());
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after a foreground deletion: {left:#?}");
    drop(op);

    // The namespace.
    let ns = namespace(&client, "inline-ns").await;
    let op = Operator::start(&moto, &ns, "3s");
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    stacks.create(&PostParams::default(), &stack).await.unwrap();
    until(&stacks, "shop", &op, "the stack Ready", 120, ready_at_generation).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces.delete(&ns, &DeleteParams::default()).await.unwrap();
    gone(&namespaces, &ns, &op, 180).await;
    let left = leftovers(&config, &ns).await;
    assert!(
        left.is_empty(),
        "left in AWS after the namespace was deleted: {left:#?}"
    );
}
