//! Which `WebStackPolicy` governs a namespace, from caches of the policies and the namespaces
//! (watched cluster-wide: no API call per reconcile), `--require-policy`, and the policies' own
//! status (the namespaces each selects, and conflicts).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller::Action, watcher};
use kube::{Api, Client, ResourceExt};

use super::Blocked;
use super::policy::{governing, selects};
use super::status::conditions;
use crate::api::{WebStackPolicy, WebStackPolicyStatus};
use crate::model::Health;

/// The field manager of the policies' status.
const MANAGER: &str = "webstack-operator";

/// Caches of the policies and the namespaces, and whether a namespace needs a policy.
#[derive(Clone)]
pub struct Tenants {
    policies: Store<WebStackPolicy>,
    namespaces: Store<Namespace>,
    require_policy: bool,
}

impl Tenants {
    /// Starts watching policies and namespaces (in the background, until the process ends) and
    /// waits until both caches hold their first list.
    pub async fn start(client: &Client, require_policy: bool) -> Tenants {
        let (policies, policy_writer) = reflector::store();
        let (namespaces, namespace_writer) = reflector::store();
        let policy_watch = watcher(Api::<WebStackPolicy>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .reflect(policy_writer)
            .for_each(|_| async {});
        let namespace_watch = watcher(Api::<Namespace>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .reflect(namespace_writer)
            .for_each(|_| async {});
        tokio::spawn(policy_watch);
        tokio::spawn(namespace_watch);
        let tenants = Tenants {
            policies,
            namespaces,
            require_policy,
        };
        // Until both are listed, every namespace would look unpoliced.
        let _ = tenants.policies.wait_until_ready().await;
        let _ = tenants.namespaces.wait_until_ready().await;
        tenants
    }

    /// Caches given directly (tests).
    pub fn from_stores(policies: Store<WebStackPolicy>, namespaces: Store<Namespace>, require_policy: bool) -> Self {
        Tenants {
            policies,
            namespaces,
            require_policy,
        }
    }

    fn labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .map(|n| n.labels().clone())
            .unwrap_or_default()
    }

    /// The policy governing `namespace`, if any. Stalled (`PolicyViolation`) when two policies
    /// select it, or when none does and the operator runs with `--require-policy`.
    pub fn policy_for(&self, namespace: &str) -> Result<Option<Arc<WebStackPolicy>>, Blocked> {
        let all: Vec<WebStackPolicy> = self.policies.state().iter().map(|p| (**p).clone()).collect();
        match governing(&all, &self.labels(namespace)) {
            Err(conflict) => Err(Blocked::stalled(
                "PolicyViolation",
                format!("namespace {namespace}: {conflict}; nothing was changed in AWS"),
            )),
            Ok(None) if self.require_policy => Err(Blocked::stalled(
                "PolicyViolation",
                format!(
                    "namespace {namespace}: no WebStackPolicy selects it and the operator runs with --require-policy; \
                     nothing was changed in AWS"
                ),
            )),
            Ok(found) => Ok(found.map(|p| Arc::new(p.clone()))),
        }
    }

    /// A policy's status: the namespaces it selects and those another policy selects too.
    pub fn status_of(&self, policy: &WebStackPolicy) -> (Vec<String>, Vec<String>) {
        let mut matched = Vec::new();
        let mut conflicts = Vec::new();
        for ns in self.namespaces.state() {
            if !selects(&policy.spec.namespace_selector, ns.labels()) {
                continue;
            }
            let name = ns.name_any();
            for other in self.policies.state() {
                if other.name_any() != policy.name_any()
                    && other.metadata.deletion_timestamp.is_none()
                    && selects(&other.spec.namespace_selector, ns.labels())
                {
                    conflicts.push(format!("{name}: {}", other.name_any()));
                }
            }
            matched.push(name);
        }
        matched.sort();
        conflicts.sort();
        (matched, conflicts)
    }

    /// Every policy's status kept current: on a change of any policy or namespace, each policy's
    /// matched namespaces and conflicts are recomputed and written when they differ.
    pub async fn run_status(self, client: Client) {
        let policies: Api<WebStackPolicy> = Api::all(client.clone());
        let store = self.policies.clone();
        Controller::new(policies, watcher::Config::default())
            .watches(
                Api::<Namespace>::all(client.clone()),
                watcher::Config::default(),
                move |_ns: Namespace| {
                    store
                        .state()
                        .iter()
                        .map(|p| ObjectRef::from_obj(&**p))
                        .collect::<Vec<_>>()
                },
            )
            .shutdown_on_signal()
            .run(
                |policy, ctx: Arc<(Tenants, Client)>| async move {
                    ctx.0
                        .write_status(&ctx.1, &policy)
                        .await
                        .map(|()| Action::requeue(Duration::from_secs(300)))
                },
                |_, err: &kube::Error, _| {
                    tracing::info!(error = %crate::model::report(err), "writing a WebStackPolicy's status");
                    Action::requeue(Duration::from_secs(10))
                },
                Arc::new((self, client)),
            )
            .for_each(|_| async {})
            .await;
    }

    async fn write_status(&self, client: &Client, policy: &WebStackPolicy) -> Result<(), kube::Error> {
        let (matched, conflicts) = self.status_of(policy);
        let previous = policy.status.clone().unwrap_or_default();
        let health = if conflicts.is_empty() {
            Health::ready(format!("governs {} namespace(s)", matched.len()))
        } else {
            Health::Stalled {
                reason: "PolicyViolation",
                message: format!(
                    "namespaces selected by another policy too get no work done: {}",
                    conflicts.join("; ")
                ),
            }
        };
        let generation = policy.metadata.generation;
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let status = WebStackPolicyStatus {
            observed_generation: generation,
            conditions: conditions(&previous.conditions, &health, generation, &now),
            matched_namespaces: matched,
            conflicts,
        };
        let same = |a: &WebStackPolicyStatus, b: &WebStackPolicyStatus| {
            let key = |s: &WebStackPolicyStatus| {
                let c: Vec<_> = s
                    .conditions
                    .iter()
                    .map(|c| (c.type_.clone(), c.status.clone(), c.message.clone()))
                    .collect();
                (
                    s.observed_generation,
                    c,
                    s.matched_namespaces.clone(),
                    s.conflicts.clone(),
                )
            };
            key(a) == key(b)
        };
        if same(&status, &previous) {
            return Ok(());
        }
        let patch =
            serde_json::json!({"apiVersion": "webstack.io/v1alpha1", "kind": "WebStackPolicy", "status": status});
        Api::<WebStackPolicy>::all(client.clone())
            .patch_status(
                &policy.name_any(),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    fn ns(name: &str, labels: &[(&str, &str)]) -> Namespace {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()}
        }))
        .unwrap()
    }

    fn policy(name: &str, team: &str) -> WebStackPolicy {
        serde_yaml::from_str(&format!(
            "apiVersion: webstack.io/v1alpha1\nkind: WebStackPolicy\nmetadata: {{name: {name}}}\nspec: {{namespaceSelector: {{matchLabels: {{team: {team}}}}}}}"
        ))
        .unwrap()
    }

    fn tenants(policies: Vec<WebStackPolicy>, namespaces: Vec<Namespace>, require: bool) -> Tenants {
        let (p, mut pw) = reflector::store();
        for x in policies {
            pw.apply_watcher_event(&Event::Apply(x));
        }
        let (n, mut nw) = reflector::store();
        for x in namespaces {
            nw.apply_watcher_event(&Event::Apply(x));
        }
        Tenants::from_stores(p, n, require)
    }

    #[test]
    fn a_namespace_gets_its_one_policy_or_a_refusal() {
        let t = tenants(
            vec![
                policy("movies", "movies"),
                policy("movies-too", "movies"),
                policy("books", "books"),
            ],
            vec![
                ns("a", &[("team", "books")]),
                ns("b", &[("team", "movies")]),
                ns("c", &[]),
            ],
            false,
        );
        assert_eq!(t.policy_for("a").unwrap().unwrap().name_any(), "books");
        let err = t.policy_for("b").unwrap_err().to_string();
        assert!(err.contains("movies, movies-too"), "{err}");
        assert!(t.policy_for("c").unwrap().is_none());
        assert!(t.policy_for("unknown").unwrap().is_none());
        assert_eq!(
            t.status_of(&policy("movies", "movies")),
            (vec!["b".to_string()], vec!["b: movies-too".to_string()])
        );
        assert_eq!(t.status_of(&policy("books", "books")), (vec!["a".to_string()], vec![]));
        let required = tenants(vec![policy("books", "books")], vec![ns("c", &[])], true);
        let err = required.policy_for("c").unwrap_err().to_string();
        assert!(err.contains("--require-policy"), "{err}");
    }
}
