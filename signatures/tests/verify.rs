//! BG006 verification against a real registry on loopback.

mod support;

use std::time::Duration;

use policy::{ImageVerdict, RejectedSignature, Rejection, SignatureLayout};
use support::{
    LocalRegistry, TestKey, WithVerifier, closed_port, install_crypto_provider, silent_registry,
};

const BUDGET: Duration = Duration::from_secs(5);
const TTL: Duration = Duration::from_secs(600);

/// A registry with `app:v1` pushed and signed by the `release` key.
struct Signed {
    registry: LocalRegistry,
    key: TestKey,
    image: String,
    digest: String,
}

async fn signed_image() -> Signed {
    install_crypto_provider();
    let registry = LocalRegistry::start();
    let key = TestKey::generate("release");
    let digest = registry.push_image("app", "v1").await;
    registry.sign("app", &digest, &digest, &key).await;
    let image = format!("{}/app@{digest}", registry.addr);
    Signed {
        registry,
        key,
        image,
        digest,
    }
}

#[tokio::test]
async fn signed_with_a_trusted_key_is_verified() {
    let s = signed_image().await;
    let verdict = s
        .registry
        .verifier(TTL)
        .verify(&s.image, s.key.keys(), BUDGET)
        .await;
    assert_eq!(
        verdict,
        ImageVerdict::Verified {
            signer: "release".into()
        }
    );
}

#[tokio::test]
async fn signed_with_another_key_is_untrusted() {
    let s = signed_image().await;
    let stranger = TestKey::generate("stranger");
    let verdict = s
        .registry
        .verifier(TTL)
        .verify(&s.image, &[stranger.trusted], BUDGET)
        .await;
    assert_eq!(verdict, untrusted(SignatureLayout::SigTag, None));
}

/// The verdict on one signature by a key outside the policy.
fn untrusted(layout: SignatureLayout, hint: Option<String>) -> ImageVerdict {
    ImageVerdict::Untrusted {
        rejected: vec![RejectedSignature {
            layout,
            rejection: Rejection::UnknownKey { hint },
        }],
    }
}

#[tokio::test]
async fn any_one_of_several_keys_suffices() {
    let s = signed_image().await;
    let (ci, other) = (TestKey::generate("ci"), TestKey::generate("other"));
    let verifier = s.registry.verifier(TTL);
    let keys = [other.trusted.clone(), s.key.trusted.clone()];
    assert_eq!(
        verifier.verify(&s.image, &keys, BUDGET).await,
        ImageVerdict::Verified {
            signer: "release".into()
        }
    );

    // A second signature by another trusted key, next to one by an untrusted key.
    let digest = s.registry.push_image("multi", "v1").await;
    s.registry.sign("multi", &digest, &digest, &other).await;
    s.registry.sign("multi", &digest, &digest, &ci).await;
    let image = format!("{}/multi@{digest}", s.registry.addr);
    assert_eq!(
        verifier.verify(&image, ci.keys(), BUDGET).await,
        ImageVerdict::Verified {
            signer: "ci".into()
        }
    );
}

#[tokio::test]
async fn an_image_without_signature_is_unsigned() {
    install_crypto_provider();
    let registry = LocalRegistry::start();
    let digest = registry.push_image("app", "v1").await;
    let verdict = registry
        .verifier(TTL)
        .verify(
            &format!("{}/app@{digest}", registry.addr),
            &[TestKey::generate("release").trusted],
            BUDGET,
        )
        .await;
    assert_eq!(verdict, ImageVerdict::Unsigned);
}

#[tokio::test]
async fn a_tag_is_not_pinned_and_the_registry_gives_the_digest() {
    let s = signed_image().await;
    let verdict = s
        .registry
        .verifier(TTL)
        .verify(&format!("{}/app:v1", s.registry.addr), s.key.keys(), BUDGET)
        .await;
    assert_eq!(
        verdict,
        ImageVerdict::NotPinned {
            suggestion: Some(s.image.clone())
        }
    );
}

#[tokio::test]
async fn a_payload_naming_another_digest_is_a_mismatch() {
    install_crypto_provider();
    let registry = LocalRegistry::start();
    let key = TestKey::generate("release");
    let digest = registry.push_image("app", "v1").await;
    let other = registry.push_image("app", "v2").await;
    // The signature of v2, copied onto v1's artifact, as a replay would.
    registry.sign("app", &digest, &other, &key).await;
    let verdict = registry
        .verifier(TTL)
        .verify(
            &format!("{}/app@{digest}", registry.addr),
            key.keys(),
            BUDGET,
        )
        .await;
    assert_eq!(
        verdict,
        ImageVerdict::DigestMismatch {
            payload_digest: other,
            layout: SignatureLayout::SigTag,
        }
    );
}

#[tokio::test]
async fn a_registry_that_is_down_is_unreachable() {
    install_crypto_provider();
    let addr = closed_port();
    let verifier = signatures::Verifier::new(signatures::VerifierConfig {
        insecure_registries: vec![addr.clone()],
        ..Default::default()
    })
    .unwrap();
    let image = format!("{addr}/app@sha256:{}", "a".repeat(64));
    let verdict = verifier
        .verify(&image, &[TestKey::generate("release").trusted], BUDGET)
        .await;
    let ImageVerdict::Unreachable { registry, reason } = verdict else {
        panic!("expected Unreachable, got {verdict:?}");
    };
    assert_eq!(registry, addr);
    assert!(reason.starts_with("cannot connect"), "{reason}");
}

#[tokio::test]
async fn a_registry_that_never_answers_is_unreachable_within_the_budget() {
    let s = signed_image().await;
    let (_listener, silent) = silent_registry();
    let verifier = signatures::Verifier::new(signatures::VerifierConfig {
        insecure_registries: vec![s.registry.addr.clone(), silent.clone()],
        ..Default::default()
    })
    .unwrap();
    let hanging = format!("{silent}/app@{}", s.digest);
    let budget = Duration::from_millis(500);
    // The whole call is bounded: the answering registry's verdict comes back with the
    // silent one's.
    let verdicts = verifier
        .verify_all([&hanging, &s.image], s.key.keys(), budget)
        .await;
    assert_eq!(
        verdicts[&hanging],
        ImageVerdict::Unreachable {
            registry: silent,
            reason: "no answer within 500ms".into()
        }
    );
    assert_eq!(
        verdicts[&s.image],
        ImageVerdict::Verified {
            signer: "release".into()
        }
    );
}

#[tokio::test]
async fn the_second_review_is_a_cache_hit_without_registry_requests() {
    let s = signed_image().await;
    let verifier = s.registry.verifier(TTL);
    let keys = [s.key.trusted.clone()];
    assert_eq!(verifier.cached(&s.image, &keys), None);
    let first = verifier.verify(&s.image, &keys, BUDGET).await;
    assert!(matches!(first, ImageVerdict::Verified { .. }), "{first:?}");
    let (stats, served) = (verifier.stats(), s.registry.requests_served());
    assert!(stats.registry_requests > 0 && served > 0);

    let other_spelling = s.image.clone();
    let again = verifier.verify_all([&other_spelling], &keys, BUDGET).await;
    assert_eq!(again[&other_spelling], first);
    assert_eq!(verifier.cached(&s.image, &keys), Some(first));
    let after = verifier.stats();
    assert_eq!(after.registry_requests, stats.registry_requests);
    assert_eq!(
        s.registry.requests_served(),
        served,
        "the registry saw no request"
    );
    assert_eq!(after.cache_hits, stats.cache_hits + 2);

    // Another key set is another question.
    let verdict = verifier
        .verify(&s.image, &[TestKey::generate("new").trusted], BUDGET)
        .await;
    assert_eq!(verdict, untrusted(SignatureLayout::SigTag, None));
    assert!(verifier.stats().registry_requests > stats.registry_requests);
}

#[tokio::test]
async fn cached_verdicts_expire_after_the_ttl() {
    let s = signed_image().await;
    let verifier = s.registry.verifier(TTL);
    let keys = [s.key.trusted.clone()];
    let verdict = verifier.verify(&s.image, &keys, BUDGET).await;
    let requests = verifier.stats().registry_requests;

    // Time moves only while paused, and only as far as told: no sleeping.
    tokio::time::pause();
    tokio::time::advance(TTL - Duration::from_secs(1)).await;
    assert_eq!(verifier.cached(&s.image, &keys), Some(verdict.clone()));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(verifier.cached(&s.image, &keys), None);
    // Real time again for the registry, whose answers the paused clock would outrun.
    tokio::time::resume();

    assert_eq!(verifier.verify(&s.image, &keys, BUDGET).await, verdict);
    assert!(verifier.stats().registry_requests > requests);
}

#[tokio::test]
async fn unreachable_verdicts_are_not_cached() {
    install_crypto_provider();
    let addr = closed_port();
    let verifier = signatures::Verifier::new(signatures::VerifierConfig {
        insecure_registries: vec![addr.clone()],
        ..Default::default()
    })
    .unwrap();
    let image = format!("{addr}/app@sha256:{}", "b".repeat(64));
    let keys = [TestKey::generate("release").trusted];
    let verdict = verifier.verify(&image, &keys, BUDGET).await;
    assert!(
        matches!(verdict, ImageVerdict::Unreachable { .. }),
        "{verdict:?}"
    );
    assert_eq!(verifier.cached(&image, &keys), None);
}

#[tokio::test]
async fn a_registry_not_listed_as_insecure_is_asked_over_https() {
    let s = signed_image().await;
    // Same registry, but the verifier was not told it speaks plain HTTP.
    let verifier = signatures::Verifier::new(signatures::VerifierConfig::default()).unwrap();
    let verdict = verifier.verify(&s.image, s.key.keys(), BUDGET).await;
    let ImageVerdict::Unreachable { registry, reason } = verdict else {
        panic!("expected Unreachable, got {verdict:?}");
    };
    assert_eq!(registry, s.registry.addr);
    // rustls reads the plain-HTTP answer as a corrupt TLS record.
    assert!(reason.starts_with("cannot connect"), "{reason}");
}

#[tokio::test]
async fn garbage_references_get_a_verdict_naming_the_problem() {
    install_crypto_provider();
    let verifier = signatures::Verifier::new(signatures::VerifierConfig::default()).unwrap();
    let keys = [TestKey::generate("release").trusted];
    let garbage = format!("Not An Image!@sha256:{}", "c".repeat(64));
    let verdicts = verifier
        .verify_all([garbage.as_str(), ""], &keys, BUDGET)
        .await;
    for image in [garbage.as_str(), ""] {
        assert!(
            matches!(&verdicts[image], ImageVerdict::InvalidReference { reason } if !reason.is_empty()),
            "{image:?}: {:?}",
            verdicts[image]
        );
        assert_eq!(verifier.cached(image, &keys), None);
    }
    assert_eq!(verifier.stats().registry_requests, 0);
}
