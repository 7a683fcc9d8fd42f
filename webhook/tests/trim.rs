//! The cache keeps trimmed objects (`bluegreen_guard::trim`). This table shows that
//! trimming changes no decision: for writes that trigger every rule BG001–BG011,
//! `policy::review` finds exactly the same against the trimmed state as against the
//! full objects, which carry every field a real cluster returns.

use std::collections::BTreeSet;

use bluegreen_guard::trim::Trim;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use policy::{
    BlueGreenPolicySpec, Change, Context, Finding, ImageVerdict, ImageVerdicts, Policy, Requester,
    Router, RuleId, Snapshot,
};
use serde_json::{Value, json};

const NAMESPACE: &str = "shop";
const NOW: &str = "2026-11-20T12:10:00Z";
const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn image(color: &str) -> String {
    format!("registry.example.com/api-{color}@{DIGEST}")
}

/// A color Deployment with every field a real API server fills in.
fn deployment(color: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": format!("api-{color}"), "namespace": NAMESPACE, "generation": 4,
            "uid": format!("uid-{color}"), "resourceVersion": "991",
            "creationTimestamp": "2026-11-01T00:00:00Z",
            "labels": {"app": "api", "bluegreen.dev/app": "api"},
            "annotations": {"deployment.kubernetes.io/revision": "4",
                            "kubectl.kubernetes.io/last-applied-configuration": "{}",
                            "bluegreen.dev/note": "kept"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            "ownerReferences": []
        },
        "spec": {
            "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "minReadySeconds": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "selector": {"matchLabels": {"app": "api", "color": color}},
            "template": {
                "metadata": {"labels": {"app": "api", "color": color},
                             "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "serviceAccountName": "api", "terminationGracePeriodSeconds": 30,
                    "nodeSelector": {"pool": "apps"},
                    "imagePullSecrets": [{"name": "registry-pull"}],
                    "initContainers": [{
                        "name": "migrate", "image": image(color), "command": ["/migrate"],
                        "envFrom": [{"secretRef": {"name": "db-admin"}}]
                    }],
                    "containers": [{
                        "name": "api", "image": image(color),
                        "args": ["--port=8080"],
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "env": [
                            {"name": "LOG_LEVEL", "value": "info"},
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}},
                            {"name": "FLAGS", "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "all", "optional": true}}}
                        ],
                        "envFrom": [{"configMapRef": {"name": "api-settings"}, "prefix": "API_"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                        "livenessProbe": {"tcpSocket": {"port": 8080}},
                        "volumeMounts": [{"name": "tls", "mountPath": "/tls"}]
                    }],
                    "volumes": [
                        {"name": "tls", "secret": {"secretName": "api-tls", "defaultMode": 420}},
                        {"name": "settings", "configMap": {"name": "api-files", "items": [{"key": "a", "path": "a"}]}},
                        {"name": "scratch", "emptyDir": {}},
                        {"name": "bundle", "projected": {"sources": [
                            {"configMap": {"name": "ca-bundle"}},
                            {"secret": {"name": "client-cert"}},
                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}
                        ]}}
                    ]
                }
            }
        },
        "status": {
            "observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
            "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.",
                 "lastUpdateTime": "2026-11-01T00:00:00Z", "lastTransitionTime": "2026-11-01T00:00:00Z"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": "ReplicaSet has successfully progressed.",
                 "lastUpdateTime": "2026-11-01T00:00:00Z", "lastTransitionTime": "2026-11-01T00:00:00Z"}
            ]
        }
    })
}

/// Service `api`, live `live`, switched 10 minutes before [`NOW`] from `previous`.
fn router(live: &str, previous: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "api", "namespace": NAMESPACE, "uid": "svc", "resourceVersion": "7",
            "labels": {"bluegreen.dev/app": "api"},
            "annotations": {"bluegreen.dev/live-since": "2026-11-20T12:00:00Z",
                            "bluegreen.dev/previous-color": previous,
                            "kubectl.kubernetes.io/last-applied-configuration": "{}"}
        },
        "spec": {"selector": {"app": "api", "color": live}, "type": "ClusterIP",
                 "clusterIP": "10.0.0.10", "sessionAffinity": "None",
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
        "status": {"loadBalancer": {}}
    })
}

fn network_policy(name: &str, selector: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": name, "resourceVersion": "3"},
        "spec": {"podSelector": selector, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 8080}]}]}
    })
}

fn hpa(target: &str, current: i64) -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": NAMESPACE},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                 "minReplicas": 2, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        "status": {"currentReplicas": current, "desiredReplicas": current,
                   "currentMetrics": [], "conditions": []}
    })
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("valid fixture")
}

/// The stored state of the namespace.
struct State {
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    network_policies: Vec<NetworkPolicy>,
    hpas: Vec<HorizontalPodAutoscaler>,
}

impl State {
    /// Blue live (switched from green 10 minutes ago), both colors ready, an HPA on blue.
    fn base() -> State {
        State {
            deployments: vec![parse(deployment("blue")), parse(deployment("green"))],
            services: vec![parse(router("blue", "green"))],
            network_policies: vec![parse(network_policy(
                "api-ingress",
                json!({"matchLabels": {"app": "api"}}),
            ))],
            hpas: vec![parse(hpa("api-blue", 3))],
        }
    }

    fn green(mut self, edit: impl FnOnce(&mut Value)) -> State {
        let mut green = deployment("green");
        edit(&mut green);
        self.deployments[1] = parse(green);
        self
    }

    fn trimmed(&self) -> State {
        State {
            deployments: self.deployments.iter().cloned().map(Trim::trim).collect(),
            services: self.services.iter().cloned().map(Trim::trim).collect(),
            network_policies: self
                .network_policies
                .iter()
                .cloned()
                .map(Trim::trim)
                .collect(),
            hpas: self.hpas.iter().cloned().map(Trim::trim).collect(),
        }
    }

    fn snapshot(&self) -> Snapshot<'_> {
        let mut snapshot = Snapshot::new(NAMESPACE);
        snapshot.deployments = self.deployments.iter().collect();
        snapshot.services = self.services.iter().collect();
        snapshot.network_policies = self.network_policies.iter().collect();
        snapshot.hpas = self.hpas.iter().collect();
        snapshot
    }
}

/// One write, with the objects of the request (never trimmed).
enum Write {
    Switch { to: &'static str },
    RouterUpdate { selector: Value },
    UpdateDeployment { old: Value, new: Value },
    DeleteDeployment { name: &'static str },
    Scale { name: &'static str, replicas: i32 },
    CreateNetworkPolicy(Value),
}

fn policy() -> Policy {
    let spec: BlueGreenPolicySpec = parse(json!({
        "switchIdentities": {"users": ["ci"]},
        "trustedKeys": [{"name": "release", "publicKey": "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"}],
        "rules": {"readinessProbes": "deny"}
    }));
    Policy::from_spec(Some("shop"), &spec).unwrap()
}

/// The router, old and new Deployment, and NetworkPolicy a request carries.
type RequestObjects = (
    Option<Service>,
    Option<Deployment>,
    Option<Deployment>,
    Option<NetworkPolicy>,
);

fn review(state: &State, write: &Write, user: &str) -> Vec<Finding> {
    let snapshot = state.snapshot();
    let policy = policy();
    let requester = Requester {
        username: user.to_string(),
        groups: Vec::new(),
    };
    let mut images: ImageVerdicts = [(
        image("blue"),
        ImageVerdict::Verified {
            signer: "release".into(),
        },
    )]
    .into();
    images.insert(image("green"), ImageVerdict::Unsigned);
    let context = Context {
        policy: &policy,
        now: NOW.parse().unwrap(),
        requester: Some(&requester),
        images: &images,
    };
    let old_router: Service = parse(router("blue", "green"));
    let objects: RequestObjects = match write {
        Write::Switch { to } => (Some(parse(router(to, "blue"))), None, None, None),
        Write::RouterUpdate { selector } => {
            let mut new = router("blue", "green");
            new["spec"]["selector"] = selector.clone();
            (Some(parse(new)), None, None, None)
        }
        Write::UpdateDeployment { old, new } => (
            None,
            Some(parse(old.clone())),
            Some(parse(new.clone())),
            None,
        ),
        Write::CreateNetworkPolicy(policy) => (None, None, None, Some(parse(policy.clone()))),
        _ => (None, None, None, None),
    };
    let change = match write {
        Write::Switch { .. } | Write::RouterUpdate { .. } => Change::Router {
            old: Some(Router::Service(&old_router)),
            new: objects.0.as_ref().map(Router::Service),
        },
        Write::UpdateDeployment { .. } => Change::Deployment {
            old: objects.1.as_ref(),
            new: objects.2.as_ref(),
        },
        Write::DeleteDeployment { name } => Change::Deployment {
            old: snapshot.deployment(name),
            new: None,
        },
        Write::Scale { name, replicas } => Change::Scale {
            deployment: snapshot.deployment(name).expect("stored"),
            replicas: *replicas,
        },
        Write::CreateNetworkPolicy(_) => Change::NetworkPolicy {
            old: None,
            new: objects.3.as_ref(),
        },
    };
    policy::review(&change, &snapshot, &context)
}

fn set_image(mut deployment: Value, image: &str) -> Value {
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    deployment
}

/// (case, state, write, user).
fn table() -> Vec<(&'static str, State, Write, &'static str)> {
    vec![
        ("allowed switch", State::base(), Write::Switch { to: "green" }, "ci"),
        ("switch by someone else (BG003)", State::base(), Write::Switch { to: "green" }, "alice"),
        (
            "switch to an unready green (BG001)",
            State::base().green(|g| {
                g["status"]["availableReplicas"] = json!(1);
                g["status"]["conditions"][1]["reason"] = json!("ProgressDeadlineExceeded");
                g["status"]["conditions"][1]["status"] = json!("False");
            }),
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "switch to a paused, stale green (BG001)",
            State::base().green(|g| {
                g["spec"]["paused"] = json!(true);
                g["status"]["observedGeneration"] = json!(3);
            }),
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "switch to a smaller green (BG002)",
            State::base().green(|g| {
                g["spec"]["replicas"] = json!(1);
                g["status"] = json!({"observedGeneration": 4, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1});
            }),
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "switch with config drift in env, volumes and pull secrets (BG004)",
            State::base().green(|g| {
                let pod = &mut g["spec"]["template"]["spec"];
                pod["containers"][0]["env"][2]["valueFrom"]["secretKeyRef"]["name"] = json!("db-credentials-v2");
                pod["volumes"][3]["projected"]["sources"][0]["configMap"]["name"] = json!("ca-bundle-v2");
                pod["volumes"][1]["configMap"]["name"] = json!("api-files-v2");
                pod["imagePullSecrets"][0]["name"] = json!("other-pull");
                pod["initContainers"][0]["envFrom"][0]["secretRef"]["name"] = json!("db-admin-v2");
            }),
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "switch with a netpol on one color (BG005)",
            {
                let mut state = State::base();
                state.network_policies.push(parse(network_policy(
                    "blue-only",
                    json!({"matchLabels": {"color": "blue"}}),
                )));
                state
            },
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "switch to a green without readiness probe (BG007)",
            State::base().green(|g| {
                g["spec"]["template"]["spec"]["containers"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("readinessProbe");
            }),
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "router selecting both colors (BG010)",
            State::base(),
            Write::RouterUpdate { selector: json!({"app": "api"}) },
            "ci",
        ),
        (
            "green and blue the same Deployment (BG010)",
            State::base().green(|g| {
                g["spec"]["template"]["metadata"]["labels"]["color"] = json!("blue");
                g["spec"]["selector"]["matchLabels"]["color"] = json!("blue");
            }),
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "idle color update with drift and an unsigned image (BG004, BG006)",
            State::base(),
            Write::UpdateDeployment {
                old: deployment("green"),
                new: {
                    let mut g = set_image(deployment("green"), &image("green"));
                    g["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"] = json!("api-settings-v2");
                    g
                },
            },
            "ci",
        ),
        (
            "live color changed in place (BG009)",
            State::base(),
            Write::UpdateDeployment {
                old: deployment("blue"),
                new: set_image(deployment("blue"), "registry.example.com/api:hotfix"),
            },
            "ci",
        ),
        (
            "switch to a green without the app label (BG011)",
            State::base().green(|g| {
                g["metadata"]["labels"]
                    .as_object_mut()
                    .unwrap()
                    .remove("bluegreen.dev/app");
            }),
            Write::Switch { to: "green" },
            "ci",
        ),
        (
            "previous color unlabelled in the warm window (BG011)",
            State::base(),
            Write::UpdateDeployment {
                old: deployment("green"),
                new: {
                    let mut g = deployment("green");
                    g["metadata"]["labels"]
                        .as_object_mut()
                        .unwrap()
                        .remove("bluegreen.dev/app");
                    g
                },
            },
            "ci",
        ),
        (
            "previous color deleted in the warm window (BG008)",
            State::base(),
            Write::DeleteDeployment { name: "api-green" },
            "ci",
        ),
        (
            "previous color scaled to zero in the warm window (BG008)",
            State::base(),
            Write::Scale { name: "api-green", replicas: 0 },
            "ci",
        ),
        (
            "live color scaled down (BG008)",
            State::base(),
            Write::Scale { name: "api-blue", replicas: 0 },
            "ci",
        ),
        (
            "netpol selecting one color created (BG005)",
            State::base(),
            Write::CreateNetworkPolicy(network_policy(
                "green-only",
                json!({"matchExpressions": [{"key": "color", "operator": "In", "values": ["green"]}]}),
            )),
            "ci",
        ),
    ]
}

#[test]
fn trimmed_objects_give_the_same_findings_as_full_ones() {
    let mut rules = BTreeSet::new();
    for (case, state, write, user) in table() {
        let full = review(&state, &write, user);
        let trimmed = review(&state.trimmed(), &write, user);
        let lines = |findings: &[Finding]| -> Vec<String> {
            findings
                .iter()
                .map(|f| format!("{} {}", f.action, f))
                .collect()
        };
        assert_eq!(lines(&trimmed), lines(&full), "{case}");
        rules.extend(full.iter().map(|f| f.rule));
    }
    assert_eq!(
        rules.into_iter().collect::<Vec<_>>(),
        RuleId::ALL,
        "the table triggers every rule"
    );
}

#[test]
fn trimming_drops_what_the_rules_do_not_read() {
    let full: Deployment = parse(deployment("blue"));
    let full_size = serde_json::to_vec(&full).unwrap().len();
    let trimmed = full.trim();
    let text = serde_json::to_string(&trimmed).unwrap();
    for dropped in [
        "managedFields",
        "last-applied-configuration",
        "resources",
        "livenessProbe",
        "emptyDir",
        "LOG_LEVEL",
        "serviceAccountToken",
        "lastUpdateTime",
    ] {
        assert!(!text.contains(dropped), "{dropped} kept: {text}");
    }
    for kept in [
        "bluegreen.dev/note",
        "db-credentials",
        "client-cert",
        "api-tls",
        "registry-pull",
    ] {
        assert!(text.contains(kept), "{kept} dropped: {text}");
    }
    assert!(
        text.len() * 2 < full_size,
        "{} of {full_size} bytes",
        text.len()
    );
}
