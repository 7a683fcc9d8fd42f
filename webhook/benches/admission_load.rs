//! Load over real HTTPS on loopback: a fixed rate of AdmissionReviews with keep-alive
//! against the guard (caches of 10,000 Deployments, 2,000 Services, 1,000
//! NetworkPolicies) and, as the baseline, against an allow-all axum handler on the
//! same TLS stack. Bounded: RATE × SECONDS requests per run, each run stops by itself.
//!
//! `cargo bench -p bluegreen-guard --bench admission_load` (env RATE, SECONDS).
//!
//! The guard and the baseline each run in a child process (this benchmark binary again,
//! with `BLUEGREEN_BENCH_SERVER` set), on 2 worker threads, so both are measured
//! across the same process boundary from the load generator, and the guard's resident
//! memory is its caches' and server's alone.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use axum_server::tls_rustls::RustlsConfig;
use bluegreen_guard::tls::CertificateFiles;
use bluegreen_guard::{AppState, Config, Guard, Listeners, Unsynced, serve};

/// Set in a child process to the server it runs: `guard` or `baseline`.
const SERVER_ROLE: &str = "BLUEGREEN_BENCH_SERVER";
/// The directory holding the serving certificate and key, in a child process.
const CERT_DIR: &str = "BLUEGREEN_BENCH_CERTS";

const ALLOW_ALL: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true,"status":{}}}"#;

struct Stats {
    p50: Duration,
    p99: Duration,
    max: Duration,
    throughput: f64,
    errors: usize,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends `rate` requests per second for `seconds`, open loop: a request starts on
/// schedule whether or not earlier ones have finished, so a slow server shows as
/// queueing. Latency counts from the moment the request is handed to the client
/// (tokio's timer wakes to the millisecond, so the schedule itself is ±1 ms).
async fn load(client: &reqwest::Client, url: &str, body: &[u8], rate: u64, seconds: u64) -> Stats {
    let total = rate * seconds;
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
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0;
    while let Some(done) = requests.join_next().await {
        let (ok, latency) = done.unwrap();
        errors += usize::from(!ok);
        latencies.push(latency);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
        throughput: total as f64 / elapsed,
        errors,
    }
}

/// A child process: the guard with the big cluster cached, or the allow-all baseline
/// on the same TLS configuration and server stack, on 2 worker threads, until its
/// stdin closes. Prints its resident memory before and after building its state, and
/// its address.
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
    if role == "baseline" {
        let (_, certificate) = files.load().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        println!("rss {rss_start:.1} {rss_start:.1}");
        println!(
            "listening https://{}/validate",
            listener.local_addr().unwrap()
        );
        let handle = axum_server::Handle::new();
        let app = Router::new().route(
            "/validate",
            post(|_body: axum::body::Bytes| async { ALLOW_ALL }),
        );
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
        Server {
            child,
            url,
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

/// VmRSS of another process, in MiB.
fn resident_mib_of(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    common::vm_rss_mib(&status)
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return; // `cargo bench -- --list` asks harness=false benches to list nothing
    }
    if let (Ok(role), Ok(dir)) = (std::env::var(SERVER_ROLE), std::env::var(CERT_DIR)) {
        return server_process(&role, &dir);
    }
    let rate = env_or("RATE", 2000);
    let seconds = env_or("SECONDS", 10);

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

    // The guard with the big cluster cached, and the baseline, each in its own process.
    let guard = Server::spawn("guard", dir.path());
    let baseline = Server::spawn("baseline", dir.path());
    let (guard_url, baseline_url) = (guard.url.clone(), baseline.url.clone());

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
        "load: {rate} reviews/s for {seconds} s per run, HTTP/1.1 keep-alive over TLS 1.3, loopback"
    );
    println!();
    println!("| request | target | p50 | p99 | max | throughput | errors | p99 ÷ baseline p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    let wall = Instant::now();
    client_runtime.block_on(async {
        for (name, review) in common::scenarios() {
            let body = review.to_string().into_bytes();
            // Warm the connection and caches before measuring.
            load(&client, &guard_url, &body, rate, 1).await;
            load(&client, &baseline_url, &body, rate, 1).await;
            let base = load(&client, &baseline_url, &body, rate, seconds).await;
            let guarded = load(&client, &guard_url, &body, rate, seconds).await;
            for (target, stats) in [("allow-all baseline", &base), ("bluegreen-guard", &guarded)] {
                println!(
                    "| {name} | {target} | {:.0} µs | {:.0} µs | {:.1} ms | {:.0} /s | {} | {} |",
                    stats.p50.as_secs_f64() * 1e6,
                    stats.p99.as_secs_f64() * 1e6,
                    stats.max.as_secs_f64() * 1e3,
                    stats.throughput,
                    stats.errors,
                    if std::ptr::eq(stats, &guarded) {
                        format!("{:.2}×", guarded.p99.as_secs_f64() / base.p99.as_secs_f64())
                    } else {
                        "—".to_string()
                    },
                );
            }
        }
    });
    let rss_after = resident_mib_of(guard.child.id());
    let baseline_after = resident_mib_of(baseline.child.id());
    println!();
    println!(
        "guard process resident memory (VmRSS; caches and server only, load generator elsewhere): {:.1} MiB at start, {:.1} MiB with the caches built, {rss_after:.1} MiB after the load",
        guard.rss_start, guard.rss_ready
    );
    println!(
        "allow-all baseline process: {:.1} MiB at start, {baseline_after:.1} MiB after the load",
        baseline.rss_start
    );
    println!("wall time: {:.1} s", wall.elapsed().as_secs_f64());

    guard.stop();
    baseline.stop();
}
