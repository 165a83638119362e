//! Shapes shared by several kinds: references, deletion policy, listener actions, tags.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Tags added to AWS resources, on top of the operator's ownership tags.
pub type Tags = BTreeMap<String, String>;

/// A reference to a WebStack in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct StackRef {
    /// Name of the WebStack, in the same namespace as the referring resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to another resource of this operator, by name, in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    /// Name of the referenced resource, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// What happens to the AWS resources when the custom resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the AWS resources (the default).
    #[default]
    Delete,
    /// Keep the AWS resources and remove the operator's managed-by tags from them.
    Retain,
}

/// One action of a listener's default action or of a listener rule: set exactly one of
/// `forward`, `fixedResponse` or `redirect`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.forward), has(self.fixedResponse), has(self.redirect)].filter(x, x).size() == 1"
).message("exactly one of forward, fixedResponse or redirect must be set"))]
pub struct Action {
    /// Forward requests to one or more TargetGroups, optionally weighted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardAction>,
    /// Answer with a fixed response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_response: Option<FixedResponseAction>,
    /// Redirect to another URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<RedirectAction>,
}

/// Forward to TargetGroups of the same stack.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForwardAction {
    /// The TargetGroups (by resource name) to forward to; an ALB allows at most 5.
    #[schemars(length(min = 1, max = 5))]
    pub target_groups: Vec<WeightedTargetGroup>,
}

/// A TargetGroup and its relative weight in a forward action.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct WeightedTargetGroup {
    /// Name of the TargetGroup resource in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Relative weight, 0..999. When absent every group of the action weighs the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 999))]
    pub weight: Option<i32>,
}

/// A fixed HTTP response.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FixedResponseAction {
    /// HTTP status code: 2XX, 4XX or 5XX.
    #[schemars(range(min = 200, max = 599))]
    #[x_kube(validation = Rule::new("self < 300 || self >= 400")
        .message("statusCode must be 2XX, 4XX or 5XX"))]
    pub status_code: i32,
    /// Content type of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<ContentType>,
    /// The response body, at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message_body: Option<String>,
}

/// Content types an ALB fixed response can carry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ContentType {
    #[serde(rename = "text/plain")]
    TextPlain,
    #[serde(rename = "text/css")]
    TextCss,
    #[serde(rename = "text/html")]
    TextHtml,
    #[serde(rename = "application/javascript")]
    ApplicationJavascript,
    #[serde(rename = "application/json")]
    ApplicationJson,
}

/// An HTTP redirect. Each URL component defaults to the request's own (`#{host}`, `#{path}`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedirectAction {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(HTTP|HTTPS|#\{protocol\})$"))]
    pub protocol: Option<String>,
    /// A port 1..65535 or `#{port}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([1-9][0-9]{0,4}|#\{port\})$"))]
    pub port: Option<String>,
    /// Host name, may use `#{host}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub host: Option<String>,
    /// Absolute path starting with `/`, may use `#{host}`, `#{path}`, `#{port}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^/"))]
    pub path: Option<String>,
    /// Query string without the leading `?`, may use `#{query}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub query: Option<String>,
    /// `HTTP_301` (permanent) or `HTTP_302` (temporary).
    pub status_code: RedirectStatusCode,
}

/// The status code of a redirect.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RedirectStatusCode {
    /// Moved permanently.
    #[serde(rename = "HTTP_301")]
    Http301,
    /// Found (temporary).
    #[serde(rename = "HTTP_302")]
    Http302,
}

/// HTTP or HTTPS, as used by listeners, target groups and health checks.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HttpProtocol {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}
