//! kubectl's connection flags: `--server`, `--certificate-authority`,
//! `--insecure-skip-tls-verify`, `--cluster`, `--user`, `--token`, `--as`, `--as-group`,
//! `--as-uid` and `--request-timeout` override the kubeconfig with kubectl's meanings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bluegreen_e2e::e2e::Who;
use bluegreen_e2e::recording_webhook::{Answer, RecordingWebhook, webhook_configuration};
use serde_json::{Value as Yaml, json};

use crate::support::{Env, Run, history};

/// `who`'s kubeconfig for namespace `shop`, as YAML.
fn kubeconfig(env: &Env, who: Who) -> Yaml {
    let text = std::fs::read_to_string(env.kubeconfig(who, "shop")).unwrap();
    policy::yaml::from_str(&text).unwrap()
}

fn write(env: &Env, name: &str, kubeconfig: &Yaml) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, policy::yaml::to_string(kubeconfig).unwrap()).unwrap();
    path
}

/// The first cluster entry of a kubeconfig.
fn cluster_of(kubeconfig: &mut Yaml) -> &mut Yaml {
    &mut kubeconfig["clusters"][0]["cluster"]
}

/// The API server's URL and its CA (PEM) as the kubeconfig names them.
fn server_and_ca(kubeconfig: &Yaml) -> (String, Vec<u8>) {
    let cluster = &kubeconfig["clusters"][0]["cluster"];
    let server = cluster["server"].as_str().unwrap().to_string();
    let ca = match (
        cluster["certificate-authority-data"].as_str(),
        cluster["certificate-authority"].as_str(),
    ) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        (None, Some(path)) => std::fs::read(path).unwrap(),
        (None, None) => panic!("the scenario's kubeconfig names the API server's CA"),
    };
    (server, ca)
}

async fn run_with(env: &Env, kubeconfig: &Path, args: &[&str]) -> Run {
    let mut command = env.command_with(kubeconfig, args);
    command.output().await.expect("the plugin runs").into()
}

/// The last switch of `svc/api` was recorded as made by the CI account.
async fn assert_switched_by_ci(env: &Env) {
    let service = env.service("shop", "api").await;
    assert_eq!(
        history(&service).last().unwrap()["by"],
        json!(Who::Ci.username())
    );
}

async fn ci_only(env: &Env) {
    env.put_policy(
        "ci-only",
        json!({"switchIdentities": {"serviceAccounts": ["ci:deployer"]}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_certificate_flags_override_the_kubeconfig() {
    let env = Env::start().await;
    let expected = env.plugin("shop", &["status", "svc/api"]).await;
    assert_eq!(expected.code, 0, "{expected:?}");

    let mut broken = kubeconfig(&env, Who::Ci);
    let (server, ca) = server_and_ca(&broken);
    let ca_file = env.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let cluster = cluster_of(&mut broken);
    cluster["server"] = "https://127.0.0.1:1".into();
    let fields = cluster.as_object_mut().unwrap();
    fields.remove("certificate-authority-data");
    fields.remove("certificate-authority");
    let broken = write(&env, "broken.kubeconfig", &broken);

    let unreachable = run_with(&env, &broken, &["status", "svc/api"]).await;
    assert_eq!(unreachable.code, 1, "{unreachable:?}");
    let untrusted = run_with(&env, &broken, &["status", "svc/api", "--server", &server]).await;
    assert_eq!(untrusted.code, 1, "{untrusted:?}");

    let ca_file = ca_file.to_str().unwrap();
    for flags in [
        &["--server", &server, "--certificate-authority", ca_file][..],
        &["--server", &server, "--insecure-skip-tls-verify"][..],
    ] {
        let run = run_with(&env, &broken, &[&["status", "svc/api"][..], flags].concat()).await;
        assert_eq!(run.code, 0, "{flags:?}: {run:?}");
        assert_eq!(run.stdout, expected.stdout, "{flags:?}");
    }

    let missing = run_with(
        &env,
        &broken,
        &[
            "status",
            "svc/api",
            "--server",
            &server,
            "--certificate-authority",
            "/nonexistent/ca.pem",
        ],
    )
    .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.starts_with(
            "error: /nonexistent/ca.pem: cannot read the certificate authority (--certificate-authority)"
        ),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_and_user_pick_kubeconfig_entries() {
    let env = Env::start().await;
    ci_only(&env).await;
    // Alice's kubeconfig, current, pointing at a cluster that does not answer; the CI
    // account's user and the real cluster beside them under other names.
    let mut both = kubeconfig(&env, Who::Alice);
    let ci = kubeconfig(&env, Who::Ci);
    let mut good = ci["clusters"][0].clone();
    good["name"] = "good".into();
    let mut ci_user = ci["users"][0].clone();
    ci_user["name"] = "ci".into();
    cluster_of(&mut both)["server"] = "https://127.0.0.1:1".into();
    both["clusters"].as_array_mut().unwrap().push(good);
    both["users"].as_array_mut().unwrap().push(ci_user);
    let both = write(&env, "both.kubeconfig", &both);

    let unreachable = run_with(&env, &both, &["status", "svc/api"]).await;
    assert_eq!(unreachable.code, 1, "{unreachable:?}");

    let as_alice = run_with(&env, &both, &["promote", "svc/api", "--cluster", "good"]).await;
    assert_eq!(as_alice.code, 2, "{as_alice:?}");
    assert!(
        as_alice.stderr.contains(
            "deny: BG003 switch-identity: user alice may not change the traffic of svc/api"
        ),
        "{as_alice:?}"
    );

    let as_ci = run_with(
        &env,
        &both,
        &["promote", "svc/api", "--cluster", "good", "--user", "ci"],
    )
    .await;
    assert_eq!(as_ci.code, 0, "{as_ci:?}");
    assert_switched_by_ci(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs a bearer token per identity; on a real cluster the admin kubeconfig impersonates them"
)]
async fn token_replaces_the_kubeconfig_users_credentials() {
    let env = Env::start().await;
    ci_only(&env).await;
    let ci = kubeconfig(&env, Who::Ci);
    let token = ci["users"][0]["user"]["token"].as_str().unwrap();
    let alice = env.kubeconfig(Who::Alice, "shop");
    let run = run_with(&env, &alice, &["promote", "svc/api", "--token", token]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_switched_by_ci(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_remote_guard,
    ignore = "needs a webhook on this machine's loopback, which the API server cannot call (BLUEGREEN_E2E_GUARD_URL is set)"
)]
async fn impersonation_flags_reach_the_api_server() {
    let env = Env::start().await;
    ci_only(&env).await;
    let webhook = RecordingWebhook::start(|_| Answer::allow()).await.unwrap();
    let entry = webhook.webhook_entry(
        "record.bluegreen.dev",
        "/validate",
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["services"]}]),
        json!({"failurePolicy": "Fail", "objectSelector": {"matchExpressions": [{"key": "bluegreen.dev/app", "operator": "Exists"}]}}),
    );
    env.cluster
        .apply(&[env
            .cluster
            .scoped_webhooks(webhook_configuration("record", vec![entry]))])
        .await;

    let admin = env.kubeconfig(Who::Admin, "shop");
    let run = run_with(
        &env,
        &admin,
        &[
            "promote",
            "svc/api",
            "--as",
            Who::Ci.username(),
            "--as-group",
            "system:serviceaccounts",
            "--as-group",
            "release-managers",
            "--as-uid",
            "ci-run-42",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let switch = webhook
        .calls()
        .into_iter()
        .find(|call| call.request()["name"] == "api")
        .expect("the switch reached the webhook");
    assert_eq!(
        switch.request()["userInfo"],
        json!({"username": Who::Ci.username(), "uid": "ci-run-42",
               "groups": ["system:serviceaccounts", "release-managers", "system:authenticated"]})
    );
    assert_switched_by_ci(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_bounds_a_server_that_never_answers() {
    let env = Env::start().await;
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let server = format!("https://{address}");
    let admin = env.kubeconfig(Who::Admin, "shop");
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        run_with(
            &env,
            &admin,
            &[
                "status",
                "svc/api",
                "--server",
                &server,
                "--request-timeout",
                "1s",
            ],
        ),
    )
    .await
    .expect("--request-timeout ends the command");
    assert_eq!(run.code, 1, "{run:?}");
    // Several reads go out at once; whichever times out first is named.
    assert!(
        run.stderr.contains(": the API server did not answer; check the cluster is reachable (kubectl cluster-info) or raise --request-timeout"),
        "{run:?}"
    );
}
