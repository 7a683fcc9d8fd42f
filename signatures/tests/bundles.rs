//! BG006 on cosign 3's default layout, a Sigstore bundle stored as an OCI referrer of
//! the image: found through the referrers tag schema on the real registry (Debian's
//! docker-registry 2.8 has no referrers API) and through the referrers API on the
//! stand-in in front of it.

mod support;

use std::time::Duration;

use bluegreen_e2e::cosign_bundle::{SIGN_PREDICATE_TYPE, statement};
use policy::{ImageVerdict, RejectedSignature, Rejection, SignatureLayout};
use support::{LocalRegistry, TestKey, WithVerifier, install_crypto_provider};

const BUDGET: Duration = Duration::from_secs(5);
const TTL: Duration = Duration::from_secs(600);

/// The public `cosign sign` (v3) keyless bundle (tests/data/sigstore-rs) and its image digest.
const COSIGN_V3_KEYLESS: &[u8] = include_bytes!("data/sigstore-rs/bundle_v03.json");
const ITS_DIGEST: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";

/// The two registries a bundle is found in.
#[derive(Clone, Copy, Debug)]
enum Discovery {
    /// The real registry: no referrers API, the `sha256-<digest>` index tag.
    ReferrersTag,
    /// The stand-in serving the OCI 1.1 referrers API.
    ReferrersApi,
}

fn registry(discovery: Discovery) -> LocalRegistry {
    install_crypto_provider();
    match discovery {
        Discovery::ReferrersTag => LocalRegistry::start(),
        Discovery::ReferrersApi => LocalRegistry::start_with_referrers_api(),
    }
}

fn verified(key: &str) -> ImageVerdict {
    ImageVerdict::Verified { signer: key.into() }
}

fn bundle_rejected(rejection: Rejection) -> ImageVerdict {
    ImageVerdict::Untrusted {
        rejected: vec![RejectedSignature {
            layout: SignatureLayout::Bundle,
            rejection,
        }],
    }
}

async fn verify(registry: &LocalRegistry, image: &str, key: &TestKey) -> ImageVerdict {
    registry
        .verifier(TTL)
        .verify(image, key.keys(), BUDGET)
        .await
}

/// [`verify`] of `<addr>/app@<digest>`.
async fn verify_digest(registry: &LocalRegistry, digest: &str, key: &TestKey) -> ImageVerdict {
    verify(registry, &format!("{}/app@{digest}", registry.addr), key).await
}

/// Whether the image has a referrers tag (`sha256-<hex>`) in its repository.
async fn has_referrers_tag(registry: &LocalRegistry, image: &str) -> bool {
    let (name, digest) = image.split_once('@').unwrap();
    let tag: oci_client::Reference = format!("{name}:{}", digest.replace(':', "-"))
        .parse()
        .unwrap();
    registry
        .oci_client()
        .pull_manifest_raw(
            &tag,
            &oci_client::secrets::RegistryAuth::Anonymous,
            &[oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE],
        )
        .await
        .is_ok()
}

#[rstest::rstest]
#[case::referrers_tag(Discovery::ReferrersTag)]
#[case::referrers_api(Discovery::ReferrersApi)]
#[tokio::test]
async fn a_bundle_signed_with_a_trusted_key_is_verified(#[case] discovery: Discovery) {
    let registry = registry(discovery);
    let key = TestKey::generate("release");
    let image = registry.bundle_signed_image("app", "v1", &key).await;
    let listed = registry.referrers_requests();
    assert_eq!(verify(&registry, &image, &key).await, verified("release"));
    // Found the way each registry offers: the API when it has one, else the tag.
    match discovery {
        Discovery::ReferrersTag => assert!(has_referrers_tag(&registry, &image).await),
        Discovery::ReferrersApi => {
            assert!(!has_referrers_tag(&registry, &image).await);
            assert!(registry.referrers_requests() > listed);
        }
    }
}

#[rstest::rstest]
#[case::referrers_tag(Discovery::ReferrersTag)]
#[case::referrers_api(Discovery::ReferrersApi)]
#[tokio::test]
async fn a_bundle_by_another_key_is_untrusted_and_names_its_hint(#[case] discovery: Discovery) {
    let registry = registry(discovery);
    let (signer, trusted) = (TestKey::generate("signer"), TestKey::generate("release"));
    let image = registry.bundle_signed_image("app", "v1", &signer).await;
    assert_eq!(
        verify(&registry, &image, &trusted).await,
        bundle_rejected(Rejection::UnknownKey {
            hint: Some(signer.hint())
        })
    );
}

#[rstest::rstest]
#[case::referrers_tag(Discovery::ReferrersTag)]
#[case::referrers_api(Discovery::ReferrersApi)]
#[tokio::test]
async fn a_bundle_for_another_digest_is_a_mismatch(#[case] discovery: Discovery) {
    let registry = registry(discovery);
    let key = TestKey::generate("release");
    let digest = registry.push_image("app", "v1").await;
    let other = registry.push_image("app", "v2").await;
    // v2's signature, filed as a referrer of v1, as a replay would.
    registry.sign_bundle("app", &digest, &other, &key).await;
    assert_eq!(
        verify_digest(&registry, &digest, &key).await,
        ImageVerdict::DigestMismatch {
            payload_digest: other,
            layout: SignatureLayout::Bundle
        }
    );
}

#[rstest::rstest]
#[case::referrers_tag(Discovery::ReferrersTag)]
#[case::referrers_api(Discovery::ReferrersApi)]
#[tokio::test]
async fn an_attestation_is_not_a_signature(#[case] discovery: Discovery) {
    let registry = registry(discovery);
    let key = TestKey::generate("release");
    let digest = registry.push_image("app", "v1").await;
    let provenance = statement(&digest, "https://slsa.dev/provenance/v1");
    registry
        .push_bundle(
            "app",
            &digest,
            &key.bundle(&provenance),
            "https://slsa.dev/provenance/v1",
        )
        .await;
    assert_eq!(
        verify_digest(&registry, &digest, &key).await,
        ImageVerdict::Unsigned
    );
}

#[tokio::test]
async fn the_public_cosign_v3_bundle_is_read_and_names_its_own_image() {
    let registry = registry(Discovery::ReferrersTag);
    let key = TestKey::generate("release");
    let digest = registry.push_image("app", "v1").await;
    registry
        .push_bundle("app", &digest, COSIGN_V3_KEYLESS, SIGN_PREDICATE_TYPE)
        .await;
    assert_eq!(
        verify_digest(&registry, &digest, &key).await,
        ImageVerdict::DigestMismatch {
            payload_digest: ITS_DIGEST.into(),
            layout: SignatureLayout::Bundle
        }
    );
}

#[tokio::test]
async fn a_keyless_bundle_is_refused_when_the_policy_names_no_identities() {
    let registry = registry(Discovery::ReferrersApi);
    let key = TestKey::generate("release");
    let digest = registry.push_image("app", "v1").await;
    // The public keyless bundle, its statement pointed at this image: certificate kept.
    let mut bundle: serde_json::Value = serde_json::from_slice(COSIGN_V3_KEYLESS).unwrap();
    let statement = statement(&digest, SIGN_PREDICATE_TYPE);
    bundle["dsseEnvelope"]["payload"] =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, statement).into();
    registry
        .push_bundle(
            "app",
            &digest,
            &serde_json::to_vec(&bundle).unwrap(),
            SIGN_PREDICATE_TYPE,
        )
        .await;
    assert_eq!(
        verify_digest(&registry, &digest, &key).await,
        bundle_rejected(Rejection::KeylessWithoutIdentities)
    );
}

#[tokio::test]
async fn either_layout_verifies_and_every_rejected_signature_is_listed() {
    let registry = registry(Discovery::ReferrersApi);
    let (release, ci, stranger) = (
        TestKey::generate("release"),
        TestKey::generate("ci"),
        TestKey::generate("stranger"),
    );
    let digest = registry.push_image("app", "v1").await;
    registry.sign("app", &digest, &digest, &ci).await;
    registry
        .sign_bundle("app", &digest, &digest, &release)
        .await;
    let image = format!("{}/app@{digest}", registry.addr);
    let verifier = registry.verifier(TTL);
    assert_eq!(
        verifier.verify(&image, release.keys(), BUDGET).await,
        verified("release")
    );
    assert_eq!(
        verifier.verify(&image, ci.keys(), BUDGET).await,
        verified("ci")
    );
    assert_eq!(
        verifier.verify(&image, stranger.keys(), BUDGET).await,
        ImageVerdict::Untrusted {
            rejected: vec![
                RejectedSignature {
                    layout: SignatureLayout::SigTag,
                    rejection: Rejection::UnknownKey { hint: None }
                },
                RejectedSignature {
                    layout: SignatureLayout::Bundle,
                    rejection: Rejection::UnknownKey {
                        hint: Some(release.hint())
                    }
                },
            ]
        }
    );
}

#[tokio::test]
async fn a_referrers_tag_entry_whose_subject_is_another_image_is_ignored() {
    let registry = registry(Discovery::ReferrersTag);
    let key = TestKey::generate("release");
    let target = registry.push_image("app", "v1").await;
    let signed = registry.push_image("app", "v2").await;
    let statement = statement(&target, SIGN_PREDICATE_TYPE);
    // A bundle naming v1, stored as v2's referrer, then listed in v1's referrers tag too:
    // the tag is an ordinary tag, but the referrer's subject is v2.
    let descriptor = registry
        .push_bundle("app", &signed, &key.bundle(&statement), SIGN_PREDICATE_TYPE)
        .await;
    registry
        .add_to_referrers_tag("app", &target, descriptor)
        .await;
    assert_eq!(
        verify_digest(&registry, &target, &key).await,
        ImageVerdict::Unsigned
    );
}

#[tokio::test]
async fn no_signature_in_either_layout_is_unsigned() {
    for discovery in [Discovery::ReferrersTag, Discovery::ReferrersApi] {
        let registry = registry(discovery);
        let image = registry.pushed_image("app", "v1").await;
        assert_eq!(
            verify(&registry, &image, &TestKey::generate("release")).await,
            ImageVerdict::Unsigned,
            "{discovery:?}"
        );
    }
}

#[tokio::test]
async fn a_bundle_verdict_is_cached_like_any_other() {
    let registry = registry(Discovery::ReferrersApi);
    let key = TestKey::generate("release");
    let image = registry.bundle_signed_image("app", "v1", &key).await;
    let verifier = registry.verifier(TTL);
    assert_eq!(
        verifier.verify(&image, key.keys(), BUDGET).await,
        verified("release")
    );
    let (served, listed) = (registry.requests_served(), registry.referrers_requests());
    assert_eq!(
        verifier.cached(&image, key.keys()),
        Some(verified("release"))
    );
    assert_eq!(
        verifier.verify(&image, key.keys(), BUDGET).await,
        verified("release")
    );
    assert_eq!(registry.requests_served(), served);
    assert_eq!(registry.referrers_requests(), listed);
}
