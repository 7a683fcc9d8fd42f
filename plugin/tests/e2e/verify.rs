//! `verify` through the API server's proxy: the HTTPRoute app's idle Service (service
//! proxy), the Service app's idle pods (pod proxy); marked verified only on success.
//!
//! Test API server only: the proxy's backends are local HTTP servers routed with
//! `route_proxy`, and the pods are the server's stand-ins for controllers and kubelets.

use bluegreen_e2e::{ProxyTarget, TestApiServer};
use serde_json::{Value, json};

use crate::support::{Backend, Env, verified};

/// The `pod-template-hash` every pod of a Deployment runs.
fn template_hash(server: &TestApiServer, namespace: &str, deployment: &str) -> Value {
    let pods = server.deployment_pods(namespace, deployment).unwrap();
    assert!(!pods.is_empty());
    let hash = pods[0]["metadata"]["labels"]["pod-template-hash"].clone();
    assert!(
        pods.iter()
            .all(|p| p["metadata"]["labels"]["pod-template-hash"] == hash)
    );
    hash
}

async fn assert_marked_verified(env: &Env, namespace: &str, deployment: &str) {
    let server = env.cluster.local_server().unwrap();
    let marked = verified(&env.deployment(namespace, deployment).await);
    assert_eq!(
        marked.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["podTemplateHash", "time"]
    );
    assert_eq!(
        marked["podTemplateHash"],
        template_hash(server, namespace, deployment),
        "{marked}"
    );
    let time: jiff::Timestamp = marked["time"].as_str().unwrap().parse().unwrap();
    assert!(time <= jiff::Timestamp::now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's proxy backends (route_proxy) and pods"
)]
async fn an_httproute_app_is_verified_through_its_idle_service() {
    let env = Env::start().await;
    let server = env.cluster.test_api_server();
    server
        .mark_deployment_rolled_out("web", "app-green")
        .unwrap();
    let green = Backend::start(200, "ok").await;
    let blue = Backend::start(200, "ok").await;
    let service = |name: &str| ProxyTarget::Service(name.to_string());
    server
        .route_proxy("web", service("app-green"), &green.url)
        .unwrap();
    server
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
    assert_marked_verified(&env, "web", "app-green").await;
    assert!(verified(&env.deployment("web", "app-blue").await).is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's proxy backends (route_proxy) and pods"
)]
async fn a_service_app_is_verified_pod_by_pod() {
    let env = Env::start().await;
    let server = env.cluster.test_api_server();
    let green = Backend::start(200, "ok").await;
    let pods = ProxyTarget::Pods("app=api,color=green".into());
    server.route_proxy("shop", pods, &green.url).unwrap();

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
    assert_marked_verified(&env, "shop", "api-green").await;

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
    let pod_names: Vec<Value> = server
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
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's proxy backends (route_proxy) and pods"
)]
async fn a_failing_pod_is_named_and_nothing_is_marked() {
    let env = Env::start().await;
    let server = env.cluster.test_api_server();
    let broken = Backend::start(500, "database unreachable").await;
    let pods = ProxyTarget::Pods("app=api,color=green".into());
    server.route_proxy("shop", pods, &broken.url).unwrap();
    let before = env.deployment("shop", "api-green").await;

    let run = env
        .plugin(
            "shop",
            &["verify", "svc/api", "--path", "/healthz", "--port", "8080"],
        )
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    let first = server.deployment_pods("shop", "api-green").unwrap()[0]["metadata"]["name"]
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
    let after = env.deployment("shop", "api-green").await;
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert!(verified(&after).is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's proxy backends (route_proxy) and pods"
)]
async fn a_failing_service_is_named_and_nothing_is_marked() {
    let env = Env::start().await;
    let server = env.cluster.test_api_server();
    server
        .mark_deployment_rolled_out("web", "app-green")
        .unwrap();
    let broken = Backend::start(500, "boom").await;
    let service = ProxyTarget::Service("app-green".into());
    server.route_proxy("web", service, &broken.url).unwrap();

    let run = env
        .plugin("web", &["verify", "httproute/myapp", "--path", "/healthz"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: 1 of 1 requests to green /healthz failed (expected HTTP 200): service/app-green:http answered HTTP 500 (boom); green was not marked verified: fix it and re-run verify, or deploy again\n"
    );
    assert!(verified(&env.deployment("web", "app-green").await).is_null());
}
