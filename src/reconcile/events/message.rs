//! What one drift event is about: an EventBridge event (a CloudTrail `AWS API Call via CloudTrail`,
//! or a service's own event such as ECS's `ECS Service Action`) read into the identifiers it names,
//! the operator's own calls and heartbeats told apart.

use std::collections::BTreeSet;

use serde_json::Value;

// The session names of the roles the operator assumes for namespaces (`webstack-<namespace>`).
use crate::aws::identity::SESSION_PREFIX as TENANT_SESSION;

/// The tag whose writes on the queue are the pipeline's heartbeat.
pub const HEARTBEAT_TAG: &str = "webstack.io/heartbeat";

/// CloudTrail's detail type.
pub const CLOUDTRAIL: &str = "AWS API Call via CloudTrail";

/// Who the operator is, to leave its own calls out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Own {
    /// A role's sessions: `arn:aws:sts::<account>:assumed-role/<role>/` (the session name changes
    /// with every credential refresh).
    Sessions(String),
    /// A user (or anything else): its ARN.
    Principal(String),
}

impl Own {
    /// From STS GetCallerIdentity's ARN.
    pub fn of(caller_arn: &str) -> Own {
        match caller_arn.split_once(":assumed-role/") {
            Some((head, rest)) => match rest.split_once('/') {
                Some((role, _session)) => Own::Sessions(format!("{head}:assumed-role/{role}/")),
                None => Own::Principal(caller_arn.to_string()),
            },
            None => Own::Principal(caller_arn.to_string()),
        }
    }

    /// The event pattern's filter on `detail.userIdentity.arn` that leaves the operator out.
    pub fn pattern(&self) -> Value {
        match self {
            Own::Sessions(prefix) => serde_json::json!([{"anything-but": {"prefix": prefix}}]),
            Own::Principal(arn) => serde_json::json!([{"anything-but": [arn]}]),
        }
    }

    fn is(&self, arn: &str) -> bool {
        let tenant =
            arn.contains(":assumed-role/") && arn.rsplit('/').next().is_some_and(|s| s.starts_with(TENANT_SESSION));
        tenant
            || match self {
                Own::Sessions(prefix) => arn.starts_with(prefix.as_str()),
                Own::Principal(own) => arn == own,
            }
    }
}

/// What an event is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The heartbeat written on `queue_url`, carrying `nonce`.
    Heartbeat { queue_url: String, nonce: String },
    /// A call by the operator itself (or one of the roles it assumes for namespaces).
    Own,
    /// A read, which changes nothing.
    ReadOnly,
    /// A change naming these identifiers (each string in it, and the identifiers inside them).
    About(BTreeSet<String>),
    /// Not an EventBridge event.
    Invalid(String),
}

/// Reads an SQS message body: an EventBridge event as its rule's target receives it.
pub fn read(body: &str, own: &Own) -> Event {
    let event: Value = match serde_json::from_str(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Event::Invalid("not a JSON object".into()),
        Err(e) => return Event::Invalid(e.to_string()),
    };
    let detail = &event["detail"];
    let cloudtrail = event["detail-type"].as_str() == Some(CLOUDTRAIL);
    if cloudtrail {
        let params = &detail["requestParameters"];
        if detail["eventName"].as_str() == Some("TagQueue")
            && let (Some(url), Some(nonce)) = (params["queueUrl"].as_str(), params["tags"][HEARTBEAT_TAG].as_str())
        {
            return Event::Heartbeat {
                queue_url: url.to_string(),
                nonce: nonce.to_string(),
            };
        }
        if detail["userIdentity"]["arn"].as_str().is_some_and(|arn| own.is(arn)) {
            return Event::Own;
        }
        if detail["readOnly"].as_bool() == Some(true) {
            return Event::ReadOnly;
        }
    }
    let mut ids = BTreeSet::new();
    if cloudtrail {
        strings(&detail["requestParameters"], &mut ids);
        strings(&detail["responseElements"], &mut ids);
    } else {
        strings(detail, &mut ids);
    }
    strings(&event["resources"], &mut ids);
    Event::About(ids)
}

/// Every string in `value` (of at least 4 characters: shorter ones name nothing the operator
/// indexes), and the identifiers found inside each.
fn strings(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            crate::aws::ids::scan(s, out);
            if s.len() >= 4 {
                out.insert(s.clone());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloudtrail(name: &str, by: &str, params: Value) -> String {
        json!({
            "version": "0", "id": "e1", "detail-type": CLOUDTRAIL, "source": "aws.ec2",
            "region": "us-east-1", "resources": [],
            "detail": {
                "eventName": name, "eventSource": "ec2.amazonaws.com", "readOnly": false,
                "userIdentity": {"type": "AssumedRole", "arn": by},
                "requestParameters": params,
                "responseElements": {"requestId": "r-1", "_return": true},
                "sourceIPAddress": "203.0.113.9", "userAgent": "console.amazonaws.com",
            }
        })
        .to_string()
    }

    const OPERATOR: &str = "arn:aws:sts::111122223333:assumed-role/webstack-operator/botocore-session-17";
    const ALICE: &str = "arn:aws:sts::111122223333:assumed-role/Admin/alice";

    #[test]
    fn own_identity_from_the_caller() {
        let own = Own::of(OPERATOR);
        assert_eq!(
            own,
            Own::Sessions("arn:aws:sts::111122223333:assumed-role/webstack-operator/".into())
        );
        assert_eq!(
            own.pattern(),
            json!([{"anything-but": {"prefix": "arn:aws:sts::111122223333:assumed-role/webstack-operator/"}}])
        );
        let user = Own::of("arn:aws:iam::111122223333:user/ci");
        assert_eq!(
            user.pattern(),
            json!([{"anything-but": ["arn:aws:iam::111122223333:user/ci"]}])
        );
        assert!(user.is("arn:aws:iam::111122223333:user/ci") && !user.is("arn:aws:iam::111122223333:user/ci2"));
    }

    #[test]
    fn a_change_by_someone_else_names_its_identifiers() {
        let own = Own::of(OPERATOR);
        let body = cloudtrail(
            "AuthorizeSecurityGroupIngress",
            ALICE,
            json!({"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22}]}}),
        );
        let Event::About(ids) = read(&body, &own) else {
            panic!("{:?}", read(&body, &own))
        };
        assert!(ids.contains("sg-0123456789abcdef0"));
        // Who called and from where are not what the event is about.
        assert!(
            !ids.iter()
                .any(|i| i.contains("alice") || i.contains("203.0.113.9") || i.contains("console"))
        );
        // Names inside ARNs are found too (roleName events match role ARNs' names).
        let body = cloudtrail(
            "DeleteRule",
            ALICE,
            json!({"ruleArn": "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/shop/ab12/cd34/ef56"}),
        );
        let Event::About(ids) = read(&body, &own) else { panic!() };
        assert!(ids.contains("arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/shop/ab12/cd34/ef56"));
    }

    #[test]
    fn the_operators_calls_reads_and_heartbeats_are_told_apart() {
        let own = Own::of(OPERATOR);
        let mine = cloudtrail(
            "CreateTags",
            OPERATOR,
            json!({"resourcesSet": {"items": [{"resourceId": "vpc-1a2b3c4d"}]}}),
        );
        assert_eq!(read(&mine, &own), Event::Own);
        let tenant = cloudtrail(
            "CreateTags",
            "arn:aws:sts::444455556666:assumed-role/team-shop/webstack-shop",
            json!({}),
        );
        assert_eq!(read(&tenant, &own), Event::Own);
        let mut read_only: Value = serde_json::from_str(&cloudtrail("DescribeVpcs", ALICE, json!({}))).unwrap();
        read_only["detail"]["readOnly"] = json!(true);
        assert_eq!(read(&read_only.to_string(), &own), Event::ReadOnly);
        // The heartbeat is the operator's own call, and still counts.
        let url = "https://sqs.us-east-1.amazonaws.com/111122223333/webstack-default-events";
        let beat = cloudtrail(
            "TagQueue",
            OPERATOR,
            json!({"queueUrl": url, "tags": {HEARTBEAT_TAG: "n-42"}}),
        );
        assert_eq!(
            read(&beat, &own),
            Event::Heartbeat {
                queue_url: url.into(),
                nonce: "n-42".into()
            }
        );
        assert!(matches!(read("not json", &own), Event::Invalid(_)));
        assert!(matches!(read("[1]", &own), Event::Invalid(_)));
    }

    #[test]
    fn a_service_event_names_its_resources() {
        let own = Own::of(OPERATOR);
        let body = json!({
            "detail-type": "ECS Service Action", "source": "aws.ecs",
            "resources": ["arn:aws:ecs:us-east-1:1:service/shop-cluster/shop-api"],
            "detail": {"eventName": "SERVICE_TASK_PLACEMENT_FAILURE", "clusterArn": "arn:aws:ecs:us-east-1:1:cluster/shop-cluster"}
        })
        .to_string();
        let Event::About(ids) = read(&body, &own) else { panic!() };
        assert!(ids.contains("arn:aws:ecs:us-east-1:1:service/shop-cluster/shop-api") && ids.contains("shop-api"));
    }
}
