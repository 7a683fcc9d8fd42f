//! The guard's in-memory copy of cluster state, indexed by namespace (and Deployments
//! also by pod label, which carries the app), so that a decision borrows the few
//! objects of one namespace, looks up an app's Deployments, and never calls the API.
//! BlueGreenPolicies are kept resolved, so a review's policy is a label match.
//!
//! [`Cache`] is fed by the watchers in [`crate::watch`] or, in tests and offline
//! reviews, built directly from objects.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::{Resource, ResourceExt};
use policy::crd::PolicyError;
use policy::{BlueGreenPolicy, Object, PodLabelIndex, Policy, PolicySet, Snapshot};
use serde::de::DeserializeOwned;

use crate::trim::Trim;

/// The kinds of object the guard keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CacheKind {
    /// apps/v1 Deployments.
    Deployment,
    /// core/v1 Services.
    Service,
    /// gateway.networking.k8s.io/v1 HTTPRoutes.
    HttpRoute,
    /// networking.k8s.io/v1 NetworkPolicies.
    NetworkPolicy,
    /// autoscaling/v2 HorizontalPodAutoscalers.
    Hpa,
    /// core/v1 Namespaces (for the labels a policy's namespaceSelector reads).
    Namespace,
    /// bluegreen.dev/v1alpha1 BlueGreenPolicies.
    Policy,
}

impl CacheKind {
    /// Every kind.
    pub const ALL: [CacheKind; 7] = [
        CacheKind::Deployment,
        CacheKind::Service,
        CacheKind::HttpRoute,
        CacheKind::NetworkPolicy,
        CacheKind::Hpa,
        CacheKind::Namespace,
        CacheKind::Policy,
    ];

    /// The resource's plural name, as metrics and messages show it.
    pub fn plural(self) -> &'static str {
        match self {
            CacheKind::Deployment => "deployments",
            CacheKind::Service => "services",
            CacheKind::HttpRoute => "httproutes",
            CacheKind::NetworkPolicy => "networkpolicies",
            CacheKind::Hpa => "horizontalpodautoscalers",
            CacheKind::Namespace => "namespaces",
            CacheKind::Policy => "bluegreenpolicies",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Objects of one kind: namespace (empty for cluster-scoped kinds) → name → object.
/// Behind a pointer: a B-tree node has room for 11 entries whatever it holds, and a
/// typed Deployment is 2.4 KB inline, so unboxed the empty slots would cost more than
/// the objects. Shared, so that indexes over a kind point at the same objects.
type Shelf<K> = HashMap<String, BTreeMap<String, Arc<K>>>;

/// A kind the cache keeps, and where it keeps it.
pub trait Cached:
    Resource<DynamicType = ()> + Trim + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// Which kind this is.
    const KIND: CacheKind;
    /// The objects of this kind in `index`.
    fn shelf(index: &Index) -> &Shelf<Self>;
    /// The same, to change.
    fn shelf_mut(index: &mut Index) -> &mut Shelf<Self>;
    /// Why the object cannot be used as written, if it cannot: a BlueGreenPolicy that
    /// does not parse or names a trusted key that is not a public key.
    fn problem(&self) -> Option<String> {
        None
    }
    /// Keeps what the index derives from this kind in step with one change: `old` is
    /// what was stored under the object's name (replaced or deleted), `new` what is now.
    fn derive(
        _index: &mut Index,
        _namespace: &str,
        _old: Option<&Arc<Self>>,
        _new: Option<&Arc<Self>>,
    ) {
    }
}

macro_rules! cached {
    ($type:ty, $kind:ident, $field:ident $(, $extra:item)*) => {
        impl Cached for $type {
            const KIND: CacheKind = CacheKind::$kind;
            fn shelf(index: &Index) -> &Shelf<Self> {
                &index.$field
            }
            fn shelf_mut(index: &mut Index) -> &mut Shelf<Self> {
                &mut index.$field
            }
            $($extra)*
        }
    };
}

cached!(
    Deployment,
    Deployment,
    deployments,
    fn derive(
        index: &mut Index,
        namespace: &str,
        old: Option<&Arc<Self>>,
        new: Option<&Arc<Self>>,
    ) {
        let by_label = index.pod_labels.entry(namespace.to_string()).or_default();
        if let Some(old) = old {
            by_label.remove(old);
        }
        if let Some(new) = new {
            by_label.insert(Arc::clone(new));
        }
        if by_label.is_empty() {
            index.pod_labels.remove(namespace);
        }
    }
);
cached!(Service, Service, services);
cached!(HttpRoute, HttpRoute, routes);
cached!(NetworkPolicy, NetworkPolicy, network_policies);
cached!(HorizontalPodAutoscaler, Hpa, hpas);
cached!(Namespace, Namespace, namespaces);
cached!(
    BlueGreenPolicy,
    Policy,
    policies,
    fn problem(&self) -> Option<String> {
        if let Err(err) = self.check() {
            return Some(err.to_string());
        }
        let err = signatures::check_keys(&self.spec.trusted_keys).err()?;
        Some(format!("BlueGreenPolicy {}: {err}", self.name_any()))
    },
    // Policies change seldom and reviews read them every time.
    fn derive(index: &mut Index, _: &str, _: Option<&Arc<Self>>, _: Option<&Arc<Self>>) {
        let policies = index.policies.values().flat_map(BTreeMap::values);
        index.policy_set = PolicySet::new(policies.map(|policy| &**policy));
    }
);

/// The objects the guard knows, by kind and namespace.
#[derive(Debug, Default)]
pub struct Index {
    deployments: Shelf<Deployment>,
    services: Shelf<Service>,
    routes: Shelf<HttpRoute>,
    network_policies: Shelf<NetworkPolicy>,
    hpas: Shelf<HorizontalPodAutoscaler>,
    namespaces: Shelf<Namespace>,
    policies: Shelf<BlueGreenPolicy>,
    /// `deployments` by namespace and pod template label.
    pod_labels: HashMap<String, PodLabelIndex>,
    /// `policies` resolved.
    policy_set: PolicySet,
}

fn shelf_key<K: Resource>(object: &K) -> (String, String) {
    (object.namespace().unwrap_or_default(), object.name_any())
}

fn values<'a, K>(shelf: &'a Shelf<K>, namespace: &str) -> Vec<&'a K> {
    shelf
        .get(namespace)
        .map(|objects| objects.values().map(|object| &**object).collect())
        .unwrap_or_default()
}

impl Index {
    /// Stores an object, replacing any of the same kind, namespace and name.
    pub fn apply<K: Cached>(&mut self, object: K) {
        let (namespace, name) = shelf_key(&object);
        let object = Arc::new(object.trim());
        let old = K::shelf_mut(self)
            .entry(namespace.clone())
            .or_default()
            .insert(name, Arc::clone(&object));
        K::derive(self, &namespace, old.as_ref(), Some(&object));
    }

    /// Forgets an object.
    pub fn delete<K: Cached>(&mut self, object: &K) {
        let (namespace, name) = shelf_key(object);
        let shelf = K::shelf_mut(self);
        let Some(objects) = shelf.get_mut(&namespace) else {
            return;
        };
        let old = objects.remove(&name);
        if objects.is_empty() {
            shelf.remove(&namespace);
        }
        K::derive(self, &namespace, old.as_ref(), None);
    }

    /// Replaces every object of one kind (after a watch's initial list).
    pub fn replace_all<K: Cached>(&mut self, objects: Vec<K>) {
        let stale = std::mem::take(K::shelf_mut(self));
        for (namespace, objects) in &stale {
            for old in objects.values() {
                K::derive(self, namespace, Some(old), None);
            }
        }
        for object in objects {
            self.apply(object);
        }
    }

    /// Stores an object read from a manifest.
    pub fn apply_object(&mut self, object: Object) {
        match object {
            Object::Deployment(o) => self.apply(o),
            Object::Service(o) => self.apply(o),
            Object::HttpRoute(o) => self.apply(o),
            Object::NetworkPolicy(o) => self.apply(o),
            Object::Hpa(o) => self.apply(o),
            Object::Policy(o) => self.apply(o),
        }
    }

    /// How many objects of a kind are stored.
    pub fn count(&self, kind: CacheKind) -> usize {
        fn total<K>(shelf: &Shelf<K>) -> usize {
            shelf.values().map(BTreeMap::len).sum()
        }
        match kind {
            CacheKind::Deployment => total(&self.deployments),
            CacheKind::Service => total(&self.services),
            CacheKind::HttpRoute => total(&self.routes),
            CacheKind::NetworkPolicy => total(&self.network_policies),
            CacheKind::Hpa => total(&self.hpas),
            CacheKind::Namespace => total(&self.namespaces),
            CacheKind::Policy => total(&self.policies),
        }
    }

    /// The stored state of one namespace, borrowed: what the rules judge a write against.
    pub fn snapshot(&self, namespace: &str) -> Snapshot<'_> {
        let mut snapshot = Snapshot::new(namespace);
        snapshot.deployments = values(&self.deployments, namespace);
        snapshot.services = values(&self.services, namespace);
        snapshot.routes = values(&self.routes, namespace);
        snapshot.network_policies = values(&self.network_policies, namespace);
        snapshot.hpas = values(&self.hpas, namespace);
        snapshot.pod_labels = self.pod_labels.get(namespace);
        snapshot
    }

    /// The stored Deployment of that namespace and name.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<&Deployment> {
        self.deployments.get(namespace)?.get(name).map(|d| &**d)
    }

    /// The policy in force for a namespace (see [`PolicySet::for_namespace`]), or why
    /// it cannot be known: a BlueGreenPolicy that could apply to the namespace and does
    /// not parse. Falling back to a wider policy or the defaults would drop the
    /// guardrails it sets (its switch identities, say) without anyone noticing.
    pub fn policy_for(&self, namespace: &str) -> Result<Arc<Policy>, &PolicyError> {
        let no_labels = BTreeMap::new();
        let labels = self
            .namespaces
            .get("")
            .and_then(|namespaces| namespaces.get(namespace))
            .and_then(|ns| ns.metadata.labels.as_ref())
            .unwrap_or(&no_labels);
        self.policy_set.for_namespace(labels).cloned()
    }
}

/// The shared, concurrently read cache, and which kinds have finished their initial
/// sync.
#[derive(Clone, Debug, Default)]
pub struct Cache {
    index: Arc<RwLock<Index>>,
    /// One bit per [`CacheKind`] still syncing.
    unsynced: Arc<AtomicU8>,
}

impl Cache {
    /// An empty cache waiting for the initial list of each of `kinds`.
    pub fn syncing(kinds: &[CacheKind]) -> Self {
        let cache = Cache::default();
        let bits = kinds.iter().fold(0, |bits, kind| bits | kind.bit());
        cache.unsynced.store(bits, Ordering::Release);
        cache
    }

    /// A synced cache holding `objects` and namespaces with labels: for tests and
    /// offline reviews.
    pub fn from_objects(
        objects: impl IntoIterator<Item = Object>,
        namespaces: impl IntoIterator<Item = Namespace>,
    ) -> Self {
        let cache = Cache::default();
        {
            let mut index = cache.write();
            objects.into_iter().for_each(|o| index.apply_object(o));
            namespaces.into_iter().for_each(|ns| index.apply(ns));
        }
        cache
    }

    /// Reads the index. Hold the guard only for one decision: writers wait for it.
    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters to a decision, so a poisoned lock is still usable.
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the index.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that a kind's initial list is complete.
    pub fn mark_synced(&self, kind: CacheKind) {
        self.unsynced.fetch_and(!kind.bit(), Ordering::AcqRel);
    }

    /// The kinds whose initial list is not complete yet.
    pub fn syncing_kinds(&self) -> Vec<CacheKind> {
        let bits = self.unsynced.load(Ordering::Acquire);
        CacheKind::ALL
            .into_iter()
            .filter(|kind| bits & kind.bit() != 0)
            .collect()
    }

    /// Whether every kind has synced.
    pub fn is_synced(&self) -> bool {
        self.unsynced.load(Ordering::Acquire) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(namespace: &str, name: &str) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": name, "namespace": namespace,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "bluegreen.dev/keep": "me"},
                "managedFields": [{"manager": "kubectl"}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn objects_are_indexed_by_namespace_and_trimmed() {
        let cache = Cache::from_objects(
            [
                Object::Deployment(deployment("a", "one")),
                Object::Deployment(deployment("a", "two")),
                Object::Deployment(deployment("b", "one")),
            ],
            [],
        );
        let index = cache.read();
        assert_eq!(index.snapshot("a").deployments.len(), 2);
        assert_eq!(index.snapshot("c").deployments.len(), 0);
        assert_eq!(index.count(CacheKind::Deployment), 3);
        let stored = index.deployment("b", "one").unwrap();
        assert!(stored.metadata.managed_fields.is_none());
        assert_eq!(
            stored.annotations().keys().collect::<Vec<_>>(),
            ["bluegreen.dev/keep"],
            "last-applied is dropped"
        );
    }

    fn with_pod_label(namespace: &str, name: &str, color: &str) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"color": color}},
                "template": {"metadata": {"labels": {"color": color}}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn the_pod_label_index_follows_every_change_of_the_deployments() {
        let cache = Cache::default();
        let colored = |cache: &Cache, color: &str| -> Vec<String> {
            let index = cache.read();
            let snapshot = index.snapshot("a");
            assert!(snapshot.pod_labels.is_some() || snapshot.deployments.is_empty());
            snapshot
                .deployments_with_label("color", color)
                .map(|d| d.name_any())
                .collect()
        };
        cache.write().apply(with_pod_label("a", "two", "blue"));
        cache.write().apply(with_pod_label("a", "one", "blue"));
        cache.write().apply(with_pod_label("b", "three", "blue"));
        assert_eq!(
            colored(&cache, "blue"),
            ["one", "two"],
            "by name, one namespace"
        );
        cache.write().apply(with_pod_label("a", "two", "green"));
        assert_eq!(colored(&cache, "blue"), ["one"]);
        assert_eq!(colored(&cache, "green"), ["two"]);
        cache.write().delete(&with_pod_label("a", "two", "green"));
        assert!(colored(&cache, "green").is_empty());
        cache
            .write()
            .replace_all(vec![with_pod_label("a", "four", "green")]);
        assert!(colored(&cache, "blue").is_empty(), "the relist forgot one");
        assert_eq!(colored(&cache, "green"), ["four"]);
    }

    fn policy(name: &str, warm_window: &str) -> BlueGreenPolicy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "bluegreen.dev/v1alpha1", "kind": "BlueGreenPolicy",
            "metadata": {"name": name}, "spec": {"warmWindow": warm_window}
        }))
        .unwrap()
    }

    #[test]
    fn the_policy_in_force_follows_every_change_of_the_policies() {
        let cache = Cache::default();
        let source = |cache: &Cache| {
            let index = cache.read();
            match index.policy_for("team-a") {
                Ok(policy) => policy.display_name(),
                Err(err) => err.to_string(),
            }
        };
        cache.write().apply(policy("default", "1h"));
        assert_eq!(source(&cache), "BlueGreenPolicy default");
        cache.write().apply(policy("default", "later"));
        assert!(source(&cache).contains("warmWindow \"later\" is not a duration"));
        cache.write().delete(&policy("default", "later"));
        assert_eq!(source(&cache), "the built-in defaults (no BlueGreenPolicy)");
        cache
            .write()
            .replace_all(vec![policy("b", "1h"), policy("a", "2h")]);
        assert_eq!(
            source(&cache),
            "BlueGreenPolicy a",
            "ties go to the first by name"
        );
    }

    #[test]
    fn delete_and_relist_replace_state() {
        let cache = Cache::syncing(&[CacheKind::Deployment, CacheKind::Service]);
        assert!(!cache.is_synced());
        cache.write().apply(deployment("a", "one"));
        cache.write().delete(&deployment("a", "one"));
        assert_eq!(cache.read().count(CacheKind::Deployment), 0);
        cache
            .write()
            .replace_all(vec![deployment("a", "two"), deployment("b", "three")]);
        cache.mark_synced(CacheKind::Deployment);
        assert_eq!(cache.read().count(CacheKind::Deployment), 2);
        assert_eq!(cache.syncing_kinds(), [CacheKind::Service]);
        cache.mark_synced(CacheKind::Service);
        assert!(cache.is_synced());
    }
}
