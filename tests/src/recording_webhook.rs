//! A webhook for tests, validating or mutating: HTTPS on a loopback port, records every
//! AdmissionReview it receives and answers as the test says (allow, deny with a code, warn,
//! patch, or answer late), by request and path.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::tls::{TestCertificates, TlsError, install_crypto_provider};

/// What the webhook answers to one review.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub allowed: bool,
    pub code: Option<u16>,
    pub message: Option<String>,
    pub warnings: Vec<String>,
    /// Answer only after this long (to exceed a webhook's timeoutSeconds).
    pub delay: Option<Duration>,
    /// `response.patch` as sent (base64 when well-formed), with `patchType: JSONPatch`.
    pub patch: Option<String>,
}

impl Answer {
    pub fn allow() -> Self {
        Answer {
            allowed: true,
            ..Answer::default()
        }
    }

    /// A denial; `code: None` leaves `status.code` out.
    pub fn deny(code: Option<u16>, message: &str) -> Self {
        Answer {
            allowed: false,
            code,
            message: Some(message.to_string()),
            ..Answer::default()
        }
    }

    pub fn with_warning(mut self, warning: &str) -> Self {
        self.warnings.push(warning.to_string());
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sends this JSONPatch (an array of operations), base64-encoded as kube-apiserver expects.
    pub fn with_patch(self, operations: &Value) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(operations.to_string());
        self.with_raw_patch(&encoded)
    }

    /// Sends `patch` exactly as given: a patch a test encoded itself, or one that is no base64.
    pub fn with_raw_patch(mut self, patch: &str) -> Self {
        self.patch = Some(patch.to_string());
        self
    }
}

/// One request the webhook received.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// e.g. `/validate?timeout=10s`.
    pub path_and_query: String,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The AdmissionReview as received.
    pub review: Value,
}

impl RecordedCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `review.request`.
    pub fn request(&self) -> &Value {
        &self.review["request"]
    }
}

/// Decides the answer from the request's path (without query) and `review.request`.
type Responder = dyn Fn(&str, &Value) -> Answer + Send + Sync;

struct WebhookState {
    calls: Mutex<Vec<RecordedCall>>,
    responder: Box<Responder>,
}

pub struct RecordingWebhook {
    address: SocketAddr,
    certificates: TestCertificates,
    state: Arc<WebhookState>,
    handle: axum_server::Handle<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("starting the test webhook: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl RecordingWebhook {
    /// Starts the webhook; `responder` gets each `review.request` and decides the answer.
    pub async fn start(
        responder: impl Fn(&Value) -> Answer + Send + Sync + 'static,
    ) -> Result<Self, WebhookError> {
        Self::start_with_paths(move |_, request| responder(request)).await
    }

    /// Starts the webhook; `responder` gets each request's path (e.g. `/mutate`) and
    /// `review.request`, so that one server can play several webhooks.
    pub async fn start_with_paths(
        responder: impl Fn(&str, &Value) -> Answer + Send + Sync + 'static,
    ) -> Result<Self, WebhookError> {
        install_crypto_provider();
        let certificates = TestCertificates::generate()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let state = Arc::new(WebhookState {
            calls: Mutex::new(Vec::new()),
            responder: Box::new(responder),
        });
        let app = Router::new().fallback(review).with_state(state.clone());
        let handle = axum_server::Handle::new();
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(certificates.server_config()?);
        let server = axum_server::from_tcp_rustls(listener, tls)?.handle(handle.clone());
        tokio::spawn(async move {
            if let Err(err) = server.serve(app.into_make_service()).await {
                tracing::error!("test webhook stopped: {err}");
            }
        });
        Ok(RecordingWebhook {
            address,
            certificates,
            state,
            handle,
        })
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.address)
    }

    /// The CA of the webhook's certificate, base64 as in `clientConfig.caBundle`.
    pub fn ca_bundle(&self) -> String {
        self.certificates.ca_bundle_base64()
    }

    /// The calls received so far.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state
            .calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    /// Returns the calls received so far and forgets them.
    pub fn take_calls(&self) -> Vec<RecordedCall> {
        self.state
            .calls
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }

    /// One webhook entry calling this server at `path`, to put in a configuration's `webhooks`.
    /// `rules` is the `rules` array; `extra` fields (selectors, policies) are merged in.
    pub fn webhook_entry(&self, name: &str, path: &str, rules: Value, extra: Value) -> Value {
        let mut entry = json!({
            "name": name,
            "clientConfig": {"url": self.url(path), "caBundle": self.ca_bundle()},
            "rules": rules,
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        });
        if let (Some(entry), Some(extra)) = (entry.as_object_mut(), extra.as_object()) {
            entry.extend(extra.clone());
        }
        entry
    }
}

/// A ValidatingWebhookConfiguration manifest with these webhook entries.
pub fn webhook_configuration(name: &str, webhooks: Vec<Value>) -> Value {
    configuration("ValidatingWebhookConfiguration", name, webhooks)
}

/// A MutatingWebhookConfiguration manifest with these webhook entries.
pub fn mutating_webhook_configuration(name: &str, webhooks: Vec<Value>) -> Value {
    configuration("MutatingWebhookConfiguration", name, webhooks)
}

fn configuration(kind: &str, name: &str, webhooks: Vec<Value>) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": webhooks,
    })
}

impl Drop for RecordingWebhook {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

async fn review(State(state): State<Arc<WebhookState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let review: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let call = RecordedCall {
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        review,
    };
    let answer = (state.responder)(parts.uri.path(), call.request());
    let uid = call.request()["uid"].clone();
    if let Ok(mut calls) = state.calls.lock() {
        calls.push(call);
    }
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = json!({"uid": uid, "allowed": answer.allowed});
    if !answer.allowed {
        let mut status = json!({"message": answer.message});
        if let Some(code) = answer.code {
            status["code"] = json!(code);
        }
        response["status"] = status;
    }
    if !answer.warnings.is_empty() {
        response["warnings"] = json!(answer.warnings);
    }
    if let Some(patch) = answer.patch {
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(patch);
    }
    axum::Json(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }))
    .into_response()
}
