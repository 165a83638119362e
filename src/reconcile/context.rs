//! What every reconcile shares: the Kubernetes client, the AWS configuration with clients and
//! availability zones per region, the operator's cluster id, the drift re-check period, the
//! Event recorder and the per-object retry backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::Recorder;
use tokio::sync::OnceCell;

use super::Blocked;
use super::backoff::Backoff;
use super::tenants::Tenants;
use crate::api::WebStackPolicy;
use crate::aws::{AwsError, Clients, ec2};

/// The AWS side of one region: clients, and the zones a stack may use (read once: they change rarely).
#[derive(Clone, Debug)]
pub struct Region {
    pub clients: Clients,
    pub zones: Vec<String>,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub sdk: aws_config::SdkConfig,
    pub cluster_id: String,
    pub resync: Duration,
    pub recorder: Recorder,
    pub backoff: Backoff,
    /// The WebStackPolicies and namespaces (none: no policy governs any namespace).
    pub tenants: Option<Tenants>,
    /// One cell per region, each filled once. The map's lock is held only to find a cell, never
    /// across an AWS call, so a slow region blocks nothing but the reconciles that need it.
    regions: Mutex<HashMap<String, Arc<OnceCell<Region>>>>,
}

impl Context {
    pub fn new(
        client: Client,
        sdk: aws_config::SdkConfig,
        cluster_id: String,
        resync: Duration,
        recorder: Recorder,
    ) -> Self {
        Context {
            client,
            sdk,
            cluster_id,
            resync,
            recorder,
            backoff: Backoff::default(),
            tenants: None,
            regions: Mutex::default(),
        }
    }

    /// With the policies and namespaces watched.
    pub fn with_tenants(mut self, tenants: Tenants) -> Self {
        self.tenants = Some(tenants);
        self
    }

    /// The WebStackPolicy governing `namespace` (Stalled when two select it, or none does under
    /// `--require-policy`).
    pub fn policy_for(&self, namespace: &str) -> Result<Option<Arc<WebStackPolicy>>, Blocked> {
        match &self.tenants {
            Some(t) => t.policy_for(namespace),
            None => Ok(None),
        }
    }

    /// The operator's own region (the SDK configuration's).
    pub fn default_region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// Clients and zones of `region` (default: the operator's region).
    pub async fn region(&self, region: Option<&str>) -> Result<Region, AwsError> {
        let name = region.map(String::from).unwrap_or_else(|| self.default_region());
        let cell = {
            let mut regions = self.regions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            regions.entry(name.clone()).or_default().clone()
        };
        let found = cell
            .get_or_try_init(|| async {
                let config = self
                    .sdk
                    .to_builder()
                    .region(aws_config::Region::new(name.clone()))
                    .build();
                let clients = Clients::new(&config);
                let zones = ec2::availability_zones(&clients.ec2).await?;
                Ok::<_, AwsError>(Region { clients, zones })
            })
            .await?;
        Ok(found.clone())
    }
}
