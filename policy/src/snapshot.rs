//! The objects rules look at: owned [`Object`]s as read from files or an
//! AdmissionReview, and a borrowed [`Snapshot`] of one namespace's state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gateway_api::apis::standard::httproutes::HttpRoute as HTTPRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;

use crate::crd::BlueGreenPolicy;

/// One object of a kind the rules understand.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once, never moved in hot loops
pub enum Object {
    /// apps/v1 Deployment.
    Deployment(Deployment),
    /// core/v1 Service.
    Service(Service),
    /// gateway.networking.k8s.io/v1 HTTPRoute.
    HttpRoute(HTTPRoute),
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// autoscaling/v2 HorizontalPodAutoscaler.
    Hpa(HorizontalPodAutoscaler),
    /// bluegreen.dev/v1alpha1 BlueGreenPolicy.
    Policy(BlueGreenPolicy),
}

impl Object {
    /// The object's namespace, `default` when the manifest leaves it out.
    pub fn namespace(&self) -> String {
        let ns = match self {
            Object::Deployment(o) => o.namespace(),
            Object::Service(o) => o.namespace(),
            Object::HttpRoute(o) => o.namespace(),
            Object::NetworkPolicy(o) => o.namespace(),
            Object::Hpa(o) => o.namespace(),
            Object::Policy(_) => None,
        };
        ns.unwrap_or_else(|| "default".to_string())
    }
}

/// A namespace's Deployments by pod template label (`key` → `value` → Deployments,
/// ordered by name), for a caller that reads many snapshots of one state: the guard
/// keeps one per namespace beside its cache. With it, discovery finds the Deployments
/// a router selects with one look-up, instead of reading every Deployment of the
/// namespace, which under load are no longer in the CPU's caches.
#[derive(Clone, Debug, Default)]
pub struct PodLabelIndex {
    by_label: HashMap<String, HashMap<String, Vec<Arc<Deployment>>>>,
}

impl PodLabelIndex {
    /// Adds a Deployment under each of its pod template labels; forget the one it
    /// replaces first.
    pub fn insert(&mut self, deployment: Arc<Deployment>) {
        let name = deployment.metadata.name.clone();
        for (key, value) in template_labels(&deployment) {
            let under = self
                .by_label
                .entry(key.clone())
                .or_default()
                .entry(value.clone())
                .or_default();
            let at = under.partition_point(|d| d.metadata.name < name);
            under.insert(at, Arc::clone(&deployment));
        }
    }

    /// Forgets a Deployment, found by its name under the labels it was added with.
    pub fn remove(&mut self, deployment: &Deployment) {
        for (key, value) in template_labels(deployment) {
            let Some(values) = self.by_label.get_mut(key) else {
                continue;
            };
            if let Some(under) = values.get_mut(value) {
                under.retain(|d| d.metadata.name != deployment.metadata.name);
                if under.is_empty() {
                    values.remove(value);
                }
            }
            if values.is_empty() {
                self.by_label.remove(key);
            }
        }
    }

    /// Whether no Deployment is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_label.is_empty()
    }

    /// The Deployments whose pod template has the label `key=value`, ordered by name.
    pub fn with_label(&self, key: &str, value: &str) -> &[Arc<Deployment>] {
        self.by_label
            .get(key)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }
}

fn template_labels(deployment: &Deployment) -> impl Iterator<Item = (&String, &String)> {
    crate::app::template_labels(deployment)
        .into_iter()
        .flatten()
}

/// A borrowed view of the objects of one namespace: what the rules see.
///
/// The guard builds one per admission request from its caches (a few pointer
/// copies), the plugin from what it read; neither copies objects.
#[derive(Clone, Debug, Default)]
pub struct Snapshot<'a> {
    /// The namespace.
    pub namespace: String,
    /// Deployments of the namespace.
    pub deployments: Vec<&'a Deployment>,
    /// Services of the namespace.
    pub services: Vec<&'a Service>,
    /// HTTPRoutes of the namespace.
    pub routes: Vec<&'a HTTPRoute>,
    /// NetworkPolicies of the namespace.
    pub network_policies: Vec<&'a NetworkPolicy>,
    /// HorizontalPodAutoscalers of the namespace.
    pub hpas: Vec<&'a HorizontalPodAutoscaler>,
    /// `deployments` by pod template label, when the caller keeps such an index. It
    /// must hold the same Deployments as `deployments`, in name order; what
    /// [`Snapshot::with_deployment`] changes afterwards is tracked in `rewritten`.
    pub pod_labels: Option<&'a PodLabelIndex>,
    /// The Deployments [`Snapshot::with_deployment`] replaced, added or removed, by
    /// name, with what took their place.
    rewritten: Vec<(String, Option<&'a Deployment>)>,
}

impl<'a> Snapshot<'a> {
    /// An empty snapshot of a namespace.
    pub fn new(namespace: &str) -> Self {
        Snapshot {
            namespace: namespace.to_string(),
            ..Default::default()
        }
    }

    /// Groups objects by namespace, one snapshot each, ordered by namespace.
    /// BlueGreenPolicies are cluster-scoped and not part of any snapshot.
    pub fn by_namespace(objects: &'a [Object]) -> Vec<Snapshot<'a>> {
        let mut map: BTreeMap<String, Snapshot<'a>> = BTreeMap::new();
        for object in objects {
            let namespace = object.namespace();
            let snapshot = map
                .entry(namespace.clone())
                .or_insert_with(|| Snapshot::new(&namespace));
            snapshot.add(object);
        }
        map.into_values().collect()
    }

    /// Adds one object to the view.
    pub fn add(&mut self, object: &'a Object) {
        match object {
            Object::Deployment(o) => self.deployments.push(o),
            Object::Service(o) => self.services.push(o),
            Object::HttpRoute(o) => self.routes.push(o),
            Object::NetworkPolicy(o) => self.network_policies.push(o),
            Object::Hpa(o) => self.hpas.push(o),
            Object::Policy(_) => {}
        }
    }

    /// The Deployment of that name.
    pub fn deployment(&self, name: &str) -> Option<&'a Deployment> {
        self.deployments
            .iter()
            .copied()
            .find(|d| d.metadata.name.as_deref() == Some(name))
    }

    /// The Service of that name.
    pub fn service(&self, name: &str) -> Option<&'a Service> {
        self.services
            .iter()
            .copied()
            .find(|s| s.metadata.name.as_deref() == Some(name))
    }

    /// The view with `deployment` in place of the stored one of the same name (or added),
    /// or with it removed when `deployment` is `None`: the state a write would produce.
    pub fn with_deployment(&self, name: &str, deployment: Option<&'a Deployment>) -> Self {
        let mut next = self.clone();
        next.deployments
            .retain(|d| d.metadata.name.as_deref() != Some(name));
        next.deployments.extend(deployment);
        next.rewritten.push((name.to_string(), deployment));
        next
    }

    /// The Deployments whose pod template has the label `key=value`, in the order of
    /// `deployments`: from the index when there is one.
    pub fn deployments_with_label<'s>(
        &'s self,
        key: &'s str,
        value: &'s str,
    ) -> Box<dyn Iterator<Item = &'a Deployment> + 's> {
        let has_label = move |d: &&'a Deployment| {
            crate::app::template_labels(d)
                .and_then(|labels| labels.get(key))
                .is_some_and(|v| v == value)
        };
        let Some(index) = self.pod_labels else {
            return Box::new(self.deployments.iter().copied().filter(has_label));
        };
        let rewritten = |d: &Deployment| {
            self.rewritten
                .iter()
                .any(|(name, _)| d.metadata.name.as_deref() == Some(name))
        };
        let stored = index
            .with_label(key, value)
            .iter()
            .map(|d| &**d)
            .filter(move |d| !rewritten(d));
        // A Deployment put in is taken out again by a later rewrite of its name.
        let written = self
            .rewritten
            .iter()
            .enumerate()
            .filter_map(|(at, (_, d))| {
                let d = (*d)?;
                let later = &self.rewritten[at + 1..];
                (!later
                    .iter()
                    .any(|(name, _)| d.metadata.name.as_deref() == Some(name)))
                .then_some(d)
            })
            .filter(has_label);
        Box::new(stored.chain(written))
    }

    /// The view with one NetworkPolicy replaced, added or removed.
    pub fn with_network_policy(&self, name: &str, policy: Option<&'a NetworkPolicy>) -> Self {
        let mut next = self.clone();
        next.network_policies
            .retain(|p| p.metadata.name.as_deref() != Some(name));
        next.network_policies.extend(policy);
        next
    }

    /// The view with one Service replaced, added or removed.
    pub fn with_service(&self, name: &str, service: Option<&'a Service>) -> Self {
        let mut next = self.clone();
        next.services
            .retain(|s| s.metadata.name.as_deref() != Some(name));
        next.services.extend(service);
        next
    }

    /// The view with one HTTPRoute replaced, added or removed.
    pub fn with_route(&self, name: &str, route: Option<&'a HTTPRoute>) -> Self {
        let mut next = self.clone();
        next.routes
            .retain(|r| r.metadata.name.as_deref() != Some(name));
        next.routes.extend(route);
        next
    }
}
