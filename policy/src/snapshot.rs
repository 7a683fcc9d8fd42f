//! The objects rules look at: owned [`Object`]s as read from files or an
//! AdmissionReview, and a borrowed [`Snapshot`] of one namespace's state.

use std::collections::BTreeMap;

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
        next
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
