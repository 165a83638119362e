//! Conversions from the user's spec shared by several kinds: the owner of an object's AWS
//! resources, listener actions (a listener's default action and a rule's action), user tags.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::status::Kind;
use crate::api::{Action, ContainerService, ContentType, RedirectStatusCode, Tags, WebStackSpec};
use crate::model::execution::ServiceNeeds;
use crate::model::service::service_names;
use crate::model::{InvalidSpec, ListenerAction, Owner, TagMap, invalid};

/// The owner of `obj`'s AWS resources, for the operator instance `cluster_id`.
pub fn owner<K: Kind>(obj: &K, kind: &'static str, cluster_id: &str) -> Owner {
    Owner {
        cluster_id: cluster_id.to_string(),
        namespace: obj.namespace().unwrap_or_default(),
        kind,
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
    }
}

/// What a ContainerService that uses its stack's task execution role needs from it (`None` when
/// it names its own `executionRoleArn`): its log group and the secrets and images it references
/// (the secrets the tenancy rules allow).
pub fn execution_needs(s: &ContainerService, cluster_id: &str) -> Option<ServiceNeeds> {
    let spec = &s.spec.settings;
    if spec.execution_role_arn.is_some() {
        return None;
    }
    // A reference the tenancy rules refuse stalls the service and is granted nothing.
    let ns = s.namespace().unwrap_or_default();
    let secrets = spec
        .containers
        .iter()
        .flat_map(|c| {
            c.secrets
                .iter()
                .filter_map(|x| x.value_from.clone())
                .chain(c.repository_credentials_arn.clone())
        })
        .filter(|r| super::guard::grantable_secret(r, &ns));
    let images = spec.containers.iter().filter_map(|c| c.image.as_deref());
    Some(ServiceNeeds::new(
        &owner(s, "ContainerService", cluster_id),
        secrets.collect(),
        images,
    ))
}

/// The ECS service's name of a ContainerService (its alarms' `ServiceName` dimension).
pub fn ecs_service_name(s: &ContainerService, cluster_id: &str) -> String {
    service_names(&owner(s, "ContainerService", cluster_id)).0
}

/// A stack's ECS cluster name: the spec's, else derived from namespace, name and uid.
pub fn cluster_name(spec: &WebStackSpec, owner: &Owner) -> String {
    spec.cluster
        .as_ref()
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| owner.aws_name("ws", 255))
}

/// The stack's tags overlaid with the object's own.
pub fn user_tags(stack: &Tags, own: &Tags) -> TagMap {
    let mut tags = stack.clone();
    tags.extend(own.clone());
    tags
}

/// Resolves an [`Action`] of the spec; `target_groups` maps the names of Ready TargetGroups to
/// their ARNs (callers check readiness first: a forward to one that is not Ready is waited for).
pub fn action(
    a: &Action,
    field: &str,
    target_groups: &BTreeMap<String, String>,
) -> Result<ListenerAction, InvalidSpec> {
    match (&a.forward, &a.fixed_response, &a.redirect) {
        (Some(f), None, None) => {
            let mut tgs = Vec::new();
            for (i, t) in f.target_groups.iter().enumerate() {
                let arn = target_groups.get(&t.name).ok_or_else(|| {
                    invalid(
                        format!("{field}.forward.targetGroups[{i}]"),
                        format!("TargetGroup {} is not ready", t.name),
                    )
                })?;
                tgs.push((arn.clone(), t.weight.unwrap_or(1)));
            }
            tgs.sort();
            Ok(ListenerAction::Forward { target_groups: tgs })
        }
        (None, Some(f), None) => Ok(ListenerAction::Fixed {
            status_code: f.status_code.to_string(),
            content_type: f.content_type.map(|c| content_type(c).to_string()),
            message_body: f.message_body.clone(),
        }),
        (None, None, Some(r)) => Ok(ListenerAction::Redirect {
            protocol: r.protocol.clone().unwrap_or_else(|| "#{protocol}".into()),
            port: r.port.clone().unwrap_or_else(|| "#{port}".into()),
            host: r.host.clone().unwrap_or_else(|| "#{host}".into()),
            path: r.path.clone().unwrap_or_else(|| "/#{path}".into()),
            query: r.query.clone().unwrap_or_else(|| "#{query}".into()),
            status_code: match r.status_code {
                RedirectStatusCode::Http301 => "HTTP_301",
                RedirectStatusCode::Http302 => "HTTP_302",
            }
            .into(),
        }),
        _ => Err(invalid(
            field,
            "exactly one of forward, fixedResponse or redirect must be set",
        )),
    }
}

fn content_type(c: ContentType) -> &'static str {
    match c {
        ContentType::TextPlain => "text/plain",
        ContentType::TextCss => "text/css",
        ContentType::TextHtml => "text/html",
        ContentType::ApplicationJavascript => "application/javascript",
        ContentType::ApplicationJson => "application/json",
    }
}
