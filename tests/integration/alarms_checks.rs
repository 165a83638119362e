//! Reference architecture 2's alarms read back through the SDK: the stack's SNS topic (tagged) with
//! its pending email subscription, one CloudWatch alarm per threshold and watched resource with
//! its threshold, metric, statistic and dimensions (the load balancer's 5xx share as metric math),
//! each notifying the topic and tagged, and the dashboard (tagged) with a graph per alarm. Then a
//! threshold changed in the spec is written to the alarms and the dashboard.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::MetricAlarm;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use webstack_operator::api::WebStack;

/// What `spec.alarms` of example 2 says.
pub struct Expected<'a> {
    pub stack: &'a str,
    pub email: &'a str,
    pub five_xx: f64,
    pub response_time: f64,
    pub service_cpu: f64,
    pub service_memory: f64,
    pub database_cpu: f64,
    pub free_storage_gib: f64,
    /// The stack's ContainerServices.
    pub services: &'a [&'a str],
}

fn dims(a: &MetricAlarm) -> BTreeMap<String, String> {
    a.dimensions()
        .iter()
        .map(|d| (d.name().unwrap().to_string(), d.value().unwrap().to_string()))
        .collect()
}

/// The stack's alarms by their name after the stack's prefix.
async fn alarms(cw: &aws_sdk_cloudwatch::Client, prefix: &str) -> BTreeMap<String, MetricAlarm> {
    let out = cw.describe_alarms().alarm_name_prefix(prefix).send().await.unwrap();
    out.metric_alarms()
        .iter()
        .map(|a| {
            (
                a.alarm_name().unwrap().strip_prefix(prefix).unwrap().to_string(),
                a.clone(),
            )
        })
        .collect()
}

fn tags_of(tags: &[aws_sdk_cloudwatch::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect()
}

/// Reads everything back and checks it against `e`.
pub async fn check(config: &SdkConfig, client: &Client, ns: &str, e: &Expected<'_>) {
    let ws = Api::<WebStack>::namespaced(client.clone(), ns)
        .get(e.stack)
        .await
        .unwrap();
    let status = ws.status.clone().unwrap();
    let st = status.alarms.clone().expect("status.alarms");
    let topic = st.topic_arn.clone().expect("status.alarms.topicArn");
    let owner = format!("{ns}/WebStack/{}", e.stack);

    // The topic: the stack's, tagged, with the email subscribed (pending until confirmed).
    let sns = aws_sdk_sns::Client::new(config);
    let tags = sns.list_tags_for_resource().resource_arn(&topic).send().await.unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "webstack.io/owner" && t.value() == owner),
        "topic tags: {:?}",
        tags.tags()
    );
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    let subs: Vec<(&str, &str, &str)> = subs
        .subscriptions()
        .iter()
        .map(|s| {
            (
                s.protocol().unwrap(),
                s.endpoint().unwrap(),
                s.subscription_arn().unwrap(),
            )
        })
        .collect();
    assert_eq!(subs, [("email", e.email, "PendingConfirmation")]);

    // The alarms, found by the stack's prefix; status names the same.
    let dashboard = st.dashboard.clone().expect("status.alarms.dashboard");
    let prefix = format!("{dashboard}/");
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let found = alarms(&cw, &prefix).await;
    let mut names: Vec<String> = found.keys().map(|k| format!("{prefix}{k}")).collect();
    names.sort();
    assert_eq!(st.alarms, names);
    let mut expected_names = vec![
        "database/cpu".to_string(),
        "database/free-storage".to_string(),
        "load-balancer/5xx-percent".to_string(),
        "load-balancer/response-time".to_string(),
    ];
    for s in e.services {
        expected_names.push(format!("service/{s}/cpu"));
        expected_names.push(format!("service/{s}/memory"));
    }
    expected_names.sort();
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), expected_names);
    for (name, a) in &found {
        assert_eq!(
            a.alarm_actions(),
            std::slice::from_ref(&topic),
            "{name}: notifies the topic"
        );
        assert_eq!(
            a.ok_actions(),
            std::slice::from_ref(&topic),
            "{name}: and when it is OK again"
        );
        let tags = cw
            .list_tags_for_resource()
            .resource_arn(a.alarm_arn().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(
            tags_of(tags.tags()).get("webstack.io/owner"),
            Some(&owner),
            "{name}: tagged"
        );
    }

    // The load balancer: the 5xx share by metric math, the response time.
    let lb_arn = status.load_balancer.as_ref().unwrap().arn.clone().unwrap();
    let lb_dim = lb_arn.split_once(":loadbalancer/").unwrap().1.to_string();
    let five = &found["load-balancer/5xx-percent"];
    assert_eq!(five.threshold(), Some(e.five_xx));
    assert_eq!(five.comparison_operator().unwrap().as_str(), "GreaterThanThreshold");
    let mut math: Vec<(String, String, String, Option<String>)> = five
        .metrics()
        .iter()
        .map(|q| {
            let stat = q.metric_stat();
            let metric = stat.and_then(|s| s.metric());
            (
                q.id().unwrap().to_string(),
                metric.map(|m| m.metric_name().unwrap().to_string()).unwrap_or_default(),
                q.expression().unwrap_or_default().to_string(),
                metric.map(|m| m.dimensions()[0].value().unwrap().to_string()),
            )
        })
        .collect();
    math.sort();
    assert_eq!(
        math,
        [
            (
                "e1".to_string(),
                String::new(),
                "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)".to_string(),
                None
            ),
            (
                "m1".to_string(),
                "HTTPCode_Target_5XX_Count".to_string(),
                String::new(),
                Some(lb_dim.clone())
            ),
            (
                "m2".to_string(),
                "RequestCount".to_string(),
                String::new(),
                Some(lb_dim.clone())
            ),
        ]
    );
    let time = &found["load-balancer/response-time"];
    assert_eq!(
        (time.metric_name(), time.namespace(), time.threshold()),
        (
            Some("TargetResponseTime"),
            Some("AWS/ApplicationELB"),
            Some(e.response_time)
        )
    );
    assert_eq!(dims(time), BTreeMap::from([("LoadBalancer".to_string(), lb_dim)]));

    // Each service, by the ECS cluster and service names.
    let cluster = status
        .cluster_arn
        .as_ref()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let ecs = aws_sdk_ecs::Client::new(config);
    let arns = ecs.list_services().cluster(&cluster).send().await.unwrap();
    for s in e.services {
        let service = arns
            .service_arns()
            .iter()
            .map(|a| a.rsplit('/').next().unwrap().to_string())
            .find(|n| n.contains(&format!("-{s}-")))
            .unwrap_or_else(|| panic!("the ECS service of {s}"));
        for (what, metric, threshold) in [
            ("cpu", "CPUUtilization", e.service_cpu),
            ("memory", "MemoryUtilization", e.service_memory),
        ] {
            let a = &found[&format!("service/{s}/{what}")];
            assert_eq!(
                (a.namespace(), a.metric_name(), a.threshold()),
                (Some("AWS/ECS"), Some(metric), Some(threshold)),
                "{s} {what}"
            );
            assert_eq!(a.statistic().unwrap().as_str(), "Average");
            assert_eq!(
                dims(a),
                BTreeMap::from([
                    ("ClusterName".to_string(), cluster.clone()),
                    ("ServiceName".to_string(), service.clone())
                ])
            );
        }
    }

    // The database: CPU, and free storage in bytes.
    let rds = aws_sdk_rds::Client::new(config);
    let dbs = rds.describe_db_instances().send().await.unwrap();
    let db = dbs.db_instances()[0].db_instance_identifier().unwrap().to_string();
    let by_db = BTreeMap::from([("DBInstanceIdentifier".to_string(), db)]);
    let cpu = &found["database/cpu"];
    assert_eq!(
        (cpu.namespace(), cpu.metric_name(), cpu.threshold()),
        (Some("AWS/RDS"), Some("CPUUtilization"), Some(e.database_cpu))
    );
    assert_eq!(dims(cpu), by_db);
    let storage = &found["database/free-storage"];
    assert_eq!(
        (storage.metric_name(), storage.threshold()),
        (
            Some("FreeStorageSpace"),
            Some(e.free_storage_gib * 1024.0 * 1024.0 * 1024.0)
        )
    );
    assert_eq!(storage.comparison_operator().unwrap().as_str(), "LessThanThreshold");
    assert_eq!(storage.statistic().unwrap().as_str(), "Minimum");
    assert_eq!(dims(storage), by_db);

    // The dashboard: a graph per alarm, tagged.
    let out = cw.get_dashboard().dashboard_name(&dashboard).send().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(out.dashboard_body().unwrap()).unwrap();
    let mut titles: Vec<String> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["properties"]["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    assert_eq!(titles, expected_names);
    let tags = cw
        .list_tags_for_resource()
        .resource_arn(out.dashboard_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(tags.tags()).get("webstack.io/owner"), Some(&owner));
}

/// `serviceCpuPercent` changed in the spec: both services' CPU alarms and their graphs follow.
pub async fn threshold_updated(config: &SdkConfig, client: &Client, ns: &str, stack: &str, cpu: i32) {
    let api = Api::<WebStack>::namespaced(client.clone(), ns);
    let patch = serde_json::json!({"spec": {"alarms": {"serviceCpuPercent": cpu}}});
    api.patch(stack, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let ws = api.get(stack).await.unwrap();
    let dashboard = ws.status.unwrap().alarms.unwrap().dashboard.unwrap();
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let prefix = format!("{dashboard}/");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = alarms(&cw, &prefix).await;
        let cpu_alarms: Vec<Option<f64>> = found
            .iter()
            .filter(|(k, _)| k.starts_with("service/") && k.ends_with("/cpu"))
            .map(|(_, a)| a.threshold())
            .collect();
        let body = cw.get_dashboard().dashboard_name(&dashboard).send().await.unwrap();
        let body: serde_json::Value = serde_json::from_str(body.dashboard_body().unwrap()).unwrap();
        let graphed = body["widgets"].as_array().unwrap().iter().any(|w| {
            w["properties"]["title"].as_str().unwrap().ends_with("/cpu")
                && w["properties"]["title"].as_str().unwrap().starts_with("service/")
                && w["properties"]["annotations"]["horizontal"][0]["value"] == serde_json::json!(f64::from(cpu))
        });
        if !cpu_alarms.is_empty() && cpu_alarms.iter().all(|t| *t == Some(f64::from(cpu))) && graphed {
            // The other alarms are unchanged.
            assert_eq!(found.len(), 8);
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "serviceCpuPercent {cpu} not written to the alarms in 60s: {cpu_alarms:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
