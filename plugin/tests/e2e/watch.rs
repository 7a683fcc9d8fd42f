//! Watching: `promote --watch` rolls back when the new live color loses readiness or its
//! containers restart; `status --watch` redraws when the app changes.

use std::process::Stdio;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Env, history};

/// Promotes `svc/api` with a long watch, runs `degrade` right after the switch, and
/// asserts the automatic rollback with `reason` on stderr.
async fn assert_rolled_back(env: &Env, degrade: impl FnOnce(), reason: &str) {
    let promote = ["promote", "svc/api", "--watch", "10m"];
    let (run, ()) = tokio::join!(
        env.plugin("shop", &promote),
        env.after_switch("shop", "api", "green", degrade),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "green degraded after the switch: {reason}; rolling back to blue\n"
        )),
        "expected {reason:?} in {run:?}"
    );
    assert_eq!(
        run.stdout,
        "svc/api switched from blue to green in namespace shop\nsvc/api switched from green to blue in namespace shop\n"
    );
    let service = env.service("shop", "api");
    assert_eq!(service["spec"]["selector"]["color"], json!("blue"));
    assert_eq!(
        history(&service).len(),
        3,
        "the switch and the automatic rollback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_watch_rolls_back_when_the_new_color_loses_readiness() {
    let env = Env::start().await;
    let degrade = || {
        env.server
            .mark_deployment_not_ready("shop", "api-green")
            .unwrap();
    };
    assert_rolled_back(
        &env,
        degrade,
        "green (Deployment api-green) is not ready to take traffic: 0/3 replicas available",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_watch_rolls_back_when_the_new_colors_containers_restart() {
    let env = Env::start().await;
    let pods = env.server.deployment_pods("shop", "api-green").unwrap();
    let pod = pods[1]["metadata"]["name"].as_str().unwrap().to_string();
    let degrade = || {
        env.server.bump_pod_restart_count("shop", &pod).unwrap();
    };
    assert_rolled_back(
        &env,
        degrade,
        &format!("its pod {pod} restarted 1 time since the switch"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_from_before_the_release_do_not_count() {
    let env = Env::start().await;
    let pods = env.server.deployment_pods("shop", "api-green").unwrap();
    let pod = pods[0]["metadata"]["name"].as_str().unwrap();
    env.server.bump_pod_restart_count("shop", pod).unwrap();
    let run = env
        .plugin("shop", &["promote", "svc/api", "--watch", "1s"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "svc/api switched from blue to green in namespace shop\nsvc/api stayed healthy on green for the watch; the release is done\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_redraws_on_change_and_ends_when_stdin_closes() {
    let env = Env::start().await;
    let mut child = env
        .command_as(
            "system:serviceaccount:ci:deployer",
            "shop",
            &["status", "svc/api", "--watch"],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_health = async || loop {
        let line = lines.next_line().await.unwrap().expect("more output");
        if let Some(health) = line.strip_prefix("Health:  ") {
            return health.to_string();
        }
    };
    assert_eq!(next_health().await, "healthy");
    env.server
        .mark_deployment_not_ready("shop", "api-blue")
        .unwrap();
    assert_eq!(next_health().await, "degraded");
    env.server
        .mark_deployment_rolled_out("shop", "api-blue")
        .unwrap();
    assert_eq!(next_health().await, "healthy");

    drop(child.stdin.take());
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "exits with the health last shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_stops_at_its_timeout_with_the_health_as_exit_code() {
    let env = Env::start().await;
    env.server
        .mark_deployment_not_ready("shop", "api-blue")
        .unwrap();
    let run = env
        .plugin("shop", &["status", "svc/api", "--watch", "--timeout", "1s"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout.matches("Health:  degraded").count(),
        1,
        "{run:?}"
    );
}
