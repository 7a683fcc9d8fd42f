//! Validating admission: what a webhook receives (compared with the captured reviews), and what
//! kubectl and kube-rs users see when it denies, warns, fails or times out.

mod common;

use std::time::Duration;

use bluegreen_e2e::TestApiServer;
use bluegreen_e2e::recording_webhook::{Answer, RecordingWebhook, webhook_configuration};
use common::{Kubectl, assert_review_shape, capture, capture_server, capture_text, raw};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const WARNING: &str = "capture: warning text";
const DENIAL: &str = "BG001 ready-target: green is not ready";

/// The capture session's webhook: allow with a warning, deny on `capture/deny: "true"`.
fn capture_answer(request: &Value) -> Answer {
    let judged = if request["operation"] == "DELETE" {
        &request["oldObject"]
    } else {
        &request["object"]
    };
    let annotations = &judged["metadata"]["annotations"];
    if annotations["capture/deny"] != "true" {
        return Answer::allow().with_warning(WARNING);
    }
    match annotations["capture/deny-mode"].as_str() {
        Some("nocode") => Answer::deny(None, DENIAL),
        Some("warn") => Answer::deny(Some(403), DENIAL).with_warning(WARNING),
        _ => Answer::deny(Some(403), DENIAL),
    }
}

fn capture_rules() -> Value {
    capture("admission/webhook-configuration.json")["webhooks"][0]["rules"].clone()
}

fn capture_selectors(failure_policy: &str) -> Value {
    json!({
        "failurePolicy": failure_policy,
        "objectSelector": {"matchExpressions": [{"key": "bluegreen.dev/app", "operator": "Exists"}]},
        "namespaceSelector": {"matchLabels": {"bluegreen-capture": "enabled"}},
    })
}

/// The capture configuration, plus a `deployments/scale` entry without objectSelector.
async fn with_capture_webhook(server: &TestApiServer) -> RecordingWebhook {
    let webhook = RecordingWebhook::start(capture_answer).await.unwrap();
    let main = webhook.webhook_entry(
        "capture.bluegreen.dev",
        "/validate",
        capture_rules(),
        capture_selectors("Fail"),
    );
    let scale = webhook.webhook_entry(
        "capture-scale.bluegreen.dev",
        "/validate-scale",
        json!([{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["deployments/scale"]}]),
        json!({"namespaceSelector": {"matchLabels": {"bluegreen-capture": "enabled"}}}),
    );
    server
        .put_object(&webhook_configuration("capture-webhook", vec![main, scale]))
        .unwrap();
    webhook
}

/// The review of a captured webhook call.
fn captured_request(file: &str, call: usize) -> Value {
    capture(file)["webhookCalls"][call]["review"]["request"].clone()
}

#[tokio::test]
async fn create_patch_delete_reviews_match_the_captures() {
    let server = capture_server().await;
    let webhook = with_capture_webhook(&server).await;
    let admin = Kubectl::new(&server, "admin");
    let ci = Kubectl::new(&server, "system:serviceaccount:ci:deployer");

    let manifest = serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": [
        common::deployment("app-canary", "canary", "registry.example.com/api:1.2.0"),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api-canary", "labels": {"bluegreen.dev/app": "api"}},
         "spec": {"selector": {"app": "api", "color": "canary"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    ]}))
    .unwrap();
    let created = admin
        .run_with_stdin(&["create", "-f", "-"], Some(&manifest))
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_eq!(
        created.stdout,
        "deployment.apps/app-canary created\nservice/api-canary created\n"
    );
    assert_eq!(
        created.stderr,
        capture_text("admission/a-create.stderr.txt")
    );
    let calls = webhook.take_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].path_and_query, "/validate?timeout=10s");
    assert_eq!(
        calls[0].header("user-agent"),
        Some("kube-apiserver-admission")
    );
    assert_eq!(calls[0].header("content-type"), Some("application/json"));
    assert_eq!(calls[0].header("accept"), Some("application/json, */*"));
    assert_review_shape(
        calls[0].request(),
        &captured_request("admission/a-create.json", 0),
    );
    assert_review_shape(
        calls[1].request(),
        &captured_request("admission/a-create.json", 2),
    );
    assert_eq!(calls[0].request()["object"]["status"], json!({}));

    let patch = [
        "patch",
        "svc",
        "api",
        "-p",
        r#"{"spec":{"selector":{"app":"api","color":"green"}}}"#,
    ];
    let patched = ci.run(&patch).await;
    assert_eq!(patched.stdout, "service/api patched\n");
    assert_eq!(
        patched.stderr,
        capture_text("admission/b-patch-strategic.stderr.txt")
    );
    let calls = webhook.take_calls();
    let review = calls[0].request();
    assert_review_shape(
        review,
        &captured_request("admission/q-patch-serviceaccount.json", 0),
    );
    assert_eq!(
        review["userInfo"]["username"],
        "system:serviceaccount:ci:deployer"
    );
    assert_eq!(
        review["userInfo"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:ci",
            "system:authenticated"
        ])
    );
    assert_eq!(
        review["userInfo"]["extra"]["authentication.kubernetes.io/credential-id"][0],
        "JTI=ci-deployer-token"
    );
    assert_eq!(review["options"]["fieldManager"], "kubectl-patch");
    assert_eq!(review["oldObject"]["spec"]["selector"]["color"], "blue");
    assert_eq!(review["object"]["spec"]["selector"]["color"], "green");
    assert_eq!(
        review["object"]["metadata"]["resourceVersion"],
        review["oldObject"]["metadata"]["resourceVersion"]
    );

    // A no-op patch still goes through admission.
    let again = ci.run(&patch).await;
    assert_eq!(again.stdout, "service/api patched (no change)\n");
    assert_eq!(webhook.take_calls().len(), 1);

    let deleted = admin.run(&["delete", "deploy", "app-blue"]).await;
    assert_eq!(deleted.stdout, "deployment.apps \"app-blue\" deleted\n");
    assert_eq!(
        deleted.stderr,
        capture_text("admission/h-delete-deploy.stderr.txt")
    );
    let calls = webhook.take_calls();
    assert_review_shape(
        calls[0].request(),
        &captured_request("admission/h-delete-deploy.json", 0),
    );
    assert_eq!(
        calls[0].request()["oldObject"]["metadata"]["name"],
        "app-blue"
    );
}

#[tokio::test]
async fn dry_run_scale_and_label_removal_reviews() {
    let server = capture_server().await;
    let webhook = with_capture_webhook(&server).await;
    let ci = Kubectl::new(&server, "system:serviceaccount:ci:deployer");

    let dry = ci
        .run(&[
            "patch",
            "svc",
            "api",
            "--dry-run=server",
            "-p",
            r#"{"spec":{"selector":{"app":"api","color":"green"}}}"#,
        ])
        .await;
    assert_eq!(dry.stdout, "service/api patched\n");
    let calls = webhook.take_calls();
    assert_review_shape(
        calls[0].request(),
        &captured_request("admission/d-patch-dry-run.json", 0),
    );
    let stored = server
        .object("v1", "Service", Some("capture"), "api")
        .unwrap();
    assert_eq!(
        stored["spec"]["selector"]["color"], "blue",
        "dry run stored nothing"
    );

    // The Scale carries no labels: only the entry without objectSelector is called.
    let scaled = ci
        .run(&["scale", "deploy", "app-green", "--replicas=4"])
        .await;
    assert_eq!(scaled.stdout, "deployment.apps/app-green scaled\n");
    assert_eq!(scaled.stderr, capture_text("admission/f-scale.stderr.txt"));
    let calls = webhook.take_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path_and_query, "/validate-scale?timeout=10s");
    let review = calls[0].request();
    assert_review_shape(review, &captured_request("admission/f-scale.json", 0));
    assert_eq!(review["object"]["spec"]["replicas"], 4);
    assert_eq!(review["oldObject"]["spec"]["replicas"], 2);

    // Removing the selected label is still sent: the old object matches.
    let unlabeled = ci.run(&["label", "svc", "api", "bluegreen.dev/app-"]).await;
    assert_eq!(unlabeled.stdout, "service/api unlabeled\n");
    let calls = webhook.take_calls();
    assert_eq!(calls.len(), 1);
    assert_review_shape(
        calls[0].request(),
        &captured_request("admission/g-label-remove.json", 0),
    );
    assert!(
        calls[0].request()["object"]["metadata"]
            .get("labels")
            .is_none_or(|l| l.get("bluegreen.dev/app").is_none())
    );
}

#[tokio::test]
async fn denials_reach_kubectl_and_kube_rs_like_kube_apiserver_sends_them() {
    let server = capture_server().await;
    let _webhook = with_capture_webhook(&server).await;
    let admin = Kubectl::new(&server, "admin");
    let deny = |mode: &str| {
        json!({"metadata": {"annotations": {"capture/deny": "true", "capture/deny-mode": mode}},
               "spec": {"selector": {"app": "api", "color": "green"}}})
        .to_string()
    };

    let denied = admin
        .run(&["patch", "svc", "api", "-p", &deny("plain")])
        .await;
    assert_eq!(denied.code, 1);
    assert_eq!(denied.stderr, capture_text("admission/k-deny.stderr.txt"));
    let nocode = admin
        .run(&["patch", "svc", "api", "-p", &deny("nocode")])
        .await;
    assert_eq!(
        nocode.stderr,
        capture_text("admission/k2-deny-nocode.stderr.txt")
    );
    let warned = admin
        .run(&["patch", "svc", "api", "-p", &deny("warn")])
        .await;
    assert_eq!(
        warned.stderr,
        capture_text("admission/k3-deny-with-warning.stderr.txt")
    );

    for (mode, capture_file, status) in [
        ("plain", "admission/k-deny.http.json", 403),
        ("nocode", "admission/k2-deny-nocode.http.json", 400),
        ("warn", "admission/k3-deny-with-warning.http.json", 403),
    ] {
        let response = raw(
            &server,
            "admin",
            "PATCH",
            "/api/v1/namespaces/capture/services/api",
            Some("application/strategic-merge-patch+json"),
            &deny(mode),
        )
        .await;
        assert_eq!(response.status, status);
        assert_eq!(response.body, common::captured_body(capture_file));
        let expected_warnings: Vec<&str> = if mode == "warn" {
            vec!["299 - \"capture: warning text\""]
        } else {
            vec![]
        };
        assert_eq!(response.header_values("warning"), expected_warnings);
    }

    let services: Api<Service> = Api::namespaced(server.client("admin").await.unwrap(), "capture");
    let error = services
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(serde_json::from_str::<Value>(&deny("plain")).unwrap()),
        )
        .await
        .unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403);
            assert_eq!(
                status.message,
                format!("admission webhook \"capture.bluegreen.dev\" denied the request: {DENIAL}")
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    let stored = server
        .object("v1", "Service", Some("capture"), "api")
        .unwrap();
    assert_eq!(
        stored["spec"]["selector"]["color"], "blue",
        "every denial left the Service unchanged"
    );
}

#[tokio::test]
async fn allowed_requests_carry_the_webhook_warnings() {
    let server = capture_server().await;
    let _webhook = with_capture_webhook(&server).await;
    let response = raw(
        &server,
        "admin",
        "PATCH",
        "/api/v1/namespaces/capture/services/api",
        Some("application/strategic-merge-patch+json"),
        r#"{"spec":{"selector":{"app":"api","color":"blue"}}}"#,
    )
    .await;
    assert_eq!(response.status, 200);
    let captured = capture("admission/l-warn.http.json");
    let captured_warning = captured["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "Warning")
        .map(|h| h[1].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(
        response.header_values("warning"),
        [captured_warning.as_str()]
    );
}

#[tokio::test]
async fn stale_resource_version_conflicts_before_admission() {
    let server = capture_server().await;
    let webhook = with_capture_webhook(&server).await;
    let ci = Kubectl::new(&server, "system:serviceaccount:ci:deployer");
    let stale = ci
        .run(&[
            "patch",
            "svc",
            "api",
            "--type=merge",
            "-p",
            r#"{"metadata":{"resourceVersion":"1"},"spec":{"selector":{"color":"green"}}}"#,
        ])
        .await;
    assert_eq!(stale.code, 1);
    assert_eq!(
        stale.stderr,
        capture_text("admission/o-patch-stale-rv.stderr.txt")
    );
    assert!(
        webhook.calls().is_empty(),
        "the webhook is not called for a stale write"
    );
}

/// A webhook entry pointing at a port nobody listens on.
fn unreachable_webhook(failure_policy: &str) -> (Value, String) {
    let url = format!("https://127.0.0.1:{}/validate", common::unused_port());
    let mut entry = json!({
        "name": "capture.bluegreen.dev",
        "clientConfig": {"url": url, "caBundle": ""},
        "rules": capture_rules(),
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    });
    entry.as_object_mut().unwrap().extend(
        capture_selectors(failure_policy)
            .as_object()
            .unwrap()
            .clone(),
    );
    (entry, url)
}

#[tokio::test]
async fn an_unreachable_webhook_fails_closed_or_open_by_failure_policy() {
    let server = capture_server().await;
    let admin = Kubectl::new(&server, "admin");
    let patch = [
        "patch",
        "svc",
        "api",
        "-p",
        r#"{"spec":{"selector":{"app":"api","color":"green"}}}"#,
    ];

    let (entry, url) = unreachable_webhook("Fail");
    server
        .put_object(&webhook_configuration("capture-webhook", vec![entry]))
        .unwrap();
    let refused = admin.run(&patch).await;
    assert_eq!(refused.code, 1);
    let port = url
        .trim_start_matches("https://127.0.0.1:")
        .trim_end_matches("/validate");
    assert_eq!(
        refused.stderr,
        capture_text("admission/m-webhook-down-fail.stderr.txt").replace("9555", port)
    );

    let (entry, _) = unreachable_webhook("Ignore");
    server
        .put_object(&webhook_configuration("capture-webhook", vec![entry]))
        .unwrap();
    let allowed = admin.run(&patch).await;
    assert_eq!(allowed.code, 0);
    assert_eq!(allowed.stdout, "service/api patched\n");
    assert_eq!(allowed.stderr, "", "Ignore leaves no trace for the client");
}

#[tokio::test]
async fn a_slow_webhook_times_out_after_timeout_seconds() {
    let server = capture_server().await;
    let webhook = RecordingWebhook::start(|_| Answer::allow().after(Duration::from_secs(3)))
        .await
        .unwrap();
    let mut extra = capture_selectors("Fail");
    extra["timeoutSeconds"] = json!(1);
    let entry = webhook.webhook_entry("capture.bluegreen.dev", "/validate", capture_rules(), extra);
    server
        .put_object(&webhook_configuration("capture-webhook", vec![entry]))
        .unwrap();

    let response = raw(
        &server,
        "admin",
        "PATCH",
        "/api/v1/namespaces/capture/services/api",
        Some("application/merge-patch+json"),
        r#"{"spec":{"selector":{"color":"green"}}}"#,
    )
    .await;
    assert_eq!(response.status, 500);
    let expected = common::captured_body("admission/n-webhook-timeout-fail.http.json").replace(
        "https://127.0.0.1:9555/validate?timeout=2s",
        &format!("{}?timeout=1s", webhook.url("/validate")),
    );
    assert_eq!(response.body, expected);
    assert_eq!(webhook.calls()[0].path_and_query, "/validate?timeout=1s");
}
