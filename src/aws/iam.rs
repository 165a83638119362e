//! IAM: the stack's task execution role and its inline policy, and the tag conversions and role
//! tagging the EC2 capacity's instance role shares (`capacity.rs`). IAM is global and eventually
//! consistent: a role just created may not be usable by ECS for a few seconds (ECS retries).

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::{AwsError, TagMap, classify, deleted};
use crate::model::execution::{ObservedRole, POLICY_NAME, parse_document};

/// IAM's code for a role, profile or policy that does not exist.
pub(super) const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// A [`TagMap`] as IAM tags.
pub(super) fn sdk_tags(tags: &TagMap) -> Result<Vec<Tag>, AwsError> {
    super::built_sdk_tags!(Tag, tags, "TagRole")
}

/// IAM tags as a [`TagMap`].
pub(super) fn tag_map(tags: &[Tag]) -> TagMap {
    super::required_tag_map!(tags)
}

/// The role with its tags and trust policy (GetRole), and its inline policy (GetRolePolicy).
pub async fn role(c: &Client, name: &str) -> Result<Option<ObservedRole>, AwsError> {
    role_with_policy(c, name, POLICY_NAME).await
}

/// The role with its tags and trust policy, and its inline policy `policy_name`.
pub async fn role_with_policy(c: &Client, name: &str, policy_name: &str) -> Result<Option<ObservedRole>, AwsError> {
    let out = match c.get_role().role_name(name).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = classify("GetRole", e);
            return if e.is_not_found() || e.code == NO_SUCH_ENTITY {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let Some(r) = out.role() else { return Ok(None) };
    Ok(Some(ObservedRole {
        name: name.into(),
        arn: r.arn().into(),
        tags: tag_map(r.tags()),
        trust: r.assume_role_policy_document().and_then(parse_document),
        policy: policy(c, name, policy_name).await?,
    }))
}

/// The role's inline policy, `None` when it has none.
async fn policy(c: &Client, role: &str, policy_name: &str) -> Result<Option<Value>, AwsError> {
    match c
        .get_role_policy()
        .role_name(role)
        .policy_name(policy_name)
        .send()
        .await
    {
        Ok(out) => Ok(parse_document(out.policy_document())),
        Err(e) => {
            let e = classify("GetRolePolicy", e);
            if e.code == NO_SUCH_ENTITY || e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Creates the role (tags in the call) and returns its ARN.
pub async fn create_role(c: &Client, name: &str, trust: &Value, tags: &TagMap) -> Result<String, AwsError> {
    create_described_role(
        c,
        name,
        "webstack-operator: ECS task execution role of one stack",
        trust,
        tags,
    )
    .await
}

/// Creates a role with `description` (tags in the call) and returns its ARN.
pub async fn create_described_role(
    c: &Client,
    name: &str,
    description: &str,
    trust: &Value,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .description(description)
        .set_tags(Some(sdk_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("CreateRole", e))?;
    Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default())
}

pub async fn put_policy(c: &Client, role: &str, document: &Value) -> Result<(), AwsError> {
    put_named_policy(c, role, POLICY_NAME, document).await
}

pub async fn put_named_policy(c: &Client, role: &str, policy_name: &str, document: &Value) -> Result<(), AwsError> {
    c.put_role_policy()
        .role_name(role)
        .policy_name(policy_name)
        .policy_document(document.to_string())
        .send()
        .await
        .map_err(|e| classify("PutRolePolicy", e))?;
    Ok(())
}

pub async fn update_trust(c: &Client, role: &str, trust: &Value) -> Result<(), AwsError> {
    c.update_assume_role_policy()
        .role_name(role)
        .policy_document(trust.to_string())
        .send()
        .await
        .map_err(|e| classify("UpdateAssumeRolePolicy", e))?;
    Ok(())
}

/// Adds or overwrites tags of a role.
pub async fn tag_role(c: &Client, role: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_role()
        .role_name(role)
        .set_tags(Some(sdk_tags(tags)?))
        .send()
        .await
        .map_err(|e| classify("TagRole", e))?;
    Ok(())
}

pub async fn untag_role(c: &Client, role: &str, keys: &[&str]) -> Result<(), AwsError> {
    let result = c
        .untag_role()
        .role_name(role)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await;
    deleted("UntagRole", result, &[NO_SUCH_ENTITY])
}

/// Deletes the inline policy, then the role (IAM refuses to delete a role with policies).
pub async fn delete_role(c: &Client, role: &str) -> Result<(), AwsError> {
    delete_role_with_policy(c, role, POLICY_NAME).await
}

/// Deletes the inline policy `policy_name`, then the role.
pub async fn delete_role_with_policy(c: &Client, role: &str, policy_name: &str) -> Result<(), AwsError> {
    let result = c
        .delete_role_policy()
        .role_name(role)
        .policy_name(policy_name)
        .send()
        .await;
    deleted("DeleteRolePolicy", result, &[NO_SUCH_ENTITY])?;
    deleted(
        "DeleteRole",
        c.delete_role().role_name(role).send().await,
        &[NO_SUCH_ENTITY],
    )
}
