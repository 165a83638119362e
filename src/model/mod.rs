//! The pure domain layer: what each kind's AWS resources should be and what AWS holds of them,
//! ownership tags and names, CIDR arithmetic, listener actions, errors and health. No Kubernetes,
//! no AWS SDK and no I/O: the AWS boundary (`aws/`) speaks these types, and the controllers sit
//! above both.

pub mod action;
pub mod alarms;
pub mod capacity;
pub mod change;
pub mod children;
pub mod cidr;
pub mod data;
pub mod dns;
pub mod egress;
pub mod error;
pub mod execution;
pub mod flowlogs;
pub mod health;
pub mod ownership;
pub mod registry;
pub mod role;
pub mod rule;
pub mod service;
pub mod shards;
pub mod site;
pub mod stack;
pub mod target_group;
pub mod tenancy;

pub use action::ListenerAction;
pub use error::{AwsError, InvalidSpec, RetryClass, invalid, report};
pub use health::Health;
pub use ownership::{Conflict, Owner, Ownership, TagMap};

/// A value's hash, to compare with other hashes of the same process (std's `DefaultHasher`: not
/// stable across builds, so never stored or sent; `shards::shard_of` is the stable one).
pub fn hash_of(value: &impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}
