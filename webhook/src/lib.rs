//! bluegreen-guard: the validating admission webhook that enforces the bluegreen
//! rules on every write, whoever makes it.
//!
//! A request flows one way: HTTPS body → [`admission`] (AdmissionRequest → typed
//! [`admission::Subject`]) → [`decision`] (the `policy` rules against the [`cache`]d
//! state of the namespace) → AdmissionResponse. [`watch`] keeps the cache current;
//! [`server`] serves it all over [`tls`], with [`metrics`].

pub mod admission;
pub mod cache;
pub mod config;
pub mod decision;
pub mod error;
pub mod images;
pub mod metrics;
pub mod offline;
pub mod server;
pub mod tls;
pub mod watch;

pub use cache::{Cache, CacheKind};
pub use config::{Config, Unsynced};
pub use decision::{Clock, Decision, Guard, Verdict};
pub use error::{Error, Result};
pub use server::{AppState, Listeners, admission_router, answer, probe_router, serve};

/// Runs the guard against the cluster of the ambient kubeconfig or service account
/// until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<()> {
    let client = kube::Client::try_default().await?;
    let mut watchers = tokio::task::JoinSet::new();
    let cache = watch::start(client, &mut watchers).await?;
    let state = AppState::new(Guard::new(cache, config.unsynced));
    let listeners = Listeners::bind(&config)?;
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
