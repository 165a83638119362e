//! A stack's inline services and static site as child objects: what they should be, what the
//! namespace holds, and the steps between (pure). The children themselves are reconciled by their
//! own kinds; the stack only writes, prunes and watches them.

use std::fmt;

/// The kinds a stack expands into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChildKind {
    TargetGroup,
    ListenerRule,
    ContainerService,
    StaticSite,
}

impl ChildKind {
    pub const ALL: [ChildKind; 4] = [
        ChildKind::TargetGroup,
        ChildKind::ListenerRule,
        ChildKind::ContainerService,
        ChildKind::StaticSite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::TargetGroup => "TargetGroup",
            ChildKind::ListenerRule => "ListenerRule",
            ChildKind::ContainerService => "ContainerService",
            ChildKind::StaticSite => "StaticSite",
        }
    }
}

impl fmt::Display for ChildKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A child the spec asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredChild {
    pub kind: ChildKind,
    pub name: String,
    /// Where in the stack's spec it comes from (`spec.services[1].routes[0]`, `spec.staticSite`).
    pub path: String,
    /// The inline service it belongs to (none for the static site).
    pub service: Option<String>,
    /// Its spec, canonical: serialized from the typed spec, defaults included.
    pub spec: serde_json::Value,
}

/// How far a child has come, from its status (as of its current generation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChildHealth {
    pub ready: bool,
    /// The Ready condition's message (or why it is unknown).
    pub message: String,
}

/// What a ContainerService child reports, for the stack's `status.services`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceFigures {
    pub running: Option<i32>,
    pub desired: Option<i32>,
    pub revision: Option<i64>,
}

/// An object of a child's kind and name found in the namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedChild {
    pub kind: ChildKind,
    pub name: String,
    /// Controlled by this stack: an ownerReference with its uid and `controller: true`.
    pub ours: bool,
    /// Its spec, canonical as [`DesiredChild::spec`] (`Null` if it does not parse).
    pub spec: serde_json::Value,
    pub deleting: bool,
    pub health: ChildHealth,
    pub figures: Option<ServiceFigures>,
}

/// One change to the stack's children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildStep {
    /// Create, or bring back to the spec (a hand edit reverted), by server-side apply.
    Apply {
        kind: ChildKind,
        name: String,
        create: bool,
    },
    /// A child the spec no longer has (its own finalizer deletes its AWS resources).
    Delete { kind: ChildKind, name: String },
}

impl fmt::Display for ChildStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildStep::Apply {
                kind,
                name,
                create: true,
            } => write!(f, "create {kind} {name}"),
            ChildStep::Apply {
                kind,
                name,
                create: false,
            } => write!(f, "restore {kind} {name} to the stack's spec"),
            ChildStep::Delete { kind, name } => write!(f, "delete {kind} {name}"),
        }
    }
}

/// An object with a child's name that is not the stack's: never overwritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildConflict {
    pub kind: ChildKind,
    pub name: String,
    pub path: String,
}

impl fmt::Display for ChildConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} already exists and is not this stack's (no controller ownerReference to it), so {} \
             cannot be expanded into it: rename the service or the stack, or delete that {}",
            self.kind, self.name, self.path, self.kind
        )
    }
}

/// The first desired child whose name an object that is not the stack's already holds: that
/// object is never overwritten (nor pruned), and the stack says so.
pub fn conflict(desired: &[DesiredChild], observed: &[ObservedChild]) -> Option<ChildConflict> {
    desired.iter().find_map(|d| {
        observed
            .iter()
            .any(|o| o.kind == d.kind && o.name == d.name && !o.ours)
            .then(|| ChildConflict {
                kind: d.kind,
                name: d.name.clone(),
                path: d.path.clone(),
            })
    })
}

/// The steps that make the namespace hold exactly the desired children: create the missing,
/// restore the edited, delete the stack's own that the spec no longer has. An object of a
/// child's name that is not the stack's gets no step (see [`conflict`]).
pub fn plan(desired: &[DesiredChild], observed: &[ObservedChild]) -> Vec<ChildStep> {
    let mut steps = Vec::new();
    for d in desired {
        match observed.iter().find(|o| o.kind == d.kind && o.name == d.name) {
            Some(o) if !o.ours => {}
            // Being deleted (pruned earlier, or by hand): applied again once it is gone.
            Some(o) if o.deleting => {}
            Some(o) if o.spec == d.spec => {}
            found => steps.push(ChildStep::Apply {
                kind: d.kind,
                name: d.name.clone(),
                create: found.is_none(),
            }),
        }
    }
    steps.extend(prune(desired, observed));
    steps
}

/// Deletions of the stack's own children that `desired` does not hold (all of them on deletion).
pub fn prune(desired: &[DesiredChild], observed: &[ObservedChild]) -> Vec<ChildStep> {
    observed
        .iter()
        .filter(|o| o.ours && !o.deleting)
        .filter(|o| !desired.iter().any(|d| d.kind == o.kind && d.name == o.name))
        .map(|o| ChildStep::Delete {
            kind: o.kind,
            name: o.name.clone(),
        })
        .collect()
}

/// The desired children that are not Ready yet, as `Kind/name (why)`.
pub fn not_ready(desired: &[DesiredChild], observed: &[ObservedChild]) -> Vec<String> {
    desired
        .iter()
        .filter_map(|d| {
            let why = match observed.iter().find(|o| o.kind == d.kind && o.name == d.name) {
                None => "not created yet".to_string(),
                Some(o) if o.deleting => "being deleted".to_string(),
                Some(o) if o.health.ready => return None,
                Some(o) => o.health.message.clone(),
            };
            Some(format!("{}/{} ({why})", d.kind, d.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(kind: ChildKind, name: &str, spec: serde_json::Value) -> DesiredChild {
        DesiredChild {
            kind,
            name: name.into(),
            path: "spec.services[0]".into(),
            service: Some("movies".into()),
            spec,
        }
    }

    fn found(d: &DesiredChild, ours: bool) -> ObservedChild {
        ObservedChild {
            kind: d.kind,
            name: d.name.clone(),
            ours,
            spec: d.spec.clone(),
            deleting: false,
            health: ChildHealth {
                ready: true,
                message: "AWS matches the spec".into(),
            },
            figures: None,
        }
    }

    #[test]
    fn creates_restores_and_prunes() {
        let tg = desired(ChildKind::TargetGroup, "n-movies", serde_json::json!({"port": 8080}));
        let cs = desired(
            ChildKind::ContainerService,
            "n-movies",
            serde_json::json!({"cpu": "256"}),
        );
        // Nothing there: both created, in the spec's order.
        assert_eq!(
            plan(&[tg.clone(), cs.clone()], &[]),
            [
                ChildStep::Apply {
                    kind: ChildKind::TargetGroup,
                    name: "n-movies".into(),
                    create: true
                },
                ChildStep::Apply {
                    kind: ChildKind::ContainerService,
                    name: "n-movies".into(),
                    create: true
                }
            ]
        );
        // Both there and equal: nothing.
        let both = [found(&tg, true), found(&cs, true)];
        assert_eq!(plan(&[tg.clone(), cs.clone()], &both), []);
        // A hand edit: restored.
        let mut edited = both.clone();
        edited[0].spec = serde_json::json!({"port": 9090});
        assert_eq!(
            plan(&[tg.clone(), cs.clone()], &edited),
            [ChildStep::Apply {
                kind: ChildKind::TargetGroup,
                name: "n-movies".into(),
                create: false
            }]
        );
        // The service removed from the spec: its children deleted; one already going is left.
        assert_eq!(
            plan(&[], &both),
            [
                ChildStep::Delete {
                    kind: ChildKind::TargetGroup,
                    name: "n-movies".into()
                },
                ChildStep::Delete {
                    kind: ChildKind::ContainerService,
                    name: "n-movies".into()
                }
            ]
        );
        let mut going = both.clone();
        going[0].deleting = true;
        assert_eq!(plan(&[], &going).len(), 1);
        // Being deleted while wanted: nothing until it is gone, then created again.
        assert_eq!(plan(std::slice::from_ref(&tg), &going[..1]), []);
    }

    #[test]
    fn someone_elses_object_is_never_overwritten_nor_pruned() {
        let tg = desired(ChildKind::TargetGroup, "n-movies", serde_json::json!({"port": 8080}));
        let theirs = found(&tg, false);
        let conflict = conflict(std::slice::from_ref(&tg), std::slice::from_ref(&theirs)).unwrap();
        assert_eq!(conflict.name, "n-movies");
        assert!(conflict.to_string().contains("TargetGroup n-movies already exists"));
        assert!(conflict.to_string().contains("spec.services[0]"));
        // Not the stack's: never pruned either.
        assert_eq!(plan(&[], &[theirs]), []);
    }

    #[test]
    fn readiness_names_what_is_not_ready() {
        let tg = desired(ChildKind::TargetGroup, "n-movies", serde_json::json!({}));
        let cs = desired(ChildKind::ContainerService, "n-movies", serde_json::json!({}));
        let mut waiting = found(&cs, true);
        waiting.health = ChildHealth {
            ready: false,
            message: "1 of 2 tasks running".into(),
        };
        assert_eq!(
            not_ready(&[tg.clone(), cs.clone()], &[found(&tg, true), waiting]),
            ["ContainerService/n-movies (1 of 2 tasks running)"]
        );
        assert_eq!(not_ready(&[tg], &[]), ["TargetGroup/n-movies (not created yet)"]);
    }
}
