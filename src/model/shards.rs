//! Sharding's arithmetic (`--shards N`): which shard a namespace is in, and which live replica
//! should hold a shard. Pure and stable across processes and versions: every replica computes
//! the same answers from the same names, with no coordination beyond the shards' Leases.
//!
//! - A namespace's shard is a hash of its name, modulo the shard count: all objects of a
//!   namespace are in one shard (they refer to each other by name within it).
//! - Shards stay with their holders while the shares are even enough: a free shard goes to the
//!   least loaded member with room (below the cap of an even share), ties broken by rendezvous
//!   hashing; a member holds more than the cap only until it hands the excess over, and the most
//!   loaded one hands a shard over while another holds fewer than the floor. When a member comes or
//!   goes, only the shards needed to even the shares out move.

/// FNV-1a (64 bits), then a finalizer so that names differing in their last character spread
/// over the whole range (FNV alone keeps them close, which `%` then keeps together).
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finalizer.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The shard of `namespace` among `shards` (at least 1).
pub fn shard_of(namespace: &str, shards: u32) -> u32 {
    let n = u64::from(shards.max(1));
    u32::try_from(hash(namespace.as_bytes()) % n).unwrap_or(0)
}

/// How a shard ranks a member (rendezvous hashing): the same everywhere.
fn rank(member: &str, shard: u32) -> (u64, &str) {
    (hash(format!("{member}\0{shard}").as_bytes()), member)
}

/// The members, sorted and deduplicated, with how many shards each holds by `holders` (index: the
/// shard; `None`: free). Holders that are not members (a replica not seen alive long enough yet,
/// or one gone whose lease has not expired) hold their shards all the same, uncounted here.
fn loads<'a>(members: &[&'a str], holders: &[Option<&str>]) -> Vec<(&'a str, usize)> {
    let mut members: Vec<&str> = members.to_vec();
    members.sort_unstable();
    members.dedup();
    members
        .into_iter()
        .map(|m| (m, holders.iter().filter(|h| **h == Some(m)).count()))
        .collect()
}

/// The share of each of `members` members of `shards` shards: at least `floor`, at most `cap`.
fn share(shards: usize, members: usize) -> (usize, usize) {
    let members = members.max(1);
    (shards / members, shards.div_ceil(members))
}

/// Which member should take the free shard `shard` now (`holders`: who holds each shard): among
/// the members holding fewer than their share's cap, the least loaded, then the one ranking the
/// shard highest. Every replica computes the same member from the same leases; `None` when every
/// member is full.
pub fn taker<'a>(members: &[&'a str], holders: &[Option<&str>], shard: u32) -> Option<&'a str> {
    let loads = loads(members, holders);
    let (_, cap) = share(holders.len(), loads.len());
    loads
        .iter()
        .filter(|(_, held)| *held < cap)
        .min_by(|a, b| a.1.cmp(&b.1).then_with(|| rank(b.0, shard).cmp(&rank(a.0, shard))))
        .map(|(m, _)| *m)
}

/// The shard `me` should hand over now, if any: with more than the cap of its share, the one it
/// ranks lowest; or, while the members below the floor lack more shards than are free, the same
/// if `me` is the most loaded member (ties: the greatest name) and holds more than the floor.
/// Otherwise none: a shard stays with its holder (nothing moves for the sake of a hash), so
/// replicas that took one shard each keep them.
pub fn surplus(me: &str, members: &[&str], holders: &[Option<&str>]) -> Option<u32> {
    let mut all = members.to_vec();
    all.push(me);
    let loads = loads(&all, holders);
    let (floor, cap) = share(holders.len(), loads.len());
    let mine = loads.iter().find(|(m, _)| *m == me).map_or(0, |(_, n)| *n);
    let most = loads.iter().max_by_key(|(m, n)| (*n, *m)).map(|(m, _)| *m);
    let lacking: usize = loads.iter().map(|(_, n)| floor.saturating_sub(*n)).sum();
    let needy = lacking > holders.iter().filter(|h| h.is_none()).count();
    if !(mine > cap || (needy && mine > floor && most == Some(me))) {
        return None;
    }
    (0..u32::try_from(holders.len()).unwrap_or(u32::MAX))
        .filter(|s| holders[*s as usize] == Some(me))
        .min_by_key(|s| rank(me, *s))
}

/// A short, stable, DNS-safe token for a member identity (its Lease's name ends with it).
pub fn token(identity: &str) -> String {
    format!("{:016x}", hash(identity.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_has_one_shard_everywhere_and_namespaces_spread() {
        assert_eq!(shard_of("team-a", 4), shard_of("team-a", 4));
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0);
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[shard_of(&format!("team-{i}"), 4) as usize] += 1;
        }
        // 1,000 each expected; a poor hash puts most in one or two.
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
    }

    /// Plays the members' decisions out, one step at a time, until nothing changes: each step,
    /// every member with a surplus frees one shard, then the free shards go to their takers.
    fn settle(members: &[&str], holders: &mut Vec<Option<String>>) -> usize {
        let mut moves = 0;
        for _ in 0..200 {
            let view: Vec<Option<&str>> = holders.iter().map(Option::as_deref).collect();
            let freed: Vec<u32> = members.iter().filter_map(|m| surplus(m, members, &view)).collect();
            let mut changed = !freed.is_empty();
            for s in freed {
                holders[s as usize] = None;
                moves += 1;
            }
            for s in 0..holders.len() {
                if holders[s].is_none() {
                    let view: Vec<Option<&str>> = holders.iter().map(Option::as_deref).collect();
                    let t = taker(members, &view, s as u32).map(String::from);
                    changed |= t.is_some();
                    holders[s] = t;
                }
            }
            if !changed {
                return moves;
            }
        }
        panic!("never settles: {holders:?}");
    }

    fn counts(members: &[&str], holders: &[Option<String>]) -> Vec<usize> {
        members
            .iter()
            .map(|m| holders.iter().filter(|h| h.as_deref() == Some(*m)).count())
            .collect()
    }

    #[test]
    fn free_shards_are_shared_out_evenly_the_same_everywhere() {
        let names: Vec<String> = (0..5).map(|i| format!("replica-{i}_{:08x}", i * 7919)).collect();
        for (m, shards) in [(1, 1), (2, 2), (2, 3), (3, 8), (4, 64), (5, 3)] {
            let members: Vec<&str> = names[..m].iter().map(String::as_str).collect();
            let mut holders = vec![None; shards];
            settle(&members, &mut holders);
            let c = counts(&members, &holders);
            assert!(holders.iter().all(Option::is_some), "{holders:?}");
            let (lo, hi) = (c.iter().min().unwrap(), c.iter().max().unwrap());
            assert!(hi - lo <= 1, "{m} members, {shards} shards: {c:?}");
            // The order members are listed in does not matter.
            let mut reversed = members.clone();
            reversed.reverse();
            let view: Vec<Option<&str>> = vec![None; shards];
            assert_eq!(taker(&reversed, &view, 0), taker(&members, &view, 0));
        }
        assert_eq!(taker(&[], &[None, None], 0), None);
    }

    #[test]
    fn an_even_layout_stays_as_it_is() {
        // Two replicas that each took a shard at start keep them, whatever the hashes say.
        for (a, b) in [("bench-0", "bench-1"), ("bench-1", "bench-0")] {
            let mut holders = vec![Some(a.to_string()), Some(b.to_string())];
            assert_eq!(settle(&["bench-0", "bench-1"], &mut holders), 0);
            assert_eq!(holders, [Some(a.to_string()), Some(b.to_string())]);
        }
        // 3 of 8 and 3 and 2: within the floor and cap, nothing moves.
        let mut holders: Vec<Option<String>> = ["a", "a", "a", "b", "b", "b", "c", "c"]
            .iter()
            .map(|m| Some(m.to_string()))
            .collect();
        assert_eq!(settle(&["a", "b", "c"], &mut holders), 0);
    }

    #[test]
    fn members_coming_and_going_move_only_what_evens_the_shares() {
        // One replica holds all 8; a second joins: four move, one at a time.
        let mut holders = vec![Some("a".to_string()); 8];
        assert_eq!(settle(&["a", "b"], &mut holders), 4);
        assert_eq!(counts(&["a", "b"], &holders), [4, 4]);
        // A third joins: the most loaded give one each until none holds fewer than the floor.
        let moves = settle(&["a", "b", "c"], &mut holders);
        assert_eq!(moves, 2, "{holders:?}");
        let c = counts(&["a", "b", "c"], &holders);
        assert!(c.iter().all(|n| (2..=3).contains(n)), "{c:?}");
        // b dies: its shards are free (its leases expired) and go to a and c, nothing else moves.
        let before = holders.clone();
        for h in &mut holders {
            if h.as_deref() == Some("b") {
                *h = None;
            }
        }
        assert_eq!(settle(&["a", "c"], &mut holders), 0);
        assert_eq!(counts(&["a", "c"], &holders), [4, 4]);
        for (b, a) in before.iter().zip(&holders) {
            if b.as_deref() != Some("b") {
                assert_eq!(a, b, "a shard of a live member moved");
            }
        }
        // A free shard fills a member's gap: nobody hands one over for it.
        let view = [Some("a"), Some("a"), Some("b"), Some("b"), None];
        for m in ["a", "b", "c"] {
            assert_eq!(surplus(m, &["a", "b", "c"], &view), None, "{m}");
        }
        assert_eq!(taker(&["a", "b", "c"], &view, 4), Some("c"));
        // A holder not (yet) a member keeps its shard; the members share the rest.
        let view = [Some("joining"), None, None, None];
        assert!(taker(&["a", "c"], &view, 1).is_some());
        assert_eq!(surplus("joining", &["a", "c"], &view), None);
    }

    #[test]
    fn tokens_are_stable_and_dns_safe() {
        let t = token("webstack-operator-7d9f_0a1b2c3d");
        assert_eq!(t, token("webstack-operator-7d9f_0a1b2c3d"));
        assert_eq!(t.len(), 16);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(t, token("webstack-operator-7d9f_0a1b2c3e"));
    }
}
