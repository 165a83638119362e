//! Status of every kind: kstatus-compatible conditions (`Ready`, `Reconciling`, `Stalled`)
//! computed by a pure function from a [`Health`] (`lastTransitionTime` is kept while a
//! condition's status is unchanged), the [`Kind`] and [`KindStatus`] traits the driver reads the
//! five kinds through, and the status write (server-side apply of the whole status).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::{
    ContainerService, ContainerServiceStatus, DeletionPolicy, ListenerRule, ListenerRuleStatus, StaticSite,
    StaticSiteStatus, TargetGroup, TargetGroupStatus, WebStack, WebStackStatus,
};
use crate::model::Health;

/// The field manager of every write the operator makes.
pub const MANAGER: &str = "webstack-operator";

/// Now, as a Kubernetes time.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// A status the driver writes: conditions and `observedGeneration` are the driver's, the rest the kind's.
pub trait KindStatus: serde::Serialize + Default + Clone + std::fmt::Debug + Send + Sync + 'static {
    fn conditions(&self) -> &[Condition];
    fn observed_generation(&self) -> Option<i64>;
    fn set_conditions(&mut self, generation: Option<i64>, conditions: Vec<Condition>);
}

/// One of the operator's kinds, as the driver sees it.
pub trait Kind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Status: KindStatus;
    fn status(&self) -> Option<&Self::Status>;
    fn deletion_policy(&self) -> DeletionPolicy;
}

macro_rules! kind {
    ($kind:ty, $status:ty) => {
        impl KindStatus for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }
            fn set_conditions(&mut self, generation: Option<i64>, conditions: Vec<Condition>) {
                self.observed_generation = generation;
                self.conditions = conditions;
            }
        }
        impl Kind for $kind {
            type Status = $status;
            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
            fn deletion_policy(&self) -> DeletionPolicy {
                self.spec.deletion_policy
            }
        }
    };
}

kind!(WebStack, WebStackStatus);
kind!(TargetGroup, TargetGroupStatus);
kind!(ListenerRule, ListenerRuleStatus);
kind!(ContainerService, ContainerServiceStatus);
kind!(StaticSite, StaticSiteStatus);

/// Writes the whole `status` of `obj` by server-side apply, with conditions for `health` (keeping
/// transition times of the conditions `obj` has) and `observedGeneration`.
///
/// Nothing is sent when `obj` (the cache's copy once the reconcile had its slot) already has
/// exactly that status: an apply that changes nothing still costs the API server a request
/// (decoding, admission, the merge), and the polls of objects waiting for something (a child for
/// its stack, a NAT gateway) repeat the same status. At 1,000 stacks applied at once such writes
/// were most of the API server's work (17 per TargetGroup and ListenerRule while they waited for
/// their stacks). A status changed behind the operator's back is rewritten by the object's next
/// reconcile (a poll or a re-check: its own watch ignores status-only changes, as before), which
/// finds the object's status no longer the one it writes.
pub async fn write<K: Kind>(
    client: &Client,
    obj: &K,
    mut status: K::Status,
    health: &Health,
) -> Result<(), kube::Error> {
    let previous = obj.status().map(|s| s.conditions().to_vec()).unwrap_or_default();
    let generation = obj.meta().generation;
    status.set_conditions(generation, conditions(&previous, health, generation, &now()));
    if unchanged(obj.status(), &status) {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let patch = serde_json::json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Whether `current` is already `next`, field for field (as the API server would store them).
fn unchanged<S: KindStatus>(current: Option<&S>, next: &S) -> bool {
    let Some(current) = current else {
        return false;
    };
    match (serde_json::to_value(current), serde_json::to_value(next)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The three conditions for `health`, carrying `generation` and keeping transition times of `previous`.
pub fn conditions(previous: &[Condition], health: &Health, generation: Option<i64>, now: &Time) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match health {
        Health::Ready { message } => (
            (true, "Ready", message.as_str()),
            (false, "Ready", ""),
            (false, "Ready", ""),
        ),
        Health::Progressing { reason, message } => (
            (false, *reason, message.as_str()),
            (true, *reason, message.as_str()),
            (false, *reason, ""),
        ),
        Health::Stalled { reason, message } => (
            (false, *reason, message.as_str()),
            (false, *reason, ""),
            (true, *reason, message.as_str()),
        ),
        Health::Paused { in_sync, message } => (
            (*in_sync, "Paused", message.as_str()),
            (false, "Paused", message.as_str()),
            (false, "Paused", ""),
        ),
    };
    [("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled)]
        .into_iter()
        .map(|(type_, (status, reason, message))| {
            let status = if status { "True" } else { "False" }.to_string();
            let last_transition_time = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: type_.into(),
                status,
                reason: reason.into(),
                message: message.into(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// Whether `Ready` is `True` in `conditions`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn get<'a>(cs: &'a [Condition], t: &str) -> &'a Condition {
        cs.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn a_status_already_written_is_not_written_again() {
        let t0 = time("2026-11-22T10:00:00Z");
        let waiting = Health::progressing("DependencyNotReady", "waiting for WebStack web");
        let mut written = TargetGroupStatus::default();
        written.set_conditions(Some(3), conditions(&[], &waiting, Some(3), &t0));
        // Read back (as from the cache), then the same health computed a minute later.
        let current: TargetGroupStatus = serde_json::from_value(serde_json::to_value(&written).unwrap()).unwrap();
        let mut next = TargetGroupStatus::default();
        let later = time("2026-11-22T10:01:00Z");
        next.set_conditions(Some(3), conditions(current.conditions(), &waiting, Some(3), &later));
        assert!(unchanged(Some(&current), &next));
        // Anything else differs: the message, the generation, the health, or no status yet.
        let mut other = TargetGroupStatus::default();
        let moved = Health::progressing("DependencyNotReady", "waiting for WebStack web2");
        other.set_conditions(Some(3), conditions(current.conditions(), &moved, Some(3), &later));
        assert!(!unchanged(Some(&current), &other));
        other.set_conditions(Some(4), conditions(current.conditions(), &waiting, Some(4), &later));
        assert!(!unchanged(Some(&current), &other));
        let ready = Health::Ready { message: "ok".into() };
        other.set_conditions(Some(3), conditions(current.conditions(), &ready, Some(3), &later));
        assert!(!unchanged(Some(&current), &other));
        assert!(!unchanged(None, &next));
    }

    #[test]
    fn each_health_sets_one_true_condition() {
        let now = time("2026-11-22T10:00:00Z");
        let cases = [
            (
                Health::Ready { message: "ok".into() },
                ["True", "False", "False"],
                "Ready",
            ),
            (
                Health::Progressing {
                    reason: "Provisioning",
                    message: "creating".into(),
                },
                ["False", "True", "False"],
                "Provisioning",
            ),
            (
                Health::Stalled {
                    reason: "InvalidSpec",
                    message: "bad".into(),
                },
                ["False", "False", "True"],
                "InvalidSpec",
            ),
            (
                Health::Paused {
                    in_sync: false,
                    message: "2 changes".into(),
                },
                ["False", "False", "False"],
                "Paused",
            ),
            (
                Health::Paused {
                    in_sync: true,
                    message: "no changes".into(),
                },
                ["True", "False", "False"],
                "Paused",
            ),
        ];
        for (health, statuses, reason) in cases {
            let cs = conditions(&[], &health, Some(3), &now);
            let got: Vec<_> = ["Ready", "Reconciling", "Stalled"]
                .iter()
                .map(|t| get(&cs, t).status.as_str())
                .collect();
            assert_eq!(got, statuses, "{health:?}");
            assert!(
                cs.iter()
                    .all(|c| c.observed_generation == Some(3) && c.last_transition_time == now)
            );
            assert_eq!(get(&cs, "Ready").reason, reason);
        }
    }

    #[test]
    fn transition_time_is_kept_while_status_is_unchanged() {
        let t0 = time("2026-11-22T10:00:00Z");
        let t1 = time("2026-11-22T11:00:00Z");
        let first = conditions(
            &[],
            &Health::Progressing {
                reason: "Provisioning",
                message: "a".into(),
            },
            Some(1),
            &t0,
        );
        let still = conditions(
            &first,
            &Health::Progressing {
                reason: "Provisioning",
                message: "b".into(),
            },
            Some(1),
            &t1,
        );
        assert_eq!(get(&still, "Reconciling").last_transition_time, t0);
        assert_eq!(get(&still, "Reconciling").message, "b");
        let ready = conditions(&still, &Health::Ready { message: "ok".into() }, Some(1), &t1);
        assert_eq!(get(&ready, "Ready").last_transition_time, t1);
        assert_eq!(get(&ready, "Stalled").last_transition_time, t0, "Stalled stayed False");
        assert!(is_ready(&ready));
    }
}
