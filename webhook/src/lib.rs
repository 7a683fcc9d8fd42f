//! bluegreen-guard: the validating admission webhook that enforces the bluegreen
//! rules on every write, whoever makes it.
//!
//! A request flows one way: HTTPS body → [`admission`] (AdmissionRequest → typed
//! [`admission::Subject`]) → [`decision`] (the `policy` rules against the [`cache`]d
//! state of the namespace, with BG006 verdicts from [`images`]) → AdmissionResponse.
//! [`watch`] keeps the cache current with objects reduced by [`trim`] to what the rules
//! read; [`server`] serves it all over [`tls`], with [`metrics`]. The mutating webhook
//! ([`record`]) records every switch on its router; [`reversal`] reports two writers
//! switching a router back and forth.

pub mod admission;
pub mod cache;
pub mod config;
pub mod decision;
pub mod error;
pub mod images;
pub mod logging;
mod managed_fields;
pub mod metrics;
pub mod offline;
pub mod record;
pub mod reversal;
pub mod server;
pub mod tls;
pub mod trim;
pub mod watch;

use std::sync::Arc;

pub use cache::{Cache, CacheKind};
pub use config::{Config, ImageConfig, Unsynced};
pub use decision::{Clock, Decision, Guard, Verdict};
pub use error::{Error, Result};
pub use server::{AppState, Listeners, admission_router, answer, probe_router, serve};

/// Runs the guard against the cluster of the ambient kubeconfig or service account
/// until SIGTERM or Ctrl-C. It serves at once: probes and admission are up while the
/// watchers reach the API server (retrying with backoff), `/readyz` answers 503 and
/// reviews get the `--unsynced` answer until every cache has synced.
pub async fn run(config: Config) -> Result<()> {
    let listeners = Listeners::bind(&config)?;
    let verifier = signatures::Verifier::new(config.images.verifier_config())?;
    let images = images::RegistryVerification::new(verifier, config.images.verify_timeout);
    let client = kube::Client::try_default().await?;
    // Reporting instance: the hostname, which in a pod is its name.
    let events = kube::runtime::events::Recorder::new(client.clone(), "bluegreen-guard".into());
    let mut watchers = tokio::task::JoinSet::new();
    let cache = watch::start(client, &mut watchers);
    let guard = Guard::new(cache, config.unsynced).with_image_verifier(Arc::new(images));
    let state = AppState::with_events(guard, events);
    serve(state, &config, listeners, shutdown_signal()).await
}

/// Completes on SIGTERM (the kubelet stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut sigterm) => {
            tokio::select! {
                _ = sigterm.recv() => {}
                _ = ctrl_c => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
