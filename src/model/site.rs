//! A StaticSite in domain terms: the private bucket, its Origin Access Control, the CloudFront
//! distribution in the canonical form the planner compares ([`DistributionConfig`]), the bucket
//! policy that lets only that distribution read, and the managed CloudFront policies by name.

use serde_json::{Value, json};

use super::ownership::TagMap;

/// The S3 origin's id in the distribution.
pub const BUCKET_ORIGIN: &str = "bucket";
/// The load balancer origin's id in the distribution.
pub const LOAD_BALANCER_ORIGIN: &str = "load-balancer";

/// CloudFront's managed cache policies, name → id (AWS documentation, "Use managed cache policies").
pub const MANAGED_CACHE_POLICIES: [(&str, &str); 7] = [
    ("Amplify", "2e54312d-136d-493c-8eb9-b001f22f67d2"),
    ("CachingDisabled", "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"),
    ("CachingOptimized", "658327ea-f89d-4fab-a63d-7e88639e58f6"),
    (
        "CachingOptimizedForUncompressedObjects",
        "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
    ),
    ("Elemental-MediaPackage", "08627262-05a9-4f76-9ded-b50ca2e3a84f"),
    ("UseOriginCacheControlHeaders", "83da9c7e-98b4-4e11-a168-04f0df8e2c65"),
    (
        "UseOriginCacheControlHeaders-QueryStrings",
        "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
    ),
];

/// The managed origin request policy `AllViewer`: every viewer header, cookie and query string
/// goes to the origin (AWS documentation, "Use managed origin request policies").
pub const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";

/// The id of a managed cache policy.
pub fn cache_policy_id(name: &str) -> Option<&'static str> {
    MANAGED_CACHE_POLICIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, id)| *id)
}

/// CloudFront's three allowed method sets.
pub const METHOD_SETS: [&[&str]; 3] = [
    &["GET", "HEAD"],
    &["GET", "HEAD", "OPTIONS"],
    &["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"],
];

/// A custom origin (the stack's load balancer): DNS name, the listener's port, and whether
/// CloudFront speaks HTTPS to it (`https-only`, TLSv1.2) or HTTP (`http-only`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CustomOrigin {
    pub domain_name: String,
    pub port: i32,
    pub https: bool,
}

/// A cache behaviour (the default one has no path pattern).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Behavior {
    pub path_pattern: Option<String>,
    pub target_origin: String,
    pub viewer_protocol_policy: String,
    /// Sorted.
    pub allowed_methods: Vec<String>,
    pub cache_policy_id: String,
    pub origin_request_policy_id: Option<String>,
}

/// A custom error response: error code, response page, response code.
pub type ErrorResponse = (i32, String, String);

/// The distribution's configuration as the operator manages it, canonical: what is compared with
/// the distribution AWS holds (fields the operator does not set are not part of it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistributionConfig {
    pub comment: String,
    pub enabled: bool,
    /// The bucket's regional domain name and the Origin Access Control id.
    pub bucket_origin: (String, String),
    pub load_balancer_origin: Option<CustomOrigin>,
    pub default_behavior: Behavior,
    /// In order: CloudFront applies the first that matches.
    pub behaviors: Vec<Behavior>,
    /// Sorted by error code.
    pub error_responses: Vec<ErrorResponse>,
    pub default_root_object: String,
    pub price_class: String,
    /// Sorted.
    pub aliases: Vec<String>,
    /// An ACM certificate in us-east-1 (then SNI and TLSv1.2_2021), else CloudFront's own.
    pub certificate_arn: Option<String>,
    pub web_acl_id: Option<String>,
}

/// What a site should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredSite {
    pub bucket: String,
    /// The bucket's region (the stack's, else the operator's).
    pub region: String,
    pub oac_name: String,
    /// The distribution's CallerReference: the custom resource's uid.
    pub caller_reference: String,
    pub config: DistributionConfig,
    pub tags: TagMap,
    /// Read tags, ownership controls, encryption and the OAC too (not only what a steady-state
    /// re-check reads: the distribution, the bucket policy and the public access block).
    pub deep: bool,
}

/// The bucket as found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedBucket {
    pub name: String,
    /// Read on a deep observe only.
    pub tags: Option<TagMap>,
    /// The four public access blocks, all on.
    pub public_access_blocked: bool,
    /// `None` when not read.
    pub ownership_enforced: Option<bool>,
    pub encrypted: Option<bool>,
    pub policy: Option<Value>,
}

/// An Origin Access Control as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedOac {
    pub id: String,
    pub name: String,
}

/// The distribution as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedDistribution {
    pub id: String,
    pub arn: String,
    pub domain_name: String,
    /// `InProgress` or `Deployed`.
    pub status: String,
    pub etag: String,
    pub config: DistributionConfig,
    /// Read on a deep observe only.
    pub tags: Option<TagMap>,
}

/// What AWS holds of a site.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedSite {
    pub bucket: Option<ObservedBucket>,
    pub oac: Option<ObservedOac>,
    pub distribution: Option<ObservedDistribution>,
}

/// AWS's documented bucket policy for Origin Access Control: `s3:GetObject` for the CloudFront
/// service principal, only on behalf of this distribution, nothing broader.
pub fn bucket_policy(bucket: &str, distribution_arn: &str) -> Value {
    let partition = distribution_arn.split(':').nth(1).unwrap_or("aws");
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowCloudFrontServicePrincipalReadOnly",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": format!("arn:{partition}:s3:::{bucket}/*"),
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}}
        }]
    })
}

/// A policy in canonical form: one-element arrays as their element, so that AWS's rewriting of
/// a policy does not read as a change.
pub fn canonical_policy(v: &Value) -> Value {
    match v {
        Value::Array(items) if items.len() == 1 => canonical_policy(&items[0]),
        Value::Array(items) => Value::Array(items.iter().map(canonical_policy).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical_policy(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_only_this_distribution_read() {
        let p = bucket_policy("site", "arn:aws:cloudfront::123456789012:distribution/E1");
        let s = &p["Statement"][0];
        assert_eq!(s["Action"], "s3:GetObject");
        assert_eq!(s["Resource"], "arn:aws:s3:::site/*");
        assert_eq!(s["Principal"]["Service"], "cloudfront.amazonaws.com");
        assert_eq!(
            s["Condition"]["StringEquals"]["AWS:SourceArn"],
            "arn:aws:cloudfront::123456789012:distribution/E1"
        );
        // AWS may hand back arrays where one value was sent, or the reverse.
        let mut rewritten = p.clone();
        rewritten["Statement"][0]["Action"] = json!(["s3:GetObject"]);
        assert_eq!(canonical_policy(&rewritten), canonical_policy(&p));
        let mut broader = p.clone();
        broader["Statement"][0]["Principal"] = json!("*");
        assert_ne!(canonical_policy(&broader), canonical_policy(&p));
    }

    #[test]
    fn managed_policies_by_name() {
        assert_eq!(
            cache_policy_id("CachingDisabled"),
            Some("4135ea2d-6df8-44a3-9df3-4b5a84be39ad")
        );
        assert_eq!(
            cache_policy_id("CachingOptimized"),
            Some("658327ea-f89d-4fab-a63d-7e88639e58f6")
        );
        assert_eq!(cache_policy_id("NoSuchPolicy"), None);
    }
}
