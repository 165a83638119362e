//! plan (pure): the bucket (created private, with its settings), the Origin Access Control, the
//! distribution (created, or updated only when its canonical configuration differs) and the
//! bucket policy scoped to it; and deletion: disable, wait until deployed, delete the
//! distribution, then the OAC, then empty and delete the bucket (`Retain`: untag instead).

use std::fmt;

use crate::api::DeletionPolicy;
use crate::model::ownership::missing_tags;
use crate::model::site::{DesiredSite, DistributionConfig, ObservedSite, bucket_policy, canonical_policy};

/// One change to AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    CreateBucket,
    TagBucket,
    BlockPublicAccess,
    EnforceOwnership,
    Encrypt,
    CreateOac,
    CreateDistribution,
    UpdateDistribution {
        id: String,
        changes: Vec<&'static str>,
    },
    TagDistribution {
        arn: String,
    },
    PutBucketPolicy,
    DisableDistribution {
        id: String,
    },
    /// Not an AWS call: the distribution deploys (minutes on AWS) before it can be deleted.
    AwaitDeployed {
        id: String,
    },
    DeleteDistribution {
        id: String,
        etag: String,
    },
    DeleteOac {
        id: String,
    },
    EmptyBucket,
    DeleteBucket,
    UntagBucket,
    UntagDistribution {
        arn: String,
    },
}

impl crate::reconcile::Step for Step {
    fn action(&self) -> &'static str {
        match self {
            Step::CreateBucket => "CreateBucket",
            Step::TagBucket => "PutBucketTagging",
            Step::BlockPublicAccess => "PutPublicAccessBlock",
            Step::EnforceOwnership => "PutBucketOwnershipControls",
            Step::Encrypt => "PutBucketEncryption",
            Step::CreateOac => "CreateOriginAccessControl",
            Step::CreateDistribution => "CreateDistributionWithTags",
            Step::UpdateDistribution { .. } | Step::DisableDistribution { .. } => "UpdateDistribution",
            Step::TagDistribution { .. } => "TagResource",
            Step::PutBucketPolicy => "PutBucketPolicy",
            Step::AwaitDeployed { .. } => "GetDistribution",
            Step::DeleteDistribution { .. } => "DeleteDistribution",
            Step::DeleteOac { .. } => "DeleteOriginAccessControl",
            Step::EmptyBucket => "DeleteObjects",
            Step::DeleteBucket => "DeleteBucket",
            Step::UntagBucket => "PutBucketTagging",
            Step::UntagDistribution { .. } => "UntagResource",
        }
    }

    fn op(&self) -> crate::model::change::Op {
        use crate::model::change::Op;
        match self {
            Step::UntagBucket => Op::Untag,
            Step::DisableDistribution { .. } => Op::Delete,
            _ => Op::of_action(crate::reconcile::Step::action(self)),
        }
    }

    fn destructive(&self) -> Option<String> {
        match self {
            Step::EmptyBucket => Some("every object (and every version) in the bucket is deleted".into()),
            Step::DeleteDistribution { .. } => {
                Some("the distribution's domain stops serving (a new distribution gets another domain)".into())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateBucket => write!(f, "create the bucket"),
            Step::TagBucket => write!(f, "restore the bucket's tags"),
            Step::BlockPublicAccess => write!(f, "block all public access to the bucket"),
            Step::EnforceOwnership => write!(f, "enforce bucket-owner object ownership"),
            Step::Encrypt => write!(f, "turn on default encryption (SSE-S3)"),
            Step::CreateOac => write!(f, "create the origin access control"),
            Step::CreateDistribution => write!(f, "create the distribution"),
            Step::UpdateDistribution { id, changes } => {
                write!(f, "update distribution {id}: {}", changes.join(", "))
            }
            Step::TagDistribution { arn } => write!(f, "restore the tags of {arn}"),
            Step::PutBucketPolicy => write!(f, "scope the bucket policy to the distribution"),
            Step::DisableDistribution { id } => write!(f, "disable distribution {id}"),
            Step::AwaitDeployed { id } => write!(f, "wait until distribution {id} is deployed"),
            Step::DeleteDistribution { id, .. } => write!(f, "delete distribution {id}"),
            Step::DeleteOac { id } => write!(f, "delete origin access control {id}"),
            Step::EmptyBucket => write!(f, "delete every object version of the bucket"),
            Step::DeleteBucket => write!(f, "delete the bucket"),
            Step::UntagBucket => write!(f, "remove the ownership tags of the bucket"),
            Step::UntagDistribution { arn } => write!(f, "remove the ownership tags of {arn}"),
        }
    }
}

/// The fields of a distribution configuration that differ.
pub fn changes(want: &DistributionConfig, have: &DistributionConfig) -> Vec<&'static str> {
    [
        ("comment", want.comment != have.comment),
        ("enabled", want.enabled != have.enabled),
        ("bucket origin", want.bucket_origin != have.bucket_origin),
        (
            "load balancer origin",
            want.load_balancer_origin != have.load_balancer_origin,
        ),
        ("default behaviour", want.default_behavior != have.default_behavior),
        ("behaviours", want.behaviors != have.behaviors),
        ("error responses", want.error_responses != have.error_responses),
        (
            "default root object",
            want.default_root_object != have.default_root_object,
        ),
        ("price class", want.price_class != have.price_class),
        ("aliases", want.aliases != have.aliases),
        ("certificate", want.certificate_arn != have.certificate_arn),
        ("web ACL", want.web_acl_id != have.web_acl_id),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

/// The configuration the distribution should have, with the OAC that exists (or is to be made).
pub fn wanted(d: &DesiredSite, o: &ObservedSite) -> DistributionConfig {
    let mut config = d.config.clone();
    config.bucket_origin.1 = o.oac.as_ref().map(|oac| oac.id.clone()).unwrap_or_default();
    config
}

/// The steps that make AWS match `d`, in dependency order.
pub fn plan(d: &DesiredSite, o: &ObservedSite) -> Vec<Step> {
    let mut steps = Vec::new();
    match &o.bucket {
        None => steps.extend([
            Step::CreateBucket,
            Step::BlockPublicAccess,
            Step::EnforceOwnership,
            Step::Encrypt,
        ]),
        Some(b) => {
            if b.tags.as_ref().is_some_and(|t| !missing_tags(&d.tags, t).is_empty()) {
                steps.push(Step::TagBucket);
            }
            if !b.public_access_blocked {
                steps.push(Step::BlockPublicAccess);
            }
            if b.ownership_enforced == Some(false) {
                steps.push(Step::EnforceOwnership);
            }
            if b.encrypted == Some(false) {
                steps.push(Step::Encrypt);
            }
        }
    }
    if o.oac.is_none() {
        steps.push(Step::CreateOac);
    }
    let want = wanted(d, o);
    match &o.distribution {
        None => steps.push(Step::CreateDistribution),
        Some(dist) => {
            let changed = changes(&want, &dist.config);
            if o.oac.is_none() || !changed.is_empty() {
                let mut changed = changed;
                if changed.is_empty() {
                    changed.push("bucket origin");
                }
                steps.push(Step::UpdateDistribution {
                    id: dist.id.clone(),
                    changes: changed,
                });
            }
            if dist.tags.as_ref().is_some_and(|t| !missing_tags(&d.tags, t).is_empty()) {
                steps.push(Step::TagDistribution { arn: dist.arn.clone() });
            }
        }
    }
    let scoped = match (&o.distribution, o.bucket.as_ref().and_then(|b| b.policy.as_ref())) {
        (Some(dist), Some(policy)) => {
            canonical_policy(policy) == canonical_policy(&bucket_policy(&d.bucket, &dist.arn))
        }
        _ => false,
    };
    if !scoped {
        steps.push(Step::PutBucketPolicy);
    }
    steps
}

/// Deletion, in order; each reconcile goes as far as AWS lets it (a distribution must be disabled
/// and deployed before it is deleted).
pub fn plan_cleanup(o: &ObservedSite, policy: DeletionPolicy) -> Vec<Step> {
    let mut steps = Vec::new();
    if policy == DeletionPolicy::Retain {
        if o.bucket.is_some() {
            steps.push(Step::UntagBucket);
        }
        if let Some(d) = &o.distribution {
            steps.push(Step::UntagDistribution { arn: d.arn.clone() });
        }
        return steps;
    }
    if let Some(d) = &o.distribution {
        if d.config.enabled {
            steps.push(Step::DisableDistribution { id: d.id.clone() });
        }
        if d.config.enabled || d.status != "Deployed" {
            steps.push(Step::AwaitDeployed { id: d.id.clone() });
        }
        steps.push(Step::DeleteDistribution {
            id: d.id.clone(),
            etag: d.etag.clone(),
        });
    }
    if let Some(oac) = &o.oac {
        steps.push(Step::DeleteOac { id: oac.id.clone() });
    }
    if o.bucket.is_some() {
        steps.extend([Step::EmptyBucket, Step::DeleteBucket]);
    }
    steps
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
