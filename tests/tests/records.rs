//! Every switch is recorded, whoever makes it: the guard's mutating webhook writes
//! `live-since`, `previous-color` and the history entry on the router for a switch made
//! with `kubectl patch`, `kubectl apply` or Helm, so BG008 keeps the previous color warm;
//! a later write that does not know the record keeps it; a plugin switch is recorded once.
//! A switch that undoes another writer's within the warm window is warned of and recorded
//! as a `SwitchReversed` Event on the router.

use bluegreen_e2e::e2e::apps;
use bluegreen_e2e::e2e::guard::Guard;
use bluegreen_e2e::e2e::released::{
    Helm, SWITCH, bluegreen, denied, helm, release, service_api, warm_blue,
};
use bluegreen_e2e::e2e::{Cluster, Who, stderr, stdout};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use serde_json::{Value, json};

const CI: &str = "system:serviceaccount:ci:deployer";

/// The record annotations of Service `api`.
async fn record(cluster: &Cluster) -> (Option<String>, Option<String>, Vec<Value>) {
    let service = service_api(cluster).await;
    let annotations = &service["metadata"]["annotations"];
    let text = |key: &str| annotations[key].as_str().map(str::to_string);
    let history = text("bluegreen.dev/history")
        .map(|history| serde_json::from_str(&history).expect("history is JSON"))
        .unwrap_or_default();
    (
        text("bluegreen.dev/live-since"),
        text("bluegreen.dev/previous-color"),
        history,
    )
}

/// The message BG008 gives for `action` on blue, kept warm after a switch at `since`.
fn warm(since: &str, action: &str) -> String {
    warm_blue(since.parse().unwrap(), action)
}

/// `kubectl scale deployment api-blue --replicas=0` is refused: blue is kept warm after the
/// switch at `since`.
async fn assert_blue_cannot_scale_to_zero(cluster: &Cluster, since: &str) {
    let out = cluster
        .kubectl(
            Who::Ci,
            &["scale", "deployment", "api-blue", "--replicas=0"],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        denied("scale", &warm(since, "scaling it to 0 replicas"))
    );
}

#[tokio::test]
async fn a_kubectl_patch_switch_is_recorded_and_keeps_the_previous_color_warm() {
    let (cluster, _guard) = release("record-patch", 3, json!({})).await;
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!(
        (
            out.status.code(),
            stdout(&out).as_str(),
            stderr(&out).as_str()
        ),
        (Some(0), "service/api patched\n", "")
    );
    let (since, previous, history) = record(&cluster).await;
    let since = since.expect("live-since recorded");
    assert_eq!(previous.as_deref(), Some("blue"));
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(
        (&history[0]["from"], &history[0]["to"], &history[0]["by"]),
        (&json!("blue"), &json!("green"), &json!(CI))
    );
    assert_eq!(history[0]["time"], json!(since));

    assert_blue_cannot_scale_to_zero(&cluster, &since).await;
    let out = cluster
        .kubectl(Who::Ci, &["delete", "deployment", "api-blue"])
        .await;
    assert_eq!(
        stderr(&out),
        denied("workloads", &warm(&since, "deleting it"))
    );

    let plugin = bluegreen(&cluster, &["history", "svc/api", "-o", "json"]).await;
    assert_eq!(plugin.status.code(), Some(0), "{}", stderr(&plugin));
    let listed: Value = serde_json::from_slice(&plugin.stdout).unwrap();
    assert_eq!(listed, json!(history), "history lists the recorded switch");
}

#[tokio::test]
async fn writes_that_do_not_know_the_record_keep_it() {
    let (cluster, _guard) = release("record-keep", 3, json!({})).await;
    cluster.kubectl(Who::Ci, SWITCH).await;
    let recorded = record(&cluster).await;
    assert_eq!(recorded.1.as_deref(), Some("blue"));

    // The manifest as it is in Git, switched to green, without the record.
    let mut manifest = service_api(&cluster).await;
    let metadata = manifest["metadata"].as_object_mut().unwrap();
    metadata.retain(|key, _| key == "name" || key == "labels");
    manifest.as_object_mut().unwrap().remove("status");
    let file = cluster.manifest_file("api.json", &manifest);
    let file = file.to_str().unwrap();
    for command in [["apply", "-f", file], ["replace", "-f", file]] {
        let out = cluster.kubectl(Who::Ci, &command).await;
        assert_eq!(out.status.code(), Some(0), "{command:?}: {}", stderr(&out));
        assert_eq!(record(&cluster).await, recorded, "{command:?}");
    }
    // Nor can the record be rewritten to reopen the warm window.
    let out = cluster
        .kubectl(
            Who::Ci,
            &[
                "annotate",
                "svc",
                "api",
                "--overwrite",
                "bluegreen.dev/live-since=2000-01-01T00:00:00Z",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(record(&cluster).await, recorded);

    // The manifest switched back to blue and applied: a switch, recorded like any other.
    let mut rollback = manifest.clone();
    rollback["spec"]["selector"]["color"] = json!("blue");
    let file = cluster.manifest_file("api-blue.json", &rollback);
    let out = cluster
        .kubectl(Who::Ci, &["apply", "-f", file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (since, previous, history) = record(&cluster).await;
    assert_eq!(previous.as_deref(), Some("green"));
    assert_ne!(since, recorded.0);
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        (&history[1]["from"], &history[1]["to"], &history[1]["by"]),
        (&json!("green"), &json!("blue"), &json!(CI))
    );
}

#[tokio::test]
async fn a_plugin_switch_is_recorded_once() {
    let (cluster, _guard) = release("record-once", 3, json!({})).await;
    let promote = bluegreen(&cluster, &["promote", "svc/api"]).await;
    assert_eq!(promote.status.code(), Some(0), "{}", stderr(&promote));
    let (since, previous, history) = record(&cluster).await;
    assert_eq!(previous.as_deref(), Some("blue"));
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["by"], json!(CI));
    assert_eq!(history[0]["time"], json!(since.unwrap()));
}

const CHART: &str = "tests/fixtures/seed-api-chart";

#[tokio::test]
async fn the_helm_workflow_is_recorded_and_keeps_the_previous_color_warm() {
    let cluster = Cluster::start("helm").await;
    cluster
        .apply(&[apps::policy(&cluster.namespace, json!({}))])
        .await;
    let guard = Guard::start(&cluster).await;
    guard.register(&cluster, &[]).await;
    let ok = |out: &std::process::Output, what: &str| {
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
    };

    ok(
        &helm(&cluster, Helm::V4, &["install", "api", CHART]).await,
        "install",
    );
    for color in ["api-blue", "api-green"] {
        cluster.set_rollout(color, 3).await;
    }
    let upgrade = |set: &'static str| ["upgrade", "api", CHART, "--reuse-values", "--set", set];
    ok(
        &helm(&cluster, Helm::V4, &upgrade("liveColor=green")).await,
        "switch",
    );
    let (since, previous, history) = record(&cluster).await;
    let since = since.expect("the helm switch is recorded");
    assert_eq!(previous.as_deref(), Some("blue"));
    assert_eq!(
        (&history[0]["from"], &history[0]["to"], &history[0]["by"]),
        (&json!("blue"), &json!("green"), &json!(CI))
    );

    assert_blue_cannot_scale_to_zero(&cluster, &since).await;

    // The next routine release, to the idle color: allowed, and the record stays.
    let recorded = record(&cluster).await;
    ok(
        &helm(&cluster, Helm::V4, &upgrade("blue.image.tag=1.6.0")).await,
        "idle release",
    );
    assert_eq!(record(&cluster).await, recorded);
    let namespace = cluster.namespace.clone();
    cluster
        .roll_out_when(&namespace, "api-blue", |blue| {
            blue["spec"]["template"]["spec"]["containers"][0]["image"]
                == "registry.example.com/shop/api:1.6.0"
        })
        .await;

    let listed = bluegreen(&cluster, &["history", "svc/api"]).await;
    let table = stdout(&listed);
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .map(|line| line.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(row.get(1..4), Some(&["blue", "green", CI][..]), "{table}");

    ok(
        &helm(&cluster, Helm::V4, &upgrade("liveColor=blue")).await,
        "rollback",
    );
    let (_, previous, history) = record(&cluster).await;
    assert_eq!(previous.as_deref(), Some("green"));
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        (&history[1]["from"], &history[1]["to"]),
        (&json!("green"), &json!("blue"))
    );
}

#[tokio::test]
async fn a_switch_that_records_itself_as_long_past_gets_the_guards_record() {
    let (cluster, _guard) = release("record-backdated", 3, json!({})).await;
    let backdated = r#"{"metadata":{"annotations":{"bluegreen.dev/live-since":"2000-01-01T00:00:00Z","bluegreen.dev/previous-color":"blue"}},"spec":{"selector":{"app":"api","color":"green"}}}"#;
    let out = cluster
        .kubectl(Who::Ci, &["patch", "svc", "api", "-p", backdated])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (since, previous, history) = record(&cluster).await;
    let since = since.expect("live-since recorded");
    assert_ne!(since, "2000-01-01T00:00:00Z");
    assert_eq!(previous.as_deref(), Some("blue"));
    assert_eq!(history.len(), 1, "{history:?}");
    assert_blue_cannot_scale_to_zero(&cluster, &since).await;
}

/// The `SwitchReversed` Events on Service `api`, waiting (bounded) for the first: the guard
/// records them after answering the write.
async fn reversal_events(cluster: &Cluster) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(cluster.client(Who::Admin).await, &cluster.namespace);
    for _ in 0..1000 {
        let found: Vec<Event> = events
            .list(&Default::default())
            .await
            .expect("list events")
            .into_iter()
            .filter(|event| {
                event.reason.as_deref() == Some("SwitchReversed")
                    && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("api")
            })
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no SwitchReversed event was recorded on svc/api");
}

/// The time between two recorded switches, as the guard's warning says it.
fn between(earlier: &Value, later: &Value) -> String {
    let time = |switch: &Value| {
        switch["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let seconds = time(later).duration_since(time(earlier)).as_secs();
    format!("{:#}", jiff::SignedDuration::from_secs(seconds))
}

#[tokio::test]
async fn a_switch_back_by_another_writer_is_warned_of_and_recorded_as_an_event() {
    // BG003 off: alice may switch, as a second owner of the router would.
    let (cluster, _guard) = release("record-fight", 3, json!({"switchIdentity": "off"})).await;
    let out = cluster.kubectl(Who::Ci, SWITCH).await;
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), ""));

    let back = r#"{"spec":{"selector":{"app":"api","color":"blue"}}}"#;
    let out = cluster
        .kubectl(Who::Alice, &["patch", "svc", "api", "-p", back])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, previous, history) = record(&cluster).await;
    assert_eq!(previous.as_deref(), Some("green"));
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        (&history[1]["by"], &history[1]["manager"]),
        (&json!("alice"), &json!("kubectl-patch"))
    );
    let warning = format!(
        "svc/api: this switch to blue by alice (field manager kubectl-patch) undoes the switch to green by {CI} (field manager kubectl-patch) {} ago; two writers are switching traffic back and forth: switch through one owner (kubectl bluegreen history svc/api lists who switched)",
        between(&history[0], &history[1])
    );
    assert_eq!(stderr(&out), format!("Warning: {warning}\n"));

    let events = reversal_events(&cluster).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(
        (
            event.type_.as_deref(),
            event.note.as_deref(),
            event.reporting_controller.as_deref()
        ),
        (
            Some("Warning"),
            Some(warning.as_str()),
            Some("bluegreen-guard")
        )
    );
    let regarding = event.regarding.as_ref().expect("regarding");
    assert_eq!(
        (regarding.kind.as_deref(), regarding.api_version.as_deref()),
        (Some("Service"), Some("v1"))
    );

    // The same writer switching forward again takes its own switch back: no fight.
    let out = cluster.kubectl(Who::Alice, SWITCH).await;
    assert_eq!(
        (
            out.status.code(),
            stdout(&out).as_str(),
            stderr(&out).as_str()
        ),
        (Some(0), "service/api patched\n", "")
    );
    assert_eq!(record(&cluster).await.2.len(), 3);

    // `kubectl bluegreen history`, which the warning points to, names each writer's tool.
    let listed = bluegreen(&cluster, &["history", "svc/api"]).await;
    let table = stdout(&listed);
    let writers: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().skip(1).take(4).collect())
        .collect();
    assert_eq!(
        writers,
        [
            ["blue", "green", CI, "(kubectl-patch)"],
            ["green", "blue", "alice", "(kubectl-patch)"],
            ["blue", "green", "alice", "(kubectl-patch)"],
        ],
        "{table}"
    );
}
