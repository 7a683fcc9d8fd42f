//! Cosign signature verification of container images, for BG006 signed-images.
//!
//! The guard and the plugin share one [`Verifier`]: it checks that an image pinned by
//! digest has a cosign signature artifact (`sha256-<digest>.sig` in the image's
//! repository) whose simple-signing payload names that digest and whose signature
//! verifies with one of the BlueGreenPolicy's trusted keys, and turns every outcome
//! into a [`policy::ImageVerdict`]. Verdicts are cached by digest and key set for a
//! TTL, so a switch looks them up ([`Verifier::cached`]) without asking the registry.
//!
//! Keyless signatures (a short-lived Fulcio certificate for the signer's OIDC identity,
//! recorded in Rekor) are verified offline by [`keyless::verify`] against the
//! `trusted_root.json` of [`VerifierConfig::trusted_root`], for the BlueGreenPolicy's
//! `trustedIdentities`; that module says what it checks and where sigstore-rs is used.
//!
//! sigstore-rs does the cosign parts (payload type, signature layers,
//! `verify_constraints` with `PublicKeyVerifier`); `oci-client` talks to registries.
//! The `registry` module says why the fetch is done here rather than by sigstore's
//! client.
//!
//! ```no_run
//! # async fn example(keys: &[policy::crd::TrustedKey]) -> signatures::Result<()> {
//! use std::time::Duration;
//! use signatures::{Verifier, VerifierConfig};
//!
//! let verifier = Verifier::new(VerifierConfig {
//!     docker_config: Some("/etc/bluegreen/registry/config.json".into()),
//!     ..VerifierConfig::default()
//! })?;
//! // When a Deployment is created or its images change: asks registries, within 2s.
//! let verdicts = verifier
//!     .verify_all(["registry.example/api@sha256:…"], keys, Duration::from_secs(2))
//!     .await;
//! // At a switch: no I/O.
//! let known = verifier.cached_all(verdicts.keys(), keys);
//! # Ok(()) }
//! ```

mod cache;
mod config;
mod credentials;
mod error;
pub mod keyless;
mod keys;
mod reference;
mod registry;
mod verify;

pub use config::{DEFAULT_TTL, VerifierConfig};
pub use error::{Error, Result};
pub use keys::check_keys;
pub use verify::{Stats, Verifier};
