//! A stand-in for a registry with the OCI 1.1 referrers API, because Debian's
//! `docker-registry` (2.8) has none: an HTTP front of a real [`LocalRegistry`] that
//! forwards every request to it and adds what the distribution spec (v1.1) asks of a
//! registry with the API:
//!
//! - a manifest pushed with a `subject` is answered with the `OCI-Subject` header (so a
//!   client knows not to maintain the referrers tag) and listed as a referrer of it;
//! - `GET /v2/<name>/referrers/<digest>` answers `200` with an image index of the
//!   referrers' descriptors (`mediaType`, `digest`, `size`, `artifactType`,
//!   `annotations`), filtered by `?artifactType=` with `OCI-Filters-Applied:
//!   artifactType`; a digest without referrers gets an empty index, never a 404.
//!
//! Referrers pushed around the front (to the registry directly) are not seen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::apiserver::proxy::upstream;

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The running front; stops when dropped.
pub struct ReferrersApi {
    /// `127.0.0.1:<port>` of the front.
    pub addr: String,
    state: Arc<Front>,
    _stop: oneshot::Sender<()>,
}

struct Front {
    backend: Uri,
    /// Referrer descriptors by (repository, subject digest), in push order.
    referrers: Mutex<HashMap<(String, String), Vec<Value>>>,
    referrers_requests: AtomicUsize,
}

impl ReferrersApi {
    /// Starts the front of the registry at `backend` (`host:port`), on its own thread and
    /// runtime, like the registry is its own process.
    pub fn start(backend: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let state = Arc::new(Front {
            backend: format!("http://{backend}").parse().expect("backend URL"),
            referrers: Mutex::default(),
            referrers_requests: AtomicUsize::new(0),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            addr,
            state,
            _stop: stop,
        }
    }

    /// `GET …/referrers/…` requests answered so far.
    pub fn referrers_requests(&self) -> usize {
        self.state.referrers_requests.load(Ordering::SeqCst)
    }
}

async fn handle(State(front): State<Arc<Front>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    if parts.method == Method::GET
        && let Some((name, digest)) = split_v2(&path, "/referrers/")
    {
        front.referrers_requests.fetch_add(1, Ordering::SeqCst);
        let artifact_type = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(mut query)| query.remove("artifactType"));
        return front.list(name, digest, artifact_type);
    }
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let pushed_manifest = (parts.method == Method::PUT)
        .then(|| split_v2(&path, "/manifests/"))
        .flatten()
        .map(|(name, _)| name.to_string());
    let exchange = upstream::Exchange {
        method: &parts.method,
        headers: &parts.headers,
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or(path.clone(), |p| p.to_string()),
        body: body.clone(),
    };
    let answer = match upstream::send(&front.backend, exchange).await {
        Ok(answer) => answer,
        Err(reason) => return (StatusCode::BAD_GATEWAY, reason).into_response(),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &answer.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name.clone(), value);
        }
    }
    if let Some(name) = pushed_manifest
        && answer.status == StatusCode::CREATED
        && let Some(subject) = front.record(&name, &body, &answer.headers)
    {
        headers.insert(
            HeaderName::from_static("oci-subject"),
            HeaderValue::from_str(&subject).expect("a digest is a header value"),
        );
    }
    (answer.status, headers, answer.body).into_response()
}

impl Front {
    /// Files a pushed manifest under its subject, as its descriptor in a referrers list;
    /// returns the subject's digest.
    fn record(&self, name: &str, body: &Bytes, headers: &[(HeaderName, String)]) -> Option<String> {
        let manifest: Value = serde_json::from_slice(body).ok()?;
        let subject = manifest.pointer("/subject/digest")?.as_str()?.to_string();
        let digest = headers
            .iter()
            .find(|(name, _)| name.as_str() == "docker-content-digest")?
            .1
            .clone();
        let artifact_type = manifest
            .get("artifactType")
            .or_else(|| manifest.pointer("/config/mediaType"))
            .cloned()
            .unwrap_or(Value::Null);
        let mut descriptor = json!({
            "mediaType": manifest.get("mediaType").cloned().unwrap_or(Value::Null),
            "digest": digest,
            "size": body.len(),
            "artifactType": artifact_type,
        });
        if let Some(annotations) = manifest.get("annotations") {
            descriptor["annotations"] = annotations.clone();
        }
        self.referrers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((name.to_string(), subject.clone()))
            .or_default()
            .push(descriptor);
        Some(subject)
    }

    fn list(&self, name: &str, digest: &str, artifact_type: Option<String>) -> Response {
        let referrers = self
            .referrers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let manifests: Vec<&Value> = referrers
            .get(&(name.to_string(), digest.to_string()))
            .into_iter()
            .flatten()
            .filter(|descriptor| {
                artifact_type
                    .as_deref()
                    .is_none_or(|wanted| descriptor["artifactType"] == wanted)
            })
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(INDEX_MEDIA_TYPE),
        );
        if artifact_type.is_some() {
            headers.insert(
                HeaderName::from_static("oci-filters-applied"),
                HeaderValue::from_static("artifactType"),
            );
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": manifests,
        });
        (StatusCode::OK, headers, index.to_string()).into_response()
    }
}

/// `/v2/<name><marker><rest>` as (name, rest); names may hold slashes.
fn split_v2<'a>(path: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    path.strip_prefix("/v2/")?.rsplit_once(marker)
}
