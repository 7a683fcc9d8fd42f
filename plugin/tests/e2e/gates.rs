//! Metric gates: a real Prometheus (Debian's, started on loopback) scrapes an exporter
//! whose traffic per color the scenario sets; `promote` judges the idle color by the
//! pre-promotion gates and, with `--watch`, the new live color by the post-promotion ones,
//! rolling back by itself (exit 4) when one fails.
//!
//! The Prometheus is reached at its URL, which works on a real cluster too (the plugin runs
//! here); only the service-proxy scenario needs the test API server's proxy routes.

use bluegreen_e2e::e2e::{Rollout, Who};
use bluegreen_e2e::prometheus::{
    ERROR_RATE_QUERY, Exporter, LATENCY_P99_QUERY, LocalPrometheus, Traffic,
};
use bluegreen_e2e::registry::{closed_port, silent_registry};
use bluegreen_e2e::{ProxyTarget, TestApiServer};
use serde_json::{Value, json};

use crate::support::{
    Backend, Env, Run, assert_live, assert_rolled_back_to_blue, assert_said, assert_stayed_healthy,
    history, verified,
};

/// The app's colors serving traffic, a Prometheus scraping them, and the scenario's env.
struct Metrics {
    exporter: Exporter,
    prometheus: LocalPrometheus,
    namespace: String,
}

/// A gate's window: three scrapes.
const WINDOW: &str = "3s";

impl Metrics {
    /// Both colors of `api` serve healthy traffic, and Prometheus has seen it.
    async fn start(env: &Env) -> Metrics {
        let exporter = Exporter::start().await;
        let namespace = env.ns("shop");
        for color in ["blue", "green"] {
            exporter.serve(&namespace, "api", color, Traffic::healthy());
        }
        let prometheus = LocalPrometheus::start(&[&exporter.address]);
        let metrics = Metrics {
            exporter,
            prometheus,
            namespace,
        };
        for color in ["blue", "green"] {
            metrics.wait_for_error_rate(color, 0.0).await;
        }
        metrics
    }

    /// From the next scrape on, `color` serves `traffic`.
    fn serve(&self, color: &str, traffic: Traffic) {
        self.exporter.serve(&self.namespace, "api", color, traffic);
    }

    /// Waits until Prometheus sees `color`'s error rate at `rate`.
    async fn wait_for_error_rate(&self, color: &str, rate: f64) {
        let query = ERROR_RATE_QUERY
            .replace("{{namespace}}", &self.namespace)
            .replace("{{app}}", "api")
            .replace("{{color}}", color)
            .replace("{{window}}", WINDOW);
        self.prometheus
            .wait_for(&query, |value| (value - rate).abs() < 1e-9)
            .await;
    }
}

/// A gate judging `api` every second over the last three scrapes.
fn gate(name: &str, phase: &str, query: &str, threshold: &str, more: Value) -> Value {
    let mut gate = json!({
        "name": name, "phase": phase, "query": query, "threshold": threshold,
        "interval": "1s", "window": WINDOW,
    });
    gate.as_object_mut()
        .unwrap()
        .extend(more.as_object().cloned().unwrap_or_default());
    gate
}

fn error_rate(phase: &str, more: Value) -> Value {
    gate("error-rate", phase, ERROR_RATE_QUERY, "< 0.05", more)
}

/// A scenario's env with both colors' metrics, and a policy holding the error-rate gate
/// in `phase` (with `more` fields); the policy's name.
async fn gated(phase: &str, more: Value) -> (Env, Metrics, String) {
    let env = Env::start().await;
    let metrics = Metrics::start(&env).await;
    let policy = policy_with(&env, json!([error_rate(phase, more)])).await;
    (env, metrics, policy)
}

/// A BlueGreenPolicy with `gates` (the CI account may switch); its name.
async fn policy_with(env: &Env, gates: Value) -> String {
    env.put_policy("gates", json!({"gates": gates})).await
}

/// Runs `promote svc/api --prometheus PROMETHEUS` and asserts it was refused (exit 2)
/// saying `expected`, with the router exactly as it was.
async fn assert_refused_by_gates(env: &Env, prometheus: &str, expected: &str) {
    let before = env.service("shop", "api").await;
    let run = env
        .plugin("shop", &["promote", "svc/api", "--prometheus", prometheus])
        .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_said(&run, expected);
    assert_eq!(run.stdout, "");
    assert_eq!(
        env.service("shop", "api").await,
        before,
        "the router is unchanged"
    );
}

/// Runs `promote svc/api --prometheus PROMETHEUS` and asserts it switched, saying `expected`.
async fn assert_promoted(env: &Env, prometheus: &str, expected: &str) {
    let run = env
        .plugin("shop", &["promote", "svc/api", "--prometheus", prometheus])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_said(&run, expected);
    assert_live(env, "green").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_release_passes_its_watch_and_status_shows_each_gate() {
    let (env, metrics, policy) = gated("post", json!({"failureLimit": 2})).await;
    // The app adds a gate of its own.
    let latency = gate(
        "latency-p99",
        "post",
        LATENCY_P99_QUERY,
        "< 0.25",
        json!({}),
    );
    env.cluster
        .modify("v1", "Service", "shop", "api", |service| {
            service["metadata"]["annotations"]["bluegreen.dev/gates"] =
                json!(json!([latency]).to_string());
        })
        .await;

    let url = metrics.prometheus.url.clone();
    let run = env
        .plugin(
            "shop",
            &["promote", "svc/api", "--watch", "4s", "--prometheus", &url],
        )
        .await;
    assert_stayed_healthy(&env, &run);
    for line in [
        format!("gate error-rate (BlueGreenPolicy {policy}) on green: value 0 passes its threshold < 0.05\n"),
        "gate latency-p99 (svc/api annotation bluegreen.dev/gates) on green: value 0.0496 passes its threshold < 0.25\n".to_string(),
    ] {
        assert_said(&run, &line);
    }
    let service = assert_live(&env, "green").await;
    let switches = history(&service);
    assert_eq!(switches.len(), 2);
    assert_eq!(switches[1].get("reason"), None, "a promote gives no reason");

    let run = env
        .plugin(
            "shop",
            &["status", "svc/api", "--prometheus", &url, "-o", "json"],
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let mut status: Value = serde_json::from_str(&run.stdout).unwrap();
    // p99 of 30 ms requests, interpolated in the 10-50 ms bucket: 10 + 40 × 0.99 ms.
    let p99 = status["gates"][1]["value"].take().as_f64().unwrap();
    assert!((p99 - 0.0496).abs() < 1e-9, "{p99}");
    assert_eq!(
        status["gates"],
        json!([
            {"name": "error-rate", "origin": format!("BlueGreenPolicy {policy}"), "phase": "post", "color": "green",
             "threshold": "< 0.05", "value": 0.0, "passes": true, "detail": "value 0 passes its threshold < 0.05"},
            {"name": "latency-p99", "origin": "svc/api annotation bluegreen.dev/gates", "phase": "post", "color": "green",
             "threshold": "< 0.25", "value": null, "passes": true, "detail": "value 0.0496 passes its threshold < 0.25"},
        ])
    );
    let run = env
        .plugin("shop", &["status", "svc/api", "--prometheus", &url])
        .await;
    assert!(
        run.stdout.contains("\nGates:\nGATE         PHASE  COLOR  VALUE   THRESHOLD  RESULT  DEFINED IN\nerror-rate   post   green  0       < 0.05     pass    BlueGreenPolicy"),
        "{run:?}"
    );
}

/// Promotes `svc/api` with a long watch through `prometheus`, runs `degrade` once green
/// is live, and returns the run.
async fn promote_and_degrade(env: &Env, prometheus: &str, degrade: impl AsyncFnOnce()) -> Run {
    let promote = [
        "promote",
        "svc/api",
        "--watch",
        "10m",
        "--prometheus",
        prometheus,
    ];
    let (run, ()) = tokio::join!(
        env.plugin("shop", &promote),
        env.after_switch("shop", "api", "green", degrade),
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_error_rate_rises_after_the_switch_is_rolled_back() {
    let (env, metrics, policy) = gated("post", json!({"failureLimit": 2})).await;

    let run = promote_and_degrade(&env, &metrics.prometheus.url, async || {
        metrics.serve("green", Traffic::healthy().with_errors(50));
    })
    .await;
    let failed = format!(
        "green degraded after the switch: gate error-rate (BlueGreenPolicy {policy}) on green failed: value "
    );
    let failing = " fails its threshold < 0.05, 2 evaluations in a row";
    assert_said(&run, &failed);
    assert_said(&run, &format!("{failing}; rolling back to blue\n"));
    let rollback = assert_rolled_back_to_blue(&env, &run).await;
    let reason = rollback["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&failed) && reason.ends_with(failing),
        "{reason}"
    );

    let events = env
        .cluster
        .kubectl(Who::Admin, &["get", "events.events.k8s.io", "-o", "json"])
        .await;
    let events: Value = serde_json::from_slice(&events.stdout).unwrap();
    let rolled_back: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "RolledBack")
        .collect();
    assert_eq!(rolled_back.len(), 1, "{events}");
    assert_eq!(
        rolled_back[0]["note"],
        json!(format!(
            "traffic switched back from green to blue by kubectl bluegreen: {reason}"
        ))
    );
    assert_eq!(rolled_back[0]["regarding"]["name"], json!("api"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_rollback_says_which_color_serves_and_exits_1() {
    let (env, metrics, policy) = gated("post", json!({})).await;

    // Green fails its gate, and blue is no longer ready to take traffic back (BG001).
    let run = promote_and_degrade(&env, &metrics.prometheus.url, async || {
        env.set_rollout("shop", "api-blue", Rollout::Available(0))
            .await;
        metrics.serve("green", Traffic::healthy().with_errors(50));
    })
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    let shop = env.ns("shop");
    let expected = format!(
        "error: the automatic rollback of svc/api to blue failed, so svc/api still sends traffic to green (green degraded after the switch: gate error-rate (BlueGreenPolicy {policy}) on green failed: value "
    );
    assert_said(&run, &expected);
    assert_said(
        &run,
        &format!(
            "; roll back by hand once that is fixed: kubectl bluegreen rollback svc/api -n {shop}: switching svc/api to blue is refused by BlueGreenPolicy {policy}; nothing was changed:\n  deny: BG001 ready-target: blue (Deployment api-blue) is not ready to take traffic"
        ),
    );
    assert_live(&env, "green").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pre_promotion_gate_refuses_promote_and_changes_nothing() {
    let (env, metrics, policy) = gated("pre", json!({})).await;
    // Green fails one request in five under its smoke traffic.
    metrics.serve("green", Traffic::healthy().with_errors(20));
    metrics.wait_for_error_rate("green", 0.2).await;
    let url = &metrics.prometheus.url;
    let refusal = format!(
        "error: switching svc/api to green is refused by its pre-promotion metric gates; nothing was changed:\n  gate error-rate (BlueGreenPolicy {policy}) on green: value 0.2 fails its threshold < 0.05\n"
    );
    assert_refused_by_gates(&env, url, &refusal).await;

    // Healthy again, the same gate lets it through.
    metrics.serve("green", Traffic::healthy());
    metrics.wait_for_error_rate("green", 0.0).await;
    let passing = format!(
        "gate error-rate (BlueGreenPolicy {policy}) on green: value 0 passes its threshold < 0.05\n"
    );
    assert_promoted(&env, url, &passing).await;
}

/// `verify --analysis`: the pre-promotion gates judge the idle color after its warm-up
/// requests; a failing gate leaves it unmarked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's proxy backends (route_proxy) and pods"
)]
async fn verify_analysis_judges_the_idle_color_after_its_warm_up() {
    let (env, metrics, policy) = gated("pre", json!({})).await;
    let green = Backend::start(200, "ok").await;
    let pods = ProxyTarget::Pods("app=api,color=green".into());
    env.cluster
        .test_api_server()
        .route_proxy("shop", pods, &green.url)
        .unwrap();
    metrics.serve("green", Traffic::healthy().with_errors(20));
    metrics.wait_for_error_rate("green", 0.2).await;
    let url = metrics.prometheus.url.as_str();
    let verify = [
        "verify",
        "svc/api",
        "--port",
        "8080",
        "--analysis",
        "--prometheus",
        url,
    ];

    let run = env.plugin("shop", &verify).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_said(
        &run,
        &format!(
            "error: marking green verified is refused by its pre-promotion metric gates; nothing was changed:\n  gate error-rate (BlueGreenPolicy {policy}) on green: value 0.2 fails its threshold < 0.05\n"
        ),
    );
    assert_eq!(green.requests().len(), 3, "the warm-up came first");
    assert!(verified(&env.deployment("shop", "api-green").await).is_null());

    metrics.serve("green", Traffic::healthy());
    metrics.wait_for_error_rate("green", 0.0).await;
    let run = env.plugin("shop", &verify).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_said(
        &run,
        &format!(
            "gate error-rate (BlueGreenPolicy {policy}) on green: value 0 passes its threshold < 0.05\n"
        ),
    );
    assert!(!verified(&env.deployment("shop", "api-green").await).is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_without_data_counts_as_its_no_data_setting() {
    let env = Env::start().await;
    let metrics = Metrics::start(&env).await;
    // An app nobody's exporter reports: the query returns no series.
    let query = ERROR_RATE_QUERY.replace("{{app}}", "checkout");
    let silent = |more: Value| json!([gate("checkout-errors", "pre", &query, "< 0.05", more)]);
    let policy = policy_with(&env, silent(json!({}))).await;
    let url = &metrics.prometheus.url;
    let refusal = format!(
        "  gate checkout-errors (BlueGreenPolicy {policy}) on green: no data, which the gate counts as failing (noData: fail)\n"
    );
    assert_refused_by_gates(&env, url, &refusal).await;

    policy_with(&env, silent(json!({"noData": "pass"}))).await;
    let passing = format!(
        "gate checkout-errors (BlueGreenPolicy {policy}) on green: no data, which the gate counts as passing (noData: pass)\n"
    );
    assert_promoted(&env, url, &passing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_prometheus_fails_its_gate_naming_the_url() {
    let env = Env::start().await;
    let policy = policy_with(&env, json!([error_rate("pre", json!({}))])).await;
    let down = format!("http://{}", closed_port());
    // The message names the URL, and the reason (connection refused) follows.
    let refusal = format!(
        "  gate error-rate (BlueGreenPolicy {policy}) on green: no value (Prometheus at {down}: error sending request for url ({down}/api/v1/query?query="
    );
    assert_refused_by_gates(&env, &down, &refusal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_that_never_answers_fails_the_watch_at_its_deadline() {
    let env = Env::start().await;
    // Far more failures allowed than the watch has time for: its end decides.
    let policy = policy_with(
        &env,
        json!([error_rate("post", json!({"failureLimit": 100}))]),
    )
    .await;
    let (_listener, address) = silent_registry();
    let silent = format!("http://{address}");
    let run = env
        .plugin(
            "shop",
            &[
                "promote",
                "svc/api",
                "--watch",
                "3s",
                "--prometheus",
                &silent,
            ],
        )
        .await;
    assert_said(
        &run,
        &format!(
            "green degraded after the switch: gate error-rate (BlueGreenPolicy {policy}) on green never passed during the watch: last no value (Prometheus at {silent}: did not answer within 1s); rolling back to blue\n"
        ),
    );
    assert_rolled_back_to_blue(&env, &run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_cannot_replace_a_platform_gate() {
    let env = Env::start().await;
    let policy = policy_with(&env, json!([error_rate("post", json!({}))])).await;
    // Someone with edit rights on the app loosens the platform's gate under its name.
    let loose = gate("error-rate", "post", ERROR_RATE_QUERY, "< 1", json!({}));
    let before = env
        .cluster
        .modify("v1", "Service", "shop", "api", |service| {
            service["metadata"]["annotations"]["bluegreen.dev/gates"] =
                json!(json!([loose]).to_string());
        })
        .await;
    let run = env
        .plugin(
            "shop",
            &[
                "promote",
                "svc/api",
                "--watch",
                "1m",
                "--prometheus",
                "http://127.0.0.1:9",
            ],
        )
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: gate \"error-rate\" of svc/api annotation bluegreen.dev/gates has the name of a gate of BlueGreenPolicy {policy}, which an app cannot replace or weaken; give the app's gate another name\n"
        )
    );
    let after = env.service("shop", "api").await;
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
}

/// A Service `prometheus` in namespace `default` with a ready pod, whose proxied traffic
/// goes to `url`.
async fn prometheus_service(env: &Env, server: &TestApiServer, url: &str) {
    let labels = json!({"app": "prometheus"});
    env.cluster
        .apply(&[
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "prometheus", "namespace": env.ns("default")},
                   "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "prometheus", "image": "prom/prometheus:v2.42.0"}]}}}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "prometheus", "namespace": env.ns("default")},
                   "spec": {"selector": labels, "ports": [{"name": "web", "port": 9090}]}}),
        ])
        .await;
    env.roll_out("default", "prometheus").await;
    server
        .route_proxy(
            &env.ns("default"),
            ProxyTarget::Service("prometheus".into()),
            url,
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    e2e_real_cluster,
    ignore = "needs the test API server's proxy backends (route_proxy): a real API server proxies to pod IPs"
)]
async fn gates_are_queried_through_the_api_servers_service_proxy() {
    let env = Env::start().await;
    let server = env.cluster.test_api_server();
    let metrics = Metrics::start(&env).await;
    prometheus_service(&env, server, &metrics.prometheus.url).await;
    // The policy names the Prometheus: no flag needed, and no route into the cluster.
    let address = format!("svc/{}/prometheus:9090", env.ns("default"));
    let policy = env
        .put_policy(
            "gates",
            json!({"gates": [error_rate("post", json!({}))], "prometheus": {"address": address}}),
        )
        .await;

    let run = env
        .plugin("shop", &["promote", "svc/api", "--watch", "3s"])
        .await;
    assert_stayed_healthy(&env, &run);
    assert_said(
        &run,
        &format!(
            "gate error-rate (BlueGreenPolicy {policy}) on green: value 0 passes its threshold < 0.05\n"
        ),
    );

    // A Service that does not exist: the API server's answer, naming the address.
    let missing = format!("svc/{}/missing:9090", env.ns("default"));
    let run = env
        .plugin(
            "shop",
            &["status", "svc/api", "--prometheus", &missing, "-o", "json"],
        )
        .await;
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        status["gates"][0]["detail"],
        json!(format!(
            "no value (Prometheus at {missing}: the API server's service proxy answered HTTP 404: services \"missing\" not found)"
        ))
    );
    assert_eq!(
        run.code, 1,
        "a failing post-promotion gate degrades the app: {run:?}"
    );
}
