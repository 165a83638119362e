//! CloudFront: a site's distribution (rendered from and read back into the canonical
//! [`DistributionConfig`]) and its Origin Access Control. CloudFront is global: its client
//! signs for us-east-1 whatever the stack's region.

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{
    Aliases, AllowedMethods, CacheBehavior, CacheBehaviors, CachedMethods, CustomErrorResponse, CustomErrorResponses,
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig as SdkConfig, DistributionConfigWithTags, Method,
    MinimumProtocolVersion, Origin, OriginAccessControlConfig, OriginAccessControlOriginTypes,
    OriginAccessControlSigningBehaviors, OriginAccessControlSigningProtocols, OriginProtocolPolicy, OriginSslProtocols,
    Origins, PriceClass, S3OriginConfig, SslProtocol, SslSupportMethod, Tag, TagKeys, Tags, ViewerCertificate,
    ViewerProtocolPolicy,
};

use super::{AwsError, TagMap, classify, deleted};
use crate::model::site::{
    BUCKET_ORIGIN, Behavior, CustomOrigin, DistributionConfig, LOAD_BALANCER_ORIGIN, ObservedDistribution, ObservedOac,
};

/// CloudFront's tags for `tags`.
fn cf_tags(op: &'static str, tags: &TagMap) -> Result<Tags, AwsError> {
    let items = tags
        .iter()
        .map(|(k, v)| built(op, Tag::builder().key(k).value(v).build()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tags::builder().set_items(Some(items)).build())
}

/// A request the SDK's builders refused (a required field missing): not retryable.
fn built<T>(
    operation: &'static str,
    r: Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T, AwsError> {
    r.map_err(|e| AwsError::invalid_request(operation, e))
}

fn allowed_methods(op: &'static str, methods: &[String]) -> Result<AllowedMethods, AwsError> {
    let cached = built(
        op,
        CachedMethods::builder()
            .quantity(2)
            .items(Method::Get)
            .items(Method::Head)
            .build(),
    )?;
    built(
        op,
        AllowedMethods::builder()
            .quantity(methods.len() as i32)
            .set_items(Some(methods.iter().map(|m| Method::from(m.as_str())).collect()))
            .cached_methods(cached)
            .build(),
    )
}

/// The SDK's configuration for `config`, with `caller_reference`.
fn render(op: &'static str, config: &DistributionConfig, caller_reference: &str) -> Result<SdkConfig, AwsError> {
    let (bucket_domain, oac) = &config.bucket_origin;
    let mut origins = vec![built(
        op,
        Origin::builder()
            .id(BUCKET_ORIGIN)
            .domain_name(bucket_domain)
            // With Origin Access Control, the legacy identity is empty (AWS documentation).
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .origin_access_control_id(oac)
            .build(),
    )?];
    if let Some(lb) = &config.load_balancer_origin {
        let tls = built(
            op,
            OriginSslProtocols::builder()
                .quantity(1)
                .items(SslProtocol::TlSv12)
                .build(),
        )?;
        let custom = built(
            op,
            CustomOriginConfig::builder()
                .http_port(if lb.https { 80 } else { lb.port })
                .https_port(if lb.https { lb.port } else { 443 })
                .origin_protocol_policy(if lb.https {
                    OriginProtocolPolicy::HttpsOnly
                } else {
                    OriginProtocolPolicy::HttpOnly
                })
                .origin_ssl_protocols(tls)
                .build(),
        )?;
        origins.push(built(
            op,
            Origin::builder()
                .id(LOAD_BALANCER_ORIGIN)
                .domain_name(&lb.domain_name)
                .custom_origin_config(custom)
                .build(),
        )?);
    }
    let d = &config.default_behavior;
    let default = built(
        op,
        DefaultCacheBehavior::builder()
            .target_origin_id(&d.target_origin)
            .viewer_protocol_policy(ViewerProtocolPolicy::from(d.viewer_protocol_policy.as_str()))
            .allowed_methods(allowed_methods(op, &d.allowed_methods)?)
            .cache_policy_id(&d.cache_policy_id)
            .set_origin_request_policy_id(d.origin_request_policy_id.clone())
            .compress(true)
            .build(),
    )?;
    let mut behaviors = Vec::new();
    for b in &config.behaviors {
        behaviors.push(built(
            op,
            CacheBehavior::builder()
                .path_pattern(b.path_pattern.clone().unwrap_or_default())
                .target_origin_id(&b.target_origin)
                .viewer_protocol_policy(ViewerProtocolPolicy::from(b.viewer_protocol_policy.as_str()))
                .allowed_methods(allowed_methods(op, &b.allowed_methods)?)
                .cache_policy_id(&b.cache_policy_id)
                .set_origin_request_policy_id(b.origin_request_policy_id.clone())
                .compress(true)
                .build(),
        )?);
    }
    let mut errors = Vec::new();
    for (code, page, response) in &config.error_responses {
        errors.push(built(
            op,
            CustomErrorResponse::builder()
                .error_code(*code)
                .response_page_path(page)
                .response_code(response)
                .error_caching_min_ttl(10)
                .build(),
        )?);
    }
    let certificate = match &config.certificate_arn {
        Some(arn) => ViewerCertificate::builder()
            .acm_certificate_arn(arn)
            .ssl_support_method(SslSupportMethod::SniOnly)
            .minimum_protocol_version(MinimumProtocolVersion::TlSv122021)
            .build(),
        None => ViewerCertificate::builder()
            .cloud_front_default_certificate(true)
            .build(),
    };
    built(
        op,
        SdkConfig::builder()
            .caller_reference(caller_reference)
            .comment(&config.comment)
            .enabled(config.enabled)
            .origins(built(
                op,
                Origins::builder()
                    .quantity(origins.len() as i32)
                    .set_items(Some(origins))
                    .build(),
            )?)
            .default_cache_behavior(default)
            .cache_behaviors(built(
                op,
                CacheBehaviors::builder()
                    .quantity(behaviors.len() as i32)
                    .set_items(Some(behaviors).filter(|b| !b.is_empty()))
                    .build(),
            )?)
            .custom_error_responses(built(
                op,
                CustomErrorResponses::builder()
                    .quantity(errors.len() as i32)
                    .set_items(Some(errors).filter(|e| !e.is_empty()))
                    .build(),
            )?)
            .aliases(built(
                op,
                Aliases::builder()
                    .quantity(config.aliases.len() as i32)
                    .set_items(Some(config.aliases.clone()).filter(|a| !a.is_empty()))
                    .build(),
            )?)
            .default_root_object(&config.default_root_object)
            .price_class(PriceClass::from(config.price_class.as_str()))
            .viewer_certificate(certificate)
            .web_acl_id(config.web_acl_id.clone().unwrap_or_default())
            .http_version(aws_sdk_cloudfront::types::HttpVersion::Http2)
            .is_ipv6_enabled(true)
            .build(),
    )
}

/// A behaviour as the planner sees it.
fn behavior(
    path: Option<&str>,
    origin: &str,
    policy: &ViewerProtocolPolicy,
    methods: Option<&AllowedMethods>,
    cache: Option<&str>,
    request: Option<&str>,
) -> Behavior {
    let mut allowed: Vec<String> = methods
        .map(|m| m.items().iter().map(|x| x.as_str().to_string()).collect())
        .unwrap_or_default();
    allowed.sort();
    Behavior {
        path_pattern: path.map(String::from),
        target_origin: origin.to_string(),
        viewer_protocol_policy: policy.as_str().to_string(),
        allowed_methods: allowed,
        cache_policy_id: cache.unwrap_or_default().to_string(),
        origin_request_policy_id: request.filter(|r| !r.is_empty()).map(String::from),
    }
}

/// The canonical form of a configuration AWS holds. An origin the operator does not make (added
/// by hand) makes the bucket origin read as empty, so that the plan updates the distribution.
fn read(c: &SdkConfig) -> DistributionConfig {
    let origins = c.origins().map(|o| o.items()).unwrap_or_default();
    let ours = |id: &str| origins.iter().find(|o| o.id() == id);
    let foreign = origins
        .iter()
        .any(|o| o.id() != BUCKET_ORIGIN && o.id() != LOAD_BALANCER_ORIGIN);
    let bucket_origin = match ours(BUCKET_ORIGIN) {
        Some(o) if !foreign => (
            o.domain_name().to_string(),
            o.origin_access_control_id().unwrap_or_default().to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    // Another protocol policy (match-viewer, set by hand) reads as port 0: it differs from any spec.
    let load_balancer_origin = ours(LOAD_BALANCER_ORIGIN).map(|o| {
        let custom = o.custom_origin_config();
        let (port, https) = match custom.map(|c| c.origin_protocol_policy()) {
            Some(OriginProtocolPolicy::HttpsOnly) => (custom.map_or(0, |c| c.https_port()), true),
            Some(OriginProtocolPolicy::HttpOnly) => (custom.map_or(0, |c| c.http_port()), false),
            _ => (0, false),
        };
        CustomOrigin {
            domain_name: o.domain_name().to_string(),
            port,
            https,
        }
    });
    let default_behavior = match c.default_cache_behavior() {
        Some(d) => behavior(
            None,
            d.target_origin_id(),
            d.viewer_protocol_policy(),
            d.allowed_methods(),
            d.cache_policy_id(),
            d.origin_request_policy_id(),
        ),
        None => behavior(None, "", &ViewerProtocolPolicy::AllowAll, None, None, None),
    };
    let behaviors = c
        .cache_behaviors()
        .map(|b| b.items())
        .unwrap_or_default()
        .iter()
        .map(|b| {
            behavior(
                Some(b.path_pattern()),
                b.target_origin_id(),
                b.viewer_protocol_policy(),
                b.allowed_methods(),
                b.cache_policy_id(),
                b.origin_request_policy_id(),
            )
        })
        .collect();
    let mut error_responses: Vec<(i32, String, String)> = c
        .custom_error_responses()
        .map(|e| e.items())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e.error_code(),
                e.response_page_path().unwrap_or_default().to_string(),
                e.response_code().unwrap_or_default().to_string(),
            )
        })
        .collect();
    error_responses.sort();
    let mut aliases: Vec<String> = c.aliases().map(|a| a.items().to_vec()).unwrap_or_default();
    aliases.sort();
    let certificate_arn = c
        .viewer_certificate()
        .filter(|v| {
            v.ssl_support_method() == Some(&SslSupportMethod::SniOnly)
                && v.minimum_protocol_version() == Some(&MinimumProtocolVersion::TlSv122021)
        })
        .and_then(|v| v.acm_certificate_arn())
        .filter(|a| !a.is_empty())
        .map(String::from);
    DistributionConfig {
        comment: c.comment().to_string(),
        enabled: c.enabled(),
        bucket_origin,
        load_balancer_origin,
        default_behavior,
        behaviors,
        error_responses,
        default_root_object: c.default_root_object().unwrap_or_default().to_string(),
        price_class: c.price_class().map(|p| p.as_str().to_string()).unwrap_or_default(),
        aliases,
        certificate_arn,
        web_acl_id: c.web_acl_id().filter(|w| !w.is_empty()).map(String::from),
    }
}

/// The distribution with this id, if it exists.
pub async fn find(c: &Client, id: &str) -> Result<Option<ObservedDistribution>, AwsError> {
    let out = match c.get_distribution().id(id).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = classify("GetDistribution", e);
            return if e.is_not_found() || e.code == "NoSuchDistribution" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let etag = out.e_tag().unwrap_or_default().to_string();
    Ok(out.distribution().map(|d| ObservedDistribution {
        id: d.id().to_string(),
        arn: d.arn().to_string(),
        domain_name: d.domain_name().to_string(),
        status: d.status().to_string(),
        etag,
        config: d.distribution_config().map(read).unwrap_or_default(),
        tags: None,
    }))
}

/// The id of the distribution whose comment is `comment` (how a distribution whose id was never
/// recorded is found: the comment carries the owner's uid).
pub async fn find_by_comment(c: &Client, comment: &str) -> Result<Option<String>, AwsError> {
    let mut marker = None;
    loop {
        let out = c
            .list_distributions()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("ListDistributions", e))?;
        let Some(list) = out.distribution_list() else {
            return Ok(None);
        };
        if let Some(found) = list.items().iter().find(|d| d.comment() == comment) {
            return Ok(Some(found.id().to_string()));
        }
        marker = list.next_marker().map(String::from).filter(|m| !m.is_empty());
        if marker.is_none() || !list.is_truncated() {
            return Ok(None);
        }
    }
}

/// The tags of a distribution.
pub async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    let out = c
        .list_tags_for_resource()
        .resource(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(out
        .tags()
        .map(|t| t.items())
        .unwrap_or_default()
        .iter()
        .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
        .collect())
}

pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    let tags = cf_tags("TagResource", tags)?;
    c.tag_resource()
        .resource(arn)
        .tags(tags)
        .send()
        .await
        .map_err(|e| classify("TagResource", e))?;
    Ok(())
}

pub async fn untag(c: &Client, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    let keys = TagKeys::builder()
        .set_items(Some(keys.iter().map(|k| k.to_string()).collect()))
        .build();
    c.untag_resource()
        .resource(arn)
        .tag_keys(keys)
        .send()
        .await
        .map_err(|e| classify("UntagResource", e))?;
    Ok(())
}

/// Creates the distribution with its tags. CallerReference makes it idempotent: when AWS says
/// one already exists with that reference, that one (its id is in the message) is returned.
pub async fn create(
    c: &Client,
    config: &DistributionConfig,
    caller_reference: &str,
    tags: &TagMap,
) -> Result<ObservedDistribution, AwsError> {
    const OP: &str = "CreateDistributionWithTags";
    let with_tags = DistributionConfigWithTags::builder()
        .distribution_config(render(OP, config, caller_reference)?)
        .tags(cf_tags(OP, tags)?)
        .build();
    match c
        .create_distribution_with_tags()
        .distribution_config_with_tags(with_tags)
        .send()
        .await
    {
        Ok(out) => {
            let id = out.distribution().map(|d| d.id().to_string()).unwrap_or_default();
            find(c, &id)
                .await?
                .ok_or_else(|| AwsError::invalid_request(OP, "the created distribution cannot be read"))
        }
        Err(e) => {
            let e = classify(OP, e);
            let existing = (e.code == "DistributionAlreadyExists")
                .then(|| {
                    e.message
                        .split_whitespace()
                        .last()
                        .map(|w| w.trim_matches('.').to_string())
                })
                .flatten();
            match existing {
                Some(id) => find(c, &id).await?.ok_or(e),
                None => Err(e),
            }
        }
    }
}

/// Replaces the configuration (only with the ETag of the read it was planned from).
pub async fn update(
    c: &Client,
    d: &ObservedDistribution,
    config: &DistributionConfig,
    caller_reference: &str,
) -> Result<(), AwsError> {
    const OP: &str = "UpdateDistribution";
    c.update_distribution()
        .id(&d.id)
        .if_match(&d.etag)
        .distribution_config(render(OP, config, caller_reference)?)
        .send()
        .await
        .map_err(|e| classify(OP, e))?;
    Ok(())
}

/// Disables the distribution, keeping the rest of its configuration as AWS holds it.
pub async fn disable(c: &Client, id: &str) -> Result<(), AwsError> {
    let out = c
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .map_err(|e| classify("GetDistributionConfig", e))?;
    let etag = out.e_tag().unwrap_or_default().to_string();
    let Some(config) = out.distribution_config() else {
        return Ok(());
    };
    let mut config = config.clone();
    config.enabled = false;
    c.update_distribution()
        .id(id)
        .if_match(etag)
        .distribution_config(config)
        .send()
        .await
        .map_err(|e| classify("UpdateDistribution", e))?;
    Ok(())
}

/// Deletes a disabled, deployed distribution.
pub async fn delete(c: &Client, id: &str, etag: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteDistribution",
        c.delete_distribution().id(id).if_match(etag).send().await,
        &["NoSuchDistribution"],
    )
}

/// The Origin Access Control named `name`, if it exists.
pub async fn find_oac(c: &Client, name: &str) -> Result<Option<ObservedOac>, AwsError> {
    let mut marker = None;
    loop {
        let out = c
            .list_origin_access_controls()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("ListOriginAccessControls", e))?;
        let Some(list) = out.origin_access_control_list() else {
            return Ok(None);
        };
        if let Some(found) = list.items().iter().find(|o| o.name() == name) {
            return Ok(Some(ObservedOac {
                id: found.id().to_string(),
                name: found.name().to_string(),
            }));
        }
        marker = list.next_marker().map(String::from).filter(|m| !m.is_empty());
        if marker.is_none() || !list.is_truncated() {
            return Ok(None);
        }
    }
}

/// Creates an S3 Origin Access Control that always signs with SigV4.
pub async fn create_oac(c: &Client, name: &str, description: &str) -> Result<ObservedOac, AwsError> {
    const OP: &str = "CreateOriginAccessControl";
    let config = built(
        OP,
        OriginAccessControlConfig::builder()
            .name(name)
            .description(description)
            .origin_access_control_origin_type(OriginAccessControlOriginTypes::S3)
            .signing_behavior(OriginAccessControlSigningBehaviors::Always)
            .signing_protocol(OriginAccessControlSigningProtocols::Sigv4)
            .build(),
    )?;
    let out = c
        .create_origin_access_control()
        .origin_access_control_config(config)
        .send()
        .await
        .map_err(|e| classify(OP, e))?;
    let id = out
        .origin_access_control()
        .map(|o| o.id().to_string())
        .unwrap_or_default();
    Ok(ObservedOac {
        id,
        name: name.to_string(),
    })
}

/// Deletes an Origin Access Control (with the ETag of a fresh read), tolerating one already gone.
pub async fn delete_oac(c: &Client, id: &str) -> Result<(), AwsError> {
    let etag = match c.get_origin_access_control().id(id).send().await {
        Ok(out) => out.e_tag().unwrap_or_default().to_string(),
        Err(e) => {
            let e = classify("GetOriginAccessControl", e);
            return if e.is_not_found() || e.code == "NoSuchOriginAccessControl" {
                Ok(())
            } else {
                Err(e)
            };
        }
    };
    deleted(
        "DeleteOriginAccessControl",
        c.delete_origin_access_control().id(id).if_match(etag).send().await,
        &["NoSuchOriginAccessControl"],
    )
}
