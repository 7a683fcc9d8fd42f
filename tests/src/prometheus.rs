//! A real Prometheus on loopback (Debian's `prometheus`, installed by `.ci/tools.sh`),
//! scraping every second an [`Exporter`] the test runs, whose traffic (requests, errors,
//! latency) per app color the test sets: what the metric-gate scenarios judge releases by.
//!
//! ```no_run
//! # async fn demo() {
//! use bluegreen_e2e::prometheus::{Exporter, LocalPrometheus, Traffic};
//! let exporter = Exporter::start().await;
//! exporter.serve("shop", "api", "green", Traffic::healthy());
//! let prometheus = LocalPrometheus::start(&[&exporter.address]);
//! exporter.serve("shop", "api", "green", Traffic::healthy().with_errors(50));
//! # let _ = prometheus; }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::e2e::guard::free_port;

const PROMETHEUS_BINARY: &str = "/usr/bin/prometheus";

/// The latency histogram's bucket bounds, in seconds.
const BUCKETS: [f64; 6] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0];

/// What one color serves between two scrapes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Traffic {
    /// Requests served.
    pub requests: u64,
    /// Of them, answered 500.
    pub errors: u64,
    /// How long each took, in seconds.
    pub latency: f64,
}

impl Traffic {
    /// 100 requests, no error, 30 ms each.
    pub fn healthy() -> Traffic {
        Traffic {
            requests: 100,
            errors: 0,
            latency: 0.03,
        }
    }

    /// The same traffic with `errors` of its requests failing.
    pub fn with_errors(self, errors: u64) -> Traffic {
        Traffic { errors, ..self }
    }

    /// The same traffic taking `latency` seconds a request.
    pub fn with_latency(self, latency: f64) -> Traffic {
        Traffic { latency, ..self }
    }
}

/// Counters of one color: `(namespace, app, color)`.
type Key = (String, String, String);

#[derive(Default)]
struct Served {
    traffic: Traffic,
    /// When a scrape first counted errors.
    first_errors: Option<jiff::Timestamp>,
    ok: u64,
    failed: u64,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// An HTTP server on loopback whose `/metrics` (Prometheus text format) counts, per
/// color, `http_requests_total{namespace,app,color,code}` and the histogram
/// `http_request_duration_seconds`. Each scrape adds one [`Traffic`] of each color, so a
/// rate over a window is that traffic's, whatever the timing.
pub struct Exporter {
    /// `127.0.0.1:<port>`, as a scrape target.
    pub address: String,
    colors: Arc<Mutex<BTreeMap<Key, Served>>>,
}

impl Exporter {
    pub async fn start() -> Exporter {
        let colors: Arc<Mutex<BTreeMap<Key, Served>>> = Arc::default();
        let scraped = colors.clone();
        let metrics = move || {
            let colors = scraped.clone();
            async move { scrape(&mut colors.lock().unwrap_or_else(|e| e.into_inner())) }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the exporter");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move {
            let app = axum::Router::new().route("/metrics", axum::routing::get(metrics));
            let _ = axum::serve(listener, app).await;
        });
        Exporter { address, colors }
    }

    /// From the next scrape on, `color` of `app` in `namespace` serves `traffic`.
    pub fn serve(&self, namespace: &str, app: &str, color: &str, traffic: Traffic) {
        let key = (namespace.to_string(), app.to_string(), color.to_string());
        self.colors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .traffic = traffic;
    }
}

impl Exporter {
    /// When a scrape first counted errors of `color` of `app` in `namespace`, if one did.
    pub fn first_errors_scraped(
        &self,
        namespace: &str,
        app: &str,
        color: &str,
    ) -> Option<jiff::Timestamp> {
        let key = (namespace.to_string(), app.to_string(), color.to_string());
        self.colors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)?
            .first_errors
    }
}

/// Counts one more [`Traffic`] of each color and renders the counters.
fn scrape(colors: &mut BTreeMap<Key, Served>) -> String {
    let mut requests = String::from("# TYPE http_requests_total counter\n");
    let mut latency = String::from("# TYPE http_request_duration_seconds histogram\n");
    for ((namespace, app, color), served) in colors.iter_mut() {
        let traffic = served.traffic;
        if traffic.errors > 0 && served.first_errors.is_none() {
            served.first_errors = Some(jiff::Timestamp::now());
        }
        served.ok += traffic.requests - traffic.errors.min(traffic.requests);
        served.failed += traffic.errors.min(traffic.requests);
        for (bucket, bound) in served.buckets.iter_mut().zip(BUCKETS) {
            if traffic.latency <= bound {
                *bucket += traffic.requests;
            }
        }
        served.count += traffic.requests;
        served.sum += traffic.latency * traffic.requests as f64;
        let labels = format!(r#"namespace="{namespace}",app="{app}",color="{color}""#);
        // Both codes always, as most servers' metrics: an error rate of 0 is a value.
        requests.push_str(&format!(
            "http_requests_total{{{labels},code=\"200\"}} {}\nhttp_requests_total{{{labels},code=\"500\"}} {}\n",
            served.ok, served.failed
        ));
        for (count, bound) in served.buckets.iter().zip(BUCKETS) {
            latency.push_str(&format!(
                "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}\n"
            ));
        }
        latency.push_str(&format!(
            "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\nhttp_request_duration_seconds_sum{{{labels}}} {sum}\nhttp_request_duration_seconds_count{{{labels}}} {count}\n",
            count = served.count,
            sum = served.sum,
        ));
    }
    requests + &latency
}

/// The error rate of `{{color}}` of `{{app}}` over `{{window}}`: a gate's query.
pub const ERROR_RATE_QUERY: &str = r#"sum(rate(http_requests_total{namespace="{{namespace}}",app="{{app}}",color="{{color}}",code=~"5.."}[{{window}}])) / sum(rate(http_requests_total{namespace="{{namespace}}",app="{{app}}",color="{{color}}"}[{{window}}]))"#;

/// The 99th percentile latency of `{{color}}` of `{{app}}` over `{{window}}`, in seconds.
pub const LATENCY_P99_QUERY: &str = r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{{namespace}}",app="{{app}}",color="{{color}}"}[{{window}}])))"#;

/// A `prometheus` child process on a free loopback port, scraping `targets` every second
/// into a temporary directory; killed on drop.
pub struct LocalPrometheus {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    _storage: tempfile::TempDir,
}

impl LocalPrometheus {
    pub fn start(targets: &[&str]) -> LocalPrometheus {
        assert!(
            Path::new(PROMETHEUS_BINARY).exists(),
            "{PROMETHEUS_BINARY} is missing: run .ci/tools.sh (apt-get install prometheus)"
        );
        let storage = tempfile::tempdir().expect("temporary directory");
        let config = storage.path().join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: bluegreen-e2e\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .expect("write the Prometheus config");
        let address = free_port();
        let child = Command::new(PROMETHEUS_BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                storage.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        LocalPrometheus {
            url: format!("http://{address}"),
            child,
            _storage: storage,
        }
    }

    /// Waits until Prometheus answers `query` with a value that `accept`s (its first
    /// scrapes done, or a change of traffic seen); panics after a while.
    pub async fn wait_for(&self, query: &str, accept: impl Fn(f64) -> bool) {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/query", self.url);
        let mut last = None;
        for _ in 0..600 {
            let answer = client.get(&url).query(&[("query", query)]).send().await;
            if let Ok(response) = answer
                && let Ok(body) = response.json::<serde_json::Value>().await
            {
                let value = body["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok());
                if value.is_some_and(&accept) {
                    return;
                }
                last = Some(body);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "Prometheus at {} never answered {query} as expected; last: {last:?}",
            self.url
        );
    }
}

impl Drop for LocalPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
