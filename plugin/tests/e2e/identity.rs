//! BG003 in the pre-flight: with a BlueGreenPolicy naming the CI service account, a
//! person's promote is refused before anything is sent, and CI's switch is recorded
//! with its identity.

use bluegreen_e2e::e2e::Who;
use serde_json::json;

use crate::support::{Env, history};

/// Creates the policy and returns its name.
async fn ci_only(env: &Env) -> String {
    env.put_policy(
        "ci-only",
        json!({"switchIdentities": {"serviceAccounts": ["ci:deployer"]}}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_refused_locally_and_ci_switches() {
    let env = Env::start().await;
    let policy = ci_only(&env).await;
    let before = env.service("shop", "api").await;
    // The whole store's revision: only the test API server's is free of other writers.
    let revision = env.cluster.local_server().map(|s| s.resource_version());

    let refused = env
        .plugin_as(Who::Alice, "shop", &["promote", "svc/api"])
        .await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(
        refused.stderr,
        format!(
            "error: switching svc/api to green is refused by BlueGreenPolicy {policy}; nothing was changed:\n  deny: BG003 switch-identity: user alice may not change the traffic of svc/api: BlueGreenPolicy {policy} allows only serviceaccount ci:deployer; run the switch from CI (kubectl bluegreen promote svc/api) or, in an emergency, as a member of the break-glass group\n"
        )
    );
    assert_eq!(refused.stdout, "");
    let after = env.service("shop", "api").await;
    assert_eq!(
        before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"],
        "the router is unchanged"
    );
    assert_eq!(
        env.cluster.local_server().map(|s| s.resource_version()),
        revision,
        "no write reached the server"
    );

    let promoted = env
        .plugin_as(Who::Ci, "shop", &["promote", "svc/api"])
        .await;
    assert_eq!(promoted.code, 0, "{promoted:?}");
    assert_eq!(
        promoted.stdout,
        format!(
            "svc/api switched from blue to green in namespace {}\n",
            env.ns("shop")
        )
    );
    let service = env.service("shop", "api").await;
    assert_eq!(service["spec"]["selector"]["color"], json!("green"));
    let recorded = history(&service);
    assert_eq!(recorded.last().unwrap()["by"], json!(Who::Ci.username()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_by_a_person_is_refused_too() {
    let env = Env::start().await;
    ci_only(&env).await;
    let run = env
        .plugin_as(Who::Alice, "shop", &["promote", "svc/api", "--dry-run"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("deny: BG003 switch-identity: user alice"),
        "{run:?}"
    );
}
