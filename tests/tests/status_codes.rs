//! Error and success bodies compared byte for byte with the captured kube-apiserver responses.

mod common;

use common::{capture_server, captured_body, raw};
use serde_json::json;

const MERGE: Option<&str> = Some("application/merge-patch+json");
const JSON_PATCH: Option<&str> = Some("application/json-patch+json");
const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn not_found_messages_name_the_qualified_resource() {
    let server = capture_server().await;
    for (path, capture) in [
        (
            "/api/v1/namespaces/capture/services/missing",
            "responses/404-get-missing-service.json",
        ),
        (
            "/apis/apps/v1/namespaces/capture/deployments/missing",
            "responses/404-get-missing-deployment.json",
        ),
        (
            "/apis/gateway.networking.k8s.io/v1/namespaces/capture/httproutes/missing",
            "responses/404-get-missing-httproute.json",
        ),
        (
            "/api/v1/namespaces/no-such-ns/services/api",
            "responses/404-get-in-missing-namespace.json",
        ),
    ] {
        let response = raw(&server, "admin", "GET", path, None, "").await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.body, captured_body(capture), "{path}");
    }
    let response = raw(
        &server,
        "admin",
        "DELETE",
        "/api/v1/namespaces/capture/services/api-preview",
        None,
        "",
    )
    .await;
    assert_eq!(
        response.body,
        captured_body("responses/404-delete-missing-service.json")
    );
}

#[tokio::test]
async fn stale_resource_versions_conflict_on_put_patch_and_scale() {
    let server = capture_server().await;
    let path = "/api/v1/namespaces/capture/services/api";
    let mut stale = raw(&server, "admin", "GET", path, None, "").await.json();
    raw(
        &server,
        "admin",
        "PATCH",
        path,
        MERGE,
        r#"{"metadata":{"labels":{"touched":"yes"}}}"#,
    )
    .await;

    stale["spec"]["selector"]["color"] = json!("green");
    let put = raw(&server, "admin", "PUT", path, JSON, &stale.to_string()).await;
    assert_eq!(put.status, 409);
    assert_eq!(
        put.body,
        captured_body("responses/409-conflict-put-stale-resourceversion.json")
    );

    let stale_rv = stale["metadata"]["resourceVersion"].as_str().unwrap();
    let patch = raw(
        &server,
        "admin",
        "PATCH",
        path,
        MERGE,
        &json!({"metadata": {"resourceVersion": stale_rv}, "spec": {"selector": {"color": "green"}}}).to_string(),
    )
    .await;
    assert_eq!(patch.status, 409);
    assert_eq!(
        patch.body,
        captured_body("responses/409-conflict-patch-stale-resourceversion.json")
    );

    let scale = raw(
        &server,
        "admin",
        "PUT",
        "/apis/apps/v1/namespaces/capture/deployments/app-green/scale",
        JSON,
        r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"app-green","namespace":"capture","resourceVersion":"1"},"spec":{"replicas":3}}"#,
    )
    .await;
    assert_eq!(scale.status, 409);
    assert_eq!(
        scale.body,
        captured_body("responses/409-put-deployment-scale-stale-resourceversion.json")
    );

    let current = raw(&server, "admin", "GET", path, None, "").await.json();
    assert_eq!(
        current["spec"]["selector"]["color"], "blue",
        "nothing was written"
    );
}

#[tokio::test]
async fn creating_an_existing_object_is_already_exists() {
    let server = capture_server().await;
    let request = common::capture("responses/409-already-exists-create-service.json");
    let response = raw(
        &server,
        "admin",
        "POST",
        "/api/v1/namespaces/capture/services",
        JSON,
        &request["request"]["body"].to_string(),
    )
    .await;
    assert_eq!(response.status, 409);
    assert_eq!(
        response.body,
        captured_body("responses/409-already-exists-create-service.json")
    );
}

#[tokio::test]
async fn invalid_requests_are_422_with_the_captured_messages() {
    let server = capture_server().await;
    for (method, path, content_type, capture) in [
        (
            "POST",
            "/apis/apps/v1/namespaces/capture/deployments",
            JSON,
            "responses/422-invalid-deployment-selector.json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/capture/services/api",
            JSON_PATCH,
            "responses/422-json-patch-test-op-failed.json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/capture/services/api",
            JSON_PATCH,
            "responses/422-json-patch-missing-path.json",
        ),
        (
            "POST",
            "/apis/gateway.networking.k8s.io/v1/namespaces/capture/httproutes",
            JSON,
            "responses/422-invalid-httproute-path.json",
        ),
        (
            "PATCH",
            "/apis/gateway.networking.k8s.io/v1/namespaces/capture/httproutes/myapp",
            JSON_PATCH,
            "responses/422-invalid-httproute-patch-weight.json",
        ),
    ] {
        let body = common::capture(capture)["request"]["body"].to_string();
        let response = raw(&server, "admin", method, path, content_type, &body).await;
        assert_eq!(response.status, 422, "{capture}");
        assert_eq!(response.body, captured_body(capture), "{capture}");
    }
}

#[tokio::test]
async fn authentication_and_authorization_refusals() {
    let server = capture_server().await;
    let client = server.client("admin").await.unwrap();
    // The same server, with a token nobody has.
    let kubeconfig = server
        .kubeconfig("admin", "capture")
        .unwrap()
        .replace("token: admin-token", "token: not-a-token");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let stranger = kube::Client::try_from(config).unwrap();
    let response = common::raw_with(
        &stranger,
        "GET",
        "/api/v1/namespaces/capture/services/api",
        None,
        "",
    )
    .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.body,
        captured_body("responses/401-unauthorized-bad-token.json")
    );

    let list = raw(
        &server,
        "alice",
        "GET",
        "/api/v1/namespaces/capture/secrets",
        None,
        "",
    )
    .await;
    assert_eq!(list.status, 403);
    assert_eq!(
        list.body,
        captured_body("responses/403-forbidden-alice-list-secrets.json")
    );
    assert_eq!(list.header_values("x-content-type-options"), ["nosniff"]);

    let delete = raw(
        &server,
        "alice",
        "DELETE",
        "/api/v1/namespaces/capture/services/api",
        None,
        "",
    )
    .await;
    assert_eq!(delete.status, 403);
    assert_eq!(
        delete.body,
        captured_body("responses/403-forbidden-alice-delete-service.json")
    );

    let still_there = common::raw_with(
        &client,
        "GET",
        "/api/v1/namespaces/capture/services/api",
        None,
        "",
    )
    .await;
    assert_eq!(still_there.status, 200);
}

#[tokio::test]
async fn media_type_method_and_decoding_errors() {
    let server = capture_server().await;
    let svc = "/api/v1/namespaces/capture/services/api";
    let body = r#"{"spec":{"selector":{"app":"api","color":"blue"}}}"#;
    for (content_type, capture) in [
        (
            JSON,
            "responses/415-patch-content-type-application-json.json",
        ),
        (
            Some("text/plain"),
            "responses/415-patch-content-type-text-plain.json",
        ),
    ] {
        let response = raw(&server, "admin", "PATCH", svc, content_type, body).await;
        assert_eq!(response.status, 415);
        assert_eq!(response.body, captured_body(capture));
    }
    let strategic_on_cr = raw(
        &server,
        "admin",
        "PATCH",
        "/apis/gateway.networking.k8s.io/v1/namespaces/capture/httproutes/myapp",
        Some("application/strategic-merge-patch+json"),
        r#"{"spec":{"hostnames":["x.example.com"]}}"#,
    )
    .await;
    assert_eq!(strategic_on_cr.status, 415);
    assert_eq!(
        strategic_on_cr.body,
        captured_body("responses/415-patch-strategic-on-custom-resource.json")
    );

    let collection = raw(
        &server,
        "admin",
        "PATCH",
        "/api/v1/namespaces/capture/services",
        MERGE,
        body,
    )
    .await;
    assert_eq!(collection.status, 405);
    assert_eq!(
        collection.body,
        captured_body("responses/405-patch-collection.json")
    );

    let malformed = raw(
        &server,
        "admin",
        "PATCH",
        svc,
        MERGE,
        r#"{"spec":{"selector":"#,
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.body,
        captured_body("responses/400-patch-malformed-json.json")
    );
}

#[tokio::test]
async fn delete_bodies_differ_by_resource_like_kube_apiserver() {
    let server = capture_server().await;
    let service = raw(
        &server,
        "admin",
        "DELETE",
        "/api/v1/namespaces/capture/services/api",
        None,
        "",
    )
    .await;
    assert_eq!(service.status, 200);
    assert_eq!(service.json()["kind"], "Service");

    let uid = server
        .object("apps/v1", "Deployment", Some("capture"), "app-blue")
        .unwrap()["metadata"]["uid"]
        .clone();
    let deployment = raw(
        &server,
        "admin",
        "DELETE",
        "/apis/apps/v1/namespaces/capture/deployments/app-blue",
        JSON,
        r#"{"propagationPolicy":"Background"}"#,
    )
    .await;
    assert_eq!(deployment.status, 200);
    assert_eq!(
        deployment.body,
        format!(
            r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Success","details":{{"name":"app-blue","group":"apps","kind":"deployments","uid":{uid}}}}}"#
        )
    );
}

#[tokio::test]
async fn status_and_scale_subresources_behave_as_captured() {
    let server = capture_server().await;
    let deployment = "/apis/apps/v1/namespaces/capture/deployments/app-green";
    let before = server.resource_version();
    let scale = raw(
        &server,
        "admin",
        "PATCH",
        &format!("{deployment}/scale"),
        MERGE,
        r#"{"spec":{"replicas":3}}"#,
    )
    .await;
    assert_eq!(scale.status, 200);
    let scale = scale.json();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"], json!({"replicas": 3}));
    assert_eq!(
        scale["status"],
        json!({"replicas": 0, "selector": "app=api,color=green"})
    );
    assert!(server.resource_version() > before);

    let got = raw(
        &server,
        "admin",
        "GET",
        &format!("{deployment}/scale"),
        None,
        "",
    )
    .await
    .json();
    let captured =
        common::capture("responses/200-get-deployment-scale.json")["response"]["body"].clone();
    let keys = |v: &serde_json::Value| {
        v["metadata"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&got), keys(&captured));

    let status = raw(
        &server,
        "admin",
        "PATCH",
        &format!("{deployment}/status"),
        MERGE,
        r#"{"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3}}"#,
    )
    .await
    .json();
    assert_eq!(status["kind"], "Deployment");
    assert_eq!(status["spec"]["replicas"], 3);
    assert_eq!(status["status"]["readyReplicas"], 3);
    assert_eq!(
        status["metadata"]["generation"], 2,
        "the scale changed the spec"
    );

    // spec in a status patch is dropped, and nothing changes: no new resourceVersion.
    let rv = status["metadata"]["resourceVersion"].clone();
    let ignored = raw(
        &server,
        "admin",
        "PATCH",
        &format!("{deployment}/status"),
        MERGE,
        r#"{"spec":{"replicas":7},"status":{"replicas":3}}"#,
    )
    .await
    .json();
    assert_eq!(ignored["spec"]["replicas"], 3);
    assert_eq!(ignored["metadata"]["resourceVersion"], rv);
}

#[tokio::test]
async fn dry_run_evaluates_without_storing() {
    let server = capture_server().await;
    let path = "/api/v1/namespaces/capture/services/api";
    let before = server.resource_version();
    let response = raw(
        &server,
        "admin",
        "PATCH",
        &format!("{path}?dryRun=All&fieldManager=capture"),
        MERGE,
        r#"{"spec":{"selector":{"app":"api","color":"purple"}}}"#,
    )
    .await
    .json();
    assert_eq!(response["spec"]["selector"]["color"], "purple");
    assert_eq!(server.resource_version(), before);
    let stored = server
        .object("v1", "Service", Some("capture"), "api")
        .unwrap();
    assert_eq!(stored["spec"]["selector"]["color"], "blue");
}

#[tokio::test]
async fn curl_gets_pretty_json_and_other_clients_compact_json() {
    let server = capture_server().await;
    let client = reqwest_like_get(&server, "curl/8.5.0").await;
    assert!(client.starts_with("{\n  \"kind\": \"Status\""), "{client}");
    let compact = reqwest_like_get(&server, "kubectl/v1.32.4").await;
    assert!(compact.starts_with("{\"kind\":\"Status\""), "{compact}");
}

/// A GET of a missing Service with a given User-Agent, through a client built for the purpose.
async fn reqwest_like_get(server: &bluegreen_e2e::TestApiServer, agent: &str) -> String {
    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&server.kubeconfig("admin", "capture").unwrap())
            .unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    config.headers.push((
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_str(agent).unwrap(),
    ));
    let client = kube::Client::try_from(config).unwrap();
    common::raw_with(
        &client,
        "GET",
        "/api/v1/namespaces/capture/services/missing",
        None,
        "",
    )
    .await
    .body
}
