//! validate: a StaticSite spec as the distribution and bucket it asks for ([`DesiredSite`]).
//! What the schema and CEL cannot check is checked here, before any AWS call: managed cache
//! policy names, CloudFront's method sets, the certificate's and web ACL's form, and that a route
//! to the load balancer has a stack with one and a listener CloudFront can reach it on without a
//! redirect loop ([`origin_listener`]).

use crate::api::{
    HttpMethod, HttpProtocol, PriceClass, RouteOrigin, StaticSiteSettings, ViewerProtocolPolicy, WebStack,
};
use crate::model::site::{
    ALL_VIEWER, BUCKET_ORIGIN, Behavior, CustomOrigin, DesiredSite, DistributionConfig, LOAD_BALANCER_ORIGIN,
    METHOD_SETS, cache_policy_id,
};
use crate::model::{InvalidSpec, Owner, TagMap, invalid};

/// The stack's load balancer as a route to it needs it: DNS name and the listener CloudFront
/// reaches it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadBalancer {
    Ready {
        dns_name: String,
        port: i32,
        https: bool,
    },
    /// The stack has not reported its load balancer yet.
    Pending,
    /// The spec cannot work with this stack: the field and why.
    Invalid(InvalidSpec),
}

/// The listener of `lb` CloudFront sends a route's requests to, as (port, HTTPS): the first HTTPS
/// listener (CloudFront speaks TLS to it, and the viewer's Host, which `AllViewer` forwards, is
/// what its certificate must name), else the first HTTP listener whose default action is not a
/// redirect. An HTTP listener that redirects (to HTTPS, typically) would answer every request
/// with a redirect to the viewer's own host, i.e. back to the distribution: a loop.
pub fn origin_listener(lb: &crate::api::LoadBalancerSpec, stack: &str) -> Result<(i32, bool), InvalidSpec> {
    if let Some(https) = lb.listeners.iter().find(|l| l.protocol == HttpProtocol::Https) {
        return Ok((https.port, true));
    }
    let redirects = |l: &&crate::api::ListenerSpec| l.default_action.as_ref().is_some_and(|a| a.redirect.is_some());
    if let Some(http) = lb.listeners.iter().find(|l| !redirects(l)) {
        return Ok((http.port, false));
    }
    let names: Vec<String> = lb
        .listeners
        .iter()
        .map(|l| format!("{} (port {})", l.name, l.port))
        .collect();
    Err(invalid(
        "spec.routes",
        format!(
            "WebStack {stack} has no listener CloudFront can use: it needs an HTTPS listener, or an HTTP listener whose \
             default action is not a redirect; {} redirect(s), which would send every request back to the distribution",
            names.join(", ")
        ),
    ))
}

/// What a route to `stack`'s load balancer would reach.
pub fn load_balancer(stack: Option<&WebStack>, stack_name: Option<&str>) -> LoadBalancer {
    let (Some(ws), Some(name)) = (stack, stack_name) else {
        return match stack_name {
            Some(name) => LoadBalancer::Invalid(invalid("spec.stackRef", format!("WebStack {name} does not exist"))),
            None => LoadBalancer::Invalid(invalid(
                "spec.stackRef",
                "routes with origin loadBalancer need stackRef",
            )),
        };
    };
    let Some(lb) = &ws.spec.load_balancer else {
        return LoadBalancer::Invalid(invalid(
            "spec.stackRef",
            format!("WebStack {name} has no load balancer"),
        ));
    };
    let (port, https) = match origin_listener(lb, name) {
        Ok(listener) => listener,
        Err(e) => return LoadBalancer::Invalid(e),
    };
    let dns = ws
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref()?.dns_name.clone());
    match dns {
        Some(dns_name) => LoadBalancer::Ready { dns_name, port, https },
        None => LoadBalancer::Pending,
    }
}

fn methods(m: &[HttpMethod]) -> Vec<String> {
    let mut v: Vec<String> = m
        .iter()
        .map(|m| {
            serde_json::to_value(m)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn viewer_policy(p: ViewerProtocolPolicy) -> &'static str {
    match p {
        ViewerProtocolPolicy::AllowAll => "allow-all",
        ViewerProtocolPolicy::RedirectToHttps => "redirect-to-https",
        ViewerProtocolPolicy::HttpsOnly => "https-only",
    }
}

fn price_class(p: PriceClass) -> &'static str {
    match p {
        PriceClass::PriceClass100 => "PriceClass_100",
        PriceClass::PriceClass200 => "PriceClass_200",
        PriceClass::PriceClassAll => "PriceClass_All",
    }
}

/// Everything a site's names derive from.
pub struct Names {
    pub bucket: String,
    pub oac: String,
    pub comment: String,
}

/// The bucket (`spec.bucketName`, else derived: globally unique, 63 characters at most), the
/// Origin Access Control's name and the distribution's comment (it carries the uid: how a
/// distribution whose id was lost is found).
pub fn names(settings: &StaticSiteSettings, owner: &Owner) -> Names {
    let mut comment = format!("webstack {} {}/{}", owner.uid, owner.namespace, owner.name);
    comment.truncate(128);
    Names {
        bucket: settings
            .bucket_name
            .clone()
            .unwrap_or_else(|| owner.global_name("wss", 63)),
        oac: owner.aws_name("wss", 64),
        comment,
    }
}

/// Validates a site. `lb` is what routes to the load balancer reach (`None`: no route needs it).
pub fn validate(
    settings: &StaticSiteSettings,
    owner: &Owner,
    region: &str,
    lb: Option<&LoadBalancer>,
    tags: TagMap,
) -> Result<Result<DesiredSite, String>, InvalidSpec> {
    if let Some(arn) = &settings.certificate_arn
        && !(arn.starts_with("arn:aws") && arn.contains(":acm:us-east-1:") && arn.contains(":certificate/"))
    {
        return Err(invalid(
            "spec.certificateArn",
            "CloudFront needs an ACM certificate in us-east-1 (arn:aws:acm:us-east-1:<account>:certificate/<id>)",
        ));
    }
    if !settings.aliases.is_empty() && settings.certificate_arn.is_none() {
        return Err(invalid("spec.certificateArn", "aliases need certificateArn"));
    }
    if let Some(acl) = &settings.web_acl_id {
        let parts: Vec<&str> = acl.splitn(6, ':').collect();
        let global = parts.len() == 6
            && parts[2] == "wafv2"
            && parts[3] == "us-east-1"
            && parts[5].starts_with("global/webacl/")
            && parts[5].split('/').count() == 4;
        if !global {
            return Err(invalid(
                "spec.webAclId",
                format!(
                    "{acl} is not a WAFv2 web ACL of CLOUDFRONT scope (arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>)"
                ),
            ));
        }
    }
    let mut behaviors = Vec::new();
    let mut lb_origin = None;
    for (i, r) in settings.routes.iter().enumerate() {
        let field = format!("spec.routes[{i}]");
        let allowed = methods(&r.allowed_methods);
        if !METHOD_SETS
            .iter()
            .any(|set| set.iter().map(|m| m.to_string()).collect::<Vec<_>>() == allowed)
        {
            return Err(invalid(
                format!("{field}.allowedMethods"),
                "CloudFront allows [GET, HEAD], [GET, HEAD, OPTIONS] or [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]",
            ));
        }
        let cache = cache_policy_id(&r.cache_policy).ok_or_else(|| {
            let known: Vec<&str> = crate::model::site::MANAGED_CACHE_POLICIES
                .iter()
                .map(|(n, _)| *n)
                .collect();
            invalid(
                format!("{field}.cachePolicy"),
                format!(
                    "{} is not a managed cache policy; use one of {}",
                    r.cache_policy,
                    known.join(", ")
                ),
            )
        })?;
        let to_lb = r.origin == RouteOrigin::LoadBalancer;
        if to_lb {
            match lb {
                Some(LoadBalancer::Ready { dns_name, port, https }) => {
                    lb_origin = Some(CustomOrigin {
                        domain_name: dns_name.clone(),
                        port: *port,
                        https: *https,
                    })
                }
                Some(LoadBalancer::Invalid(e)) => return Err(e.clone()),
                Some(LoadBalancer::Pending) => return Ok(Err("waiting for the stack's load balancer".into())),
                None => {
                    return Err(invalid(
                        format!("{field}.origin"),
                        "routes with origin loadBalancer need stackRef",
                    ));
                }
            }
        }
        behaviors.push(Behavior {
            path_pattern: Some(r.path_pattern.clone()),
            target_origin: if to_lb { LOAD_BALANCER_ORIGIN } else { BUCKET_ORIGIN }.into(),
            viewer_protocol_policy: viewer_policy(r.viewer_protocol_policy).into(),
            allowed_methods: allowed,
            cache_policy_id: cache.into(),
            // An API behind CloudFront gets the viewer's headers, cookies and query strings.
            origin_request_policy_id: to_lb.then(|| ALL_VIEWER.to_string()),
        });
    }
    let root = format!("/{}", settings.default_root_object.trim_start_matches('/'));
    let error_responses = if settings.spa_fallback {
        vec![(403, root.clone(), "200".to_string()), (404, root, "200".to_string())]
    } else {
        Vec::new()
    };
    let mut aliases = settings.aliases.clone();
    aliases.sort();
    let names = names(settings, owner);
    Ok(Ok(DesiredSite {
        config: DistributionConfig {
            comment: names.comment,
            enabled: true,
            bucket_origin: (format!("{}.s3.{region}.amazonaws.com", names.bucket), String::new()),
            load_balancer_origin: lb_origin,
            default_behavior: Behavior {
                path_pattern: None,
                target_origin: BUCKET_ORIGIN.into(),
                viewer_protocol_policy: "redirect-to-https".into(),
                allowed_methods: vec!["GET".into(), "HEAD".into()],
                cache_policy_id: cache_policy_id("CachingOptimized").unwrap_or_default().into(),
                origin_request_policy_id: None,
            },
            behaviors,
            error_responses,
            default_root_object: settings.default_root_object.clone(),
            price_class: price_class(settings.price_class).into(),
            aliases,
            certificate_arn: settings.certificate_arn.clone(),
            web_acl_id: settings.web_acl_id.clone(),
        },
        bucket: names.bucket,
        region: region.to_string(),
        oac_name: names.oac,
        caller_reference: owner.uid.clone(),
        tags,
        deep: true,
    }))
}
