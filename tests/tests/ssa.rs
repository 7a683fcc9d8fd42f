//! Server-side apply and field ownership (`tests/captures/ssa`, cases 1–3, and the admission
//! captures of applies): the real kubectl applies with `--server-side --field-manager=…`, and
//! the stored objects, their `managedFields`, kubectl's output and the 409 bodies are the
//! captured ones.

mod common;

use bluegreen_e2e::recording_webhook::{Answer, RecordingWebhook, webhook_configuration};
use common::{Kubectl, capture, capture_server, capture_text, comparable, raw};
use serde_json::{Value, json};

/// A captured manifest of an `ssa/` case.
fn manifest(case: &str, name: &str) -> String {
    capture(&format!("ssa/{case}.json"))["manifests"][name]
        .as_str()
        .unwrap_or_else(|| panic!("{case} has no manifest {name}"))
        .to_string()
}

/// The Service a captured step left.
fn captured_after(case: &str, step: usize) -> Value {
    capture(&format!("ssa/{case}.json"))["steps"][step]["storedObjectAfter"]["object"].clone()
}

fn stored(server: &bluegreen_e2e::TestApiServer) -> Value {
    server
        .object("v1", "Service", Some("capture"), "api")
        .expect("Service api exists")
}

async fn apply(
    kubectl: &Kubectl,
    manager: &str,
    force: bool,
    manifest: &str,
) -> common::KubectlOutput {
    let manager = format!("--field-manager={manager}");
    let mut args = vec!["apply", "--server-side", manager.as_str(), "-f", "-"];
    if force {
        args.insert(2, "--force-conflicts");
    }
    kubectl.run_with_stdin(&args, Some(manifest)).await
}

#[tokio::test]
async fn an_apply_removes_what_its_manager_dropped_keeps_others_fields_and_conflicts_as_captured() {
    let server = capture_server().await;
    let kubectl = Kubectl::new(&server, "admin");
    let deleted = kubectl.run(&["delete", "svc", "api"]).await;
    assert_eq!(
        deleted.stdout, "service \"api\" deleted\n",
        "{}",
        deleted.stderr
    );

    // 1: helm applies annotations a and b (a create), then only a: b goes.
    let case = "1-apply-removes-dropped-annotation";
    for (step, file) in [(0, "svc-ab.yaml"), (1, "svc-a.yaml")] {
        let applied = apply(&kubectl, "helm", false, &manifest(case, file)).await;
        assert_eq!(applied.stdout, "service/api serverside-applied\n");
        assert_eq!(applied.stderr, "");
        assert_eq!(
            comparable(&stored(&server)),
            comparable(&captured_after(case, step)),
            "after {file}"
        );
    }

    // 2: kubectl patch adds annotation c; helm's apply without c changes nothing.
    let case = "2-apply-keeps-other-managers-annotation";
    let patched = kubectl
        .run(&[
            "patch",
            "svc",
            "api",
            "-p",
            r#"{"metadata":{"annotations":{"bluegreen.dev/c":"c-value"}}}"#,
        ])
        .await;
    assert_eq!(
        patched.stdout, "service/api patched\n",
        "{}",
        patched.stderr
    );
    let before = stored(&server);
    assert_eq!(comparable(&before), comparable(&captured_after(case, 0)));
    let reapplied = apply(&kubectl, "helm", false, &manifest(case, "svc-a.yaml")).await;
    assert_eq!(reapplied.stdout, "service/api serverside-applied\n");
    assert_eq!(stored(&server), before, "nothing written, times unchanged");
    assert_eq!(comparable(&before), comparable(&captured_after(case, 1)));

    // 3a: argocd applies color blue where helm owns the selector: refused, nothing written.
    let case = "3-conflict";
    let argocd = manifest(case, "svc-argocd-blue.yaml");
    let refused = apply(&kubectl, "argocd", false, &argocd).await;
    assert_eq!(refused.code, 1);
    assert_eq!(refused.stderr, capture_text("ssa/3-conflict.stderr.txt"));
    let http = capture("ssa/3-conflict.http.json");
    let raw_refusal = raw(
        &server,
        "admin",
        "PATCH",
        http["request"]["path"].as_str().unwrap(),
        Some("application/apply-patch+yaml"),
        http["request"]["body"].as_str().unwrap(),
    )
    .await;
    assert_eq!(raw_refusal.status, 409);
    assert_eq!(
        raw_refusal.body,
        http["response"]["bodyRaw"].as_str().unwrap().trim_end()
    );
    assert_eq!(stored(&server), before);
    assert_eq!(comparable(&before), comparable(&captured_after(case, 0)));

    // 3b: forced, argocd takes the selector; helm's entry loses it and keeps its time.
    let forced = apply(&kubectl, "argocd", true, &argocd).await;
    assert_eq!(
        forced.stdout, "service/api serverside-applied\n",
        "{}",
        forced.stderr
    );
    let after = stored(&server);
    assert_eq!(comparable(&after), comparable(&captured_after(case, 1)));
    assert_eq!(
        common::managed_fields_entry(&after, "helm")["time"],
        common::managed_fields_entry(&before, "helm")["time"]
    );

    // 3c: helm applies green again: now it conflicts with argocd.
    let back = apply(&kubectl, "helm", false, &manifest(case, "svc-a.yaml")).await;
    assert_eq!(back.code, 1);
    assert_eq!(back.stderr, capture_text("ssa/3-conflict.3c.stderr.txt"));
    assert_eq!(stored(&server), after);
}

#[tokio::test]
async fn an_update_manager_is_named_with_its_version_and_same_values_are_co_owned() {
    let server = capture_server().await;
    let admin = Kubectl::new(&server, "admin");
    admin.run(&["delete", "svc", "api"]).await;
    let service = common::service();
    let created = admin
        .run_with_stdin(&["create", "-f", "-"], Some(&service.to_string()))
        .await;
    assert_eq!(
        created.stdout, "service/api created\n",
        "{}",
        created.stderr
    );
    let patched = admin
        .run(&[
            "patch",
            "svc",
            "api",
            "-p",
            r#"{"spec":{"selector":{"app":"api","color":"green"}}}"#,
        ])
        .await;
    assert_eq!(patched.code, 0, "{}", patched.stderr);
    // admission/e-apply-server-side-conflict: the captured applier (alice, manager kubectl)
    // sends the Service with its selector back to blue; a webhook watches.
    let webhook = RecordingWebhook::start(|_| Answer::allow()).await.unwrap();
    let rules = capture("admission/webhook-configuration.json")["webhooks"][0]["rules"].clone();
    let entry = webhook.webhook_entry("capture.bluegreen.dev", "/validate", rules, json!({}));
    server
        .put_object(&webhook_configuration("capture-webhook", vec![entry]))
        .unwrap();
    let alice = Kubectl::new(&server, "alice");
    let manifest = serde_json::to_string(&service).unwrap();
    let refused = alice
        .run_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&manifest))
        .await;
    assert_eq!(
        refused.stderr,
        capture_text("admission/e-apply-server-side-conflict.stderr.txt")
    );
    assert!(webhook.calls().is_empty(), "conflicts precede admission");
    let forced = alice
        .run_with_stdin(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&manifest),
        )
        .await;
    assert_eq!(
        forced.stdout, "service/api serverside-applied\n",
        "{}",
        forced.stderr
    );
    // The webhook sees the managedFields the write stores, as the capture's did.
    let captured =
        &capture("admission/e-apply-server-side.json")["webhookCalls"][0]["review"]["request"];
    let calls = webhook.calls();
    let [call] = calls.as_slice() else {
        panic!("one webhook call: {}", calls.len())
    };
    let review = call.request();
    assert_eq!(review["options"], captured["options"]);
    for field in ["object", "oldObject"] {
        assert_eq!(
            comparable(&review[field])["metadata"]["managedFields"],
            comparable(&captured[field])["metadata"]["managedFields"],
            "{field}"
        );
    }
    let after = stored(&server);
    assert_eq!(
        comparable(&after)["metadata"]["managedFields"],
        comparable(&captured["object"])["metadata"]["managedFields"]
    );

    // Same value as the update manager owns: no conflict, both own it.
    let same = serde_json::to_string(&json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "api"}, "spec": {"selector": {"app": "api", "color": "blue"}}}))
    .unwrap();
    let co_owned = admin
        .run_with_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=argocd",
                "-f",
                "-",
            ],
            Some(&same),
        )
        .await;
    assert_eq!(co_owned.code, 0, "{}", co_owned.stderr);
    let after = stored(&server);
    assert_eq!(
        common::managed_fields_entry(&after, "argocd")["fieldsV1"],
        json!({"f:spec": {"f:selector": {}}})
    );
    assert_eq!(
        common::managed_fields_entry(&after, "kubectl")["fieldsV1"]["f:spec"]["f:selector"],
        json!({})
    );
}

/// The `managedFields` of a captured webhook call's object.
fn captured_entries(file: &str, call: usize) -> Value {
    let object = &capture(file)["webhookCalls"][call]["review"]["request"]["object"];
    comparable(object)["metadata"]["managedFields"].clone()
}

#[tokio::test]
async fn a_create_owns_what_it_set_with_its_defaults_but_not_what_the_registry_allocates() {
    let server = capture_server().await;
    let kubectl = Kubectl::new(&server, "admin");
    let mut netpol = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "api-allow-http", "labels": {"bluegreen.dev/app": "api"}},
        "spec": {"podSelector": {"matchLabels": {"app": "api"}},
                 "ingress": [{"ports": [{"port": 8080}]}]}});
    let mut route = common::http_route();
    route["metadata"]["name"] = json!("myapp-canary");
    let mut service = common::service();
    service["metadata"]["name"] = json!("api-canary");
    let cases = [
        (
            common::deployment("app-canary", "canary", "registry.example.com/api:1.2.0"),
            "admission/a-create.json",
            0,
        ),
        (service, "admission/a-create.json", 2),
        (netpol.take(), "admission/i-netpol-create.json", 0),
        (route, "admission/j-httproute-create.json", 0),
    ];
    for (manifest, file, call) in cases {
        let created = kubectl
            .run_with_stdin(&["create", "-f", "-"], Some(&manifest.to_string()))
            .await;
        assert_eq!(created.code, 0, "{}", created.stderr);
        let kind = manifest["kind"].as_str().unwrap();
        let stored = server
            .object(
                manifest["apiVersion"].as_str().unwrap(),
                kind,
                Some("capture"),
                manifest["metadata"]["name"].as_str().unwrap(),
            )
            .unwrap();
        assert_eq!(
            comparable(&stored)["metadata"]["managedFields"],
            captured_entries(file, call),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn status_and_scale_writes_are_owned_through_their_subresource() {
    let server = capture_server().await;
    let kubectl = Kubectl::new(&server, "admin");
    let status = r#"{"status":{"observedGeneration":1,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2}}"#;
    let patched = kubectl
        .run(&[
            "patch",
            "deploy",
            "app-green",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ])
        .await;
    assert_eq!(patched.code, 0, "{}", patched.stderr);
    let scaled = kubectl
        .run(&["scale", "deploy", "app-green", "--replicas=3"])
        .await;
    assert_eq!(scaled.code, 0, "{}", scaled.stderr);
    let deployment = server
        .object("apps/v1", "Deployment", Some("capture"), "app-green")
        .unwrap();
    let entries = deployment["metadata"]["managedFields"].as_array().unwrap();
    // watch/1b: the captured status patch by kubectl-patch.
    let captured = capture("watch/1b-watch-from-list-rv.json");
    let status_entry = &captured["response"]["events"][1]["object"]["metadata"]["managedFields"][2];
    let ours = entries
        .iter()
        .find(|e| e["subresource"] == "status")
        .unwrap();
    assert_eq!(
        comparable(&json!({"metadata": {"managedFields": [ours]}})),
        comparable(&json!({"metadata": {"managedFields": [status_entry]}}))
    );
    // watch/etcd-3.5.1/1a: `kubectl scale` owns spec.replicas through `scale`, with no time,
    // and the creator no longer does.
    let listed = capture("watch/etcd-3.5.1/1a-list-limit-500.json");
    let captured_entries = &listed["response"]["body"]["items"][0]["metadata"]["managedFields"];
    assert_eq!(entries[0], captured_entries[0]);
    assert_eq!(
        entries[1]["fieldsV1"], captured_entries[1]["fieldsV1"],
        "kubectl-create without f:replicas"
    );
}
