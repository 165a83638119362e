//! ECR: the stack's container image repositories, their scanning, tag mutability, lifecycle
//! policy and tags.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};
use serde_json::Value;

use super::{AwsError, TagMap, classify, deleted};

/// A repository as DescribeRepositories reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub scan_on_push: bool,
    pub tag_mutability: String,
}

/// ECR's error when a named repository does not exist.
const NOT_FOUND: &str = "RepositoryNotFoundException";

/// ECR's tags; a tag ECR would refuse (empty key) is left out rather than failing the call.
fn sdk_tags(tags: &TagMap) -> Result<Vec<Tag>, AwsError> {
    super::built_sdk_tags!(Tag, tags, "TagResource")
}

fn repository(r: &aws_sdk_ecr::types::Repository) -> Repository {
    Repository {
        name: r.repository_name().unwrap_or_default().to_string(),
        arn: r.repository_arn().unwrap_or_default().to_string(),
        uri: r.repository_uri().unwrap_or_default().to_string(),
        scan_on_push: r.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
        tag_mutability: r
            .image_tag_mutability()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
    }
}

/// The repositories of `names` that exist. One call when all do (a settled stack); ECR answers
/// RepositoryNotFoundException for the whole call when one is missing, and then each name is
/// read on its own.
pub async fn describe(c: &Client, names: &[String]) -> Result<Vec<Repository>, AwsError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    match describe_names(c, names).await {
        Ok(found) => Ok(found),
        Err(e) if e.code == NOT_FOUND && names.len() > 1 => {
            let mut found = Vec::new();
            for n in names {
                match describe_names(c, std::slice::from_ref(n)).await {
                    Ok(mut one) => found.append(&mut one),
                    Err(e) if e.code == NOT_FOUND => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(found)
        }
        Err(e) if e.code == NOT_FOUND => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

async fn describe_names(c: &Client, names: &[String]) -> Result<Vec<Repository>, AwsError> {
    let mut found = Vec::new();
    // At most 100 names per call.
    for chunk in names.chunks(100) {
        let out = c
            .describe_repositories()
            .set_repository_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| classify("DescribeRepositories", e))?;
        found.extend(out.repositories().iter().map(repository));
    }
    Ok(found)
}

/// Creates a repository with its scanning, mutability and tags in the one call. An existing
/// repository of that name is an error (its owner is unknown here: observe checks it).
pub async fn create(
    c: &Client,
    name: &str,
    scan_on_push: bool,
    tag_mutability: &str,
    tags: &TagMap,
) -> Result<Repository, AwsError> {
    let out = c
        .create_repository()
        .repository_name(name)
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan_on_push).build())
        .image_tag_mutability(ImageTagMutability::from(tag_mutability))
        .set_tags(Some(sdk_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("CreateRepository", e))?;
    Ok(out.repository().map(repository).unwrap_or(Repository {
        name: name.into(),
        arn: String::new(),
        uri: String::new(),
        scan_on_push,
        tag_mutability: tag_mutability.into(),
    }))
}

pub async fn put_scanning(c: &Client, name: &str, scan_on_push: bool) -> Result<(), AwsError> {
    c.put_image_scanning_configuration()
        .repository_name(name)
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan_on_push).build())
        .send()
        .await
        .map_err(|e| classify("PutImageScanningConfiguration", e))?;
    Ok(())
}

pub async fn put_mutability(c: &Client, name: &str, tag_mutability: &str) -> Result<(), AwsError> {
    c.put_image_tag_mutability()
        .repository_name(name)
        .image_tag_mutability(ImageTagMutability::from(tag_mutability))
        .send()
        .await
        .map_err(|e| classify("PutImageTagMutability", e))?;
    Ok(())
}

/// The lifecycle policy, parsed; `None` when the repository has none.
pub async fn lifecycle_policy(c: &Client, name: &str) -> Result<Option<Value>, AwsError> {
    match c.get_lifecycle_policy().repository_name(name).send().await {
        Ok(out) => Ok(out
            .lifecycle_policy_text()
            .map(|t| serde_json::from_str(t).unwrap_or(Value::Null))),
        Err(e) => {
            let e = classify("GetLifecyclePolicy", e);
            if e.code == "LifecyclePolicyNotFoundException" {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

pub async fn put_lifecycle_policy(c: &Client, name: &str, policy: &Value) -> Result<(), AwsError> {
    c.put_lifecycle_policy()
        .repository_name(name)
        .lifecycle_policy_text(policy.to_string())
        .send()
        .await
        .map_err(|e| classify("PutLifecyclePolicy", e))?;
    Ok(())
}

/// Whether the repository holds at least one image (tagged or not).
pub async fn has_images(c: &Client, name: &str) -> Result<bool, AwsError> {
    let out = c
        .list_images()
        .repository_name(name)
        .max_results(1)
        .send()
        .await
        .map_err(|e| classify("ListImages", e))?;
    Ok(!out.image_ids().is_empty())
}

pub async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    let out = c
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(super::required_tag_map!(out.tags()))
}

pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(sdk_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("TagResource", e))?;
    Ok(())
}

pub async fn untag(c: &Client, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("UntagResource", e))?;
    Ok(())
}

/// Deletes the repository; with `force`, with its images (else ECR refuses a repository that
/// holds any: RepositoryNotEmptyException). Gone already counts as done.
pub async fn delete(c: &Client, name: &str, force: bool) -> Result<(), AwsError> {
    let out = c.delete_repository().repository_name(name).force(force).send().await;
    deleted("DeleteRepository", out, &[NOT_FOUND])
}
