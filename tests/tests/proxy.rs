//! The API server's proxy to Services and Pods (`.../services/<name>[:port]/proxy/...`), with
//! the traffic of each Pod routed to a local HTTP server of the test.

mod common;

use bluegreen_e2e::{Config, Denial, ProxyTarget, TestApiServer};
use common::{Kubectl, capture_server, raw};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

/// A local backend that answers every request with what it received, as JSON; `/status/<code>`
/// answers with that code.
async fn echo_backend(name: &'static str) -> String {
    let handler = move |request: axum::extract::Request| async move {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let path = parts.uri.path().to_string();
        let code = path
            .strip_prefix("/status/")
            .and_then(|code| code.parse::<u16>().ok())
            .unwrap_or(200);
        let echo = json!({
            "backend": name,
            "method": parts.method.as_str(),
            "path": path,
            "query": parts.uri.query(),
            "body": String::from_utf8_lossy(&body),
            "authorization": parts.headers.get("authorization").is_some(),
        });
        (
            axum::http::StatusCode::from_u16(code).unwrap(),
            [("content-type", "application/json")],
            echo.to_string(),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(handler))
            .await
            .unwrap();
    });
    url
}

fn color_service(color: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": format!("app-{color}"), "namespace": "capture"},
        "spec": {"selector": {"app": "api", "color": color},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    })
}

/// A server whose blue and green Pods answer on their own backends.
async fn routed_server(config: Option<Config>) -> TestApiServer {
    let server = match config {
        Some(config) => TestApiServer::start(config.with_namespace("capture"))
            .await
            .unwrap(),
        None => capture_server().await,
    };
    for manifest in [
        common::deployment("app-blue", "blue", "registry.example.com/api:1.0.0"),
        common::deployment("app-green", "green", "registry.example.com/api:1.1.0"),
        common::service(),
        color_service("blue"),
        color_service("green"),
    ] {
        server.put_object(&manifest).unwrap();
    }
    for color in ["blue", "green"] {
        let backend = echo_backend(if color == "blue" { "blue" } else { "green" }).await;
        let pods = ProxyTarget::Pods(format!("app=api,color={color}"));
        server.route_proxy("capture", pods, &backend).unwrap();
    }
    server
}

/// kube's default client retries 503s with a backoff of up to 15 attempts (minutes): a proxy
/// health check must turn that off, as here, to see "no endpoints" at once.
async fn client_without_retries(server: &TestApiServer, user: &str) -> kube::Client {
    let text = server.kubeconfig(user, "capture").unwrap();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

async fn get_text(client: &kube::Client, path: &str) -> Result<Value, kube::Error> {
    let request = axum::http::Request::get(path).body(Vec::new()).unwrap();
    let text = client.request_text(request).await?;
    Ok(serde_json::from_str(&text).unwrap())
}

fn api_error(result: Result<Value, kube::Error>) -> (u16, String, String) {
    match result {
        Err(kube::Error::Api(status)) => {
            (status.code, status.reason.clone(), status.message.clone())
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn services_reach_a_ready_pod_of_their_selector() {
    let server = routed_server(None).await;
    let client = client_without_retries(&server, "admin").await;
    let path = "/api/v1/namespaces/capture/services/api:80/proxy/healthz?probe=1&full=true";

    let (code, reason, message) = api_error(get_text(&client, path).await);
    assert_eq!((code, reason.as_str()), (503, "ServiceUnavailable"));
    assert_eq!(message, "no endpoints available for service \"api\"");

    server
        .mark_deployment_not_ready("capture", "app-blue")
        .unwrap();
    let (code, _, _) = api_error(get_text(&client, path).await);
    assert_eq!(code, 503, "unready pods are no endpoints");

    server
        .mark_deployment_rolled_out("capture", "app-blue")
        .unwrap();
    let echo = get_text(&client, path).await.unwrap();
    assert_eq!(echo["backend"], "blue");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/healthz");
    assert_eq!(echo["query"], "probe=1&full=true");
    assert_eq!(
        echo["authorization"], false,
        "credentials stay at the API server"
    );

    // The switch moves the router's traffic to the other color's pods.
    server
        .mark_deployment_rolled_out("capture", "app-green")
        .unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "capture");
    let green = json!({"spec": {"selector": {"app": "api", "color": "green"}}});
    services
        .patch("api", &PatchParams::default(), &Patch::Merge(green))
        .await
        .unwrap();
    let echo = get_text(
        &client,
        "/api/v1/namespaces/capture/services/http:api:http/proxy/",
    )
    .await
    .unwrap();
    assert_eq!(
        (echo["backend"].as_str(), echo["path"].as_str()),
        (Some("green"), Some("/"))
    );

    let post =
        axum::http::Request::post("/api/v1/namespaces/capture/services/app-green/proxy/hook")
            .header("content-type", "application/json")
            .body(br#"{"ping":1}"#.to_vec())
            .unwrap();
    let echo: Value = serde_json::from_str(&client.request_text(post).await.unwrap()).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], r#"{"ping":1}"#);
}

#[tokio::test]
async fn service_routes_and_backend_statuses_pass_through() {
    let server = routed_server(None).await;
    server
        .mark_deployment_rolled_out("capture", "app-green")
        .unwrap();
    let own = echo_backend("service-own").await;
    server
        .route_proxy("capture", ProxyTarget::Service("app-green".into()), &own)
        .unwrap();
    let failing = raw(
        &server,
        "admin",
        "GET",
        "/api/v1/namespaces/capture/services/app-green:80/proxy/status/500",
        None,
        "",
    )
    .await;
    assert_eq!(failing.status, 500);
    assert_eq!(failing.header_values("content-type"), ["application/json"]);
    assert_eq!(failing.json()["backend"], "service-own");
    assert_eq!(failing.json()["path"], "/status/500");
}

#[tokio::test]
async fn proxy_errors_are_kube_apiserver_statuses() {
    let config = Config::default().deny("alice", Denial::new("get", "", "services/proxy"));
    let server = routed_server(Some(config)).await;
    server
        .mark_deployment_rolled_out("capture", "app-blue")
        .unwrap();
    let client = client_without_retries(&server, "admin").await;
    let base = "/api/v1/namespaces/capture";
    for (path, code, reason, message) in [
        (
            "services/missing/proxy/",
            404,
            "NotFound",
            "services \"missing\" not found",
        ),
        (
            "services/app-blue:81/proxy/",
            503,
            "ServiceUnavailable",
            "no service port 81 found for service \"app-blue\"",
        ),
        (
            "services/app-blue:grpc/proxy/",
            503,
            "ServiceUnavailable",
            "no endpoints available for service \"app-blue:grpc\"",
        ),
        (
            "services/ftp:app-blue:80/proxy/",
            400,
            "BadRequest",
            "invalid service request \"ftp:app-blue:80\"",
        ),
        (
            "pods/missing/proxy/",
            404,
            "NotFound",
            "pods \"missing\" not found",
        ),
    ] {
        let result = get_text(&client, &format!("{base}/{path}")).await;
        assert_eq!(
            api_error(result),
            (code, reason.to_string(), message.to_string()),
            "{path}"
        );
    }
    let alice = client_without_retries(&server, "alice").await;
    let (code, _, message) =
        api_error(get_text(&alice, &format!("{base}/services/api/proxy/")).await);
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "services \"api\" is forbidden: User \"alice\" cannot get resource \"services/proxy\" \
         in API group \"\" in the namespace \"capture\""
    );
}

#[tokio::test]
async fn pods_are_reached_by_name_or_answer_like_nothing_listens() {
    let server = TestApiServer::start(Config::default().with_namespace("capture"))
        .await
        .unwrap();
    server
        .put_object(&common::deployment(
            "app-blue",
            "blue",
            "registry.example.com/api:1.0.0",
        ))
        .unwrap();
    server
        .mark_deployment_rolled_out("capture", "app-blue")
        .unwrap();
    let pods = server.deployment_pods("capture", "app-blue").unwrap();
    let name = |i: usize| pods[i]["metadata"]["name"].as_str().unwrap().to_string();
    let client = client_without_retries(&server, "admin").await;
    let path = |i: usize| format!("/api/v1/namespaces/capture/pods/{}/proxy/metrics", name(i));

    let (code, reason, message) = api_error(get_text(&client, &path(0)).await);
    assert_eq!((code, reason.as_str()), (503, "ServiceUnavailable"));
    assert_eq!(
        message,
        "error trying to reach service: dial tcp 127.0.0.1:8080: connect: connection refused"
    );

    let backend = echo_backend("first-pod").await;
    server
        .route_proxy("capture", ProxyTarget::Pod(name(0)), &backend)
        .unwrap();
    assert_eq!(
        get_text(&client, &path(0)).await.unwrap()["path"],
        "/metrics"
    );
    assert!(
        get_text(&client, &path(1)).await.is_err(),
        "only that pod is routed"
    );

    // A backend that went away: Go's dial error, as kube-apiserver relays it.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    server
        .route_proxy(
            "capture",
            ProxyTarget::Pod(name(1)),
            &format!("http://{closed}"),
        )
        .unwrap();
    let (_, _, message) = api_error(get_text(&client, &path(1)).await);
    assert_eq!(
        message,
        format!("error trying to reach service: dial tcp {closed}: connect: connection refused")
    );
    assert!(
        server
            .route_proxy("capture", ProxyTarget::Pods("a in (".into()), &backend)
            .is_err()
    );
}

#[tokio::test]
async fn kubectl_get_raw_goes_through_the_proxy() {
    let server = routed_server(None).await;
    let kubectl = Kubectl::new(&server, "system:serviceaccount:ci:deployer");
    let path = "/api/v1/namespaces/capture/services/app-green:80/proxy/healthz";
    let down = kubectl.run(&["get", "--raw", path]).await;
    assert_eq!(down.code, 1);
    assert_eq!(
        down.stderr,
        "Error from server (ServiceUnavailable): no endpoints available for service \"app-green\"\n"
    );

    server
        .mark_deployment_rolled_out("capture", "app-green")
        .unwrap();
    let up = kubectl
        .run(&["get", "--raw", &format!("{path}?verbose=1")])
        .await;
    assert_eq!(up.code, 0, "{}", up.stderr);
    let echo: Value = serde_json::from_str(&up.stdout).unwrap();
    assert_eq!(echo["backend"], "green");
    assert_eq!(echo["path"], "/healthz");
    assert_eq!(echo["query"], "verbose=1");
}
