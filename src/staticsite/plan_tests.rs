use super::*;
use crate::api::StaticSiteSpec;
use crate::model::Owner;
use crate::model::site::{ObservedBucket, ObservedDistribution, ObservedOac};
use crate::staticsite::validate::{LoadBalancer, validate};

fn owner() -> Owner {
    Owner {
        cluster_id: "test".into(),
        namespace: "movies".into(),
        kind: "StaticSite",
        name: "netflux-web".into(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
    }
}

/// Reference architecture 4's site: `/api/*` to the load balancer, HTTPS-only, every method.
const NETFLUX: &str = "stackRef: {name: netflux}
defaultRootObject: index.html
priceClass: PriceClass_All
routes:
  - pathPattern: /api/*
    origin: loadBalancer
    viewerProtocolPolicy: https-only
    allowedMethods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
    cachePolicy: CachingDisabled";

fn lb() -> LoadBalancer {
    LoadBalancer::Ready {
        dns_name: "netflux-123.us-east-1.elb.amazonaws.com".into(),
        port: 80,
        https: false,
    }
}

fn desired(yaml: &str) -> Result<DesiredSite, crate::model::InvalidSpec> {
    let spec: StaticSiteSpec = serde_yaml::from_str(yaml).expect("spec");
    let tags = owner().tags(&Default::default(), "static-site", "n");
    validate(&spec.settings, &owner(), "us-east-1", Some(&lb()), tags).map(|d| d.expect("not waiting"))
}

/// What AWS holds once `d` is in place.
fn converged(d: &DesiredSite) -> ObservedSite {
    let oac = ObservedOac {
        id: "E2OAC".into(),
        name: d.oac_name.clone(),
    };
    let arn = "arn:aws:cloudfront::123456789012:distribution/E1".to_string();
    let mut config = d.config.clone();
    config.bucket_origin.1 = oac.id.clone();
    ObservedSite {
        bucket: Some(ObservedBucket {
            name: d.bucket.clone(),
            tags: Some(d.tags.clone()),
            public_access_blocked: true,
            ownership_enforced: Some(true),
            encrypted: Some(true),
            policy: Some(crate::model::site::bucket_policy(&d.bucket, &arn)),
        }),
        oac: Some(oac),
        distribution: Some(ObservedDistribution {
            id: "E1".into(),
            arn,
            domain_name: "d111.cloudfront.net".into(),
            status: "Deployed".into(),
            etag: "ETAG1".into(),
            config,
            tags: Some(d.tags.clone()),
        }),
    }
}

fn names(steps: &[Step]) -> Vec<String> {
    steps.iter().map(ToString::to_string).collect()
}

#[test]
fn renders_architecture_4() {
    let d = desired(NETFLUX).unwrap();
    assert_eq!(d.bucket, "wss-movies-netflux-web-0f1e2d3c4b5a6978");
    let c = &d.config;
    assert_eq!(
        c.bucket_origin.0,
        "wss-movies-netflux-web-0f1e2d3c4b5a6978.s3.us-east-1.amazonaws.com"
    );
    assert_eq!(
        c.load_balancer_origin
            .as_ref()
            .map(|o| (o.domain_name.as_str(), o.port, o.https)),
        Some(("netflux-123.us-east-1.elb.amazonaws.com", 80, false))
    );
    assert_eq!(c.default_behavior.viewer_protocol_policy, "redirect-to-https");
    assert_eq!(c.default_behavior.allowed_methods, ["GET", "HEAD"]);
    assert_eq!(
        c.default_behavior.cache_policy_id,
        "658327ea-f89d-4fab-a63d-7e88639e58f6"
    );
    let api = &c.behaviors[0];
    assert_eq!(api.path_pattern.as_deref(), Some("/api/*"));
    assert_eq!(api.target_origin, "load-balancer");
    assert_eq!(api.viewer_protocol_policy, "https-only");
    assert_eq!(
        api.allowed_methods,
        ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    );
    assert_eq!(api.cache_policy_id, "4135ea2d-6df8-44a3-9df3-4b5a84be39ad");
    assert_eq!(
        api.origin_request_policy_id.as_deref(),
        Some(crate::model::site::ALL_VIEWER)
    );
    assert_eq!(c.default_root_object, "index.html");
    assert_eq!(c.price_class, "PriceClass_All");
    assert!(c.error_responses.is_empty() && c.aliases.is_empty() && c.certificate_arn.is_none());
    assert!(c.comment.contains("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));
}

#[test]
fn creates_everything_in_order() {
    let d = desired(NETFLUX).unwrap();
    assert_eq!(
        names(&plan(&d, &ObservedSite::default())),
        [
            "create the bucket",
            "block all public access to the bucket",
            "enforce bucket-owner object ownership",
            "turn on default encryption (SSE-S3)",
            "create the origin access control",
            "create the distribution",
            "scope the bucket policy to the distribution"
        ]
    );
}

#[test]
fn an_unchanged_spec_never_updates() {
    let d = desired(NETFLUX).unwrap();
    assert_eq!(plan(&d, &converged(&d)), vec![]);
    // A steady-state observe reads no tags, ownership or encryption: still nothing.
    let mut light = converged(&d);
    let b = light.bucket.as_mut().unwrap();
    (b.tags, b.ownership_enforced, b.encrypted) = (None, None, None);
    light.distribution.as_mut().unwrap().tags = None;
    assert_eq!(plan(&d, &light), vec![]);
}

#[test]
fn each_field_change_is_exactly_its_update() {
    let base = desired(NETFLUX).unwrap();
    let observed = converged(&base);
    let cert = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    let acl = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/site/a1b2c3d4";
    let cases = [
        ("spaFallback", serde_json::json!(true), "error responses"),
        ("priceClass", serde_json::json!("PriceClass_100"), "price class"),
        (
            "defaultRootObject",
            serde_json::json!("home.html"),
            "default root object",
        ),
        ("certificateArn", serde_json::json!(cert), "certificate"),
        ("webAclId", serde_json::json!(acl), "web ACL"),
    ];
    for (field, value, change) in cases {
        let mut spec: serde_json::Value = serde_yaml::from_str(NETFLUX).unwrap();
        spec[field] = value;
        let d = desired(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(
            plan(&d, &observed),
            vec![Step::UpdateDistribution {
                id: "E1".into(),
                changes: vec![change]
            }],
            "{field}"
        );
    }
    let cached = desired(&NETFLUX.replace("CachingDisabled", "CachingOptimized")).unwrap();
    assert_eq!(names(&plan(&cached, &observed)), ["update distribution E1: behaviours"]);
    let aliased = desired(&NETFLUX.replace(
        "priceClass: PriceClass_All",
        &format!("priceClass: PriceClass_All\naliases: [www.netflux.example]\ncertificateArn: {cert}"),
    ))
    .unwrap();
    assert_eq!(
        names(&plan(&aliased, &observed)),
        ["update distribution E1: aliases, certificate"]
    );
    // The load balancer moved (the stack replaced it).
    let mut moved = observed.clone();
    moved
        .distribution
        .as_mut()
        .unwrap()
        .config
        .load_balancer_origin
        .as_mut()
        .unwrap()
        .domain_name = "old".into();
    assert_eq!(
        names(&plan(&base, &moved)),
        ["update distribution E1: load balancer origin"]
    );
}

#[test]
fn hand_made_drift_is_corrected() {
    let d = desired(NETFLUX).unwrap();
    let mut o = converged(&d);
    o.distribution.as_mut().unwrap().config.behaviors.clear();
    let b = o.bucket.as_mut().unwrap();
    b.public_access_blocked = false;
    b.policy = Some(
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x/*"}]}),
    );
    assert_eq!(
        names(&plan(&d, &o)),
        [
            "block all public access to the bucket",
            "update distribution E1: behaviours",
            "scope the bucket policy to the distribution"
        ]
    );
}

#[test]
fn bad_input_names_the_field() {
    let cases = [
        (
            NETFLUX.replace("CachingDisabled", "CachingSometimes"),
            "spec.routes[0].cachePolicy",
        ),
        (
            NETFLUX.replace("[GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]", "[GET, POST]"),
            "spec.routes[0].allowedMethods",
        ),
        (
            format!("{NETFLUX}\nwebAclId: a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"),
            "spec.webAclId",
        ),
        (
            format!("{NETFLUX}\nwebAclId: arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/y"),
            "spec.webAclId",
        ),
        (
            format!("{NETFLUX}\ncertificateArn: arn:aws:acm:eu-west-1:123456789012:certificate/x"),
            "spec.certificateArn",
        ),
        (format!("{NETFLUX}\naliases: [www.example.com]"), "spec.certificateArn"),
    ];
    for (yaml, field) in cases {
        assert_eq!(desired(&yaml).unwrap_err().field, field, "{yaml}");
    }
    let spec: StaticSiteSpec = serde_yaml::from_str(&NETFLUX.replace("stackRef: {name: netflux}\n", "")).unwrap();
    let err = validate(&spec.settings, &owner(), "us-east-1", None, Default::default()).unwrap_err();
    assert_eq!(err.field, "spec.routes[0].origin");
}

#[test]
fn deletion_disables_waits_then_deletes_in_order() {
    let d = desired(NETFLUX).unwrap();
    let o = converged(&d);
    assert_eq!(
        names(&plan_cleanup(&o, DeletionPolicy::Delete)),
        [
            "disable distribution E1",
            "wait until distribution E1 is deployed",
            "delete distribution E1",
            "delete origin access control E2OAC",
            "delete every object version of the bucket",
            "delete the bucket"
        ]
    );
    let mut disabled = o.clone();
    let dist = disabled.distribution.as_mut().unwrap();
    dist.config.enabled = false;
    dist.status = "InProgress".into();
    assert_eq!(
        names(&plan_cleanup(&disabled, DeletionPolicy::Delete))[0],
        "wait until distribution E1 is deployed"
    );
    disabled.distribution.as_mut().unwrap().status = "Deployed".into();
    assert_eq!(
        names(&plan_cleanup(&disabled, DeletionPolicy::Delete))[0],
        "delete distribution E1"
    );
    assert_eq!(
        names(&plan_cleanup(&o, DeletionPolicy::Retain)),
        [
            "remove the ownership tags of the bucket",
            "remove the ownership tags of arn:aws:cloudfront::123456789012:distribution/E1"
        ]
    );
    assert_eq!(plan_cleanup(&ObservedSite::default(), DeletionPolicy::Delete), vec![]);
}

/// The listener CloudFront reaches the stack's load balancer on: HTTPS when there is one (example
/// 2: port 80 redirects to it), else an HTTP listener that does not redirect; a stack whose only
/// listeners redirect is refused for the route, naming them (the loop of issue 22).
#[test]
fn the_origin_is_a_listener_that_never_redirects_back() {
    use crate::staticsite::validate::{load_balancer, origin_listener};
    let stack = |listeners: &str| -> crate::api::WebStack {
        let mut ws = crate::api::WebStack::new(
            "webapp",
            serde_yaml::from_str(&format!(
                "network: {{cidr: 10.0.0.0/16}}\nloadBalancer: {{listeners: {listeners}}}"
            ))
            .unwrap(),
        );
        ws.status = Some(crate::api::WebStackStatus {
            load_balancer: Some(crate::api::LoadBalancerStatus {
                dns_name: Some("webapp-1.us-east-1.elb.amazonaws.com".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        ws
    };
    let redirect = "{redirect: {protocol: HTTPS, port: '443', statusCode: HTTP_301}}";
    let https = "{name: https, port: 8443, protocol: HTTPS, certificateArn: 'arn:aws:acm:us-east-1:1:certificate/x'}";
    for (listeners, want) in [
        // Example 2: port 80 redirects to HTTPS; the origin is the HTTPS listener.
        (
            format!("[{{name: http, port: 80, defaultAction: {redirect}}}, {https}]"),
            Ok((8443, true)),
        ),
        (format!("[{https}, {{name: http, port: 80}}]"), Ok((8443, true))),
        // Example 4: HTTP only, no redirect.
        ("[{name: http, port: 80}]".to_string(), Ok((80, false))),
        (
            format!("[{{name: http, port: 80, defaultAction: {redirect}}}, {{name: alt, port: 8080}}]"),
            Ok((8080, false)),
        ),
        (
            format!("[{{name: http, port: 80, defaultAction: {redirect}}}]"),
            Err("http (port 80)"),
        ),
    ] {
        let ws = stack(&listeners);
        let got = origin_listener(ws.spec.load_balancer.as_ref().unwrap(), "webapp");
        match (got, want) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got, want, "{listeners}");
                assert_eq!(
                    load_balancer(Some(&ws), Some("webapp")),
                    LoadBalancer::Ready {
                        dns_name: "webapp-1.us-east-1.elb.amazonaws.com".into(),
                        port: want.0,
                        https: want.1
                    }
                );
            }
            (Err(e), Err(named)) => {
                assert_eq!(e.field, "spec.routes");
                assert!(e.message.contains(named) && e.message.contains("redirect"), "{e}");
                assert!(matches!(
                    load_balancer(Some(&ws), Some("webapp")),
                    LoadBalancer::Invalid(_)
                ));
            }
            (got, want) => panic!("{listeners}: {got:?}, wanted {want:?}"),
        }
    }
}
