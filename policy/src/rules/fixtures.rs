//! Test fixtures: a healthy app of each router kind, and builders to break it one
//! way at a time.

use gateway_api::apis::standard::httproutes::HttpRoute as HTTPRoute;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;

use crate::app::{App, RouterRef};
use crate::crd::Policy;
use crate::discovery::discover_router;
use crate::finding::Finding;
use crate::images::{ImageVerdict, ImageVerdicts};
use crate::review::{Change, review};
use crate::rules::{Context, Requester, check_app, check_switch};
use crate::snapshot::{Object, Snapshot};

pub(crate) const BLUE_IMAGE: &str =
    "registry.local/api@sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub(crate) const GREEN_IMAGE: &str =
    "registry.local/api@sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A Deployment's rollout status, as the controller would write it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplicaStatus {
    pub total: i32,
    pub updated: i32,
    pub available: i32,
    pub observed_generation: i64,
    pub deadline_exceeded: bool,
}

impl ReplicaStatus {
    pub(crate) fn ready(replicas: i32) -> Self {
        ReplicaStatus {
            total: replicas,
            updated: replicas,
            available: replicas,
            observed_generation: 2,
            deadline_exceeded: false,
        }
    }

    pub(crate) fn to_json(self) -> serde_json::Value {
        let mut conditions = vec![json!({"type": "Available", "status": "True"})];
        if self.deadline_exceeded {
            conditions.push(json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}));
        }
        json!({
            "observedGeneration": self.observed_generation,
            "replicas": self.total,
            "updatedReplicas": self.updated,
            "readyReplicas": self.available,
            "availableReplicas": self.available,
            "conditions": conditions
        })
    }
}

/// The pod spec of a fixture Deployment, for tests that edit it.
pub(crate) fn pod_mut(deployment: &mut Deployment) -> &mut k8s_openapi::api::core::v1::PodSpec {
    deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .expect("fixture Deployments have a pod spec")
}

/// A policy that lets the CI service account `ci:deployer` switch, with break-glass
/// group `sre-oncall`.
pub(crate) fn ci_with_break_glass() -> Policy {
    let spec = crate::crd::BlueGreenPolicySpec {
        switch_identities: crate::crd::SwitchIdentities {
            service_accounts: vec!["ci:deployer".into()],
            break_glass_group: Some("sre-oncall".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Policy::from_spec(Some("default"), &spec).unwrap()
}

pub(crate) fn deployment(name: &str, color_key: &str, color: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "generation": 2, "labels": {"app": "api", "bluegreen.dev/app": "api"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "api", color_key: color}},
            "template": {
                "metadata": {"labels": {"app": "api", color_key: color}},
                "spec": {"containers": [{
                    "name": "api",
                    "image": image,
                    "envFrom": [{"configMapRef": {"name": "api-settings"}}, {"secretRef": {"name": "db-credentials"}}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}
                }]}
            }
        },
        "status": ReplicaStatus::ready(3).to_json()
    }))
    .unwrap()
}

pub(crate) fn service(name: &str, selector: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", "labels": {"bluegreen.dev/app": "api"}},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap()
}

pub(crate) fn route(name: &str, backends: serde_json::Value) -> HTTPRoute {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "shop", "labels": {"bluegreen.dev/app": "myapp"}},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": backends}]}
    }))
    .unwrap()
}

/// An app, its policy and the request context; each `with_*` breaks one thing.
#[derive(Clone)]
pub(crate) struct Fixture {
    pub objects: Vec<Object>,
    pub router: RouterRef,
    pub policy: Policy,
    pub now: Timestamp,
    pub requester: Option<Requester>,
    pub images: ImageVerdicts,
}

impl Fixture {
    fn base(objects: Vec<Object>, router: &str) -> Self {
        let images = [BLUE_IMAGE, GREEN_IMAGE]
            .into_iter()
            .map(|i| {
                (
                    i.to_string(),
                    ImageVerdict::Verified {
                        signer: "release".into(),
                    },
                )
            })
            .collect();
        Fixture {
            objects,
            router: router.parse().unwrap(),
            policy: Policy::default(),
            now: "2026-11-22T12:00:00Z".parse().unwrap(),
            requester: None,
            images,
        }
    }

    /// Service `api` (selector color=blue) over `api-blue` and `api-green`, both rolled
    /// out with 3 replicas, and a NetworkPolicy that selects both colors.
    pub(crate) fn service_app() -> Self {
        let objects = vec![
            Object::Deployment(deployment("api-blue", "color", "blue", BLUE_IMAGE)),
            Object::Deployment(deployment("api-green", "color", "green", GREEN_IMAGE)),
            Object::Service(service("api", json!({"app": "api", "color": "blue"}))),
        ];
        Fixture::base(objects, "svc/api")
            .with_netpol("api-allow-http", json!({"matchLabels": {"app": "api"}}))
    }

    /// HTTPRoute `myapp` routing to Service `app-blue`; `app-green` is the idle color,
    /// color label `version`.
    pub(crate) fn route_app() -> Self {
        let objects = vec![
            Object::Deployment(deployment("app-blue", "version", "blue", BLUE_IMAGE)),
            Object::Deployment(deployment("app-green", "version", "green", GREEN_IMAGE)),
            Object::Service(service(
                "app-blue",
                json!({"app": "api", "version": "blue"}),
            )),
            Object::Service(service(
                "app-green",
                json!({"app": "api", "version": "green"}),
            )),
            Object::HttpRoute(route("myapp", json!([{"name": "app-blue", "port": 80}]))),
        ];
        Fixture::base(objects, "httproute/myapp")
    }

    pub(crate) fn with_object(mut self, object: Object) -> Self {
        self.objects.push(object);
        self
    }

    pub(crate) fn with_deployment(
        mut self,
        name: &str,
        edit: impl FnOnce(&mut Deployment),
    ) -> Self {
        let found = self.objects.iter_mut().find_map(|object| match object {
            Object::Deployment(d) if d.metadata.name.as_deref() == Some(name) => Some(d),
            _ => None,
        });
        edit(found.expect("fixture has that Deployment"));
        self
    }

    pub(crate) fn with_green(self, edit: impl FnOnce(&mut Deployment)) -> Self {
        self.with_deployment("api-green", edit)
    }

    pub(crate) fn with_green_status(self, status: ReplicaStatus) -> Self {
        self.with_green(|d| d.status = Some(serde_json::from_value(status.to_json()).unwrap()))
    }

    pub(crate) fn with_router_annotation(mut self, key: &str, value: &str) -> Self {
        for object in &mut self.objects {
            let meta = match object {
                Object::Service(s)
                    if s.metadata.name.as_deref() == Some(self.router.name.as_str()) =>
                {
                    &mut s.metadata
                }
                Object::HttpRoute(r)
                    if r.metadata.name.as_deref() == Some(self.router.name.as_str()) =>
                {
                    &mut r.metadata
                }
                _ => continue,
            };
            meta.annotations
                .get_or_insert_default()
                .insert(key.to_string(), value.to_string());
        }
        self
    }

    pub(crate) fn with_netpol(self, name: &str, pod_selector: serde_json::Value) -> Self {
        let policy = serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"podSelector": pod_selector, "ingress": [{"ports": [{"port": 8080}]}]}
        }))
        .unwrap();
        self.with_object(Object::NetworkPolicy(policy))
    }

    pub(crate) fn with_hpa(self, target: &str, current: i32) -> Self {
        let hpa = serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target, "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}, "maxReplicas": 10},
            "status": {"currentReplicas": current, "desiredReplicas": current}
        }))
        .unwrap();
        self.with_object(Object::Hpa(hpa))
    }

    pub(crate) fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub(crate) fn with_requester(mut self, username: &str, groups: &[&str]) -> Self {
        self.requester = Some(Requester {
            username: username.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        });
        self
    }

    pub(crate) fn with_image_verdict(mut self, image: &str, verdict: ImageVerdict) -> Self {
        self.images.insert(image.to_string(), verdict);
        self
    }

    pub(crate) fn without_image_verdicts(mut self) -> Self {
        self.images.clear();
        self
    }

    pub(crate) fn snapshot(&self) -> Snapshot<'_> {
        let mut snapshot = Snapshot::new("shop");
        self.objects.iter().for_each(|o| snapshot.add(o));
        snapshot
    }

    pub(crate) fn ctx(&self) -> Context<'_> {
        Context {
            policy: &self.policy,
            now: self.now,
            requester: self.requester.as_ref(),
            images: &self.images,
        }
    }

    pub(crate) fn app(&self) -> App<'_> {
        discover_router(&self.snapshot(), &self.router).unwrap()
    }

    /// The findings of switching to the idle color.
    pub(crate) fn switch_findings(&self) -> Vec<Finding> {
        let snapshot = self.snapshot();
        let app = discover_router(&snapshot, &self.router).unwrap();
        check_switch(&app, &app.idle, &snapshot, &self.ctx())
    }

    /// One rule's findings of switching to the idle color, as one-line strings.
    pub(crate) fn switch_lines(&self, rule: crate::finding::RuleId) -> Vec<String> {
        self.switch_findings()
            .into_iter()
            .filter(|f| f.rule == rule)
            .map(|f| f.to_string())
            .collect()
    }

    /// The findings on the app as it stands.
    pub(crate) fn app_findings(&self) -> Vec<Finding> {
        let snapshot = self.snapshot();
        check_app(
            &discover_router(&snapshot, &self.router).unwrap(),
            &snapshot,
            &self.ctx(),
        )
    }

    /// The findings of one write against this state, as one-line strings.
    pub(crate) fn review(&self, change: Change<'_>) -> Vec<String> {
        review(&change, &self.snapshot(), &self.ctx())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    pub(crate) fn deployment(&self, name: &str) -> &Deployment {
        self.snapshot().deployment(name).unwrap()
    }

    pub(crate) fn service(&self, name: &str) -> &Service {
        self.snapshot().service(name).unwrap()
    }
}
