//! Discovery documents against the captured ones: every captured entry of a resource this
//! server serves is served identically (the captures also list resources it does not serve).

mod common;

use common::{Kubectl, capture, capture_server};
use serde_json::{Value, json};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

async fn get(
    server: &bluegreen_e2e::TestApiServer,
    path: &str,
    accept: &str,
) -> common::RawResponse {
    let client = server.client("admin").await.unwrap();
    let request = axum::http::Request::get(path)
        .header("Accept", accept)
        .body(Vec::new())
        .unwrap();
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    common::RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The group `name` of aggregated discovery (`GET /apis`).
async fn aggregated_group(server: &bluegreen_e2e::TestApiServer, name: &str) -> Value {
    let aggregated: Value =
        serde_json::from_str(&get(server, "/apis", AGGREGATED).await.body).unwrap();
    aggregated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("group {name}"))
}

/// Each captured entry (by `key`) that `served` also has must be identical.
fn assert_entries_match(served: &[Value], captured: &[Value], key: &str) -> usize {
    let mut compared = 0;
    for entry in captured {
        if let Some(ours) = served.iter().find(|o| o[key] == entry[key]) {
            assert_eq!(ours, entry, "{key} {}", entry[key]);
            compared += 1;
        }
    }
    compared
}

#[tokio::test]
async fn resource_lists_match_the_captures() {
    let server = capture_server().await;
    for (path, file, expected) in [
        ("/api/v1", "discovery/api-v1.json", 9),
        ("/apis/apps/v1", "discovery/apis-apps-v1.json", 3),
        (
            "/apis/networking.k8s.io/v1",
            "discovery/apis-networking.k8s.io-v1.json",
            1,
        ),
        (
            "/apis/admissionregistration.k8s.io/v1",
            "discovery/apis-admissionregistration.k8s.io-v1.json",
            1,
        ),
        (
            "/apis/gateway.networking.k8s.io/v1",
            "discovery/apis-gateway.networking.k8s.io-v1.json",
            2,
        ),
    ] {
        let ours = get(&server, path, "application/json").await.body;
        let ours: Value = serde_json::from_str(&ours).unwrap();
        let captured = capture(file);
        assert_eq!(ours["kind"], captured["kind"]);
        assert_eq!(ours.get("apiVersion"), captured.get("apiVersion"), "{path}");
        assert_eq!(ours["groupVersion"], captured["groupVersion"]);
        let compared = assert_entries_match(
            ours["resources"].as_array().unwrap(),
            captured["resources"].as_array().unwrap(),
            "name",
        );
        assert_eq!(compared, expected, "{path}");
    }
    let bluegreen: Value = serde_json::from_str(
        &get(&server, "/apis/bluegreen.dev/v1alpha1", "application/json")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(bluegreen["resources"][0]["name"], "bluegreenpolicies");
    assert_eq!(bluegreen["resources"][0]["namespaced"], false);
}

#[tokio::test]
async fn aggregated_discovery_matches_the_captures() {
    let server = capture_server().await;
    for (path, file) in [
        ("/api", "discovery/aggregated-api.json"),
        ("/apis", "discovery/aggregated-apis.json"),
    ] {
        let response = get(&server, path, AGGREGATED).await;
        assert_eq!(
            response.header_values("content-type"),
            ["application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"]
        );
        assert_eq!(response.header_values("cache-control"), ["public"]);
        assert_eq!(response.header_values("vary"), ["Accept"]);
        assert_eq!(response.header_values("etag").len(), 1);
        let ours: Value = serde_json::from_str(&response.body).unwrap();
        let captured = capture(file);
        for captured_group in captured["items"].as_array().unwrap() {
            let ours_group = ours["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["metadata"] == captured_group["metadata"])
                .unwrap_or_else(|| panic!("group {}", captured_group["metadata"]));
            let captured_v1 = &captured_group["versions"][0];
            let ours_v1 = &ours_group["versions"][0];
            assert_eq!(ours_v1["version"], captured_v1["version"]);
            assert_eq!(ours_v1["freshness"], captured_v1["freshness"]);
            assert!(
                assert_entries_match(
                    ours_v1["resources"].as_array().unwrap(),
                    captured_v1["resources"].as_array().unwrap(),
                    "resource",
                ) > 0
            );
        }
    }
    let plain: Value =
        serde_json::from_str(&get(&server, "/apis", "application/json").await.body).unwrap();
    assert_eq!(plain["kind"], "APIGroupList");
    let captured = capture("discovery/apis.json");
    for group in plain["groups"].as_array().unwrap() {
        if let Some(expected) = captured["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == group["name"])
        {
            assert_eq!(group["preferredVersion"], expected["preferredVersion"]);
        }
    }
    let version: Value =
        serde_json::from_str(&get(&server, "/version", "application/json").await.body).unwrap();
    assert_eq!(version, capture("discovery/version.json"));
}

/// MutatingWebhookConfigurations, which the trimmed captures leave out, are listed as
/// kube-apiserver lists them: like ValidatingWebhookConfigurations, before them, with the
/// storage version hash kube-apiserver derives from group, version and kind (the first 8 bytes
/// of SHA-256 of `admissionregistration.k8s.io/v1/MutatingWebhookConfiguration`, base64), and
/// in `kubectl api-resources` as captured.
#[tokio::test]
async fn mutating_webhook_configurations_are_discovered_like_validating_ones() {
    let server = capture_server().await;
    let renamed = |entry: &Value, name_key: &str, singular_key: &str| {
        let mut entry = entry.clone();
        entry[name_key] = json!("mutatingwebhookconfigurations");
        entry[singular_key] = json!("mutatingwebhookconfiguration");
        entry
    };
    let names = |entries: &[Value], key: &str| -> Vec<String> {
        entries
            .iter()
            .map(|e| e[key].as_str().unwrap_or_default().to_string())
            .filter(|name| name.ends_with("webhookconfigurations"))
            .collect()
    };

    let list: Value = serde_json::from_str(
        &get(
            &server,
            "/apis/admissionregistration.k8s.io/v1",
            "application/json",
        )
        .await
        .body,
    )
    .unwrap();
    let entries = list["resources"].as_array().unwrap();
    let captured = capture("discovery/apis-admissionregistration.k8s.io-v1.json");
    let validating = captured["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "validatingwebhookconfigurations")
        .unwrap();
    let mut expected = renamed(validating, "name", "singularName");
    expected["kind"] = json!("MutatingWebhookConfiguration");
    expected["storageVersionHash"] = json!("Sqi0GUgDaX0=");
    assert_eq!(
        entries.iter().find(|e| e["name"] == expected["name"]),
        Some(&expected)
    );
    assert_eq!(
        names(entries, "name"),
        [
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations"
        ]
    );

    let group = aggregated_group(&server, "admissionregistration.k8s.io").await;
    let entries = group["versions"][0]["resources"].as_array().unwrap();
    let captured = capture("discovery/aggregated-apis.json");
    let validating = captured["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["versions"][0]["resources"].as_array().unwrap())
        .find(|e| e["resource"] == "validatingwebhookconfigurations")
        .unwrap();
    let mut expected = renamed(validating, "resource", "singularResource");
    expected["responseKind"]["kind"] = json!("MutatingWebhookConfiguration");
    assert_eq!(
        entries
            .iter()
            .find(|e| e["resource"] == expected["resource"]),
        Some(&expected)
    );
    assert_eq!(
        names(entries, "resource"),
        [
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations"
        ]
    );

    // kubectl sizes columns to the rows it prints: compare the fields of each row.
    let rows = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .filter(|line| line.contains("webhookconfigurations"))
            .map(|line| line.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    let printed = Kubectl::new(&server, "admin")
        .run(&["api-resources", "--api-group=admissionregistration.k8s.io"])
        .await;
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    let captured = capture("requests/api-resources.json")["stdout"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rows(&printed.stdout), rows(&captured));
}

/// events.k8s.io/v1, where the guard records its Events and which the trimmed captures
/// list only as a group, is listed where kube-apiserver lists it (after apps), and its
/// events exactly as the captured core ones: kube-apiserver stores both as core/v1 Event,
/// hence one storage version hash (as a real cluster's `/apis/events.k8s.io/v1` shows).
#[tokio::test]
async fn events_k8s_io_is_discovered_as_kube_apiserver_serves_it() {
    let server = capture_server().await;
    let plain: Value =
        serde_json::from_str(&get(&server, "/apis", "application/json").await.body).unwrap();
    let names = |list: &Value| -> Vec<String> {
        list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (ours, captured) = (names(&plain), names(&capture("discovery/apis.json")));
    let captured_order: Vec<&String> = captured.iter().filter(|g| ours.contains(g)).collect();
    let our_order: Vec<&String> = ours.iter().filter(|g| captured.contains(g)).collect();
    assert_eq!(our_order, captured_order);
    assert!(ours.contains(&"events.k8s.io".to_string()), "{ours:?}");

    let core_entry = |file: &str, list: &str, key: &str| {
        capture(file)
            .pointer(list)
            .and_then(Value::as_array)
            .and_then(|entries| entries.iter().find(|e| e[key] == "events").cloned())
            .unwrap()
    };
    let list: Value = serde_json::from_str(
        &get(&server, "/apis/events.k8s.io/v1", "application/json")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(list["groupVersion"], "events.k8s.io/v1");
    assert_eq!(
        list["resources"],
        json!([core_entry("discovery/api-v1.json", "/resources", "name")])
    );

    let group = aggregated_group(&server, "events.k8s.io").await;
    assert_eq!(
        group["versions"][0]["resources"],
        json!([core_entry(
            "discovery/aggregated-api.json",
            "/items/0/versions/0/resources",
            "resource"
        )])
    );
}
