//! Webhook `matchConditions` in the test API server: the chart's scale-to-zero condition keeps
//! every other scaling away from the guard, and conditions that fail to evaluate, or that read
//! the null object of a CREATE or DELETE, behave as on kube-apiserver. Run `.ci/tools.sh` first
//! (helm renders the chart).

mod common;

use bluegreen_e2e::TestApiServer;
use bluegreen_e2e::chart;
use bluegreen_e2e::recording_webhook::{Answer, RecordingWebhook, webhook_configuration};
use common::{Kubectl, capture_server, raw};
use serde_json::{Value, json};

/// The chart's webhook configuration, every entry calling `url`, the scale entry `scale_url`.
fn chart_webhooks(url: &str, scale_url: &str, ca_bundle: &str) -> Value {
    let mut config = chart::webhook_configuration(&[], url, ca_bundle);
    for webhook in config["webhooks"].as_array_mut().unwrap() {
        if webhook["name"] == "scale.bluegreen.dev" {
            webhook["clientConfig"]["url"] = json!(scale_url);
        }
    }
    config
}

fn replicas(server: &TestApiServer) -> Value {
    server
        .object("apps/v1", "Deployment", Some("capture"), "app-green")
        .unwrap()["spec"]["replicas"]
        .clone()
}

async fn scale(kubectl: &Kubectl, replicas: u32) -> common::KubectlOutput {
    kubectl
        .run(&[
            "scale",
            "deploy",
            "app-green",
            &format!("--replicas={replicas}"),
        ])
        .await
}

const SCALED: &str = "deployment.apps/app-green scaled\n";

#[tokio::test]
async fn the_chart_sends_only_scale_to_zero_to_the_guard() {
    let server = capture_server().await;
    let webhook = RecordingWebhook::start(|_| Answer::allow()).await.unwrap();
    server
        .put_object(&chart_webhooks(
            &webhook.url("/validate"),
            &webhook.url("/scale"),
            &webhook.ca_bundle(),
        ))
        .unwrap();
    let ci = Kubectl::new(&server, "system:serviceaccount:ci:deployer");

    let up = scale(&ci, 3).await;
    assert_eq!(
        (up.code, up.stdout.as_str(), up.stderr.as_str()),
        (0, SCALED, "")
    );
    assert!(
        webhook.take_calls().is_empty(),
        "scaling to 3 is not judged"
    );

    let down = scale(&ci, 0).await;
    assert_eq!((down.code, down.stdout.as_str()), (0, SCALED));
    let calls = webhook.take_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path_and_query, "/scale?timeout=5s");
    let review = calls[0].request();
    assert_eq!(review["subResource"], "scale");
    // autoscaling/v1 leaves replicas out when it is 0, hence the condition's `!has(...)`.
    assert_eq!(review["object"]["spec"], json!({}));
    assert_eq!(review["oldObject"]["spec"], json!({"replicas": 3}));
    assert_eq!(replicas(&server), 0);

    let back = scale(&ci, 2).await;
    assert_eq!((back.code, back.stdout.as_str()), (0, SCALED));
    assert!(
        webhook.take_calls().is_empty(),
        "scaling up from 0 is not judged"
    );
}

#[tokio::test]
async fn with_the_guard_down_only_scale_to_zero_is_refused() {
    let server = capture_server().await;
    let port = common::unused_port();
    let url = format!("https://127.0.0.1:{port}/validate");
    server.put_object(&chart_webhooks(&url, &url, "")).unwrap();
    let ci = Kubectl::new(&server, "system:serviceaccount:ci:deployer");

    let up = scale(&ci, 3).await;
    assert_eq!(
        (up.code, up.stdout.as_str(), up.stderr.as_str()),
        (0, SCALED, "")
    );
    let down = scale(&ci, 0).await;
    assert_eq!(down.code, 1);
    assert_eq!(
        down.stderr,
        format!(
            "Error from server (InternalError): Internal error occurred: failed calling webhook \"scale.bluegreen.dev\": failed to call webhook: Post \"{url}?timeout=5s\": dial tcp 127.0.0.1:{port}: connect: connection refused\n"
        )
    );
    assert_eq!(replicas(&server), 3);
}

/// A scale entry whose condition reads `spec.replicas` without `has()`: an error when it is 0.
fn scale_entry(webhook: &RecordingWebhook, failure_policy: &str) -> Value {
    webhook.webhook_entry(
        "capture-scale.bluegreen.dev",
        "/validate-scale",
        json!([{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["deployments/scale"]}]),
        json!({
            "failurePolicy": failure_policy,
            "namespaceSelector": {"matchLabels": {"bluegreen-capture": "enabled"}},
            "matchConditions": [{"name": "replicas-read-unguarded", "expression": "object.spec.replicas == 0"}],
        }),
    )
}

const EVALUATION_ERROR: &str = "deployments.apps \"app-green\" is forbidden: expression 'object.spec.replicas == 0' resulted in error: no such key: replicas";

#[tokio::test]
async fn a_condition_that_fails_to_evaluate_refuses_under_fail_and_skips_under_ignore() {
    let server = capture_server().await;
    let webhook = RecordingWebhook::start(|_| Answer::allow()).await.unwrap();
    server
        .put_object(&webhook_configuration(
            "capture-webhook",
            vec![scale_entry(&webhook, "Fail")],
        ))
        .unwrap();
    let ci = Kubectl::new(&server, "system:serviceaccount:ci:deployer");

    // replicas present and not 0: the condition is false, the webhook skipped.
    let up = scale(&ci, 3).await;
    assert_eq!((up.code, up.stdout.as_str()), (0, SCALED));

    let refused = scale(&ci, 0).await;
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        format!("Error from server (Forbidden): {EVALUATION_ERROR}\n")
    );
    let response = raw(
        &server,
        "admin",
        "PATCH",
        "/apis/apps/v1/namespaces/capture/deployments/app-green/scale",
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":0}}"#,
    )
    .await;
    assert_eq!(response.status, 403);
    assert_eq!(
        response.json(),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": EVALUATION_ERROR, "reason": "Forbidden",
            "details": {"name": "app-green", "group": "apps", "kind": "deployments"}, "code": 403
        })
    );
    assert_eq!(replicas(&server), 3);

    server
        .put_object(&webhook_configuration(
            "capture-webhook",
            vec![scale_entry(&webhook, "Ignore")],
        ))
        .unwrap();
    let skipped = scale(&ci, 0).await;
    assert_eq!(
        (
            skipped.code,
            skipped.stdout.as_str(),
            skipped.stderr.as_str()
        ),
        (0, SCALED, "")
    );
    assert_eq!(replicas(&server), 0);
    assert!(webhook.calls().is_empty(), "no condition ever called it");
}

#[tokio::test]
async fn conditions_see_no_old_object_on_create_and_no_object_on_delete() {
    let server = capture_server().await;
    let webhook = RecordingWebhook::start(|_| Answer::allow()).await.unwrap();
    let rules = json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "DELETE"], "resources": ["services"]}]);
    let entry = |name: &str, path: &str, expression: &str| {
        webhook.webhook_entry(
            name,
            path,
            rules.clone(),
            json!({
                "failurePolicy": "Fail",
                "namespaceSelector": {"matchLabels": {"bluegreen-capture": "enabled"}},
                "matchConditions": [{"name": "null-object", "expression": expression}],
            }),
        )
    };
    server
        .put_object(&webhook_configuration(
            "capture-webhook",
            vec![
                entry(
                    "created.bluegreen.dev",
                    "/created",
                    "oldObject == null && object.metadata.name == request.name && request.operation == 'CREATE'",
                ),
                entry(
                    "deleted.bluegreen.dev",
                    "/deleted",
                    "object == null && oldObject.metadata.name == request.name && request.operation == 'DELETE'",
                ),
            ],
        ))
        .unwrap();
    let admin = Kubectl::new(&server, "admin");

    let manifest = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api-canary"},
                          "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}});
    let created = admin
        .run_with_stdin(&["create", "-f", "-"], Some(&manifest.to_string()))
        .await;
    assert_eq!(created.stdout, "service/api-canary created\n");
    let calls = webhook.take_calls();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.path_and_query.as_str())
            .collect::<Vec<_>>(),
        ["/created?timeout=10s"]
    );
    assert_eq!(calls[0].request()["oldObject"], Value::Null);

    let deleted = admin.run(&["delete", "svc", "api-canary"]).await;
    assert_eq!(deleted.stdout, "service \"api-canary\" deleted\n");
    let calls = webhook.take_calls();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.path_and_query.as_str())
            .collect::<Vec<_>>(),
        ["/deleted?timeout=10s"]
    );
    assert_eq!(calls[0].request()["object"], Value::Null);

    // A field of the null oldObject is an evaluation error, as in cel-go: Fail refuses the CREATE.
    let reads_old = "oldObject.metadata.name == request.name";
    server
        .put_object(&webhook_configuration(
            "capture-webhook",
            vec![entry("old-name.bluegreen.dev", "/old-name", reads_old)],
        ))
        .unwrap();
    let refused = admin
        .run_with_stdin(&["create", "-f", "-"], Some(&manifest.to_string()))
        .await;
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        format!(
            "Error from server (Forbidden): error when creating \"STDIN\": services \"api-canary\" is forbidden: expression '{reads_old}' resulted in error: no such key: metadata\n"
        )
    );
    assert!(webhook.take_calls().is_empty());
}
