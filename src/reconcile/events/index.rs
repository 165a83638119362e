//! Which objects each AWS identifier belongs to: every reconcile reports the identifiers its AWS
//! requests and responses named ([`crate::aws::ids`]), and an event's identifiers are looked up
//! here. Rebuilt by the reconciles themselves after a restart (every object is reconciled once at
//! start), so it needs no store of its own.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// An object: its kind (`WebStack`, …), namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

#[derive(Default)]
struct Inner {
    by_object: HashMap<ObjectKey, BTreeSet<Arc<str>>>,
    by_id: HashMap<Arc<str>, BTreeSet<ObjectKey>>,
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
        let Inner { by_object, by_id } = &mut *inner;
        let held = by_object.entry(object.clone()).or_default();
        if complete {
            let gone: Vec<Arc<str>> = held.iter().filter(|id| !ids.contains(&***id)).cloned().collect();
            for id in gone {
                held.remove(&id);
                unlink(by_id, &id, object);
            }
        }
        for id in ids {
            if held.contains(id.as_str()) {
                continue;
            }
            let id: Arc<str> = id.into();
            held.insert(id.clone());
            by_id.entry(id).or_default().insert(object.clone());
        }
        if held.is_empty() {
            by_object.remove(object);
        }
    }

    /// The object is gone: none of the identifiers is its any more.
    pub fn forget(&self, object: &ObjectKey) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let Inner { by_object, by_id } = &mut *inner;
        for id in by_object.remove(object).unwrap_or_default() {
            unlink(by_id, &id, object);
        }
    }

    /// The objects any of `ids` belongs to.
    pub fn owners<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<ObjectKey> {
        let Ok(inner) = self.inner.lock() else {
            return BTreeSet::new();
        };
        ids.into_iter()
            .filter_map(|id| inner.by_id.get(id))
            .flat_map(|owners| owners.iter().cloned())
            .collect()
    }

    /// The identifiers `object` names.
    pub fn ids_of(&self, object: &ObjectKey) -> Vec<Arc<str>> {
        self.inner
            .lock()
            .map(|i| {
                i.by_object
                    .get(object)
                    .map(|ids| ids.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Every object that names an identifier.
    pub fn objects(&self) -> Vec<ObjectKey> {
        self.inner
            .lock()
            .map(|i| i.by_object.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `object` names any identifier (it has not been deleted).
    pub fn holds(&self, object: &ObjectKey) -> bool {
        self.inner.lock().is_ok_and(|i| i.by_object.contains_key(object))
    }

    /// How many identifiers and objects are held (for logs and the benchmark).
    pub fn size(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|i| (i.by_id.len(), i.by_object.len()))
            .unwrap_or_default()
    }
}

fn unlink(by_id: &mut HashMap<Arc<str>, BTreeSet<ObjectKey>>, id: &Arc<str>, object: &ObjectKey) {
    if let Some(owners) = by_id.get_mut(id) {
        owners.remove(object);
        if owners.is_empty() {
            by_id.remove(id);
        }
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

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_identifier_belongs_to_every_object_that_named_it() {
        let index = Index::default();
        let (stack, tg) = (key("WebStack", "web"), key("TargetGroup", "api"));
        index.record(&stack, ids(&["vpc-1a2b3c4d", "sg-1a2b3c4d"]), true);
        index.record(&tg, ids(&["vpc-1a2b3c4d", "arn:tg"]), true);
        assert_eq!(
            index.owners(["vpc-1a2b3c4d"]),
            BTreeSet::from([stack.clone(), tg.clone()])
        );
        assert_eq!(
            index.owners(["sg-1a2b3c4d", "nothing"]),
            BTreeSet::from([stack.clone()])
        );
        assert!(index.owners(["nothing"]).is_empty());
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
}
