//! Why a verifier cannot be built or a policy's keys cannot be used.
//!
//! Registry failures are not errors here: they become verdicts
//! ([`ImageVerdict::Unreachable`](policy::ImageVerdict::Unreachable)), because BG006
//! judges them like any other outcome.

use std::path::PathBuf;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The docker config file cannot be read.
    #[error("cannot read the docker config {path}: {source}")]
    DockerConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The docker config file is not a docker config.
    #[error("the docker config {path} is not valid: {reason}")]
    DockerConfigInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the registry entry when one is at fault.
        reason: String,
    },
    /// The keyless trust root cannot be read or used.
    #[error(transparent)]
    TrustRoot(#[from] crate::keyless::Error),
    /// The registry client cannot be built (TLS setup).
    #[error("cannot build the registry client: {0}")]
    Client(String),
    /// A trusted key of the policy is not a public key cosign could have produced.
    #[error(
        "trusted key {name} is not a valid public key ({reason}); give the PEM that `cosign generate-key-pair` writes to cosign.pub"
    )]
    InvalidKey {
        /// The key's name in the policy.
        name: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
