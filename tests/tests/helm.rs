//! The real helm against the test API server: helm v4 installs, upgrades (a no-op, a forced
//! one, one refused by a field conflict) and uninstalls the chart of `tests/captures/ssa/4*`
//! with server-side apply and protobuf release Secrets, and prints and stores what it did
//! against kube-apiserver. Helm v3's client-side three-way merge works too.

mod common;

use std::path::{Path, PathBuf};

use bluegreen_e2e::TestApiServer;
use common::{Kubectl, capture, capture_server, capture_text, comparable, unique_temp_dir};
use serde_json::{Value, json};

/// The chart of the captures (`tests/fixtures/ssa-chart`).
fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ssa-chart")
}

struct Helm {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
}

struct HelmOutput {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Helm {
    /// `binary` as admin, with empty cache, config, data and discovery-cache folders of its own.
    fn new(server: &TestApiServer, binary: PathBuf) -> Self {
        let home = unique_temp_dir();
        let kubeconfig = server
            .write_kubeconfig("admin", "capture", &home)
            .expect("kubeconfig");
        Helm {
            binary,
            kubeconfig,
            home,
        }
    }

    async fn run(&self, args: &[&str]) -> HelmOutput {
        let output = tokio::process::Command::new(&self.binary)
            .args(args)
            .args(["-n", "capture", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            .env("KUBECACHEDIR", self.home.join("kube-cache"))
            .output()
            .await
            .expect("helm runs");
        HelmOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Helm's report without its `LAST DEPLOYED:` time.
fn report(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|line| !line.starts_with("LAST DEPLOYED:"))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn captured_stdout(step: &Value) -> String {
    report(step["command"]["stdout"].as_str().expect("captured stdout"))
}

fn service(server: &TestApiServer) -> Option<Value> {
    server.object("v1", "Service", Some("capture"), "api")
}

/// The release Secrets' `status` labels by revision.
fn release_statuses(server: &TestApiServer) -> Vec<(String, String)> {
    (1..=10)
        .filter_map(|revision| {
            let name = format!("sh.helm.release.v1.bluegreen.v{revision}");
            let secret = server.object("v1", "Secret", Some("capture"), &name)?;
            let status = secret["metadata"]["labels"]["status"].as_str()?.to_string();
            Some((format!("v{revision}"), status))
        })
        .collect()
}

/// A server as the captures' helm found it: no Service `api`.
async fn server_without_service() -> TestApiServer {
    let server = capture_server().await;
    let deleted = Kubectl::new(&server, "admin")
        .run(&["delete", "svc", "api"])
        .await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    server
}

fn assert_service_as_captured(server: &TestApiServer, captured: &Value) {
    let stored = service(server).expect("the Service exists");
    assert_eq!(comparable(&stored), comparable(captured));
}

#[tokio::test]
async fn helm_4_installs_upgrades_and_uninstalls_with_server_side_apply_as_captured() {
    let server = server_without_service().await;
    let helm = Helm::new(&server, bluegreen_e2e::chart::helm());
    let chart = chart();
    let chart = chart.to_str().unwrap();

    let install = capture("ssa/4a-helm-install.json");
    let installed = helm.run(&["install", "bluegreen", chart]).await;
    assert_eq!(installed.code, 0, "{}", installed.stderr);
    assert_eq!(report(&installed.stdout), captured_stdout(&install));
    assert_eq!(installed.stderr, "");
    assert_service_as_captured(&server, &install["storedServiceAfter"]["object"]);
    assert_eq!(
        release_statuses(&server),
        [("v1".into(), "deployed".into())]
    );
    // The release Secret, created and replaced as protobuf, as the capture's PUT answered it
    // (request 21, whose body is protobuf): owned by `Helm`, the User-Agent's name.
    let secret = server
        .object(
            "v1",
            "Secret",
            Some("capture"),
            "sh.helm.release.v1.bluegreen.v1",
        )
        .unwrap();
    let entry = common::managed_fields_entry(&secret, "Helm");
    assert_eq!(entry["operation"], "Update");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:data": {".": {}, "f:release": {}}, "f:metadata": {"f:labels": {".": {},
            "f:modifiedAt": {}, "f:name": {}, "f:owner": {}, "f:status": {}, "f:version": {}}},
            "f:type": {}})
    );

    let upgrade = capture("ssa/4b-helm-upgrade.json");
    let green = ["upgrade", "bluegreen", chart, "--set", "liveColor=green"];
    let upgraded = helm.run(&green).await;
    assert_eq!(upgraded.code, 0, "{}", upgraded.stderr);
    assert_eq!(report(&upgraded.stdout), captured_stdout(&upgrade));
    assert_service_as_captured(&server, &upgrade["storedServiceAfter"]["object"]);

    // 4c: the same upgrade again changes nothing; a forced one switches back.
    let steps = capture("ssa/4c-helm-upgrade-noop-and-force.json")["steps"].clone();
    let before = service(&server);
    let again = helm.run(&green).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(report(&again.stdout), captured_stdout(&steps[0]));
    assert_eq!(service(&server), before, "nothing written, times unchanged");
    let forced = helm
        .run(&[
            "upgrade",
            "bluegreen",
            chart,
            "--set",
            "liveColor=blue",
            "--force-conflicts",
        ])
        .await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(report(&forced.stdout), captured_stdout(&steps[1]));
    assert_service_as_captured(&server, &steps[1]["storedServiceAfter"]["object"]);

    // 4d: kubectl patch takes the selector; helm may not change it back, but may agree with it.
    let steps = capture("ssa/4d-helm-upgrade-conflict.json")["steps"].clone();
    let patched = Kubectl::new(&server, "admin")
        .run(&[
            "patch",
            "svc",
            "api",
            "-p",
            r#"{"spec":{"selector":{"color":"green"}}}"#,
        ])
        .await;
    assert_eq!(
        patched.stdout, "service/api patched\n",
        "{}",
        patched.stderr
    );
    assert_service_as_captured(&server, &steps[0]["storedServiceAfter"]["object"]);
    let before = service(&server);
    let refused = helm
        .run(&["upgrade", "bluegreen", chart, "--set", "liveColor=blue"])
        .await;
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        capture_text("ssa/4d-helm-upgrade-conflict.stderr.txt")
    );
    assert_eq!(service(&server), before);
    let agreed = helm.run(&green).await;
    assert_eq!(agreed.code, 0, "{}", agreed.stderr);
    assert_eq!(report(&agreed.stdout), captured_stdout(&steps[2]));
    assert_service_as_captured(&server, &steps[2]["storedServiceAfter"]["object"]);
    let statuses = release_statuses(&server);
    assert_eq!(
        statuses.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        [
            "superseded",
            "superseded",
            "superseded",
            "superseded",
            "failed",
            "deployed"
        ],
        "{statuses:?}"
    );

    let uninstall = capture("ssa/4e-helm-uninstall.json");
    let uninstalled = helm.run(&["uninstall", "bluegreen"]).await;
    assert_eq!(uninstalled.code, 0, "{}", uninstalled.stderr);
    assert_eq!(uninstalled.stdout, uninstall["command"]["stdout"]);
    assert!(service(&server).is_none());
    assert!(release_statuses(&server).is_empty());
}

#[tokio::test]
async fn helm_3_merges_three_ways_and_leaves_other_writers_fields_alone() {
    let server = server_without_service().await;
    let helm3 = bluegreen_e2e::chart::repo().join(".ci/cache/bin/helm3");
    assert!(
        helm3.exists(),
        "{} is missing: run .ci/tools.sh (the README's test command does)",
        helm3.display()
    );
    let helm = Helm::new(&server, helm3);
    let chart = chart();
    let chart = chart.to_str().unwrap();

    let installed = helm.run(&["install", "bluegreen", chart]).await;
    assert_eq!(installed.code, 0, "{}", installed.stderr);
    let annotated = Kubectl::new(&server, "admin")
        .run(&[
            "annotate",
            "svc",
            "api",
            "bluegreen.dev/previous-color=green",
        ])
        .await;
    assert_eq!(annotated.code, 0, "{}", annotated.stderr);
    let upgraded = helm
        .run(&["upgrade", "bluegreen", chart, "--set", "liveColor=green"])
        .await;
    assert_eq!(upgraded.code, 0, "{}", upgraded.stderr);
    let stored = service(&server).expect("the Service exists");
    assert_eq!(stored["spec"]["selector"]["color"], "green");
    assert_eq!(
        stored["metadata"]["annotations"]["bluegreen.dev/previous-color"],
        "green"
    );
    // Helm 3 creates and patches (`Update` by `helm`); the annotation stays another writer's.
    let owned = |manager: &str| common::managed_fields_entry(&stored, manager)["fieldsV1"].clone();
    assert_eq!(owned("helm")["f:spec"]["f:selector"], json!({}));
    assert_eq!(
        owned("kubectl-annotate"),
        json!({"f:metadata": {"f:annotations": {"f:bluegreen.dev/previous-color": {}}}})
    );
    let uninstalled = helm.run(&["uninstall", "bluegreen"]).await;
    assert_eq!(uninstalled.code, 0, "{}", uninstalled.stderr);
    assert!(service(&server).is_none());
}
