//! The HTTPS admission endpoint (`POST /validate`) and the plain-HTTP probe endpoint
//! (`/healthz`, `/readyz`, `/metrics`), with rotation of the serving certificate and
//! graceful shutdown.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;
use kube::runtime::events::Recorder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;

use crate::admission::{operation_name, parse_review};
use crate::config::Config;
use crate::decision::{Decision, Guard, Verdict};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::reversal;
use crate::tls::{self, CertificateFiles};

/// The largest request body accepted, as kube-apiserver's own limit (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// What every request handler shares.
pub struct AppState {
    /// Decides reviews.
    pub guard: Guard,
    /// Counts them.
    pub metrics: Arc<Metrics>,
    /// Records Events on routers (none in tests without an API server).
    events: Option<Recorder>,
    shutting_down: AtomicBool,
}

impl AppState {
    /// State around a guard, with fresh metrics, recording no Events.
    pub fn new(guard: Guard) -> Arc<Self> {
        Self::build(guard, None)
    }

    /// State around a guard, with fresh metrics, recording Events through `events`.
    pub fn with_events(guard: Guard, events: Recorder) -> Arc<Self> {
        Self::build(guard, Some(events))
    }

    fn build(guard: Guard, events: Option<Recorder>) -> Arc<Self> {
        Arc::new(AppState {
            guard,
            metrics: Arc::new(Metrics::default()),
            events,
            shutting_down: AtomicBool::new(false),
        })
    }
}

/// The admission routes for AdmissionReview v1: `POST /validate` judges a write,
/// `POST /mutate` records a switch on its router.
pub fn admission_router(state: Arc<AppState>, request_timeout: Duration) -> Router {
    let routes = Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate));
    catch_panics(routes, Arc::clone(&state.metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .with_state(state)
}

/// `routes` answering a request whose handler panics with a 500 and a message, counted
/// in `bluegreen_guard_panics`, instead of a dropped connection (which kube-apiserver
/// reports as an opaque EOF). A panic is a bug; the guard keeps serving.
pub fn catch_panics<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    metrics: Arc<Metrics>,
) -> Router<S> {
    routes.layer(CatchPanicLayer::custom(move |_: Box<dyn std::any::Any + Send>| {
        metrics.record_panic();
        tracing::error!("an admission handler panicked; answered 500");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "bluegreen-guard failed on this request (a bug: it is logged and counted in bluegreen_guard_panics); retry, and report it with the guard's log\n",
        )
            .into_response()
    }))
}

/// The probe routes: `/healthz`, `/readyz` (ready once every cache synced, until
/// shutdown starts) and `/metrics`.
pub fn probe_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The identity of a request, kept for the decision's log line.
struct Summary {
    operation: &'static str,
    user: String,
    object: String,
}

async fn validate(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, Error> {
    let json = answer(&state, &body).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

async fn mutate(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, Error> {
    let review = parse_review(&body)
        .inspect_err(|err| tracing::warn!(error = %err, "unreadable request"))?;
    let json = state.guard.record(review).into_json();
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// Answers one request body with the JSON AdmissionReview response, counting and
/// logging the decision: everything `POST /validate` does besides HTTP.
pub async fn answer(state: &AppState, body: &[u8]) -> Result<Vec<u8>> {
    let started = Instant::now();
    let review =
        parse_review(body).inspect_err(|err| tracing::warn!(error = %err, "unreadable request"))?;
    let span = tracing::info_span!("review", uid = %review.response.uid);
    let summary = Summary {
        operation: operation_name(&review.operation),
        user: review.user_info.username.clone().unwrap_or_default(),
        object: match &review.namespace {
            Some(namespace) => format!("{namespace}/{}", review.name),
            None => review.name.clone(),
        },
    };
    let decision = state.guard.review(review).instrument(span.clone()).await;
    state
        .metrics
        .record(summary.operation, &decision, started.elapsed());
    // The Event waits on the API server: never on the write's answer.
    if let (Some(reversal), Some(events)) = (&decision.reversal, &state.events) {
        let publish = reversal::publish(events.clone(), reversal.clone());
        tokio::spawn(publish.instrument(span.clone()));
    }
    span.in_scope(|| log_decision(&summary, &decision));
    Ok(serde_json::to_vec(&decision.response.into_review())
        .expect("an AdmissionReview always serializes"))
}

/// One JSON log line for every decision that is not a plain allow.
fn log_decision(summary: &Summary, decision: &Decision) {
    if decision.verdict == Verdict::Allow {
        return;
    }
    let rules: Vec<String> = decision
        .findings
        .iter()
        .map(|f| format!("{}:{}", f.rule, f.action))
        .collect();
    let message = decision.response.result.message.as_str();
    tracing::info!(
        decision = decision.verdict.label(),
        kind = decision.kind,
        operation = summary.operation,
        object = %summary.object,
        user = %summary.user,
        rules = %rules.join(","),
        allowed = decision.response.allowed,
        message,
        warnings = ?decision.response.warnings,
        "admission decision"
    );
}

async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    if state.shutting_down.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    let syncing = state.guard.cache().syncing_kinds();
    if syncing.is_empty() {
        return (StatusCode::OK, "ready\n".into());
    }
    let kinds: Vec<&str> = syncing.into_iter().map(|k| k.plural()).collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("caches syncing: {}\n", kinds.join(", ")),
    )
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(state.guard.cache()),
    )
}

/// The two sockets the guard listens on.
pub struct Listeners {
    /// HTTPS, for AdmissionReviews.
    pub admission: TcpListener,
    /// Plain HTTP, for probes and metrics.
    pub probes: TcpListener,
}

impl Listeners {
    /// Binds the addresses of `config`.
    pub fn bind(config: &Config) -> Result<Self> {
        let bind = |addr: SocketAddr| {
            TcpListener::bind(addr).map_err(Error::io(format!("cannot listen on {addr}")))
        };
        Ok(Listeners {
            admission: bind(config.listen)?,
            probes: bind(config.probe_listen)?,
        })
    }
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight reviews
/// finish (up to `config.shutdown_grace`) and returns.
pub async fn serve(
    state: Arc<AppState>,
    config: &Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let files = CertificateFiles {
        cert: config.tls_cert.clone(),
        key: config.tls_key.clone(),
    };
    let (pem, certificate) = files.load()?;
    state.metrics.set_certificate_expiry(certificate.not_after);
    let tls_config = RustlsConfig::from_config(certificate.config);
    let reload = tokio::spawn(tls::reload_on_change(
        files,
        pem,
        tls_config.clone(),
        Arc::clone(&state.metrics),
        config.tls_reload_interval,
    ));

    let addresses = (
        listeners.admission.local_addr(),
        listeners.probes.local_addr(),
    );
    let handle = axum_server::Handle::new();
    listeners
        .admission
        .set_nonblocking(true)
        .map_err(Error::io("admission socket"))?;
    let admission = axum_server::from_tcp_rustls(listeners.admission, tls_config)
        .map_err(Error::io("admission socket"))?
        .handle(handle.clone())
        .serve(admission_router(Arc::clone(&state), config.request_timeout).into_make_service());
    let mut admission = tokio::spawn(admission);

    listeners
        .probes
        .set_nonblocking(true)
        .map_err(Error::io("probe socket"))?;
    let probe_listener =
        tokio::net::TcpListener::from_std(listeners.probes).map_err(Error::io("probe socket"))?;
    let (stop_probes, probes_stopped) = tokio::sync::oneshot::channel::<()>();
    let probes = tokio::spawn(
        axum::serve(probe_listener, probe_router(Arc::clone(&state)))
            .with_graceful_shutdown(async {
                let _ = probes_stopped.await;
            })
            .into_future(),
    );
    if let (Ok(admission), Ok(probes)) = addresses {
        tracing::info!(%admission, %probes, "serving");
    }

    let served = tokio::select! {
        () = shutdown => {
            state.shutting_down.store(true, Ordering::Release);
            tracing::info!("shutting down: finishing in-flight reviews");
            handle.graceful_shutdown(Some(config.shutdown_grace));
            admission.await
        }
        served = &mut admission => served,
    };
    reload.abort();
    let _ = stop_probes.send(());
    let _ = probes.await;
    served
        .map_err(|err| Error::Io {
            context: "admission server task".into(),
            source: std::io::Error::other(err),
        })?
        .map_err(Error::io("admission server"))
}
