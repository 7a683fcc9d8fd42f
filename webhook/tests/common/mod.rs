//! Fixtures shared by the guard's tests: the captured AdmissionReviews, the cluster
//! state they were recorded against, and a way to send reviews to the handler.
#![allow(dead_code)] // each test crate uses part of it

use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use bluegreen_guard::{AppState, Cache, Clock, Guard, Unsynced, admission_router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The time decisions are made at: ten minutes after the captured objects were created.
pub const NOW: &str = "2026-11-22T00:10:00Z";

/// A captured AdmissionReview from `tests/data/`.
pub fn review(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Sets the value at a JSON pointer, creating objects on the way.
pub fn set(value: &mut Value, pointer: &str, new: Value) {
    let mut target = value;
    for key in pointer.split('/').skip(1) {
        if target.is_null() {
            *target = json!({});
        }
        target = match target {
            Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            Value::Object(map) => map.entry(key.replace("~1", "/")).or_insert(Value::Null),
            _ => panic!("{pointer}: not a container at {key}"),
        };
    }
    *target = new;
}

/// The object a captured review carries (`object`, or `oldObject` for DELETE).
fn captured_object(name: &str) -> Value {
    let mut review = review(name);
    let request = review["request"].take();
    if request["object"].is_null() {
        request["oldObject"].clone()
    } else {
        request["object"].clone()
    }
}

/// A ready color Deployment of the captured app `api`: 2 replicas, all available.
pub fn deployment(color: &str) -> Value {
    let mut deployment = captured_object("deployment-create");
    set(
        &mut deployment,
        "/metadata/name",
        json!(format!("app-{color}")),
    );
    for labels in [
        "/metadata/labels/color",
        "/spec/selector/matchLabels/color",
        "/spec/template/metadata/labels/color",
    ] {
        set(&mut deployment, labels, json!(color));
    }
    set(&mut deployment, "/status", ready_status(2));
    deployment
}

/// The status of a Deployment whose `replicas` are all rolled out and available.
pub fn ready_status(replicas: i64) -> Value {
    json!({"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
           "readyReplicas": replicas, "availableReplicas": replicas})
}

/// The stored state of namespace `capture`, and the policy in force.
#[derive(Clone)]
pub struct Cluster {
    pub objects: Vec<Value>,
}

impl Cluster {
    /// The Service-selector app as captured: Service api selects blue (live since
    /// 00:00, previous color green), Deployments app-blue and app-green ready, and
    /// NetworkPolicy api-allow-http selecting both.
    pub fn service_app() -> Self {
        let mut service = captured_object("service-create");
        set(
            &mut service,
            "/metadata/annotations",
            json!({
                "bluegreen.dev/live-since": "2026-11-22T00:00:00Z",
                "bluegreen.dev/previous-color": "green",
            }),
        );
        Cluster {
            objects: vec![
                deployment("blue"),
                deployment("green"),
                service,
                captured_object("networkpolicy-create"),
            ],
        }
    }

    /// The HTTPRoute app as captured: HTTPRoute myapp sends traffic to Service
    /// app-blue; Services app-blue and app-green select their color.
    pub fn route_app() -> Self {
        let color_service = |color: &str| {
            let mut service = captured_object("service-create");
            set(
                &mut service,
                "/metadata/name",
                json!(format!("app-{color}")),
            );
            set(
                &mut service,
                "/spec/selector",
                json!({"app": "api", "color": color}),
            );
            service
        };
        Cluster {
            objects: vec![
                deployment("blue"),
                deployment("green"),
                color_service("blue"),
                color_service("green"),
                captured_object("httproute-create"),
            ],
        }
    }

    /// The stored object of that kind and name.
    pub fn object(&mut self, kind: &str, name: &str) -> &mut Value {
        self.objects
            .iter_mut()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    /// Adds a cluster-wide BlueGreenPolicy with this spec.
    pub fn with_policy(mut self, spec: Value) -> Self {
        self.objects.push(json!({
            "apiVersion": "bluegreen.dev/v1alpha1", "kind": "BlueGreenPolicy",
            "metadata": {"name": "default"}, "spec": spec,
        }));
        self
    }

    /// The cache holding these objects.
    pub fn cache(&self) -> Cache {
        let text = serde_json::to_string(
            &json!({"apiVersion": "v1", "kind": "List", "items": self.objects}),
        )
        .unwrap();
        let parsed = policy::manifest::parse(&text, "fixture").expect("fixture objects parse");
        Cache::from_objects(parsed.objects, [])
    }

    /// The guard deciding against these objects at [`NOW`].
    pub fn guard(&self) -> Guard {
        Guard::new(self.cache(), Unsynced::Deny).with_clock(Clock::Fixed(NOW.parse().unwrap()))
    }

    /// The admission routes of a guard over these objects.
    pub fn router(&self) -> Router {
        admission_router(
            AppState::new(self.guard()),
            std::time::Duration::from_secs(5),
        )
    }

    /// Sends a review to `/validate` in-process; the status and the body (JSON when it is).
    pub async fn send(&self, review: &Value) -> (StatusCode, Value) {
        post(self.router(), review.to_string()).await
    }

    /// Sends any body to `/validate` in-process.
    pub async fn send_raw(&self, body: &str) -> (StatusCode, Value) {
        post(self.router(), body.to_string()).await
    }

    /// Sends a review and returns its `response`, checking the HTTP envelope.
    pub async fn respond(&self, review: &Value) -> Value {
        let (status, body) = self.send(review).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(body["kind"], "AdmissionReview");
        assert_eq!(body["response"]["uid"], review["request"]["uid"]);
        body["response"].clone()
    }
}

/// POSTs a body to `/validate` of `router`.
pub async fn post(router: Router, body: impl Into<Body>) -> (StatusCode, Value) {
    post_to(router, "/validate", body).await
}

/// POSTs a body to `path` of `router`.
pub async fn post_to(router: Router, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

/// A throwaway certificate authority issuing serving certificates for 127.0.0.1.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A serving certificate and its key, as PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// A new certificate for `127.0.0.1` and `localhost`, with a new key.
    pub fn leaf(&self) -> Leaf {
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// An HTTPS client trusting only this CA, speaking TLS `versions`.
    pub fn client(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tls_info(true)
            .no_proxy()
            .build()
            .unwrap()
    }
}
