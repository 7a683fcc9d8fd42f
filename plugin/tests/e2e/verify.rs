//! `verify` through the API server's proxy: the HTTPRoute app's idle Service (service
//! proxy), the Service app's idle pods (pod proxy); marked verified only on success.

use bluegreen_e2e::ProxyTarget;
use serde_json::{Value, json};

use crate::support::{Backend, Env, verified};

/// The `pod-template-hash` every pod of a Deployment runs.
fn template_hash(env: &Env, namespace: &str, deployment: &str) -> Value {
    let pods = env.server.deployment_pods(namespace, deployment).unwrap();
    assert!(!pods.is_empty());
    let hash = pods[0]["metadata"]["labels"]["pod-template-hash"].clone();
    assert!(
        pods.iter()
            .all(|p| p["metadata"]["labels"]["pod-template-hash"] == hash)
    );
    hash
}

fn assert_marked_verified(env: &Env, namespace: &str, deployment: &str) {
    let marked = verified(&env.deployment(namespace, deployment));
    assert_eq!(
        marked.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["podTemplateHash", "time"]
    );
    assert_eq!(
        marked["podTemplateHash"],
        template_hash(env, namespace, deployment),
        "{marked}"
    );
    let time: jiff::Timestamp = marked["time"].as_str().unwrap().parse().unwrap();
    assert!(time <= jiff::Timestamp::now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_httproute_app_is_verified_through_its_idle_service() {
    let env = Env::start().await;
    env.server
        .mark_deployment_rolled_out("web", "app-green")
        .unwrap();
    let green = Backend::start(200, "ok").await;
    let blue = Backend::start(200, "ok").await;
    let service = |name: &str| ProxyTarget::Service(name.to_string());
    env.server
        .route_proxy("web", service("app-green"), &green.url)
        .unwrap();
    env.server
        .route_proxy("web", service("app-blue"), &blue.url)
        .unwrap();

    let run = env
        .plugin(
            "web",
            &[
                "verify",
                "httproute/myapp",
                "--path",
                "/healthz",
                "--requests",
                "3",
            ],
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "green passed 3 requests to /healthz (HTTP 200); deployment/app-green is marked verified; next: kubectl bluegreen promote httproute/myapp\n"
    );
    assert_eq!(green.requests(), ["/healthz"; 3]);
    assert!(
        blue.requests().is_empty(),
        "the live color gets no test traffic"
    );
    assert_marked_verified(&env, "web", "app-green");
    assert!(verified(&env.deployment("web", "app-blue")).is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_app_is_verified_pod_by_pod() {
    let env = Env::start().await;
    let green = Backend::start(200, "ok").await;
    let pods = ProxyTarget::Pods("app=api,color=green".into());
    env.server.route_proxy("shop", pods, &green.url).unwrap();

    let run = env
        .plugin(
            "shop",
            &["verify", "svc/api", "--path", "/healthz", "--port", "8080"],
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "green passed 3 requests to /healthz (HTTP 200); deployment/api-green is marked verified; next: kubectl bluegreen promote svc/api\n"
    );
    assert_eq!(
        green.requests(),
        ["/healthz"; 3],
        "one request per ready pod"
    );
    assert_marked_verified(&env, "shop", "api-green");

    // -o json lists every probe.
    let run = env
        .plugin(
            "shop",
            &[
                "verify", "svc/api", "--path", "/healthz", "--port", "8080", "-o", "json",
            ],
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let probes: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let pod_names: Vec<Value> = env
        .server
        .deployment_pods("shop", "api-green")
        .unwrap()
        .iter()
        .map(|p| {
            json!(format!(
                "pod/{}:8080",
                p["metadata"]["name"].as_str().unwrap()
            ))
        })
        .collect();
    assert_eq!(
        probes
            .iter()
            .map(|p| p["target"].clone())
            .collect::<Vec<_>>(),
        pod_names
    );
    assert!(probes.iter().all(|p| p["status"] == json!(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pod_is_named_and_nothing_is_marked() {
    let env = Env::start().await;
    let broken = Backend::start(500, "database unreachable").await;
    let pods = ProxyTarget::Pods("app=api,color=green".into());
    env.server.route_proxy("shop", pods, &broken.url).unwrap();
    let before = env.deployment("shop", "api-green");

    let run = env
        .plugin(
            "shop",
            &["verify", "svc/api", "--path", "/healthz", "--port", "8080"],
        )
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    let first = env.server.deployment_pods("shop", "api-green").unwrap()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        run.stderr,
        format!(
            "error: 3 of 3 requests to green /healthz failed (expected HTTP 200): pod/{first}:8080 answered HTTP 500 (database unreachable); green was not marked verified: fix it and re-run verify, or deploy again\n"
        )
    );
    assert_eq!(run.stdout, "");
    let after = env.deployment("shop", "api-green");
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert!(verified(&after).is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_is_named_and_nothing_is_marked() {
    let env = Env::start().await;
    env.server
        .mark_deployment_rolled_out("web", "app-green")
        .unwrap();
    let broken = Backend::start(500, "boom").await;
    let service = ProxyTarget::Service("app-green".into());
    env.server.route_proxy("web", service, &broken.url).unwrap();

    let run = env
        .plugin("web", &["verify", "httproute/myapp", "--path", "/healthz"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: 1 of 1 requests to green /healthz failed (expected HTTP 200): service/app-green:http answered HTTP 500 (boom); green was not marked verified: fix it and re-run verify, or deploy again\n"
    );
    assert!(verified(&env.deployment("web", "app-green")).is_null());
}
