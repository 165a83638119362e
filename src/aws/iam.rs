//! IAM: the stack's roles (the task execution role, the flow logs' delivery role, the EC2 instance
//! role), read with [`read_role`] and changed one [`RoleStep`] at a time by [`apply_role`]; and the
//! tag conversions the instance profile shares (`capacity.rs`). IAM is global and eventually
//! consistent: a role just created may not be usable by ECS for a few seconds, so [`read_role`]
//! tells how young it is (`young_for`) and the stack hands it to its services only after that.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::{AwsError, TagMap, classify, deleted};
use crate::model::ownership::{OWNERSHIP_KEYS, missing_tags, select};
use crate::model::role::{DesiredRole, ObservedRole, RoleChange, RoleKind, RoleStep, parse_document, young_for};

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

/// `None` for IAM's "not found".
pub(super) fn absent<T>(r: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code == NO_SUCH_ENTITY || e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The role of `kind` named `name`, read whole: its tags and trust policy (GetRole), its inline
/// policy when its kind has one (GetRolePolicy) and its managed policies when its kind has them
/// (ListAttachedRolePolicies).
pub async fn read_role(c: &Client, kind: RoleKind, name: &str) -> Result<Option<ObservedRole>, AwsError> {
    let out = absent(
        c.get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify("GetRole", e)),
    )?;
    let Some(r) = out.as_ref().and_then(|o| o.role()) else {
        return Ok(None);
    };
    let policy = match kind.inline_policy {
        Some(policy_name) => Some(inline_policy(c, name, policy_name).await?),
        None => None,
    };
    let managed = match kind.managed_policies {
        true => Some(attached_policies(c, name).await?),
        false => None,
    };
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.create_date().secs().max(0) as u64);
    let age = std::time::SystemTime::now().duration_since(created).unwrap_or_default();
    Ok(Some(ObservedRole {
        kind,
        name: name.into(),
        arn: r.arn().into(),
        tags: Some(tag_map(r.tags())),
        trust: r.assume_role_policy_document().and_then(parse_document),
        policy,
        managed,
        young_for: young_for(age),
    }))
}

/// The role's inline policy `policy_name`, `None` when it has none.
async fn inline_policy(c: &Client, role: &str, policy_name: &str) -> Result<Option<Value>, AwsError> {
    let out = absent(
        c.get_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(|e| classify("GetRolePolicy", e)),
    )?;
    Ok(out.and_then(|o| parse_document(o.policy_document())))
}

/// ARNs of the managed policies attached to a role.
async fn attached_policies(c: &Client, role: &str) -> Result<Vec<String>, AwsError> {
    let out = absent(
        c.list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| classify("ListAttachedRolePolicies", e)),
    )?;
    Ok(out
        .iter()
        .flat_map(|o| o.attached_policies())
        .filter_map(|p| p.policy_arn().map(String::from))
        .collect())
}

/// Whether a role's tags carry every ownership tag of `want` with the same value.
fn ours(have: Option<&TagMap>, want: &TagMap) -> bool {
    let keys: Vec<String> = OWNERSHIP_KEYS.iter().map(|k| k.to_string()).collect();
    let owned = select(want, &keys);
    !owned.is_empty() && have.is_some_and(|h| missing_tags(&owned, h).is_empty())
}

/// Runs one step of a role. `want` is the role as it should be, which every step but detaching,
/// deleting and untagging needs. Returns the role's ARN when the step created it.
pub async fn apply_role(c: &Client, want: Option<&DesiredRole>, step: &RoleStep) -> Result<Option<String>, AwsError> {
    let role = step.name.as_str();
    let want = || {
        want.ok_or_else(|| AwsError::invalid_request(step.action(), format!("{step}: the role's spec is not known")))
    };
    match &step.change {
        RoleChange::Create => {
            let w = want()?;
            let created = c
                .create_role()
                .role_name(role)
                .assume_role_policy_document(w.trust.to_string())
                .description(&w.description)
                .set_tags(Some(sdk_tags(&w.tags)?))
                .send()
                .await
                .map_err(|e| classify("CreateRole", e));
            return match created {
                Ok(out) => Ok(Some(out.role().map(|r| r.arn().to_string()).unwrap_or_default())),
                // IAM is eventually consistent: a role whose CreateRole answer was lost, or that
                // GetRole did not show yet, is refused as existing. Carrying this owner's
                // ownership tags it is ours (the role's other steps bring it to the spec);
                // anyone else's stays refused.
                Err(e) if e.code == "EntityAlreadyExists" => {
                    let found = read_role(c, step.kind, role).await?;
                    match found {
                        Some(r) if ours(r.tags.as_ref(), &w.tags) => Ok(Some(r.arn)),
                        _ => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
        }
        RoleChange::PutPolicy => {
            let w = want()?;
            let (Some(policy_name), Some(document)) = (step.kind.inline_policy, &w.policy) else {
                return Err(AwsError::invalid_request(
                    "PutRolePolicy",
                    format!("{step}: it has no inline policy"),
                ));
            };
            c.put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(document.to_string())
                .send()
                .await
                .map_err(|e| classify("PutRolePolicy", e))?;
        }
        RoleChange::UpdateTrust => {
            c.update_assume_role_policy()
                .role_name(role)
                .policy_document(want()?.trust.to_string())
                .send()
                .await
                .map_err(|e| classify("UpdateAssumeRolePolicy", e))?;
        }
        RoleChange::RestoreTags { keys } => {
            c.tag_role()
                .role_name(role)
                .set_tags(Some(sdk_tags(&select(&want()?.tags, keys))?))
                .send()
                .await
                .map_err(|e| classify("TagRole", e))?;
        }
        RoleChange::AttachPolicy { arn } => {
            c.attach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| classify("AttachRolePolicy", e))?;
        }
        RoleChange::DetachPolicies => {
            for policy in attached_policies(c, role).await? {
                deleted(
                    "DetachRolePolicy",
                    c.detach_role_policy().role_name(role).policy_arn(&policy).send().await,
                    &[NO_SUCH_ENTITY],
                )?;
            }
        }
        RoleChange::Delete => {
            if let Some(policy_name) = step.kind.inline_policy {
                deleted(
                    "DeleteRolePolicy",
                    c.delete_role_policy()
                        .role_name(role)
                        .policy_name(policy_name)
                        .send()
                        .await,
                    &[NO_SUCH_ENTITY],
                )?;
            }
            deleted(
                "DeleteRole",
                c.delete_role().role_name(role).send().await,
                &[NO_SUCH_ENTITY],
            )?;
        }
        RoleChange::Untag => untag_role(c, role).await?,
    }
    Ok(None)
}

/// Removes the ownership tags of a role (`deletionPolicy: Retain`).
pub async fn untag_role(c: &Client, role: &str) -> Result<(), AwsError> {
    let result = c
        .untag_role()
        .role_name(role)
        .set_tag_keys(Some(OWNERSHIP_KEYS.iter().map(|k| k.to_string()).collect()))
        .send()
        .await;
    deleted("UntagRole", result, &[NO_SUCH_ENTITY])
}
