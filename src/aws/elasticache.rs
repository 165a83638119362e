//! ElastiCache: a stack's cache subnet group and Redis replication group (cluster mode disabled:
//! one primary and its replicas), encrypted in transit and at rest, with an AUTH token.

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::types::Tag;

use super::{AwsError, TagMap, classify, deleted, sdk_tags, tag_map};
use crate::model::data::{DesiredCache, ObservedCache, ObservedSubnetGroup, Sensitive};

pub async fn find_subnet_group(c: &Client, name: &str) -> Result<Option<ObservedSubnetGroup>, AwsError> {
    let out = match c
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let e = classify("DescribeCacheSubnetGroups", e);
            return if e.code == "CacheSubnetGroupNotFoundFault" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let Some(g) = out.cache_subnet_groups().first() else {
        return Ok(None);
    };
    let arn = g.arn().unwrap_or_default();
    let subnets = g
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(String::from));
    Ok(Some(ObservedSubnetGroup::new(name, arn, subnets, tags(c, arn).await?)))
}

/// The tags of an ElastiCache resource (none without an ARN).
async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    if arn.is_empty() {
        return Ok(TagMap::new());
    }
    let t = c
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| classify("ListTagsForResource", e))?;
    Ok(tag_map!(t.tag_list()))
}

pub async fn create_subnet_group(c: &Client, name: &str, subnets: &[String], tags: &TagMap) -> Result<(), AwsError> {
    c.create_cache_subnet_group()
        .cache_subnet_group_name(name)
        .cache_subnet_group_description("webstack: the stack's private subnets")
        .set_subnet_ids(Some(subnets.to_vec()))
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateCacheSubnetGroup", e))?;
    Ok(())
}

pub async fn modify_subnet_group(c: &Client, name: &str, subnets: &[String]) -> Result<(), AwsError> {
    c.modify_cache_subnet_group()
        .cache_subnet_group_name(name)
        .set_subnet_ids(Some(subnets.to_vec()))
        .send()
        .await
        .map_err(|e| classify("ModifyCacheSubnetGroup", e))?;
    Ok(())
}

pub async fn delete_subnet_group(c: &Client, name: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteCacheSubnetGroup",
        c.delete_cache_subnet_group().cache_subnet_group_name(name).send().await,
        &["CacheSubnetGroupNotFoundFault"],
    )
}

/// The replication group `id`, if it exists; with `tags`, its tags too (one more call).
pub async fn find(c: &Client, id: &str, tags: bool) -> Result<Option<ObservedCache>, AwsError> {
    let out = match c.describe_replication_groups().replication_group_id(id).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = classify("DescribeReplicationGroups", e);
            return if e.code == "ReplicationGroupNotFoundFault" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let Some(g) = out.replication_groups().first() else {
        return Ok(None);
    };
    let arn = g.arn().unwrap_or_default().to_string();
    let tags = if tags {
        self::tags(c, &arn).await?
    } else {
        TagMap::new()
    };
    Ok(Some(ObservedCache {
        replication_group: id.to_string(),
        arn,
        status: g.status().unwrap_or_default().to_string(),
        endpoint: g
            .node_groups()
            .first()
            .and_then(|n| n.primary_endpoint())
            .and_then(|e| Some((e.address()?.to_string(), e.port()?))),
        node_type: g.cache_node_type().unwrap_or_default().to_string(),
        num_nodes: g.member_clusters().len() as i32,
        automatic_failover: g
            .automatic_failover()
            .is_some_and(|a| a.as_str() == "enabled" || a.as_str() == "enabling"),
        tags,
    }))
}

/// Creates the replication group: `num_nodes` clusters, failover and Multi-AZ with more than one,
/// TLS and encryption at rest, the AUTH token read back from the secret that holds it.
pub async fn create(
    c: &Client,
    d: &DesiredCache,
    token: &Sensitive,
    security_group: &str,
    tags: &TagMap,
) -> Result<(), AwsError> {
    let several = d.num_nodes > 1;
    c.create_replication_group()
        .replication_group_id(&d.replication_group)
        .replication_group_description("webstack: the stack's Redis cache")
        .engine("redis")
        .cache_node_type(&d.node_type)
        .num_cache_clusters(d.num_nodes)
        .automatic_failover_enabled(several)
        .multi_az_enabled(several)
        .cache_subnet_group_name(&d.subnet_group)
        .security_group_ids(security_group)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .auth_token(token.expose())
        .port(6379)
        .set_tags(Some(sdk_tags!(Tag, tags)))
        .send()
        .await
        .map_err(|e| classify("CreateReplicationGroup", e))?;
    Ok(())
}

/// Changes the node type at once.
pub async fn set_node_type(c: &Client, id: &str, node_type: &str) -> Result<(), AwsError> {
    c.modify_replication_group()
        .replication_group_id(id)
        .cache_node_type(node_type)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| classify("ModifyReplicationGroup", e))?;
    Ok(())
}

/// Turns automatic failover and Multi-AZ on or off (on needs a replica, so it follows a scale-out;
/// off precedes a scale-in to one node).
pub async fn set_failover(c: &Client, id: &str, on: bool) -> Result<(), AwsError> {
    c.modify_replication_group()
        .replication_group_id(id)
        .automatic_failover_enabled(on)
        .multi_az_enabled(on)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| classify("ModifyReplicationGroup", e))?;
    Ok(())
}

/// Sets the number of replicas (the nodes besides the primary).
pub async fn set_replicas(c: &Client, id: &str, from: i32, to: i32) -> Result<(), AwsError> {
    if to > from {
        c.increase_replica_count()
            .replication_group_id(id)
            .new_replica_count(to)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| classify("IncreaseReplicaCount", e))?;
    } else {
        c.decrease_replica_count()
            .replication_group_id(id)
            .new_replica_count(to)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| classify("DecreaseReplicaCount", e))?;
    }
    Ok(())
}

pub async fn delete(c: &Client, id: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteReplicationGroup",
        c.delete_replication_group().replication_group_id(id).send().await,
        &["ReplicationGroupNotFoundFault"],
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

pub async fn untag(c: &Client, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.remove_tags_from_resource()
        .resource_name(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("RemoveTagsFromResource", e))?;
    Ok(())
}
