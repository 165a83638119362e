//! Ownership of AWS resources: the tags every created or adopted resource carries, deterministic
//! names, and the check that keeps the operator's hands off resources that belong to someone else
//! (another `--cluster-id`, another custom resource).

use std::collections::BTreeMap;

/// Tags as a sorted map.
pub type TagMap = BTreeMap<String, String>;

/// `webstack.io/managed-by`.
pub const MANAGED_BY: &str = "webstack.io/managed-by";
/// The value of `webstack.io/managed-by`.
pub const MANAGED_BY_VALUE: &str = "webstack-operator";
/// `webstack.io/cluster`: the operator's `--cluster-id`.
pub const CLUSTER: &str = "webstack.io/cluster";
/// `webstack.io/owner`: `<namespace>/<Kind>/<name>`.
pub const OWNER: &str = "webstack.io/owner";
/// `webstack.io/uid`: the owning custom resource's `metadata.uid`.
pub const UID: &str = "webstack.io/uid";
/// `webstack.io/component`: which part of its owner a resource is (`vpc`, `subnet/public/0`, ...).
pub const COMPONENT: &str = "webstack.io/component";

/// The tags whose removal releases a resource (`deletionPolicy: Retain`): every ownership tag.
pub const OWNERSHIP_KEYS: [&str; 5] = [MANAGED_BY, CLUSTER, OWNER, UID, COMPONENT];

/// Keys of `want` that `have` lacks or holds with another value (tags to restore).
pub fn missing_tags(want: &TagMap, have: &TagMap) -> Vec<String> {
    want.iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The tags of `tags` named in `keys`.
pub fn select(tags: &TagMap, keys: &[String]) -> TagMap {
    tags.iter()
        .filter(|(k, _)| keys.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A short stable hash (FNV-1a) for deriving names and priorities: no randomness, no dependency.
pub fn stable_hash(s: &str) -> u32 {
    s.bytes()
        .fold(0x811c_9dc5, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The custom resource that owns AWS resources, and the operator instance acting for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub cluster_id: String,
    pub namespace: String,
    pub kind: &'static str,
    pub name: String,
    pub uid: String,
}

/// A resource the operator would manage that belongs to someone else: it is never touched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{resource} {id} belongs to someone else ({detail}); it is never touched: rename this resource or remove that one"
)]
pub struct Conflict {
    pub resource: &'static str,
    pub id: String,
    pub detail: String,
}

/// Whether a resource found in AWS may be touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Ours: same cluster id and uid.
    Ours,
    /// Managed by webstack-operator for another cluster or resource: never touched.
    Foreign { tag: &'static str, value: String },
    /// Not managed by the operator at all (may be adopted on request).
    Unmanaged,
}

impl Owner {
    /// The ownership tags plus `user` tags (user tags never override ownership tags).
    pub fn tags(&self, user: &TagMap, component: &str, name: &str) -> TagMap {
        let mut tags = user.clone();
        tags.insert("Name".into(), name.into());
        tags.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        tags.insert(CLUSTER.into(), self.cluster_id.clone());
        tags.insert(OWNER.into(), format!("{}/{}/{}", self.namespace, self.kind, self.name));
        tags.insert(UID.into(), self.uid.clone());
        tags.insert(COMPONENT.into(), component.into());
        tags
    }

    /// Classifies a resource by its tags.
    pub fn ownership(&self, tags: &TagMap) -> Ownership {
        if tags.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
            return Ownership::Unmanaged;
        }
        match (tags.get(CLUSTER), tags.get(UID)) {
            (Some(c), _) if *c != self.cluster_id => Ownership::Foreign {
                tag: CLUSTER,
                value: c.clone(),
            },
            (_, Some(u)) if *u != self.uid => Ownership::Foreign {
                tag: UID,
                value: u.clone(),
            },
            (Some(_), Some(_)) => Ownership::Ours,
            (None, _) => Ownership::Foreign {
                tag: CLUSTER,
                value: String::new(),
            },
            (_, None) => Ownership::Foreign {
                tag: UID,
                value: String::new(),
            },
        }
    }

    /// `Ok` when a resource with these tags is ours (cluster id and uid); else the conflict that
    /// forbids touching it. Checked before every mutation and every deletion.
    pub fn check(&self, resource: &'static str, id: &str, tags: &TagMap) -> Result<(), Conflict> {
        let detail = match self.ownership(tags) {
            Ownership::Ours => return Ok(()),
            Ownership::Foreign { tag, value } => format!("tagged {tag}={value}"),
            Ownership::Unmanaged => "not managed by webstack-operator".into(),
        };
        Err(Conflict {
            resource,
            id: id.into(),
            detail,
        })
    }

    /// Whether a resource found by a name unique to the owner is kept: its tags not read on this
    /// pass (empty), or ours. Another's stops a converging reconcile (`Err`) and is left out
    /// (`Ok(false)`) while `deleting`.
    pub fn keep_named(
        &self,
        resource: &'static str,
        id: &str,
        tags: &TagMap,
        deleting: bool,
    ) -> Result<bool, Conflict> {
        if tags.is_empty() {
            return Ok(true);
        }
        match self.check(resource, id, tags) {
            Ok(()) => Ok(true),
            Err(_) if deleting => Ok(false),
            Err(conflict) => Err(conflict),
        }
    }

    /// Whether these tags make a resource ours.
    pub fn owns(&self, tags: &TagMap) -> bool {
        self.ownership(tags) == Ownership::Ours
    }

    /// The first 8 hex digits of the uid: the suffix of every name [`Owner::aws_name`] derives.
    pub fn uid8(&self) -> String {
        self.uid.chars().filter(char::is_ascii_hexdigit).take(8).collect()
    }

    /// A deterministic, globally unique name of at most `max` characters, lowercase (S3 bucket
    /// names: 63): `<prefix>-<namespace>-<name>` shortened to fit, then `-` and 16 hex digits of
    /// the uid, so that no two objects, clusters or accounts derive the same one.
    pub fn global_name(&self, prefix: &str, max: usize) -> String {
        let uid: String = self.uid.chars().filter(char::is_ascii_hexdigit).take(16).collect();
        let base: String = format!("{prefix}-{}-{}", self.namespace, self.name)
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let room = max.saturating_sub(uid.len() + 1);
        let base = base[..base.len().min(room)].trim_end_matches('-');
        format!("{base}-{}", uid.to_ascii_lowercase())
    }

    /// [`Owner::aws_name`] as RDS and ElastiCache identifiers must be: lowercase, starting with a
    /// letter (the prefix), no two hyphens in a row, not ending with one.
    pub fn rds_name(&self, prefix: &str, max: usize) -> String {
        let mut out = String::new();
        for c in self.aws_name(prefix, max).to_ascii_lowercase().chars() {
            if !(c == '-' && out.ends_with('-')) {
                out.push(c);
            }
        }
        out.trim_end_matches('-').to_string()
    }

    /// A deterministic name of at most `max` characters (ELBv2 allows 32): `<prefix>-<namespace>-<name>`
    /// shortened to fit, then `-` and the first 8 hex digits of the uid, so a re-created resource of the
    /// same name gets a new AWS name. Only ASCII alphanumerics and `-` survive.
    pub fn aws_name(&self, prefix: &str, max: usize) -> String {
        let uid = self.uid8();
        let base: String = format!("{prefix}-{}-{}", self.namespace, self.name)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let room = max.saturating_sub(uid.len() + 1);
        let base = base[..base.len().min(room)].trim_end_matches('-');
        format!("{base}-{uid}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            cluster_id: "prod".into(),
            namespace: "movies".into(),
            kind: "WebStack",
            name: "netflux".into(),
            uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        }
    }

    #[test]
    fn a_named_resource_is_kept_unread_or_ours_and_anothers_stops_or_is_left_out() {
        let o = owner();
        let ours = o.tags(&TagMap::new(), "x", "n");
        let mut theirs = ours.clone();
        theirs.insert(UID.into(), "someone-else".into());
        assert_eq!(o.keep_named("log group", "g", &TagMap::new(), false), Ok(true));
        assert_eq!(o.keep_named("log group", "g", &ours, false), Ok(true));
        assert_eq!(o.keep_named("log group", "g", &theirs, true), Ok(false));
        let conflict = o.keep_named("log group", "g", &theirs, false).unwrap_err();
        assert_eq!((conflict.resource, conflict.id.as_str()), ("log group", "g"));
    }

    #[test]
    fn names_are_deterministic_short_and_carry_the_uid() {
        let o = owner();
        assert_eq!(o.aws_name("ws", 32), "ws-movies-netflux-0f1e2d3c");
        let long = Owner {
            namespace: "a-very-long-namespace-name".into(),
            name: "and.a.long.name".into(),
            ..o
        };
        let n = long.aws_name("ws", 32);
        assert!(n.len() <= 32, "{n}");
        assert!(n.ends_with("-0f1e2d3c"), "{n}");
        assert!(!n.contains("--") && !n.contains('.'), "{n}");
        assert_eq!(n, long.aws_name("ws", 32));
    }

    #[test]
    fn global_names_are_valid_bucket_names() {
        let long = Owner {
            namespace: "a-very-long-namespace-name-for-a-team".into(),
            name: "Site.With.Dots".into(),
            ..owner()
        };
        let n = long.global_name("wss", 63);
        assert!(n.len() <= 63, "{n}");
        assert!(n.ends_with("-0f1e2d3c4b5a6978"), "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{n}"
        );
        assert_eq!(owner().global_name("wss", 63), "wss-movies-netflux-0f1e2d3c4b5a6978");
    }

    #[test]
    fn rds_names_have_no_double_hyphens() {
        let o = Owner {
            namespace: "Team--A".into(),
            name: "db.stack".into(),
            ..owner()
        };
        let n = o.rds_name("ws", 40);
        assert_eq!(n, "ws-team-a-db-stack-0f1e2d3c");
        assert!(o.rds_name("ws", 12).len() <= 12);
    }

    #[test]
    fn ownership_is_decided_by_cluster_and_uid() {
        let o = owner();
        let ours = o.tags(&BTreeMap::new(), "vpc", "n");
        assert_eq!(o.ownership(&ours), Ownership::Ours);
        let mut other_cluster = ours.clone();
        other_cluster.insert(CLUSTER.into(), "staging".into());
        assert_eq!(
            o.ownership(&other_cluster),
            Ownership::Foreign {
                tag: CLUSTER,
                value: "staging".into()
            }
        );
        let mut other_uid = ours.clone();
        other_uid.insert(UID.into(), "another".into());
        assert_eq!(
            o.ownership(&other_uid),
            Ownership::Foreign {
                tag: UID,
                value: "another".into()
            }
        );
        assert_eq!(o.ownership(&BTreeMap::new()), Ownership::Unmanaged);
    }

    #[test]
    fn user_tags_never_override_ownership() {
        let o = owner();
        let user = BTreeMap::from([(UID.to_string(), "spoof".to_string()), ("team".into(), "movies".into())]);
        let tags = o.tags(&user, "vpc", "n");
        assert_eq!(tags[UID], o.uid);
        assert_eq!(tags["team"], "movies");
    }
}
