//! S3: a site's private bucket: created with every public access block on, bucket-owner-enforced
//! object ownership, default encryption and the ownership tags; its policy; emptied of every
//! version and delete marker before it is deleted.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};

use super::{AwsError, RetryClass, TagMap, classify, deleted};
use crate::model::site::ObservedBucket;

/// S3's tag set as a map.
fn tag_map(tags: &[Tag]) -> TagMap {
    super::required_tag_map!(tags)
}

fn built<T>(
    operation: &'static str,
    r: Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T, AwsError> {
    r.map_err(|e| AwsError::invalid_request(operation, e))
}

/// `Ok(None)` when the error says the thing asked about does not exist (`codes`).
fn absent<T>(r: Result<T, AwsError>, codes: &[&str]) -> Result<Option<T>, AwsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if codes.contains(&e.code.as_str()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The bucket's state, if it exists. The policy read doubles as the existence check; with `deep`
/// the tags, ownership controls and encryption are read too. An existing bucket this account may
/// not read (another account's) is an `AccessDenied` error.
pub async fn observe(c: &Client, name: &str, deep: bool) -> Result<Option<ObservedBucket>, AwsError> {
    let policy = c.get_bucket_policy().bucket(name).send().await;
    let policy = match policy.map_err(|e| classify("GetBucketPolicy", e)) {
        Err(e) if e.code == "NoSuchBucket" => return Ok(None),
        other => absent(other, &["NoSuchBucketPolicy"])?,
    };
    let policy = policy
        .and_then(|p| p.policy().map(String::from))
        .and_then(|text| serde_json::from_str(&text).ok());
    let block = c.get_public_access_block().bucket(name).send().await;
    let block = absent(
        block.map_err(|e| classify("GetPublicAccessBlock", e)),
        &["NoSuchPublicAccessBlockConfiguration"],
    )?;
    let public_access_blocked = block
        .as_ref()
        .and_then(|b| b.public_access_block_configuration())
        .is_some_and(|b| {
            b.block_public_acls() == Some(true)
                && b.ignore_public_acls() == Some(true)
                && b.block_public_policy() == Some(true)
                && b.restrict_public_buckets() == Some(true)
        });
    let mut bucket = ObservedBucket {
        name: name.to_string(),
        public_access_blocked,
        policy,
        ..ObservedBucket::default()
    };
    if deep {
        let tags = c.get_bucket_tagging().bucket(name).send().await;
        bucket.tags = Some(
            absent(tags.map_err(|e| classify("GetBucketTagging", e)), &["NoSuchTagSet"])?
                .map(|t| tag_map(t.tag_set()))
                .unwrap_or_default(),
        );
        let ownership = c.get_bucket_ownership_controls().bucket(name).send().await;
        let ownership = absent(
            ownership.map_err(|e| classify("GetBucketOwnershipControls", e)),
            &["OwnershipControlsNotFoundError"],
        )?;
        bucket.ownership_enforced = Some(ownership.is_some_and(|o| {
            o.ownership_controls().is_some_and(|c| {
                c.rules()
                    .iter()
                    .any(|r| r.object_ownership() == &ObjectOwnership::BucketOwnerEnforced)
            })
        }));
        let encryption = c.get_bucket_encryption().bucket(name).send().await;
        let encryption = absent(
            encryption.map_err(|e| classify("GetBucketEncryption", e)),
            &["ServerSideEncryptionConfigurationNotFoundError"],
        )?;
        bucket.encrypted = Some(encryption.is_some_and(|e| {
            e.server_side_encryption_configuration()
                .is_some_and(|c| !c.rules().is_empty())
        }));
    }
    Ok(Some(bucket))
}

/// Creates the bucket in `region` (us-east-1 takes no location constraint) with its tags in the
/// create call itself, so that a crash right after never leaves a bucket nobody owns.
pub async fn create(c: &Client, name: &str, region: &str, tags: &TagMap) -> Result<(), AwsError> {
    let mut config = CreateBucketConfiguration::builder().set_tags(Some(s3_tags("CreateBucket", tags)?));
    if region != "us-east-1" {
        config = config.location_constraint(BucketLocationConstraint::from(region));
    }
    c.create_bucket()
        .bucket(name)
        .create_bucket_configuration(config.build())
        .send()
        .await
        .map_err(|e| classify("CreateBucket", e))?;
    Ok(())
}

fn s3_tags(op: &'static str, tags: &TagMap) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| built(op, Tag::builder().key(k).value(v).build()))
        .collect()
}

/// Sets the bucket's tags (the whole set).
pub async fn put_tags(c: &Client, name: &str, tags: &TagMap) -> Result<(), AwsError> {
    const OP: &str = "PutBucketTagging";
    let tagging = built(OP, Tagging::builder().set_tag_set(Some(s3_tags(OP, tags)?)).build())?;
    c.put_bucket_tagging()
        .bucket(name)
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| classify("PutBucketTagging", e))?;
    Ok(())
}

/// Removes `keys` from the bucket's tags (`deletionPolicy: Retain`).
pub async fn untag(c: &Client, name: &str, keys: &[&str]) -> Result<(), AwsError> {
    let tags = c.get_bucket_tagging().bucket(name).send().await;
    let tags = absent(tags.map_err(|e| classify("GetBucketTagging", e)), &["NoSuchTagSet"])?
        .map(|t| tag_map(t.tag_set()))
        .unwrap_or_default();
    let kept: TagMap = tags.into_iter().filter(|(k, _)| !keys.contains(&k.as_str())).collect();
    if kept.is_empty() {
        c.delete_bucket_tagging()
            .bucket(name)
            .send()
            .await
            .map_err(|e| classify("DeleteBucketTagging", e))?;
        return Ok(());
    }
    put_tags(c, name, &kept).await
}

/// Turns on all four public access blocks.
pub async fn block_public_access(c: &Client, name: &str) -> Result<(), AwsError> {
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    c.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| classify("PutPublicAccessBlock", e))?;
    Ok(())
}

/// Object ownership `BucketOwnerEnforced`: ACLs are off, the bucket owner owns every object.
pub async fn enforce_ownership(c: &Client, name: &str) -> Result<(), AwsError> {
    const OP: &str = "PutBucketOwnershipControls";
    let rule = built(
        OP,
        OwnershipControlsRule::builder()
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .build(),
    )?;
    let controls = built(OP, OwnershipControls::builder().rules(rule).build())?;
    c.put_bucket_ownership_controls()
        .bucket(name)
        .ownership_controls(controls)
        .send()
        .await
        .map_err(|e| classify(OP, e))?;
    Ok(())
}

/// Default encryption with S3-managed keys (SSE-S3).
pub async fn encrypt(c: &Client, name: &str) -> Result<(), AwsError> {
    const OP: &str = "PutBucketEncryption";
    let default = built(
        OP,
        ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build(),
    )?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        .build();
    let config = built(OP, ServerSideEncryptionConfiguration::builder().rules(rule).build())?;
    c.put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .map_err(|e| classify(OP, e))?;
    Ok(())
}

pub async fn put_policy(c: &Client, name: &str, policy: &serde_json::Value) -> Result<(), AwsError> {
    c.put_bucket_policy()
        .bucket(name)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(|e| classify("PutBucketPolicy", e))?;
    Ok(())
}

/// How much of a bucket one pass empties: `pages` listings of at most `page` versions, each
/// deleted in one call. More remain after that: the next pass goes on (a reconcile never spends
/// minutes, or thousands of calls, on one bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmptyPass {
    pub page: i32,
    pub pages: usize,
}

impl Default for EmptyPass {
    /// 10 pages of 1,000: DeleteObjects takes at most 1,000 keys a call.
    fn default() -> Self {
        EmptyPass { page: 1000, pages: 10 }
    }
}

/// How far a pass of [`empty`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Emptied {
    pub removed: usize,
    /// No version or delete marker is left (or the bucket is gone).
    pub done: bool,
}

/// Deletes object versions and delete markers, a page per call, for at most one `pass`.
/// A key S3 refuses to delete (Object Lock retention or a legal hold, a bucket policy that
/// denies it) ends the pass with an error naming it and S3's code, instead of being listed and
/// refused again forever: `AwsError` of class Terminal (a person must act), Transient for S3's
/// own failures (`InternalError`, `SlowDown`, `ServiceUnavailable`).
pub async fn empty(c: &Client, name: &str, pass: EmptyPass) -> Result<Emptied, AwsError> {
    let mut removed = 0;
    for _ in 0..pass.pages {
        let out = match c.list_object_versions().bucket(name).max_keys(pass.page).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = classify("ListObjectVersions", e);
                return if e.code == "NoSuchBucket" {
                    Ok(Emptied { removed, done: true })
                } else {
                    Err(e)
                };
            }
        };
        let mut ids = Vec::new();
        let versions = out.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = out.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        for (key, version) in versions.chain(markers) {
            let Some(key) = key else { continue };
            ids.push(built(
                "DeleteObjects",
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(String::from))
                    .build(),
            )?);
        }
        if ids.is_empty() {
            return Ok(Emptied { removed, done: true });
        }
        let asked = ids.len();
        let batch = built(
            "DeleteObjects",
            Delete::builder().set_objects(Some(ids)).quiet(true).build(),
        )?;
        let answer = c
            .delete_objects()
            .bucket(name)
            .delete(batch)
            .send()
            .await
            .map_err(|e| classify("DeleteObjects", e))?;
        if let Some(refused) = answer.errors().first() {
            let code = refused.code().unwrap_or("Unknown").to_string();
            let class = match code.as_str() {
                "InternalError" | "SlowDown" | "ServiceUnavailable" => RetryClass::Transient,
                _ => RetryClass::Terminal,
            };
            return Err(AwsError {
                operation: "DeleteObjects",
                message: format!(
                    "S3 refused to delete object {} (version {}) of bucket {name}: {}; {} of {asked} refused in this \
                     batch (Object Lock retention or a legal hold, or a policy that denies it, keeps the bucket from \
                     being emptied and deleted)",
                    refused.key().unwrap_or("?"),
                    refused.version_id().unwrap_or("null"),
                    refused.message().unwrap_or_default(),
                    answer.errors().len(),
                ),
                code,
                request_id: "-".into(),
                class,
            });
        }
        removed += asked;
    }
    Ok(Emptied { removed, done: false })
}

pub async fn delete(c: &Client, name: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteBucket",
        c.delete_bucket().bucket(name).send().await,
        &["NoSuchBucket"],
    )
}
