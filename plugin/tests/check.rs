//! `kubectl bluegreen check -f` driven through the built binary, as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn bluegreen(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_kubectl-bluegreen"))
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn healthy_examples_pass() {
    let out = bluegreen(&[
        "check",
        "-f",
        "examples/service-selector",
        "-f",
        "examples/httproute/app.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn the_broken_release_is_denied_with_rule_ids_and_fixes() {
    let out = bluegreen(&["check", "-f", "examples/broken"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn json_output_carries_every_field() {
    let out = bluegreen(&["check", "-f", "examples/broken", "-o", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings: Vec<(String, String, String)> = report["apps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|app| app["findings"].as_array().unwrap().clone())
        .map(|f| {
            (
                f["rule"].as_str().unwrap().into(),
                f["action"].as_str().unwrap().into(),
                f["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [
            ("BG004".into(), "deny".into(), "checkout-green".into()),
            (
                "BG005".into(),
                "deny".into(),
                "checkout-from-gateway".into()
            ),
            ("BG007".into(), "warn".into(), "checkout-green".into()),
            ("BG010".into(), "deny".into(), "search".into()),
        ]
    );
}

#[test]
fn yaml_output_parses() {
    let out = bluegreen(&["check", "-f", "examples/httproute", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = policy::yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["apps"][0]["router"].as_str(),
        Some("httproute/myapp")
    );
    assert_eq!(report["apps"][0]["live"].as_str(), Some("blue"));
}

#[test]
fn a_parse_error_names_file_and_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: many\n",
    )
    .unwrap();
    let out = bluegreen(&["check", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {}:1: document 1 (Deployment api): spec.replicas: invalid type: string \"many\", expected i32", file.display())),
        "{stderr}"
    );
}

#[test]
fn a_missing_path_says_what_to_fix() {
    let out = bluegreen(&["check", "-f", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: no/such/dir: cannot read it; check the path passed to -f: No such file or directory (os error 2)\n"
    );
}

#[test]
fn an_app_that_cannot_be_understood_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one-color.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {selector: {app: api, color: blue}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api-blue}\nspec:\n  selector: {matchLabels: {app: api, color: blue}}\n  template:\n    metadata: {labels: {app: api, color: blue}}\n    spec: {containers: [{name: api, image: api}]}\n",
    )
    .unwrap();
    let out = bluegreen(&["check", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("error   svc/api  svc/api: only the blue color exists (Deployment api-blue); a blue-green app needs a second Deployment"), "{}", text(&out.stdout));
}

#[test]
fn stdin_is_read_with_dash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-bluegreen"))
        .args(["check", "-f", "-", "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let manifest =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/httproute/app.yaml"))
            .unwrap();
    child.stdin.take().unwrap().write_all(&manifest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn offline_signatures_are_not_verified_and_check_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: bluegreen.dev/v1alpha1\nkind: BlueGreenPolicy\nmetadata: {name: signed}\nspec:\n  trustedKeys:\n    - name: release\n      publicKey: |\n        -----BEGIN PUBLIC KEY-----\n        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n        -----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let out = bluegreen(&[
        "check",
        "-f",
        "examples/service-selector",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(
        text(&out.stderr),
        "note: BG006 signed-images: signatures are not verified offline, so a pinned image counts as signed here; `kubectl bluegreen check APP` verifies them against the registries\n"
    );
    // Without trusted keys BG006 is off and nothing is said.
    let out = bluegreen(&["check", "-f", "examples/service-selector"]);
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_labelled_router_over_an_unlabelled_color_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    let color = |color: &str, labels: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api-{color}, namespace: shop{labels}}}\nspec:\n  selector: {{matchLabels: {{app: api, color: {color}}}}}\n  template:\n    metadata: {{labels: {{app: api, color: {color}}}}}\n    spec: {{containers: [{{name: api, image: api, readinessProbe: {{httpGet: {{path: /, port: 80}}}}}}]}}\n"
        )
    };
    let manifests = [
        "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop, labels: {bluegreen.dev/app: api}}\nspec: {selector: {app: api, color: blue}}\n".to_string(),
        color("blue", ", labels: {bluegreen.dev/app: api}"),
        color("green", ""),
    ];
    std::fs::write(&file, manifests.join("---\n")).unwrap();
    let out = bluegreen(&["check", "-f", file.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = &report["apps"][0]["findings"][0];
    assert_eq!(finding["rule"], "BG011");
    assert_eq!(finding["action"], "deny");
    assert_eq!(
        finding["message"],
        "svc/api is governed (bluegreen.dev/app=api) but Deployment api-green of its color green is not, so the API server never sends the guard its writes"
    );
    assert_eq!(
        finding["fix"],
        "label the app's objects: kubectl bluegreen init svc/api (or kubectl label deployment api-green bluegreen.dev/app=api)"
    );
}
