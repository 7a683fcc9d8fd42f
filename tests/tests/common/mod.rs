//! Shared set-up for the test API server's own tests: the objects of the capture session
//! (namespace `capture`, Deployments `app-blue`/`app-green`, Service `api`, ...), the captures
//! themselves, raw HTTP requests and the real kubectl.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};

use bluegreen_e2e::{Config, Denial, TestApiServer};
use serde_json::{Value, json};

/// `tests/captures`: the repository's copy of what a real kube-apiserver sent (its README says
/// how it was recorded).
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

pub fn capture(relative: &str) -> Value {
    let path = captures_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("parsing {}: {err}", path.display()))
}

pub fn capture_text(relative: &str) -> String {
    let path = captures_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// The `bodyRaw` of a captured response, without its trailing newline.
pub fn captured_body(relative: &str) -> String {
    capture(relative)["response"]["bodyRaw"]
        .as_str()
        .expect("the capture has a bodyRaw")
        .trim_end()
        .to_string()
}

pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Same fields, same request identity, same options; objects present or null alike, with the
/// same metadata fields (`managedFields` included: ownership is settled before admission).
pub fn assert_review_shape(actual: &Value, captured: &Value) {
    assert_eq!(keys(actual), keys(captured), "request fields");
    for field in [
        "kind",
        "resource",
        "requestKind",
        "requestResource",
        "subResource",
        "requestSubResource",
        "operation",
        "dryRun",
        "options",
    ] {
        assert_eq!(actual[field], captured[field], "{field}");
    }
    // `extra` comes with ServiceAccount tokens only; the captures mix both kinds of users.
    let identity = |v: &Value| {
        keys(&v["userInfo"])
            .into_iter()
            .filter(|k| k != "extra")
            .collect::<Vec<_>>()
    };
    assert_eq!(identity(actual), identity(captured), "userInfo fields");
    for field in ["object", "oldObject"] {
        assert_eq!(
            actual[field].is_null(),
            captured[field].is_null(),
            "{field} presence"
        );
        assert_eq!(
            keys(&actual[field]["metadata"]),
            keys(&captured[field]["metadata"]),
            "{field}.metadata fields"
        );
        assert_eq!(
            keys(actual[field].get("spec").unwrap_or(&Value::Null)),
            keys(captured[field].get("spec").unwrap_or(&Value::Null)),
            "{field}.spec fields"
        );
    }
}

pub fn deployment(name: &str, color: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "capture",
                     "labels": {"app": "api", "color": color, "bluegreen.dev/app": "api"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api", "color": color}},
            "template": {
                "metadata": {"labels": {"app": "api", "color": color, "bluegreen.dev/app": "api"}},
                "spec": {"containers": [{
                    "name": "api", "image": image, "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}
                }]}
            }
        }
    })
}

pub fn service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "api", "namespace": "capture", "labels": {"bluegreen.dev/app": "api"}},
        "spec": {"selector": {"app": "api", "color": "blue"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    })
}

pub fn http_route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "myapp", "namespace": "capture", "labels": {"bluegreen.dev/app": "api"}},
        "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["myapp.example.com"],
                 "rules": [{"backendRefs": [{"name": "app-blue", "port": 80}]}]}
    })
}

/// A server with the capture session's users (alice may not list secrets nor delete services)
/// and objects, owned by `kubectl-create` as the session's `kubectl create` made them.
pub async fn capture_server() -> TestApiServer {
    let config = Config::default()
        .deny("alice", Denial::new("list", "", "secrets"))
        .deny("alice", Denial::new("delete", "", "services"));
    let server = TestApiServer::start(config).await.expect("server starts");
    for manifest in [
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "capture", "labels": {"bluegreen-capture": "enabled"}}}),
        deployment("app-blue", "blue", "registry.example.com/api:1.0.0"),
        deployment("app-green", "green", "registry.example.com/api:1.1.0"),
        service(),
        http_route(),
    ] {
        server
            .put_object_as(&manifest, "kubectl-create")
            .expect("seeding");
    }
    server
}

/// A raw HTTP exchange through a kube::Client (TLS and token handled, no pretty printing).
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub async fn raw(
    server: &TestApiServer,
    user: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> RawResponse {
    let client = server.client(user).await.expect("client");
    raw_with(&client, method, path, content_type, body).await
}

pub async fn raw_with(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> RawResponse {
    let mut request = axum::http::Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let request = request.body(body.as_bytes().to_vec()).expect("request");
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).trim_end().to_string(),
    }
}

pub struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    cache_dir: PathBuf,
}

pub struct KubectlOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    /// kubectl as `user` in namespace `capture`, with its own discovery cache. The
    /// binary is the one the scenarios use (never skipped: `.ci/tools.sh` provides it).
    pub fn new(server: &TestApiServer, user: &str) -> Self {
        let binary = bluegreen_e2e::e2e::kubectl();
        let dir = unique_temp_dir();
        let kubeconfig = server
            .write_kubeconfig(user, "capture", &dir)
            .expect("kubeconfig");
        Kubectl {
            binary,
            kubeconfig,
            cache_dir: dir.join("cache"),
        }
    }

    pub async fn run(&self, args: &[&str]) -> KubectlOutput {
        self.run_with_stdin(args, None).await
    }

    pub async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> KubectlOutput {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        if let Some(mut pipe) = child.stdin.take()
            && let Some(input) = stdin
        {
            pipe.write_all(input.as_bytes()).await.expect("stdin");
        }
        let output = child.wait_with_output().await.expect("kubectl runs");
        KubectlOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub fn unique_temp_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bluegreen-e2e-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A loopback port nobody listens on (bound, then released): a webhook that is down.
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The order kube-apiserver keeps `managedFields` in: `Apply` entries first, then by time, then
/// by manager.
pub fn assert_in_order(entries: &[Value]) {
    let key = |e: &Value| {
        (
            e["operation"].as_str().unwrap_or_default().to_string(),
            e["time"].as_str().unwrap_or_default().to_string(),
            e["manager"].as_str().unwrap_or_default().to_string(),
        )
    };
    assert!(
        entries
            .windows(2)
            .all(|pair| key(&pair[0]) <= key(&pair[1])),
        "managedFields out of order: {entries:?}"
    );
}

/// An object with what differs between two servers (ids, versions, times, addresses) replaced by
/// whether it is there; its `managedFields`, checked to be in order, by operation and manager
/// (entries written within one second here were seconds apart when captured).
pub fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(entries) = object["metadata"]["managedFields"].as_array_mut() {
        assert_in_order(entries);
        entries.sort_by_key(|e| (e["operation"].to_string(), e["manager"].to_string()));
    }
    for pointer in [
        "/metadata/uid",
        "/metadata/resourceVersion",
        "/metadata/creationTimestamp",
        "/spec/clusterIP",
        "/spec/clusterIPs/0",
    ] {
        if let Some(value) = object.pointer_mut(pointer) {
            *value = json!("<set>");
        }
    }
    for entry in object["metadata"]["managedFields"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(time) = entry.get_mut("time") {
            *time = json!("<set>");
        }
    }
    object
}

/// The `managedFields` entry of `manager`.
pub fn managed_fields_entry<'a>(object: &'a Value, manager: &str) -> &'a Value {
    object["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
        .unwrap_or_else(|| panic!("no entry of {manager} in {object}"))
}
