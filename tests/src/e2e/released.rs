//! The starting point of the guard's scenarios: an app released with the guard running
//! and registered with the chart's webhook configuration, and what they assert with.

use std::path::Path;

use serde_json::Value;

use super::Cluster;
use super::apps;
use super::guard::Guard;

/// `kubectl bluegreen ARGS` as `who` (a child process: the test API server runs on the
/// test's runtime, which must not be blocked).
pub async fn bluegreen_as(
    cluster: &Cluster,
    who: super::Who,
    args: &[&str],
) -> std::process::Output {
    tokio::process::Command::new(super::workspace_binary("kubectl-bluegreen"))
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig(who))
        .output()
        .await
        .expect("the plugin runs")
}

/// `kubectl bluegreen ARGS` as the CI account.
pub async fn bluegreen(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    bluegreen_as(cluster, super::Who::Ci, args).await
}

/// Service `api` as stored now.
pub async fn service_api(cluster: &Cluster) -> Value {
    cluster
        .get("v1", "Service", "api")
        .await
        .expect("service api")
}

/// A Helm major version the scenarios drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helm {
    /// Helm 4: server-side apply.
    V4,
    /// Helm 3: client-side three-way merge.
    V3,
}

/// `helm ARGS` (`version`) as the CI account in the scenario's namespace, run from the
/// repository root, with helm's own state in scratch folders.
pub async fn helm(cluster: &Cluster, version: Helm, args: &[&str]) -> std::process::Output {
    let binary = match version {
        Helm::V4 => crate::chart::helm(),
        Helm::V3 => crate::chart::helm3(),
    };
    tokio::process::Command::new(binary)
        .current_dir(crate::chart::repo())
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig(super::Who::Ci))
        .env("HELM_CACHE_HOME", cluster.scratch("helm-cache"))
        .env("HELM_CONFIG_HOME", cluster.scratch("helm-config"))
        .env("HELM_DATA_HOME", cluster.scratch("helm-data"))
        .output()
        .await
        .expect("helm runs")
}

/// The merge patch that points Service `api` at green.
pub const SWITCH_TO_GREEN: &str = r#"{"spec":{"selector":{"app":"api","color":"green"}}}"#;
/// `kubectl patch` switching Service `api` to green.
pub const SWITCH: &[&str] = &["patch", "svc", "api", "-p", SWITCH_TO_GREEN];
/// The same switch, judged by admission but not stored.
pub const DRY_RUN_SWITCH: &[&str] = &[
    "patch",
    "svc",
    "api",
    "--dry-run=server",
    "-p",
    SWITCH_TO_GREEN,
];

/// The Service-selector app (blue live) with `green_ready` of 3 green replicas
/// available, the policy with `rules`, then the guard started and registered.
pub async fn release(name: &str, green_ready: i64, rules: Value) -> (Cluster, Guard) {
    release_with(name, apps::service_app("blue"), green_ready, rules).await
}

/// Like [`release`] with other manifests (their Deployments `api-blue` and `api-green`).
pub async fn release_with(
    name: &str,
    manifests: Vec<Value>,
    green_ready: i64,
    rules: Value,
) -> (Cluster, Guard) {
    let cluster = Cluster::start(name).await;
    let mut objects = manifests;
    objects.push(apps::policy(&cluster.namespace, rules));
    cluster.apply(&objects).await;
    cluster.set_rollout("api-blue", 3).await;
    cluster.set_rollout("api-green", green_ready).await;
    let guard = Guard::start(&cluster).await;
    guard.register(&cluster, &[]).await;
    (cluster, guard)
}

/// Service `api`'s color and resourceVersion, to show a refused write changed nothing.
pub async fn selector_color(cluster: &Cluster) -> (String, String) {
    let service = cluster
        .get("v1", "Service", "api")
        .await
        .expect("service api");
    (
        service["spec"]["selector"]["color"]
            .as_str()
            .unwrap()
            .to_string(),
        service["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// What kubectl prints when the chart's webhook `<webhook>.bluegreen.dev` refuses a write.
pub fn denied(webhook: &str, message: &str) -> String {
    format!(
        "Error from server: admission webhook \"{webhook}.bluegreen.dev\" denied the request: {message}\n"
    )
}

/// What kubectl prints when `kubectl create -f FILE` is refused by the chart's webhook
/// `<webhook>.bluegreen.dev`.
pub fn denied_creating(file: &Path, webhook: &str, message: &str) -> String {
    format!(
        "Error from server: error when creating \"{}\": {}",
        file.display(),
        denied(webhook, message).trim_start_matches("Error from server: ")
    )
}

/// BG008's message for `action` ("deleting it", "scaling it to 0 replicas") on Deployment
/// `api-blue`, the previous color of svc/api since a switch at `switched` (warm window 30m).
pub fn warm_blue(switched: jiff::Timestamp, action: &str) -> String {
    let until = switched + jiff::SignedDuration::from_mins(30);
    format!(
        "BG008 warm-rollback: Deployment api-blue runs the previous color blue of svc/api, kept warm for rollback until {until} (warm window 30m after the switch at {switched}); {action} now would make a rollback slow; wait until {until}, then retire it (kubectl bluegreen retire svc/api)"
    )
}
