//! Mutating admission against `tests/captures/mutating` (kube-apiserver 1.36): a mutating and a
//! validating webhook together, played by one recording webhook that answers each path as the
//! capture's servers did. For every case: what kubectl printed, the HTTP answer, which webhooks
//! were called in which order, what each received, and what was stored.

mod common;

use std::collections::BTreeSet;

use bluegreen_e2e::TestApiServer;
use bluegreen_e2e::recording_webhook::{Answer, RecordedCall, RecordingWebhook};
use common::{
    Kubectl, RawResponse, assert_review_shape, capture, capture_server, captured_body, raw,
};
use serde_json::{Value, json};

const LIVE_SINCE: &str = "2026-01-01T00:00:00Z";

/// The capture's `/mutate`: on a color switch, records when and from which color, adding the
/// annotations map when the object has none, else adding or replacing each key.
fn color_switch(request: &Value) -> Answer {
    let (old, new) = (&request["oldObject"], &request["object"]);
    let color = |object: &Value| object["spec"]["selector"]["color"].clone();
    if old.is_null() || new.is_null() || color(old) == color(new) {
        return Answer::allow();
    }
    let record = [
        ("bluegreen.dev/live-since", json!(LIVE_SINCE)),
        ("bluegreen.dev/previous-color", color(old)),
    ];
    let annotations = &new["metadata"]["annotations"];
    let patch: Vec<Value> = if annotations.is_null() {
        let all: serde_json::Map<String, Value> = record
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();
        vec![json!({"op": "add", "path": "/metadata/annotations", "value": all})]
    } else {
        record
            .into_iter()
            .map(|(key, value)| {
                let op = if annotations.get(key).is_some() {
                    "replace"
                } else {
                    "add"
                };
                let path = format!("/metadata/annotations/{}", key.replace('/', "~1"));
                json!({"op": op, "path": path, "value": value})
            })
            .collect()
    };
    Answer::allow().with_patch(&json!(patch))
}

/// The capture's `/mutate-second`: adds `bluegreen.dev/second: touched` when missing.
fn second(request: &Value) -> Answer {
    let annotations = &request["object"]["metadata"]["annotations"];
    if annotations.get("bluegreen.dev/second").is_some() {
        return Answer::allow();
    }
    let patch = if annotations.is_null() {
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"bluegreen.dev/second": "touched"}}])
    } else {
        json!([{"op": "add", "path": "/metadata/annotations/bluegreen.dev~1second", "value": "touched"}])
    };
    Answer::allow().with_patch(&patch)
}

/// The `patch` a capture's misbehaving webhook sent, exactly as on the wire.
fn captured_patch(file: &str) -> String {
    capture(file)["webhookCalls"][0]["response"]["response"]["patch"]
        .as_str()
        .expect("a patch")
        .to_string()
}

/// Both capture servers in one: each path answers as it did there.
fn capture_answer(path: &str, request: &Value) -> Answer {
    let captured = |file: &str| Answer::allow().with_raw_patch(&captured_patch(file));
    match path {
        "/mutate" => color_switch(request),
        "/mutate-second" => second(request),
        "/mutate-second-noop" | "/validate" => Answer::allow(),
        "/mutate-replace-missing-key" => {
            captured("mutating/5a0-jsonpatch-replace-missing-key.json")
        }
        "/mutate-badpatch" => captured("mutating/5a-bad-jsonpatch-fail.json"),
        "/mutate-badbase64" => captured("mutating/5c-bad-base64-fail.json"),
        "/mutate-notjson" => captured("mutating/5e-patch-not-json-fail.json"),
        other => Answer::deny(Some(404), &format!("no webhook at {other}")),
    }
}

/// A captured configuration with its webhooks sent to `url(path)` (the captured URL's path).
fn pointed(configuration: &Value, url: impl Fn(&str) -> String, ca_bundle: &str) -> Value {
    let mut configuration = configuration.clone();
    for webhook in configuration["webhooks"].as_array_mut().unwrap() {
        let captured = webhook["clientConfig"]["url"].as_str().unwrap();
        let (_, address) = captured.split_once("://").unwrap();
        let path = &address[address.find('/').unwrap()..];
        webhook["clientConfig"] = json!({"url": url(path), "caBundle": ca_bundle});
    }
    configuration
}

/// The capture's webhook configurations (the mutating one as given), calling `webhook`.
fn register(server: &TestApiServer, webhook: &RecordingWebhook, mutating: &Value) {
    let validating = &capture("mutating/webhook-configurations.json")["validating"];
    for configuration in [mutating, validating] {
        let pointed = pointed(
            configuration,
            |path| webhook.url(path),
            &webhook.ca_bundle(),
        );
        server.put_object(&pointed).unwrap();
    }
}

/// The mutating configuration of a case file (cases 4–6), or the one of cases 1–3.
fn mutating_configuration(file: &str) -> Value {
    let case = capture(file);
    match case.get("mutatingWebhookConfiguration") {
        Some(configuration) => configuration.clone(),
        None => capture("mutating/webhook-configurations.json")["mutating"].clone(),
    }
}

/// A server in the state of a case, with the case's webhooks registered.
async fn case_server(file: &str) -> (TestApiServer, RecordingWebhook) {
    let server = capture_server().await;
    let webhook = RecordingWebhook::start_with_paths(capture_answer)
        .await
        .unwrap();
    register(&server, &webhook, &mutating_configuration(file));
    if let Some(before) = object_before(file) {
        seed_service(&server, &before);
    }
    (server, webhook)
}

/// Service `api` before a case: the object the first webhook call saw as old.
fn object_before(file: &str) -> Option<Value> {
    let case = capture(file);
    let before = &case["webhookCalls"][0]["review"]["request"]["oldObject"];
    Some(before.clone()).filter(|before| !before.is_null())
}

/// Service `api` with the labels, annotations and selector of a captured one.
fn seed_service(server: &TestApiServer, captured: &Value) {
    let mut service = common::service();
    for field in ["labels", "annotations"] {
        if let Some(value) = captured["metadata"].get(field) {
            service["metadata"][field] = value.clone();
        }
    }
    service["spec"]["selector"] = captured["spec"]["selector"].clone();
    // Created with `kubectl create` in the capture session.
    server.put_object_as(&service, "kubectl-create").unwrap();
}

/// What the cases change and the webhooks look at.
fn essentials(object: &Value) -> Value {
    json!({
        "labels": object["metadata"]["labels"],
        "annotations": object["metadata"]["annotations"],
        "selector": object["spec"]["selector"],
    })
}

fn stored(server: &TestApiServer) -> Value {
    server
        .object("v1", "Service", Some("capture"), "api")
        .unwrap()
}

fn resource_version(object: &Value) -> &str {
    object["metadata"]["resourceVersion"].as_str().unwrap()
}

/// The managers owning annotations: none own what a webhook added.
fn annotation_owners(object: &Value) -> Vec<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| {
            entry["fieldsV1"]["f:metadata"]
                .get("f:annotations")
                .is_some()
        })
        .map(|entry| entry["manager"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The calls match the captured ones: same paths in the same order, reviews of the same shape
/// whose objects carry what the captured ones carried, and a uid of its own for each.
fn assert_calls(calls: &[RecordedCall], captured: &Value) {
    let captured = captured.as_array().unwrap();
    let paths: Vec<&str> = calls.iter().map(|c| c.path_and_query.as_str()).collect();
    let captured_paths: Vec<&str> = captured
        .iter()
        .map(|c| c["httpRequest"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, captured_paths, "webhook calls");
    for (call, captured) in calls.iter().zip(captured) {
        let expected = &captured["review"]["request"];
        assert_review_shape(call.request(), expected);
        for field in ["object", "oldObject"] {
            assert_eq!(
                essentials(&call.request()[field]),
                essentials(&expected[field]),
                "{} {field}",
                call.path_and_query
            );
        }
    }
    let uids: BTreeSet<&str> = calls
        .iter()
        .map(|c| c.request()["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids.len(), calls.len(), "each call has its own uid");
}

/// Runs kubectl as admin and checks exit code, stdout and stderr against the captured command.
async fn assert_kubectl(kubectl: &Kubectl, args: &[&str], captured: &Value) {
    let out = kubectl.run(args).await;
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (
            i32::try_from(captured["exitCode"].as_i64().unwrap()).unwrap(),
            captured["stdout"].as_str().unwrap(),
            captured["stderr"].as_str().unwrap()
        ),
        "kubectl {args:?}"
    );
}

const PATCH_GREEN: &[&str] = &[
    "patch",
    "svc",
    "api",
    "-p",
    r#"{"spec":{"selector":{"color":"green"}}}"#,
];
const PATCH_BLUE: &[&str] = &[
    "patch",
    "svc",
    "api",
    "-p",
    r#"{"spec":{"selector":{"color":"blue"}}}"#,
];

/// A kubectl-patch case: kubectl's output, the calls, and what was stored.
async fn assert_patch_case(file: &str, args: &[&str]) {
    let (server, webhook) = case_server(file).await;
    let case = capture(file);
    assert_kubectl(&Kubectl::new(&server, "admin"), args, &case["commands"][0]).await;
    assert_calls(&webhook.take_calls(), &case["webhookCalls"]);
    assert_eq!(
        essentials(&stored(&server)),
        essentials(&case["storedObjectAfter"]["object"])
    );
}

/// The captured curl request of a `.http.json`, sent again as admin.
async fn replay(server: &TestApiServer, file: &str) -> RawResponse {
    let request = &capture(file)["request"];
    raw(
        server,
        "admin",
        request["method"].as_str().unwrap(),
        request["path"].as_str().unwrap(),
        request["contentType"].as_str(),
        &request["body"].to_string(),
    )
    .await
}

fn captured_status(file: &str) -> u16 {
    let line = capture(file)["response"]["statusLine"].clone();
    line.as_str()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn webhook_paths(file: &str) -> Vec<String> {
    serde_json::from_value(capture(file)["webhookPaths"].clone()).unwrap()
}

fn paths(calls: &[RecordedCall]) -> Vec<String> {
    calls.iter().map(|c| c.path_and_query.clone()).collect()
}

#[tokio::test]
async fn a_switch_is_recorded_before_the_validating_webhook_judges_it() {
    let file = "mutating/1-patch-color-switch.json";
    let (server, webhook) = case_server(file).await;
    let case = capture(file);
    assert_kubectl(
        &Kubectl::new(&server, "admin"),
        PATCH_GREEN,
        &case["commands"][0],
    )
    .await;
    let calls = webhook.take_calls();
    assert_calls(&calls, &case["webhookCalls"]);
    assert!(calls[0].request()["object"]["metadata"]["annotations"].is_null());
    assert_eq!(
        calls[1].request()["object"]["metadata"]["annotations"]["bluegreen.dev/previous-color"],
        "blue",
        "the validating webhook judges the mutated object"
    );
    let after = stored(&server);
    assert_eq!(
        essentials(&after),
        essentials(&case["storedObjectAfter"]["object"])
    );
    assert_eq!(
        annotation_owners(&after),
        annotation_owners(&case["storedObjectAfter"]["object"])
    );

    // Back to blue with curl: two `replace` ops; the answer is the stored object.
    let back = "mutating/1b-patch-color-switch-back.http.json";
    let response = replay(&server, back).await;
    assert_eq!(response.status, captured_status(back));
    let calls = webhook.take_calls();
    assert_calls(&calls, &capture(back)["webhookCalls"]);
    let after = stored(&server);
    assert_eq!(response.json(), after);
    assert_eq!(
        essentials(&after),
        essentials(&capture(back)["storedObjectAfter"]["object"])
    );
    assert_eq!(
        essentials(&response.json()),
        essentials(&capture(back)["response"]["body"])
    );
}

#[tokio::test]
async fn a_dry_run_answers_with_the_mutation_and_stores_nothing() {
    let file = "mutating/2-patch-dry-run.json";
    let (server, webhook) = case_server(file).await;
    let case = capture(file);
    let before = stored(&server);
    let kubectl = Kubectl::new(&server, "admin");
    let dry_run: Vec<&str> = [PATCH_GREEN, &["--dry-run=server"]].concat();
    assert_kubectl(&kubectl, &dry_run, &case["commands"][0]).await;
    assert_calls(&webhook.take_calls(), &case["webhookCalls"]);

    let as_json = kubectl.run(&[&dry_run[..], &["-o", "json"]].concat()).await;
    assert_eq!((as_json.code, as_json.stderr.as_str()), (0, ""));
    let printed: Value = serde_json::from_str(&as_json.stdout).unwrap();
    let captured = &case["withOutputJson"]["command"]["stdoutJson"];
    assert_eq!(essentials(&printed), essentials(captured));
    assert_eq!(resource_version(&printed), resource_version(&before));
    webhook.take_calls();

    let raw = "mutating/2-patch-dry-run.http.json";
    let response = replay(&server, raw).await;
    assert_eq!(response.status, captured_status(raw));
    assert_eq!(
        essentials(&response.json()),
        essentials(&capture(raw)["response"]["body"])
    );
    assert_eq!(
        resource_version(&response.json()),
        resource_version(&before)
    );
    assert_eq!(paths(&webhook.take_calls()), webhook_paths(raw));
    assert_eq!(stored(&server), before, "nothing stored");
}

#[tokio::test]
async fn server_side_apply_keeps_what_the_webhook_added() {
    let file = "mutating/3-ssa-helm-switch-then-reapply.json";
    let (server, webhook) = case_server(file).await;
    let case = capture(file);
    let kubectl = Kubectl::new(&server, "admin");
    let setup = &case["setup"][0];
    assert_kubectl(&kubectl, &["delete", "svc", "api"], setup).await;
    assert!(
        webhook.take_calls().is_empty(),
        "the rules leave DELETE out"
    );

    let dir = common::unique_temp_dir();
    let mut previous: Option<(Value, Value)> = None;
    for step in case["steps"].as_array().unwrap() {
        let manifest = step["manifest"].as_str().unwrap();
        let path = dir.join(manifest);
        std::fs::write(&path, case["manifests"][manifest].as_str().unwrap()).unwrap();
        let args = [
            "apply",
            "--server-side",
            "--field-manager=helm",
            "-f",
            path.to_str().unwrap(),
        ];
        assert_kubectl(&kubectl, &args, &step["commands"][0]).await;
        assert_calls(&webhook.take_calls(), &step["webhookCalls"]);
        let ours = stored(&server);
        let captured = step["storedObjectAfter"]["object"].clone();
        assert_eq!(essentials(&ours), essentials(&captured), "{}", step["step"]);
        assert_eq!(annotation_owners(&ours), annotation_owners(&captured));
        if let Some((ours_before, captured_before)) = &previous {
            // A write that changes nothing is not stored: no new resourceVersion.
            assert_eq!(
                resource_version(&ours) == resource_version(ours_before),
                resource_version(&captured) == resource_version(captured_before),
                "{}",
                step["step"]
            );
        }
        previous = Some((ours, captured));
    }
}

#[tokio::test]
async fn an_if_needed_webhook_is_called_again_after_a_later_change() {
    assert_patch_case(
        "mutating/4a-reinvocation-ifneeded-second-changes.json",
        PATCH_GREEN,
    )
    .await;
}

#[tokio::test]
async fn an_if_needed_webhook_is_not_called_again_for_its_own_change() {
    assert_patch_case(
        "mutating/4b-reinvocation-ifneeded-second-noop.json",
        PATCH_BLUE,
    )
    .await;
}

#[tokio::test]
async fn a_never_webhook_is_not_called_again() {
    assert_patch_case(
        "mutating/4c-reinvocation-never-second-changes.json",
        PATCH_GREEN,
    )
    .await;
}

#[tokio::test]
async fn a_replace_of_a_missing_key_adds_it() {
    let file = "mutating/5a0-jsonpatch-replace-missing-key.json";
    assert_patch_case(file, PATCH_BLUE).await;

    let raw = "mutating/5a0-jsonpatch-replace-missing-key.http.json";
    let (server, webhook) = case_server(file).await;
    let response = replay(&server, raw).await;
    assert_eq!(response.status, captured_status(raw));
    assert_eq!(paths(&webhook.take_calls()), webhook_paths(raw));
    assert_eq!(
        essentials(&response.json())["labels"],
        essentials(&capture(raw)["response"]["body"])["labels"]
    );
}

/// A case whose mutating webhook breaks the request (`fail`), and its `ignore` twin: the
/// kubectl error and the raw 500 of the first, the calls and stored object of both.
async fn assert_failure_cases(fail: &str, ignore: &str) {
    for file in [fail, ignore] {
        let json = format!("mutating/{file}.json");
        assert_patch_case(&json, PATCH_BLUE).await;
        let raw = format!("mutating/{file}.http.json");
        let (server, webhook) = case_server(&json).await;
        let before = stored(&server);
        let response = replay(&server, &raw).await;
        assert_eq!(response.status, captured_status(&raw), "{raw}");
        assert_eq!(paths(&webhook.take_calls()), webhook_paths(&raw), "{raw}");
        if response.status == 500 {
            assert_eq!(response.body, captured_body(&raw));
            assert_eq!(stored(&server), before, "nothing stored");
        } else {
            assert!(response.header_values("warning").is_empty());
            assert_eq!(response.json(), stored(&server));
        }
    }
}

#[tokio::test]
async fn a_patch_that_does_not_apply_refuses_the_request_whatever_the_failure_policy() {
    assert_failure_cases("5a-bad-jsonpatch-fail", "5b-bad-jsonpatch-ignore").await;
}

#[tokio::test]
async fn a_patch_that_is_no_base64_is_a_failed_call() {
    assert_failure_cases("5c-bad-base64-fail", "5d-bad-base64-ignore").await;
}

#[tokio::test]
async fn a_patch_that_is_no_json_is_a_failed_call() {
    assert_failure_cases("5e-patch-not-json-fail", "5f-patch-not-json-ignore").await;
}

#[tokio::test]
async fn an_unreachable_mutating_webhook_fails_closed_or_open() {
    let port = common::unused_port();
    let recorded = RecordingWebhook::start_with_paths(capture_answer)
        .await
        .unwrap();
    for file in ["6a-webhook-down-fail", "6b-webhook-down-ignore"] {
        let json = format!("mutating/{file}.json");
        let case = capture(&json);
        let server = capture_server().await;
        // 6a calls nothing: both start from the Service 6b's validating webhook saw as old.
        seed_service(
            &server,
            &object_before("mutating/6b-webhook-down-ignore.json").unwrap(),
        );
        register(&server, &recorded, &mutating_configuration(&json));
        let down = pointed(
            &mutating_configuration(&json),
            |path| format!("https://127.0.0.1:{port}{path}"),
            &recorded.ca_bundle(),
        );
        server.put_object(&down).unwrap();
        let mut command = case["commands"][0].clone();
        command["stderr"] = json!(
            command["stderr"]
                .as_str()
                .unwrap()
                .replace("9556", &port.to_string())
        );
        assert_kubectl(&Kubectl::new(&server, "admin"), PATCH_BLUE, &command).await;
        assert_calls(&recorded.take_calls(), &case["webhookCalls"]);
        assert_eq!(
            essentials(&stored(&server)),
            essentials(&case["storedObjectAfter"]["object"])
        );

        let raw = format!("mutating/{file}.http.json");
        seed_service(
            &server,
            &object_before("mutating/6b-webhook-down-ignore.json").unwrap(),
        );
        let response = replay(&server, &raw).await;
        assert_eq!(response.status, captured_status(&raw));
        assert_eq!(paths(&recorded.take_calls()), webhook_paths(&raw));
        if response.status == 500 {
            assert_eq!(
                response.body,
                captured_body(&raw).replace("9556", &port.to_string())
            );
        }
    }
}

#[tokio::test]
async fn mutating_webhook_configurations_are_stored_listed_and_watched() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    use kube::api::{Api, WatchEvent, WatchParams};

    let server = capture_server().await;
    let webhook = RecordingWebhook::start_with_paths(capture_answer)
        .await
        .unwrap();
    let configuration = pointed(
        &capture("mutating/webhook-configurations.json")["mutating"],
        |path| webhook.url(path),
        &webhook.ca_bundle(),
    );
    let kubectl = Kubectl::new(&server, "admin");
    let created = kubectl
        .run_with_stdin(&["create", "-f", "-"], Some(&configuration.to_string()))
        .await;
    assert_eq!(
        (created.stdout.as_str(), created.stderr.as_str()),
        (
            "mutatingwebhookconfiguration.admissionregistration.k8s.io/capture-mutating created\n",
            ""
        )
    );
    let listed = kubectl.run(&["get", "mutatingwebhookconfigurations"]).await;
    let lines: Vec<Vec<&str>> = listed
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "WEBHOOKS", "AGE"]);
    assert_eq!(lines[1][..2], ["capture-mutating", "1"]);

    let api: Api<MutatingWebhookConfiguration> = Api::all(server.client("admin").await.unwrap());
    let typed = api.get("capture-mutating").await.unwrap();
    let defaulted = &typed.webhooks.unwrap()[0];
    assert_eq!(defaulted.reinvocation_policy.as_deref(), Some("Never"));
    assert_eq!(defaulted.timeout_seconds, Some(10));
    assert_eq!(defaulted.match_policy.as_deref(), Some("Equivalent"));

    let version = typed.metadata.resource_version.unwrap();
    let mut events = api
        .watch(&WatchParams::default().timeout(60), &version)
        .await
        .unwrap()
        .boxed();
    let deleted = kubectl
        .run(&["delete", "mutatingwebhookconfiguration", "capture-mutating"])
        .await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let event = loop {
        match events.try_next().await.unwrap() {
            Some(WatchEvent::Bookmark(_)) => continue,
            other => break other,
        }
    };
    match event {
        Some(WatchEvent::Deleted(object)) => {
            assert_eq!(object.metadata.name.as_deref(), Some("capture-mutating"));
        }
        other => panic!("expected the deletion, got {other:?}"),
    }
}
