//! The harness: a cluster (the in-process test API server, or a real one named by
//! `BLUEGREEN_E2E_KUBECONFIG`: see `bluegreen_e2e::e2e::Cluster`) seeded with the fixture
//! apps, and the real `kubectl-bluegreen` binary run as a child process against it.
//!
//! Scenarios name namespaces `shop`, `web` and `default`; on a real cluster they are
//! unique per scenario, so expected messages take the name from [`Env::ns`].

use std::path::Path;
use std::process::Output;

use bluegreen_e2e::Denial;
use bluegreen_e2e::e2e::{Cluster, Rollout, Who};
use serde_json::{Value, json};

/// The binary under test, built by Cargo for this test target.
pub const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-bluegreen");

/// The scenarios' namespaces: the Service app's (first: the cluster's own), the
/// HTTPRoute app's, and one for `init`.
const NAMESPACES: &[&str] = &["shop", "web", "default"];

/// A scenario's cluster and a scratch directory.
pub struct Env {
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
}

/// What one run of the plugin did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Env {
    /// Namespaces `shop` (Service app `svc/api`) and `web` (HTTPRoute app
    /// `httproute/myapp`), seeded from `tests/data/apps.yaml`; both colors of `api` and
    /// the live color of `myapp` rolled out, `myapp`'s green 1/2 available. `denials`:
    /// what RBAC refuses to whom.
    pub async fn start_with(denials: &[(Who, Denial)]) -> Env {
        let cluster = Cluster::start_with(NAMESPACES, denials).await;
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/apps.yaml"),
        )
        .unwrap();
        let mut manifests = Vec::new();
        for document in policy::yaml::documents::<Value>(&mut text.as_bytes()) {
            let mut manifest = document.unwrap();
            if let Some(fields) = manifest.as_object_mut() {
                // The controller's part is written below, for the generation the
                // cluster gives each Deployment.
                fields.remove("status");
                manifests.push(manifest);
            }
        }
        cluster.apply(&manifests).await;
        let env = Env {
            cluster,
            dir: tempfile::tempdir().unwrap(),
        };
        for (ns, name) in [
            ("shop", "api-blue"),
            ("shop", "api-green"),
            ("web", "app-blue"),
        ] {
            env.roll_out(ns, name).await;
        }
        env.set_rollout("web", "app-green", Rollout::Available(1))
            .await;
        env
    }

    pub async fn start() -> Env {
        Env::start_with(&[]).await
    }

    /// The name namespace `shop`, `web` or `default` has on this cluster.
    pub fn ns(&self, name: &str) -> String {
        self.cluster.ns(name).to_string()
    }

    /// A kubeconfig for `who` whose context's namespace is `namespace`.
    pub fn kubeconfig(&self, who: Who, namespace: &str) -> std::path::PathBuf {
        self.cluster.kubeconfig_in(who, namespace)
    }

    /// The command `kubectl-bluegreen ARGS` as `who` in `namespace`, not started: no
    /// colors, no ambient kubeconfig, and no registry credentials (an empty
    /// `$DOCKER_CONFIG`).
    pub fn command_as(&self, who: Who, namespace: &str, args: &[&str]) -> tokio::process::Command {
        self.command_with(&self.kubeconfig(who, namespace), args)
    }

    /// The command `kubectl-bluegreen ARGS --kubeconfig KUBECONFIG`, as [`Env::command_as`].
    pub fn command_with(&self, kubeconfig: &Path, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(PLUGIN);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("NO_COLOR", "1")
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env_remove("KUBECONFIG");
        command
    }

    /// Runs `kubectl-bluegreen ARGS` as `who` in `namespace`.
    pub async fn plugin_as(&self, who: Who, namespace: &str, args: &[&str]) -> Run {
        self.command_as(who, namespace, args)
            .output()
            .await
            .expect("the plugin runs")
            .into()
    }

    /// Runs the plugin as the CI service account.
    pub async fn plugin(&self, namespace: &str, args: &[&str]) -> Run {
        self.plugin_as(Who::Ci, namespace, args).await
    }

    /// An object, which must exist.
    pub async fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Value {
        self.cluster
            .get_in(api_version, kind, namespace, name)
            .await
            .unwrap_or_else(|| panic!("{kind} {namespace}/{name} exists"))
    }

    pub async fn deployment(&self, namespace: &str, name: &str) -> Value {
        self.get("apps/v1", "Deployment", namespace, name).await
    }

    pub async fn service(&self, namespace: &str, name: &str) -> Value {
        self.get("v1", "Service", namespace, name).await
    }

    pub async fn route(&self, namespace: &str, name: &str) -> Value {
        self.get("gateway.networking.k8s.io/v1", "HTTPRoute", namespace, name)
            .await
    }

    /// Writes a Deployment's status as its controller would report `rollout`.
    pub async fn set_rollout(&self, namespace: &str, name: &str, rollout: Rollout) {
        self.cluster.write_rollout(namespace, name, rollout).await;
    }

    /// Reports a Deployment's current generation fully rolled out.
    pub async fn roll_out(&self, namespace: &str, name: &str) {
        self.set_rollout(namespace, name, Rollout::Complete).await;
    }

    /// Changes a Deployment (test set-up, as admin) and reports it rolled out.
    pub async fn modify_deployment(
        &self,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut Value),
    ) {
        self.cluster
            .modify("apps/v1", "Deployment", namespace, name, change)
            .await;
        self.roll_out(namespace, name).await;
    }

    /// Creates a cluster-wide BlueGreenPolicy with `spec`, applying to the scenario's
    /// namespaces only, and returns its name: `name`, made unique on a real cluster.
    pub async fn put_policy(&self, name: &str, mut spec: Value) -> String {
        let name = self.cluster.unique_name(name);
        spec["namespaceSelector"] = self.cluster.namespace_selector();
        self.cluster
            .apply(&[json!({
                "apiVersion": "bluegreen.dev/v1alpha1",
                "kind": "BlueGreenPolicy",
                "metadata": {"name": name},
                "spec": spec,
            })])
            .await;
        name
    }

    /// Waits until Service router `service` selects `color`, then runs `then` (a fault
    /// injected right after the switch).
    pub async fn after_switch(
        &self,
        namespace: &str,
        service: &str,
        color: &str,
        then: impl AsyncFnOnce(),
    ) {
        self.cluster
            .wait_for("v1", "Service", namespace, service, |s| {
                s["spec"]["selector"]["color"] == json!(color)
            })
            .await;
        then().await;
    }

    /// Stands in for the deployment controller: once the Deployment satisfies `ready_when`
    /// (the plugin's write landed), reports it rolled out.
    pub async fn roll_out_when(
        &self,
        namespace: &str,
        name: &str,
        ready_when: impl Fn(&Value) -> bool,
    ) {
        self.cluster
            .roll_out_when(namespace, name, ready_when)
            .await;
    }
}

/// Asserts that `run` (a `promote svc/api --watch`) switched to green and back by itself:
/// exit 4, both switches reported, blue live again with the rollback recorded; returns the
/// rollback's history entry.
pub async fn assert_rolled_back_to_blue(env: &Env, run: &Run) -> Value {
    assert_eq!(run.code, 4, "{run:?}");
    let shop = env.ns("shop");
    assert_eq!(
        run.stdout,
        format!(
            "svc/api switched from blue to green in namespace {shop}\nsvc/api switched from green to blue in namespace {shop}\n"
        )
    );
    let service = assert_live(env, "blue").await;
    let mut switches = history(&service);
    assert_eq!(switches.len(), 3, "the switch and the automatic rollback");
    let rollback = switches.remove(2);
    assert_eq!(
        (&rollback["from"], &rollback["to"]),
        (&json!("green"), &json!("blue"))
    );
    rollback
}

/// Asserts that `run` (a `promote svc/api --watch`) switched to green and kept it there.
pub fn assert_stayed_healthy(env: &Env, run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "svc/api switched from blue to green in namespace {}\nsvc/api stayed healthy on green for the watch; the release is done\n",
            env.ns("shop")
        )
    );
}

/// Asserts that Service router `svc/api` in `shop` sends traffic to `color`; returns it.
pub async fn assert_live(env: &Env, color: &str) -> Value {
    let service = env.service("shop", "api").await;
    assert_eq!(service["spec"]["selector"]["color"], json!(color));
    service
}

/// Asserts that `run` printed `text` on stderr.
pub fn assert_said(run: &Run, text: &str) {
    assert!(run.stderr.contains(text), "expected {text:?} in {run:?}");
}

/// The history annotation of a router, parsed.
pub fn history(router: &Value) -> Vec<Value> {
    router["metadata"]["annotations"]["bluegreen.dev/history"]
        .as_str()
        .map(|text| serde_json::from_str(text).unwrap())
        .unwrap_or_default()
}

/// A local HTTP backend for the API server's proxy: answers every request with
/// `status` and a short body, and counts the requests by path.
pub struct Backend {
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Backend {
    pub async fn start(status: u16, body: &'static str) -> Backend {
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler = move |request: axum::extract::Request| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(request.uri().path().to_string());
                (axum::http::StatusCode::from_u16(status).unwrap(), body)
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, axum::Router::new().fallback(handler))
                .await
                .unwrap();
        });
        Backend { url, requests }
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A Deployment's `bluegreen.dev/verified` annotation, parsed (`Null` when absent).
pub fn verified(deployment: &Value) -> Value {
    deployment["metadata"]["annotations"]["bluegreen.dev/verified"]
        .as_str()
        .map(|text| serde_json::from_str(text).unwrap())
        .unwrap_or(Value::Null)
}
