//! The CPU cost of one keyless verification (`signatures::keyless::verify`: signed
//! entry timestamp, inclusion proof, Fulcio chain, signature, entry binding, identity),
//! next to the key-based check BG006 makes today (sigstore's `verify_constraints` with
//! a `PublicKeyVerifier`) in the same run. No registry: the fetch is the same for both
//! and is measured in `benches/verify.rs`. Figures in bench/README.md, "Keyless
//! signatures (BG006)".
//!
//! cargo bench -p signatures --bench keyless

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bluegreen_e2e::sigstore::{FulcioIdentity, TestSigstore};
use criterion::{Criterion, criterion_group, criterion_main};
use policy::crd::TrustedIdentity;
use signatures::keyless::{self, SignedContent, TrustRoot, material_from_cosign_annotations};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{SignatureLayer, verify_constraints};
use sigstore::crypto::SigningScheme;

const DIGEST: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";

fn bench(c: &mut Criterion) {
    let sigstore = TestSigstore::generate("bench");
    let trusted_root = sigstore.trusted_root_json();
    let trust = TrustRoot::from_trusted_root_json(trusted_root.as_bytes()).expect("trust root");
    let signer = FulcioIdentity::github_workflow("shop/api", "refs/tags/v1.2.0");
    let identities = [TrustedIdentity {
        name: "release".into(),
        issuer: signer.issuer.clone(),
        subject_regexp: Some("https://github.com/shop/.+".into()),
        ..TrustedIdentity::default()
    }];
    let image = format!("registry.local/shop/api@{DIGEST}")
        .parse()
        .expect("reference");

    // Baseline: the key-based check of one simple-signing layer, as `judge` makes it.
    let mut layer = SignatureLayer::new_unsigned(&image, DIGEST).expect("payload");
    let key = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .expect("key");
    layer.signature = Some(STANDARD.encode(key.sign(&layer.raw_data).expect("sign")));
    let public_pem = key
        .to_sigstore_keypair()
        .and_then(|pair| pair.public_key_to_pem())
        .expect("public key");
    let layers = [layer];

    // Keyless, legacy layout: the same payload, the material from the layer annotations.
    let payload = layers[0].raw_data.clone();
    let legacy = sigstore.sign_message(&payload, &signer);
    // Keyless, bundle layout: a DSSE envelope with an inclusion proof as well.
    let (envelope, bundle) = sigstore.sign_dsse(
        "application/vnd.in-toto+json",
        br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://sigstore.dev/cosign/sign/v1"}"#,
        &signer,
    );

    let mut group = c.benchmark_group("bg006 signature check");
    group.bench_function("baseline: key-based, one PublicKeyVerifier", |b| {
        b.iter(|| {
            let verifier: Box<dyn VerificationConstraint> =
                Box::new(PublicKeyVerifier::try_from(public_pem.as_bytes()).expect("key"));
            verify_constraints(&layers, std::iter::once(&verifier)).expect("verified")
        })
    });
    group.bench_function("keyless, legacy layer annotations (SET)", |b| {
        b.iter(|| {
            let material = material_from_cosign_annotations(&legacy.annotations)
                .expect("annotations")
                .expect("keyless");
            let content = SignedContent::Message {
                message: &payload,
                signature: &legacy.signature,
            };
            keyless::verify(&material, content, &trust, &identities).expect("verified")
        })
    });
    group.bench_function("keyless, bundle DSSE (SET + inclusion proof)", |b| {
        b.iter(|| {
            let content = SignedContent::Dsse {
                envelope: &envelope,
            };
            keyless::verify(&bundle.material, content, &trust, &identities).expect("verified")
        })
    });
    group.bench_function("trust root parse (once per verifier)", |b| {
        b.iter(|| TrustRoot::from_trusted_root_json(trusted_root.as_bytes()).expect("trust root"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
