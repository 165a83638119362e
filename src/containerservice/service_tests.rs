use super::*;
use crate::model::service::ContainerDef;

fn task(image: &str) -> TaskDef {
    TaskDef {
        family: "f".into(),
        network_mode: "awsvpc".into(),
        requires_compatibilities: vec!["FARGATE".into()],
        cpu: Some("512".into()),
        memory: Some("2048".into()),
        execution_role_arn: None,
        task_role_arn: None,
        containers: vec![ContainerDef {
            name: "app".into(),
            image: image.into(),
            essential: true,
            cpu: 0,
            memory: None,
            memory_reservation: None,
            port_mappings: vec![(5000, 5000, "tcp".into())],
            environment: Default::default(),
            secrets: Default::default(),
            repository_credentials: None,
            command: vec![],
            entry_point: vec![],
            health_check: None,
            logs: None,
        }],
    }
}

fn desired(autoscaled: bool) -> DesiredService {
    DesiredService {
        name: "svc".into(),
        cluster: "arn:cluster".into(),
        launch_type: "FARGATE".into(),
        capacity_provider: None,
        desired_count: 2,
        autoscaled,
        network: Some((vec!["subnet-b".into(), "subnet-a".into()], vec!["sg-1".into()], false)),
        load_balancer: Some(("arn:tg".into(), "app".into(), 5000)),
        deployment: (200, 100, true, true),
        health_check_grace_seconds: Some(60),
    }
}

fn running(d: &DesiredService) -> ObservedService {
    ObservedService {
        arn: "arn:svc".into(),
        active: true,
        task_definition: "arn:td:1".into(),
        capacity_provider: d.capacity_provider.clone(),
        desired_count: d.desired_count,
        running_count: d.desired_count,
        network: d.network.clone().map(|(mut s, g, p)| {
            s.reverse();
            (s, g, p)
        }),
        load_balancer: d.load_balancer.clone(),
        deployment: d.deployment,
        health_check_grace_seconds: d.health_check_grace_seconds,
        rollout: Some(("COMPLETED".into(), String::new())),
        failed: None,
        deployed: vec!["arn:td:1".into()],
        tags: Default::default(),
    }
}

fn names(steps: &[Step]) -> Vec<String> {
    steps.iter().map(ToString::to_string).collect()
}

#[test]
fn creates_log_group_revision_and_service() {
    let d = desired(false);
    let steps = plan(&d, &task("app:1"), 30, None, None, None);
    assert_eq!(
        names(&steps),
        [
            "create log group",
            "keep logs 30 days",
            "register a new task definition revision",
            "create service"
        ]
    );
}

#[test]
fn an_unchanged_service_plans_nothing() {
    let d = desired(false);
    let t = task("app:1");
    assert_eq!(plan(&d, &t, 30, Some(Some(30)), Some(&running(&d)), Some(&t)), vec![]);
}

#[test]
fn changes_become_updates() {
    let d = desired(false);
    let t = task("app:1");
    let s = running(&d);
    let new_image = names(&plan(&d, &t, 30, Some(Some(30)), Some(&s), Some(&task("app:0"))));
    assert_eq!(
        new_image,
        [
            "register a new task definition revision",
            "update service: task definition"
        ]
    );
    let mut scaled = s.clone();
    scaled.desired_count = 5;
    assert_eq!(
        names(&plan(&d, &t, 30, Some(Some(30)), Some(&scaled), Some(&t))),
        ["update service: desired count"]
    );
    // With autoscaling the scaler's count stands.
    assert_eq!(
        plan(&desired(true), &t, 30, Some(Some(30)), Some(&scaled), Some(&t)),
        vec![]
    );
    let mut unsafe_deploy = s.clone();
    unsafe_deploy.deployment = (100, 0, false, false);
    assert_eq!(
        names(&plan(&d, &t, 30, Some(Some(30)), Some(&unsafe_deploy), Some(&t))),
        ["update service: deployment configuration"]
    );
    assert_eq!(
        names(&plan(&d, &t, 14, Some(Some(30)), Some(&s), Some(&t))),
        ["keep logs 14 days"]
    );
    let mut gone = s.clone();
    gone.active = false;
    assert_eq!(
        names(&plan(&d, &t, 30, Some(Some(30)), Some(&gone), Some(&t))),
        ["create service"]
    );
}

#[test]
fn ec2_services_move_to_the_stack_capacity_provider() {
    let t = task("app:1");
    let on_provider = DesiredService {
        launch_type: "EC2".into(),
        capacity_provider: Some("webstack-ec2-forum".into()),
        ..desired(false)
    };
    // Created before the stack had one: moved with a new deployment.
    let on_launch_type = ObservedService {
        capacity_provider: None,
        ..running(&on_provider)
    };
    assert_eq!(
        plan(&on_provider, &t, 30, Some(Some(30)), Some(&on_launch_type), Some(&t)),
        vec![Step::UpdateService {
            changes: vec![CAPACITY_PROVIDER]
        }]
    );
    assert_eq!(
        plan(
            &on_provider,
            &t,
            30,
            Some(Some(30)),
            Some(&running(&on_provider)),
            Some(&t)
        ),
        vec![]
    );
    // Never back to a launch type (UpdateService cannot): a service on a provider is left alone.
    let without = DesiredService {
        capacity_provider: None,
        ..on_provider.clone()
    };
    assert_eq!(
        plan(&without, &t, 30, Some(Some(30)), Some(&running(&on_provider)), Some(&t)),
        vec![]
    );
}
