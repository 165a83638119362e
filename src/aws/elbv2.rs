//! ELBv2: the stack's Application Load Balancer (found by its deterministic name, ownership checked
//! by tag) and its listeners.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig, LoadBalancerAttribute,
    LoadBalancerSchemeEnum, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum, Tag, TargetGroupTuple,
};

use super::{AwsError, TagMap, classify, deleted, sdk_tags};
use crate::model::ListenerAction;
use crate::model::stack::{DesiredListener, ObservedListener, ObservedLoadBalancer};

const IDLE_TIMEOUT: &str = "idle_timeout.timeout_seconds";

/// The load balancer named `name` with its tags, if it exists.
pub async fn find_load_balancer(c: &Client, name: &str) -> Result<Option<(ObservedLoadBalancer, TagMap)>, AwsError> {
    find(c, Some(name), None).await
}

/// The load balancer with this ARN and its tags, if it exists (`webstack.io/external-id`).
pub async fn find_load_balancer_by_arn(
    c: &Client,
    arn: &str,
) -> Result<Option<(ObservedLoadBalancer, TagMap)>, AwsError> {
    find(c, None, Some(arn)).await
}

async fn find(
    c: &Client,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Option<(ObservedLoadBalancer, TagMap)>, AwsError> {
    let request = c.describe_load_balancers().set_names(name.map(|n| vec![n.to_string()]));
    let out = match request
        .set_load_balancer_arns(arn.map(|a| vec![a.to_string()]))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let e = classify("DescribeLoadBalancers", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let Some(lb) = out.load_balancers().first() else {
        return Ok(None);
    };
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    let tags = tags(c, &arn).await?;
    let observed = ObservedLoadBalancer {
        dns_name: lb.dns_name().unwrap_or_default().into(),
        canonical_hosted_zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().into(),
        dualstack: lb
            .ip_address_type()
            .is_some_and(|t| t.as_str().starts_with("dualstack")),
        internal: lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal),
        idle_timeout_seconds: None,
        arn,
        tags: tags.clone(),
        vpc_id: lb.vpc_id().unwrap_or_default().into(),
        state: lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        security_groups: {
            let mut groups = lb.security_groups().to_vec();
            groups.sort();
            groups
        },
    };
    Ok(Some((observed, tags)))
}

/// The tags of an ELBv2 resource.
pub async fn tags(c: &Client, arn: &str) -> Result<TagMap, AwsError> {
    let out = c
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .map_err(|e| classify("DescribeTags", e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect())
}

/// The idle timeout attribute.
pub async fn idle_timeout(c: &Client, arn: &str) -> Result<Option<i32>, AwsError> {
    let out = c
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| classify("DescribeLoadBalancerAttributes", e))?;
    Ok(out
        .attributes()
        .iter()
        .find(|a| a.key() == Some(IDLE_TIMEOUT))
        .and_then(|a| a.value()?.parse().ok()))
}

pub async fn set_idle_timeout(c: &Client, arn: &str, seconds: i32) -> Result<(), AwsError> {
    c.modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key(IDLE_TIMEOUT)
                .value(seconds.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify("ModifyLoadBalancerAttributes", e))?;
    Ok(())
}

fn elb_tags(tags: &TagMap) -> Vec<Tag> {
    sdk_tags!(Tag, tags)
}

/// Creates the load balancer (tags in the create call) and returns it.
pub async fn create_load_balancer(
    c: &Client,
    name: &str,
    internal: bool,
    subnets: &[String],
    security_group: &str,
    tags: &TagMap,
) -> Result<ObservedLoadBalancer, AwsError> {
    let scheme = if internal {
        LoadBalancerSchemeEnum::Internal
    } else {
        LoadBalancerSchemeEnum::InternetFacing
    };
    let out = c
        .create_load_balancer()
        .name(name)
        .scheme(scheme)
        .set_subnets(Some(subnets.to_vec()))
        .security_groups(security_group)
        .set_tags(Some(elb_tags(tags)))
        .send()
        .await
        .map_err(|e| classify("CreateLoadBalancer", e))?;
    let lb = out.load_balancers().first();
    Ok(ObservedLoadBalancer {
        arn: lb.and_then(|l| l.load_balancer_arn()).unwrap_or_default().into(),
        dns_name: lb.and_then(|l| l.dns_name()).unwrap_or_default().into(),
        canonical_hosted_zone_id: lb.and_then(|l| l.canonical_hosted_zone_id()).unwrap_or_default().into(),
        dualstack: lb
            .and_then(|l| l.ip_address_type())
            .is_some_and(|t| t.as_str().starts_with("dualstack")),
        internal,
        idle_timeout_seconds: None,
        tags: tags.clone(),
        vpc_id: lb.and_then(|l| l.vpc_id()).unwrap_or_default().into(),
        state: lb
            .and_then(|l| l.state())
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        security_groups: vec![security_group.to_string()],
    })
}

/// Replaces the load balancer's security groups.
pub async fn set_security_groups(c: &Client, arn: &str, groups: &[String]) -> Result<(), AwsError> {
    c.set_security_groups()
        .load_balancer_arn(arn)
        .set_security_groups(Some(groups.to_vec()))
        .send()
        .await
        .map_err(|e| classify("SetSecurityGroups", e))?;
    Ok(())
}

pub async fn delete_load_balancer(c: &Client, arn: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteLoadBalancer",
        c.delete_load_balancer().load_balancer_arn(arn).send().await,
        &[],
    )
}

/// The listeners of a load balancer.
pub async fn listeners(c: &Client, lb_arn: &str) -> Result<Vec<ObservedListener>, AwsError> {
    let out = c
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .map_err(|e| classify("DescribeListeners", e))?;
    let mut found: Vec<_> = out
        .listeners()
        .iter()
        .map(|l| ObservedListener {
            arn: l.listener_arn().unwrap_or_default().into(),
            port: l.port().unwrap_or_default(),
            https: l.protocol() == Some(&ProtocolEnum::Https),
            certificate_arn: l
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(String::from),
            ssl_policy: l.ssl_policy().map(String::from),
            default_action: l.default_actions().first().and_then(observed_action),
        })
        .collect();
    found.sort_by_key(|l| l.port);
    Ok(found)
}

/// An AWS action in the planner's terms.
pub fn observed_action(a: &Action) -> Option<ListenerAction> {
    match a.r#type()? {
        ActionTypeEnum::FixedResponse => {
            let f = a.fixed_response_config()?;
            Some(ListenerAction::Fixed {
                status_code: f.status_code()?.into(),
                content_type: f.content_type().map(String::from),
                message_body: f.message_body().map(String::from).filter(|b| !b.is_empty()),
            })
        }
        ActionTypeEnum::Redirect => {
            let r = a.redirect_config()?;
            Some(ListenerAction::Redirect {
                protocol: r.protocol().unwrap_or("#{protocol}").into(),
                port: r.port().unwrap_or("#{port}").into(),
                host: r.host().unwrap_or("#{host}").into(),
                path: r.path().unwrap_or("/#{path}").into(),
                query: r.query().unwrap_or("#{query}").into(),
                status_code: r.status_code()?.as_str().into(),
            })
        }
        ActionTypeEnum::Forward => {
            let mut tgs: Vec<(String, i32)> = match a.forward_config() {
                Some(f) if !f.target_groups().is_empty() => f
                    .target_groups()
                    .iter()
                    .filter_map(|t| Some((t.target_group_arn()?.to_string(), t.weight().unwrap_or(1))))
                    .collect(),
                _ => vec![(a.target_group_arn()?.to_string(), 1)],
            };
            tgs.sort();
            Some(ListenerAction::Forward { target_groups: tgs })
        }
        _ => None,
    }
}

/// The planner's action as an AWS action.
pub fn action(a: &ListenerAction) -> Action {
    match a {
        ListenerAction::Fixed {
            status_code,
            content_type,
            message_body,
        } => Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(status_code)
                    .set_content_type(content_type.clone())
                    .set_message_body(message_body.clone())
                    .build(),
            )
            .build(),
        ListenerAction::Redirect {
            protocol,
            port,
            host,
            path,
            query,
            status_code,
        } => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol(protocol)
                    .port(port)
                    .host(host)
                    .path(path)
                    .query(query)
                    .status_code(RedirectActionStatusCodeEnum::from(status_code.as_str()))
                    .build(),
            )
            .build(),
        ListenerAction::Forward { target_groups } => {
            let mut forward = ForwardActionConfig::builder();
            for (arn, weight) in target_groups {
                forward = forward.target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(arn)
                        .weight(*weight)
                        .build(),
                );
            }
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(forward.build())
                .build()
        }
    }
}

fn protocol(l: &DesiredListener) -> ProtocolEnum {
    if l.https {
        ProtocolEnum::Https
    } else {
        ProtocolEnum::Http
    }
}

fn certificates(l: &DesiredListener) -> Option<Vec<Certificate>> {
    l.certificate_arn
        .as_ref()
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
}

pub async fn create_listener(c: &Client, lb_arn: &str, l: &DesiredListener, tags: &TagMap) -> Result<String, AwsError> {
    let out = c
        .create_listener()
        .load_balancer_arn(lb_arn)
        .port(l.port)
        .protocol(protocol(l))
        .set_certificates(certificates(l))
        .set_ssl_policy(l.ssl_policy.clone())
        .default_actions(action(&l.default_action))
        .set_tags(Some(elb_tags(tags)))
        .send()
        .await
        .map_err(|e| classify("CreateListener", e))?;
    Ok(out
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .unwrap_or_default()
        .into())
}

pub async fn modify_listener(c: &Client, arn: &str, l: &DesiredListener) -> Result<(), AwsError> {
    c.modify_listener()
        .listener_arn(arn)
        .port(l.port)
        .protocol(protocol(l))
        .set_certificates(certificates(l))
        .set_ssl_policy(l.ssl_policy.clone())
        .default_actions(action(&l.default_action))
        .send()
        .await
        .map_err(|e| classify("ModifyListener", e))?;
    Ok(())
}

/// Changes only the default action of a listener.
pub async fn set_default_action(c: &Client, arn: &str, a: &ListenerAction) -> Result<(), AwsError> {
    c.modify_listener()
        .listener_arn(arn)
        .default_actions(action(a))
        .send()
        .await
        .map_err(|e| classify("ModifyListener", e))?;
    Ok(())
}

pub async fn delete_listener(c: &Client, arn: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteListener",
        c.delete_listener().listener_arn(arn).send().await,
        &[],
    )
}

/// Adds or overwrites tags.
pub async fn add_tags(c: &Client, arn: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.add_tags()
        .resource_arns(arn)
        .set_tags(Some(elb_tags(tags)))
        .send()
        .await
        .map_err(|e| classify("AddTags", e))?;
    Ok(())
}

/// Removes the ownership tags (`deletionPolicy: Retain`).
pub async fn untag(c: &Client, arns: &[String], keys: &[&str]) -> Result<(), AwsError> {
    if arns.is_empty() {
        return Ok(());
    }
    c.remove_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("RemoveTags", e))?;
    Ok(())
}
