//! The Kubernetes calls leader election makes on a Lease (read it; create it, or replace it at the
//! resourceVersion read), behind a small trait so that the election's timing rules are tested with
//! tokio's paused clock against a fake: one that never answers, say.

use std::future::Future;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;

/// Where leases are read and written: one namespace; any number of leases by name.
pub trait LeaseStore: Clone + Send + Sync + 'static {
    /// The lease `name`, if it exists.
    fn get(&self, name: &str) -> impl Future<Output = Result<Option<Lease>, kube::Error>> + Send;

    /// Creates `lease`: `Ok(false)` when another candidate created it first.
    fn create(&self, lease: &Lease) -> impl Future<Output = Result<bool, kube::Error>> + Send;

    /// Replaces the lease `name` by `lease`, at the resourceVersion `lease` was read at:
    /// `Ok(false)` when another candidate wrote it meanwhile (so two never both win).
    fn replace(&self, name: &str, lease: &Lease) -> impl Future<Output = Result<bool, kube::Error>> + Send;
}

/// A 409 Conflict: another candidate's write came first.
fn written<T>(result: Result<T, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

impl LeaseStore for Api<Lease> {
    async fn get(&self, name: &str) -> Result<Option<Lease>, kube::Error> {
        self.get_opt(name).await
    }

    async fn create(&self, lease: &Lease) -> Result<bool, kube::Error> {
        written(Api::create(self, &PostParams::default(), lease).await)
    }

    async fn replace(&self, name: &str, lease: &Lease) -> Result<bool, kube::Error> {
        written(Api::replace(self, name, &PostParams::default(), lease).await)
    }
}
