//! The real kubectl against the test API server: discovery, tables, patches, scale, label,
//! delete, create and apply print what they print against kube-apiserver.

mod common;

use common::{Kubectl, capture, capture_server};
use serde_json::Value;

/// The stdout of a captured kubectl request log.
fn captured_stdout(file: &str) -> String {
    capture(file)["stdout"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn get_prints_server_side_tables_and_json() {
    let server = capture_server().await;
    let kubectl = Kubectl::new(&server, "admin");
    server
        .mark_deployment_rolled_out("capture", "app-green")
        .unwrap();

    let table = kubectl.run(&["get", "deploy"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    let captured = captured_stdout("requests/get-deploy.json");
    assert_eq!(
        lines[0],
        captured.lines().next().unwrap(),
        "the same columns"
    );
    assert!(
        lines[1].starts_with("app-blue    0/2     0            0           "),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("app-green   2/2     2            2           "),
        "{}",
        lines[2]
    );

    let wide = kubectl.run(&["get", "svc", "api", "-o", "wide"]).await;
    assert!(
        wide.stdout.contains("ClusterIP")
            && wide.stdout.contains("80/TCP")
            && wide.stdout.contains("app=api,color=blue"),
        "{}",
        wide.stdout
    );

    let json = kubectl
        .run(&["get", "deploy", "app-green", "-o", "json"])
        .await;
    let object: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(object["kind"], "Deployment");
    assert_eq!(object["status"]["readyReplicas"], 2);
    let yaml = kubectl
        .run(&["get", "httproute", "myapp", "-o", "yaml"])
        .await;
    assert!(
        yaml.stdout.contains("kind: HTTPRoute") && yaml.stdout.contains("weight: 1"),
        "{}",
        yaml.stdout
    );

    let resources = kubectl.run(&["api-resources", "--api-group=apps"]).await;
    assert!(
        resources.stdout.contains("deployments") && resources.stdout.contains("deploy"),
        "{}",
        resources.stdout
    );
    let missing = kubectl.run(&["get", "svc", "missing"]).await;
    assert_eq!(
        missing.stderr,
        "Error from server (NotFound): services \"missing\" not found\n"
    );
}

#[tokio::test]
async fn patch_scale_label_and_delete_print_as_captured() {
    let server = capture_server().await;
    let kubectl = Kubectl::new(&server, "system:serviceaccount:ci:deployer");
    let green = r#"{"spec":{"selector":{"app":"api","color":"green"}}}"#;

    let strategic = kubectl.run(&["patch", "svc", "api", "-p", green]).await;
    assert_eq!(
        strategic.stdout,
        captured_stdout("requests/patch-svc-strategic.json")
    );
    let noop = kubectl.run(&["patch", "svc", "api", "-p", green]).await;
    assert_eq!(noop.stdout, "service/api patched (no change)\n");
    let merge = kubectl
        .run(&[
            "patch",
            "svc",
            "api",
            "--type=merge",
            "-p",
            r#"{"spec":{"selector":{"app":"api","color":"blue"}}}"#,
        ])
        .await;
    assert_eq!(
        merge.stdout,
        captured_stdout("requests/patch-svc-merge.json")
    );
    let json = kubectl
        .run(&[
            "patch",
            "svc",
            "api",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/selector/color","value":"green"}]"#,
        ])
        .await;
    assert_eq!(json.stdout, captured_stdout("requests/patch-svc-json.json"));
    let stored = server
        .object("v1", "Service", Some("capture"), "api")
        .unwrap();
    assert_eq!(stored["spec"]["selector"]["color"], "green");

    let strategic_on_cr = kubectl
        .run(&[
            "patch",
            "httproute",
            "myapp",
            "-p",
            r#"{"spec":{"hostnames":["x.example.com"]}}"#,
        ])
        .await;
    assert_eq!(strategic_on_cr.code, 1);
    assert_eq!(
        strategic_on_cr.stderr,
        common::capture_text("admission/j2-httproute-patch-strategic.stderr.txt")
    );

    let status = kubectl
        .run(&[
            "patch",
            "deploy",
            "app-green",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"readyReplicas":2,"availableReplicas":2}}"#,
        ])
        .await;
    assert_eq!(status.stdout, "deployment.apps/app-green patched\n");
    let status_again = kubectl
        .run(&[
            "patch",
            "deploy",
            "app-green",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"readyReplicas":2,"availableReplicas":2}}"#,
        ])
        .await;
    assert_eq!(
        status_again.stdout,
        captured_stdout("requests/patch-deploy-status-subresource.json")
    );

    let scaled = kubectl
        .run(&["scale", "deploy", "app-green", "--replicas=3"])
        .await;
    assert_eq!(scaled.stdout, captured_stdout("requests/scale.json"));
    let deployment = server
        .object("apps/v1", "Deployment", Some("capture"), "app-green")
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["metadata"]["generation"], 2);

    let unlabeled = kubectl
        .run(&["label", "svc", "api", "bluegreen.dev/app-"])
        .await;
    assert_eq!(
        unlabeled.stdout,
        captured_stdout("requests/label-remove.json")
    );
    let labeled = kubectl
        .run(&["label", "svc", "api", "bluegreen.dev/app=api"])
        .await;
    assert_eq!(labeled.stdout, captured_stdout("requests/label-add.json"));

    let deleted = kubectl.run(&["delete", "deploy", "app-blue"]).await;
    assert_eq!(deleted.stdout, "deployment.apps \"app-blue\" deleted\n");
    assert!(
        server
            .object("apps/v1", "Deployment", Some("capture"), "app-blue")
            .is_none()
    );
}

#[tokio::test]
async fn create_replace_and_both_kinds_of_apply() {
    let server = capture_server().await;
    let kubectl = Kubectl::new(&server, "admin");
    let netpol = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-allow-http
  labels: {bluegreen.dev/app: api}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{ports: [{port: 8080}]}]
"#;
    let created = kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(netpol))
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_eq!(
        created.stdout,
        captured_stdout("requests/apply-client-side-create.json")
    );
    let reapplied = kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&netpol.replace("8080", "9090")))
        .await;
    assert_eq!(
        reapplied.stdout,
        "networkpolicy.networking.k8s.io/api-allow-http configured\n"
    );
    let stored = server
        .object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            Some("capture"),
            "api-allow-http",
        )
        .unwrap();
    assert_eq!(stored["spec"]["ingress"][0]["ports"][0]["port"], 9090);

    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  labels: {bluegreen.dev/app: api}\nspec:\n  selector: {app: api, color: green}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n";
    let server_side = kubectl
        .run_with_stdin(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(service),
        )
        .await;
    assert_eq!(server_side.code, 0, "{}", server_side.stderr);
    assert_eq!(
        server_side.stdout,
        captured_stdout("requests/apply-server-side.json")
    );
    let stored = server
        .object("v1", "Service", Some("capture"), "api")
        .unwrap();
    assert_eq!(stored["spec"]["selector"]["color"], "green");

    let mut current: Value = serde_json::from_str(
        &kubectl
            .run(&["get", "svc", "api", "-o", "json"])
            .await
            .stdout,
    )
    .unwrap();
    current["spec"]["selector"]["color"] = "blue".into();
    let replaced = kubectl
        .run_with_stdin(&["replace", "-f", "-"], Some(&current.to_string()))
        .await;
    assert_eq!(replaced.stdout, "service/api replaced\n");
}

#[tokio::test]
async fn impersonation_acts_as_the_named_user_and_only_masters_may() {
    let server = capture_server().await;
    let admin = Kubectl::new(&server, "admin");
    let whoami = admin
        .run(&[
            "auth",
            "whoami",
            "-o",
            "json",
            "--as",
            "system:serviceaccount:ci:deployer",
            "--as-uid",
            "ci-run-1",
        ])
        .await;
    assert_eq!(whoami.code, 0, "{}", whoami.stderr);
    let review: Value = serde_json::from_str(&whoami.stdout).unwrap();
    // A ServiceAccount named without groups gets its groups, and everyone system:authenticated.
    assert_eq!(
        review["status"]["userInfo"],
        serde_json::json!({"username": "system:serviceaccount:ci:deployer", "uid": "ci-run-1",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"]})
    );

    let mut alice =
        kube::config::Kubeconfig::from_yaml(&server.kubeconfig("alice", "capture").unwrap())
            .unwrap();
    alice.auth_infos[0].auth_info.as_mut().unwrap().impersonate = Some("admin".to_string());
    let config = kube::Config::from_custom_kubeconfig(alice, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let path = "/api/v1/namespaces/capture/services/api";
    let refused = common::raw_with(&client, "GET", path, None, "").await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"users \"admin\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"name":"admin","kind":"users"},"code":403}"#
    );
}
