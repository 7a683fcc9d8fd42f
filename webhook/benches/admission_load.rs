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
use tokio::sync::Semaphore;

/// Set in a child process to the server it runs: `guard`, `allow-all` or `floor`.
const SERVER_ROLE: &str = "BLUEGREEN_BENCH_SERVER";
/// Set in a child process that logs as the real binary does.
const LOGGING: &str = "BLUEGREEN_BENCH_LOG";
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

    /// `p50 µs | p99 ms | max ms`: the latency cells of the stress modes' tables.
    fn latency_cells(&self) -> String {
        format!(
            "{:.0} µs | {:.1} ms | {:.1} ms",
            self.at(0.50).as_secs_f64() * 1e6,
            self.at(0.99).as_secs_f64() * 1e3,
            self.at(1.0).as_secs_f64() * 1e3
        )
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

/// Connections kept to each server, as kube-apiserver's webhook client does (client-go's
/// transport keeps at most 25 idle keep-alive connections per host): a request waits for
/// a free connection rather than opening another. Env `CONNECTIONS` overrides it.
fn connection_pool() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(env_or("CONNECTIONS", 25) as usize))
}

/// Sends `rate` requests per second for `duration`, open loop: a request starts on
/// schedule whether or not earlier ones have finished, so a slow server shows as
/// queueing, for a connection of `pool` first. Latency counts from the moment the
/// request is due (tokio's timer wakes to the millisecond, so the schedule itself is
/// ±1 ms).
async fn load(
    client: &reqwest::Client,
    pool: &Arc<Semaphore>,
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
        let pool = Arc::clone(pool);
        requests.spawn(async move {
            let sent = tokio::time::Instant::now();
            let _connection = pool.acquire_owned().await.unwrap();
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
    // As `bluegreen-guard serve` logs: JSON lines at info through the non-blocking writer.
    let _log_writer = std::env::var_os(LOGGING).map(|_| {
        let (writer, flush_on_exit) = bluegreen_guard::logging::non_blocking(std::io::stderr());
        bluegreen_guard::logging::report_drops(&writer);
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_writer(writer)
            .json()
            .init();
        flush_on_exit
    });
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
    /// Starts a server process; with `logging`, the guard logs as the real binary does
    /// (JSON lines at info, through its non-blocking writer) to a piped stderr the caller
    /// reads.
    fn spawn(role: &str, dir: &std::path::Path, logging: bool) -> Server {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .env(SERVER_ROLE, role)
            .env(CERT_DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if logging {
            command.env(LOGGING, "1").stderr(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
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

/// The sockets another process holds open (its connections, and its two listeners).
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
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
    let bench = Bench::new();
    match std::env::var("MODE").as_deref().unwrap_or("compare") {
        "compare" => compare(&bench),
        "saturation" => saturation(&bench),
        "sustain" => sustain(&bench),
        "storm" => storm(&bench),
        other => panic!("MODE={other}: one of compare, saturation, sustain, storm"),
    }
}

/// What every mode shares: the servers' certificate, the load generator's client and
/// runtime, and its bounded pool of connections.
struct Bench {
    dir: tempfile::TempDir,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn new() -> Self {
        let ca = {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
                .unwrap()
        };
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tls.crt"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("tls.key"), leaf_key.serialize_pem()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(env_or("CONNECTIONS", 25) as usize)
            .no_proxy()
            .build()
            .unwrap();
        Bench {
            dir,
            client,
            runtime,
        }
    }

    fn spawn(&self, role: &str) -> Server {
        Server::spawn(role, self.dir.path(), false)
    }
}

/// The guard against the baselines at a fixed rate, every request kind (the default mode).
fn compare(bench: &Bench) {
    let rate = env_or("RATE", 2000);
    let rounds = env_or("ROUNDS", 10);
    let slice_ms = env_or("SLICE_MS", 1000);
    // The guard with the big cluster cached, and the baselines, each in its own process.
    let servers = [
        ("allow-all webhook", bench.spawn("allow-all")),
        ("floor", bench.spawn("floor")),
        ("second floor", bench.spawn("floor")),
        ("bluegreen-guard", bench.spawn("guard")),
    ];
    let client = &bench.client;
    let pool = connection_pool();
    println!(
        "load: {rate} reviews/s, {rounds} rounds of {slice_ms} ms per server and request, servers in rotating order; HTTP/1.1 keep-alive over TLS 1.3 ({} connections), loopback",
        env_or("CONNECTIONS", 25)
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
    bench.runtime.block_on(async {
        for (name, review) in common::scenarios() {
            let body = review.to_string().into_bytes();
            // Warm the connections and caches before measuring.
            for (_, server) in &servers {
                load(client, &pool, &server.url, &body, rate, Duration::from_secs(1), &mut Samples::default()).await;
            }
            // Round-robin in short slices, starting each round with the next server, so
            // that whatever else the machine does falls on every server alike.
            let mut samples: Vec<Samples> = servers.iter().map(|_| Samples::default()).collect();
            let timed = [GUARD, ALLOW_ALL_WEBHOOK].map(|at| servers[at].1.probes.as_deref().unwrap());
            let mut before = Vec::new();
            for probes in timed {
                before.push(decision_histogram(client, probes).await);
            }
            for round in 0..rounds as usize {
                for offset in 0..servers.len() {
                    let at = (round + offset) % servers.len();
                    let (_, server) = &servers[at];
                    let cpu_before = cpu_time_of(server.child.id());
                    load(client, &pool, &server.url, &body, rate, slice, &mut samples[at]).await;
                    samples[at].cpu += cpu_time_of(server.child.id()) - cpu_before;
                }
            }
            let mut quantiles = Vec::new();
            for (probes, before) in timed.into_iter().zip(&before) {
                let after = decision_histogram(client, probes).await;
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

/// The p99 a server must keep, and no errors, for a rate to count as sustained.
const SATURATION_P99: Duration = Duration::from_millis(5);

/// The saturation point of the guard and of the allow-all webhook: rates from START
/// (default 1000) up by STEP (500) per request kind, each server SLICE_MS (3000) per
/// rate, in alternating order; a rate is sustained with p99 under 5 ms, no errors and
/// at least 98 % of it answered within the slice. Stops after the first rate neither
/// server sustains, or at MAX (12000).
fn saturation(bench: &Bench) {
    let (start, step, max) = (
        env_or("START", 1000),
        env_or("STEP", 500),
        env_or("MAX", 12000),
    );
    let slice = Duration::from_millis(env_or("SLICE_MS", 3000));
    let servers = [
        ("allow-all webhook", bench.spawn("allow-all")),
        ("bluegreen-guard", bench.spawn("guard")),
    ];
    let pool = connection_pool();
    println!(
        "saturation: {} ms per rate and server, {} keep-alive connections per server; sustained = p99 < {} ms, no errors, ≥ 98 % answered in time",
        slice.as_millis(),
        env_or("CONNECTIONS", 25),
        SATURATION_P99.as_millis()
    );
    println!();
    println!("| request | rate | server | p50 | p99 | max | throughput | errors | sustained |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut highest = Vec::new();
    bench.runtime.block_on(async {
        for (name, review) in common::scenarios() {
            let body = review.to_string().into_bytes();
            for (_, server) in &servers {
                load(
                    &bench.client,
                    &pool,
                    &server.url,
                    &body,
                    start,
                    Duration::from_secs(1),
                    &mut Samples::default(),
                )
                .await;
            }
            let mut best = [0u64; 2];
            let mut rate = start;
            while rate <= max {
                let mut any = false;
                for offset in 0..servers.len() {
                    let at = (offset + (rate / step) as usize) % servers.len();
                    let (target, server) = &servers[at];
                    let mut samples = Samples::default();
                    load(
                        &bench.client,
                        &pool,
                        &server.url,
                        &body,
                        rate,
                        slice,
                        &mut samples,
                    )
                    .await;
                    samples.latencies.sort();
                    let answered = samples.latencies.len() as f64;
                    let sustained = samples.errors == 0
                        && samples.at(0.99) < SATURATION_P99
                        && samples.throughput() >= 0.98 * rate as f64
                        && answered >= 0.98 * rate as f64 * slice.as_secs_f64();
                    if sustained {
                        best[at] = best[at].max(rate);
                        any = true;
                    }
                    println!(
                        "| {name} | {rate} /s | {target} | {} | {:.0} /s | {} | {} |",
                        samples.latency_cells(),
                        samples.throughput(),
                        samples.errors,
                        if sustained { "yes" } else { "no" },
                    );
                }
                if !any {
                    break;
                }
                rate += step;
            }
            highest.push((name, best));
        }
    });
    println!();
    println!("| request | allow-all webhook sustains | bluegreen-guard sustains |");
    println!("|---|---|---|");
    for (name, [allow_all, guard]) in highest {
        println!("| {name} | {allow_all} /s | {guard} /s |");
    }
    for (_, server) in servers {
        server.stop();
    }
}

/// The guard's resident memory through a long run at RATE (3500) for SUSTAIN_S (300)
/// seconds, the three request kinds in turn, one second each: VmRSS every 10 s.
fn sustain(bench: &Bench) {
    let rate = env_or("RATE", 3500);
    let seconds = env_or("SUSTAIN_S", 300);
    let guard = bench.spawn("guard");
    let pool = connection_pool();
    let bodies: Vec<Vec<u8>> = common::scenarios()
        .into_iter()
        .map(|(_, review)| review.to_string().into_bytes())
        .collect();
    println!(
        "sustain: {rate} reviews/s for {seconds} s (the three request kinds in turn), guard on 2 worker threads; MALLOC_ARENA_MAX={}",
        std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "unset".into())
    );
    println!(
        "guard VmRSS: {:.1} MiB at start, {:.1} MiB with the caches built",
        guard.rss_start, guard.rss_ready
    );
    println!();
    println!("| after | VmRSS | open connections | p50 | p99 | max | errors (last 10 s) |");
    println!("|---|---|---|---|---|---|---|");
    let mut all = Samples::default();
    bench.runtime.block_on(async {
        let mut window = Samples::default();
        for second in 0..seconds {
            let body = &bodies[second as usize % bodies.len()];
            load(
                &bench.client,
                &pool,
                &guard.url,
                body,
                rate,
                Duration::from_secs(1),
                &mut window,
            )
            .await;
            if (second + 1) % 10 == 0 {
                window.latencies.sort();
                println!(
                    "| {} s | {:.1} MiB | {} | {} | {} |",
                    second + 1,
                    resident_mib_of(guard.child.id()),
                    sockets_of(guard.child.id()),
                    window.latency_cells(),
                    window.errors
                );
                all.errors += window.errors;
                all.latencies.append(&mut window.latencies);
                window = Samples::default();
            }
        }
    });
    all.latencies.sort();
    println!();
    println!(
        "whole run: {} reviews, p50 {:.0} µs, p99 {:.1} ms, max {:.1} ms, {} errors",
        all.latencies.len(),
        all.at(0.50).as_secs_f64() * 1e6,
        all.at(0.99).as_secs_f64() * 1e3,
        all.at(1.0).as_secs_f64() * 1e3,
        all.errors
    );
    guard.stop();
}

/// A denial storm: RATE (3500) denied switches per second for STORM_S (60) seconds
/// against the guard logging as it does in production, once with its stderr read as
/// fast as it comes and once through a slow pipe (READ_BYTES_PER_S, 65536); the
/// allow-all webhook at the same rate is the baseline. Per-second throughput and p99,
/// lines written and dropped.
fn storm(bench: &Bench) {
    let rate = env_or("RATE", 3500);
    let seconds = env_or("STORM_S", 60);
    let slow = env_or("READ_BYTES_PER_S", 65536);
    let body = common::denied_switch().to_string().into_bytes();
    println!(
        "denial storm: {rate} denied switches/s for {seconds} s, {} keep-alive connections",
        env_or("CONNECTIONS", 25)
    );
    println!();
    println!(
        "| server | stderr read | p50 | p99 | max | worst second p99 | slowest second | errors | log lines read | dropped (metric) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let allow_all = bench.spawn("allow-all");
    storm_row(
        bench,
        "allow-all webhook (baseline)",
        "—",
        &allow_all,
        &body,
        rate,
        seconds,
        None,
    );
    allow_all.stop();
    for (reader, limit) in [("as fast as it comes", None), ("slow pipe", Some(slow))] {
        let mut guard = Server::spawn("guard", bench.dir.path(), true);
        let lines = read_stderr(guard.child.stderr.take().unwrap(), limit);
        let reader = match limit {
            Some(bytes) => format!("{reader}, {} KiB/s", bytes / 1024),
            None => reader.to_string(),
        };
        storm_row(
            bench,
            "bluegreen-guard",
            &reader,
            &guard,
            &body,
            rate,
            seconds,
            Some(&lines),
        );
        guard.stop();
    }
}

/// One row of [`storm`]: the load, then what the guard says it dropped.
#[allow(clippy::too_many_arguments)]
fn storm_row(
    bench: &Bench,
    server_name: &str,
    reader: &str,
    server: &Server,
    body: &[u8],
    rate: u64,
    seconds: u64,
    lines: Option<&Arc<std::sync::atomic::AtomicU64>>,
) {
    let pool = connection_pool();
    let mut all = Samples::default();
    let (mut worst_p99, mut slowest) = (Duration::ZERO, f64::INFINITY);
    let dropped = bench.runtime.block_on(async {
        load(
            &bench.client,
            &pool,
            &server.url,
            body,
            rate,
            Duration::from_secs(1),
            &mut Samples::default(),
        )
        .await;
        for _ in 0..seconds {
            let mut second = Samples::default();
            load(
                &bench.client,
                &pool,
                &server.url,
                body,
                rate,
                Duration::from_secs(1),
                &mut second,
            )
            .await;
            second.latencies.sort();
            worst_p99 = worst_p99.max(second.at(0.99));
            slowest = slowest.min(second.throughput());
            all.errors += second.errors;
            all.latencies.append(&mut second.latencies);
        }
        match &server.probes {
            Some(probes) => {
                metric(
                    &bench.client,
                    probes,
                    "bluegreen_guard_log_lines_dropped_total",
                )
                .await
            }
            None => None,
        }
    });
    all.latencies.sort();
    println!(
        "| {server_name} | {reader} | {} | {:.1} ms | {:.0} /s | {} | {} | {} |",
        all.latency_cells(),
        worst_p99.as_secs_f64() * 1e3,
        slowest,
        all.errors,
        lines.map_or("—".to_string(), |lines| lines
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string()),
        dropped.map_or("—".to_string(), |dropped| format!("{dropped:.0}")),
    );
}

/// Reads a child's stderr on a thread, at most `limit` bytes per second when given,
/// counting the lines.
fn read_stderr(
    stderr: std::process::ChildStderr,
    limit: Option<u64>,
) -> Arc<std::sync::atomic::AtomicU64> {
    let lines = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Arc::clone(&lines);
    std::thread::spawn(move || {
        let mut stderr = stderr;
        // 10 reads a second of a tenth of the limit each.
        let chunk = limit.map_or(64 * 1024, |bytes| (bytes / 10).max(1) as usize);
        let mut buffer = vec![0u8; chunk];
        loop {
            match stderr.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let newlines = buffer[..n].iter().filter(|&&b| b == b'\n').count();
                    counted.fetch_add(newlines as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if limit.is_some() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    lines
}

/// A metric's value from a server's `/metrics`.
async fn metric(client: &reqwest::Client, probes: &str, name: &str) -> Option<f64> {
    let text = client
        .get(format!("{probes}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}
