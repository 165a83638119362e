//! A listener rule in domain terms: conditions (values sorted: AWS keeps no meaningful order),
//! the rule the spec asks for and a rule found on a listener, plus the ALB limits checked before
//! any call.

use super::action::ListenerAction;
use super::ownership::TagMap;

/// ALB limits checked before any call.
pub const MAX_RULES_PER_LISTENER: usize = 100;
pub const MAX_CONDITION_VALUES: usize = 5;

/// One rule condition, values sorted (AWS does not keep order meaningful).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    PathPattern(Vec<String>),
    HostHeader(Vec<String>),
    HttpHeader { name: String, values: Vec<String> },
    HttpMethod(Vec<String>),
    QueryString(Vec<(Option<String>, String)>),
    SourceIp(Vec<String>),
}

impl Condition {
    pub fn values(&self) -> usize {
        match self {
            Condition::PathPattern(v)
            | Condition::HostHeader(v)
            | Condition::HttpMethod(v)
            | Condition::SourceIp(v) => v.len(),
            Condition::HttpHeader { values, .. } => values.len(),
            Condition::QueryString(v) => v.len(),
        }
    }
}

/// The rule the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredRule {
    pub priority: Option<i32>,
    pub conditions: Vec<Condition>,
    pub action: ListenerAction,
}

/// A rule found on the listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRule {
    pub arn: String,
    pub priority: i32,
    pub conditions: Vec<Condition>,
    pub action: Option<ListenerAction>,
    pub tags: TagMap,
}
