//! The guard's one error type. Input errors answer with a clean 400 and a message
//! through [`IntoResponse`]; everything else is a startup or I/O failure.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Result with the guard's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the guard.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request body is not JSON at all.
    #[error("the request body is not JSON ({0}); send an admission.k8s.io/v1 AdmissionReview")]
    NotJson(String),
    /// JSON, but not an AdmissionReview request the guard can answer.
    #[error("the request body is not an admission.k8s.io/v1 AdmissionReview request: {0}")]
    NotAdmissionReview(String),
    /// A certificate or key file cannot be used.
    #[error("TLS certificate {cert} with key {key}: {reason}")]
    Tls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A manifest given to `review --state` or `--policy` cannot be read.
    #[error("{path}: {reason}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Talking to the Kubernetes API failed at start-up.
    #[error("cannot use the Kubernetes API")]
    Kube(#[from] kube::Error),
    /// Image verification cannot be set up (docker config, TLS).
    #[error("image verification (BG006)")]
    Images(#[from] signatures::Error),
    /// A socket or file operation failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match self {
            Error::NotJson(_) | Error::NotAdmissionReview(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("{self}\n")).into_response()
    }
}
