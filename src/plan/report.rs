//! What a plan found, object by object, and how it reads: text in Terraform's words, or JSON in a
//! versioned schema ([`FORMAT_VERSION`]) for bots that comment plans on pull requests. Pure: the
//! runner ([`super`]) fills a [`Plan`]; this module renders it and chooses the exit code.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::change::{FieldChange, KNOWN_AFTER_APPLY, Op};
use crate::reconcile::Step;

/// The JSON schema's version: bumped on any change that is not an added field.
pub const FORMAT_VERSION: &str = "1";

/// The uid `plan` gives an object not created yet: names derived from it are not known before
/// apply, and anything carrying its hex digits reads as [`KNOWN_AFTER_APPLY`].
pub const PLANNED_UID: &str = "ffffffff-ffff-4fff-bfff-ffffffffffff";

/// What was planned: applying the manifests, deleting their objects, or the live objects' own specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Apply,
    Delete,
    Live,
}

/// The whole plan.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub format_version: &'static str,
    pub mode: Mode,
    /// Every object planned, in the order planned (stacks first, then what refers to them).
    pub objects: Vec<ObjectPlan>,
    /// Manifest documents not planned, and why (another API group, a WebStackPolicy).
    pub skipped: Vec<String>,
    /// The destructive steps again, first of all in the text.
    pub destructive: Vec<Destructive>,
    pub summary: Summary,
}

/// One object's plan.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectPlan {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Not in the cluster yet.
    pub new: bool,
    /// The inline child of this WebStack (`spec.services[...]`, `spec.staticSite`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_of: Option<String>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepView>,
    /// Notes that qualify the plan (what deletion keeps, what it waits for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// How an object's plan ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// AWS matches: nothing to do.
    NoChanges,
    /// The steps would be taken.
    Changes,
    /// Cannot be planned until something else exists (its steps are known after apply).
    Waiting { message: String },
    /// The object would not be applied, or would stall: the API server's or the controller's message.
    Error { reason: String, message: String },
}

/// One step, as a plan shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepView {
    pub op: Op,
    /// The AWS (or Kubernetes) action, e.g. `CreateVpc`: the Event's `action` when applied.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive: Option<String>,
}

impl StepView {
    pub fn of<S: Step>(step: &S) -> StepView {
        StepView {
            op: step.op(),
            action: step.action().to_string(),
            part: step.part().map(String::from),
            description: unknown_after_apply(&step.to_string()),
            fields: step
                .fields()
                .into_iter()
                .map(|f| FieldChange {
                    field: f.field,
                    old: f.old.map(|o| unknown_after_apply(&o)),
                    new: unknown_after_apply(&f.new),
                })
                .collect(),
            destructive: step.destructive().map(|d| unknown_after_apply(&d)),
        }
    }
}

/// A destructive step, and whose.
#[derive(Clone, Debug, Serialize)]
pub struct Destructive {
    pub object: String,
    pub step: String,
    pub why: String,
}

/// `Plan: N to create, N to change, N to replace, N to delete.` Tags count as changes, removing
/// the ownership tags (`Retain`) as changes too: the resource stays. Waits are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub change: usize,
    pub replace: usize,
    pub delete: usize,
    /// Objects that could not be planned.
    pub errors: usize,
    /// Objects waiting for others: their steps are known after apply.
    pub waiting: usize,
}

impl ObjectPlan {
    /// The plan of an object that exists (not inline), with no step or note yet.
    pub fn new(kind: &str, namespace: &str, name: &str, outcome: Outcome) -> ObjectPlan {
        ObjectPlan {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            new: false,
            child_of: None,
            outcome,
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// `Kind namespace/name`.
    pub fn id(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl Plan {
    /// The plan of `objects`, with its summary and destructive list.
    pub fn new(mode: Mode, objects: Vec<ObjectPlan>, skipped: Vec<String>) -> Plan {
        let mut summary = Summary::default();
        let mut destructive = Vec::new();
        for o in &objects {
            match &o.outcome {
                Outcome::Error { .. } => summary.errors += 1,
                Outcome::Waiting { .. } => summary.waiting += 1,
                _ => {}
            }
            for s in &o.steps {
                match s.op {
                    Op::Create => summary.create += 1,
                    Op::Update | Op::Tag | Op::Untag => summary.change += 1,
                    Op::Replace => summary.replace += 1,
                    Op::Delete => summary.delete += 1,
                    Op::Wait => {}
                }
                if let Some(why) = &s.destructive {
                    destructive.push(Destructive {
                        object: o.id(),
                        step: s.description.clone(),
                        why: why.clone(),
                    });
                }
            }
        }
        Plan {
            format_version: FORMAT_VERSION,
            mode,
            objects,
            skipped,
            destructive,
            summary,
        }
    }

    /// Whether anything would change (waiting objects will change once what they wait for exists).
    pub fn has_changes(&self) -> bool {
        self.objects
            .iter()
            .any(|o| matches!(o.outcome, Outcome::Waiting { .. }) || o.steps.iter().any(|s| s.op != Op::Wait))
    }

    /// With `--detailed-exitcode`: 0 no changes, 2 changes, 1 if any object errs (even when others
    /// change). Without: 1 on an error, else 0.
    pub fn exit_code(&self, detailed: bool) -> u8 {
        if self.summary.errors > 0 {
            1
        } else if detailed && self.has_changes() {
            2
        } else {
            0
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The text plan: destructive changes first, then each object, then the summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if !self.destructive.is_empty() {
            let _ = writeln!(out, "Destructive changes:");
            for d in &self.destructive {
                let _ = writeln!(out, "  ! {}: {}: {}", d.object, d.step, d.why);
            }
            let _ = writeln!(out);
        }
        for o in &self.objects {
            let mut head = o.id();
            if o.new {
                head.push_str(" (new)");
            }
            if let Some(parent) = &o.child_of {
                let _ = write!(head, " (inline, of {parent})");
            }
            match &o.outcome {
                Outcome::NoChanges => {
                    let _ = writeln!(out, "{head}: no changes");
                }
                Outcome::Error { reason, message } => {
                    let _ = writeln!(out, "{head}: error: {reason}: {message}");
                }
                Outcome::Waiting { message } => {
                    let _ = writeln!(out, "{head}: {KNOWN_AFTER_APPLY}: waits: {message}");
                }
                Outcome::Changes => {
                    let _ = writeln!(out, "{head}:");
                }
            }
            for s in &o.steps {
                let _ = write!(out, "  {:>3} {}", s.op.symbol(), s.description);
                if let Some(part) = &s.part {
                    let _ = write!(out, "  [{part}]");
                }
                let _ = writeln!(out);
                for f in &s.fields {
                    let _ = writeln!(out, "        {f}");
                }
                if let Some(why) = &s.destructive {
                    let _ = writeln!(out, "        ! destructive: {why}");
                }
            }
            for n in &o.notes {
                let _ = writeln!(out, "      note: {n}");
            }
        }
        for s in &self.skipped {
            let _ = writeln!(out, "not planned: {s}");
        }
        let s = &self.summary;
        let _ = writeln!(out);
        let _ = write!(
            out,
            "Plan: {} to create, {} to change, {} to replace, {} to delete.",
            s.create, s.change, s.replace, s.delete
        );
        if s.waiting > 0 {
            let _ = write!(out, " {} waiting (changes known after apply).", s.waiting);
        }
        if s.errors > 0 {
            let _ = write!(out, " {} with errors.", s.errors);
        }
        let _ = writeln!(out);
        out
    }
}

/// `text` with every word that carries the planned uid's digits (a name derived from a uid not
/// given yet) read as `(known after apply)`.
pub fn unknown_after_apply(text: &str) -> String {
    let marker: String = PLANNED_UID.chars().take(8).collect();
    if !text.contains(&marker) {
        return text.to_string();
    }
    let word = |c: char| c.is_ascii_alphanumeric() || "-_.:/".contains(c);
    let mut out = String::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut String| {
        if current.contains(&marker) {
            out.push_str(KNOWN_AFTER_APPLY);
        } else {
            out.push_str(current);
        }
        current.clear();
    };
    for c in text.chars() {
        if word(c) {
            current.push(c);
        } else {
            flush(&mut current, &mut out);
            out.push(c);
        }
    }
    flush(&mut current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(op: Op, action: &str, description: &str) -> StepView {
        StepView {
            op,
            action: action.into(),
            part: None,
            description: description.into(),
            fields: Vec::new(),
            destructive: None,
        }
    }

    fn object(kind: &str, name: &str, outcome: Outcome, steps: Vec<StepView>) -> ObjectPlan {
        ObjectPlan {
            kind: kind.into(),
            namespace: "shop".into(),
            name: name.into(),
            new: false,
            child_of: None,
            outcome,
            steps,
            notes: Vec::new(),
        }
    }

    fn sample() -> Plan {
        let mut health = step(
            Op::Update,
            "ModifyTargetGroup",
            "modify health check: healthy threshold",
        );
        health.fields = vec![FieldChange::new("healthy threshold", Some(3), 5)];
        let mut lb = step(
            Op::Replace,
            "CreateLoadBalancer",
            "create load balancer (known after apply) replacing the current one (scheme cannot change in place)",
        );
        lb.fields = vec![FieldChange::new("scheme", Some("internet-facing"), "internal")];
        lb.destructive = Some("the load balancer is replaced: its DNS name changes".into());
        let objects = vec![
            object(
                "WebStack",
                "web",
                Outcome::Changes,
                vec![
                    step(Op::Delete, "DeleteLoadBalancer", "delete load balancer arn:old"),
                    lb,
                    step(Op::Create, "CreateVpc", "create VPC 10.0.0.0/16"),
                    step(Op::Tag, "CreateTags", "restore tags team on VPC"),
                    step(
                        Op::Wait,
                        "DescribeNatGateways",
                        "wait until the NAT gateways are deleted",
                    ),
                ],
            ),
            object("TargetGroup", "api", Outcome::Changes, vec![health]),
            object("ListenerRule", "api", Outcome::NoChanges, vec![]),
            object(
                "ContainerService",
                "api",
                Outcome::Waiting {
                    message: "waiting for TargetGroup api to be Ready".into(),
                },
                vec![],
            ),
        ];
        Plan::new(
            Mode::Apply,
            objects,
            vec!["v1 Namespace shop: not a webstack.io kind".into()],
        )
    }

    #[test]
    fn text_reads_like_terraform() {
        let text = sample().text();
        let want = "\
Destructive changes:
  ! WebStack shop/web: create load balancer (known after apply) replacing the current one (scheme cannot change in place): the load balancer is replaced: its DNS name changes

WebStack shop/web:
    - delete load balancer arn:old
  -/+ create load balancer (known after apply) replacing the current one (scheme cannot change in place)
        scheme: internet-facing → internal
        ! destructive: the load balancer is replaced: its DNS name changes
    + create VPC 10.0.0.0/16
    ~ restore tags team on VPC
    . wait until the NAT gateways are deleted
TargetGroup shop/api:
    ~ modify health check: healthy threshold
        healthy threshold: 3 → 5
ListenerRule shop/api: no changes
ContainerService shop/api: (known after apply): waits: waiting for TargetGroup api to be Ready
not planned: v1 Namespace shop: not a webstack.io kind

Plan: 1 to create, 2 to change, 1 to replace, 1 to delete. 1 waiting (changes known after apply).
";
        assert_eq!(text, want);
    }

    #[test]
    fn json_carries_its_version_and_every_step() {
        let p = sample();
        let v: serde_json::Value = serde_json::from_str(&p.json()).unwrap();
        assert_eq!(v["format_version"], "1");
        assert_eq!(v["mode"], "apply");
        assert_eq!(v["summary"]["replace"], 1);
        assert_eq!(v["objects"][0]["outcome"]["result"], "changes");
        assert_eq!(v["objects"][0]["steps"][1]["op"], "replace");
        assert_eq!(v["objects"][0]["steps"][1]["fields"][0]["old"], "internet-facing");
        assert_eq!(v["objects"][1]["steps"][0]["fields"][0]["new"], "5");
        assert_eq!(v["objects"][3]["outcome"]["result"], "waiting");
        assert_eq!(v["destructive"][0]["object"], "WebStack shop/web");
    }

    #[test]
    fn exit_codes() {
        let mut p = sample();
        assert_eq!(p.exit_code(true), 2);
        assert_eq!(p.exit_code(false), 0);
        p.objects.push(object(
            "ListenerRule",
            "bad",
            Outcome::Error {
                reason: "Invalid".into(),
                message: "spec.priority: must be at most 50000".into(),
            },
            vec![],
        ));
        let p = Plan::new(Mode::Apply, p.objects, vec![]);
        assert_eq!((p.exit_code(true), p.exit_code(false)), (1, 1));
        let quiet = Plan::new(
            Mode::Apply,
            vec![object("TargetGroup", "a", Outcome::NoChanges, vec![])],
            vec![],
        );
        assert_eq!(quiet.exit_code(true), 0);
        assert!(
            quiet
                .text()
                .ends_with("Plan: 0 to create, 0 to change, 0 to replace, 0 to delete.\n")
        );
    }

    /// Each kind of step as `plan` shows it, from the kinds' own steps: its op, its fields and
    /// whether it is destructive.
    #[test]
    fn the_kinds_steps_render_with_their_op_and_what_they_destroy() {
        use crate::model::children::{ChildKind, ChildStep};
        use crate::staticsite::plan::Step as Site;
        use crate::webstack::parts::Step as Stack;
        use crate::webstack::parts::data::DataStep;
        use crate::webstack::parts::loadbalancer::LoadBalancerStep;
        use crate::webstack::parts::registries::RegistryStep;
        let replace = Stack::LoadBalancer(LoadBalancerStep::CreateLoadBalancer {
            name: format!("ws-shop-web-{}", &PLANNED_UID[..8]),
            replacing: Some(FieldChange::new("scheme", Some("internet-facing"), "internal")),
        });
        let view = StepView::of(&replace);
        assert_eq!(
            (view.op, view.part.as_deref(), view.action.as_str()),
            (Op::Replace, Some("LoadBalancer"), "CreateLoadBalancer")
        );
        assert_eq!(
            view.description,
            "create load balancer (known after apply) replacing the current one (scheme cannot change in place)"
        );
        assert_eq!(view.fields[0].to_string(), "scheme: internet-facing → internal");
        assert!(view.destructive.unwrap().contains("DNS name changes"));
        let cases: Vec<(StepView, Op, bool)> = vec![
            (
                StepView::of(&Stack::LoadBalancer(LoadBalancerStep::DeleteLoadBalancer {
                    arn: "arn:lb".into(),
                })),
                Op::Delete,
                true,
            ),
            (
                StepView::of(&Stack::Data(DataStep::DeleteDatabase {
                    identifier: "db".into(),
                    final_snapshot: true,
                })),
                Op::Delete,
                false,
            ),
            (
                StepView::of(&Stack::Data(DataStep::DeleteDatabase {
                    identifier: "db".into(),
                    final_snapshot: false,
                })),
                Op::Delete,
                true,
            ),
            (StepView::of(&Stack::Data(DataStep::DeleteCache)), Op::Delete, true),
            (
                StepView::of(&Stack::Registry(RegistryStep::Delete {
                    repository: "shop/api".into(),
                    force: true,
                })),
                Op::Delete,
                true,
            ),
            (
                StepView::of(&Stack::Registry(RegistryStep::Delete {
                    repository: "shop/api".into(),
                    force: false,
                })),
                Op::Delete,
                false,
            ),
            (
                StepView::of(&Stack::Child(ChildStep::Apply {
                    kind: ChildKind::ContainerService,
                    name: "api".into(),
                    create: false,
                })),
                Op::Update,
                false,
            ),
            (StepView::of(&Site::EmptyBucket), Op::Delete, true),
            (StepView::of(&Site::UntagBucket), Op::Untag, false),
            (StepView::of(&Site::TagBucket), Op::Tag, false),
            (StepView::of(&Stack::Data(DataStep::AwaitDatabaseGone)), Op::Wait, false),
        ];
        for (view, op, destructive) in cases {
            assert_eq!((view.op, view.destructive.is_some()), (op, destructive), "{view:?}");
        }
    }

    #[test]
    fn names_derived_from_a_uid_not_given_are_known_after_apply() {
        assert_eq!(
            unknown_after_apply("create load balancer ws-shop-web-ffffffff, then tag vpc-1"),
            "create load balancer (known after apply), then tag vpc-1"
        );
        assert_eq!(unknown_after_apply("nothing to hide"), "nothing to hide");
    }
}
