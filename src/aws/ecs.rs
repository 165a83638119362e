//! ECS: the stack's cluster, found by name.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName, Tag};

use super::{AwsError, TagMap, classify};
use crate::webstack::observed::ObservedCluster;

/// The cluster named `name` and its tags, if it exists (an INACTIVE one counts as gone).
pub async fn find_cluster(c: &Client, name: &str) -> Result<Option<(ObservedCluster, TagMap)>, AwsError> {
    let out = c
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Settings)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|e| classify("DescribeClusters", e))?;
    Ok(out.clusters().first().map(|cl| {
        let insights = cl
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value())
            .is_some_and(|v| v == "enabled" || v == "enhanced");
        let tags: TagMap = cl
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        let observed = ObservedCluster {
            arn: cl.cluster_arn().unwrap_or_default().into(),
            name: cl.cluster_name().unwrap_or_default().into(),
            active: cl.status() == Some("ACTIVE"),
            container_insights: insights,
            tags: tags.clone(),
        };
        (observed, tags)
    }))
}

fn insights(enabled: bool) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if enabled { "enabled" } else { "disabled" })
        .build()
}

pub async fn create_cluster(
    c: &Client,
    name: &str,
    container_insights: bool,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_cluster()
        .cluster_name(name)
        .settings(insights(container_insights))
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| classify("CreateCluster", e))?;
    Ok(out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default().into())
}

pub async fn set_container_insights(c: &Client, name: &str, enabled: bool) -> Result<(), AwsError> {
    c.update_cluster_settings()
        .cluster(name)
        .settings(insights(enabled))
        .send()
        .await
        .map_err(|e| classify("UpdateClusterSettings", e))?;
    Ok(())
}

pub async fn delete_cluster(c: &Client, name_or_arn: &str) -> Result<(), AwsError> {
    match c.delete_cluster().cluster(name_or_arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = classify("DeleteCluster", e);
            if e.is_not_found() { Ok(()) } else { Err(e) }
        }
    }
}

/// Adds or overwrites tags.
pub async fn tag(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| classify("TagResource", e))?;
    Ok(())
}

/// Removes the ownership tags (`deletionPolicy: Retain`).
pub async fn untag(c: &Client, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("UntagResource", e))?;
    Ok(())
}
