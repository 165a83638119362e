//! What every controller's reconcile shares: the Kubernetes client, the AWS configuration (with
//! clients and availability zones cached per region), the operator's cluster id, the drift
//! re-check period and the Event recorder.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::{Client, Resource, ResourceExt};
use tokio::sync::Mutex;

use crate::api::WebStack;
use crate::aws::{AwsError, Clients, ec2};

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub sdk: aws_config::SdkConfig,
    pub cluster_id: String,
    pub resync: Duration,
    pub recorder: Recorder,
    /// AWS clients and availability zones per region (zones change rarely: read once).
    regions: Mutex<HashMap<String, (Clients, Vec<String>)>>,
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
            regions: Mutex::default(),
        }
    }

    /// AWS clients and zones for the stack's region (`spec.region`, else the operator's).
    pub async fn region(&self, ws: &WebStack) -> Result<(Clients, Vec<String>), AwsError> {
        let region = ws
            .spec
            .region
            .clone()
            .or_else(|| self.sdk.region().map(|r| r.to_string()))
            .unwrap_or_default();
        let mut regions = self.regions.lock().await;
        if let Some(found) = regions.get(&region) {
            return Ok(found.clone());
        }
        let config = self
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.clone()))
            .build();
        let clients = Clients::new(&config);
        let zones = ec2::availability_zones(&clients.ec2).await?;
        regions.insert(region, (clients.clone(), zones.clone()));
        Ok((clients, zones))
    }
}

/// Why a reconcile failed, for every controller; it is retried after [`RETRY`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed")]
    Kube(#[source] kube::Error),
    #[error("AWS call failed")]
    Aws(#[source] AwsError),
    #[error("{0}")]
    Waiting(String),
    #[error("finalizer")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

/// How soon a failed reconcile runs again.
pub const RETRY: Duration = Duration::from_secs(10);

/// The error policy of every controller: log the error with its causes, retry soon.
pub fn error_policy<K: Resource<DynamicType = ()>>(obj: Arc<K>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::info!(kind = %K::kind(&()), name = %obj.name_any(), error = %crate::manager::report(err), "retrying");
    Action::requeue(RETRY)
}
