//! Load over real HTTPS on loopback: a fixed rate of AdmissionReviews with keep-alive
//! against the guard (caches of 10,000 Deployments, 2,000 Services, 1,000
//! NetworkPolicies) and against baselines on the same TLS stack and server:
//!
//! - the allow-all webhook: reads the AdmissionReview into `kube::core::admission`'s
//!   types and answers allowed, echoing the request's uid, as kube-rs's admission
//!   example does: the least a webhook kube-apiserver accepts answers can do;
//! - the floor: a fixed answer without reading the body, which kube-apiserver would
//!   reject (its uid is not the request's): what TLS, HTTP and the sockets cost.
//!
//! Each server gets ROUNDS slices of SLICE_MS at RATE per request kind, the servers
//! taking turns in rotating order, so that noise from the rest of the machine falls
//! on all of them alike; latencies are pooled over the rounds. Besides latency, the
//! CPU time each server process used per review (all its threads, from /proc).
//! A second floor process is measured like the others: the ratio of the two floors
//! is what the measurement cannot tell apart.
//! The guard's and the allow-all webhook's own time per review (body read and decided,
//! in-process) come from the guard's `/metrics` decision histogram and the same
//! histogram kept by the allow-all webhook, scraped before and after each request's rounds.
//! Bounded: 3 requests × 4 servers × (1 s + ROUNDS × SLICE_MS) of load, and it stops by itself.
//!
//! `cargo bench -p bluegreen-guard --bench admission_load` (env RATE, ROUNDS, SLICE_MS).
//!
//! The guard and the baselines each run in a child process (this benchmark binary
//! again, with `BLUEGREEN_BENCH_SERVER` set), on 2 worker threads, so all are measured
//! across the same process boundary from the load generator, and the guard's resident
//! memory is its caches' and server's alone.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;
use bluegreen_guard::tls::CertificateFiles;
use bluegreen_guard::{AppState, Config, Guard, Listeners, Unsynced, metrics, serve};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use prometheus_client::metrics::histogram::Histogram;

/// Set in a child process to the server it runs: `guard`, `allow-all` or `floor`.
const SERVER_ROLE: &str = "BLUEGREEN_BENCH_SERVER";
/// The directory holding the serving certificate and key, in a child process.
const CERT_DIR: &str = "BLUEGREEN_BENCH_CERTS";

/// Where each server stands in the list the measurements follow.
const ALLOW_ALL_WEBHOOK: usize = 0;
const FLOOR_SERVER: usize = 1;
/// A second floor process: its ratio to the first is the noise of the measurement.
const FLOOR_AGAIN: usize = 2;
const GUARD: usize = 3;

/// The floor's fixed answer.
const FLOOR: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true,"status":{}}}"#;

/// Latencies of one server under one scenario, pooled over rounds.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    errors: usize,
    /// Wall time spent sending the load, summed over rounds.
    elapsed: Duration,
    /// CPU time the server process used meanwhile (user + system, all threads).
    cpu: Duration,
}

impl Samples {
    fn at(&self, quantile: f64) -> Duration {
        self.latencies[((self.latencies.len() as f64 - 1.0) * quantile) as usize]
    }

    fn cpu_per_review(&self) -> Duration {
        self.cpu.div_f64(self.latencies.len() as f64)
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends `rate` requests per second for `duration`, open loop: a request starts on
/// schedule whether or not earlier ones have finished, so a slow server shows as
/// queueing. Latency counts from the moment the request is handed to the client
/// (tokio's timer wakes to the millisecond, so the schedule itself is ±1 ms).
async fn load(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    rate: u64,
    duration: Duration,
    into: &mut Samples,
) {
    let total = (rate as f64 * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled).await;
        let request = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        requests.spawn(async move {
            let sent = tokio::time::Instant::now();
            let ok = match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            (ok, sent.elapsed())
        });
    }
    while let Some(done) = requests.join_next().await {
        let (ok, latency) = done.unwrap();
        into.errors += usize::from(!ok);
        into.latencies.push(latency);
    }
    into.elapsed += started.elapsed();
}

/// The allow-all webhook's answer to one body.
fn allow_all(body: &[u8]) -> Result<Vec<u8>, StatusCode> {
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let request: AdmissionRequest<DynamicObject> =
        review.try_into().map_err(|_| StatusCode::BAD_REQUEST)?;
    serde_json::to_vec(&AdmissionResponse::from(&request).into_review())
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

/// The allow-all webhook's time per review, in a histogram like the guard's decision
/// histogram (same buckets, same name), served the same way, so both are read alike.
struct AllowAllTimings {
    registry: prometheus_client::registry::Registry,
    histogram: Histogram,
}

impl AllowAllTimings {
    fn new() -> Arc<Self> {
        let mut registry = prometheus_client::registry::Registry::with_prefix("bluegreen_guard");
        let histogram = Histogram::new(metrics::decision_buckets());
        registry.register(
            "decision_duration_seconds",
            "Time to answer one review",
            histogram.clone(),
        );
        Arc::new(AllowAllTimings {
            registry,
            histogram,
        })
    }

    fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text
    }
}

/// A child process: the guard with the big cluster cached, or a baseline on the same
/// TLS configuration and server stack, on 2 worker threads, until its stdin closes.
/// Prints its resident memory before and after building its state, and its address.
fn server_process(role: &str, dir: &str) {
    let files = CertificateFiles {
        cert: std::path::Path::new(dir).join("tls.crt"),
        key: std::path::Path::new(dir).join("tls.key"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stdin_closed = || async {
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
    };
    let rss_start = common::resident_mib();
    if role != "guard" {
        let (_, certificate) = files.load().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        println!("rss {rss_start:.1} {rss_start:.1}");
        println!(
            "listening https://{}/validate",
            listener.local_addr().unwrap()
        );
        let handle = axum_server::Handle::new();
        let app = match role {
            "allow-all" => {
                let timings = AllowAllTimings::new();
                let probes = TcpListener::bind("127.0.0.1:0").unwrap();
                println!("probes http://{}", probes.local_addr().unwrap());
                probes.set_nonblocking(true).unwrap();
                let metrics = {
                    let timings = Arc::clone(&timings);
                    Router::new().route("/metrics", get(move || async move { timings.encode() }))
                };
                runtime.spawn(async move {
                    let probes = tokio::net::TcpListener::from_std(probes).unwrap();
                    axum::serve(probes, metrics).await.unwrap();
                });
                Router::new().route(
                    "/validate",
                    post(move |body: Bytes| async move {
                        let started = Instant::now();
                        let answer = allow_all(&body);
                        timings.histogram.observe(started.elapsed().as_secs_f64());
                        answer
                    }),
                )
            }
            _ => Router::new().route("/validate", post(|_body: Bytes| async { FLOOR })),
        };
        let tls = RustlsConfig::from_config(Arc::clone(&certificate.config));
        runtime.block_on(async {
            let server = axum_server::from_tcp_rustls(listener, tls)
                .unwrap()
                .handle(handle.clone())
                .serve(app.into_make_service());
            let server = tokio::spawn(server);
            stdin_closed().await;
            handle.shutdown();
            server.await.unwrap().unwrap();
        });
        return;
    }
    let cache = common::cache();
    let rss_cached = common::resident_mib();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        probe_listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: files.cert.clone(),
        tls_key: files.key.clone(),
        tls_reload_interval: Duration::from_secs(5),
        unsynced: Unsynced::Deny,
        request_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(5),
        images: Default::default(),
    };
    let listeners = Listeners {
        admission: TcpListener::bind(config.listen).unwrap(),
        probes: TcpListener::bind(config.probe_listen).unwrap(),
    };
    println!("rss {rss_start:.1} {rss_cached:.1}");
    println!(
        "listening https://{}/validate",
        listeners.admission.local_addr().unwrap()
    );
    println!("probes http://{}", listeners.probes.local_addr().unwrap());
    let state = AppState::new(Guard::new(cache, Unsynced::Deny));
    runtime
        .block_on(serve(state, &config, listeners, stdin_closed()))
        .unwrap();
}

/// A server child process, its URL, and its resident memory (MiB) at start and once
/// its state is built.
struct Server {
    child: std::process::Child,
    url: String,
    /// The plain-HTTP address of its `/metrics` (the guard and the allow-all webhook).
    probes: Option<String>,
    rss_start: f64,
    rss_ready: f64,
}

impl Server {
    fn spawn(role: &str, dir: &std::path::Path) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SERVER_ROLE, role)
            .env(CERT_DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next_line = || lines.next().unwrap().unwrap();
        let rss_line = next_line();
        let (rss_start, rss_ready) = rss_line
            .strip_prefix("rss ")
            .and_then(|rest| rest.split_once(' '))
            .map(|(a, b)| (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap()))
            .unwrap();
        let url = next_line().strip_prefix("listening ").unwrap().to_string();
        let probes = matches!(role, "guard" | "allow-all")
            .then(|| next_line().strip_prefix("probes ").unwrap().to_string());
        Server {
            child,
            url,
            probes,
            rss_start,
            rss_ready,
        }
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        assert!(
            self.child.wait().unwrap().success(),
            "a server process failed"
        );
    }
}

/// A server's decision histogram (`bluegreen_guard_decision_duration_seconds`, the time
/// from a request body to its decision, measured in-process): cumulative counts by
/// bucket upper bound in seconds.
async fn decision_histogram(client: &reqwest::Client, probes: &str) -> Vec<(f64, u64)> {
    let text = client
        .get(format!("{probes}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| {
            let rest =
                line.strip_prefix("bluegreen_guard_decision_duration_seconds_bucket{le=\"")?;
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// The upper bound of the bucket holding the `quantile` of the decisions counted
/// between two scrapes of [`decision_histogram`].
fn bucket_at(before: &[(f64, u64)], after: &[(f64, u64)], quantile: f64) -> f64 {
    let counts: Vec<(f64, u64)> = after
        .iter()
        .zip(before)
        .map(|(&(bound, a), &(_, b))| (bound, a - b))
        .collect();
    let total = counts.last().map_or(0, |&(_, n)| n) as f64;
    counts
        .iter()
        .find(|&&(_, n)| n as f64 >= total * quantile)
        .map_or(f64::INFINITY, |&(bound, _)| bound)
}

/// VmRSS of another process, in MiB.
fn resident_mib_of(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    common::vm_rss_mib(&status)
}

/// CPU time another process has used so far: the sum over its threads of the time
/// on a CPU that /proc/PID/task/TID/schedstat counts in nanoseconds (user and system).
fn cpu_time_of(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let nanos = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return; // `cargo bench -- --list` asks harness=false benches to list nothing
    }
    if let (Ok(role), Ok(dir)) = (std::env::var(SERVER_ROLE), std::env::var(CERT_DIR)) {
        return server_process(&role, &dir);
    }
    let rate = env_or("RATE", 2000);
    let rounds = env_or("ROUNDS", 10);
    let slice_ms = env_or("SLICE_MS", 1000);

    let ca = {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
    };
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = CertificateFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, leaf_key.serialize_pem()).unwrap();

    // The guard with the big cluster cached, and the baselines, each in its own process.
    let servers = [
        ("allow-all webhook", Server::spawn("allow-all", dir.path())),
        ("floor", Server::spawn("floor", dir.path())),
        ("second floor", Server::spawn("floor", dir.path())),
        ("bluegreen-guard", Server::spawn("guard", dir.path())),
    ];

    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .unwrap()
    };

    println!(
        "load: {rate} reviews/s, {rounds} rounds of {slice_ms} ms per server and request, servers in rotating order; HTTP/1.1 keep-alive over TLS 1.3, loopback"
    );
    println!();
    println!(
        "| request | target | p50 | p99 | max | throughput | errors | server CPU per review | p99 ÷ allow-all webhook | p99 ÷ floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let wall = Instant::now();
    let slice = Duration::from_millis(slice_ms);
    // A row per request: p50 and p99 of the guard's, then the allow-all webhook's, own time.
    let mut own_time = Vec::new();
    client_runtime.block_on(async {
        for (name, review) in common::scenarios() {
            let body = review.to_string().into_bytes();
            // Warm the connections and caches before measuring.
            for (_, server) in &servers {
                load(&client, &server.url, &body, rate, Duration::from_secs(1), &mut Samples::default()).await;
            }
            // Round-robin in short slices, starting each round with the next server, so
            // that whatever else the machine does falls on every server alike.
            let mut samples: Vec<Samples> = servers.iter().map(|_| Samples::default()).collect();
            let timed = [GUARD, ALLOW_ALL_WEBHOOK].map(|at| servers[at].1.probes.as_deref().unwrap());
            let mut before = Vec::new();
            for probes in timed {
                before.push(decision_histogram(&client, probes).await);
            }
            for round in 0..rounds as usize {
                for offset in 0..servers.len() {
                    let at = (round + offset) % servers.len();
                    let (_, server) = &servers[at];
                    let cpu_before = cpu_time_of(server.child.id());
                    load(&client, &server.url, &body, rate, slice, &mut samples[at]).await;
                    samples[at].cpu += cpu_time_of(server.child.id()) - cpu_before;
                }
            }
            let mut quantiles = Vec::new();
            for (probes, before) in timed.into_iter().zip(&before) {
                let after = decision_histogram(&client, probes).await;
                quantiles.push(format!(
                    "≤ {:.0} µs | ≤ {:.0} µs",
                    bucket_at(before, &after, 0.50) * 1e6,
                    bucket_at(before, &after, 0.99) * 1e6
                ));
            }
            own_time.push(format!("| {name} | {} |", quantiles.join(" | ")));
            for stats in &mut samples {
                stats.latencies.sort();
            }
            let p99 = |at: usize| samples[at].at(0.99).as_secs_f64();
            for (at, ((target, _), stats)) in servers.iter().zip(&samples).enumerate() {
                let ratio = |baseline: usize| match at {
                    GUARD | FLOOR_AGAIN => format!("{:.2}×", p99(at) / p99(baseline)),
                    _ => "—".to_string(),
                };
                println!(
                    "| {name} | {target} | {:.0} µs | {:.0} µs | {:.1} ms | {:.0} /s | {} | {:.0} µs | {} | {} |",
                    stats.at(0.50).as_secs_f64() * 1e6,
                    stats.at(0.99).as_secs_f64() * 1e6,
                    stats.at(1.0).as_secs_f64() * 1e3,
                    stats.throughput(),
                    stats.errors,
                    stats.cpu_per_review().as_secs_f64() * 1e6,
                    ratio(ALLOW_ALL_WEBHOOK),
                    ratio(FLOOR_SERVER),
                );
            }
        }
    });
    println!();
    println!(
        "each server's own time per review under this load (in-process, from reading the body to the decision; upper bounds of the buckets (steps of √2) of the guard's decision histogram):"
    );
    println!();
    println!("| request | bluegreen-guard p50 | p99 | allow-all webhook p50 | p99 |");
    println!("|---|---|---|---|---|");
    for row in &own_time {
        println!("{row}");
    }
    println!();
    let (_, guard) = &servers[GUARD];
    println!(
        "guard process resident memory (VmRSS; caches and server only, load generator elsewhere): {:.1} MiB at start, {:.1} MiB with the caches built, {:.1} MiB after the load",
        guard.rss_start,
        guard.rss_ready,
        resident_mib_of(guard.child.id()),
    );
    for (target, server) in &servers[..GUARD] {
        println!(
            "{target} process: {:.1} MiB at start, {:.1} MiB after the load",
            server.rss_start,
            resident_mib_of(server.child.id()),
        );
    }
    println!("wall time: {:.1} s", wall.elapsed().as_secs_f64());

    for (_, server) in servers {
        server.stop();
    }
}
