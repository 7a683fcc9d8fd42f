//! kube-rs against the test API server: typed CRUD, every patch type, subresources, selectors,
//! and kube-runtime's watcher and reflector.

mod common;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::json;

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "api", "tier": value}},
        "data": {"value": value}
    }))
    .unwrap()
}

#[tokio::test]
async fn typed_round_trip_with_every_patch_type() {
    let server = common::capture_server().await;
    let client = server.client("admin").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "capture");

    let created = maps
        .create(&PostParams::default(), &config_map("settings", "one"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    let error = maps
        .create(&PostParams::default(), &config_map("settings", "one"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{error:?}"
    );

    let mut stale = maps.get("settings").await.unwrap();
    let mut fresh = stale.clone();
    fresh.data = Some([("value".to_string(), "two".to_string())].into());
    let replaced = maps
        .replace("settings", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        stale.metadata.resource_version
    );
    stale.data = Some([("value".to_string(), "lost".to_string())].into());
    let error = maps
        .replace("settings", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{error:?}"
    );

    let params = PatchParams::default();
    let merged = maps
        .patch(
            "settings",
            &params,
            &Patch::Merge(json!({"data": {"extra": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap().len(), 2);
    let json_patched = maps
        .patch(
            "settings",
            &params,
            &Patch::Json::<()>(
                serde_json::from_value(json!([{"op": "remove", "path": "/data/extra"}])).unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(json_patched.data.unwrap().len(), 1);
    let strategic = maps
        .patch(
            "settings",
            &params,
            &Patch::Strategic(json!({"metadata": {"labels": {"tier": null}}})),
        )
        .await
        .unwrap();
    assert!(!strategic.metadata.labels.unwrap().contains_key("tier"));
    let applied = maps
        .patch(
            "applied",
            &PatchParams::apply("bluegreen-test"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["a"], "1");

    let deleted = maps
        .delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        deleted.is_right(),
        "a ConfigMap DELETE answers with a Status, like kube-apiserver"
    );
    let error = maps.get("settings").await.unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 404),
        "{error:?}"
    );
}

#[tokio::test]
async fn lists_honour_label_and_field_selectors() {
    let server = common::capture_server().await;
    let client = server.client("admin").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "capture");
    let names = |list: kube::core::ObjectList<Deployment>| {
        list.items
            .into_iter()
            .map(|d| d.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    let blue = deployments
        .list(&ListParams::default().labels("color=blue"))
        .await
        .unwrap();
    assert_eq!(names(blue), ["app-blue"]);
    let both = deployments
        .list(&ListParams::default().labels("color in (blue,green),app"))
        .await
        .unwrap();
    assert!(both.metadata.resource_version.is_some());
    assert_eq!(names(both), ["app-blue", "app-green"]);
    let not_green = deployments
        .list(&ListParams::default().fields("metadata.name!=app-green"))
        .await
        .unwrap();
    assert_eq!(names(not_green), ["app-blue"]);
    let everywhere: Api<Deployment> = Api::all(client);
    assert_eq!(
        everywhere
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}

#[tokio::test]
async fn scale_status_and_events() {
    let server = common::capture_server().await;
    let client = server.client("admin").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "capture");
    let scale = deployments
        .patch_scale(
            "app-green",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(5));

    let rolled_out = server
        .mark_deployment_rolled_out("capture", "app-green")
        .unwrap();
    assert_eq!(
        rolled_out["status"]["observedGeneration"],
        rolled_out["metadata"]["generation"]
    );
    let status = deployments
        .get_status("app-green")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(
        (
            status.ready_replicas,
            status.available_replicas,
            status.updated_replicas
        ),
        (Some(5), Some(5), Some(5))
    );
    server
        .mark_deployment_not_ready("capture", "app-green")
        .unwrap();
    let status = deployments
        .get_status("app-green")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.available_replicas, None);

    let events: Api<Event> = Api::namespaced(client, "capture");
    let event: Event = serde_json::from_value(json!({
        "metadata": {"generateName": "api."},
        "involvedObject": {"kind": "Service", "namespace": "capture", "name": "api", "apiVersion": "v1"},
        "reason": "Switched", "message": "traffic switched to green", "type": "Normal"
    }))
    .unwrap();
    let created = events.create(&PostParams::default(), &event).await.unwrap();
    assert!(created.metadata.name.unwrap().starts_with("api."));
}

#[tokio::test]
async fn watcher_and_reflector_see_added_modified_deleted() {
    let server = common::capture_server().await;
    let client = server.client("admin").await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "capture");
    let mut stream = watcher::watcher(services.clone(), watcher::Config::default()).boxed();

    // The initial list: the existing Service, then InitDone.
    let mut initial = Vec::new();
    loop {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::InitApply(svc) => initial.push(svc.metadata.name.unwrap()),
            WatchEvent::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["api"]);

    let mut preview = common::service();
    preview["metadata"]["name"] = json!("api-preview");
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(preview).unwrap(),
        )
        .await
        .unwrap();
    services
        .patch(
            "api-preview",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"color": "green"}}})),
        )
        .await
        .unwrap();
    services
        .delete("api-preview", &DeleteParams::default())
        .await
        .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Apply(svc) => seen.push(format!(
                "apply {}",
                svc.spec.unwrap().selector.unwrap()["color"]
            )),
            WatchEvent::Delete(svc) => seen.push(format!("delete {}", svc.metadata.name.unwrap())),
            _ => {}
        }
    }
    assert_eq!(seen, ["apply blue", "apply green", "delete api-preview"]);

    // A reflector's store converges on the server's state.
    let (reader, writer) = kube::runtime::reflector::store::<Service>();
    let reflector = kube::runtime::reflector(
        writer,
        watcher::watcher(services, watcher::Config::default()),
    );
    tokio::spawn(reflector.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    assert_eq!(reader.state().len(), 1);
}

#[tokio::test]
async fn watches_resume_expire_and_stream_initial_events() {
    let server = common::capture_server().await;
    let client = server.client("admin").await.unwrap();
    let path = "/apis/apps/v1/namespaces/capture/deployments";

    server.compact_history();
    let expired = common::raw_with(
        &client,
        "GET",
        &format!("{path}?watch=true&resourceVersion=1&timeoutSeconds=1"),
        None,
        "",
    )
    .await;
    assert_eq!(expired.status, 200);
    let captured_line = common::capture_text("watch/3-watch-too-old-resourceversion.jsonl");
    assert_eq!(
        expired.body,
        captured_line
            .trim_end()
            .replace("(234)", &format!("({})", server.resource_version()))
    );

    let streaming = common::raw_with(
        &client,
        "GET",
        &format!("{path}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"),
        None,
        "",
    )
    .await;
    let events: Vec<serde_json::Value> = streaming
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "ADDED", "BOOKMARK", "BOOKMARK"]);
    assert_eq!(
        events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert!(
        streaming
            .body
            .starts_with("{\"type\":\"ADDED\",\"object\":{")
    );
}
