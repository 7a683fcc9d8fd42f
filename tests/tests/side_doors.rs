//! No side doors: the writes that would take a live app out of the guard's sight, or move
//! its traffic without a router switch, are refused through the real kubectl, whoever
//! makes them, and leave the objects unchanged (BG011 governed, and the switch rules).

use bluegreen_e2e::e2e::apps;
use bluegreen_e2e::e2e::guard::Guard;
use bluegreen_e2e::e2e::released::{SWITCH, denied, denied_creating, release, selector_color};
use bluegreen_e2e::e2e::{Cluster, Who, stderr, stdout};
use serde_json::{Value, json};

const UNREADY_GREEN: &str = "BG001 ready-target: green (Deployment api-green) is not ready to take traffic: 0/3 replicas updated, 0/3 replicas available; wait for the rollout (kubectl rollout status deployment/api-green) or fix its pods, then switch";

/// The object as stored, for comparing before and after a refused write.
async fn stored(cluster: &Cluster, api_version: &str, kind: &str, name: &str) -> Value {
    cluster
        .get(api_version, kind, name)
        .await
        .unwrap_or_else(|| panic!("{kind} {name} exists"))
}

#[tokio::test]
async fn unlabelling_the_router_then_switching_is_refused_at_the_first_write() {
    let (cluster, _guard) = release("unlabel", 0, json!({})).await;
    let before = stored(&cluster, "v1", "Service", "api").await;
    let out = cluster
        .kubectl(Who::Ci, &["label", "svc", "api", "bluegreen.dev/app-"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied(
            "routers",
            "BG011 governed: svc/api routes traffic to the live color blue (Deployment api-blue); removing its bluegreen.dev/app label would take the app out of the guard's sight, so its next switch or deletion would not be judged; keep the label; to retire the app, delete svc/api as an identity allowed to switch, then remove the labels of its Deployments"
        )
    );
    assert_eq!(stored(&cluster, "v1", "Service", "api").await, before);
    // The label stayed, so the second write is judged as the switch it is.
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(stderr(&out), denied("routers", UNREADY_GREEN));
    assert_eq!(stored(&cluster, "v1", "Service", "api").await, before);
}

#[tokio::test]
async fn deleting_the_router_and_creating_it_on_an_unready_green_is_refused() {
    let (cluster, _guard) = release("recreate", 0, json!({})).await;
    let out = cluster.kubectl(Who::Ci, &["delete", "svc", "api"]).await;
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "service \"api\" deleted\n"),
        "deleting a router is a switch identity's right: {}",
        stderr(&out)
    );
    let green = apps::service_app("green").remove(2);
    let file = cluster.manifest_file("api-green.json", &green);
    let out = cluster
        .kubectl(Who::Ci, &["create", "-f", file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied_creating(&file, "routers", UNREADY_GREEN)
    );
    assert!(cluster.get("v1", "Service", "api").await.is_none());
}

#[tokio::test]
async fn unlabelling_the_live_color_then_deleting_it_is_refused_at_the_first_write() {
    let (cluster, _guard) = release("unlabel-live", 3, json!({})).await;
    let before = stored(&cluster, "apps/v1", "Deployment", "api-blue").await;
    let out = cluster
        .kubectl(
            Who::Ci,
            &["label", "deployment", "api-blue", "bluegreen.dev/app-"],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied(
            "workloads",
            "BG011 governed: Deployment api-blue runs the live color blue of svc/api; removing its bluegreen.dev/app label would take it out of the guard's sight, so its next change (a switch, a scale to zero, a deletion) would not be judged; keep the label; once no traffic depends on it (switched away and the warm window over, or svc/api deleted by an identity allowed to switch), it may go"
        )
    );
    assert_eq!(
        stored(&cluster, "apps/v1", "Deployment", "api-blue").await,
        before
    );
    let out = cluster
        .kubectl(Who::Ci, &["delete", "deployment", "api-blue"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("BG008 warm-rollback: Deployment api-blue runs the live color blue"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stored(&cluster, "apps/v1", "Deployment", "api-blue").await,
        before
    );
}

#[tokio::test]
async fn turning_the_router_into_an_external_name_is_refused() {
    let (cluster, _guard) = release("externalname", 3, json!({})).await;
    let before = stored(&cluster, "v1", "Service", "api").await;
    let elsewhere = format!(
        r#"{{"spec":{{"type":"ExternalName","externalName":"api-green.{}.svc.cluster.local"}}}}"#,
        cluster.namespace
    );
    let out = cluster
        .kubectl(Who::Ci, &["patch", "svc", "api", "-p", &elsewhere])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied(
            "routers",
            "BG011 governed: svc/api routes traffic to the live color blue (Deployment api-blue); making it an ExternalName Service (its traffic would go to a DNS name, not to a color) would take the app out of the guard's sight, so its next switch or deletion would not be judged; keep the label; to retire the app, delete svc/api as an identity allowed to switch, then remove the labels of its Deployments"
        )
    );
    assert_eq!(stored(&cluster, "v1", "Service", "api").await, before);
}

#[tokio::test]
async fn a_router_whose_color_is_unlabelled_may_not_switch_to_it() {
    let (cluster, _guard) = release("unlabelled-color", 3, json!({})).await;
    // The idle color, outside any warm window, may leave the guard's sight...
    let out = cluster
        .kubectl(
            Who::Ci,
            &["label", "deployment", "api-green", "bluegreen.dev/app-"],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // ...but then the governed router may not send traffic to it.
    let before = selector_color(&cluster).await;
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied(
            "routers",
            "BG011 governed: svc/api is governed (bluegreen.dev/app=api) but Deployment api-green of its color green is not, so the API server never sends the guard its writes; label the app's objects: kubectl bluegreen init svc/api (or kubectl label deployment api-green bluegreen.dev/app=api)"
        )
    );
    assert_eq!(selector_color(&cluster).await, before);
}

/// The HTTPRoute app (route `myapp` to Service `app-blue`, color label `version`), blue
/// ready and green not, with the guard running.
async fn route_release(name: &str) -> (Cluster, Guard) {
    let cluster = Cluster::start(name).await;
    let mut objects = apps::route_app("blue");
    objects.push(apps::policy(&cluster.namespace, json!({})));
    cluster.apply(&objects).await;
    cluster.set_rollout("app-blue", 3).await;
    cluster.set_rollout("app-green", 0).await;
    let guard = Guard::start(&cluster).await;
    guard.register(&cluster, &[]).await;
    (cluster, guard)
}

#[tokio::test]
async fn repointing_the_live_color_service_of_a_route_is_judged_as_a_switch() {
    let (cluster, _guard) = route_release("colorsvc").await;
    let before = stored(&cluster, "v1", "Service", "app-blue").await;
    let out = cluster
        .kubectl(
            Who::Ci,
            &[
                "patch",
                "svc",
                "app-blue",
                "-p",
                r#"{"spec":{"selector":{"app":"api","version":"green"}}}"#,
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    // app-blue would select green's pods like app-green does: the route's traffic would
    // move to the unready green, with no second color left to roll back to.
    assert_eq!(
        stderr(&out),
        denied(
            "routers",
            "BG010 distinct-colors: this change would break the app: routes to Service app-blue but no other Service's selector differs from it in exactly one label, so there is no second color; create the other color's Service (e.g. app-green)"
        )
    );
    assert_eq!(stored(&cluster, "v1", "Service", "app-blue").await, before);
}

#[tokio::test]
async fn an_unlabelled_second_route_to_a_color_is_refused() {
    let (cluster, _guard) = route_release("shortcut").await;
    let shortcut = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shortcut"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "app-green", "port": 80}]}]}
    });
    let file = cluster.manifest_file("shortcut.json", &shortcut);
    let out = cluster
        .kubectl(Who::Ci, &["create", "-f", file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied_creating(
            &file,
            "unlabelled-routes",
            "BG011 governed: httproute/shortcut is not labelled bluegreen.dev/app but sends traffic to Service app-green, which selects the pods of green (Deployment app-green) of httproute/myapp; the switches of such a second router would never be judged; route through httproute/myapp (the app's router), or label httproute/shortcut bluegreen.dev/app=myapp so that its writes are judged"
        )
    );
    assert!(
        cluster
            .get("gateway.networking.k8s.io/v1", "HTTPRoute", "shortcut")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_first_install_of_a_whole_directory_succeeds() {
    let cluster = Cluster::start("install").await;
    cluster
        .apply(&[apps::policy(&cluster.namespace, json!({}))])
        .await;
    let guard = Guard::start(&cluster).await;
    guard.register(&cluster, &[]).await;
    // The router first: nothing of the app exists or serves yet, so nothing is switched.
    let mut manifests = apps::service_app("blue");
    manifests.rotate_right(2);
    let dir = tempfile::tempdir().unwrap();
    for (index, manifest) in manifests.iter().enumerate() {
        let path = dir.path().join(format!("{index}.json"));
        std::fs::write(&path, manifest.to_string()).unwrap();
    }
    let out = cluster
        .kubectl(Who::Ci, &["apply", "-f", dir.path().to_str().unwrap()])
        .await;
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(0), ""),
        "{}",
        stdout(&out)
    );
    assert_eq!(stdout(&out).lines().count(), 4, "{}", stdout(&out));
}
