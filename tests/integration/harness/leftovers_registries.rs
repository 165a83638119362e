//! ECR repositories left in AWS for a namespace: every repository whose `webstack.io/owner` tag
//! names it, and every repository under the namespace's prefix (`<namespace>/`), tagged or not
//! (a retained repository is untagged on purpose: the caller says which it expects).

use std::collections::BTreeMap;

use aws_config::SdkConfig;

type Tags = BTreeMap<String, String>;

const OWNER: &str = "webstack.io/owner";

/// `ECR repository <name>` of every repository still tagged for `ns`.
pub async fn leftovers(config: &SdkConfig, ns: &str) -> Vec<String> {
    let ecr = aws_sdk_ecr::Client::new(config);
    let mut left = Vec::new();
    for (name, arn) in repositories(&ecr).await {
        let out = ecr.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
        let tags: Tags = out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if tags.get(OWNER).is_some_and(|o| o.starts_with(&format!("{ns}/"))) {
            left.push(format!("ECR repository {name}"));
        }
    }
    left
}

/// The names of the repositories under `<ns>/`, whatever their tags.
pub async fn named_for(config: &SdkConfig, ns: &str) -> Vec<String> {
    let ecr = aws_sdk_ecr::Client::new(config);
    let prefix = format!("{ns}/");
    repositories(&ecr)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Every repository of the account and region, as `(name, arn)`.
async fn repositories(ecr: &aws_sdk_ecr::Client) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ecr.describe_repositories().set_next_token(next).send().await.unwrap();
        all.extend(out.repositories().iter().map(|r| {
            (
                r.repository_name().unwrap_or_default().to_string(),
                r.repository_arn().unwrap_or_default().to_string(),
            )
        }));
        next = out.next_token().map(String::from);
        if next.is_none() {
            return all;
        }
    }
}
