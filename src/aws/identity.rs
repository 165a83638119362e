//! A namespace's own AWS identity: STS AssumeRole credentials of the role its WebStackPolicy
//! names (`spec.aws.assumeRoleArn`), with the session tags `webstack.io/namespace` and
//! `webstack.io/cluster` that the role's policy conditions on (deploy/tenant-role-policy.json).
//!
//! The credentials are cached by the SDK's identity cache of the configuration they are set on
//! and assumed again before they expire; each success is reported to `on_assumed` (the policy's
//! status shows the last one).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

/// The session tags' keys.
pub const NAMESPACE_TAG: &str = "webstack.io/namespace";
pub const CLUSTER_TAG: &str = "webstack.io/cluster";

/// How the session names of namespaces' roles begin (drift events leave those sessions' calls out).
pub const SESSION_PREFIX: &str = "webstack-";

/// Who acts, and for whom.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub namespace: String,
    pub cluster_id: String,
}

impl TenantRole {
    /// The STS session name: `webstack-<namespace>`, cut to STS's 64 characters (CloudTrail shows
    /// it beside every call).
    pub fn session_name(&self) -> String {
        let mut name = format!("{SESSION_PREFIX}{}", self.namespace);
        name.truncate(64);
        name
    }

    /// The session tags: the role's policy confines the session with `aws:PrincipalTag/...`.
    pub fn session_tags(&self) -> [(&'static str, String); 2] {
        [
            (NAMESPACE_TAG, self.namespace.clone()),
            (CLUSTER_TAG, self.cluster_id.clone()),
        ]
    }
}

/// Called with the role after each successful AssumeRole.
pub type OnAssumed = Arc<dyn Fn(&TenantRole) + Send + Sync>;

/// Assumes `role` once now with the operator's own credentials of `base` in `region` (so that a
/// role the operator may not assume is reported at once, naming the role), and returns the
/// provider that keeps assuming it: its first answer is these credentials.
pub async fn assume(
    base: &aws_config::SdkConfig,
    role: TenantRole,
    region: &str,
    on_assumed: OnAssumed,
) -> Result<SharedCredentialsProvider, String> {
    let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
        .configure(base)
        .region(aws_config::Region::new(region.to_string()))
        .session_name(role.session_name())
        .session_length(Duration::from_secs(3600))
        .tags(role.session_tags());
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id.clone());
    }
    let provider = Assumed {
        inner: builder.build().await,
        role,
        first: Mutex::new(None),
        on_assumed,
    };
    let first = provider.fetch().await.map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        format!(
            "assuming {} for namespace {}: {message}",
            provider.role.role_arn, provider.role.namespace
        )
    })?;
    *provider.first.lock().unwrap_or_else(|p| p.into_inner()) = Some(first);
    Ok(SharedCredentialsProvider::new(provider))
}

struct Assumed {
    inner: AssumeRoleProvider,
    role: TenantRole,
    /// The credentials of the first AssumeRole, handed out once while they last.
    first: Mutex<Option<Credentials>>,
    on_assumed: OnAssumed,
}

impl fmt::Debug for Assumed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assumed")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Assumed {
    /// One STS AssumeRole (counted in `webstack_aws_api_calls_total`: this client is aws-config's,
    /// without the operator's counting interceptor).
    async fn fetch(&self) -> aws_credential_types::provider::Result {
        let result = self.inner.provide_credentials().await;
        super::count_call("STS", "AssumeRole", result.is_ok());
        let credentials = result?;
        (self.on_assumed)(&self.role);
        Ok(credentials)
    }
}

impl ProvideCredentials for Assumed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let fresh = self.first.lock().unwrap_or_else(|p| p.into_inner()).take().filter(|c| {
            c.expiry()
                .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300))
        });
        match fresh {
            Some(c) => future::ProvideCredentials::ready(Ok(c)),
            None => future::ProvideCredentials::new(self.fetch()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_named_and_tagged_for_their_namespace() {
        let role = TenantRole {
            role_arn: "arn:aws:iam::210987654321:role/webstack-movies".into(),
            external_id: None,
            namespace: "movies-prod".into(),
            cluster_id: "eu-1".into(),
        };
        assert_eq!(role.session_name(), "webstack-movies-prod");
        assert_eq!(
            role.session_tags(),
            [
                ("webstack.io/namespace", "movies-prod".to_string()),
                ("webstack.io/cluster", "eu-1".to_string())
            ]
        );
        let long = TenantRole {
            namespace: "n".repeat(63),
            ..role
        };
        assert_eq!(long.session_name().len(), 64);
    }
}
