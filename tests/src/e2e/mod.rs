//! What end-to-end scenarios run against: the in-process test API server, or a real
//! cluster when `BLUEGREEN_E2E_KUBECONFIG` names a kubeconfig (an API server without
//! controllers is enough: scenarios write Deployment status themselves). Scenarios use
//! only this module, so the same code runs against both.

pub mod apps;
pub mod guard;

use std::path::{Path, PathBuf};
use std::process::Output;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use crate::apiserver::{Config, TestApiServer};

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
}

enum Target {
    Local(TestApiServer),
    /// A real API server: the admin kubeconfig, impersonating the other identities.
    Real(PathBuf),
}

/// One scenario's cluster and namespace.
pub struct Cluster {
    target: Target,
    /// The scenario's namespace (unique per scenario on a real cluster).
    pub namespace: String,
    dir: tempfile::TempDir,
}

/// The environment variable naming a real cluster's admin kubeconfig.
pub const REAL_CLUSTER_ENV: &str = "BLUEGREEN_E2E_KUBECONFIG";

impl Cluster {
    /// A fresh namespace called `<name>` (plus a unique suffix on a real cluster) on the
    /// test API server, or on the real cluster when `BLUEGREEN_E2E_KUBECONFIG` is set.
    pub async fn start(name: &str) -> Cluster {
        crate::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temporary directory");
        let (target, namespace) = match std::env::var_os(REAL_CLUSTER_ENV) {
            Some(path) => {
                let suffix = format!("{:x}", std::process::id() ^ rand_suffix());
                (
                    Target::Real(PathBuf::from(path)),
                    format!("{name}-{suffix}"),
                )
            }
            None => {
                let server = TestApiServer::start(Config::default().with_namespace(name))
                    .await
                    .expect("the test API server starts");
                (Target::Local(server), name.to_string())
            }
        };
        let cluster = Cluster {
            target,
            namespace,
            dir,
        };
        if let Target::Real(_) = cluster.target {
            cluster.prepare_real_namespace().await;
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

    /// A kubeconfig file for `who`, defaulting to the scenario's namespace.
    pub fn kubeconfig(&self, who: Who) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("{who:?}.kubeconfig").to_lowercase());
        if path.exists() {
            return path;
        }
        let text = match &self.target {
            Target::Local(server) => server
                .kubeconfig(who.username(), &self.namespace)
                .expect("known user"),
            Target::Real(admin) => impersonating(admin, who, &self.namespace),
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

    /// Creates or replaces objects as admin, in the scenario's namespace when namespaced.
    /// On the test API server this goes through admission like any write.
    pub async fn apply(&self, manifests: &[Value]) {
        let client = self.client(Who::Admin).await;
        for manifest in manifests {
            let mut manifest = manifest.clone();
            let api = self.api_for(&client, &mut manifest);
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

    /// Reads an object as admin (`None` when absent).
    pub async fn get(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        let client = self.client(Who::Admin).await;
        let mut probe =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        let api = self.api_for(&client, &mut probe);
        api.get_opt(name)
            .await
            .expect("read")
            .map(|o| serde_json::to_value(o).expect("json"))
    }

    /// Writes a Deployment's rollout status, as its controller would: `ready` replicas
    /// of `spec.replicas` available and updated, generation observed.
    pub async fn set_rollout(&self, deployment: &str, ready: i64) {
        let current = self
            .get("apps/v1", "Deployment", deployment)
            .await
            .expect("deployment exists");
        let desired = current["spec"]["replicas"].as_i64().unwrap_or(1);
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
        let status = json!({
            "observedGeneration": generation,
            "replicas": desired,
            "updatedReplicas": ready,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": if ready >= desired { "True" } else { "False" }, "reason": "MinimumReplicasAvailable"}]
        });
        let client = self.client(Who::Admin).await;
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, &self.namespace, &deployment_resource());
        api.patch_status(
            deployment,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("write deployment status");
    }

    fn api_for(&self, client: &kube::Client, manifest: &mut Value) -> Api<DynamicObject> {
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
                | "ValidatingAdmissionPolicy"
                | "ValidatingAdmissionPolicyBinding"
                | "ClusterRole"
                | "ClusterRoleBinding"
        );
        if cluster_scoped {
            Api::all_with(client.clone(), &resource)
        } else {
            manifest["metadata"]["namespace"] = json!(self.namespace);
            Api::namespaced_with(client.clone(), &self.namespace, &resource)
        }
    }

    /// On a real cluster: the namespace, and the RBAC that lets the CI account and
    /// alice patch routers and Deployments, so refusals come from admission, not RBAC.
    async fn prepare_real_namespace(&self) {
        self.apply(&[
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}),
        ])
        .await;
        self.apply(&[
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "bluegreen-e2e"},
                "rules": [
                    {"apiGroups": ["", "apps", "networking.k8s.io", "gateway.networking.k8s.io"], "resources": ["services", "deployments", "deployments/scale", "networkpolicies", "httproutes", "pods", "events"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}
                ]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "bluegreen-e2e"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bluegreen-e2e"},
                "subjects": [
                    {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"},
                    {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}
                ]}),
        ])
        .await;
    }
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

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// The admin kubeconfig with its user impersonating `who` (kubeconfig `as`/`as-groups`).
fn impersonating(admin: &Path, who: Who, namespace: &str) -> String {
    let text = std::fs::read_to_string(admin).expect("read BLUEGREEN_E2E_KUBECONFIG");
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig YAML");
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
