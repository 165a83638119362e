//! Installing the checked-in CRDs into a real API server: structural schemas are accepted, every
//! CEL rule compiles (within the cost budget), and the kinds are served with their short names.

use kube::ResourceExt;
use kube::discovery::Discovery;

use crate::harness::kube::{client, install_crds};

#[tokio::test]
async fn every_crd_installs_and_is_served() {
    let client = client().await;
    let installed = install_crds(&client).await;
    assert_eq!(installed.len(), 6);
    for crd in &installed {
        let status = crd.status.as_ref().expect("CRD status");
        let conditions = status.conditions.as_deref().unwrap_or_default();
        for wanted in ["NamesAccepted", "Established"] {
            assert!(
                conditions.iter().any(|c| c.type_ == wanted && c.status == "True"),
                "{}: condition {wanted} not True: {conditions:?}",
                crd.name_any()
            );
        }
        // A structural-schema or CEL problem shows up as NonStructuralSchema / a rejected create;
        // make sure the server kept our validation rules rather than dropping them.
        assert!(
            !conditions
                .iter()
                .any(|c| c.type_ == "NonStructuralSchema" && c.status == "True"),
            "{} is not structural",
            crd.name_any()
        );
        let served = serde_json::to_string(&crd.spec.versions[0].schema).expect("schema");
        assert!(
            served.contains("x-kubernetes-validations"),
            "{} lost its CEL rules",
            crd.name_any()
        );
    }

    let discovery = Discovery::new(client)
        .filter(&["webstack.io"])
        .run()
        .await
        .expect("discovery");
    let group = discovery.get("webstack.io").expect("the webstack.io group is served");
    let mut kinds: Vec<String> = group
        .recommended_resources()
        .into_iter()
        .map(|(ar, _)| ar.kind)
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ContainerService",
            "ListenerRule",
            "StaticSite",
            "TargetGroup",
            "WebStack",
            "WebStackPolicy"
        ]
    );
}
