//! Watching: `promote --watch` rolls back (exit 4) when the new live color loses readiness
//! or its containers restart; `status --watch` redraws when the app changes.

use std::process::Stdio;

use bluegreen_e2e::e2e::{Rollout, Who};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Env, assert_rolled_back_to_blue, assert_said, assert_stayed_healthy};

/// Promotes `svc/api` with a long watch, runs `degrade` right after the switch, and
/// asserts the automatic rollback with `reason` on stderr.
async fn assert_rolled_back(env: &Env, degrade: impl AsyncFnOnce(), reason: &str) {
    let promote = ["promote", "svc/api", "--watch", "10m"];
    let (run, ()) = tokio::join!(
        env.plugin("shop", &promote),
        env.after_switch("shop", "api", "green", degrade),
    );
    let why = format!("green degraded after the switch: {reason}");
    assert_said(&run, &format!("{why}; rolling back to blue\n"));
    let rollback = assert_rolled_back_to_blue(env, &run).await;
    assert_eq!(rollback["reason"], json!(why), "the history says why");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_watch_rolls_back_when_the_new_color_loses_readiness() {
    let env = Env::start().await;
    let degrade = async || {
        env.set_rollout("shop", "api-green", Rollout::Available(0))
            .await;
    };
    assert_rolled_back(
        &env,
        degrade,
        "green (Deployment api-green) is not ready to take traffic: 0/3 replicas available",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's pods, whose container restarts a scenario adds (bump_pod_restart_count)"
)]
async fn promote_watch_rolls_back_when_the_new_colors_containers_restart() {
    let env = Env::start().await;
    let server = env.cluster.test_api_server();
    let pods = server.deployment_pods("shop", "api-green").unwrap();
    let pod = pods[1]["metadata"]["name"].as_str().unwrap().to_string();
    let degrade = async || {
        server.bump_pod_restart_count("shop", &pod).unwrap();
    };
    assert_rolled_back(
        &env,
        degrade,
        &format!("its pod {pod} restarted 1 time since the switch"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's pods, whose container restarts a scenario adds (bump_pod_restart_count)"
)]
async fn restarts_from_before_the_release_do_not_count() {
    let env = Env::start().await;
    let server = env.cluster.test_api_server();
    let pods = server.deployment_pods("shop", "api-green").unwrap();
    let pod = pods[0]["metadata"]["name"].as_str().unwrap();
    server.bump_pod_restart_count("shop", pod).unwrap();
    let run = env
        .plugin("shop", &["promote", "svc/api", "--watch", "1s"])
        .await;
    assert_stayed_healthy(&env, &run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_redraws_on_change_and_ends_when_stdin_closes() {
    let env = Env::start().await;
    let mut child = env
        .command_as(Who::Ci, "shop", &["status", "svc/api", "--watch"])
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
    env.set_rollout("shop", "api-blue", Rollout::Available(0))
        .await;
    assert_eq!(next_health().await, "degraded");
    env.roll_out("shop", "api-blue").await;
    assert_eq!(next_health().await, "healthy");

    drop(child.stdin.take());
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "exits with the health last shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_stops_at_its_timeout_with_the_health_as_exit_code() {
    let env = Env::start().await;
    env.set_rollout("shop", "api-blue", Rollout::Available(0))
        .await;
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
