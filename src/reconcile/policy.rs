//! A namespace's `WebStackPolicy` applied to its objects' specs, before any AWS call: which policy
//! governs a namespace (by its labels; two at once is an error), and each rule of `allow`,
//! `limits` and `requiredTags` checked against the fields it governs. Pure: the policy, the
//! namespace's labels and the counts it limits are given. The operator's safe defaults
//! ([`super::guard`]) apply with or without a policy.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;

use crate::api::{ContainerServiceSettings, NatGateways, StaticSiteSettings, WebStackPolicy, WebStackSpec};
use crate::model::execution::ServiceNeeds;
use crate::model::registry::ecr_repository_of;
use crate::model::tenancy::{Violation, arn_allowed, glob, secret_name};

/// Whether a label selector selects these labels (matchLabels and matchExpressions; an empty
/// selector selects every namespace).
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false, // an operator Kubernetes does not know selects nothing
        }
    });
    labels_ok && expressions_ok
}

/// A label selector written as `--namespace-selector` takes it: requirements separated by commas,
/// all of which must hold, each `key=value` (or `key==value`), `key!=value`, `key` (exists) or
/// `!key` (does not exist). Set-based forms (`in`, `notin`) are refused rather than misread.
pub fn parse_selector(s: &str) -> Result<LabelSelector, String> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    let mut selector = LabelSelector::default();
    let requirement = |key: &str, operator: &str, values: Option<Vec<String>>| LabelSelectorRequirement {
        key: key.to_string(),
        operator: operator.to_string(),
        values,
    };
    let valid = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    for part in s.split(',').map(str::trim) {
        let (key, op, value) = if let Some((k, v)) = part.split_once("!=") {
            (k.trim(), "!=", Some(v.trim()))
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            (k.trim(), "=", Some(v.trim()))
        } else if let Some(k) = part.strip_prefix('!') {
            (k.trim(), "!", None)
        } else {
            (part, "", None)
        };
        if !valid(key)
            || value.is_some_and(|v| {
                !v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            })
        {
            return Err(format!(
                "`{part}` is not a requirement this selector takes: key=value, key!=value, key or !key, comma-separated"
            ));
        }
        match (op, value) {
            ("=", Some(v)) => {
                selector
                    .match_labels
                    .get_or_insert_with(Default::default)
                    .insert(key.to_string(), v.to_string());
            }
            ("!=", Some(v)) => selector
                .match_expressions
                .get_or_insert_with(Vec::new)
                .push(requirement(key, "NotIn", Some(vec![v.to_string()]))),
            ("!", None) => selector
                .match_expressions
                .get_or_insert_with(Vec::new)
                .push(requirement(key, "DoesNotExist", None)),
            _ => selector
                .match_expressions
                .get_or_insert_with(Vec::new)
                .push(requirement(key, "Exists", None)),
        }
    }
    Ok(selector)
}

/// The policy governing a namespace with these labels: none, one, or an error naming every policy
/// that selects it (a namespace selected twice gets no work done until one is changed).
pub fn governing<'a>(
    policies: impl IntoIterator<Item = &'a WebStackPolicy>,
    labels: &BTreeMap<String, String>,
) -> Result<Option<&'a WebStackPolicy>, String> {
    match selecting(policies, labels).as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(format!(
            "the namespace is selected by several WebStackPolicies ({}); a namespace must be selected by one",
            many.iter().map(|p| p.name_any()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The policies (not being deleted) that select a namespace with `labels`, by name.
pub fn selecting<'a>(
    policies: impl IntoIterator<Item = &'a WebStackPolicy>,
    labels: &BTreeMap<String, String>,
) -> Vec<&'a WebStackPolicy> {
    let mut matched: Vec<&WebStackPolicy> = policies
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && selects(&p.spec.namespace_selector, labels))
        .collect();
    matched.sort_by_key(|p| p.name_any());
    matched
}

/// A rule of the policy refused a field.
fn refused(policy: &WebStackPolicy, field: impl Into<String>, rule: &'static str, message: String) -> Violation {
    Violation {
        field: field.into(),
        message,
        rule,
        origin: format!("WebStackPolicy {}", policy.name_any()),
    }
}

fn limit<T: PartialOrd + std::fmt::Display>(
    policy: &WebStackPolicy,
    field: String,
    rule: &'static str,
    value: T,
    max: Option<T>,
) -> Result<(), Violation> {
    match max {
        Some(max) if value > max => Err(refused(
            policy,
            field,
            rule,
            format!("{value} is above the limit {max}"),
        )),
        _ => Ok(()),
    }
}

fn one_of(
    policy: &WebStackPolicy,
    field: String,
    rule: &'static str,
    value: &str,
    allowed: &[String],
) -> Result<(), Violation> {
    if allowed.is_empty() || allowed.iter().any(|p| glob(p, value)) {
        return Ok(());
    }
    Err(refused(
        policy,
        field,
        rule,
        format!("{value:?} is not one of {}", allowed.join(", ")),
    ))
}

fn listed(
    policy: &WebStackPolicy,
    field: String,
    rule: &'static str,
    what: &str,
    arn: &str,
    allowed: &[String],
) -> Result<(), Violation> {
    if arn_allowed(allowed, arn) {
        return Ok(());
    }
    let have = if allowed.is_empty() {
        "none".to_string()
    } else {
        allowed.join(", ")
    };
    Err(refused(
        policy,
        field,
        rule,
        format!("{what} {arn} is not allowed (allow.{rule}: {have})"),
    ))
}

/// A CPU or memory value of a task (`"256"`, `"1 vCPU"`, `"2 GB"`) in CPU units or MiB.
fn units(value: &str, per_unit: i64) -> Option<i64> {
    let v = value.trim().to_ascii_lowercase();
    let (number, scaled) = match v.split_once(' ') {
        Some((n, "vcpu" | "gb")) => (n, true),
        Some(_) => return None,
        None => (v.as_str(), false),
    };
    let n: f64 = number.parse().ok()?;
    Some(if scaled { (n * per_unit as f64) as i64 } else { n as i64 })
}

/// A service's settings (a ContainerService's, at `at`, or an inline service's) under `policy`;
/// `region` expands SSM parameters given by name.
pub fn check_service(
    policy: &WebStackPolicy,
    spec: &ContainerServiceSettings,
    at: &str,
    region: &str,
) -> Result<(), Violation> {
    let allow = &policy.spec.allow;
    let limits = &policy.spec.limits;
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, s) in c.secrets.iter().enumerate() {
            if let Some(v) = &s.value_from {
                let field = format!("{at}.containers[{i}].secrets[{j}].valueFrom");
                listed(
                    policy,
                    field,
                    "secretArns",
                    "secret",
                    &secret_arn(v, region),
                    &allow.secret_arns,
                )?;
            }
        }
        if let Some(r) = &c.repository_credentials_arn {
            let field = format!("{at}.containers[{i}].repositoryCredentialsArn");
            listed(
                policy,
                field,
                "secretArns",
                "secret",
                &secret_arn(r, region),
                &allow.secret_arns,
            )?;
        }
        if let Some(repo) = c.image.as_deref().and_then(ecr_repository_of) {
            let field = format!("{at}.containers[{i}].image");
            listed(
                policy,
                field,
                "ecrRepositories",
                "ECR repository",
                &repo,
                &allow.ecr_repositories,
            )?;
        }
    }
    if let Some(arn) = &spec.task_role_arn {
        listed(
            policy,
            format!("{at}.taskRoleArn"),
            "taskRoleArns",
            "role",
            arn,
            &allow.task_role_arns,
        )?;
    }
    if let Some(arn) = &spec.execution_role_arn {
        let field = format!("{at}.executionRoleArn");
        listed(
            policy,
            field,
            "executionRoleArns",
            "role",
            arn,
            &allow.execution_role_arns,
        )?;
    }
    let max = |v: &Option<String>| v.as_deref().and_then(|m| m.parse::<i64>().ok());
    if let Some(cpu) = spec.cpu.as_deref().and_then(|c| units(c, 1024)) {
        limit(
            policy,
            format!("{at}.cpu"),
            "maxTaskCpu",
            cpu,
            max(&limits.max_task_cpu),
        )?;
    }
    if let Some(memory) = spec.memory.as_deref().and_then(|m| units(m, 1024)) {
        limit(
            policy,
            format!("{at}.memory"),
            "maxTaskMemory",
            memory,
            max(&limits.max_task_memory),
        )?;
    }
    let count = limits.max_desired_count;
    limit(
        policy,
        format!("{at}.desiredCount"),
        "maxDesiredCount",
        spec.desired_count,
        count,
    )?;
    if let Some(a) = &spec.autoscaling {
        limit(
            policy,
            format!("{at}.autoscaling.maxCapacity"),
            "maxDesiredCount",
            a.max_capacity,
            count,
        )?;
    }
    Ok(())
}

/// The ARN a secret reference is matched as: itself, or an SSM parameter named without its ARN
/// as `arn:aws:ssm:<region>:*:parameter/<name>` (the account is not known here).
fn secret_arn(reference: &str, region: &str) -> String {
    if reference.starts_with("arn:") {
        reference.to_string()
    } else {
        format!("arn:aws:ssm:{region}:*:parameter/{}", secret_name(reference))
    }
}

/// A static site's settings (a StaticSite's, at `at`, or a stack's inline `staticSite`).
pub fn check_site(policy: &WebStackPolicy, site: &StaticSiteSettings, at: &str) -> Result<(), Violation> {
    let allow = &policy.spec.allow;
    if let Some(arn) = &site.certificate_arn {
        let field = format!("{at}.certificateArn");
        listed(
            policy,
            field,
            "certificateArns",
            "certificate",
            arn,
            &allow.certificate_arns,
        )?;
    }
    if let Some(id) = &site.web_acl_id {
        listed(
            policy,
            format!("{at}.webAclId"),
            "webAclIds",
            "web ACL",
            id,
            &allow.web_acl_ids,
        )?;
    }
    Ok(())
}

/// What a stack's checks need besides its spec.
pub struct StackFacts<'a> {
    /// `webstack.io/external-id`, if set.
    pub external_id: Option<&'a str>,
    /// WebStacks in the namespace, this one included.
    pub stacks_in_namespace: usize,
    /// ContainerServices (not inline) that name this stack.
    pub services_naming_it: usize,
    pub region: &'a str,
}

/// A WebStack's spec under `policy`.
pub fn check_stack(policy: &WebStackPolicy, spec: &WebStackSpec, facts: &StackFacts) -> Result<(), Violation> {
    let allow = &policy.spec.allow;
    let limits = &policy.spec.limits;
    for (key, values) in &policy.spec.required_tags {
        match spec.tags.get(key) {
            None => {
                let message = format!("the tag {key} is required on every stack");
                return Err(refused(policy, format!("spec.tags.{key}"), "requiredTags", message));
            }
            Some(v) if !values.is_empty() && !values.contains(v) => {
                let message = format!("{v:?} is not one of {}", values.join(", "));
                return Err(refused(policy, format!("spec.tags.{key}"), "requiredTags", message));
            }
            Some(_) => {}
        }
    }
    if let Some(aws) = &policy.spec.aws {
        one_of(policy, "spec.region".into(), "regions", facts.region, &aws.regions)?;
    }
    let stacks = i32::try_from(facts.stacks_in_namespace).unwrap_or(i32::MAX);
    if let Some(max) = limits.max_stacks
        && stacks > max
    {
        let message = format!("the namespace would have {stacks} stacks, above the limit {max}");
        return Err(refused(policy, "metadata.name", "maxStacks", message));
    }
    let services = i32::try_from(spec.services.len() + facts.services_naming_it).unwrap_or(i32::MAX);
    limit(
        policy,
        "spec.services".into(),
        "maxServicesPerStack",
        services,
        limits.max_services_per_stack,
    )?;
    if let Some(vpc) = &spec.network.vpc_id {
        one_of_ids(policy, "spec.network.vpcId", "adoptVpcIds", vpc, &allow.adopt_vpc_ids)?;
    }
    // A created VPC gets NAT gateways by default (`single`): the default is checked like a value
    // set; an adopted VPC is never given any.
    if spec.network.vpc_id.is_none() {
        let mode = spec.network.nat_gateways.unwrap_or_default();
        let name = match mode {
            NatGateways::Single => "single",
            NatGateways::PerZone => "perZone",
            NatGateways::None => "none",
        };
        one_of(
            policy,
            "spec.network.natGateways".into(),
            "natGateways",
            name,
            &limits.nat_gateways,
        )?;
    }
    if facts.external_id.is_some() && !allow.adopt_load_balancers {
        return Err(refused(
            policy,
            "metadata.annotations[webstack.io/external-id]",
            "adoptLoadBalancers",
            "adopting a load balancer is not allowed (allow.adoptLoadBalancers: false)".into(),
        ));
    }
    for (i, l) in spec.load_balancer.iter().flat_map(|lb| &lb.listeners).enumerate() {
        if let Some(arn) = &l.certificate_arn {
            let field = format!("spec.loadBalancer.listeners[{i}].certificateArn");
            listed(
                policy,
                field,
                "certificateArns",
                "certificate",
                arn,
                &allow.certificate_arns,
            )?;
        }
    }
    if let Some(c) = spec.cluster.as_ref().and_then(|c| c.capacity.as_ref()) {
        let field = "spec.cluster.capacity.instanceType".to_string();
        one_of(policy, field, "instanceTypes", &c.instance_type, &limits.instance_types)?;
        limit(
            policy,
            "spec.cluster.capacity.maxSize".into(),
            "maxInstances",
            c.max_size,
            limits.max_instances,
        )?;
    }
    if let Some(db) = &spec.database {
        let field = "spec.database.instanceClass".to_string();
        one_of(
            policy,
            field,
            "databaseInstanceClasses",
            &db.instance_class,
            &limits.database_instance_classes,
        )?;
        let field = "spec.database.allocatedStorageGiB".to_string();
        limit(
            policy,
            field,
            "maxDatabaseStorageGiB",
            db.allocated_storage_gib,
            limits.max_database_storage_gib,
        )?;
    }
    if let Some(cache) = &spec.cache {
        let field = "spec.cache.nodeType".to_string();
        one_of(
            policy,
            field,
            "cacheNodeTypes",
            &cache.node_type,
            &limits.cache_node_types,
        )?;
        limit(
            policy,
            "spec.cache.numNodes".into(),
            "maxCacheNodes",
            cache.num_nodes,
            limits.max_cache_nodes,
        )?;
    }
    if let Some(dns) = &spec.dns {
        let Some(zone) = allow.hosted_zones.iter().find(|z| z.id == dns.hosted_zone_id) else {
            let have: Vec<&str> = allow.hosted_zones.iter().map(|z| z.id.as_str()).collect();
            let message = format!(
                "hosted zone {} is not allowed (allow.hostedZones: {})",
                dns.hosted_zone_id,
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            );
            return Err(refused(policy, "spec.dns.hostedZoneId", "hostedZones", message));
        };
        for (i, r) in dns.records.iter().enumerate() {
            let name = r.name.trim_end_matches('.');
            let field = format!("spec.dns.records[{i}].name");
            one_of(policy, field, "hostedZones", name, &zone.names)?;
        }
    }
    if let Some(arn) = spec.alarms.as_ref().and_then(|a| a.sns_topic_arn.as_ref()) {
        listed(
            policy,
            "spec.alarms.snsTopicArn".into(),
            "snsTopicArns",
            "topic",
            arn,
            &allow.sns_topic_arns,
        )?;
    }
    if let Some(site) = &spec.static_site {
        check_site(policy, site, "spec.staticSite")?;
    }
    for (i, svc) in spec.services.iter().enumerate() {
        if let Some(c) = &svc.container {
            check_service(policy, c, &format!("spec.services[{i}].container"), facts.region)?;
        }
    }
    Ok(())
}

/// Leaves in a service's needs from the stack's task execution role only the secrets and ECR
/// repositories the policy allows (a refused one stalls its service: it is granted nothing).
pub fn grantable(policy: &WebStackPolicy, needs: &mut ServiceNeeds, region: &str) {
    let allow = &policy.spec.allow;
    needs
        .secrets
        .retain(|s| arn_allowed(&allow.secret_arns, &secret_arn(s, region)));
    needs
        .ecr_repositories
        .retain(|r| arn_allowed(&allow.ecr_repositories, r));
}

/// An id in an allow-list of ids (exact, or globs).
fn one_of_ids(
    policy: &WebStackPolicy,
    field: &str,
    rule: &'static str,
    id: &str,
    allowed: &[String],
) -> Result<(), Violation> {
    if allowed.iter().any(|p| glob(p, id)) {
        return Ok(());
    }
    let have = if allowed.is_empty() {
        "none".to_string()
    } else {
        allowed.join(", ")
    };
    Err(refused(
        policy,
        field,
        rule,
        format!("{id} is not allowed (allow.{rule}: {have})"),
    ))
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
