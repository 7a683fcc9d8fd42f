//! bluegreen-guard as a real process, started with the chart's arguments and
//! registered through the chart's ValidatingWebhookConfiguration, pointed at it.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::{Cluster, Who, workspace_binary};
use crate::chart;
use crate::tls::TestCertificates;

/// The environment variable naming a guard already reachable by a real cluster's API
/// server (`https://host:port/validate`); its CA goes in `BLUEGREEN_E2E_GUARD_CA` (PEM file).
pub const GUARD_URL_ENV: &str = "BLUEGREEN_E2E_GUARD_URL";
/// The CA of the guard named by [`GUARD_URL_ENV`].
pub const GUARD_CA_ENV: &str = "BLUEGREEN_E2E_GUARD_CA";

/// A running guard.
pub struct Guard {
    child: Option<Child>,
    /// `https://127.0.0.1:PORT/validate`.
    pub url: String,
    /// The plain-HTTP probe address (`/readyz`, `/metrics`).
    pub probes: Option<SocketAddr>,
    ca_bundle: String,
    certificates: Option<TestCertificates>,
    kubeconfig: PathBuf,
    listen: SocketAddr,
    dir: tempfile::TempDir,
}

/// A free loopback address for a server a scenario starts as a child process, which binds
/// it later. Ports come from below the kernel's ephemeral range (32768 and up), which port 0
/// and every outgoing connection draw from: a port found free there can be taken by a
/// connection before the child binds it. Each test process walks its own sequence, so
/// concurrent scenarios never pick the same port.
pub fn free_port() -> SocketAddr {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919);
    (0..COUNT)
        .map(|_| {
            let step = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = FIRST + start.wrapping_add(step) % COUNT;
            SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).expect("below 32768")))
        })
        .find(|address| TcpListener::bind(address).is_ok())
        .expect("a free loopback port below the ephemeral range")
}

impl Guard {
    /// Starts the guard against `cluster` (as admin; it only reads) with a fresh
    /// certificate, and waits until it reports ready (caches synced). Against a real
    /// cluster with `BLUEGREEN_E2E_GUARD_URL` set, uses that guard instead.
    pub async fn start(cluster: &Cluster) -> Guard {
        if let (false, Ok(url)) = (cluster.is_local(), std::env::var(GUARD_URL_ENV)) {
            let ca = std::fs::read(
                std::env::var(GUARD_CA_ENV).expect("BLUEGREEN_E2E_GUARD_CA names the guard's CA"),
            )
            .expect("read the guard CA");
            use base64::Engine;
            return Guard {
                child: None,
                url,
                probes: None,
                ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca),
                certificates: None,
                kubeconfig: cluster.kubeconfig(Who::Admin),
                listen: free_port(),
                dir: tempfile::tempdir().expect("temporary directory"),
            };
        }
        let guard = Guard::launch(cluster.kubeconfig(Who::Admin));
        guard.wait_ready().await;
        guard
    }

    /// Starts the guard reading the cluster through `kubeconfig`, without waiting for
    /// it to become ready (a scenario may point it at an API server it cannot reach).
    pub fn launch(kubeconfig: PathBuf) -> Guard {
        let certificates = TestCertificates::generate().expect("certificates");
        let listen = free_port();
        let mut guard = Guard {
            child: None,
            url: format!("https://{listen}/validate"),
            probes: None,
            ca_bundle: certificates.ca_bundle_base64(),
            certificates: Some(certificates),
            kubeconfig,
            listen,
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        guard.spawn();
        guard
    }

    /// Runs `bluegreen-guard` with the chart Deployment's arguments, addresses and
    /// certificate paths replaced by local ones.
    fn spawn(&mut self) {
        let certificates = self
            .certificates
            .as_ref()
            .expect("a local guard has certificates");
        let cert = self.dir.path().join("tls.crt");
        let key = self.dir.path().join("tls.key");
        std::fs::write(&cert, &certificates.cert_pem).expect("write certificate");
        std::fs::write(&key, &certificates.key_pem).expect("write key");
        let probes = free_port();
        let args: Vec<String> = chart::guard_args(&[])
            .into_iter()
            .map(|arg| match arg.split_once('=') {
                Some(("--listen", _)) => format!("--listen={}", self.listen),
                Some(("--probe-listen", _)) => format!("--probe-listen={probes}"),
                Some(("--tls-cert", _)) => format!("--tls-cert={}", cert.display()),
                Some(("--tls-key", _)) => format!("--tls-key={}", key.display()),
                _ => arg,
            })
            .collect();
        let log = std::fs::File::create(self.dir.path().join("guard.log")).expect("guard log");
        let child = Command::new(workspace_binary("bluegreen-guard"))
            .args(&args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("bluegreen-guard starts");
        self.child = Some(child);
        self.probes = Some(probes);
    }

    /// Waits (bounded) until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let probes = self.probes.expect("a local guard has probes");
        for _ in 0..300 {
            if probe(probes, "/readyz").await == Some(200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "bluegreen-guard did not become ready; its log:\n{}",
            self.log()
        );
    }

    /// What the guard logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("guard.log")).unwrap_or_default()
    }

    /// Stops the guard process (SIGKILL: the API server then finds nothing listening).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same address and waits until it is ready.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.wait_ready().await;
    }

    /// Registers the chart's webhook configurations, validating and mutating (with
    /// `values`), pointed at this guard (on a real cluster, renamed for the scenario and
    /// limited to its namespaces).
    pub async fn register(&self, cluster: &Cluster, values: &[&str]) {
        let origin = self.url.trim_end_matches("/validate");
        let configurations: Vec<Value> =
            chart::webhook_configurations(values, origin, &self.ca_bundle)
                .into_iter()
                .map(|configuration| cluster.scoped_webhooks(configuration))
                .collect();
        cluster.apply(&configurations).await;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The status code of a plain-HTTP GET, or `None` when nothing answers.
pub async fn probe(address: SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1)?.parse().ok()
}
