use super::*;
use crate::api::ContainerServiceSpec;

fn settings(yaml: &str) -> ContainerServiceSettings {
    let spec: ContainerServiceSpec = serde_yaml::from_str(yaml).expect("spec");
    spec.settings
}

fn render_yaml(yaml: &str) -> Result<TaskDef, InvalidSpec> {
    render(
        &settings(yaml),
        "wcs-family",
        &LogTarget {
            group: "/webstack/movies/backend",
            region: "us-east-1",
            stack: Default::default(),
        },
    )
}

/// Reference architecture 2's backend: Fargate 0.5 vCPU / 2 GB from a private registry.
const BACKEND: &str = "stackRef: {name: webapp}
cpu: '512'
memory: '2048'
containers:
  - name: flask
    image: docker.io/webapp/backend:1.8.0
    repositoryCredentialsArn: arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf
    portMappings: [{containerPort: 5000}]
    env: {FLASK_ENV: production, A_FIRST: '1'}
    secrets: [{name: DATABASE_URL, valueFrom: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db'}]
loadBalancer: {targetGroupRef: {name: backend}, containerName: flask, containerPort: 5000}";

/// Reference architecture 5: EC2, bridge, dynamic host port.
const POSTS: &str = "stackRef: {name: forum}
launchType: EC2
networkMode: bridge
containers:
  - {name: posts, image: registry.example.com/forum/posts:1.0.0, cpu: 256, memoryReservation: 256, portMappings: [{containerPort: 3000, hostPort: 0}]}
loadBalancer: {targetGroupRef: {name: posts}, containerName: posts, containerPort: 3000}";

#[test]
fn renders_fargate_with_private_registry_secrets_and_logs() {
    let t = render_yaml(BACKEND).unwrap();
    assert_eq!(
        (t.network_mode.as_str(), t.cpu.as_deref(), t.memory.as_deref()),
        ("awsvpc", Some("512"), Some("2048"))
    );
    assert_eq!(t.requires_compatibilities, ["FARGATE"]);
    let c = &t.containers[0];
    assert_eq!(c.port_mappings, [(5000, 5000, "tcp".to_string())]);
    assert_eq!(c.environment.keys().collect::<Vec<_>>(), ["A_FIRST", "FLASK_ENV"]);
    assert_eq!(
        c.secrets["DATABASE_URL"],
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"
    );
    assert!(
        c.repository_credentials
            .as_deref()
            .is_some_and(|a| a.ends_with("dockerhub-AbCdEf"))
    );
    assert_eq!(
        c.logs,
        Some(("/webstack/movies/backend".into(), "us-east-1".into(), "flask".into()))
    );
    assert!(c.essential);
}

#[test]
fn renders_ec2_bridge_with_dynamic_host_ports() {
    let t = render_yaml(POSTS).unwrap();
    assert_eq!((t.network_mode.as_str(), t.cpu.as_deref()), ("bridge", None));
    assert_eq!(t.requires_compatibilities, ["EC2"]);
    let c = &t.containers[0];
    assert_eq!((c.cpu, c.memory_reservation), (256, Some(256)));
    assert_eq!(c.port_mappings, [(3000, 0, "tcp".to_string())]);
}

#[test]
fn several_containers_per_task() {
    let t = render_yaml(
        "stackRef: {name: monolith}
cpu: '1024'
memory: '2048'
containers:
  - {name: spring, image: backend:3.1.0, portMappings: [{containerPort: 8080}]}
  - {name: nginx, image: nginx:3.1.0, portMappings: [{containerPort: 80}], healthCheck: {command: [CMD-SHELL, curl -f localhost/]}}
loadBalancer: {targetGroupRef: {name: app}, containerName: nginx, containerPort: 80}",
    )
    .unwrap();
    let names: Vec<_> = t.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["nginx", "spring"], "canonical order");
    assert_eq!(
        t.containers[0].health_check,
        Some((vec!["CMD-SHELL".into(), "curl -f localhost/".into()], 30, 5, 3, 0))
    );
}

#[test]
fn refuses_what_aws_would_refuse_naming_the_field() {
    let cases = [
        (
            BACKEND.replace("memory: '2048'", "memory: '512'"),
            "spec.memory",
            "1024, 2048, 3072, 4096",
        ),
        (BACKEND.replace("cpu: '512'", "cpu: '300'"), "spec.cpu", "256, 512"),
        (
            BACKEND.replace(
                "containerName: flask, containerPort: 5000",
                "containerName: flask, containerPort: 8080",
            ),
            "spec.loadBalancer.containerPort",
            "maps no port 8080",
        ),
        (
            BACKEND.replace("containerName: flask", "containerName: django"),
            "spec.loadBalancer.containerName",
            "no container is named django",
        ),
        (
            BACKEND.replace("[{containerPort: 5000}]", "[{containerPort: 5000, hostPort: 80}]"),
            "spec.containers[0].portMappings[0].hostPort",
            "must equal containerPort",
        ),
        (
            POSTS.replace("memoryReservation: 256, ", ""),
            "spec.containers[0].memoryReservation",
            "needs memory or memoryReservation",
        ),
    ];
    for (yaml, field, message) in cases {
        assert_ne!(yaml, BACKEND);
        assert_ne!(yaml, POSTS);
        let err = render_yaml(&yaml).unwrap_err();
        assert_eq!(err.field, field, "{yaml}");
        assert!(err.message.contains(message), "{err}");
    }
}

#[test]
fn fargate_table_matches_aws() {
    assert_eq!(fargate_memory_options(256), Some(vec![512, 1024, 2048]));
    assert_eq!(fargate_memory_options(512).unwrap(), [1024, 2048, 3072, 4096]);
    let big = fargate_memory_options(16384).unwrap();
    assert_eq!((big[0], *big.last().unwrap(), big.len()), (32768, 122880, 12));
    assert_eq!(fargate_memory_options(8192).unwrap().len(), 12);
    assert_eq!(fargate_memory_options(384), None);
}

#[test]
fn an_unchanged_spec_never_needs_a_revision() {
    let t = render_yaml(BACKEND).unwrap();
    assert!(!t.differs_from(Some(&t)));
    assert!(t.differs_from(None), "nothing runs yet");
    // As AWS reports it: containers in another order, host port filled in, mappings reordered.
    let two = render_yaml(
        "stackRef: {name: s}\ncpu: '256'\nmemory: '512'\ncontainers:\n  - {name: a, image: a:1, portMappings: [{containerPort: 80}, {containerPort: 81}]}\n  - {name: b, image: b:1}",
    )
    .unwrap();
    let mut reported = two.clone();
    reported.containers.reverse();
    reported.containers[1].port_mappings.reverse();
    assert!(!two.differs_from(Some(&reported)));
    // Any real change does need one.
    let changes = [
        BACKEND.replace("backend:1.8.0", "backend:1.9.0"),
        BACKEND.replace("FLASK_ENV: production", "FLASK_ENV: staging"),
        BACKEND.replace("memory: '2048'", "memory: '3072'"),
        BACKEND.replace("containerPort: 5000}]", "containerPort: 5000}, {containerPort: 5001}]"),
    ];
    for yaml in changes {
        assert!(render_yaml(&yaml).unwrap().differs_from(Some(&t)), "{yaml}");
    }
}
