//! What a WebStack's own reconcile found carrying the stack's ownership tags (or, adopted, in the
//! VPC an administrator let the namespace adopt): its subnets and its services' security group,
//! kept in memory for the stack's ContainerServices. A ContainerService takes these ids from the
//! stack's status, which whoever may write `webstacks/status` could point at another team's
//! network; it uses an id only when the stack's last observation vouched for it. No AWS call: the
//! stack's observe already reads those tags.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Ids a stack's last observation vouched for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    /// The stack's uid (a stack deleted and created again under the same name vouches anew).
    pub uid: String,
    pub subnets: BTreeSet<String>,
    pub groups: BTreeSet<String>,
}

/// By namespace and stack name.
#[derive(Default)]
pub struct Vouched {
    stacks: Mutex<HashMap<(String, String), Network>>,
}

impl Vouched {
    /// What the stack's observation just found (replacing what it found before).
    pub fn record(&self, namespace: &str, name: &str, network: Network) {
        self.lock().insert((namespace.into(), name.into()), network);
    }

    /// The stack is being deleted: nothing of it is vouched for any more.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock().remove(&(namespace.into(), name.into()));
    }

    /// Forgets the stacks `gone` says are gone (namespace, name); how many.
    pub fn forget_where(&self, gone: impl Fn(&str, &str) -> bool) -> usize {
        let mut stacks = self.lock();
        let before = stacks.len();
        stacks.retain(|(namespace, name), _| !gone(namespace, name));
        before - stacks.len()
    }

    /// Whether the stack (`uid`) vouched for every subnet and group; else why not, naming the first
    /// id it did not vouch for.
    pub fn check(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        subnets: &[String],
        groups: &[String],
    ) -> Result<(), String> {
        let stacks = self.lock();
        let Some(network) = stacks
            .get(&(namespace.to_string(), name.to_string()))
            .filter(|n| n.uid == uid)
        else {
            return Err(format!("WebStack {name} has not been observed by this process yet"));
        };
        let unknown = subnets
            .iter()
            .find(|s| !network.subnets.contains(*s))
            .map(|s| format!("subnet {s}"))
            .or_else(|| {
                groups
                    .iter()
                    .find(|g| !network.groups.contains(*g))
                    .map(|g| format!("security group {g}"))
            });
        match unknown {
            Some(what) => Err(format!(
                "the status of WebStack {name} names {what}, which its last observation did not find as the stack's"
            )),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Network>> {
        self.stacks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_what_the_stacks_observation_found_is_used() {
        let v = Vouched::default();
        let (subnets, groups) = (ids(&["subnet-1", "subnet-2"]), ids(&["sg-1"]));
        let none = v.check("ns", "shop", "uid-1", &subnets, &groups).unwrap_err();
        assert!(none.contains("not been observed"), "{none}");
        v.record(
            "ns",
            "shop",
            Network {
                uid: "uid-1".into(),
                subnets: subnets.iter().cloned().collect(),
                groups: groups.iter().cloned().collect(),
            },
        );
        assert_eq!(v.check("ns", "shop", "uid-1", &subnets, &groups), Ok(()));
        assert_eq!(v.check("ns", "shop", "uid-1", &subnets[..1], &[]), Ok(()));
        // Another team's subnet or group written into the status.
        let err = v
            .check("ns", "shop", "uid-1", &ids(&["subnet-1", "subnet-victim"]), &groups)
            .unwrap_err();
        assert!(err.contains("subnet subnet-victim"), "{err}");
        let err = v
            .check("ns", "shop", "uid-1", &subnets, &ids(&["sg-victim"]))
            .unwrap_err();
        assert!(err.contains("security group sg-victim"), "{err}");
        // Another stack of the same name, another namespace, or the stack deleted.
        assert!(v.check("ns", "shop", "uid-2", &subnets, &groups).is_err());
        assert!(v.check("other", "shop", "uid-1", &subnets, &groups).is_err());
        v.forget("ns", "shop");
        assert!(v.check("ns", "shop", "uid-1", &subnets, &groups).is_err());
    }
}
