//! A process that installed no rustls crypto provider must not panic: sigstore's
//! `rustls-tls` brings both ring and aws-lc-rs, so rustls cannot pick one itself.
//! Its own test binary, because the provider is per process.

mod support;

use std::time::Duration;

use policy::ImageVerdict;
use support::{LocalRegistry, TestKey};

#[tokio::test]
async fn https_without_an_installed_provider_does_not_panic() {
    let registry = LocalRegistry::start();
    let verifier = signatures::Verifier::new(signatures::VerifierConfig::default()).unwrap();
    let image = format!("{}/app@sha256:{}", registry.addr, "d".repeat(64));
    let verdict = verifier
        .verify(
            &image,
            TestKey::generate("release").keys(),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        matches!(verdict, ImageVerdict::Unreachable { .. }),
        "{verdict:?}"
    );
}
