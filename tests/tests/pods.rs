//! The Pods the status helpers keep in line with a Deployment (a stand-in for the ReplicaSet
//! controller and kubelets), read through kube-rs, watch and kubectl.

mod common;

use common::{Kubectl, capture_server};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

fn ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.clone());
    conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn blue_pods(pods: &Api<Pod>) -> Vec<Pod> {
    pods.list(&ListParams::default().labels("app=api,color=blue"))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn rolled_out_deployments_have_ready_running_pods() {
    let server = capture_server().await;
    let pods: Api<Pod> = Api::namespaced(server.client("admin").await.unwrap(), "capture");
    assert!(blue_pods(&pods).await.is_empty(), "no controller, no pods");

    server
        .mark_deployment_rolled_out("capture", "app-blue")
        .unwrap();
    let listed = blue_pods(&pods).await;
    assert_eq!(listed.len(), 2);
    let labels = listed[0].metadata.labels.clone().unwrap();
    let hash = labels["pod-template-hash"].clone();
    assert_eq!(labels["bluegreen.dev/app"], "api");
    for pod in &listed {
        let name = pod.metadata.name.as_deref().unwrap();
        assert!(name.starts_with(&format!("app-blue-{hash}-")), "{name}");
        assert!(ready(pod));
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.pod_ip.as_deref(), Some("127.0.0.1"));
        let container = &status.container_statuses.as_ref().unwrap()[0];
        assert!(container.ready);
        assert_eq!(container.restart_count, 0);
        assert_eq!(container.image, "registry.example.com/api:1.0.0");
    }
    let green = pods
        .list(&ListParams::default().labels("color=green"))
        .await
        .unwrap();
    assert!(
        green.items.is_empty(),
        "only the marked Deployment has pods"
    );

    let names = |pods: &[Pod]| -> Vec<String> {
        pods.iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    };
    server
        .mark_deployment_not_ready("capture", "app-blue")
        .unwrap();
    let not_ready = blue_pods(&pods).await;
    assert_eq!(
        names(&not_ready),
        names(&listed),
        "the same pods, now unready"
    );
    assert!(not_ready.iter().all(|p| !ready(p)));
    assert_eq!(
        server.deployment_pods("capture", "app-blue").unwrap().len(),
        2
    );
}

#[tokio::test]
async fn pods_follow_scaling_and_new_templates() {
    let server = capture_server().await;
    let client = server.client("admin").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "capture");
    let deployments: Api<Deployment> = Api::namespaced(client, "capture");
    server
        .mark_deployment_rolled_out("capture", "app-blue")
        .unwrap();
    let old_hash =
        blue_pods(&pods).await[0].metadata.labels.clone().unwrap()["pod-template-hash"].clone();

    let patch = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
        {"name": "api", "image": "registry.example.com/api:2.0.0"}]}}}});
    deployments
        .patch(
            "app-blue",
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
        .unwrap();
    assert_eq!(
        blue_pods(&pods).await.len(),
        2,
        "API writes alone change no pods"
    );
    server
        .mark_deployment_rolled_out("capture", "app-blue")
        .unwrap();
    let rolled = blue_pods(&pods).await;
    assert_eq!(rolled.len(), 3);
    for pod in &rolled {
        let labels = pod.metadata.labels.clone().unwrap();
        assert_ne!(labels["pod-template-hash"], old_hash);
        let image = &pod
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .image;
        assert_eq!(image, "registry.example.com/api:2.0.0");
    }

    server
        .set_deployment_status(
            "capture",
            "app-blue",
            json!({"replicas": 3, "readyReplicas": 1}),
        )
        .unwrap();
    let partly = blue_pods(&pods).await;
    assert_eq!(partly.iter().filter(|p| ready(p)).count(), 1);
    server
        .set_deployment_status("capture", "app-blue", json!({}))
        .unwrap();
    assert!(blue_pods(&pods).await.is_empty());
}

#[tokio::test]
async fn restarts_are_counted_kept_and_watched() {
    let server = capture_server().await;
    let pods: Api<Pod> = Api::namespaced(server.client("admin").await.unwrap(), "capture");
    server
        .mark_deployment_rolled_out("capture", "app-green")
        .unwrap();
    let pod = server.deployment_pods("capture", "app-green").unwrap()[0].clone();
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let rv = pod["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = pods
        .watch(&WatchParams::default().labels("color=green"), &rv)
        .await
        .unwrap()
        .boxed();

    let bumped = server.bump_pod_restart_count("capture", &name).unwrap();
    assert_eq!(bumped["status"]["containerStatuses"][0]["restartCount"], 1);
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Modified(pod)) => {
            let status = &pod.status.unwrap().container_statuses.unwrap()[0];
            assert_eq!(status.restart_count, 1);
            assert!(status.ready, "the pod recovered");
            assert!(status.last_state.as_ref().unwrap().terminated.is_some());
        }
        other => panic!("expected MODIFIED, got {other:?}"),
    }

    server
        .mark_deployment_rolled_out("capture", "app-green")
        .unwrap();
    let again = pods.get(&name).await.unwrap();
    let statuses = again.status.unwrap().container_statuses.unwrap();
    assert_eq!(statuses[0].restart_count, 1, "a re-mark keeps restarts");
    assert!(server.bump_pod_restart_count("capture", "missing").is_err());
}

#[tokio::test]
async fn kubectl_lists_pods_as_a_table() {
    let server = capture_server().await;
    server
        .mark_deployment_rolled_out("capture", "app-blue")
        .unwrap();
    server
        .mark_deployment_not_ready("capture", "app-green")
        .unwrap();
    let kubectl = Kubectl::new(&server, "admin");
    let output = kubectl.run(&["get", "pods", "-o", "wide"]).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{}", output.stdout);
    assert_eq!(lines.len(), 5, "{}", output.stdout);
    let columns = |prefix: &str| -> Vec<Vec<&str>> {
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.split_whitespace().collect())
            .collect()
    };
    for row in columns("app-blue-") {
        assert_eq!(row[1..4], ["1/1", "Running", "0"], "{row:?}");
        assert_eq!(row[5], "127.0.0.1");
    }
    for row in columns("app-green-") {
        assert_eq!(row[1], "0/1", "{row:?}");
    }
    let one = kubectl
        .run(&["get", "po", "-l", "color=blue", "-o", "name"])
        .await;
    assert_eq!(one.stdout.lines().count(), 2, "{}", one.stdout);
    assert!(one.stdout.starts_with("pod/app-blue-"), "{}", one.stdout);
}
