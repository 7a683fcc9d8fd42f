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
}

impl WithVerifier for LocalRegistry {
    fn verifier(&self, ttl: Duration) -> Verifier {
        Verifier::new(VerifierConfig {
            insecure_registries: vec![self.addr.clone()],
            ttl,
            ..VerifierConfig::default()
        })
        .expect("verifier")
    }
}
