//! Container registries end to end (`spec.registries`), read back through the ECR API: the
//! repositories with scanning on push, tag mutability, lifecycle policy and ownership tags, their
//! URIs in status; drift put back; a name removed from the spec deleted when empty and kept while
//! it holds images; deletion that waits for a repository holding images, saying which and what to
//! set, and finishes with `registriesForceDelete`. A `registry:` the stack lacks stalls naming the
//! field. Example 5 (examples_e2e) uses [`check`] for its three repositories.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use webstack_operator::api::{ContainerService, WebStack};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::leftovers::leftovers;
use crate::harness::leftovers_registries::named_for;
use crate::harness::manifest::{apply_all, parse};
use crate::harness::moto::Moto;
use crate::harness::operator::Operator;
use crate::harness::wait::{gone, until};

/// The stack's repositories as ECR has them, checked against the spec's settings (`keep` images,
/// tags immutable) and against `status.registries`; returns the URIs by registry name.
pub async fn check(
    client: &kube::Client,
    config: &SdkConfig,
    ns: &str,
    stack: &str,
    names: &[&str],
    keep: i64,
) -> BTreeMap<String, String> {
    let ws = Api::<WebStack>::namespaced(client.clone(), ns)
        .get(stack)
        .await
        .unwrap();
    let status = ws.status.unwrap_or_default().registries;
    let ecr = aws_sdk_ecr::Client::new(config);
    let mut uris = BTreeMap::new();
    for name in names {
        let repo_name = format!("{ns}/{stack}/{name}");
        let out = ecr
            .describe_repositories()
            .repository_names(&repo_name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("repository {repo_name}: {e:?}"));
        let r = &out.repositories()[0];
        assert!(
            r.image_scanning_configuration().unwrap().scan_on_push(),
            "{repo_name}: scan on push"
        );
        assert_eq!(
            r.image_tag_mutability().map(|m| m.as_str()),
            Some("IMMUTABLE"),
            "{repo_name}"
        );
        let uri = r.repository_uri().unwrap().to_string();
        assert_eq!(status.get(*name), Some(&uri), "status.registries.{name}");
        let policy = ecr
            .get_lifecycle_policy()
            .repository_name(&repo_name)
            .send()
            .await
            .unwrap();
        let policy: serde_json::Value = serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
        let rule = &policy["rules"][0];
        assert_eq!(rule["selection"]["countType"], "imageCountMoreThan", "{policy}");
        assert_eq!(rule["selection"]["countNumber"], keep, "{policy}");
        assert_eq!(rule["selection"]["tagStatus"], "any", "{policy}");
        assert_eq!(rule["action"]["type"], "expire", "{policy}");
        let tags = ecr
            .list_tags_for_resource()
            .resource_arn(r.repository_arn().unwrap())
            .send()
            .await
            .unwrap();
        let tags: BTreeMap<&str, &str> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(
            tags.get("webstack.io/owner").copied(),
            Some(format!("{ns}/WebStack/{stack}").as_str())
        );
        assert_eq!(
            tags.get("webstack.io/component").copied(),
            Some(format!("registry/{name}").as_str())
        );
        uris.insert(name.to_string(), uri);
    }
    uris
}

/// Pushes a one-layer image manifest into a repository, as `docker push` ends.
pub async fn push(config: &SdkConfig, repository: &str, tag: &str) {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                    "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]
    });
    aws_sdk_ecr::Client::new(config)
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest.to_string())
        .image_tag(tag)
        .send()
        .await
        .unwrap();
}

const STACK: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: reg}
spec:
  network: {cidr: 10.61.0.0/16}
  registries: [app, web]
  registrySettings: {keepImages: 5}
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: lost}
spec:
  stackRef: {name: reg}
  cpu: "256"
  memory: "512"
  containers:
    - {name: a, registry: cache, tag: "1.0"}
"#;

fn ready_at(ws: &WebStack) -> bool {
    ws.status.as_ref().is_some_and(|s| {
        s.observed_generation == ws.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Every condition message of the stack, for a search.
fn messages(ws: &WebStack) -> String {
    let conditions = ws.status.iter().flat_map(|s| &s.conditions);
    conditions
        .map(|c| format!("{}: {}", c.type_, c.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn registries_drift_removal_and_deletion_with_images() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "e2e-reg").await;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let op = Operator::start(&moto, &ns, "3s");
    let objects = parse(STACK);
    apply_all(&client, &ns, &objects).await;
    let stacks: Api<WebStack> = Api::namespaced(client.clone(), &ns);
    until(&stacks, "reg", &op, "the stack Ready", 120, ready_at).await;
    let uris = check(&client, &config, &ns, "reg", &["app", "web"], 5).await;
    assert!(uris["app"].ends_with(&format!("/{ns}/reg/app")), "{uris:?}");

    // A registry the stack lacks: Stalled, naming the field.
    let services: Api<ContainerService> = Api::namespaced(client.clone(), &ns);
    let lost = until(&services, "lost", &op, "the service Stalled", 60, |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.conditions.iter().any(|c| c.type_ == "Stalled" && c.status == "True"))
    })
    .await;
    let stalled = lost
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert!(
        stalled.message.contains("spec.containers[0].registry") && stalled.message.contains("cache"),
        "{stalled:?}"
    );
    services.delete("lost", &DeleteParams::default()).await.unwrap();
    gone(&services, "lost", &op, 60).await;

    // At steady state the registries add one read per reconcile (DescribeRepositories), no change.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = moto.calls().len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let ecr_calls: Vec<String> = moto.calls()[before..]
        .iter()
        .filter(|c| c.service == "ecr")
        .map(|c| c.action.clone())
        .collect();
    println!("registries: ECR calls over 7s at steady state: {ecr_calls:?}");
    assert!(!ecr_calls.is_empty(), "the repositories are re-checked");
    assert!(
        ecr_calls.iter().all(|a| a == "DescribeRepositories"),
        "only DescribeRepositories at steady state: {ecr_calls:?}"
    );

    // Drift by hand: tags made mutable, scanning off: put back.
    let ecr = aws_sdk_ecr::Client::new(&config);
    let web = format!("{ns}/reg/web");
    ecr.put_image_tag_mutability()
        .repository_name(&web)
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    ecr.put_image_scanning_configuration()
        .repository_name(&web)
        .image_scanning_configuration(
            aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                .scan_on_push(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = ecr.describe_repositories().repository_names(&web).send().await.unwrap();
        let r = &out.repositories()[0];
        if r.image_tag_mutability().map(|m| m.as_str()) == Some("IMMUTABLE")
            && r.image_scanning_configuration().is_some_and(|c| c.scan_on_push())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "drift not corrected; operator log:\n{}",
            op.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // An image in `app`; both names removed from the spec: `web` (empty) goes, `app` is kept.
    let app = format!("{ns}/reg/app");
    push(&config, &app, "1.0").await;
    stacks
        .patch(
            "reg",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"registries": null}})),
        )
        .await
        .unwrap();
    let ws = until(&stacks, "reg", &op, "web deleted, app kept", 60, |ws| {
        ready_at(ws) && !ws.status.as_ref().unwrap().registries.contains_key("web")
    })
    .await;
    assert_eq!(named_for(&config, &ns).await, vec![app.clone()]);
    assert!(ws.status.as_ref().unwrap().registries.contains_key("app"));
    let ready = messages(&ws);
    assert!(ready.contains(&app) && ready.contains("holds images"), "{ready}");

    // Deletion waits for the repository with images, Stalled, naming it and the fields to set.
    stacks.delete("reg", &DeleteParams::default()).await.unwrap();
    let waiting = until(&stacks, "reg", &op, "deletion waiting on app", 90, |ws| {
        messages(ws).contains("registriesForceDelete: true")
    })
    .await;
    let said = messages(&waiting);
    assert!(said.contains(&app) && said.contains("deletionPolicy: Delete"), "{said}");
    let stalled = waiting
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled");
    assert!(
        stalled.is_some_and(|c| c.status == "True" && c.reason == "RepositoryNotEmpty"),
        "{said}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        named_for(&config, &ns).await,
        vec![app.clone()],
        "nothing deleted without force"
    );
    assert!(stacks.get_opt("reg").await.unwrap().is_some());

    // With registriesForceDelete the repository goes with its images, then the stack.
    stacks
        .patch(
            "reg",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"registriesForceDelete": true}})),
        )
        .await
        .unwrap();
    gone(&stacks, "reg", &op, 90).await;
    assert!(named_for(&config, &ns).await.is_empty());
    let left = leftovers(&config, &ns).await;
    assert!(left.is_empty(), "left in AWS after deletion: {left:#?}");
}
