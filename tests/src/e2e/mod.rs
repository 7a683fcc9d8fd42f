//! What end-to-end scenarios run against: the in-process test API server, or a real
//! cluster when `BLUEGREEN_E2E_KUBECONFIG` names a kubeconfig (an API server without
//! controllers is enough: scenarios write Deployment status themselves). Scenarios use
//! only this module, so the same code runs against both.

pub mod apps;
pub mod guard;
mod objects;
mod rbac;
pub mod released;
mod rollout;
mod tools;
mod webhooks;
mod who;

pub use rollout::Rollout;
pub use tools::{kubectl, stderr, stdout, workspace_binary};
pub use who::Who;

use std::path::PathBuf;
use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::apiserver::{Config, Denial, TestApiServer};
use rbac::real_rbac;
use who::impersonating;

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

    fn real_names(&self) -> Vec<&str> {
        self.namespaces
            .iter()
            .map(|(_, real)| real.as_str())
            .collect()
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
