//! Cosign signature verification of container images, for BG006 signed-images.
//!
//! The guard and the plugin share one [`Verifier`]: it checks that an image pinned by
//! digest has a cosign signature, in either of the layouts cosign writes, that names
//! that digest and verifies with one of the BlueGreenPolicy's trusted keys or, keyless,
//! comes from one of its trusted identities, and turns every outcome into a
//! [`policy::ImageVerdict`]:
//!
//! - cosign 3's default (`bundle` module): a Sigstore bundle v0.3 stored as an OCI 1.1
//!   referrer of the image, found through the registry's referrers API or its
//!   referrers tag `sha256-<digest>`;
//! - the legacy layout (`legacy` module): simple-signing layers tagged
//!   `sha256-<digest>.sig`.
//!
//! Both are fetched at once. Verdicts are cached by digest and signer set (keys and
//! identities) for a TTL, so a switch looks them up ([`Verifier::cached`]) without
//! asking the registry.
//!
//! Keyless signatures (a short-lived Fulcio certificate for the signer's OIDC identity,
//! recorded in Rekor) are verified offline by [`keyless::verify`] against the
//! `trusted_root.json` of [`VerifierConfig::trusted_root`], for the BlueGreenPolicy's
//! `trustedIdentities`, in both layouts; that module says what it checks and where
//! sigstore-rs is used.
//!
//! sigstore-rs does the cosign parts it has public (simple-signing payloads, the bundle
//! types, the signature check with `CosignVerificationKey`); `oci-client` talks to
//! registries. The `registry` module says why the fetch is done here rather than by
//! sigstore's client, the `bundle` module why bundles are not verified by sigstore's
//! bundle verifier.
//!
//! ```no_run
//! # async fn example(policy: &policy::Policy) -> signatures::Result<()> {
//! use std::time::Duration;
//! use signatures::{Verifier, VerifierConfig};
//!
//! let verifier = Verifier::new(VerifierConfig {
//!     docker_config: Some("/etc/bluegreen/registry/config.json".into()),
//!     trusted_root: Some("/etc/bluegreen/sigstore/trusted_root.json".into()),
//!     ..VerifierConfig::default()
//! })?;
//! // When a Deployment is created or its images change: asks registries, within 2s.
//! let verdicts = verifier
//!     .verify_all(["registry.example/api@sha256:…"], policy.signers(), Duration::from_secs(2))
//!     .await;
//! // At a switch: no I/O.
//! let known = verifier.cached_all(verdicts.keys(), policy.signers());
//! # Ok(()) }
//! ```

mod bundle;
mod cache;
mod config;
mod credentials;
mod error;
mod examined;
pub mod keyless;
mod keys;
mod legacy;
mod reference;
mod referrer;
mod registry;
mod signers;
mod verify;

pub use config::{DEFAULT_TTL, VerifierConfig};
pub use error::{Error, Result};
pub use keys::check_keys;
pub use verify::{Stats, Verifier};
