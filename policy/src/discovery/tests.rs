use serde_json::json;

use super::*;
use crate::rule::RuleId;
use crate::rules::fixtures::{BLUE_IMAGE, Fixture, deployment, route, service};
use crate::snapshot::Object;

fn error_of(fixture: &Fixture) -> String {
    discover_router(&fixture.snapshot(), &fixture.router)
        .unwrap_err()
        .to_string()
}

#[test]
fn service_router_finds_live_and_idle() {
    let fixture = Fixture::service_app();
    let app = fixture.app();
    assert_eq!(app.name, "api");
    assert_eq!(app.color_label, "color");
    assert_eq!(
        (app.live.color, app.live.deployment_name().as_str()),
        ("blue", "api-blue")
    );
    assert_eq!(
        (app.idle.color, app.idle.deployment_name().as_str()),
        ("green", "api-green")
    );
}

#[test]
fn route_router_infers_the_color_label_from_sibling_services() {
    let fixture = Fixture::route_app();
    let app = fixture.app();
    assert_eq!(app.color_label, "version");
    assert_eq!(app.live.service.unwrap().name_any(), "app-blue");
    assert_eq!(app.idle.service.unwrap().name_any(), "app-green");
    assert_eq!(app.idle.deployment_name(), "app-green");
}

#[test]
fn route_with_both_backends_and_zero_weight_picks_the_weighted_one() {
    let mut fixture = Fixture::route_app();
    fixture
        .objects
        .retain(|o| !matches!(o, Object::HttpRoute(_)));
    let fixture = fixture.with_object(Object::HttpRoute(route(
        "myapp",
        json!([{"name": "app-blue", "port": 80, "weight": 0}, {"name": "app-green", "port": 80, "weight": 100}]),
    )));
    assert_eq!(fixture.app().live.color, "green");
}

#[test]
fn split_traffic_is_reported() {
    let mut fixture = Fixture::route_app();
    fixture
        .objects
        .retain(|o| !matches!(o, Object::HttpRoute(_)));
    let fixture = fixture.with_object(Object::HttpRoute(route(
        "myapp",
        json!([{"name": "app-blue", "weight": 50}, {"name": "app-green", "weight": 50}]),
    )));
    assert_eq!(
        error_of(&fixture),
        "httproute/myapp: sends traffic to both colors (blue weight 50, green weight 50); blue-green needs 100% on one color: set the other backendRef's weight to 0, or run `kubectl bluegreen promote httproute/myapp`"
    );
}

#[test]
fn discover_skips_color_services_of_routes_and_finds_both_kinds() {
    let mut fixture = Fixture::route_app();
    fixture.objects.extend(Fixture::service_app().objects);
    let snapshot = fixture.snapshot();
    let apps: Vec<String> = discover(&snapshot)
        .into_iter()
        .map(|r| r.unwrap().router.reference().to_string())
        .collect();
    assert_eq!(apps, ["svc/api", "httproute/myapp"]);
}

#[test]
fn a_selector_without_the_color_label_is_explained() {
    let fixture = Fixture::service_app();
    let mut fixture = fixture;
    fixture.objects.retain(|o| !matches!(o, Object::Service(_)));
    let fixture = fixture.with_object(Object::Service(service("api", json!({"app": "api"}))));
    assert_eq!(
        error_of(&fixture),
        "svc/api: its selector has no \"color\" key, so it does not pick a color; add `color: <color>` to spec.selector, or name the color label with the annotation bluegreen.dev/color-label"
    );
}

#[test]
fn the_color_label_annotation_names_another_key() {
    let mut fixture = Fixture::service_app();
    fixture
        .objects
        .retain(|o| !matches!(o, Object::Service(_) | Object::Deployment(_)));
    let fixture = fixture
        .with_object(Object::Deployment(deployment(
            "api-v1", "version", "v1", BLUE_IMAGE,
        )))
        .with_object(Object::Deployment(deployment(
            "api-v2", "version", "v2", BLUE_IMAGE,
        )))
        .with_object(Object::Service(service(
            "api",
            json!({"app": "api", "version": "v2"}),
        )))
        .with_router_annotation("bluegreen.dev/color-label", "version");
    let app = fixture.app();
    assert_eq!((app.live.color, app.idle.color), ("v2", "v1"));
}

#[test]
fn only_one_color_is_explained() {
    let mut fixture = Fixture::service_app();
    fixture
        .objects
        .retain(|o| !matches!(o, Object::Deployment(d) if d.name_any() == "api-green"));
    assert_eq!(
        error_of(&fixture),
        "svc/api: only the blue color exists (Deployment api-blue); a blue-green app needs a second Deployment that differs only in pod label color (`kubectl bluegreen init svc/api` creates it)"
    );
}

#[test]
fn three_colors_are_explained() {
    let fixture = Fixture::service_app().with_object(Object::Deployment(deployment(
        "api-red", "color", "red", BLUE_IMAGE,
    )));
    assert_eq!(
        error_of(&fixture),
        "svc/api: found 3 colors (blue, green, red) for label color; a blue-green app has exactly two: remove or relabel the extra Deployments"
    );
}

#[test]
fn two_deployments_of_one_color_violate_bg010() {
    let fixture = Fixture::service_app().with_green(|d| {
        let spec = d.spec.as_mut().unwrap();
        spec.template
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert("color".into(), "blue".into());
        spec.selector
            .match_labels
            .as_mut()
            .unwrap()
            .insert("color".into(), "blue".into());
    });
    let err = discover_router(&fixture.snapshot(), &fixture.router).unwrap_err();
    assert_eq!(err.rule(), Some(RuleId::BG010));
    assert_eq!(
        err.to_string(),
        "svc/api: color blue resolves to 2 Deployments (api-blue, api-green); each color must be exactly one Deployment: make their pod labels differ or delete the extra"
    );
}

#[test]
fn identical_color_services_violate_bg010() {
    let mut fixture = Fixture::route_app();
    fixture
        .objects
        .retain(|o| !matches!(o, Object::Service(s) if s.name_any() == "app-green"));
    fixture
        .objects
        .retain(|o| !matches!(o, Object::HttpRoute(_)));
    let fixture = fixture
        .with_object(Object::Service(service(
            "app-green",
            json!({"app": "api", "version": "blue"}),
        )))
        .with_object(Object::HttpRoute(route(
            "myapp",
            json!([{"name": "app-blue", "weight": 1}, {"name": "app-green", "weight": 0}]),
        )));
    let err = discover_router(&fixture.snapshot(), &fixture.router).unwrap_err();
    assert_eq!(err.rule(), Some(RuleId::BG010));
    assert_eq!(
        err.to_string(),
        "httproute/myapp: Services app-blue and app-green have the same selector (app=api,version=blue), so both colors are Deployment app-blue and a switch would change nothing; make the Services differ in one label (e.g. version: blue / version: green) and give each color its own Deployment"
    );
}

#[test]
fn a_missing_backend_service_is_explained() {
    let mut fixture = Fixture::route_app();
    fixture
        .objects
        .retain(|o| !matches!(o, Object::Service(s) if s.name_any() == "app-blue"));
    assert_eq!(
        error_of(&fixture),
        "httproute/myapp: backendRef names Service app-blue, which does not exist in namespace shop; create it or fix the backendRef"
    );
}

#[test]
fn a_deployment_whose_selector_misses_its_pods_is_explained() {
    let fixture = Fixture::service_app().with_green(|d| {
        d.spec
            .as_mut()
            .unwrap()
            .selector
            .match_labels
            .as_mut()
            .unwrap()
            .insert("color".into(), "blue".into());
    });
    assert_eq!(
        error_of(&fixture),
        "Deployment api-green: spec.selector (app=api,color=blue) does not match its pod template labels; the API server refuses it: make spec.template.metadata.labels satisfy the selector"
    );
}

#[test]
fn a_missing_router_is_explained() {
    let fixture = Fixture::service_app();
    let err = discover_router(&fixture.snapshot(), &"svc/web".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "svc/web not found in namespace shop; list the apps with `kubectl bluegreen list -n shop`"
    );
}

#[test]
fn label_selectors_match_as_kubernetes_defines_them() {
    let labels: BTreeMap<String, String> = [("app", "api"), ("color", "blue")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    let selector = |value: serde_json::Value| serde_json::from_value(value).unwrap();
    let matches = |value| label_selector_matches(&selector(value), &labels);

    assert_eq!(matches(json!({})), Some(true), "empty selects everything");
    assert_eq!(matches(json!({"matchLabels": {"app": "api"}})), Some(true));
    assert_eq!(
        matches(json!({"matchLabels": {"app": "api", "color": "green"}})),
        Some(false)
    );
    let expression = |operator: &str, values: &[&str]| {
        json!({"matchLabels": {"app": "api"},
               "matchExpressions": [{"key": "color", "operator": operator, "values": values}]})
    };
    assert_eq!(matches(expression("In", &["blue", "green"])), Some(true));
    assert_eq!(matches(expression("NotIn", &["blue"])), Some(false));
    assert_eq!(matches(expression("Exists", &[])), Some(true));
    assert_eq!(matches(expression("Near", &["blue"])), None, "invalid");
}
