//! Which objects each AWS identifier belongs to: every reconcile reports the identifiers its AWS
//! requests and responses named ([`crate::aws::ids`]), and an event's identifiers are looked up
//! here. Rebuilt by the reconciles themselves after a restart (every object is reconciled once at
//! start), so it needs no store of its own.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

/// An object: its kind (`WebStack`, …), namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: &'static str, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// The objects an identifier belongs to: nearly always one, held without a collection of its own.
enum Owners {
    One(Arc<ObjectKey>),
    Many(Vec<Arc<ObjectKey>>),
}

impl Owners {
    fn iter(&self) -> impl Iterator<Item = &Arc<ObjectKey>> {
        match self {
            Owners::One(o) => std::slice::from_ref(o).iter(),
            Owners::Many(v) => v.iter(),
        }
    }

    fn add(&mut self, object: &Arc<ObjectKey>) {
        if self.iter().any(|o| o == object) {
            return;
        }
        match self {
            Owners::One(o) => *self = Owners::Many(vec![o.clone(), object.clone()]),
            Owners::Many(v) => v.push(object.clone()),
        }
    }

    /// Takes `object` off; whether none is left.
    fn remove(&mut self, object: &ObjectKey) -> bool {
        match self {
            Owners::One(o) => **o == *object,
            Owners::Many(v) => {
                v.retain(|o| **o != *object);
                if v.len() == 1
                    && let Some(only) = v.pop()
                {
                    *self = Owners::One(only);
                    return false;
                }
                v.is_empty()
            }
        }
    }
}

/// Each object's key is held once, shared by every identifier it names, and each identifier as a
/// 64-bit hash of it (keyed per process): at 46 identifiers per unit stack, the index is most of
/// what the operator holds per stack with drift events on. Two identifiers sharing a hash would
/// only make an event about one also reconcile the other's owner.
#[derive(Default)]
struct Inner {
    by_object: HashMap<Arc<ObjectKey>, Named>,
    by_id: HashMap<u64, Owners>,
    hasher: RandomState,
}

/// What an object's reconciles named: the identifiers' hashes (sorted), and whether one of them is
/// of a type its own kind's sweep reads ([`crate::aws::sweep::own_kind`]).
#[derive(Default)]
struct Named {
    ids: Vec<u64>,
    own: bool,
}

impl Inner {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Its size, as `webstack_events_index_identifiers` and `webstack_events_index_objects`.
    fn export(&self) {
        crate::metrics::METRICS.events_index((self.by_id.len(), self.by_object.len()));
    }
}

/// Identifier → the objects whose reconciles named it.
#[derive(Default)]
pub struct Index {
    inner: Mutex<Inner>,
}

impl Index {
    /// What `object`'s reconcile named. `complete`: the reconcile finished its observation (it
    /// converged or is waiting on AWS), so what it did not name is no longer the object's; an
    /// interrupted one (an error) only adds.
    pub fn record(&self, object: &ObjectKey, ids: BTreeSet<String>, complete: bool) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let mut named: Vec<u64> = ids.iter().map(|id| inner.hash(id)).collect();
        named.sort_unstable();
        named.dedup();
        let own = ids
            .iter()
            .any(|id| crate::aws::sweep::own_kind(id) == Some(object.kind));
        let Inner { by_object, by_id, .. } = &mut *inner;
        let key = match by_object.get_key_value(object) {
            Some((key, _)) => key.clone(),
            None => Arc::new(object.clone()),
        };
        let held = by_object.entry(key.clone()).or_default();
        let before = std::mem::take(&mut held.ids);
        if complete {
            for id in before.iter().filter(|id| named.binary_search(id).is_err()) {
                unlink(by_id, *id, object);
            }
            held.own = own;
        } else {
            held.own |= own;
        }
        for id in named.iter().filter(|id| before.binary_search(id).is_err()) {
            match by_id.get_mut(id) {
                Some(owners) => owners.add(&key),
                None => {
                    by_id.insert(*id, Owners::One(key.clone()));
                }
            }
        }
        held.ids = if complete {
            named
        } else {
            let mut all = before;
            all.extend(named);
            all.sort_unstable();
            all.dedup();
            all
        };
        held.ids.shrink_to_fit();
        if held.ids.is_empty() {
            by_object.remove(object);
        }
        inner.export();
    }

    /// The object is gone: none of the identifiers is its any more.
    pub fn forget(&self, object: &ObjectKey) {
        self.forget_where(|o| o == object);
    }

    /// The objects `gone` says are gone: none of the identifiers is theirs any more; how many
    /// objects the index held.
    pub fn forget_where(&self, gone: impl Fn(&ObjectKey) -> bool) -> usize {
        let Ok(mut inner) = self.inner.lock() else { return 0 };
        let Inner { by_object, by_id, .. } = &mut *inner;
        let objects: Vec<Arc<ObjectKey>> = by_object.keys().filter(|o| gone(o)).cloned().collect();
        for object in &objects {
            for id in by_object.remove(&**object).unwrap_or_default().ids {
                unlink(by_id, id, object);
            }
        }
        inner.export();
        objects.len()
    }

    /// The objects any of `ids` belongs to (the index's keys, shared: a sweep asks for each of
    /// thousands of resources).
    pub fn owners<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<Arc<ObjectKey>> {
        let Ok(inner) = self.inner.lock() else {
            return BTreeSet::new();
        };
        ids.into_iter()
            .filter_map(|id| inner.by_id.get(&inner.hash(id)))
            .flat_map(|owners| owners.iter().cloned())
            .collect()
    }

    /// Whether `object` named an identifier of a type its own kind's sweep reads.
    pub fn names_own(&self, object: &ObjectKey) -> bool {
        self.inner
            .lock()
            .is_ok_and(|i| i.by_object.get(object).is_some_and(|n| n.own))
    }

    /// Whether `object` names any identifier (it has not been deleted).
    pub fn holds(&self, object: &ObjectKey) -> bool {
        self.inner.lock().is_ok_and(|i| i.by_object.contains_key(object))
    }

    /// How many identifiers and objects are held (`webstack_events_index_identifiers` and
    /// `webstack_events_index_objects`).
    pub fn size(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|i| (i.by_id.len(), i.by_object.len()))
            .unwrap_or_default()
    }
}

fn unlink(by_id: &mut HashMap<u64, Owners>, id: u64, object: &ObjectKey) {
    if let Some(owners) = by_id.get_mut(&id)
        && owners.remove(object)
    {
        by_id.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &'static str, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    fn shared<const N: usize>(keys: [&ObjectKey; N]) -> BTreeSet<Arc<ObjectKey>> {
        keys.into_iter().map(|k| Arc::new(k.clone())).collect()
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_identifier_belongs_to_every_object_that_named_it() {
        let index = Index::default();
        let (stack, tg) = (key("WebStack", "web"), key("TargetGroup", "api"));
        index.record(&stack, ids(&["vpc-1a2b3c4d", "sg-1a2b3c4d"]), true);
        index.record(&tg, ids(&["vpc-1a2b3c4d", "arn:tg"]), true);
        assert_eq!(index.owners(["vpc-1a2b3c4d"]), shared([&stack, &tg]));
        assert_eq!(index.owners(["sg-1a2b3c4d", "nothing"]), shared([&stack]));
        assert!(index.owners(["nothing"]).is_empty());
    }

    /// Owners come and go one by one (the one-owner form and the several-owner form alike), and
    /// an identifier goes with its last owner.
    #[test]
    fn an_identifier_named_by_several_objects_goes_with_the_last() {
        let index = Index::default();
        let (stack, web, api) = (
            key("WebStack", "web"),
            key("TargetGroup", "web"),
            key("TargetGroup", "api"),
        );
        for o in [&stack, &web, &api] {
            index.record(o, ids(&["vpc-1a2b3c4d"]), true);
        }
        index.record(&web, ids(&["vpc-1a2b3c4d"]), true);
        assert_eq!(index.owners(["vpc-1a2b3c4d"]).len(), 3, "named again: no second entry");
        index.forget(&web);
        assert_eq!(index.owners(["vpc-1a2b3c4d"]), shared([&stack, &api]));
        index.record(&stack, ids(&["sg-1a2b3c4d"]), true);
        assert_eq!(index.owners(["vpc-1a2b3c4d"]), shared([&api]));
        index.record(&stack, ids(&["vpc-1a2b3c4d"]), false);
        assert_eq!(index.owners(["vpc-1a2b3c4d"]).len(), 2, "one owner, then two again");
        index.forget(&api);
        index.forget(&stack);
        assert_eq!(index.size(), (0, 0));
        assert!(index.owners(["vpc-1a2b3c4d", "sg-1a2b3c4d"]).is_empty());
    }

    #[test]
    fn a_complete_reconcile_replaces_an_interrupted_one_adds_and_deletion_forgets() {
        let index = Index::default();
        let stack = key("WebStack", "web");
        index.record(&stack, ids(&["sg-1a2b3c4d", "sg-2a2b3c4d"]), true);
        index.record(&stack, ids(&["sg-3a2b3c4d"]), false);
        assert_eq!(index.owners(["sg-1a2b3c4d", "sg-3a2b3c4d"]).len(), 1);
        assert_eq!(index.size(), (3, 1));
        index.record(&stack, ids(&["sg-3a2b3c4d"]), true);
        assert!(index.owners(["sg-1a2b3c4d", "sg-2a2b3c4d"]).is_empty());
        assert_eq!(index.size(), (1, 1));
        index.forget(&stack);
        assert_eq!(index.size(), (0, 0));
    }

    #[test]
    fn an_object_names_its_own_kinds_identifiers_or_not() {
        let index = Index::default();
        let (stack, tg) = (key("WebStack", "web"), key("TargetGroup", "api"));
        index.record(&stack, ids(&["vpc-1a2b3c4d"]), true);
        index.record(&tg, ids(&["vpc-1a2b3c4d"]), true);
        assert!(index.names_own(&stack), "a VPC is a stack's");
        assert!(!index.names_own(&tg), "a target group named only its stack's VPC");
        index.record(&stack, ids(&["nothing-of-its-own"]), false);
        assert!(index.names_own(&stack), "an interrupted reconcile only adds");
        index.record(&stack, ids(&["nothing-of-its-own"]), true);
        assert!(!index.names_own(&stack), "a complete one replaces");
    }
}
