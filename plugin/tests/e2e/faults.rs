//! Faults: guard denials shown verbatim, missing RBAC, missing objects.

use bluegreen_e2e::Denial;
use bluegreen_e2e::e2e::Who;
use bluegreen_e2e::recording_webhook::{Answer, RecordingWebhook, webhook_configuration};
use serde_json::json;

use crate::support::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_remote_guard,
    ignore = "needs a webhook on this machine's loopback, which the API server cannot call (BLUEGREEN_E2E_GUARD_URL is set)"
)]
async fn a_guard_denial_is_printed_verbatim_and_exits_2() {
    let env = Env::start().await;
    let message =
        "BG003 switch-identity: user alice may not switch svc/api; switches go through CI";
    let guard = RecordingWebhook::start(move |_| Answer::deny(Some(403), message))
        .await
        .unwrap();
    let entry = guard.webhook_entry(
        "guard.bluegreen.dev",
        "/validate",
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["services"]}]),
        json!({"failurePolicy": "Fail", "objectSelector": {"matchExpressions": [{"key": "bluegreen.dev/app", "operator": "Exists"}]}}),
    );
    let configuration = webhook_configuration("bluegreen-guard", vec![entry]);
    env.cluster
        .apply(&[env.cluster.scoped_webhooks(configuration)])
        .await;
    let run = env
        .plugin_as(Who::Alice, "shop", &["promote", "svc/api"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!("error: admission webhook \"guard.bluegreen.dev\" denied the request: {message}\n")
    );
    assert_eq!(
        env.service("shop", "api").await["spec"]["selector"]["color"],
        json!("blue")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_rbac_names_the_verb_and_resource() {
    let env = Env::start_with(&[(Who::Alice, Denial::new("patch", "", "services"))]).await;
    let run = env
        .plugin_as(Who::Alice, "shop", &["promote", "svc/api"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    let shop = env.ns("shop");
    assert!(
        run.stderr.contains(&format!("you need RBAC permission to patch services in namespace {shop}: ask a cluster admin (check with `kubectl auth can-i patch services -n {shop}`)")),
        "{run:?}"
    );
    assert_eq!(
        env.service("shop", "api").await["spec"]["selector"]["color"],
        json!("blue")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_app_says_how_to_find_one() {
    let env = Env::start().await;
    let run = env.plugin("shop", &["status", "svc/nope"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let shop = env.ns("shop");
    assert_eq!(
        run.stderr,
        format!(
            "error: svc/nope not found in namespace {shop}; list the apps with `kubectl bluegreen list -n {shop}`\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_never_rolls_out_times_out_with_exit_3() {
    let env = Env::start().await;
    let run = env
        .plugin(
            "shop",
            &[
                "deploy",
                "svc/api",
                "--image",
                "api=registry.example.com/api:broken",
                "--timeout",
                "1s",
            ],
        )
        .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("error: deployment/api-green was not rolled out within 1s: green (Deployment api-green) is not ready to take traffic: the controller has not observed its latest spec"),
        "{run:?}"
    );
}
