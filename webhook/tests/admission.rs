//! AdmissionReviews in, responses out: every rule and operation through the handler,
//! with the reviews kube-apiserver 1.36 really sent (tests/data) rewritten per case.

mod common;

use axum::http::StatusCode;
use bluegreen_guard::{AppState, Cache, CacheKind, Guard, Unsynced, admission_router};
use common::{Cluster, deployment, ready_status, review, set};
use rstest::rstest;
use serde_json::{Value, json};

/// A policy letting only the user ci-deployer switch, with a break-glass group.
fn ci_only() -> Value {
    json!({"switchIdentities": {"users": ["ci-deployer"], "breakGlassGroup": "sre-oncall"}})
}

fn as_user(mut review: Value, username: &str) -> Value {
    set(
        &mut review,
        "/request/userInfo",
        json!({"username": username, "groups": ["system:authenticated"]}),
    );
    review
}

/// An UPDATE of a stored Deployment to `new`, shaped like the captured CREATE.
fn deployment_update(old: Value, new: Value) -> Value {
    let mut review = review("deployment-create");
    set(&mut review, "/request/operation", json!("UPDATE"));
    set(
        &mut review,
        "/request/name",
        new["metadata"]["name"].clone(),
    );
    set(&mut review, "/request/oldObject", old);
    set(&mut review, "/request/object", new);
    review
}

/// A CREATE of `object`, shaped like the captured Deployment CREATE.
fn deployment_create(object: Value) -> Value {
    let mut review = review("deployment-create");
    set(
        &mut review,
        "/request/name",
        object["metadata"]["name"].clone(),
    );
    set(&mut review, "/request/object", object);
    review
}

fn denied(response: &Value) -> (i64, &str) {
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["status"], "Failure");
    (
        response["status"]["code"].as_i64().unwrap(),
        response["status"]["message"].as_str().unwrap(),
    )
}

fn assert_plain_allow(response: &Value) {
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("warnings").is_none(), "{response}");
    assert!(response.get("auditAnnotations").is_none(), "{response}");
}

const BG001_GREEN: &str = "BG001 ready-target: green (Deployment app-green) is not ready to take traffic: 0/2 replicas available; wait for the rollout (kubectl rollout status deployment/app-green) or fix its pods, then switch";

#[tokio::test]
async fn a_switch_to_a_ready_color_is_allowed() {
    let response = Cluster::service_app()
        .respond(&review("service-switch"))
        .await;
    assert_plain_allow(&response);
}

#[tokio::test]
async fn a_switch_to_an_unready_color_is_denied_with_bg001() {
    let mut cluster = Cluster::service_app();
    set(
        cluster.object("Deployment", "app-green"),
        "/status/availableReplicas",
        json!(0),
    );
    let response = cluster.respond(&review("service-switch")).await;
    assert_eq!(denied(&response), (403, BG001_GREEN));
}

#[tokio::test]
async fn a_policy_that_does_not_parse_refuses_the_writes_it_could_judge() {
    let broken =
        json!({"switchIdentities": {"users": ["ci-deployer"]}, "warmWindow": "half an hour"});
    let cluster = Cluster::service_app().with_policy(broken);
    // Even the identity the policy names: the defaults would let anyone switch.
    let response = cluster.respond(&review("service-switch")).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BlueGreenPolicy default: warmWindow \"half an hour\" is not a duration (failed to parse input in the \"friendly\" duration format: expected duration to start with a unit value (a decimal integer) after an optional sign, but no integer was found); write it like 30m, 2h or 1h30m. Until it is fixed or deleted, bluegreen-guard refuses the writes it judges in namespace capture rather than judge them without the guardrails it sets"
        )
    );
}

#[tokio::test]
async fn a_policy_that_does_not_parse_leaves_other_namespaces_alone() {
    let mut cluster = Cluster::service_app();
    cluster.objects.push(json!({
        "apiVersion": "bluegreen.dev/v1alpha1", "kind": "BlueGreenPolicy",
        "metadata": {"name": "team-b"},
        "spec": {"namespaceSelector": {"matchLabels": {"team": "b"}}, "capacityRatio": 0},
    }));
    assert_plain_allow(&cluster.respond(&review("service-switch")).await);
}

#[tokio::test]
async fn a_dry_run_is_judged_like_the_real_write() {
    // The captured dry run switches back from green to blue.
    let mut cluster = Cluster::service_app();
    set(
        cluster.object("Deployment", "app-blue"),
        "/status/availableReplicas",
        json!(1),
    );
    let dry_run = review("service-switch-dry-run");
    assert_eq!(dry_run["request"]["dryRun"], true);
    let mut real = dry_run.clone();
    set(&mut real, "/request/dryRun", json!(false));
    set(&mut real, "/request/options/dryRun", Value::Null);
    let response = cluster.respond(&dry_run).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG001 ready-target: blue (Deployment app-blue) is not ready to take traffic: 1/2 replicas available; wait for the rollout (kubectl rollout status deployment/app-blue) or fix its pods, then switch"
        )
    );
    assert_eq!(response, cluster.respond(&real).await);
}

#[tokio::test]
async fn a_switch_to_a_smaller_color_is_denied_with_bg002() {
    let mut cluster = Cluster::service_app();
    let green = cluster.object("Deployment", "app-green");
    set(green, "/spec/replicas", json!(1));
    set(green, "/status", ready_status(1));
    let response = cluster.respond(&review("service-switch")).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG002 capacity: green (Deployment app-green) wants 1 replicas but live blue runs 2, so it needs at least 2; scale it first (kubectl scale deployment/app-green --replicas=2; `kubectl bluegreen deploy` pre-scales the idle color)"
        )
    );
}

#[tokio::test]
async fn every_violated_rule_is_one_line_of_the_refusal() {
    let mut cluster = Cluster::service_app().with_policy(ci_only());
    let green = cluster.object("Deployment", "app-green");
    set(green, "/spec/replicas", json!(1));
    set(
        green,
        "/status",
        json!({"observedGeneration": 1, "replicas": 1}),
    );
    let response = cluster
        .respond(&as_user(review("service-switch"), "alice"))
        .await;
    let (code, message) = denied(&response);
    assert_eq!(code, 403);
    let rules: Vec<&str> = message.lines().map(|line| &line[..5]).collect();
    assert_eq!(rules, ["BG001", "BG002", "BG003"], "{message}");
}

const BG003_ALICE: &str = "BG003 switch-identity: user alice may not change the traffic of svc/api: BlueGreenPolicy default allows only user ci-deployer, break-glass group sre-oncall; run the switch from CI (kubectl bluegreen promote svc/api) or, in an emergency, as a member of the break-glass group";

#[tokio::test]
async fn only_allowed_identities_change_a_routers_traffic() {
    let cluster = Cluster::service_app().with_policy(ci_only());
    let by_ci = cluster.respond(&review("service-switch")).await;
    assert_eq!(by_ci["allowed"], true, "{by_ci}");
    let by_alice = cluster
        .respond(&as_user(review("service-switch"), "alice"))
        .await;
    assert_eq!(denied(&by_alice), (403, BG003_ALICE));
}

const BG011_UNLABEL: &str = "BG011 governed: svc/api routes traffic to the live color blue (Deployment app-blue); removing its bluegreen.dev/app label would take the app out of the guard's sight, so its next switch or deletion would not be judged; keep the label; to retire the app, delete svc/api as an identity allowed to switch, then remove the labels of its Deployments";

/// `kubectl label svc api bluegreen.dev/app-` as kube-apiserver sent it: the next write
/// of the Service would never reach the guard, so even CI may not make it.
#[tokio::test]
async fn removing_a_routers_app_label_is_refused_whoever_asks() {
    let cluster = Cluster::service_app().with_policy(ci_only());
    let by_ci = cluster.respond(&review("service-label-remove")).await;
    assert_eq!(denied(&by_ci), (403, BG011_UNLABEL));
    let by_alice = cluster
        .respond(&as_user(review("service-label-remove"), "alice"))
        .await;
    assert_eq!(
        denied(&by_alice),
        (403, format!("{BG003_ALICE}\n{BG011_UNLABEL}").as_str())
    );
}

#[tokio::test]
async fn deleting_a_router_is_privileged() {
    let mut cluster = Cluster::service_app().with_policy(ci_only());
    let mut delete = as_user(review("service-delete"), "alice");
    let stored = cluster.object("Service", "api").clone();
    set(&mut delete, "/request/name", json!("api"));
    set(&mut delete, "/request/oldObject", stored);
    assert_eq!(delete["request"]["object"], Value::Null);
    let response = cluster.respond(&delete).await;
    assert_eq!(denied(&response), (403, BG003_ALICE));
}

#[tokio::test]
async fn service_accounts_are_named_as_the_api_server_authenticates_them() {
    let sa_switch = review("service-switch-by-serviceaccount");
    let allowed = Cluster::service_app()
        .with_policy(json!({"switchIdentities": {"serviceAccounts": ["capture:deployer-bot"]}}))
        .respond(&sa_switch)
        .await;
    assert_plain_allow(&allowed);
    let refused = Cluster::service_app()
        .with_policy(ci_only())
        .respond(&sa_switch)
        .await;
    let (_, message) = denied(&refused);
    assert!(
        message.starts_with("BG003 switch-identity: user system:serviceaccount:capture:deployer-bot may not change the traffic of svc/api"),
        "{message}"
    );
}

#[tokio::test]
async fn a_break_glass_switch_is_allowed_and_audited() {
    let cluster = Cluster::service_app().with_policy(ci_only());
    let mut switch = as_user(review("service-switch"), "bob");
    set(
        &mut switch,
        "/request/userInfo/groups",
        json!(["sre-oncall", "system:authenticated"]),
    );
    let response = cluster.respond(&switch).await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("warnings").is_none());
    assert_eq!(
        response["auditAnnotations"]["bg003-switch-identity"],
        "BG003 switch-identity: user bob changed the traffic of svc/api as a member of break-glass group sre-oncall; review this break-glass switch; routine switches belong to CI"
    );
}

#[tokio::test]
async fn an_idle_color_reading_another_secret_is_denied_with_bg004() {
    let mut cluster = Cluster::service_app();
    let old = cluster.object("Deployment", "app-green").clone();
    let mut new = old.clone();
    set(
        &mut new,
        "/spec/template/spec/containers/0/envFrom",
        json!([{"secretRef": {"name": "db-credentials-v2"}}]),
    );
    let response = cluster.respond(&deployment_update(old, new)).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG004 config-parity: green references Secret db-credentials-v2, blue does not; both colors must read the same Secret (change it in place, then restart both colors) so a rollback restores the same configuration"
        )
    );
}

#[tokio::test]
async fn a_network_policy_for_one_color_only_is_denied_with_bg005() {
    let mut create = review("networkpolicy-create");
    set(&mut create, "/request/name", json!("blue-only"));
    set(
        &mut create,
        "/request/object/metadata/name",
        json!("blue-only"),
    );
    set(
        &mut create,
        "/request/object/spec/podSelector/matchLabels",
        json!({"app": "api", "color": "blue"}),
    );
    let response = Cluster::service_app().respond(&create).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG005 netpol-parity: NetworkPolicy blue-only selects blue pods (Deployment app-blue) but not green pods (Deployment app-green); select both colors (match the app's labels, not color) so a switch never changes who may reach the app"
        )
    );
}

#[rstest]
#[case::create_for_both_colors("networkpolicy-create")]
#[case::delete_from_both_colors("networkpolicy-delete")]
#[tokio::test]
async fn network_policies_for_both_colors_are_allowed(#[case] fixture: &str) {
    let response = Cluster::service_app().respond(&review(fixture)).await;
    assert_plain_allow(&response);
}

#[tokio::test]
async fn unpinned_images_are_denied_with_bg006_once_keys_are_trusted() {
    let cluster = Cluster::service_app()
        .with_policy(json!({"trustedKeys": [{"name": "release", "publicKey": "PEM"}]}));
    let response = cluster
        .respond(&deployment_create(deployment("green")))
        .await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG006 signed-images: container api of green (Deployment app-green) runs registry.example.com/api:1.0.0, which is a tag, not a digest; pin it by digest (image@sha256:<digest>, as your registry or `crane digest` prints it)"
        )
    );
}

#[tokio::test]
async fn a_container_without_readiness_probe_is_warned_with_bg007() {
    let mut green = deployment("green");
    green["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("readinessProbe");
    let mut cluster = Cluster::service_app();
    cluster
        .objects
        .retain(|o| o["metadata"]["name"] != "app-green");
    let response = cluster.respond(&deployment_create(green)).await;
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("BG007 readiness-probes: "),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn deleting_the_live_color_is_denied_with_bg008() {
    let delete = review("deployment-delete");
    assert_eq!(delete["request"]["object"], Value::Null);
    let response = Cluster::service_app().respond(&delete).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG008 warm-rollback: Deployment app-blue runs the live color blue of svc/api; deleting it drops all its traffic; switch traffic to green first (kubectl bluegreen promote svc/api)"
        )
    );
}

#[tokio::test]
async fn scaling_the_previous_color_to_zero_inside_the_warm_window_is_denied_with_bg008() {
    let mut scale = review("deployment-scale");
    // autoscaling/v1 omits replicas: 0, as `kubectl scale --replicas=0` sends it.
    scale["request"]["object"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    let response = Cluster::service_app().respond(&scale).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG008 warm-rollback: Deployment app-green runs the previous color green of svc/api, kept warm for rollback until 2026-11-22T00:30:00Z (warm window 30m after the switch at 2026-11-22T00:00:00Z); scaling it to 0 replicas now would make a rollback slow; wait until 2026-11-22T00:30:00Z, then retire it (kubectl bluegreen retire svc/api)"
        )
    );
}

#[rstest]
#[case::scale_up("app-green", 4)]
#[case::deployment_not_in_cache("unrelated", 0)]
#[tokio::test]
async fn other_scales_are_allowed(#[case] name: &str, #[case] replicas: i64) {
    let mut scale = review("deployment-scale");
    set(&mut scale, "/request/name", json!(name));
    set(&mut scale, "/request/object/spec/replicas", json!(replicas));
    let response = Cluster::service_app().respond(&scale).await;
    assert_plain_allow(&response);
}

#[tokio::test]
async fn changing_the_live_template_in_place_is_denied_with_bg009() {
    let mut cluster = Cluster::service_app();
    let old = cluster.object("Deployment", "app-blue").clone();
    let mut new = old.clone();
    set(
        &mut new,
        "/spec/template/spec/containers/0/image",
        json!("registry.example.com/api:1.0.1"),
    );
    let response = cluster.respond(&deployment_update(old.clone(), new)).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG009 immutable-live: Deployment app-blue runs the live color blue of svc/api; changing it in place (container api image registry.example.com/api:1.0.0 → registry.example.com/api:1.0.1) is a rolling update on live traffic; deploy to the idle color and promote it: kubectl bluegreen deploy svc/api --image api=registry.example.com/api:1.0.1"
        )
    );

    let mut scaled = old.clone();
    set(&mut scaled, "/spec/replicas", json!(5));
    let response = cluster.respond(&deployment_update(old, scaled)).await;
    assert_plain_allow(&response);
}

#[tokio::test]
async fn a_router_whose_colors_are_one_deployment_is_denied_with_bg010() {
    let mut switch = review("service-switch");
    // Without the color label the selector matches both Deployments.
    set(
        &mut switch,
        "/request/object/spec/selector",
        json!({"app": "api"}),
    );
    let response = Cluster::service_app().respond(&switch).await;
    assert_eq!(
        denied(&response),
        (
            403,
            "BG010 distinct-colors: this change would break the app: its selector has no \"color\" key, so it does not pick a color; add `color: <color>` to spec.selector, or name the color label with the annotation bluegreen.dev/color-label"
        )
    );
}

#[tokio::test]
async fn an_httproute_switch_is_judged_like_a_selector_switch() {
    let mut cluster = Cluster::route_app();
    let switch = review("httproute-switch");
    assert_plain_allow(&cluster.respond(&switch).await);
    set(
        cluster.object("Deployment", "app-green"),
        "/status/availableReplicas",
        json!(0),
    );
    let response = cluster.respond(&switch).await;
    assert_eq!(denied(&response), (403, BG001_GREEN));
}

#[tokio::test]
async fn creating_an_app_in_any_order_is_allowed() {
    let mut cluster = Cluster::route_app();
    cluster.objects.retain(|o| o["kind"] != "HTTPRoute");
    assert_plain_allow(&cluster.respond(&review("httproute-create")).await);
    let empty = Cluster { objects: vec![] };
    for fixture in [
        "deployment-create",
        "service-create",
        "networkpolicy-create",
    ] {
        assert_plain_allow(&empty.respond(&review(fixture)).await);
    }
}

/// A captured review turned into a request for another resource.
fn other_resource(group: &str, kind: &str, resource: &str, sub_resource: Option<&str>) -> Value {
    let mut other = review("service-switch");
    let request = &mut other["request"];
    set(
        request,
        "/kind",
        json!({"group": group, "version": "v1", "kind": kind}),
    );
    set(
        request,
        "/resource",
        json!({"group": group, "version": "v1", "resource": resource}),
    );
    if let Some(sub) = sub_resource {
        set(request, "/subResource", json!(sub));
    }
    // A body the guard must not try to read as a Service.
    set(request, "/object/spec", json!("not a service spec"));
    other
}

#[rstest]
#[case::configmap(other_resource("", "ConfigMap", "configmaps", None))]
#[case::deployment_status(other_resource("apps", "Deployment", "deployments", Some("status")))]
#[case::pod(other_resource("", "Pod", "pods", None))]
#[tokio::test]
async fn kinds_the_rules_do_not_judge_are_allowed(#[case] request: Value) {
    let cluster = Cluster { objects: vec![] };
    assert_plain_allow(&cluster.respond(&request).await);
    let syncing = admission_router(
        AppState::new(Guard::new(Cache::syncing(&CacheKind::ALL), Unsynced::Deny)),
        std::time::Duration::from_secs(5),
    );
    let (status, body) = common::post(syncing, request.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_plain_allow(&body["response"]);
}

#[tokio::test]
async fn before_the_caches_sync_reviews_follow_the_unsynced_flag() {
    let syncing = |mode| {
        admission_router(
            AppState::new(Guard::new(
                Cache::syncing(&[CacheKind::Deployment, CacheKind::Policy]),
                mode,
            )),
            std::time::Duration::from_secs(5),
        )
    };
    let switch = review("service-switch");
    let (_, body) = common::post(syncing(Unsynced::Deny), switch.to_string()).await;
    assert_eq!(
        denied(&body["response"]),
        (
            503,
            "bluegreen-guard is starting and its caches are still syncing (deployments, bluegreenpolicies), so it cannot judge this write yet; retry in a few seconds"
        )
    );
    let (_, body) = common::post(syncing(Unsynced::Allow), switch.to_string()).await;
    assert_plain_allow(&body["response"]);
}

#[rstest]
#[case::no_namespace_dry_run_options_or_request_kind(&["namespace", "dryRun", "options", "requestKind", "requestResource"])]
#[case::no_user_groups_or_uid(&["userInfo/groups", "userInfo/uid"])]
#[case::no_name(&["name"])]
#[tokio::test]
async fn optional_request_fields_may_be_missing(#[case] removed: &[&str]) {
    let mut switch = review("service-switch");
    for path in removed {
        let (parent, key) = path.rsplit_once('/').map_or(("", *path), |(p, k)| (p, k));
        let parent = if parent.is_empty() {
            "/request".to_string()
        } else {
            format!("/request/{parent}")
        };
        switch
            .pointer_mut(&parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
    }
    let response = Cluster::service_app().respond(&switch).await;
    assert_plain_allow(&response);
}

#[rstest]
#[case::update_without_old_object(
    "service-switch",
    "oldObject",
    "request.oldObject, which kube-apiserver always sends for UPDATE"
)]
#[case::create_without_object(
    "deployment-create",
    "object",
    "request.object, which kube-apiserver always sends for CREATE"
)]
#[case::delete_without_old_object(
    "deployment-delete",
    "oldObject",
    "request.oldObject, which kube-apiserver always sends for DELETE"
)]
#[tokio::test]
async fn a_judged_request_without_its_objects_is_refused(
    #[case] fixture: &str,
    #[case] field: &str,
    #[case] reason: &str,
) {
    let mut request = review(fixture);
    request["request"].as_object_mut().unwrap().remove(field);
    let response = Cluster::service_app().respond(&request).await;
    let (code, message) = denied(&response);
    assert_eq!(code, 400);
    assert!(message.contains(reason), "{message}");
}

#[tokio::test]
async fn an_object_that_does_not_fit_its_schema_is_refused_naming_the_field() {
    let mut switch = review("service-switch");
    set(
        &mut switch,
        "/request/object/spec/selector",
        json!(["app", "api"]),
    );
    let response = Cluster::service_app().respond(&switch).await;
    assert_eq!(
        denied(&response),
        (
            400,
            "request.object is not a valid v1 Service: spec.selector: invalid type: sequence, expected a map"
        )
    );
}

#[rstest]
#[case::not_json("{\"kind\": ", "the request body is not JSON")]
#[case::empty("", "the request body is not JSON")]
#[case::trailing_garbage(
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"} x",
    "the request body is not JSON"
)]
#[case::not_a_review(
    "[1, 2]",
    "the request body is not an admission.k8s.io/v1 AdmissionReview request"
)]
#[case::no_request(
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
    "it has no request"
)]
#[case::v1beta1(
    &review("service-switch").to_string().replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1"),
    "the guard answers apiVersion admission.k8s.io/v1 kind AdmissionReview"
)]
#[case::no_uid(&{ let mut r = review("service-switch"); r["request"].as_object_mut().unwrap().remove("uid"); r.to_string() }, "missing field `uid`")]
#[case::unknown_operation(&review("service-switch").to_string().replace("\"UPDATE\"", "\"PATCH\""), "request.operation: unknown variant `PATCH`")]
#[case::bare_request(&review("service-switch")["request"].to_string(), "it is a bare AdmissionRequest, without the AdmissionReview envelope; send {\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":<it>}")]
#[case::an_answer(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"1","allowed":true}}"#, "it carries a response and no request: the guard answers requests, not answers")]
#[case::too_deep(&format!(r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"1","object":{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"api"}},"spec":{}{}}}}}}}"#, "[".repeat(200), "]".repeat(200)), "the request body is not an admission.k8s.io/v1 AdmissionReview request: its JSON nests deeper than the 128 levels the guard reads")]
#[tokio::test]
async fn a_body_that_is_not_an_admission_review_is_a_bad_request(
    #[case] body: &str,
    #[case] reason: &str,
) {
    let (status, body) = Cluster::service_app().send_raw(body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = body.as_str().unwrap();
    assert!(text.contains(reason), "{text}");
}

/// A write of BlueGreenPolicy `name` (cluster-scoped) with these old and new specs,
/// built from a captured CREATE as kube-apiserver sends a custom resource's.
fn policy_write(operation: &str, old: Option<Value>, new: Option<Value>) -> Value {
    let mut write = review("networkpolicy-create");
    let request = &mut write["request"];
    let kind = json!({"group": "bluegreen.dev", "version": "v1alpha1", "kind": "BlueGreenPolicy"});
    let resource =
        json!({"group": "bluegreen.dev", "version": "v1alpha1", "resource": "bluegreenpolicies"});
    for (field, value) in [
        ("kind", &kind),
        ("requestKind", &kind),
        ("resource", &resource),
        ("requestResource", &resource),
    ] {
        request[field] = value.clone();
    }
    request.as_object_mut().unwrap().remove("namespace");
    request["name"] = json!("team-a");
    request["operation"] = json!(operation);
    let object = |spec: Option<Value>| match spec {
        Some(spec) => json!({
            "apiVersion": "bluegreen.dev/v1alpha1", "kind": "BlueGreenPolicy",
            "metadata": {"name": "team-a", "uid": "1d6c5b8e-policy", "generation": 1},
            "spec": spec,
        }),
        None => Value::Null,
    };
    request["oldObject"] = object(old);
    request["object"] = object(new);
    write
}

const BROKEN_WARM_WINDOW: &str = "BlueGreenPolicy team-a: warmWindow \"half an hour\" is not a duration (failed to parse input in the \"friendly\" duration format: expected duration to start with a unit value (a decimal integer) after an optional sign, but no integer was found); write it like 30m, 2h or 1h30m";

#[rstest]
#[case::warm_window(json!({"warmWindow": "half an hour"}), BROKEN_WARM_WINDOW)]
#[case::capacity_ratio(
    json!({"capacityRatio": 0}),
    "BlueGreenPolicy team-a: capacityRatio 0 must be a number above 0 (1.0 means equal capacity)"
)]
#[case::namespace_selector(
    json!({"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Equals", "values": ["a"]}]}}),
    "BlueGreenPolicy team-a: namespaceSelector is invalid (Invalid expression operator); write a label selector: matchLabels, or matchExpressions with operator In, NotIn, Exists or DoesNotExist"
)]
#[case::trusted_key(
    json!({"trustedKeys": [{"name": "release", "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"}]}),
    "BlueGreenPolicy team-a: trusted key release is not a valid public key (malformedframing); give the PEM that `cosign generate-key-pair` writes to cosign.pub"
)]
#[tokio::test]
async fn a_policy_the_guard_could_not_use_is_refused_when_written(
    #[case] spec: Value,
    #[case] message: &str,
) {
    let cluster = Cluster::service_app();
    let create = policy_write("CREATE", None, Some(spec.clone()));
    assert_eq!(denied(&cluster.respond(&create).await), (422, message));
    let update = policy_write("UPDATE", Some(json!({})), Some(spec.clone()));
    assert_eq!(denied(&cluster.respond(&update).await), (422, message));
    // Deleting it is how it gets fixed.
    let delete = policy_write("DELETE", Some(spec), None);
    assert_plain_allow(&cluster.respond(&delete).await);
}

#[tokio::test]
async fn a_usable_policy_is_allowed_and_checked_even_before_the_caches_sync() {
    let usable = json!({
        "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]},
        "warmWindow": "1h30m", "capacityRatio": 1.5, "rules": {"readinessProbes": "deny"},
        "switchIdentities": {"serviceAccounts": ["ci:deployer"]},
    });
    let cluster = Cluster::service_app();
    let create = policy_write("CREATE", None, Some(usable.clone()));
    assert_plain_allow(&cluster.respond(&create).await);

    let syncing = || {
        admission_router(
            AppState::new(Guard::new(Cache::syncing(&CacheKind::ALL), Unsynced::Deny)),
            std::time::Duration::from_secs(5),
        )
    };
    let (_, body) = common::post(syncing(), create.to_string()).await;
    assert_plain_allow(&body["response"]);
    let broken = policy_write(
        "UPDATE",
        Some(usable),
        Some(json!({"warmWindow": "half an hour"})),
    );
    let (_, body) = common::post(syncing(), broken.to_string()).await;
    assert_eq!(denied(&body["response"]), (422, BROKEN_WARM_WINDOW));
}

/// An object named otherwise than the request (which kube-apiserver never sends) is
/// refused by name, not judged as a write of another object, and never panics.
#[rstest]
#[case::renamed_object("/request/object/metadata/name", json!("something-else"), "request.object is named \"something-else\" but the request writes \"api\"; send the object the request names")]
#[case::renamed_old_object("/request/oldObject/metadata/name", json!("app-green"), "request.oldObject is named \"app-green\" but the request writes \"api\"; send the object the request names")]
#[case::nameless_object(
    "/request/object/metadata/name",
    Value::Null,
    "request.object is named \"\" but the request writes \"api\"; send the object the request names"
)]
#[tokio::test]
async fn an_object_that_is_not_the_one_the_request_names_is_refused(
    #[case] pointer: &str,
    #[case] value: Value,
    #[case] message: &str,
) {
    let mut update = review("service-switch");
    assert_eq!(update["request"]["name"], "api");
    set(&mut update, pointer, value);
    let response = Cluster::service_app().respond(&update).await;
    assert_eq!(denied(&response), (400, message));
}
