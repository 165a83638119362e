//! The `StaticSite` kind: a private S3 bucket served by CloudFront through Origin Access Control.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DeletionPolicy, StackRef, Tags};

/// A static site: a private S3 bucket behind a CloudFront distribution.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "webstack.io",
    version = "v1alpha1",
    kind = "StaticSite",
    plural = "staticsites",
    shortname = "wss",
    namespaced,
    status = "StaticSiteStatus",
    doc = "A private S3 bucket served by a CloudFront distribution, optionally routing paths to a WebStack's load balancer.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Domain", type_ = "string", json_path = ".status.domainName"),
    printcolumn(
        name = "Deployment",
        type_ = "string",
        json_path = ".status.deploymentStatus",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.stackRef) || !has(self.routes) || self.routes.all(r, r.origin != 'loadBalancer')")
    .message("routes with origin loadBalancer need stackRef").field_path(".stackRef"))]
#[x_kube(validation = Rule::new("!has(oldSelf.stackRef) || (has(self.stackRef) && self.stackRef.name == oldSelf.stackRef.name)")
    .message("stackRef cannot change or be removed once set: delete and re-create the StaticSite").field_path(".stackRef"))]
pub struct StaticSiteSpec {
    /// The WebStack whose load balancer `routes` may reach. Optional for a bucket-only site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_ref: Option<StackRef>,
    /// `Delete` (default: empties and deletes the bucket) or `Retain`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Extra tags for the bucket and distribution.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// The site.
    #[serde(flatten)]
    pub settings: StaticSiteSettings,
}

/// A StaticSite spec without `stackRef` (also the inline `staticSite` of a WebStack).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.aliases) || size(self.aliases) == 0 || has(self.certificateArn)")
    .message("aliases need certificateArn (an ACM certificate in us-east-1)").field_path(".certificateArn"))]
#[x_kube(validation = Rule::new("(has(self.bucketName) ? self.bucketName : '') == (has(oldSelf.bucketName) ? oldSelf.bucketName : '')")
    .message("bucketName cannot change: the old bucket and its objects would be left behind; delete and re-create the site").field_path(".bucketName"))]
pub struct StaticSiteSettings {
    /// Bucket name. Default: derived from namespace, name and uid, globally unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"))]
    pub bucket_name: Option<String>,
    /// Object served for `/` (default `index.html`).
    #[serde(default = "default_root")]
    #[schemars(length(min = 1, max = 255))]
    pub default_root_object: String,
    /// Single-page app: 403/404 from the bucket answer `/index.html` with 200.
    #[serde(default)]
    pub spa_fallback: bool,
    /// Edge locations: `PriceClass_100`, `PriceClass_200` or `PriceClass_All` (default).
    #[serde(default)]
    pub price_class: PriceClass,
    /// Alternate domain names; need `certificateArn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 253)))]
    pub aliases: Vec<String>,
    /// ACM certificate ARN in us-east-1 for `aliases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/.+$"))]
    pub certificate_arn: Option<String>,
    /// A WAFv2 web ACL of CLOUDFRONT scope to attach: `arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/[^/]+/[^/]+$")
    )]
    pub web_acl_id: Option<String>,
    /// Extra cache behaviours, in order of precedence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 25))]
    pub routes: Vec<SiteRoute>,
}

fn default_root() -> String {
    "index.html".into()
}

/// CloudFront price classes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PriceClass {
    #[serde(rename = "PriceClass_100")]
    PriceClass100,
    #[serde(rename = "PriceClass_200")]
    PriceClass200,
    #[default]
    #[serde(rename = "PriceClass_All")]
    PriceClassAll,
}

/// A cache behaviour for a path pattern.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteRoute {
    /// Path pattern, e.g. `/api/*`.
    #[schemars(length(min = 1, max = 255))]
    pub path_pattern: String,
    /// Where the requests go: `loadBalancer` (the stack's ALB: its HTTPS listener, else an HTTP
    /// listener that does not redirect) or `bucket`.
    #[serde(default)]
    pub origin: RouteOrigin,
    /// `allow-all`, `redirect-to-https` (default) or `https-only`.
    #[serde(default)]
    pub viewer_protocol_policy: ViewerProtocolPolicy,
    /// Methods CloudFront forwards: `[GET, HEAD]` (default), `[GET, HEAD, OPTIONS]`, or all seven.
    #[serde(default = "default_methods")]
    #[x_kube(validation = Rule::new("size(self) == 2 && self.all(m, m in ['GET', 'HEAD']) || size(self) == 3 && self.all(m, m in ['GET', 'HEAD', 'OPTIONS']) || size(self) == 7")
        .message("allowedMethods must be [GET, HEAD], [GET, HEAD, OPTIONS] or all of GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE"))]
    #[schemars(length(min = 2, max = 7), extend("x-kubernetes-list-type" = "set"))]
    pub allowed_methods: Vec<HttpMethod>,
    /// A managed cache policy name, e.g. `CachingDisabled` (default) or `CachingOptimized`.
    #[serde(default = "default_cache_policy")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,128}$"))]
    pub cache_policy: String,
}

fn default_methods() -> Vec<HttpMethod> {
    vec![HttpMethod::Get, HttpMethod::Head]
}
fn default_cache_policy() -> String {
    "CachingDisabled".into()
}

/// The origin of a cache behaviour.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RouteOrigin {
    #[default]
    LoadBalancer,
    Bucket,
}

/// What CloudFront does with HTTP viewers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ViewerProtocolPolicy {
    AllowAll,
    #[default]
    RedirectToHttps,
    HttpsOnly,
}

/// HTTP methods of a cache behaviour.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Options,
    Put,
    Post,
    Patch,
    Delete,
}

/// Observed state of a StaticSite.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaticSiteStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Bucket name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// CloudFront distribution id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_id: Option<String>,
    /// The distribution's domain name, e.g. `d123.cloudfront.net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// Origin Access Control id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_access_control_id: Option<String>,
    /// `InProgress` or `Deployed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_status: Option<String>,
}
