//! StaticSite end to end: reference architecture 4's site applied from `examples/` with its stack.
//! The distribution deploys over a few seconds (the emulator's state manager), so `Reconciling`
//! says so before `Ready`. Then read back: a private bucket, a policy scoped to the distribution,
//! the OAC on the S3 origin, `/api/*` on the load balancer's origin (HTTPS-only, with PATCH and
//! DELETE). Then the SPA fallback, a hand edit reverted, an unknown cache policy stalling with no
//! AWS mutation, and deletion leaving nothing.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use webstack_operator::api::{StaticSite, WebStack};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::manifest::{apply_all, load_manifests};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::repo_root;
use crate::harness::wait::{gone, until};

fn condition(s: &StaticSite, type_: &str) -> Option<(String, String, String)> {
    let c = s.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn ready_at(s: &StaticSite, generation: i64) -> bool {
    condition(s, "Ready").is_some_and(|c| c.0 == "True")
        && s.status.as_ref().and_then(|st| st.observed_generation) == Some(generation)
}

#[tokio::test]
async fn netflux_static_site_from_the_example() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-site").await;
    let moto = Moto::start();
    // CloudFront deploys over 3 seconds instead of at once.
    moto.moto_api(
        "state-manager/set-transition",
        r#"{"model_name": "cloudfront::distribution", "transition": {"progression": "time", "seconds": 3}}"#,
    );
    let config = moto.sdk_config().await;
    let op = Operator::start(&moto, &ns, "3s");
    let objects = load_manifests(&repo_root().join("examples/4-netflux-path-routing-static-site.yaml"));
    apply_all(&client, &ns, &objects).await;
    let sites: Api<StaticSite> = Api::namespaced(client.clone(), &ns);
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);

    // Deploying, then Ready with the URL in status.
    until(&sites, "netflux-web", &op, "the distribution deploying", 90, |s| {
        condition(s, "Reconciling").is_some_and(|c| c.0 == "True" && c.2.contains("InProgress"))
    })
    .await;
    let site = until(&sites, "netflux-web", &op, "Ready", 90, |s| ready_at(s, 1)).await;
    let st = site.status.clone().unwrap();
    assert!(
        st.domain_name
            .as_deref()
            .is_some_and(|d| d.ends_with(".cloudfront.net")),
        "{st:?}"
    );
    let (bucket, id, oac) = (
        st.bucket.unwrap(),
        st.distribution_id.unwrap(),
        st.origin_access_control_id.unwrap(),
    );
    assert_eq!(
        site.status.as_ref().unwrap().deployment_status.as_deref(),
        Some("Deployed")
    );
    let alb = stacks
        .get("netflux")
        .await
        .unwrap()
        .status
        .unwrap()
        .load_balancer
        .unwrap()
        .dns_name
        .unwrap();
    // Settled: each re-check reads the distribution, the bucket policy and the public access block.
    let before = op.steady_reconciles().len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let steady: Vec<u32> = op
        .steady_reconciles()
        .into_iter()
        .skip(before)
        .filter(|(kind, _)| kind == "StaticSite")
        .map(|(_, calls)| calls)
        .collect();
    println!("StaticSite AWS calls per steady-state reconcile: {steady:?}");
    assert!(!steady.is_empty() && steady.iter().all(|c| *c <= 3), "{steady:?}");

    // Read back through the SDK.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let block = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ],
        [Some(true); 4],
        "the bucket is private"
    );
    let policy: serde_json::Value = serde_json::from_str(
        s3.get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap(),
    )
    .unwrap();
    let cf = aws_sdk_cloudfront::Client::new(&config);
    let dist = cf.get_distribution().id(&id).send().await.unwrap();
    let dist = dist.distribution().unwrap();
    assert_eq!(
        policy["Statement"][0]["Condition"]["StringEquals"]["AWS:SourceArn"],
        dist.arn()
    );
    assert_eq!(policy["Statement"][0]["Action"], "s3:GetObject");
    let cfg = dist.distribution_config().unwrap();
    let origins = cfg.origins().unwrap().items();
    let s3_origin = origins.iter().find(|o| o.id() == "bucket").unwrap();
    assert_eq!(
        s3_origin.origin_access_control_id(),
        Some(oac.as_str()),
        "the OAC is attached"
    );
    let lb_origin = origins.iter().find(|o| o.id() == "load-balancer").unwrap();
    assert_eq!(lb_origin.domain_name(), alb);
    let api = &cfg.cache_behaviors().unwrap().items()[0];
    assert_eq!(
        (api.path_pattern(), api.target_origin_id()),
        ("/api/*", "load-balancer")
    );
    assert_eq!(api.viewer_protocol_policy().as_str(), "https-only");
    let methods: Vec<&str> = api
        .allowed_methods()
        .unwrap()
        .items()
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert!(methods.contains(&"PATCH") && methods.contains(&"DELETE"), "{methods:?}");
    assert_eq!(
        cfg.default_cache_behavior().unwrap().viewer_protocol_policy().as_str(),
        "redirect-to-https"
    );
    assert_eq!(cfg.default_root_object(), Some("index.html"));

    // SPA fallback: 403 and 404 from the bucket answer /index.html with 200.
    let ssa = PatchParams::apply("e2e-user");
    let mut site_doc = objects
        .iter()
        .find(|o| o.types.as_ref().unwrap().kind == "StaticSite")
        .unwrap()
        .clone();
    site_doc.data["spec"]["spaFallback"] = serde_json::json!(true);
    sites
        .patch("netflux-web", &ssa, &Patch::Apply(&site_doc))
        .await
        .unwrap();
    until(&sites, "netflux-web", &op, "the SPA fallback deployed", 90, |s| {
        ready_at(s, 2)
    })
    .await;
    let cfg = cf.get_distribution_config().id(&id).send().await.unwrap();
    let errors: Vec<(i32, Option<&str>, Option<&str>)> = cfg
        .distribution_config()
        .unwrap()
        .custom_error_responses()
        .unwrap()
        .items()
        .iter()
        .map(|e| (e.error_code(), e.response_page_path(), e.response_code()))
        .collect();
    assert_eq!(
        errors,
        [
            (403, Some("/index.html"), Some("200")),
            (404, Some("/index.html"), Some("200"))
        ]
    );

    // A hand edit (the API behaviour removed, the bucket policy loosened) is reverted.
    let current = cf.get_distribution_config().id(&id).send().await.unwrap();
    let mut edited = current.distribution_config().unwrap().clone();
    edited.cache_behaviors = Some(
        aws_sdk_cloudfront::types::CacheBehaviors::builder()
            .quantity(0)
            .build()
            .unwrap(),
    );
    cf.update_distribution()
        .id(&id)
        .if_match(current.e_tag().unwrap())
        .distribution_config(edited)
        .send()
        .await
        .unwrap();
    s3.delete_public_access_block().bucket(&bucket).send().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let cfg = cf.get_distribution_config().id(&id).send().await.unwrap();
        let behaviours = cfg
            .distribution_config()
            .unwrap()
            .cache_behaviors()
            .map(|b| b.items().len())
            .unwrap_or(0);
        let blocked = s3.get_public_access_block().bucket(&bucket).send().await.is_ok();
        if behaviours == 1 && blocked {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "drift not corrected:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // An unknown cache policy: Stalled naming the field, and no AWS mutation.
    let mark = moto.calls().len();
    let mut bad = site_doc.clone();
    bad.data["spec"]["routes"][0]["cachePolicy"] = serde_json::json!("CachingSometimes");
    sites.patch("netflux-web", &ssa, &Patch::Apply(&bad)).await.unwrap();
    let stalled = until(&sites, "netflux-web", &op, "Stalled on the cache policy", 60, |s| {
        condition(s, "Stalled").is_some_and(|c| c.0 == "True")
    })
    .await;
    let (_, reason, message) = condition(&stalled, "Stalled").unwrap();
    assert_eq!(reason, "InvalidSpec");
    assert!(
        message.contains("spec.routes[0].cachePolicy") && message.contains("CachingSometimes"),
        "{message}"
    );
    let operator = moto.operator_key().id;
    let mutations: Vec<_> = moto.calls()[mark..]
        .iter()
        .filter(|c| c.mutates() && c.access_key == operator && c.service == "cloudfront")
        .cloned()
        .collect();
    assert!(mutations.is_empty(), "{mutations:?}");

    // Deletion of the whole file: the stack waits for the site routing to it; nothing is left.
    sites
        .patch("netflux-web", &ssa, &Patch::Apply(&site_doc))
        .await
        .unwrap();
    crate::harness::manifest::delete_all(&client, &ns, &objects).await;
    let waiting = until(&stacks, "netflux", &op, "the stack to wait for its site", 60, |w| {
        w.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.reason == "Deleting" && c.message.contains("StaticSite/netflux-web"))
        })
    })
    .await;
    assert!(waiting.metadata.deletion_timestamp.is_some());
    gone(&sites, "netflux-web", &op, 120).await;
    gone(&stacks, "netflux", &op, 120).await;
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS: {left:#?}");
    assert!(
        cf.get_distribution().id(&id).send().await.is_err(),
        "the distribution is deleted"
    );
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_err(),
        "the bucket is deleted"
    );
    let _ = DeleteParams::default();
}
