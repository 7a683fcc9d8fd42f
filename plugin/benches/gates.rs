//! Metric gates, against a real Prometheus (Debian's, on loopback, scraping every second
//! an exporter whose traffic the bench sets), measured with a baseline in the same run:
//!
//! 1. the cost of one gate evaluation (the plugin's instant query and its parsing), next
//!    to a bare `GET /-/ready` of the same Prometheus;
//! 2. the time from the first scrape that saw the new color's errors to the rollback write
//!    of `promote --watch` (the rollback's history entry), next to interval × failureLimit,
//!    the bound the gates promise, on the test API server.
//!
//! Run: `cargo bench -p kubectl-bluegreen --bench gates`. Prints Markdown for bench/README.md.

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)] // the bench uses part of the scenarios' harness
mod support;

use std::time::{Duration, Instant};

use bluegreen_e2e::e2e::Who;
use bluegreen_e2e::prometheus::{ERROR_RATE_QUERY, Exporter, LocalPrometheus, Traffic};
use bluegreen_plugin::cli::PrometheusArgs;
use bluegreen_plugin::prometheus::Prometheus;
use policy::gate::Measurement;
use serde_json::json;
use support::{Env, history};

/// Timed evaluations (after 10 untimed ones).
const EVALUATIONS: usize = 300;
/// Rollbacks timed per gate setting.
const ROLLBACKS: usize = 3;

fn main() {
    bluegreen_e2e::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        evaluation_cost().await;
        time_to_rollback().await;
    });
}

/// Both colors of `api` in the env's `shop` serving healthy traffic, scraped.
async fn metrics(env: &Env) -> (Exporter, LocalPrometheus, String) {
    let exporter = Exporter::start().await;
    let namespace = env.ns("shop");
    for color in ["blue", "green"] {
        exporter.serve(&namespace, "api", color, Traffic::healthy());
    }
    let prometheus = LocalPrometheus::start(&[&exporter.address]);
    let query = error_rate(&namespace, "green");
    prometheus.wait_for(&query, |rate| rate == 0.0).await;
    (exporter, prometheus, namespace)
}

fn error_rate(namespace: &str, color: &str) -> String {
    ERROR_RATE_QUERY
        .replace("{{namespace}}", namespace)
        .replace("{{app}}", "api")
        .replace("{{color}}", color)
        .replace("{{window}}", "3s")
}

/// Median, 90th percentile and mean, in microseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    (
        us(samples[samples.len() / 2]),
        us(samples[samples.len() * 9 / 10]),
        mean,
    )
}

async fn evaluation_cost() {
    let env = Env::start().await;
    let (_exporter, prometheus, namespace) = metrics(&env).await;
    let args = PrometheusArgs {
        prometheus: Some(prometheus.url.clone()),
        ..PrometheusArgs::default()
    };
    let client = env.cluster.client(Who::Ci).await;
    let gates = Prometheus::connect(&args, None, &client)
        .expect("client")
        .expect("a Prometheus");
    let query = error_rate(&namespace, "green");
    let ready = reqwest::Client::new();
    let ready_url = format!("{}/-/ready", prometheus.url);
    let mut evaluations = Vec::with_capacity(EVALUATIONS);
    let mut baseline = Vec::with_capacity(EVALUATIONS);
    for run in 0..EVALUATIONS + 10 {
        let start = Instant::now();
        let measured = gates.query(&query, Duration::from_secs(5)).await;
        let evaluation = start.elapsed();
        assert_eq!(measured, Measurement::Value(0.0));
        let start = Instant::now();
        let answer = ready.get(&ready_url).send().await.expect("ready");
        answer.bytes().await.expect("body");
        let bare = start.elapsed();
        if run >= 10 {
            evaluations.push(evaluation);
            baseline.push(bare);
        }
    }
    println!("| what | median | p90 | mean |\n|---|---|---|---|");
    for (label, samples) in [
        ("baseline: `GET /-/ready`, warm connection", baseline),
        (
            "one gate evaluation: error-rate instant query (`rate` over 3 s, two series summed), parsed",
            evaluations,
        ),
    ] {
        let (median, p90, mean) = summary(samples);
        println!("| {label} | {median:.0} µs | {p90:.0} µs | {mean:.0} µs |");
    }
}

async fn time_to_rollback() {
    println!(
        "\n| interval × failureLimit | bound | first failing scrape → rollback write (each run) |\n|---|---|---|"
    );
    for (interval, failure_limit) in [(1u64, 1u32), (1, 3), (2, 2)] {
        let mut delays = Vec::new();
        for _ in 0..ROLLBACKS {
            delays.push(one_rollback(interval, failure_limit).await);
        }
        let shown: Vec<String> = delays
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect();
        println!(
            "| {interval} s × {failure_limit} | {} s | {} |",
            interval * u64::from(failure_limit),
            shown.join(", ")
        );
    }
}

/// Promotes with one post-promotion error-rate gate, makes green fail right after the
/// switch, and returns the time from the first scrape that saw errors to the rollback.
async fn one_rollback(interval: u64, failure_limit: u32) -> Duration {
    let env = Env::start().await;
    let (exporter, prometheus, namespace) = metrics(&env).await;
    env.put_policy(
        "gates",
        json!({"gates": [{"name": "error-rate", "query": ERROR_RATE_QUERY, "threshold": "< 0.05",
                          "interval": format!("{interval}s"), "failureLimit": failure_limit, "window": "3s"}]}),
    )
    .await;
    let promote = [
        "promote",
        "svc/api",
        "--watch",
        "5m",
        "--prometheus",
        &prometheus.url,
    ];
    let (run, ()) = tokio::join!(
        env.plugin("shop", &promote),
        env.after_switch("shop", "api", "green", async || {
            exporter.serve(
                &namespace,
                "api",
                "green",
                Traffic::healthy().with_errors(50),
            );
        }),
    );
    assert_eq!(run.code, 4, "{run:?}");
    let first = exporter
        .first_errors_scraped(&namespace, "api", "green")
        .expect("a scrape saw the errors");
    let service = env.service("shop", "api").await;
    let rolled_back: jiff::Timestamp = history(&service)
        .last()
        .and_then(|entry| entry["time"].as_str()?.parse().ok())
        .expect("the rollback's history entry");
    rolled_back
        .duration_since(first)
        .try_into()
        .expect("the rollback comes after the errors")
}
