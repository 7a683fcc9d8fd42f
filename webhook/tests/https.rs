//! The real server on ephemeral loopback ports, called by a real HTTPS client:
//! round trip, probes, certificate rotation, limits, garbage and graceful shutdown.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bluegreen_guard::{AppState, Config, Listeners, Result, Unsynced, serve};
use common::{Cluster, Leaf, TestCa, review};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const ALL_VERSIONS: &[&rustls::SupportedProtocolVersion] = rustls::ALL_VERSIONS;

/// A guard serving on loopback, with its certificate in a directory laid out like a
/// mounted Secret: `tls.crt` → `..data/tls.crt`, `..data` → a timestamped directory.
struct Running {
    ca: TestCa,
    secret: tempfile::TempDir,
    generation: usize,
    admission: SocketAddr,
    probes: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

impl Running {
    async fn start(cluster: &Cluster) -> Self {
        // The plain-HTTP probe client needs a process-wide provider; a second test
        // installing it again is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = TestCa::new();
        let secret = tempfile::tempdir().unwrap();
        let generation = 1;
        mount(secret.path(), generation, &ca.leaf());
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            probe_listen: "127.0.0.1:0".parse().unwrap(),
            tls_cert: secret.path().join("tls.crt"),
            tls_key: secret.path().join("tls.key"),
            tls_reload_interval: Duration::from_millis(50),
            unsynced: Unsynced::Deny,
            request_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
            images: Default::default(),
        };
        let listeners = Listeners {
            admission: TcpListener::bind(config.listen).unwrap(),
            probes: TcpListener::bind(config.probe_listen).unwrap(),
        };
        let admission = listeners.admission.local_addr().unwrap();
        let probes = listeners.probes.local_addr().unwrap();
        let state = AppState::new(cluster.guard());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(state, &config, listeners, async {
                let _ = stopped.await;
            })
            .await
        });
        Running {
            ca,
            secret,
            generation,
            admission,
            probes,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.admission)
    }

    fn client(&self) -> reqwest::Client {
        self.ca.client(ALL_VERSIONS)
    }

    /// The leaf certificate a new connection is served.
    async fn served_certificate(&self) -> Vec<u8> {
        let response = self
            .client()
            .post(self.url("/validate"))
            .body(review("service-switch").to_string())
            .send()
            .await
            .unwrap();
        let info = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .unwrap();
        info.peer_certificate().unwrap().to_vec()
    }

    async fn probe(&self, path: &str) -> (StatusCode, String) {
        let response = reqwest::get(format!("http://{}{path}", self.probes))
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    fn rotate(&mut self, leaf: &Leaf) {
        self.generation += 1;
        mount(self.secret.path(), self.generation, leaf);
    }

    async fn stop(mut self) -> Result<()> {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap()
    }
}

/// Writes a pair the way the kubelet updates a Secret volume: into a new directory,
/// then one atomic rename of the `..data` symlink.
fn mount(dir: &Path, generation: usize, leaf: &Leaf) {
    let data = dir.join(format!("..2026_{generation}"));
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("tls.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(data.join("tls.key"), &leaf.key_pem).unwrap();
    let next = dir.join("..data_tmp");
    std::os::unix::fs::symlink(&data, &next).unwrap();
    std::fs::rename(&next, dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        let link: PathBuf = dir.join(file);
        if !link.exists() {
            std::os::unix::fs::symlink(Path::new("..data").join(file), link).unwrap();
        }
    }
}

#[tokio::test]
async fn a_review_round_trips_over_https_and_is_counted() {
    let running = Running::start(&Cluster::service_app()).await;
    let switch = review("service-switch");
    let response = running
        .client()
        .post(running.url("/validate?timeout=10s"))
        .header("content-type", "application/json")
        .body(switch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["response"]["uid"], switch["request"]["uid"]);
    assert_eq!(body["response"]["allowed"], true);

    assert_eq!(
        running.probe("/healthz").await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        running.probe("/readyz").await,
        (StatusCode::OK, "ready\n".into())
    );
    let (status, metrics) = running.probe("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "bluegreen_guard_reviews_total{kind=\"Service\",operation=\"UPDATE\",decision=\"allow\"} 1",
        "bluegreen_guard_cache_objects{resource=\"deployments\"} 2",
        "bluegreen_guard_cache_synced{resource=\"httproutes\"} 1",
        "bluegreen_guard_decision_duration_seconds_count 1",
        "bluegreen_guard_certificate_expiry_timestamp_seconds ",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn tls_1_2_clients_are_served_too() {
    let running = Running::start(&Cluster::service_app()).await;
    let response = running
        .ca
        .client(&[&rustls::version::TLS12])
        .post(running.url("/validate"))
        .body(review("service-switch").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_rotated_certificate_is_served_and_a_bad_pair_is_not() {
    let mut running = Running::start(&Cluster::service_app()).await;
    let first = running.served_certificate().await;
    let second = running.ca.leaf();
    running.rotate(&second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while running.served_certificate().await != second.der {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(first, second.der);

    // A key that does not fit the certificate is refused; the last good pair stays.
    let third = running.ca.leaf();
    let mismatched = Leaf {
        key_pem: running.ca.leaf().key_pem,
        ..third
    };
    running.rotate(&mismatched);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(running.served_certificate().await, second.der);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_over_three_mebibytes_is_refused_with_413() {
    let running = Running::start(&Cluster::service_app()).await;
    let response = running
        .client()
        .post(running.url("/validate"))
        .body(vec![b' '; 3 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn garbage_gets_a_400_with_a_reason_and_the_server_keeps_serving() {
    let running = Running::start(&Cluster::service_app()).await;
    let client = running.client();
    for garbage in [
        &b"\x00\xff\xfe garbage"[..],
        b"{\"apiVersion\": 3}",
        b"null",
    ] {
        let response = client
            .post(running.url("/validate"))
            .body(garbage.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let text = response.text().await.unwrap();
        assert!(text.starts_with("the request body is not"), "{text}");
    }
    let wrong_method = client.get(running.url("/validate")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = client
        .post(running.url("/validate"))
        .body(review("service-switch").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_finishes_an_in_flight_review() {
    let running = Running::start(&Cluster::service_app()).await;
    let body = review("service-switch").to_string().into_bytes();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let (chunks, stream) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(2);
    chunks.send(Ok(first_half.to_vec())).await.unwrap();
    let request = running
        .client()
        .post(running.url("/validate"))
        .header("content-length", body.len())
        .body(reqwest::Body::wrap_stream(tokio_stream(stream)))
        .send();
    let in_flight = tokio::spawn(request);
    // Let the request reach the handler, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Running {
        stop, task, probes, ..
    } = running;
    stop.unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !task.is_finished(),
        "the server must wait for the in-flight review"
    );
    let readyz = reqwest::get(format!("http://{probes}/readyz"))
        .await
        .unwrap();
    assert_eq!(readyz.status(), StatusCode::SERVICE_UNAVAILABLE);
    chunks.send(Ok(second_half.to_vec())).await.unwrap();
    drop(chunks);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["response"]["allowed"], true);
    task.await.unwrap().unwrap();
}

/// The receiving end of a channel as a byte stream for a request body.
fn tokio_stream(
    mut receiver: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
