//! The harness: a test API server seeded with the fixture apps, kubeconfigs per user,
//! and the real `kubectl-bluegreen` binary run as a child process against it.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use bluegreen_e2e::{Config, TestApiServer};
use serde::Deserialize;
use serde_json::{Value, json};

/// The binary under test, built by Cargo for this test target.
pub const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-bluegreen");

/// A running test API server and a scratch directory for kubeconfigs.
pub struct Env {
    pub server: TestApiServer,
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
    /// A server with namespaces `shop` (Service app `svc/api`) and `web` (HTTPRoute
    /// app `httproute/myapp`), seeded from `tests/data/apps.yaml`, both colors of `api`
    /// and the live color of `myapp` rolled out; `myapp`'s green is 1/2 available.
    pub async fn start_with(config: Config) -> Env {
        let server = TestApiServer::start(config.with_namespace("shop").with_namespace("web"))
            .await
            .expect("the test API server starts");
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/apps.yaml"),
        )
        .unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let manifest = Value::deserialize(document).unwrap();
            if !manifest.is_null() {
                server
                    .put_object(&manifest)
                    .expect("seeding a fixture object");
            }
        }
        for (ns, name) in [
            ("shop", "api-blue"),
            ("shop", "api-green"),
            ("web", "app-blue"),
        ] {
            server.mark_deployment_rolled_out(ns, name).unwrap();
        }
        Env {
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub async fn start() -> Env {
        Env::start_with(Config::default()).await
    }

    /// A kubeconfig for `user` whose context's namespace is `namespace`.
    pub fn kubeconfig(&self, user: &str, namespace: &str) -> PathBuf {
        let dir = self.dir.path().join(namespace);
        std::fs::create_dir_all(&dir).unwrap();
        self.server.write_kubeconfig(user, namespace, &dir).unwrap()
    }

    /// The command `kubectl-bluegreen ARGS` as `user` in `namespace`, not started: no
    /// colors, no ambient kubeconfig, and no registry credentials (an empty
    /// `$DOCKER_CONFIG`).
    pub fn command_as(
        &self,
        user: &str,
        namespace: &str,
        args: &[&str],
    ) -> tokio::process::Command {
        let kubeconfig = self.kubeconfig(user, namespace);
        let mut command = tokio::process::Command::new(PLUGIN);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("NO_COLOR", "1")
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env_remove("KUBECONFIG");
        command
    }

    /// Runs `kubectl-bluegreen ARGS` as `user` in `namespace`.
    pub async fn plugin_as(&self, user: &str, namespace: &str, args: &[&str]) -> Run {
        self.command_as(user, namespace, args)
            .output()
            .await
            .expect("the plugin runs")
            .into()
    }

    /// Runs the plugin as the CI service account.
    pub async fn plugin(&self, namespace: &str, args: &[&str]) -> Run {
        self.plugin_as("system:serviceaccount:ci:deployer", namespace, args)
            .await
    }

    /// A stored object.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Value {
        self.server
            .object(api_version, kind, Some(namespace), name)
            .unwrap_or_else(|| panic!("{kind} {namespace}/{name} exists"))
    }

    pub fn deployment(&self, namespace: &str, name: &str) -> Value {
        self.get("apps/v1", "Deployment", namespace, name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Value {
        self.get("v1", "Service", namespace, name)
    }

    pub fn route(&self, namespace: &str, name: &str) -> Value {
        self.get("gateway.networking.k8s.io/v1", "HTTPRoute", namespace, name)
    }

    /// Changes a stored Deployment (test set-up, no admission) and marks it rolled out.
    pub fn modify_deployment(&self, namespace: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut deployment = self.deployment(namespace, name);
        change(&mut deployment);
        self.server.put_object(&deployment).unwrap();
        self.server
            .mark_deployment_rolled_out(namespace, name)
            .unwrap();
    }

    /// Stores a cluster-wide BlueGreenPolicy `name` with `spec`.
    pub fn put_policy(&self, name: &str, spec: Value) {
        self.server
            .put_object(&json!({
                "apiVersion": "bluegreen.dev/v1alpha1",
                "kind": "BlueGreenPolicy",
                "metadata": {"name": name},
                "spec": spec,
            }))
            .expect("storing the policy");
    }

    /// Waits until Service router `service` selects `color`, then runs `then` (a fault
    /// injected right after the switch).
    pub async fn after_switch(
        &self,
        namespace: &str,
        service: &str,
        color: &str,
        then: impl FnOnce(),
    ) {
        loop {
            if self.service(namespace, service)["spec"]["selector"]["color"] == json!(color) {
                then();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stands in for the deployment controller: once the Deployment satisfies `ready_when`
    /// (the plugin's write landed), marks it rolled out.
    pub async fn roll_out_when(
        &self,
        namespace: &str,
        name: &str,
        ready_when: impl Fn(&Value) -> bool,
    ) {
        loop {
            if ready_when(&self.deployment(namespace, name)) {
                self.server
                    .mark_deployment_rolled_out(namespace, name)
                    .unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
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
