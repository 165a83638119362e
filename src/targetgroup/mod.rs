//! The TargetGroup controller: an ELBv2 target group in its stack's VPC.

pub mod controller;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};

use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::api::TargetGroup;
use crate::conditions::is_ready;

/// The TargetGroups of a namespace as users of them see it: ARNs of the Ready ones by name, and
/// the names of all that exist and are not being deleted.
pub async fn in_namespace(
    client: &Client,
    ns: &str,
) -> Result<(BTreeMap<String, String>, BTreeSet<String>), kube::Error> {
    let list = Api::<TargetGroup>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await?;
    let existing = list
        .items
        .iter()
        .filter(|t| t.metadata.deletion_timestamp.is_none())
        .map(|t| t.name_any())
        .collect();
    let ready = list
        .items
        .iter()
        .filter_map(|t| {
            let st = t.status.as_ref()?;
            is_ready(&st.conditions).then(|| Some((t.name_any(), st.arn.clone()?)))?
        })
        .collect();
    Ok((ready, existing))
}
