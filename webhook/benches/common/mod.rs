//! A cluster of realistic size for the benchmarks: 250 team namespaces, each with 8
//! blue-green apps (2 Deployments + 1 router Service each) and 24 other Deployments,
//! and 4 NetworkPolicies: 10,000 Deployments, 2,000 Services, 1,000 NetworkPolicies;
//! the namespaces labelled as kube-apiserver and a platform team label them, and the
//! guardrails such a team sets: a cluster-wide BlueGreenPolicy naming who may switch,
//! stricter ones for production and sandbox namespaces, and one per team of tenants.
#![allow(dead_code)] // each benchmark uses part of it

use bluegreen_guard::Cache;
use k8s_openapi::api::core::v1::Namespace;
use policy::Object;
use serde_json::{Value, json};

pub const NAMESPACES: usize = 250;
pub const APPS_PER_NAMESPACE: usize = 8;
pub const OTHER_DEPLOYMENTS_PER_NAMESPACE: usize = 24;

/// The namespace and app the benchmarked requests write.
pub const NAMESPACE: &str = "team-042";

fn deployment(namespace: &str, app: &str, color: Option<&str>, available: i64) -> Value {
    let name = color.map_or(app.to_string(), |c| format!("{app}-{c}"));
    let mut labels = json!({"app": app});
    if let Some(color) = color {
        labels["color"] = json!(color);
        labels["bluegreen.dev/app"] = json!(app);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": namespace, "generation": 3, "labels": labels,
            "uid": format!("{namespace}-{name}"), "resourceVersion": "4242",
            "creationTimestamp": "2026-11-01T00:00:00Z",
            "annotations": {"deployment.kubernetes.io/revision": "3"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{
                        "name": app, "image": format!("registry.example.com/{app}:1.4.2"),
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "env": [{"name": "LOG_LEVEL", "value": "info"}],
                        "envFrom": [{"configMapRef": {"name": format!("{app}-config")}},
                                    {"secretRef": {"name": format!("{app}-db")}}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"memory": "256Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                                           "periodSeconds": 10, "timeoutSeconds": 1,
                                           "successThreshold": 1, "failureThreshold": 3},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
                    }],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                    "securityContext": {},
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        },
        "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3,
                   "readyReplicas": available, "availableReplicas": available},
    })
}

fn router(namespace: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": app, "namespace": namespace, "labels": {"bluegreen.dev/app": app},
                     "annotations": {"bluegreen.dev/live-since": "2026-11-20T00:00:00Z"}},
        "spec": {"selector": {"app": app, "color": "blue"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                 "type": "ClusterIP", "clusterIP": "10.0.0.10"},
    })
}

fn network_policy(namespace: &str, name: &str, pod_labels: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {"matchLabels": pod_labels},
                 "ingress": [{"ports": [{"port": 8080, "protocol": "TCP"}]}],
                 "policyTypes": ["Ingress"]},
    })
}

fn app_name(index: usize) -> String {
    format!("app-{index}")
}

/// Every object of the cluster, made one at a time. In the benchmarked namespace, the
/// green color of app-3 is not ready (its switch is denied); every other color is.
pub fn objects() -> impl Iterator<Item = Value> {
    (0..NAMESPACES).flat_map(|n| {
        let namespace = format!("team-{n:03}");
        let apps = (0..APPS_PER_NAMESPACE).flat_map({
            let namespace = namespace.clone();
            move |a| {
                let app = app_name(a);
                let green_available = if namespace == NAMESPACE && a == 3 {
                    1
                } else {
                    3
                };
                [
                    deployment(&namespace, &app, Some("blue"), 3),
                    deployment(&namespace, &app, Some("green"), green_available),
                    router(&namespace, &app),
                ]
            }
        });
        let workers = (0..OTHER_DEPLOYMENTS_PER_NAMESPACE).map({
            let namespace = namespace.clone();
            move |w| deployment(&namespace, &format!("worker-{w}"), None, 3)
        });
        let policies = std::iter::once(network_policy(&namespace, "default-deny", json!({})))
            .chain((0..3).map(move |a| {
                let app = app_name(a);
                network_policy(&namespace, &format!("{app}-ingress"), json!({"app": app}))
            }));
        apps.chain(workers).chain(policies)
    })
}

/// The benchmarked namespace alone, crowded with `workers` more Deployments of no app.
pub fn crowded_namespace(workers: usize) -> Cache {
    let own = objects().filter(|o| o["metadata"]["namespace"] == NAMESPACE);
    let crowd = (0..workers).map(|w| deployment(NAMESPACE, &format!("crowd-{w}"), None, 3));
    Cache::from_objects(own.chain(crowd).map(typed), [])
}

/// The tier a namespace is labelled with: every fifth is production (the benchmarked
/// `team-042` among them), every fifth a sandbox, the rest staging.
fn tier(n: usize) -> &'static str {
    match n % 5 {
        2 => "production",
        4 => "sandbox",
        _ => "staging",
    }
}

/// The team namespaces, labelled.
pub fn namespaces() -> impl Iterator<Item = Namespace> {
    (0..NAMESPACES).map(|n| {
        let name = format!("team-{n:03}");
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/metadata.name": name, "tier": tier(n), "team": format!("team-{:02}", n % TEAMS),
            }},
        }))
        .unwrap()
    })
}

fn blue_green_policy(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "bluegreen.dev/v1alpha1", "kind": "BlueGreenPolicy",
        "metadata": {"name": name, "uid": format!("policy-{name}"), "resourceVersion": "17"},
        "spec": spec,
    })
}

/// The teams the namespaces belong to, by their `team` label.
const TEAMS: usize = 40;

/// The platform team's guardrails. The benchmarked requests are the CI account's, so
/// BG003 lets them switch and the production policy is the one judged.
pub fn policies() -> impl Iterator<Item = Value> {
    let teams = (0..TEAMS).map(|t| {
        blue_green_policy(&format!("team-{t:02}"), json!({
            "namespaceSelector": {"matchLabels": {"team": format!("team-{t:02}")}},
            "switchIdentities": {"serviceAccounts": ["ci:deployer", format!("team-{t:02}:release")]},
            "warmWindow": "1h",
        }))
    });
    [
        blue_green_policy("default", json!({
            "switchIdentities": {"serviceAccounts": ["ci:deployer"], "breakGlassGroup": "sre-oncall"},
            "warmWindow": "30m",
        })),
        blue_green_policy("production", json!({
            "namespaceSelector": {"matchLabels": {"tier": "production"}},
            "rules": {"configParity": "deny", "netpolParity": "deny", "readinessProbes": "deny"},
            "switchIdentities": {
                "serviceAccounts": ["ci:deployer", "ci:release-bot"],
                "groups": ["release-managers"], "breakGlassGroup": "sre-oncall",
            },
            "warmWindow": "2h", "capacityRatio": 1.0,
        })),
        blue_green_policy("sandbox", json!({
            "namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["sandbox", "dev"]}]},
            "rules": {"readyTarget": "warn", "capacity": "warn", "warmRollback": "audit"},
            "warmWindow": "5m",
        })),
    ]
    .into_iter()
    .chain(teams)
}

fn typed(value: Value) -> Object {
    match value["kind"].as_str() {
        Some("Deployment") => Object::Deployment(serde_json::from_value(value).unwrap()),
        Some("Service") => Object::Service(serde_json::from_value(value).unwrap()),
        Some("NetworkPolicy") => Object::NetworkPolicy(serde_json::from_value(value).unwrap()),
        Some("BlueGreenPolicy") => Object::Policy(serde_json::from_value(value).unwrap()),
        other => panic!("no {other:?} in the benchmark cluster"),
    }
}

/// The cache holding [`objects`], built without holding them all as JSON at once.
pub fn cache() -> Cache {
    Cache::from_objects(objects().chain(policies()).map(typed), namespaces())
}

/// The `fieldsV1` of a managed fields entry owning every field of `value`, in the
/// shape kube-apiserver records them (`f:` for a field, `k:` for a list item).
fn fields_v1(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut fields: serde_json::Map<String, Value> = map
                .iter()
                .map(|(key, value)| (format!("f:{key}"), fields_v1(value)))
                .collect();
            fields.insert(".".to_string(), json!({}));
            Value::Object(fields)
        }
        Value::Array(items) => Value::Object(
            items
                .iter()
                .map(|item| {
                    let key = match item.get("name") {
                        Some(name) => json!({ "name": name }),
                        None => item.clone(),
                    };
                    (format!("k:{key}"), fields_v1(item))
                })
                .collect(),
        ),
        _ => json!({}),
    }
}

/// An object as kube-apiserver sends it in an AdmissionReview: with the managed
/// fields of who wrote its spec and who its status (the captures in
/// `webhook/tests/data` show them), and a Deployment's status conditions.
fn as_sent(mut object: Value) -> Value {
    let api_version = object["apiVersion"].clone();
    let entry = |manager: &str, subresource: Option<&str>, fields: Value| {
        let mut entry = json!({
            "manager": manager, "operation": "Update", "apiVersion": api_version,
            "time": "2026-11-20T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields,
        });
        if let Some(subresource) = subresource {
            entry["subresource"] = json!(subresource);
        }
        entry
    };
    let mut managed = vec![entry(
        "helm",
        None,
        json!({"f:metadata": {"f:labels": fields_v1(&object["metadata"]["labels"])},
               "f:spec": fields_v1(&object["spec"])}),
    )];
    if object["kind"] == "Deployment" {
        object["status"]["conditions"] = json!([
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability.",
             "lastUpdateTime": "2026-11-20T00:00:10Z", "lastTransitionTime": "2026-11-20T00:00:10Z"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": "ReplicaSet \"app-5-green-6d4cf56db6\" has successfully progressed.",
             "lastUpdateTime": "2026-11-20T00:00:10Z", "lastTransitionTime": "2026-11-20T00:00:00Z"},
        ]);
        managed.push(entry(
            "kube-controller-manager",
            Some("status"),
            json!({"f:metadata": {"f:annotations": fields_v1(&object["metadata"]["annotations"])},
                   "f:status": fields_v1(&object["status"])}),
        ));
    }
    object["metadata"]["managedFields"] = Value::Array(managed);
    object
}

fn review(kind: Value, resource: Value, name: &str, old: Value, new: Value) -> Value {
    let (old, new) = (as_sent(old), as_sent(new));
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
            "name": name, "namespace": NAMESPACE, "operation": "UPDATE",
            "userInfo": {"username": "system:serviceaccount:ci:deployer",
                         "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": new, "oldObject": old, "dryRun": false,
            "options": {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-patch"},
        }
    })
}

/// A new image for the idle color of app-5: allowed.
pub fn allowed_deployment_update() -> Value {
    let old = deployment(NAMESPACE, "app-5", Some("green"), 3);
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.example.com/app-5:1.5.0");
    review(
        json!({"group": "apps", "version": "v1", "kind": "Deployment"}),
        json!({"group": "apps", "version": "v1", "resource": "deployments"}),
        "app-5-green",
        old,
        new,
    )
}

fn switch(app: &str) -> Value {
    let old = router(NAMESPACE, app);
    let mut new = old.clone();
    new["spec"]["selector"]["color"] = json!("green");
    review(
        json!({"group": "", "version": "v1", "kind": "Service"}),
        json!({"group": "", "version": "v1", "resource": "services"}),
        app,
        old,
        new,
    )
}

/// A switch of app-3 to its unready green: denied by BG001.
pub fn denied_switch() -> Value {
    switch("app-3")
}

/// A switch of app-4 to its ready green: allowed.
pub fn allowed_switch() -> Value {
    switch("app-4")
}

/// The three benchmarked requests, by name.
pub fn scenarios() -> [(&'static str, Value); 3] {
    [
        ("allowed Deployment update", allowed_deployment_update()),
        ("denied switch", denied_switch()),
        ("allowed switch", allowed_switch()),
    ]
}

/// Resident memory of this process, in MiB, from /proc/self/status.
pub fn resident_mib() -> f64 {
    vm_rss_mib(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

/// The VmRSS line of a /proc/PID/status text, in MiB.
pub fn vm_rss_mib(status: &str) -> f64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}
