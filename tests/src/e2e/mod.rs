//! What end-to-end scenarios run against: the in-process test API server, or a real
//! cluster when `BLUEGREEN_E2E_KUBECONFIG` names a kubeconfig (an API server without
//! controllers is enough: scenarios write Deployment status themselves). Scenarios use
//! only this module, so the same code runs against both.

pub mod apps;
pub mod guard;
pub mod released;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use crate::apiserver::{Config, Denial, TestApiServer};

/// The identities scenarios act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// A cluster admin (`system:masters`): set-up and checks.
    Admin,
    /// The CI service account `ci:deployer`, allowed to switch.
    Ci,
    /// A person, `alice`, not allowed to switch.
    Alice,
}

impl Who {
    /// The username the API server authenticates.
    pub fn username(self) -> &'static str {
        match self {
            Who::Admin => "admin",
            Who::Ci => "system:serviceaccount:ci:deployer",
            Who::Alice => "alice",
        }
    }

    /// The groups the API server adds, for impersonation on a real cluster.
    fn groups(self) -> &'static [&'static str] {
        match self {
            Who::Admin => &["system:masters", "system:authenticated"],
            Who::Ci => &[
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated",
            ],
            Who::Alice => &["system:authenticated"],
        }
    }

    /// The RBAC subject a real cluster binds roles to.
    fn subject(self) -> Value {
        match self {
            Who::Ci => json!({"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}),
            _ => {
                json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": self.username()})
            }
        }
    }
}

enum Target {
    Local(TestApiServer),
    /// A real API server: the admin kubeconfig, impersonating the other identities.
    Real(PathBuf),
}

/// One scenario's cluster and namespaces.
pub struct Cluster {
    target: Target,
    /// The scenario's (first) namespace (unique per scenario on a real cluster).
    pub namespace: String,
    /// Every namespace of the scenario: the name asked for, the name it has.
    namespaces: Vec<(String, String)>,
    /// Appended to names on a real cluster (empty on the test API server).
    suffix: String,
    /// Cluster-scoped objects this scenario created on a real cluster, deleted at the end
    /// (`resource.group/name`, as kubectl names them).
    created: Mutex<Vec<String>>,
    dir: tempfile::TempDir,
}

/// The environment variable naming a real cluster's admin kubeconfig.
pub const REAL_CLUSTER_ENV: &str = "BLUEGREEN_E2E_KUBECONFIG";

/// The label of everything cluster-scoped a scenario creates on a real cluster.
pub const CLEANUP_LABEL: &str = "e2e.bluegreen.dev/scenario";

/// How many times a bounded wait looks before giving up, and how long it pauses between.
const WAIT_ATTEMPTS: u32 = 3000;
const WAIT_PAUSE: Duration = Duration::from_millis(20);

/// Who may do what on a real cluster besides admin: the CI account and alice can read
/// everything the plugin reads, cluster-wide, and write routers and Deployments in the
/// scenario's namespaces, so refusals come from admission, not RBAC. `(group, resource,
/// verbs)`; the cluster-wide rules go in a ClusterRole, the others in a Role per namespace.
const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const CLUSTER_RULES: &[(&str, &str, &[&str])] = &[
    ("", "namespaces", READ),
    ("", "services", READ),
    ("", "pods", READ),
    ("apps", "deployments", READ),
    ("networking.k8s.io", "networkpolicies", READ),
    ("autoscaling", "horizontalpodautoscalers", READ),
    ("gateway.networking.k8s.io", "httproutes", READ),
    ("bluegreen.dev", "bluegreenpolicies", READ),
];
const NAMESPACE_RULES: &[(&str, &str, &[&str])] = &[
    ("", "services", WRITE),
    // Helm keeps its releases in Secrets of the release's namespace.
    ("", "secrets", WRITE),
    ("", "pods", WRITE),
    ("", "events", WRITE),
    ("apps", "deployments", WRITE),
    ("apps", "deployments/scale", WRITE),
    ("networking.k8s.io", "networkpolicies", WRITE),
    ("gateway.networking.k8s.io", "httproutes", WRITE),
];

impl Cluster {
    /// A fresh namespace called `<name>` (plus a unique suffix on a real cluster) on the
    /// test API server, or on the real cluster when `BLUEGREEN_E2E_KUBECONFIG` is set.
    pub async fn start(name: &str) -> Cluster {
        Cluster::start_with(&[name], &[]).await
    }

    /// Like [`Cluster::start`] with several namespaces (the first is
    /// [`Cluster::namespace`]) and RBAC refusing `denials` to some identities (the test
    /// API server's per-user refusals; Roles without those verbs on a real cluster; a
    /// denial's namespace is one of `namespaces`).
    pub async fn start_with(namespaces: &[&str], denials: &[(Who, Denial)]) -> Cluster {
        crate::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temporary directory");
        let real = std::env::var_os(REAL_CLUSTER_ENV);
        let suffix = match real {
            Some(_) => format!("-{}", unique_suffix()),
            None => String::new(),
        };
        let namespaces: Vec<(String, String)> = namespaces
            .iter()
            .map(|name| (name.to_string(), format!("{name}{suffix}")))
            .collect();
        let target = match real {
            Some(path) => Target::Real(PathBuf::from(path)),
            None => {
                let mut config = Config::default();
                for (name, _) in &namespaces {
                    if !config.namespaces.contains(name) {
                        config = config.with_namespace(name);
                    }
                }
                for (who, denial) in denials {
                    config = config.deny(who.username(), denial.clone());
                }
                let server = TestApiServer::start(config)
                    .await
                    .expect("the test API server starts");
                Target::Local(server)
            }
        };
        let cluster = Cluster {
            target,
            namespace: namespaces.first().expect("a namespace").1.clone(),
            namespaces,
            suffix,
            created: Mutex::new(Vec::new()),
            dir,
        };
        if let Target::Real(_) = cluster.target {
            cluster.prepare_real_cluster(denials).await;
        }
        cluster
    }

    /// Whether this runs against the in-process test API server.
    pub fn is_local(&self) -> bool {
        matches!(self.target, Target::Local(_))
    }

    /// The test API server, for what only it can do (e.g. compacting history).
    pub fn local_server(&self) -> Option<&TestApiServer> {
        match &self.target {
            Target::Local(server) => Some(server),
            Target::Real(_) => None,
        }
    }

    /// The test API server, for a scenario that needs one of its stand-ins. Such a
    /// scenario is marked `#[cfg_attr(e2e_real_cluster, ignore = "needs ...")]`, so that a
    /// run against a real cluster counts it as ignored, with its reason (see `tests/build.rs`).
    pub fn test_api_server(&self) -> &TestApiServer {
        self.local_server().expect(
            "this scenario needs the test API server; on a real cluster it is ignored (cargo test rebuilds it when BLUEGREEN_E2E_KUBECONFIG changes)",
        )
    }

    /// The name namespace `name` (as given to [`Cluster::start_with`], or already the
    /// name it has) has on this cluster.
    pub fn ns(&self, name: &str) -> &str {
        self.namespaces
            .iter()
            .find(|(asked, real)| asked == name || real == name)
            .map(|(_, real)| real.as_str())
            .unwrap_or_else(|| panic!("{name} is not one of the scenario's namespaces"))
    }

    /// `name` made unique to this scenario on a real cluster (for cluster-scoped objects
    /// such as BlueGreenPolicies); unchanged on the test API server.
    pub fn unique_name(&self, name: &str) -> String {
        format!("{name}{}", self.suffix)
    }

    /// A folder of the scenario's own, created on first use (e.g. helm's cache).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).expect("scratch folder");
        path
    }

    /// A kubeconfig file for `who`, defaulting to the scenario's namespace.
    pub fn kubeconfig(&self, who: Who) -> PathBuf {
        self.kubeconfig_in(who, &self.namespace)
    }

    /// A kubeconfig file for `who` whose context defaults to `namespace`.
    pub fn kubeconfig_in(&self, who: Who, namespace: &str) -> PathBuf {
        let namespace = self.ns(namespace);
        let path = self
            .dir
            .path()
            .join(format!("{who:?}-{namespace}.kubeconfig").to_lowercase());
        if path.exists() {
            return path;
        }
        let text = match &self.target {
            Target::Local(server) => server
                .kubeconfig(who.username(), namespace)
                .expect("known user"),
            Target::Real(admin) => {
                let text = std::fs::read_to_string(admin).expect("read BLUEGREEN_E2E_KUBECONFIG");
                impersonating(&text, who, namespace)
            }
        };
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// A kube client acting as `who`.
    pub async fn client(&self, who: Who) -> kube::Client {
        let text = std::fs::read_to_string(self.kubeconfig(who)).expect("read kubeconfig");
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).expect("kubeconfig parses");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("kubeconfig is usable");
        kube::Client::try_from(config).expect("client")
    }

    /// Runs the real kubectl as `who` in the scenario's namespace. Async, because the
    /// test API server answers it from this same runtime.
    pub async fn kubectl(&self, who: Who, args: &[&str]) -> Output {
        tokio::process::Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(self.kubeconfig(who))
            .args(["-n", &self.namespace])
            .args(args)
            .output()
            .await
            .expect("kubectl runs")
    }

    /// Writes a manifest to a file in the scenario's directory, for `kubectl -f`.
    pub fn manifest_file(&self, name: &str, manifest: &Value) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(manifest).expect("json"))
            .expect("write manifest");
        path
    }

    /// Creates or replaces objects as admin: namespaced ones in their
    /// `metadata.namespace` (one of the scenario's namespaces, by the name given to
    /// [`Cluster::start_with`]), else in [`Cluster::namespace`]; with their `status`
    /// when they have one. Server-set metadata (resourceVersion, uid, generation,
    /// creationTimestamp, managedFields) is ignored. Like any write, this goes through
    /// admission: seed before registering webhooks that should not see the set-up.
    pub async fn apply(&self, manifests: &[Value]) {
        let client = self.client(Who::Admin).await;
        for manifest in manifests {
            let mut manifest = manifest.clone();
            if let Some(metadata) = manifest["metadata"].as_object_mut() {
                for server_set in [
                    "resourceVersion",
                    "uid",
                    "generation",
                    "creationTimestamp",
                    "managedFields",
                ] {
                    metadata.remove(server_set);
                }
            }
            let (api, resource) = self.api_for(&client, &mut manifest);
            let cluster_scoped = manifest["metadata"]["namespace"].is_null();
            if cluster_scoped && !self.is_local() {
                // What a killed run leaves behind can be found by this label.
                manifest["metadata"]["labels"][CLEANUP_LABEL] = json!("true");
            }
            let name = manifest["metadata"]["name"]
                .as_str()
                .expect("named")
                .to_string();
            let object: DynamicObject = serde_json::from_value(manifest.clone()).expect("object");
            match api.get_opt(&name).await.expect("read before apply") {
                None => {
                    api.create(&PostParams::default(), &object)
                        .await
                        .unwrap_or_else(|e| panic!("create {name}: {e}"));
                    if cluster_scoped && !self.is_local() {
                        let kind = match resource.group.as_str() {
                            "" => resource.plural.clone(),
                            group => format!("{}.{group}", resource.plural),
                        };
                        self.created
                            .lock()
                            .expect("created objects")
                            .push(format!("{kind}/{name}"));
                    }
                }
                Some(existing) => {
                    let mut object = object;
                    object.metadata.resource_version = existing.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &object)
                        .await
                        .unwrap_or_else(|e| panic!("replace {name}: {e}"));
                }
            }
            if let Some(status) = manifest.get("status") {
                let patch = Patch::Merge(json!({"status": status}));
                api.patch_status(&name, &PatchParams::default(), &patch)
                    .await
                    .expect("write status");
            }
        }
    }

    /// Reads an object of the scenario's namespace as admin (`None` when absent).
    pub async fn get(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        self.get_in(api_version, kind, &self.namespace, name).await
    }

    /// Reads an object of one of the scenario's namespaces (ignored for cluster-scoped
    /// kinds) as admin (`None` when absent).
    pub async fn get_in(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let client = self.client(Who::Admin).await;
        let mut probe = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}});
        let (api, _) = self.api_for(&client, &mut probe);
        api.get_opt(name)
            .await
            .expect("read")
            .map(|o| serde_json::to_value(o).expect("json"))
    }

    /// Changes an object as admin (read, `change`, replace; retried on conflicts) and
    /// returns it as written. Its status is left as it was.
    pub async fn modify(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut Value),
    ) -> Value {
        let client = self.client(Who::Admin).await;
        for _ in 0..WAIT_ATTEMPTS {
            let mut object = self
                .get_in(api_version, kind, namespace, name)
                .await
                .unwrap_or_else(|| panic!("{kind} {namespace}/{name} exists"));
            change(&mut object);
            if let Some(metadata) = object["metadata"].as_object_mut() {
                metadata.remove("managedFields");
            }
            let (api, _) = self.api_for(&client, &mut object);
            let object: DynamicObject = serde_json::from_value(object).expect("object");
            match api.replace(name, &PostParams::default(), &object).await {
                Ok(written) => return serde_json::to_value(written).expect("json"),
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(err) => panic!("replace {kind} {namespace}/{name}: {err}"),
            }
        }
        panic!("{kind} {namespace}/{name} kept changing under the test");
    }

    /// Waits (bounded) until an object of one of the scenario's namespaces exists and
    /// satisfies `done`, and returns it.
    pub async fn wait_for(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..WAIT_ATTEMPTS {
            if let Some(object) = self.get_in(api_version, kind, namespace, name).await
                && done(&object)
            {
                return object;
            }
            tokio::time::sleep(WAIT_PAUSE).await;
        }
        panic!("{kind} {namespace}/{name} never got to the state the scenario waits for");
    }

    /// Writes a Deployment's rollout status, as its controller would: `ready` replicas
    /// of `spec.replicas` available and updated, generation observed.
    pub async fn set_rollout(&self, deployment: &str, ready: i64) {
        self.write_rollout(&self.namespace, deployment, Rollout::Updated(ready))
            .await;
    }

    /// Writes a Deployment's status as its controller would report `rollout` of its
    /// current generation (no controllers are assumed, on either target).
    pub async fn write_rollout(&self, namespace: &str, deployment: &str, rollout: Rollout) {
        let current = self
            .get_in("apps/v1", "Deployment", namespace, deployment)
            .await
            .unwrap_or_else(|| panic!("deployment {namespace}/{deployment} exists"));
        let client = self.client(Who::Admin).await;
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, self.ns(namespace), &deployment_resource());
        let status = rollout.status(&current);
        let patch = Patch::Merge(json!({"status": status}));
        api.patch_status(deployment, &PatchParams::default(), &patch)
            .await
            .expect("write deployment status");
        // The Pods follow, as the ReplicaSet controller and kubelets would make them.
        match &self.target {
            Target::Local(server) => {
                server
                    .set_deployment_status(self.ns(namespace), deployment, status)
                    .expect("the test API server's pods follow the status");
            }
            Target::Real(_) => self.sync_real_pods(&current, &status).await,
        }
    }

    /// On a real cluster without controllers: `status.replicas` Pods of the Deployment's
    /// current template, the first `status.readyReplicas` of them Ready, bound to a node
    /// that does not exist (so no kubelet runs them) and the others deleted.
    async fn sync_real_pods(&self, deployment: &Value, status: &Value) {
        let client = self.client(Who::Admin).await;
        let namespace = deployment["metadata"]["namespace"]
            .as_str()
            .expect("namespaced");
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, namespace);
        let name = deployment["metadata"]["name"].as_str().expect("named");
        let template = &deployment["spec"]["template"];
        let hash = template_hash(template);
        let wanted: Vec<String> = (0..status["replicas"].as_i64().unwrap_or(0))
            .map(|index| format!("{name}-{hash}-{index}"))
            .collect();
        let selector = deployment["spec"]["selector"]["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
        let existing = pods
            .list(&kube::api::ListParams::default().labels(&selector))
            .await
            .expect("list pods");
        // Gone at once, as the ReplicaSet controller's old Pods are once their kubelet has
        // stopped them: with no kubelet, a graceful delete would leave them Terminating.
        let at_once = kube::api::DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        for pod in existing.items {
            let pod_name = pod.metadata.name.unwrap_or_default();
            if !wanted.contains(&pod_name) {
                pods.delete(&pod_name, &at_once).await.expect("delete pod");
            }
        }
        let ready = status["readyReplicas"].as_i64().unwrap_or(0);
        for (index, pod_name) in (0..).zip(&wanted) {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            labels[CLEANUP_LABEL] = json!("true");
            let mut spec = template["spec"].clone();
            spec["nodeName"] = json!("bluegreen-e2e-no-node");
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": namespace, "labels": labels},
                "spec": spec});
            if pods.get_opt(pod_name).await.expect("read pod").is_none() {
                let pod = serde_json::from_value(pod).expect("pod");
                pods.create(&PostParams::default(), &pod)
                    .await
                    .expect("create pod");
            }
            let is_ready = index < ready;
            let condition = |kind: &str| json!({"type": kind, "status": if is_ready { "True" } else { "False" }});
            let containers: Vec<Value> = spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": is_ready,
                    "restartCount": 0, "started": true, "state": {"running": {}}})
                })
                .collect();
            let patch = Patch::Merge(json!({"status": {"phase": "Running",
                "conditions": [condition("Ready"), condition("ContainersReady")],
                "containerStatuses": containers}}));
            pods.patch_status(pod_name, &PatchParams::default(), &patch)
                .await
                .expect("write pod status");
        }
    }

    /// Plays the deployment controller for one change: waits (bounded) until the
    /// Deployment satisfies `changed` (e.g. the plugin's write landed), then reports its
    /// new generation rolled out with `spec.replicas` replicas.
    pub async fn roll_out_when(
        &self,
        namespace: &str,
        deployment: &str,
        changed: impl Fn(&Value) -> bool,
    ) {
        self.wait_for("apps/v1", "Deployment", namespace, deployment, changed)
            .await;
        self.write_rollout(namespace, deployment, Rollout::Complete)
            .await;
    }

    /// On a real cluster: a ValidatingWebhookConfiguration renamed for this scenario
    /// and limited to its namespaces, so that concurrent scenarios and other workloads
    /// never see it; unchanged on the test API server.
    pub fn scoped_webhooks(&self, configuration: Value) -> Value {
        match self.target {
            Target::Local(_) => configuration,
            Target::Real(_) => scope_webhooks(configuration, &self.suffix, &self.real_names()),
        }
    }

    /// A label selector matching exactly the scenario's namespaces.
    pub fn namespace_selector(&self) -> Value {
        namespace_selector(&self.real_names())
    }

    fn real_names(&self) -> Vec<&str> {
        self.namespaces
            .iter()
            .map(|(_, real)| real.as_str())
            .collect()
    }

    fn api_for(
        &self,
        client: &kube::Client,
        manifest: &mut Value,
    ) -> (Api<DynamicObject>, ApiResource) {
        let api_version = manifest["apiVersion"]
            .as_str()
            .expect("apiVersion")
            .to_string();
        let kind = manifest["kind"].as_str().expect("kind").to_string();
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let plural = format!("{}s", kind.to_lowercase()).replace("policys", "policies");
        let resource = ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.clone(),
            kind: kind.clone(),
            plural,
        };
        let cluster_scoped = matches!(
            kind.as_str(),
            "Namespace"
                | "BlueGreenPolicy"
                | "ValidatingWebhookConfiguration"
                | "MutatingWebhookConfiguration"
                | "ValidatingAdmissionPolicy"
                | "ValidatingAdmissionPolicyBinding"
                | "ClusterRole"
                | "ClusterRoleBinding"
        );
        let api = if cluster_scoped {
            if let Some(metadata) = manifest["metadata"].as_object_mut() {
                metadata.remove("namespace");
            }
            Api::all_with(client.clone(), &resource)
        } else {
            let namespace = match manifest["metadata"]["namespace"].as_str() {
                Some(namespace) => self.ns(namespace).to_string(),
                None => self.namespace.clone(),
            };
            manifest["metadata"]["namespace"] = json!(namespace);
            Api::namespaced_with(client.clone(), &namespace, &resource)
        };
        (api, resource)
    }

    /// On a real cluster: the namespaces, and the RBAC of the CI account and alice.
    async fn prepare_real_cluster(&self, denials: &[(Who, Denial)]) {
        let namespaces: Vec<Value> = self
            .real_names()
            .iter()
            .map(
                |name| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            )
            .collect();
        self.apply(&namespaces).await;
        let logical: Vec<&str> = self
            .namespaces
            .iter()
            .map(|(asked, _)| asked.as_str())
            .collect();
        let objects = real_rbac(&self.suffix, &logical, denials);
        self.apply(&objects).await;
    }
}

/// How far a Deployment's rollout got, as [`Cluster::write_rollout`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// Every replica of the current generation updated and available.
    Complete,
    /// Every replica updated, this many of them available (`Available(0)`: none ready).
    Available(i64),
    /// This many replicas updated and available (mid-rollout).
    Updated(i64),
}

impl Rollout {
    /// The status the deployment controller would write for `deployment`.
    fn status(self, deployment: &Value) -> Value {
        let desired = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
        let (updated, ready) = match self {
            Rollout::Complete => (desired, desired),
            Rollout::Available(ready) => (desired, ready),
            Rollout::Updated(ready) => (ready, ready),
        };
        let available = if ready >= desired { "True" } else { "False" };
        json!({
            "observedGeneration": generation,
            "replicas": desired,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": available, "reason": "MinimumReplicasAvailable"}]
        })
    }
}

/// A stable hash of a pod template, in the alphabet Kubernetes uses for generated names.
fn template_hash(template: &Value) -> String {
    let hash = template
        .to_string()
        .bytes()
        .fold(0x811c_9dc5u32, |hash, byte| {
            (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
        });
    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|digit| char::from(alphabet[usize::from(digit) % alphabet.len()]))
        .collect()
}

fn deployment_resource() -> ApiResource {
    ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    }
}

/// Distinct for every cluster this process starts, and across processes.
fn unique_suffix() -> String {
    static STARTED: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let count = STARTED.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{count:x}", std::process::id() ^ nanos)
}

/// A label selector matching exactly `namespaces` (kube-apiserver labels each
/// namespace with its name).
fn namespace_selector(namespaces: &[&str]) -> Value {
    json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]})
}

/// `configuration` renamed with `suffix`, each webhook also requiring `namespaces`.
fn scope_webhooks(mut configuration: Value, suffix: &str, namespaces: &[&str]) -> Value {
    let name = configuration["metadata"]["name"].as_str().unwrap_or("e2e");
    configuration["metadata"]["name"] = json!(format!("{name}{suffix}"));
    let only_ours = namespace_selector(namespaces)["matchExpressions"][0].clone();
    for webhook in configuration["webhooks"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let selector = &mut webhook["namespaceSelector"];
        if selector.is_null() {
            *selector = json!({});
        }
        match selector["matchExpressions"].as_array_mut() {
            Some(expressions) => expressions.push(only_ours.clone()),
            None => selector["matchExpressions"] = json!([only_ours]),
        }
    }
    configuration
}

/// The RBAC of the CI account and alice on a real cluster: a ClusterRole to read and a
/// Role per namespace to write (see [`CLUSTER_RULES`]), each identity with its own, less
/// what `denials` refuses it. Names end in `suffix`; namespaces are as given to
/// [`Cluster::start_with`] (the cluster maps them when applying).
fn real_rbac(suffix: &str, namespaces: &[&str], denials: &[(Who, Denial)]) -> Vec<Value> {
    let rules = |who: Who,
                 namespace: Option<&str>,
                 table: &[(&str, &str, &[&str])]|
     -> Vec<Value> {
        table
            .iter()
            .filter_map(|(group, resource, verbs)| {
                let verbs: Vec<&str> = verbs
                    .iter()
                    .copied()
                    .filter(|verb| {
                        !denials.iter().any(|(denied, denial)| {
                            let matches =
                                |pattern: &str, actual: &str| pattern == "*" || pattern == actual;
                            *denied == who
                                && matches(&denial.verb, verb)
                                && matches(&denial.group, group)
                                && matches(&denial.resource, resource)
                                && denial
                                    .namespace
                                    .as_deref()
                                    .is_none_or(|ns| Some(ns) == namespace)
                        })
                    })
                    .collect();
                (!verbs.is_empty())
                    .then(|| json!({"apiGroups": [group], "resources": [resource], "verbs": verbs}))
            })
            .collect()
    };
    let mut objects = Vec::new();
    for who in [Who::Ci, Who::Alice] {
        let name = format!("bluegreen-e2e-{who:?}{suffix}").to_lowercase();
        let binding = |kind: &str, role_kind: &str, namespace: Option<&str>| {
            let mut binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
                "subjects": [who.subject()]});
            if let Some(namespace) = namespace {
                binding["metadata"]["namespace"] = json!(namespace);
            }
            binding
        };
        objects.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules(who, None, CLUSTER_RULES)}),
        );
        objects.push(binding("ClusterRoleBinding", "ClusterRole", None));
        for namespace in namespaces {
            objects.push(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": rules(who, Some(namespace), NAMESPACE_RULES)}),
            );
            objects.push(binding("RoleBinding", "Role", Some(namespace)));
        }
    }
    objects
}

impl Drop for Cluster {
    /// On a real cluster, deletes what the scenario created outside its namespaces (the
    /// namespaces themselves, BlueGreenPolicies, webhook configurations, cluster RBAC),
    /// without waiting for the namespaces to be finalized.
    fn drop(&mut self) {
        let Target::Real(_) = self.target else {
            return;
        };
        // The Pods first, at once: they are bound to a node that does not exist, so a
        // graceful delete (the namespace's) would wait for a kubelet forever and leave the
        // namespace Terminating.
        for namespace in self.real_names() {
            self.kubectl_delete(&[
                "pods",
                "--all",
                "--namespace",
                namespace,
                "--grace-period=0",
                "--force",
            ]);
        }
        // In creation order: the namespaces first, so that their contents go while the
        // RBAC and webhooks that may refer to them are deleted.
        let objects = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        let objects: Vec<&str> = objects.iter().map(String::as_str).collect();
        self.kubectl_delete(&objects);
    }
}

impl Cluster {
    /// `kubectl delete --ignore-not-found --wait=false ARGS` as admin; a failure is printed,
    /// since clean-up must go on.
    fn kubectl_delete(&self, args: &[&str]) {
        let deleted = std::process::Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(self.kubeconfig(Who::Admin))
            .args(["delete", "--ignore-not-found", "--wait=false"])
            .args(args)
            .output();
        match deleted {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "cleaning up {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(err) => eprintln!("cleaning up {}: kubectl: {err}", args.join(" ")),
        }
    }
}

/// The admin kubeconfig `admin` (YAML text) with its users impersonating `who`
/// (kubeconfig `as`/`as-groups`) and its contexts defaulting to `namespace`.
fn impersonating(admin: &str, who: Who, namespace: &str) -> String {
    let mut config: serde_yaml::Value = serde_yaml::from_str(admin).expect("kubeconfig YAML");
    if who != Who::Admin {
        for user in config["users"].as_sequence_mut().into_iter().flatten() {
            user["user"]["as"] = who.username().into();
            user["user"]["as-groups"] = who
                .groups()
                .iter()
                .map(|g| serde_yaml::Value::from(*g))
                .collect();
        }
    }
    for context in config["contexts"].as_sequence_mut().into_iter().flatten() {
        context["context"]["namespace"] = namespace.into();
    }
    serde_yaml::to_string(&config).expect("kubeconfig YAML")
}

/// The kubectl binary: the machine's, else the one `.ci/tools.sh` installs.
pub fn kubectl() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| crate::chart::repo().join(".ci/cache/bin/kubectl"))
}

/// A binary of this workspace (`bluegreen-guard`, `kubectl-bluegreen`), built beside
/// the test binary by `cargo test --workspace` (or `cargo build --workspace --bins`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("current exe");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (the README's test command does)",
        path.display()
    );
    path
}

/// stderr of a command, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// stdout of a command, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "apiVersion: v1
kind: Config
current-context: kind-e2e
clusters:
- name: kind-e2e
  cluster: {server: 'https://127.0.0.1:6443', certificate-authority-data: Q0E=}
users:
- name: kind-e2e
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
contexts:
- name: kind-e2e
  context: {cluster: kind-e2e, user: kind-e2e}
";

    fn parsed(text: &str) -> kube::config::Kubeconfig {
        kube::config::Kubeconfig::from_yaml(text).expect("a kubeconfig kube-rs reads")
    }

    #[test]
    fn other_identities_impersonate_through_the_admin_kubeconfig() {
        let ci = parsed(&impersonating(ADMIN, Who::Ci, "shop-1a"));
        let user = ci.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(
            user.impersonate.as_deref(),
            Some("system:serviceaccount:ci:deployer")
        );
        assert_eq!(
            user.impersonate_groups.as_deref(),
            Some(
                &[
                    "system:serviceaccounts".to_string(),
                    "system:serviceaccounts:ci".to_string(),
                    "system:authenticated".to_string()
                ][..]
            )
        );
        assert!(
            user.client_certificate_data.is_some(),
            "still the admin's credentials"
        );
        let context = ci.contexts[0].context.as_ref().expect("context");
        assert_eq!(context.namespace.as_deref(), Some("shop-1a"));
        assert_eq!(ci.current_context.as_deref(), Some("kind-e2e"));

        let alice = parsed(&impersonating(ADMIN, Who::Alice, "web-1a"));
        let user = alice.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(user.impersonate.as_deref(), Some("alice"));
        assert_eq!(
            user.impersonate_groups.as_deref(),
            Some(&["system:authenticated".to_string()][..])
        );
    }

    #[test]
    fn admin_keeps_its_own_identity() {
        let admin = parsed(&impersonating(ADMIN, Who::Admin, "shop-1a"));
        let user = admin.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(user.impersonate, None);
        assert_eq!(user.impersonate_groups, None);
        let context = admin.contexts[0].context.as_ref().expect("context");
        assert_eq!(context.namespace.as_deref(), Some("shop-1a"));
    }

    #[test]
    fn webhooks_on_a_real_cluster_see_only_the_scenarios_namespaces() {
        let configuration = json!({"metadata": {"name": "bluegreen-guard"}, "webhooks": [
            {"name": "a", "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
            {"name": "b"}
        ]});
        let scoped = scope_webhooks(configuration, "-1a", &["shop-1a", "web-1a"]);
        assert_eq!(scoped["metadata"]["name"], json!("bluegreen-guard-1a"));
        let ours = json!({"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop-1a", "web-1a"]});
        assert_eq!(
            scoped["webhooks"][0]["namespaceSelector"]["matchExpressions"],
            json!([{"key": "team", "operator": "Exists"}, ours])
        );
        assert_eq!(
            scoped["webhooks"][1]["namespaceSelector"],
            json!({"matchExpressions": [ours]})
        );
    }

    #[test]
    fn rbac_on_a_real_cluster_leaves_out_what_a_scenario_denies() {
        let denials = [(Who::Alice, Denial::new("patch", "", "services"))];
        let objects = real_rbac("-1a", &["shop"], &denials);
        let find = |kind: &str, name: &str| {
            objects
                .iter()
                .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{kind} {name}"))
        };
        let verbs = |role: &Value, resource: &str| {
            role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["resources"] == json!([resource]))
                .map(|r| r["verbs"].clone())
        };
        let alice = find("Role", "bluegreen-e2e-alice-1a");
        assert_eq!(alice["metadata"]["namespace"], json!("shop"));
        assert_eq!(
            verbs(alice, "services"),
            Some(json!([
                "get", "list", "watch", "create", "update", "delete"
            ]))
        );
        assert_eq!(
            verbs(find("Role", "bluegreen-e2e-ci-1a"), "services"),
            Some(json!(WRITE))
        );
        assert_eq!(
            verbs(
                find("ClusterRole", "bluegreen-e2e-alice-1a"),
                "bluegreenpolicies"
            ),
            Some(json!(READ))
        );
        let binding = find("RoleBinding", "bluegreen-e2e-ci-1a");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}])
        );
        assert_eq!(binding["roleRef"]["name"], json!("bluegreen-e2e-ci-1a"));
    }
}
