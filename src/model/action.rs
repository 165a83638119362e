//! The action of a listener (its default action) or of a listener rule, as AWS holds it: forward
//! targets are resolved to target group ARNs.

/// A listener's default action or a rule's action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerAction {
    Fixed {
        status_code: String,
        content_type: Option<String>,
        message_body: Option<String>,
    },
    Redirect {
        protocol: String,
        port: String,
        host: String,
        path: String,
        query: String,
        status_code: String,
    },
    /// Target group ARNs and weights, sorted by ARN.
    Forward { target_groups: Vec<(String, i32)> },
}

impl ListenerAction {
    /// The fixed `404 not found` a listener answers with when the spec names no default action.
    pub fn not_found() -> ListenerAction {
        ListenerAction::Fixed {
            status_code: "404".into(),
            content_type: Some("text/plain".into()),
            message_body: Some("not found".into()),
        }
    }

    /// What a listener of a stack being deleted answers while the stack waits for its children:
    /// it releases every target group it forwarded to, so that they can be deleted.
    pub fn deleting() -> ListenerAction {
        ListenerAction::Fixed {
            status_code: "503".into(),
            content_type: Some("text/plain".into()),
            message_body: Some("this stack is being deleted".into()),
        }
    }

    /// Whether this action forwards to a target group.
    pub fn forwards(&self) -> bool {
        matches!(self, ListenerAction::Forward { .. })
    }
}
