//! RDS: a stack's DB subnet group and database instance (encrypted, private, gp3, tags copied to
//! snapshots), modified in place, deleted with or without a final snapshot.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;

use super::{AwsError, TagMap, classify, deleted, sdk_tags, tag_map};
use crate::model::data::{DesiredDatabase, ObservedDatabase, ObservedSubnetGroup, Sensitive};

/// The subnet group named `name`, if it exists.
pub async fn find_subnet_group(c: &Client, name: &str) -> Result<Option<ObservedSubnetGroup>, AwsError> {
    let out = match c.describe_db_subnet_groups().db_subnet_group_name(name).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = classify("DescribeDBSubnetGroups", e);
            return if e.code == "DBSubnetGroupNotFoundFault" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let Some(g) = out.db_subnet_groups().first() else {
        return Ok(None);
    };
    let arn = g.db_subnet_group_arn().unwrap_or_default();
    let subnets = g
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(String::from));
    Ok(Some(ObservedSubnetGroup::new(name, arn, subnets, tags(c, arn).await?)))
}

pub async fn create_subnet_group(c: &Client, name: &str, subnets: &[String], tags: &TagMap) -> Result<(), AwsError> {
    c.create_db_subnet_group()
        .db_subnet_group_name(name)
        .db_subnet_group_description("webstack: the stack's private subnets")
        .set_subnet_ids(Some(subnets.to_vec()))
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateDBSubnetGroup", e))?;
    Ok(())
}

pub async fn modify_subnet_group(c: &Client, name: &str, subnets: &[String]) -> Result<(), AwsError> {
    c.modify_db_subnet_group()
        .db_subnet_group_name(name)
        .set_subnet_ids(Some(subnets.to_vec()))
        .send()
        .await
        .map_err(|e| classify("ModifyDBSubnetGroup", e))?;
    Ok(())
}

pub async fn delete_subnet_group(c: &Client, name: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteDBSubnetGroup",
        c.delete_db_subnet_group().db_subnet_group_name(name).send().await,
        &["DBSubnetGroupNotFoundFault"],
    )
}

/// The instance `identifier`, if it exists.
pub async fn find(c: &Client, identifier: &str) -> Result<Option<ObservedDatabase>, AwsError> {
    let out = match c
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let e = classify("DescribeDBInstances", e);
            return if e.code == "DBInstanceNotFound" || e.code == "DBInstanceNotFoundFault" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    Ok(out.db_instances().first().map(|d| {
        let pending = d.pending_modified_values().is_some_and(|p| {
            p.db_instance_class().is_some()
                || p.allocated_storage().is_some()
                || p.multi_az().is_some()
                || p.backup_retention_period().is_some()
        });
        ObservedDatabase {
            identifier: identifier.to_string(),
            arn: d.db_instance_arn().unwrap_or_default().to_string(),
            status: d.db_instance_status().unwrap_or_default().to_string(),
            endpoint: d.endpoint().and_then(|e| Some((e.address()?.to_string(), e.port()?))),
            instance_class: d.db_instance_class().unwrap_or_default().to_string(),
            storage_gib: d.allocated_storage().unwrap_or_default(),
            multi_az: d.multi_az().unwrap_or_default(),
            backup_retention_days: d.backup_retention_period().unwrap_or_default(),
            deletion_protection: d.deletion_protection().unwrap_or_default(),
            pending,
            tags: tag_map!(d.tag_list()),
        }
    }))
}

/// Creates the instance: encrypted, never public, gp3, the stack's database group only, the
/// password read back from the secret that holds it.
pub async fn create(
    c: &Client,
    d: &DesiredDatabase,
    password: &Sensitive,
    security_group: &str,
    tags: &TagMap,
) -> Result<(), AwsError> {
    c.create_db_instance()
        .db_instance_identifier(&d.identifier)
        .engine(&d.engine)
        .set_engine_version(d.engine_version.clone())
        .db_instance_class(&d.instance_class)
        .allocated_storage(d.storage_gib)
        .storage_type("gp3")
        .multi_az(d.multi_az)
        .backup_retention_period(d.backup_retention_days)
        .deletion_protection(d.deletion_protection)
        .db_name(&d.database_name)
        .master_username(&d.username)
        .master_user_password(password.expose())
        .db_subnet_group_name(&d.subnet_group)
        .vpc_security_group_ids(security_group)
        .storage_encrypted(true)
        .publicly_accessible(false)
        .copy_tags_to_snapshot(true)
        .port(d.port)
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateDBInstance", e))?;
    Ok(())
}

/// Applies what may change in place, at once.
pub async fn modify(c: &Client, d: &DesiredDatabase) -> Result<(), AwsError> {
    c.modify_db_instance()
        .db_instance_identifier(&d.identifier)
        .db_instance_class(&d.instance_class)
        .allocated_storage(d.storage_gib)
        .multi_az(d.multi_az)
        .backup_retention_period(d.backup_retention_days)
        .deletion_protection(d.deletion_protection)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| classify("ModifyDBInstance", e))?;
    Ok(())
}

/// Turns deletion protection off (only ever because the spec says so).
pub async fn unprotect(c: &Client, identifier: &str) -> Result<(), AwsError> {
    c.modify_db_instance()
        .db_instance_identifier(identifier)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| classify("ModifyDBInstance", e))?;
    Ok(())
}

/// Deletes the instance, after a final snapshot named `snapshot` when given.
pub async fn delete(c: &Client, identifier: &str, snapshot: Option<&str>) -> Result<(), AwsError> {
    deleted(
        "DeleteDBInstance",
        c.delete_db_instance()
            .db_instance_identifier(identifier)
            .skip_final_snapshot(snapshot.is_none())
            .set_final_db_snapshot_identifier(snapshot.map(String::from))
            .send()
            .await,
        &["DBInstanceNotFound", "DBInstanceNotFoundFault"],
    )
}

pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.add_tags_to_resource()
        .resource_name(arn)
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("AddTagsToResource", e))?;
    Ok(())
}

/// The tags of an RDS resource (none without an ARN).
pub async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    if arn.is_empty() {
        return Ok(TagMap::new());
    }
    let out = c
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(tag_map!(out.tag_list()))
}

pub async fn untag(c: &Client, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.remove_tags_from_resource()
        .resource_name(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("RemoveTagsFromResource", e))?;
    Ok(())
}
