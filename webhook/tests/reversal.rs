//! Two writers fighting over a router: a switch that undoes another writer's switch
//! within the warm window is allowed, with a warning naming both, and counted in
//! `bluegreen_guard_switch_reversals_total` (a dry run is warned but not counted).

mod common;

use std::sync::Arc;

use bluegreen_guard::{AppState, admission_router};
use common::{Cluster, post, review, set};
use serde_json::{Value, json};

const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";

/// The captured switch of Service `api` from blue to green by `ci-deployer` (field manager
/// `kubectl-patch`), over a stored record saying `by` (through `manager`) switched it from
/// green to blue at 00:07:50, 2m 10s before the guard's clock.
fn switch_back(by: &str, manager: &str) -> Value {
    let mut switch = review("service-switch");
    let history = json!([{"time": "2026-11-22T00:07:50Z", "from": "green", "to": "blue",
                          "by": by, "manager": manager}]);
    set(
        &mut switch,
        "/request/oldObject/metadata/annotations",
        json!({"bluegreen.dev/live-since": "2026-11-22T00:07:50Z",
               "bluegreen.dev/previous-color": "green",
               "bluegreen.dev/history": history.to_string()}),
    );
    switch
}

/// The `response` of `/validate` for each review in turn, and the metrics afterwards.
async fn validate(cluster: &Cluster, reviews: &[Value]) -> (Vec<Value>, String) {
    let state = AppState::new(cluster.guard());
    let router = admission_router(Arc::clone(&state), std::time::Duration::from_secs(5));
    let mut responses = Vec::new();
    for review in reviews {
        let (status, body) = post(router.clone(), review.to_string()).await;
        assert_eq!(status, 200, "{body}");
        responses.push(body["response"].clone());
    }
    (responses, state.metrics.render(state.guard.cache()))
}

fn assert_no_reversal_counted(metrics: &str) {
    assert!(
        !metrics.contains("bluegreen_guard_switch_reversals_total{"),
        "{metrics}"
    );
}

const WARNING: &str = "svc/api: this switch to green by ci-deployer (field manager kubectl-patch) undoes the switch to blue by system:serviceaccount:argocd:argocd-application-controller (field manager argocd-controller) 2m 10s ago; two writers are switching traffic back and forth: switch through one owner (kubectl bluegreen history svc/api lists who switched)";

#[tokio::test]
async fn a_switch_undoing_another_writers_is_allowed_with_a_warning_and_counted() {
    let cluster = Cluster::service_app();
    let (responses, metrics) =
        validate(&cluster, &[switch_back(ARGOCD, "argocd-controller")]).await;
    assert_eq!(responses[0]["allowed"], true);
    assert_eq!(responses[0]["warnings"], json!([WARNING]));
    assert!(
        metrics.contains(
            "bluegreen_guard_switch_reversals_total{namespace=\"capture\",router=\"svc/api\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "bluegreen_guard_reviews_total{kind=\"Service\",operation=\"UPDATE\",decision=\"warn\"} 1\n"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_dry_run_is_warned_but_not_counted() {
    let cluster = Cluster::service_app();
    let mut dry_run = switch_back(ARGOCD, "argocd-controller");
    set(&mut dry_run, "/request/dryRun", json!(true));
    let (responses, metrics) = validate(&cluster, &[dry_run]).await;
    assert_eq!(responses[0]["warnings"], json!([WARNING]));
    assert_no_reversal_counted(&metrics);
}

#[tokio::test]
async fn the_same_writer_switching_back_is_not_warned() {
    let cluster = Cluster::service_app();
    let (responses, metrics) =
        validate(&cluster, &[switch_back("ci-deployer", "kubectl-patch")]).await;
    assert_eq!(responses[0]["allowed"], true);
    assert_eq!(responses[0].get("warnings"), None, "{}", responses[0]);
    assert_no_reversal_counted(&metrics);
}

#[tokio::test]
async fn a_refused_switch_undoes_nothing() {
    let mut cluster = Cluster::service_app();
    set(
        cluster.object("Deployment", "app-green"),
        "/status",
        json!({}),
    );
    let (responses, metrics) =
        validate(&cluster, &[switch_back(ARGOCD, "argocd-controller")]).await;
    assert_eq!(responses[0]["allowed"], false);
    assert_eq!(responses[0].get("warnings"), None, "{}", responses[0]);
    assert_no_reversal_counted(&metrics);
}
