//! How a step reads in a plan (`webstack-operator plan`): what kind of change it is (Terraform's
//! words: create, update, replace, delete, plus tags and waits), the fields it changes with their
//! old and new values, and whether it destroys something users depend on. Each step (`crate::reconcile::Step`)
//! says so itself; the defaults follow its AWS action's verb.

use std::fmt;

use serde::Serialize;

/// What a value not known before apply (an id AWS assigns, a name derived from a uid not yet
/// given) reads as in a plan.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// Whether an AWS operation only reads (`Describe*`, `List*`, `Get*`, `Head*`).
pub fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get", "Head"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// The kind of a change, as a plan shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `+`: a resource comes into being.
    Create,
    /// `~`: a resource changes in place.
    Update,
    /// `-/+`: a resource is created anew because a field cannot change in place.
    Replace,
    /// `-`: a resource goes.
    Delete,
    /// `~`: the ownership tags put back, or a resource adopted.
    Tag,
    /// `-`: the ownership tags removed, the resource kept (`deletionPolicy: Retain`).
    Untag,
    /// ` `: a wait for AWS (a deletion that takes minutes); changes nothing itself.
    Wait,
}

impl Op {
    /// The symbol a text plan prints before the step.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Create => "+",
            Op::Update | Op::Tag => "~",
            Op::Replace => "-/+",
            Op::Delete | Op::Untag => "-",
            Op::Wait => ".",
        }
    }

    /// From an AWS (or Kubernetes) action's verb: `CreateVpc` creates, `CreateTags` tags,
    /// `DescribeNatGateways` waits, anything else that changes a resource updates it.
    pub fn of_action(action: &str) -> Op {
        const TAG: [&str; 5] = [
            "AddTags",
            "CreateTags",
            "TagResource",
            "AddTagsToResource",
            "PutBucketTagging",
        ];
        const UNTAG: [&str; 4] = ["RemoveTags", "DeleteTags", "UntagResource", "RemoveTagsFromResource"];
        if TAG.contains(&action) {
            return Op::Tag;
        }
        if UNTAG.contains(&action) {
            return Op::Untag;
        }
        let starts = |p: &[&str]| p.iter().any(|v| action.starts_with(v));
        if is_read(action) {
            Op::Wait
        } else if starts(&["Deregister", "Delete", "Release", "Terminate"]) {
            Op::Delete
        } else if starts(&["Create", "Register", "Allocate", "Run"]) {
            Op::Create
        } else {
            Op::Update
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Replace => "replace",
            Op::Delete => "delete",
            Op::Tag => "tag",
            Op::Untag => "untag",
            Op::Wait => "wait",
        })
    }
}

/// One field a step changes: `field: old → new` (`old` absent when the field is set anew).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    pub new: String,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, old: Option<impl ToString>, new: impl ToString) -> FieldChange {
        FieldChange {
            field: field.into(),
            old: old.map(|o| o.to_string()),
            new: new.to_string(),
        }
    }

    /// The change of `field` from `old` to `new`, when they differ.
    pub fn of<T: PartialEq + fmt::Display>(field: &str, old: &T, new: &T) -> Option<FieldChange> {
        (old != new).then(|| FieldChange::new(field, Some(old), new))
    }

    /// Like [`FieldChange::of`] for optional values (`-` for none).
    pub fn of_opt<T: PartialEq + fmt::Display>(field: &str, old: &Option<T>, new: &Option<T>) -> Option<FieldChange> {
        let show = |v: &Option<T>| v.as_ref().map_or_else(|| "-".to_string(), ToString::to_string);
        (old != new).then(|| FieldChange::new(field, Some(show(old)), show(new)))
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.old {
            Some(old) => write!(f, "{}: {old} → {}", self.field, self.new),
            None => write!(f, "{}: {}", self.field, self.new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verb_decides_unless_the_step_says_otherwise() {
        let cases = [
            ("CreateVpc", Op::Create),
            ("RegisterTaskDefinition", Op::Create),
            ("AllocateAddress", Op::Create),
            ("CreateTags", Op::Tag),
            ("AddTagsToResource", Op::Tag),
            ("RemoveTags", Op::Untag),
            ("DeleteTags", Op::Untag),
            ("DeleteVpc", Op::Delete),
            ("DeregisterTaskDefinition", Op::Delete),
            ("ReleaseAddress", Op::Delete),
            ("DescribeNatGateways", Op::Wait),
            ("GetDistribution", Op::Wait),
            ("ModifyTargetGroup", Op::Update),
            ("AuthorizeSecurityGroupIngress", Op::Update),
            ("PutMetricAlarm", Op::Update),
            ("ChangeResourceRecordSets", Op::Update),
        ];
        for (action, op) in cases {
            assert_eq!(Op::of_action(action), op, "{action}");
        }
    }

    #[test]
    fn field_changes_read_old_then_new() {
        assert_eq!(
            FieldChange::of("port", &80, &8080).unwrap().to_string(),
            "port: 80 → 8080"
        );
        assert_eq!(FieldChange::of("port", &80, &80), None);
        let opt = FieldChange::of_opt("matcher", &None, &Some("200")).unwrap();
        assert_eq!(opt.to_string(), "matcher: - → 200");
        assert_eq!(
            FieldChange::new("image", None::<String>, "a:1").to_string(),
            "image: a:1"
        );
    }
}
