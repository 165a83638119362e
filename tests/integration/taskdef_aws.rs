//! Task definitions against the emulator: what the operator renders, registered and read back
//! through the SDK, compares equal in canonical form, so an unchanged spec never registers a new
//! revision; a changed image does. Reference architectures 2 (Fargate) and 5 (EC2, bridge, host
//! port 0) and a two-container task.

use webstack_operator::api::ContainerServiceSpec;
use webstack_operator::aws::{Clients, TagMap, ecs};
use webstack_operator::containerservice::taskdef::{LogTarget, render};

use crate::harness::moto::Moto;

fn rendered(yaml: &str, family: &str) -> webstack_operator::model::service::TaskDef {
    let spec: ContainerServiceSpec = serde_yaml::from_str(yaml).expect("spec");
    render(
        &spec.settings,
        family,
        &LogTarget {
            group: &format!("/webstack/it/{family}"),
            region: "us-east-1",
            stack: Default::default(),
        },
    )
    .expect("valid")
}

// An EC2 container with only `memoryReservation`, as AWS accepts ("one or both of memory or
// memoryReservation"); moto 5.2.5 refused it until tests/moto/server.py patched its check.
const SPECS: [(&str, &str); 3] = [
    (
        "backend",
        "stackRef: {name: webapp}
cpu: '512'
memory: '2048'
containers:
  - name: flask
    image: docker.io/webapp/backend:1.8.0
    repositoryCredentialsArn: arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf
    portMappings: [{containerPort: 5000}]
    env: {FLASK_ENV: production}
    secrets: [{name: DATABASE_URL, valueFrom: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db'}]
    healthCheck: {command: [CMD-SHELL, curl -f localhost:5000/healthz], startPeriodSeconds: 10}",
    ),
    (
        "posts",
        "stackRef: {name: forum}
launchType: EC2
networkMode: bridge
containers:
  - {name: posts, image: registry.example.com/forum/posts:1.0.0, cpu: 256, memoryReservation: 256, portMappings: [{containerPort: 3000, hostPort: 0}]}",
    ),
    (
        "monolith",
        "stackRef: {name: monolith}
cpu: '1024'
memory: '2048'
containers:
  - {name: spring, image: backend:3.1.0, portMappings: [{containerPort: 8080}], command: [java, -jar, app.jar]}
  - {name: nginx, image: nginx:3.1.0, portMappings: [{containerPort: 80}]}",
    ),
];

#[tokio::test]
async fn registered_task_definitions_round_trip_without_a_new_revision() {
    let moto = Moto::start();
    let clients = Clients::new(&moto.sdk_config().await);
    for (family, yaml) in SPECS {
        let want = rendered(yaml, family);
        let arn = ecs::register_task_definition(&clients.ecs, &want, &TagMap::new())
            .await
            .expect("register");
        let running = ecs::describe_task_definition(&clients.ecs, &arn)
            .await
            .expect("describe");
        assert!(
            !want.differs_from(Some(&running)),
            "{family}: an unchanged spec must not need a revision:\nwant {want:#?}\ngot {running:#?}"
        );

        // A new image does, and registering it makes revision 2.
        let new_tag = yaml.replace(".0\n", ".7\n").replace(".0,", ".7,").replace(".0}", ".7}");
        assert_ne!(new_tag, yaml, "{family}: the change changes something");
        let changed = rendered(&new_tag, family);
        assert!(changed.differs_from(Some(&running)), "{family}");
        let arn2 = ecs::register_task_definition(&clients.ecs, &changed, &TagMap::new())
            .await
            .unwrap();
        assert!(arn2.ends_with(&format!("{family}:2")), "{arn2}");
    }
    // Reference architecture 5 as registered: bridge mode, cpu 256, reservation 256, dynamic port.
    let posts = clients
        .ecs
        .describe_task_definition()
        .task_definition("posts:1")
        .send()
        .await
        .unwrap();
    let t = posts.task_definition().unwrap();
    assert_eq!(t.network_mode().map(|m| m.as_str()), Some("bridge"));
    let c = &t.container_definitions()[0];
    assert_eq!((c.cpu(), c.memory_reservation()), (256, Some(256)));
    assert_eq!(
        (c.port_mappings()[0].container_port(), c.port_mappings()[0].host_port()),
        (Some(3000), Some(0))
    );
}
