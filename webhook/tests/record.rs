//! The mutating webhook (`POST /mutate`): the record of a switch on its router, whoever
//! makes it, as the JSONPatch kube-apiserver applies before the validating webhooks.

mod common;

use base64::Engine as _;
use common::{Cluster, NOW, post_to, review, set};
use serde_json::{Value, json};

/// The `response` of `/mutate` for a review, and its patch decoded (`Null` when none).
async fn mutate(cluster: &Cluster, review: &Value) -> (Value, Value) {
    let (status, body) = post_to(cluster.router(), "/mutate", review.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "AdmissionReview");
    let response = body["response"].clone();
    assert_eq!(response["uid"], review["request"]["uid"]);
    assert_eq!(
        response["allowed"], true,
        "the mutating webhook never refuses"
    );
    let patch = match response["patch"].as_str() {
        None => Value::Null,
        Some(encoded) => {
            assert_eq!(response["patchType"], "JSONPatch");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        }
    };
    (response, patch)
}

/// The history after one switch at [`NOW`] by `by` through field manager `manager`, with
/// both colors' images as stored.
fn history_entry(from: &str, to: &str, by: &str, manager: &str) -> String {
    let images = json!({"api": "registry.example.com/api:1.0.0"});
    format!(
        r#"[{{"time":"{NOW}","from":"{from}","to":"{to}","images":{{"blue":{images},"green":{images}}},"by":"{by}","manager":"{manager}"}}]"#
    )
}

#[tokio::test]
async fn a_kubectl_patch_switch_is_recorded_with_who_made_it_and_their_tool() {
    let cluster = Cluster::service_app();
    let (_, patch) = mutate(&cluster, &review("service-switch")).await;
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/metadata/annotations", "value": {
            "bluegreen.dev/history": history_entry("blue", "green", "ci-deployer", "kubectl-patch"),
            "bluegreen.dev/live-since": NOW,
            "bluegreen.dev/previous-color": "blue",
        }}])
    );
}

/// A request without options names no field manager: the entry names the user only.
#[tokio::test]
async fn a_switch_without_a_field_manager_is_recorded_without_one() {
    let cluster = Cluster::service_app();
    let mut switch = review("service-switch");
    switch["request"].as_object_mut().unwrap().remove("options");
    let (_, patch) = mutate(&cluster, &switch).await;
    let history = patch[0]["value"]["bluegreen.dev/history"].as_str().unwrap();
    let history: Value = serde_json::from_str(history).unwrap();
    assert_eq!(history[0]["by"], "ci-deployer");
    assert_eq!(history[0].get("manager"), None, "{history}");
}

#[tokio::test]
async fn a_switch_its_writer_recorded_is_recorded_once() {
    let cluster = Cluster::service_app();
    let mut plugin_switch = review("service-switch");
    set(
        &mut plugin_switch,
        "/request/object/metadata/annotations",
        json!({"bluegreen.dev/live-since": "2026-11-22T00:09:59Z",
               "bluegreen.dev/previous-color": "blue",
               "bluegreen.dev/history": "[]"}),
    );
    let (response, patch) = mutate(&cluster, &plugin_switch).await;
    assert_eq!(patch, Value::Null, "{response}");
}

#[tokio::test]
async fn a_write_that_drops_or_rewrites_the_record_gets_it_back() {
    let cluster = Cluster::service_app();
    let stored = json!({"bluegreen.dev/live-since": "2026-11-22T00:00:00Z",
                        "bluegreen.dev/previous-color": "green",
                        "bluegreen.dev/history": "[]"});
    // Not a switch (blue stays live): e.g. `kubectl replace` of the original manifest.
    let mut replace = review("service-switch");
    set(
        &mut replace,
        "/request/object/spec/selector/color",
        json!("blue"),
    );
    set(
        &mut replace,
        "/request/oldObject/metadata/annotations",
        stored.clone(),
    );
    let (_, patch) = mutate(&cluster, &replace).await;
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/metadata/annotations", "value": stored}])
    );
    // An older live-since would reopen the warm window early.
    set(
        &mut replace,
        "/request/object/metadata/annotations",
        json!({"bluegreen.dev/live-since": "2000-01-01T00:00:00Z",
               "bluegreen.dev/previous-color": "green",
               "bluegreen.dev/history": "[]",
               "team": "payments"}),
    );
    let (_, patch) = mutate(&cluster, &replace).await;
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/metadata/annotations/bluegreen.dev~1live-since", "value": "2026-11-22T00:00:00Z"}])
    );
}

#[tokio::test]
async fn a_router_created_over_a_serving_color_is_a_switch_from_it() {
    let cluster = Cluster::service_app();
    let (_, patch) = mutate(&cluster, &review("service-create")).await;
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/metadata/annotations", "value": {
            "bluegreen.dev/history": history_entry("green", "blue", "admin", "kubectl-create"),
            "bluegreen.dev/live-since": NOW,
            "bluegreen.dev/previous-color": "green",
        }}])
    );
    // A first install: the other color has no available pods yet.
    let mut cluster = Cluster::service_app();
    set(
        cluster.object("Deployment", "app-green"),
        "/status",
        json!({}),
    );
    let (response, patch) = mutate(&cluster, &review("service-create")).await;
    assert_eq!(patch, Value::Null, "{response}");
}

#[tokio::test]
async fn other_writes_get_no_patch() {
    let cluster = Cluster::service_app();
    for name in ["deployment-create", "service-delete"] {
        let (response, patch) = mutate(&cluster, &review(name)).await;
        assert_eq!(patch, Value::Null, "{name}: {response}");
    }
}

/// kube-apiserver calls the webhook again (reinvocationPolicy IfNeeded) with the object
/// its patch produced: the record is there, so nothing more is added.
#[tokio::test]
async fn a_reinvocation_with_the_record_in_place_adds_nothing() {
    let cluster = Cluster::service_app();
    let mut switch = review("service-switch");
    let (_, patch) = mutate(&cluster, &switch).await;
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    json_patch::patch(&mut switch["request"]["object"], &patch).unwrap();
    let (response, again) = mutate(&cluster, &switch).await;
    assert_eq!(again, Value::Null, "{response}");
}

/// A server-side dry run (here the captured switch back from green to blue) gets its
/// record like any switch: kube-apiserver shows the patched object and stores nothing.
#[tokio::test]
async fn a_dry_run_gets_the_record_in_its_response() {
    let cluster = Cluster::service_app();
    let dry_run = review("service-switch-dry-run");
    assert_eq!(dry_run["request"]["dryRun"], true);
    assert_eq!(
        dry_run["request"]["oldObject"]["spec"]["selector"]["color"],
        "green"
    );
    let (_, patch) = mutate(&cluster, &dry_run).await;
    assert_eq!(patch[0]["path"], "/metadata/annotations");
    let record = &patch[0]["value"];
    assert_eq!(record["bluegreen.dev/previous-color"], "green");
    assert_eq!(record["bluegreen.dev/live-since"], NOW);
    assert_eq!(
        record["bluegreen.dev/history"],
        history_entry("green", "blue", "ci-deployer", "kubectl-patch")
    );
}

/// An HTTPRoute's color Service is no router: its route carries the record, so a write of
/// the Service gets none (the validating webhook judges what it does to the route).
#[tokio::test]
async fn a_color_service_of_a_route_carries_no_record() {
    let cluster = Cluster::route_app();
    let mut repoint = review("service-switch");
    for pointer in [
        "/request/name",
        "/request/object/metadata/name",
        "/request/oldObject/metadata/name",
    ] {
        set(&mut repoint, pointer, json!("app-blue"));
    }
    set(
        &mut repoint,
        "/request/oldObject/spec/selector/color",
        json!("blue"),
    );
    assert_eq!(
        repoint["request"]["object"]["spec"]["selector"]["color"],
        "green"
    );
    let (response, patch) = mutate(&cluster, &repoint).await;
    assert_eq!(patch, Value::Null, "{response}");
}

/// A writer may not record its own switch as long past, which would open the warm window
/// at once: the guard's record replaces it (history from the stored one, with who asked).
#[tokio::test]
async fn a_writers_record_dated_long_ago_is_replaced() {
    let cluster = Cluster::service_app();
    let mut backdated = review("service-switch");
    set(
        &mut backdated,
        "/request/object/metadata/annotations",
        json!({"bluegreen.dev/live-since": "2000-01-01T00:00:00Z",
               "bluegreen.dev/previous-color": "blue",
               "bluegreen.dev/history": "[]"}),
    );
    let (_, patch) = mutate(&cluster, &backdated).await;
    let set_to = |key: &str| {
        patch
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"] == format!("/metadata/annotations/{}", key.replace('/', "~1")))
            .map(|op| op["value"].clone())
    };
    assert_eq!(set_to("bluegreen.dev/live-since"), Some(json!(NOW)));
    assert_eq!(
        set_to("bluegreen.dev/history"),
        Some(json!(history_entry(
            "blue",
            "green",
            "ci-deployer",
            "kubectl-patch"
        )))
    );
}
