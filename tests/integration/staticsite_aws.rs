//! The StaticSite's AWS side against the emulator: the bucket, the Origin Access Control and the
//! distribution created as planned, read back through the SDK (private bucket, policy scoped to the
//! distribution, OAC on the S3 origin, the API behaviour on the load balancer origin); a second
//! observe plans nothing (the rendered configuration round-trips canonically); a change is exactly
//! its update; deletion in order leaves nothing.

use webstack_operator::api::{DeletionPolicy, StaticSiteSpec};
use webstack_operator::aws::{Clients, cloudfront, s3};
use webstack_operator::model::Owner;
use webstack_operator::model::site::{DesiredSite, ObservedSite, bucket_policy};
use webstack_operator::staticsite::plan::{Step, plan, plan_cleanup, wanted};
use webstack_operator::staticsite::validate::{LoadBalancer, validate};

use crate::harness::moto::Moto;
use crate::harness::unique;

const SITE: &str = "stackRef: {name: netflux}
defaultRootObject: index.html
routes:
  - {pathPattern: /api/*, origin: loadBalancer, viewerProtocolPolicy: https-only,
     allowedMethods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE], cachePolicy: CachingDisabled}";

fn desired(uid: &str, yaml: &str) -> DesiredSite {
    let spec: StaticSiteSpec = serde_yaml::from_str(yaml).unwrap();
    let owner = Owner {
        cluster_id: "it".into(),
        namespace: "movies".into(),
        kind: "StaticSite",
        name: "netflux-web".into(),
        uid: uid.into(),
    };
    // The stack's HTTPS listener (port 8443 here): CloudFront speaks TLS to it.
    let lb = LoadBalancer::Ready {
        dns_name: "netflux-1.us-east-1.elb.amazonaws.com".into(),
        port: 8443,
        https: true,
    };
    let tags = owner.tags(&Default::default(), "static-site", "n");
    validate(&spec.settings, &owner, "us-east-1", Some(&lb), tags)
        .unwrap()
        .unwrap()
}

/// Everything observe reads on a deep observe.
async fn observe(c: &Clients, d: &DesiredSite, id: Option<&str>) -> ObservedSite {
    let mut o = ObservedSite {
        bucket: s3::observe(&c.s3, &d.bucket, true).await.unwrap(),
        oac: cloudfront::find_oac(&c.cloudfront, &d.oac_name).await.unwrap(),
        distribution: None,
    };
    let id = match id {
        Some(id) => Some(id.to_string()),
        None => cloudfront::find_by_comment(&c.cloudfront, &d.config.comment)
            .await
            .unwrap(),
    };
    if let Some(id) = id
        && let Some(mut dist) = cloudfront::find(&c.cloudfront, &id).await.unwrap()
    {
        dist.tags = Some(cloudfront::tags(&c.cloudfront, &dist.arn).await.unwrap());
        o.distribution = Some(dist);
    }
    o
}

/// Applies `steps` the way the controller does (creates feed later steps).
async fn apply(c: &Clients, d: &DesiredSite, o: &ObservedSite, steps: &[Step]) {
    let mut oac = o.oac.clone();
    let mut dist = o.distribution.clone();
    for step in steps {
        match step {
            Step::CreateBucket => s3::create(&c.s3, &d.bucket, &d.region, &d.tags).await.unwrap(),
            Step::BlockPublicAccess => s3::block_public_access(&c.s3, &d.bucket).await.unwrap(),
            Step::EnforceOwnership => s3::enforce_ownership(&c.s3, &d.bucket).await.unwrap(),
            Step::Encrypt => s3::encrypt(&c.s3, &d.bucket).await.unwrap(),
            Step::CreateOac => oac = Some(cloudfront::create_oac(&c.cloudfront, &d.oac_name, "it").await.unwrap()),
            Step::CreateDistribution => {
                let config = wanted(
                    d,
                    &ObservedSite {
                        oac: oac.clone(),
                        ..ObservedSite::default()
                    },
                );
                dist = Some(
                    cloudfront::create(&c.cloudfront, &config, &d.caller_reference, &d.tags)
                        .await
                        .unwrap(),
                )
            }
            Step::UpdateDistribution { .. } => {
                let config = wanted(
                    d,
                    &ObservedSite {
                        oac: oac.clone(),
                        ..ObservedSite::default()
                    },
                );
                cloudfront::update(&c.cloudfront, dist.as_ref().unwrap(), &config, &d.caller_reference)
                    .await
                    .unwrap()
            }
            Step::PutBucketPolicy => {
                let arn = &dist.as_ref().unwrap().arn;
                s3::put_policy(&c.s3, &d.bucket, &bucket_policy(&d.bucket, arn))
                    .await
                    .unwrap()
            }
            Step::DisableDistribution { id } => cloudfront::disable(&c.cloudfront, id).await.unwrap(),
            Step::DeleteDistribution { id, etag } => cloudfront::delete(&c.cloudfront, id, etag).await.unwrap(),
            Step::DeleteOac { id } => cloudfront::delete_oac(&c.cloudfront, id).await.unwrap(),
            Step::EmptyBucket => {
                let pass = s3::empty(&c.s3, &d.bucket, s3::EmptyPass::default()).await.unwrap();
                assert!(pass.done, "emptied in one pass");
            }
            Step::DeleteBucket => s3::delete(&c.s3, &d.bucket).await.unwrap(),
            other => panic!("unexpected step {other}"),
        }
    }
}

#[tokio::test]
async fn static_site_create_read_back_change_delete() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let c = Clients::new(&config);
    let uid = unique("uid");
    let d = desired(&uid, SITE);

    // Create, in one pass.
    let empty = observe(&c, &d, None).await;
    let steps = plan(&d, &empty);
    apply(&c, &d, &empty, &steps).await;
    let o = observe(&c, &d, None).await;
    let dist = o.distribution.clone().expect("the distribution exists");
    assert_eq!(plan(&d, &o), vec![], "what was created reads back as planned");

    // Read back through the SDK.
    let raw = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let block = raw.get_public_access_block().bucket(&d.bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true)),
        "the bucket is private"
    );
    let policy = raw.get_bucket_policy().bucket(&d.bucket).send().await.unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Principal"]["Service"], "cloudfront.amazonaws.com");
    assert_eq!(
        statement["Condition"]["StringEquals"]["AWS:SourceArn"],
        dist.arn.as_str()
    );
    let tags = raw.get_bucket_tagging().bucket(&d.bucket).send().await.unwrap();
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "webstack.io/uid" && t.value() == uid),
        "tagged at creation"
    );
    let cf = aws_sdk_cloudfront::Client::new(&config);
    let got = cf.get_distribution().id(&dist.id).send().await.unwrap();
    let cfg = got.distribution().unwrap().distribution_config().unwrap();
    let origins = cfg.origins().unwrap().items();
    let bucket = origins.iter().find(|o| o.id() == "bucket").unwrap();
    assert_eq!(bucket.origin_access_control_id(), o.oac.as_ref().map(|x| x.id.as_str()));
    let api = &cfg.cache_behaviors().unwrap().items()[0];
    assert_eq!(api.path_pattern(), "/api/*");
    assert_eq!(api.target_origin_id(), "load-balancer");
    assert_eq!(api.viewer_protocol_policy().as_str(), "https-only");
    let methods: Vec<&str> = api
        .allowed_methods()
        .unwrap()
        .items()
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert!(methods.contains(&"PATCH") && methods.contains(&"DELETE"), "{methods:?}");
    let lb = origins.iter().find(|o| o.id() == "load-balancer").unwrap();
    let custom = lb.custom_origin_config().unwrap();
    assert_eq!(custom.origin_protocol_policy().as_str(), "https-only");
    assert_eq!(custom.https_port(), 8443);
    let tls: Vec<&str> = custom
        .origin_ssl_protocols()
        .unwrap()
        .items()
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(tls, ["TLSv1.2"]);

    // A change is exactly its update, and then converged.
    let spa = desired(&uid, &format!("{SITE}\nspaFallback: true"));
    let steps = plan(&spa, &o);
    assert_eq!(
        steps,
        vec![Step::UpdateDistribution {
            id: dist.id.clone(),
            changes: vec!["error responses"]
        }]
    );
    apply(&c, &spa, &o, &steps).await;
    let o = observe(&c, &spa, Some(&dist.id)).await;
    assert_eq!(plan(&spa, &o), vec![]);
    assert_ne!(
        o.distribution.as_ref().unwrap().etag,
        dist.etag,
        "a new ETag per update"
    );

    // Deletion, stage by stage, as the controller runs it.
    raw.put_object()
        .bucket(&d.bucket)
        .key("index.html")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"<h1>netflux</h1>"))
        .send()
        .await
        .unwrap();
    let mut passes = 0;
    loop {
        let o = observe(&c, &spa, Some(&dist.id)).await;
        let steps = plan_cleanup(&o, DeletionPolicy::Delete);
        if steps.is_empty() {
            break;
        }
        // Up to the first wait, as the controller's apply stops there.
        let now: Vec<Step> = steps
            .iter()
            .take_while(|s| !matches!(s, Step::AwaitDeployed { .. }))
            .cloned()
            .collect();
        apply(&c, &spa, &o, &now).await;
        passes += 1;
        assert!(passes < 10, "deletion does not finish: {steps:?}");
    }
    assert!(
        s3::observe(&c.s3, &d.bucket, false).await.unwrap().is_none(),
        "bucket deleted"
    );
    assert!(
        cloudfront::find(&c.cloudfront, &dist.id).await.unwrap().is_none(),
        "distribution deleted"
    );
    assert!(
        cloudfront::find_oac(&c.cloudfront, &d.oac_name)
            .await
            .unwrap()
            .is_none(),
        "OAC deleted"
    );
}

/// Emptying a bucket: a pass deletes at most its pages of versions (the next pass goes on), and
/// a version S3 refuses to delete (a legal hold under Object Lock) ends the pass with an error
/// naming the key, never a loop that lists and retries it forever; once released, it empties.
#[tokio::test]
async fn emptying_a_bucket_is_bounded_and_stops_on_a_key_s3_refuses() {
    use aws_sdk_s3::types::{
        BucketVersioningStatus, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
        ObjectLockLegalHoldStatus, VersioningConfiguration,
    };
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let c = Clients::new(&config);
    let admin = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("empty-me");
    admin.create_bucket().bucket(&bucket).send().await.unwrap();
    admin
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    admin
        .put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for i in 0..5 {
        admin
            .put_object()
            .bucket(&bucket)
            .key(format!("page-{i}.html"))
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let hold = |status| {
        admin
            .put_object_legal_hold()
            .bucket(&bucket)
            .key("page-4.html")
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            .send()
    };
    hold(ObjectLockLegalHoldStatus::On).await.unwrap();
    // A pass of two pages of two: four versions go, more remain.
    let small = s3::EmptyPass { page: 2, pages: 2 };
    let first = s3::empty(&c.s3, &bucket, small).await.unwrap();
    assert_eq!(
        first,
        s3::Emptied {
            removed: 4,
            done: false
        }
    );
    // The held one: refused, named, a person's to act on (Stalled), not retried in a loop.
    let mark = moto.calls().len();
    let err = s3::empty(&c.s3, &bucket, small).await.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.class),
        ("AccessDenied", webstack_operator::aws::RetryClass::Terminal)
    );
    assert!(err.message.contains("object page-4.html"), "{err}");
    let deletes = moto.calls()[mark..]
        .iter()
        .filter(|c| c.action.contains("delete"))
        .count();
    assert_eq!(deletes, 1, "one refused batch, no retry loop");
    // Released: the next pass empties it.
    hold(ObjectLockLegalHoldStatus::Off).await.unwrap();
    let last = s3::empty(&c.s3, &bucket, small).await.unwrap();
    assert_eq!(last, s3::Emptied { removed: 1, done: true });
    s3::delete(&c.s3, &bucket).await.unwrap();
}
