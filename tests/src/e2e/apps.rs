//! The apps scenarios release: manifests a person would write, in the scenario's
//! namespace, plus the BlueGreenPolicy that names the CI account.

use serde_json::{Value, json};

/// The image each color runs at the start of a scenario.
pub const BLUE_IMAGE: &str = "registry.example.com/shop/api:1.0";
/// The idle color's image.
pub const GREEN_IMAGE: &str = "registry.example.com/shop/api:1.1";

/// A color Deployment of app `api`: 3 replicas, readiness probe, reads ConfigMap
/// `api-settings` and Secret `db-credentials`.
pub fn deployment(name: &str, color_label: &str, color: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": "api", "bluegreen.dev/app": "api"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "api", color_label: color}},
            "template": {
                "metadata": {"labels": {"app": "api", color_label: color}},
                "spec": {"containers": [{
                    "name": "api",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "envFrom": [{"configMapRef": {"name": "api-settings"}}, {"secretRef": {"name": "db-credentials"}}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}
                }]}
            }
        }
    })
}

/// The Service-selector app: Service `api` selecting `color: <live>` over
/// Deployments `api-blue` and `api-green`, and a NetworkPolicy on the app label.
pub fn service_app(live: &str) -> Vec<Value> {
    vec![
        deployment("api-blue", "color", "blue", BLUE_IMAGE),
        deployment("api-green", "color", "green", GREEN_IMAGE),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api", "labels": {"bluegreen.dev/app": "api"}},
            "spec": {"selector": {"app": "api", "color": live}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        }),
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "api-allow-http", "labels": {"bluegreen.dev/app": "api"}},
            "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 8080}]}]}
        }),
    ]
}

/// The HTTPRoute app: route `myapp` to Service `app-<live>`, color label `version`.
pub fn route_app(live: &str) -> Vec<Value> {
    let color_service = |color: &str| {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": format!("app-{color}"), "labels": {"bluegreen.dev/app": "myapp"}},
            "spec": {"selector": {"app": "api", "version": color}, "ports": [{"port": 80, "targetPort": 8080}]}
        })
    };
    vec![
        deployment("app-blue", "version", "blue", BLUE_IMAGE),
        deployment("app-green", "version", "green", GREEN_IMAGE),
        color_service("blue"),
        color_service("green"),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "myapp", "labels": {"bluegreen.dev/app": "myapp"}},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": format!("app-{live}"), "port": 80}]}]}
        }),
    ]
}

/// The name of the scenario's BlueGreenPolicy.
pub fn policy_name(namespace: &str) -> String {
    format!("e2e-{namespace}")
}

/// A BlueGreenPolicy for the scenario's namespace only, allowing the CI account to
/// switch, with `rules` as the per-rule actions.
pub fn policy(namespace: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "bluegreen.dev/v1alpha1",
        "kind": "BlueGreenPolicy",
        "metadata": {"name": policy_name(namespace)},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "rules": rules,
            "switchIdentities": {"serviceAccounts": ["ci:deployer"]}
        }
    })
}
