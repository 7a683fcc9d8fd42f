//! BG003 in the pre-flight: with a BlueGreenPolicy naming the CI service account, a
//! person's promote is refused before anything is sent, and CI's switch is recorded
//! with its identity.

use serde_json::json;

use crate::support::{Env, history};

const CI: &str = "system:serviceaccount:ci:deployer";

fn ci_only(env: &Env) {
    env.put_policy(
        "ci-only",
        json!({"switchIdentities": {"serviceAccounts": ["ci:deployer"]}}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_refused_locally_and_ci_switches() {
    let env = Env::start().await;
    ci_only(&env);
    let before = env.service("shop", "api");
    let revision = env.server.resource_version();

    let refused = env
        .plugin_as("alice", "shop", &["promote", "svc/api"])
        .await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(
        refused.stderr,
        "error: switching svc/api to green is refused by BlueGreenPolicy ci-only; nothing was changed:\n  deny: BG003 switch-identity: user alice may not change the traffic of svc/api: BlueGreenPolicy ci-only allows only serviceaccount ci:deployer; run the switch from CI (kubectl bluegreen promote svc/api) or, in an emergency, as a member of the break-glass group\n"
    );
    assert_eq!(refused.stdout, "");
    let after = env.service("shop", "api");
    assert_eq!(
        before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"],
        "the router is unchanged"
    );
    assert_eq!(
        env.server.resource_version(),
        revision,
        "no write reached the server"
    );

    let promoted = env.plugin_as(CI, "shop", &["promote", "svc/api"]).await;
    assert_eq!(promoted.code, 0, "{promoted:?}");
    assert_eq!(
        promoted.stdout,
        "svc/api switched from blue to green in namespace shop\n"
    );
    let service = env.service("shop", "api");
    assert_eq!(service["spec"]["selector"]["color"], json!("green"));
    let recorded = history(&service);
    assert_eq!(recorded.last().unwrap()["by"], json!(CI));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_by_a_person_is_refused_too() {
    let env = Env::start().await;
    ci_only(&env);
    let run = env
        .plugin_as("alice", "shop", &["promote", "svc/api", "--dry-run"])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("deny: BG003 switch-identity: user alice"),
        "{run:?}"
    );
}
