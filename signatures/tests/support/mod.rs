//! The local registry and cosign-style signing live in `bluegreen_e2e::registry`,
//! shared with the plugin's and the guard's scenarios; this adds what only this
//! crate's tests and benchmark need: a verifier pointed at that registry.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

pub use bluegreen_e2e::registry::{
    LocalRegistry, TestKey, closed_port, install_crypto_provider, silent_registry,
};
use signatures::{Verifier, VerifierConfig};

/// `registry.verifier(ttl)`.
pub trait WithVerifier {
    /// A verifier that reaches this registry over plain HTTP.
    fn verifier(&self, ttl: Duration) -> Verifier;

    /// [`WithVerifier::verifier`] with keyless signatures verified against
    /// `trusted_root_json` (written to a file, as the guard is given it), or without a
    /// trust root.
    fn keyless_verifier(&self, ttl: Duration, trusted_root_json: Option<&str>) -> Verifier;
}

impl WithVerifier for LocalRegistry {
    fn verifier(&self, ttl: Duration) -> Verifier {
        self.keyless_verifier(ttl, None)
    }

    fn keyless_verifier(&self, ttl: Duration, trusted_root_json: Option<&str>) -> Verifier {
        // Read when the verifier is built: the file may go once it is.
        let dir = tempfile::tempdir().expect("temporary directory");
        let trusted_root = trusted_root_json.map(|json| {
            let path = dir.path().join("trusted_root.json");
            std::fs::write(&path, json).expect("write trusted_root.json");
            path
        });
        Verifier::new(VerifierConfig {
            insecure_registries: vec![self.addr.clone()],
            ttl,
            trusted_root,
            ..VerifierConfig::default()
        })
        .expect("verifier")
    }
}
