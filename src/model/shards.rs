//! Sharding's arithmetic (`--shards N`): which shard a namespace is in, and which live replica
//! should hold a shard. Pure and stable across processes and versions: every replica computes
//! the same answers from the same names, with no coordination beyond the shards' Leases.
//!
//! - A namespace's shard is a hash of its name, modulo the shard count: all objects of a
//!   namespace are in one shard (they refer to each other by name within it).
//! - Shards are shared out evenly among the live members, each going to the member that ranks it
//!   highest among those with room left (rendezvous hashing with caps): when a member comes or
//!   goes, mostly the shards it wins or held move.

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

/// Which member should hold each shard (index: the shard): every member gets `shards / members`
/// shards or one more, and each shard goes to the member ranking it highest (the hash of
/// (member, shard)) among those with room left, shards taken in order. Every replica computes the
/// same answer from the same members, in any order; when a member comes or goes, mostly the
/// shards it wins or held move. Empty without members.
pub fn assignment<S: AsRef<str>>(members: &[S], shards: u32) -> Vec<String> {
    let mut members: Vec<&str> = members.iter().map(AsRef::as_ref).collect();
    members.sort_unstable();
    members.dedup();
    if members.is_empty() {
        return Vec::new();
    }
    let room = (shards as usize).div_ceil(members.len());
    let mut held = vec![0usize; members.len()];
    (0..shards)
        .map(|shard| {
            let (i, _) = members
                .iter()
                .enumerate()
                .filter(|(i, _)| held[*i] < room)
                .max_by_key(|(_, m)| (hash(format!("{m}\0{shard}").as_bytes()), **m))
                .expect("room for every shard");
            held[i] += 1;
            members[i].to_string()
        })
        .collect()
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

    #[test]
    fn shards_are_shared_out_evenly_the_same_everywhere() {
        let members = |n: usize| {
            (0..n)
                .map(|i| format!("replica-{i}_{:08x}", i * 7919))
                .collect::<Vec<_>>()
        };
        for (m, shards) in [(1, 1), (2, 2), (2, 3), (3, 8), (4, 64), (5, 3)] {
            let owners = assignment(&members(m), shards);
            assert_eq!(owners.len(), shards as usize);
            let counts: Vec<usize> = members(m)
                .iter()
                .map(|x| owners.iter().filter(|o| *o == x).count())
                .collect();
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(hi - lo <= 1, "{m} members, {shards} shards: {counts:?}");
            // The order members are listed in does not matter.
            let mut reversed = members(m);
            reversed.reverse();
            assert_eq!(assignment(&reversed, shards), owners);
        }
        assert!(assignment::<&str>(&[], 4).is_empty());
    }

    #[test]
    fn a_member_leaving_moves_its_shards_and_few_others() {
        let three = ["a_01", "b_02", "c_03"];
        let two = ["a_01", "c_03"];
        let (before, after) = (assignment(&three, 64), assignment(&two, 64));
        let mut others_moved = 0;
        for (b, a) in before.iter().zip(&after) {
            assert_ne!(a, "b_02");
            if b != "b_02" && a != b {
                others_moved += 1;
            }
        }
        // Caps make a few of the others' shards move to even out the load; most stay.
        assert!(others_moved <= 8, "{others_moved} of the 43 others' shards moved");
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
