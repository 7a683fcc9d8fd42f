//! The whole release for both router kinds: deploy, verify, promote, retire, rollback.

use serde_json::json;

use bluegreen_e2e::e2e::{Rollout, Who};

use crate::support::{Env, history};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_app_goes_through_deploy_promote_retire_and_rollback() {
    let env = Env::start().await;
    let shop = env.ns("shop");
    let new_image = "registry.example.com/api:1.6";

    // deploy: only the idle color changes, scaled like the live one, and the plugin
    // waits until the (simulated) controller reports the rollout.
    let image_arg = format!("api={new_image}");
    let deploy = ["deploy", "svc/api", "--image", &image_arg];
    let (deployed, ()) = tokio::join!(
        env.plugin("shop", &deploy),
        env.roll_out_when("shop", "api-green", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] == json!(new_image)
        }),
    );
    assert_eq!(deployed.code, 0, "{deployed:?}");
    assert!(
        deployed
            .stdout
            .contains("deployment/api-green is rolled out"),
        "{deployed:?}"
    );
    assert!(
        deployed.stderr.contains("waiting for deployment/api-green"),
        "{deployed:?}"
    );
    assert_eq!(
        env.deployment("shop", "api-blue").await["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("registry.example.com/api:1.4"),
        "the live color is never touched"
    );

    // status: healthy, green idle with the new image.
    let status = env
        .plugin("shop", &["status", "svc/api", "-o", "json"])
        .await;
    assert_eq!(status.code, 0, "{status:?}");
    let report: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(report["idle"]["images"]["api"], json!(new_image));
    assert_eq!(report["healthy"], json!(true));

    // promote: one write of the Service, annotated, with an Event.
    let promoted = env.plugin("shop", &["promote", "svc/api"]).await;
    assert_eq!(promoted.code, 0, "{promoted:?}");
    assert_eq!(
        promoted.stdout,
        format!("svc/api switched from blue to green in namespace {shop}\n")
    );
    let service = env.service("shop", "api").await;
    assert_eq!(service["spec"]["selector"]["color"], json!("green"));
    let annotations = &service["metadata"]["annotations"];
    assert_eq!(annotations["bluegreen.dev/previous-color"], json!("blue"));
    assert!(annotations["bluegreen.dev/live-since"].as_str().is_some());
    let recorded = history(&service);
    assert_eq!(recorded.len(), 2, "the fixture's switch and this one");
    assert_eq!(recorded[1]["from"], json!("blue"));
    assert_eq!(recorded[1]["to"], json!("green"));
    assert_eq!(recorded[1]["images"]["green"]["api"], json!(new_image));
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(env.cluster.client(Who::Admin).await, &shop);
    let events = events.list(&Default::default()).await.unwrap().items;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Switched")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("api")),
        "{events:?}"
    );

    // history lists both switches.
    let listed = env.plugin("shop", &["history", "svc/api"]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(listed.stdout.lines().count(), 3, "{}", listed.stdout);

    // retire: refused inside the warm window (BG008), allowed with --force.
    let refused = env.plugin("shop", &["retire", "svc/api"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("deny: BG008 warm-rollback: Deployment api-blue runs the previous color blue of svc/api, kept warm for rollback until"), "{refused:?}");
    assert_eq!(
        env.deployment("shop", "api-blue").await["spec"]["replicas"],
        json!(3)
    );
    let retired = env.plugin("shop", &["retire", "svc/api", "--force"]).await;
    assert_eq!(retired.code, 0, "{retired:?}");
    assert_eq!(
        env.deployment("shop", "api-blue").await["spec"]["replicas"],
        json!(0)
    );

    // rollback: blue was retired, so it is scaled up and awaited, then switched back.
    let (rolled_back, ()) = tokio::join!(
        env.plugin("shop", &["rollback", "svc/api"]),
        env.roll_out_when("shop", "api-blue", |d| d["spec"]["replicas"] == json!(3)),
    );
    assert_eq!(rolled_back.code, 0, "{rolled_back:?}");
    assert!(
        rolled_back
            .stderr
            .contains("blue was retired; scaling deployment/api-blue to 3 replicas first"),
        "{rolled_back:?}"
    );
    assert_eq!(
        rolled_back.stdout,
        format!("svc/api switched from green to blue in namespace {shop}\n")
    );
    let service = env.service("shop", "api").await;
    assert_eq!(service["spec"]["selector"]["color"], json!("blue"));
    assert_eq!(history(&service).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_httproute_app_goes_through_deploy_verify_promote_and_rollback() {
    let env = Env::start().await;
    let new_image = "registry.example.com/web/myapp:2.2";
    let image_arg = format!("web={new_image}");
    let deploy = ["deploy", "httproute/myapp", "--image", &image_arg];
    let (deployed, ()) = tokio::join!(
        env.plugin("web", &deploy),
        env.roll_out_when("web", "app-green", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] == json!(new_image)
        }),
    );
    assert_eq!(deployed.code, 0, "{deployed:?}");

    // verify goes through the API server's service proxy to the idle color's Service.
    // Nothing answers behind green's pods here (no backend routed: see verify.rs for
    // those), so the check fails cleanly and nothing is marked verified.
    let verified = env
        .plugin("web", &["verify", "httproute/myapp", "--path", "/healthz"])
        .await;
    assert_eq!(verified.code, 1, "{verified:?}");
    assert!(
        verified.stderr.contains("1 of 1 requests to green /healthz failed (expected HTTP 200): service/app-green:http answered HTTP 503"),
        "{verified:?}"
    );
    assert!(
        env.deployment("web", "app-green").await["metadata"]["annotations"]
            ["bluegreen.dev/verified"]
            .is_null()
    );

    let promoted = env.plugin("web", &["promote", "httproute/myapp"]).await;
    assert_eq!(promoted.code, 0, "{promoted:?}");
    let route = env.route("web", "myapp").await;
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"],
        json!([
            {"group": "", "kind": "Service", "name": "app-blue", "port": 80, "weight": 0},
            {"group": "", "kind": "Service", "name": "app-green", "port": 80, "weight": 100},
        ])
    );
    assert_eq!(
        route["spec"]["rules"][1]["backendRefs"][0]["name"],
        json!("app-green")
    );
    assert_eq!(
        route["metadata"]["annotations"]["bluegreen.dev/previous-color"],
        json!("blue")
    );

    let status = env.plugin("web", &["status", "httproute/myapp"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    assert!(
        status.stdout.contains("Live:    green since"),
        "{}",
        status.stdout
    );

    let rolled_back = env.plugin("web", &["rollback", "httproute/myapp"]).await;
    assert_eq!(rolled_back.code, 0, "{rolled_back:?}");
    let route = env.route("web", "myapp").await;
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"][0]["weight"],
        json!(100)
    );
    assert_eq!(
        route["spec"]["rules"][1]["backendRefs"][0]["name"],
        json!("app-blue")
    );
    assert_eq!(history(&route).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_every_app_across_namespaces() {
    let env = Env::start().await;
    let listed = env.plugin("shop", &["list", "-A"]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    // A real cluster may hold other apps (and longer namespace names change the
    // column widths): compare the scenario's rows field by field.
    let ours = [env.ns("shop"), env.ns("web"), env.ns("default")];
    let rows: Vec<Vec<&str>> = listed
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| {
            fields
                .first()
                .is_some_and(|ns| ours.iter().any(|o| o == ns))
        })
        .collect();
    assert_eq!(rows.len(), 2, "{}", listed.stdout);
    assert_eq!(
        rows[0][..3],
        [ours[0].as_str(), "svc/api", "blue"],
        "{}",
        listed.stdout
    );
    assert_eq!(
        rows[1][..3],
        [ours[1].as_str(), "httproute/myapp", "blue"],
        "{}",
        listed.stdout
    );
    if env.cluster.is_local() {
        assert_eq!(listed.stdout.lines().count(), 3, "{}", listed.stdout);
        assert!(
            listed
                .stdout
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("shop       svc/api          blue")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_exits_1_when_the_live_color_is_degraded() {
    let env = Env::start().await;
    env.set_rollout("shop", "api-blue", Rollout::Available(0))
        .await;
    let run = env.plugin("shop", &["status", "svc/api"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Health:  degraded"), "{}", run.stdout);
}
