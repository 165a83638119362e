//! Which objects each AWS identifier belongs to: every reconcile reports the identifiers its AWS
//! requests and responses named ([`crate::aws::ids`]), and an event's identifiers are looked up
//! here. Rebuilt by the reconciles themselves after a restart (every object is reconciled once at
//! start), so it needs no store of its own.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
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

/// An identifier as the index holds it: a 32-bit hash of it, keyed per process.
type Id = u32;

/// An object's place in the index.
type Slot = u32;

/// In [`Inner::by_id`], a value with this bit set is not a slot but the first chunk of a list of
/// slots in [`Inner::chunks`]: the identifier belongs to several objects (a stack's VPC, named by
/// its TargetGroups too). In a chunk's last entry it continues the list in another chunk.
const SHARED: u32 = 1 << 31;

/// A chunk's entry that holds nothing.
const EMPTY: u32 = u32::MAX;

/// Four entries of a list of owners: slots, [`EMPTY`], and last maybe the next chunk.
type Chunk = [u32; 4];

/// Each object is held once, in a slot (its key, shared, and what it named); each identifier as a
/// 32-bit hash mapped to the slot of its owner (or a list of them). At 46 identifiers per unit
/// stack the index is most of what drift events cost per stack: with 64-bit hashes mapped to the
/// owners' keys (a 32-byte entry per identifier, its table at up to twice the identifiers) it was
/// 0.51 MB of the 1.03 MB events added at 100 stacks at rest (a heap profile); an entry is now 8
/// bytes. The lists of the identifiers several objects named were then the largest part left (a
/// heap profile at 300 stacks, converging: 0.78 MB in all, 36% of it those lists, 19% the table
/// of identifiers); they are now chunks of four slots in one arena. Two identifiers sharing a
/// hash (at 46,000, about one pair in four indexes) would only make an event about one also
/// reconcile the other's owner.
#[derive(Default)]
struct Inner {
    slots: Vec<Option<Held>>,
    /// Slots left by objects gone, taken again first.
    free: Vec<Slot>,
    slot_of: HashMap<Arc<ObjectKey>, Slot>,
    by_id: HashMap<Id, u32, BuildHasherDefault<Spread>>,
    /// The owners of the identifiers several objects named, in chunks of four (a list was a
    /// `Vec` each: a 24-byte header and a heap block for two to four slots, most of the index's
    /// growth with the stacks).
    chunks: Vec<Chunk>,
    free_chunks: Vec<u32>,
    hasher: RandomState,
}

/// An object in its slot: its key, the identifiers its reconciles named (sorted), and whether one
/// of them is of a type its own kind's sweep reads ([`crate::aws::sweep::own_kind`]).
struct Held {
    key: Arc<ObjectKey>,
    ids: Box<[Id]>,
    own: bool,
}

/// The hasher of [`Inner::by_id`]: its keys are hashes already, spread over 64 bits (hashbrown
/// reads the top bits too).
#[derive(Default)]
struct Spread(u64);

impl Hasher for Spread {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u32(u32::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Inner {
    fn hash(&self, id: &str) -> Id {
        // The high half: SipHash's bits are alike everywhere.
        (self.hasher.hash_one(id) >> 32) as Id
    }

    /// Its size, as `webstack_events_index_identifiers` and `webstack_events_index_objects`.
    fn export(&self) {
        crate::metrics::METRICS.events_index((self.by_id.len(), self.slot_of.len()));
    }

    fn held(&self, object: &ObjectKey) -> Option<&Held> {
        let slot = *self.slot_of.get(object)?;
        self.slots[slot as usize].as_ref()
    }

    /// The slot of `object`, made if it has none.
    fn slot(&mut self, object: &ObjectKey) -> Slot {
        if let Some(slot) = self.slot_of.get(object) {
            return *slot;
        }
        let key = Arc::new(object.clone());
        let held = Held {
            key: key.clone(),
            ids: Box::default(),
            own: false,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(held);
                slot
            }
            None => {
                self.slots.push(Some(held));
                Slot::try_from(self.slots.len() - 1).expect("fewer than 2^31 objects")
            }
        };
        self.slot_of.insert(key, slot);
        slot
    }

    /// Empties `slot` (its identifiers unlinked first).
    fn release(&mut self, slot: Slot) {
        if let Some(held) = self.slots[slot as usize].take() {
            self.slot_of.remove(&held.key);
            self.free.push(slot);
        }
    }

    /// A chunk of nothing: one left by a list gone, else a new one.
    fn new_chunk(&mut self) -> u32 {
        match self.free_chunks.pop() {
            Some(at) => at,
            None => {
                self.chunks.push([EMPTY; 4]);
                u32::try_from(self.chunks.len() - 1).expect("fewer than 2^31 chunks")
            }
        }
    }

    /// The chunk after `at` in its list.
    fn next_chunk(&self, at: u32) -> Option<u32> {
        let last = self.chunks[at as usize][3];
        (last != EMPTY && last & SHARED != 0).then_some(last & !SHARED)
    }

    /// The chunks of the list that starts at `first`, in order.
    fn chain(&self, first: u32) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(Some(first), |at| self.next_chunk(*at))
    }

    /// The slots of the list that starts at `first`.
    fn listed(&self, first: u32) -> impl Iterator<Item = Slot> + '_ {
        self.chain(first).flat_map(|at| {
            self.chunks[at as usize]
                .into_iter()
                .filter(|e| *e != EMPTY && e & SHARED == 0)
        })
    }

    /// `id` belongs to `slot` too.
    fn link(&mut self, id: Id, slot: Slot) {
        let Some(owner) = self.by_id.get(&id).copied() else {
            self.by_id.insert(id, slot);
            return;
        };
        if owner & SHARED == 0 {
            if owner != slot {
                let at = self.new_chunk();
                self.chunks[at as usize] = [owner, slot, EMPTY, EMPTY];
                self.by_id.insert(id, at | SHARED);
            }
            return;
        }
        let first = owner & !SHARED;
        if self.listed(first).any(|s| s == slot) {
            return;
        }
        let mut last = first;
        loop {
            if let Some(entry) = self.chunks[last as usize].iter_mut().find(|e| **e == EMPTY) {
                *entry = slot;
                return;
            }
            match self.next_chunk(last) {
                Some(next) => last = next,
                None => break,
            }
        }
        // Full: the last chunk's last slot moves to a new chunk, which it then points to.
        let next = self.new_chunk();
        let moved = self.chunks[last as usize][3];
        self.chunks[next as usize] = [moved, slot, EMPTY, EMPTY];
        self.chunks[last as usize][3] = next | SHARED;
    }

    /// `id` is no longer `slot`'s; it goes with its last owner.
    fn unlink(&mut self, id: Id, slot: Slot) {
        let Some(owner) = self.by_id.get(&id).copied() else {
            return;
        };
        if owner & SHARED == 0 {
            if owner == slot {
                self.by_id.remove(&id);
            }
            return;
        }
        let first = owner & !SHARED;
        let mut at = Some(first);
        while let Some(chunk) = at {
            for entry in &mut self.chunks[chunk as usize] {
                if *entry == slot {
                    *entry = EMPTY;
                }
            }
            at = self.next_chunk(chunk);
        }
        let (only, more) = {
            let mut left = self.listed(first);
            (left.next(), left.next().is_some())
        };
        if !more {
            let mut at = Some(first);
            while let Some(chunk) = at {
                at = self.next_chunk(chunk);
                self.chunks[chunk as usize] = [EMPTY; 4];
                self.free_chunks.push(chunk);
            }
            match only {
                Some(only) => self.by_id.insert(id, only),
                None => self.by_id.remove(&id),
            };
        }
    }

    /// The slots `id` belongs to (a sweep asks for each of thousands of resources: no list is
    /// made).
    fn owners(&self, id: Id) -> impl Iterator<Item = Slot> + '_ {
        let owner = self.by_id.get(&id).copied();
        let one = owner.filter(|o| o & SHARED == 0);
        let first = owner.filter(|o| o & SHARED != 0).map(|o| o & !SHARED);
        one.into_iter().chain(first.into_iter().flat_map(|f| self.listed(f)))
    }

    /// The object in `slot` is gone: its identifiers unlinked, its slot freed.
    fn empty(&mut self, slot: Slot) {
        let ids = self.slots[slot as usize]
            .as_mut()
            .map(|h| std::mem::take(&mut h.ids))
            .unwrap_or_default();
        for id in ids {
            self.unlink(id, slot);
        }
        self.release(slot);
    }

    /// A backlog of objects gone gives its room back.
    fn give_room_back(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len();
        self.free.retain(|s| (*s as usize) < len);
        if self.slots.capacity() > 2 * len.max(64) {
            self.slots.shrink_to_fit();
            self.free.shrink_to_fit();
        }
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
        let mut named: Vec<Id> = ids.iter().map(|id| inner.hash(id)).collect();
        named.sort_unstable();
        named.dedup();
        let own = ids
            .iter()
            .any(|id| crate::aws::sweep::own_kind(id) == Some(object.kind));
        if named.is_empty() && complete && inner.held(object).is_none() {
            return;
        }
        let slot = inner.slot(object);
        let held = inner.slots[slot as usize].as_mut().expect("just made");
        let before = std::mem::take(&mut held.ids);
        held.own = own || (!complete && held.own);
        if complete {
            for id in before.iter().filter(|id| named.binary_search(id).is_err()) {
                inner.unlink(*id, slot);
            }
        }
        for id in named.iter().filter(|id| before.binary_search(id).is_err()) {
            inner.link(*id, slot);
        }
        let ids: Box<[Id]> = if complete {
            named.into()
        } else {
            let mut all = before.into_vec();
            all.extend(named);
            all.sort_unstable();
            all.dedup();
            all.into()
        };
        if ids.is_empty() {
            inner.release(slot);
            inner.give_room_back();
        } else if let Some(held) = inner.slots[slot as usize].as_mut() {
            held.ids = ids;
        }
        inner.export();
    }

    /// The object is gone: none of the identifiers is its any more.
    pub fn forget(&self, object: &ObjectKey) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if let Some(slot) = inner.slot_of.get(object).copied() {
            inner.empty(slot);
            inner.give_room_back();
            inner.export();
        }
    }

    /// The objects `gone` says are gone: none of the identifiers is theirs any more; how many
    /// objects the index held.
    pub fn forget_where(&self, gone: impl Fn(&ObjectKey) -> bool) -> usize {
        let Ok(mut inner) = self.inner.lock() else { return 0 };
        let slots: Vec<Slot> = inner
            .slot_of
            .iter()
            .filter(|(o, _)| gone(o))
            .map(|(_, slot)| *slot)
            .collect();
        for slot in &slots {
            inner.empty(*slot);
        }
        inner.give_room_back();
        inner.export();
        slots.len()
    }

    /// The objects any of `ids` belongs to (the index's keys, shared: a sweep asks for each of
    /// thousands of resources).
    pub fn owners<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<Arc<ObjectKey>> {
        let Ok(inner) = self.inner.lock() else {
            return BTreeSet::new();
        };
        ids.into_iter()
            .flat_map(|id| inner.owners(inner.hash(id)))
            .filter_map(|slot| inner.slots[slot as usize].as_ref())
            .map(|held| held.key.clone())
            .collect()
    }

    /// Whether `object` named an identifier of a type its own kind's sweep reads.
    pub fn names_own(&self, object: &ObjectKey) -> bool {
        self.inner.lock().is_ok_and(|i| i.held(object).is_some_and(|h| h.own))
    }

    /// Whether `object` names any identifier (it has not been deleted).
    pub fn holds(&self, object: &ObjectKey) -> bool {
        self.inner.lock().is_ok_and(|i| i.slot_of.contains_key(object))
    }

    /// How many identifiers and objects are held (`webstack_events_index_identifiers` and
    /// `webstack_events_index_objects`).
    pub fn size(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|i| (i.by_id.len(), i.slot_of.len()))
            .unwrap_or_default()
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

    /// Slots and shared lists are taken again after their objects go, and a backlog gone gives
    /// its room back.
    #[test]
    fn the_room_of_objects_gone_is_taken_again() {
        let index = Index::default();
        let stacks: Vec<ObjectKey> = (0..300).map(|i| key("WebStack", &format!("s{i}"))).collect();
        for (i, stack) in stacks.iter().enumerate() {
            index.record(stack, ids(&["vpc-1a2b3c4d", &format!("sg-{i:08x}")]), true);
        }
        assert_eq!(index.size(), (301, 300));
        assert_eq!(index.owners(["vpc-1a2b3c4d"]).len(), 300);
        index.forget_where(|o| o.name != "s7");
        assert_eq!(index.owners(["vpc-1a2b3c4d"]), shared([&stacks[7]]));
        assert_eq!(index.size(), (2, 1));
        let chunks = {
            let inner = index.inner.lock().unwrap();
            assert_eq!(inner.slots.len(), 8, "the empty slots after the last held one are gone");
            assert!(
                inner.chunks.iter().all(|c| *c == [EMPTY; 4]),
                "the shared list went back to one owner"
            );
            inner.chunks.len()
        };
        for stack in &stacks[..7] {
            index.record(stack, ids(&["vpc-1a2b3c4d"]), true);
        }
        assert_eq!(index.owners(["vpc-1a2b3c4d"]).len(), 8);
        let inner = index.inner.lock().unwrap();
        assert_eq!(inner.slots.len(), 8, "the free slots were taken again");
        assert_eq!(inner.chunks.len(), chunks, "and the free chunks");
        let used = inner.chunks.iter().filter(|c| **c != [EMPTY; 4]).count();
        assert_eq!(
            used, 3,
            "eight owners in three chunks of four (one entry of each full one links the next)"
        );
    }

    /// Random reconciles (complete or not) and deletions of 40 objects naming 12 identifiers: the
    /// owners the index gives are always those of a plain model of what was named.
    #[test]
    fn owners_are_always_those_a_plain_model_gives() {
        use std::collections::BTreeMap;
        let index = Index::default();
        let objects: Vec<ObjectKey> = (0..40).map(|i| key("TargetGroup", &format!("t{i}"))).collect();
        let names: Vec<String> = (0..12).map(|i| format!("sg-{i:08x}")).collect();
        let mut model: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n).unwrap()
        };
        for step in 0..5_000 {
            let o = next(40);
            match next(10) {
                0 => {
                    index.forget(&objects[o]);
                    model.remove(&o);
                }
                k => {
                    let named: BTreeSet<String> = (0..next(6)).map(|_| names[next(12)].clone()).collect();
                    let complete = k > 2;
                    index.record(&objects[o], named.clone(), complete);
                    let held = model.entry(o).or_default();
                    if complete {
                        *held = named;
                    } else {
                        held.extend(named);
                    }
                    if held.is_empty() {
                        model.remove(&o);
                    }
                }
            }
            for name in &names {
                let want: BTreeSet<Arc<ObjectKey>> = model
                    .iter()
                    .filter(|(_, named)| named.contains(name))
                    .map(|(o, _)| Arc::new(objects[*o].clone()))
                    .collect();
                assert_eq!(index.owners([name.as_str()]), want, "step {step}, {name}");
            }
            assert_eq!(index.size().1, model.len(), "step {step}");
        }
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
