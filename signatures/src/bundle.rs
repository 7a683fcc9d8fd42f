//! cosign 3's default layout: a Sigstore bundle (v0.3) per signature, stored as an OCI
//! 1.1 referrer of the image.
//!
//! What `cosign sign` (v3, `--new-bundle-format` on by default) puts in the bundle for
//! an image: a DSSE envelope (`application/vnd.in-toto+json`) whose payload is an
//! in-toto Statement v1 with one subject, `{"digest": {"sha256": "<image digest hex>"}}`,
//! predicate type `https://sigstore.dev/cosign/sign/v1` and an empty predicate. With
//! `--key` the verification material is a `publicKey` hint; keyless, a Fulcio
//! certificate. `cosign attest` writes bundles of the same artifact type with other
//! predicate types: those are attestations, not signatures, and are passed over.
//!
//! Key-based bundles are verified here: the DSSE signature over the envelope's
//! pre-authentication encoding with the policy's trusted keys, and the statement's
//! subject against the image digest. Keyless bundles (a certificate as verification
//! material) are verified for the policy's trusted identities by
//! [`keyless::verify`](crate::keyless::verify), after the same subject check. The Rekor
//! entry a key-based bundle may carry (cosign uploads one unless `--tlog-upload=false`)
//! is not required: with a key, the trust is the key, exactly as for the legacy `.sig`
//! layout, and a registry-only guard has no log keys to check it against unless a trust
//! root is configured.
//!
//! Why not sigstore-rs's `bundle::verify::Verifier`: it verifies only bundles with a
//! certificate (`CheckedBundle` refuses a `publicKey` verification material), so it
//! cannot check a key-based bundle at all; its DSSE and PAE helpers are crate-private
//! (the encoding is `keyless::pae`).
//! sigstore-rs is used for the parts that fit: the bundle types
//! (`sigstore_protobuf_specs`, re-exported as `sigstore::bundle::Bundle`) and the
//! signature check (`CosignVerificationKey`).

use policy::{Rejection, SignatureLayout};
use serde::Deserialize;
use sigstore::bundle::Bundle;
use sigstore::crypto::Signature;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{bundle, verification_material};

use crate::examined::Examined;
use crate::keyless::{SignedContent, pae};
use crate::referrer::SIGN_PREDICATE_TYPE;
use crate::signers::Trusted;

const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Bundle media types by the protobuf-specs rule: v0.3 as cosign 3 writes it, and the
/// earlier `+json;version=0.x` spellings clients must accept.
const BUNDLE_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// The part of an in-toto statement that binds a signature to an image.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    #[serde(default)]
    subject: Vec<Subject>,
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// What one bundle found for `digest` (`sha256:<hex>`) says.
pub(crate) fn examine(json: &[u8], digest: &str, trusted: &Trusted<'_>) -> Examined {
    let unreadable = |reason: String| {
        Examined::rejected(SignatureLayout::Bundle, Rejection::Unreadable { reason })
    };
    let bundle: Bundle = match serde_json::from_slice(json) {
        Ok(bundle) => bundle,
        Err(err) => return unreadable(format!("not a Sigstore bundle: {err}")),
    };
    if !bundle.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) {
        return unreadable(format!(
            "media type {:?} is not a Sigstore bundle's",
            bundle.media_type
        ));
    }
    let envelope = match &bundle.content {
        Some(bundle::Content::DsseEnvelope(envelope)) => envelope,
        Some(bundle::Content::MessageSignature(_)) => {
            return unreadable(
                "a messageSignature signs a blob (cosign sign-blob), not an image; sign the image with cosign sign".into(),
            );
        }
        None => return unreadable("the bundle holds no signature".into()),
    };
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return unreadable(format!(
            "DSSE payload type {:?} is not an in-toto statement",
            envelope.payload_type
        ));
    }
    let statement: Statement = match serde_json::from_slice(&envelope.payload) {
        Ok(statement) => statement,
        Err(err) => {
            return unreadable(format!(
                "the DSSE payload is not an in-toto statement: {err}"
            ));
        }
    };
    if statement.predicate_type != SIGN_PREDICATE_TYPE {
        tracing::debug!(predicate_type = %statement.predicate_type, "passing over an attestation bundle");
        return Examined::NotASignature;
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if !statement
        .subject
        .iter()
        .any(|s| s.digest.get("sha256").is_some_and(|d| d == hex))
    {
        let named = statement
            .subject
            .iter()
            .find_map(|s| s.digest.get("sha256"))
            .map_or_else(|| "no sha256 digest".to_string(), |d| format!("sha256:{d}"));
        return Examined::OtherDigest {
            payload_digest: named,
            layout: SignatureLayout::Bundle,
        };
    }
    let [signature] = envelope.signatures.as_slice() else {
        return unreadable(format!(
            "a DSSE envelope in a bundle has exactly one signature, this one has {}",
            envelope.signatures.len()
        ));
    };
    if let Some(key) = trusted.key_signer_of(
        &pae(&envelope.payload_type, &envelope.payload),
        Signature::Raw(&signature.sig),
    ) {
        return Examined::Verified(key.to_string());
    }
    let rejected = |rejection| Examined::rejected(SignatureLayout::Bundle, rejection);
    let material = bundle
        .verification_material
        .as_ref()
        .and_then(|material| Some((material, material.content.as_ref()?)));
    match material {
        Some((_, verification_material::Content::PublicKey(key))) => {
            rejected(Rejection::UnknownKey {
                hint: (!key.hint.is_empty()).then(|| key.hint.clone()),
            })
        }
        Some((
            material,
            verification_material::Content::Certificate(_)
            | verification_material::Content::X509CertificateChain(_),
        )) => trusted.keyless(
            SignatureLayout::Bundle,
            material,
            SignedContent::Dsse { envelope },
        ),
        None => rejected(Rejection::Unreadable {
            reason: "the bundle has no verification material".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bluegreen_e2e::cosign_bundle::statement;
    use bluegreen_e2e::registry::TestKey;
    use policy::{RejectedSignature, Rejection, SignatureLayout};

    use super::*;

    /// `cosign sign` (v3) of an image, keyless (public fixture, see tests/data/sigstore-rs).
    const COSIGN_V3_KEYLESS: &[u8] = include_bytes!("../tests/data/sigstore-rs/bundle_v03.json");
    const ITS_DIGEST: &str =
        "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
    const NPM_ATTESTATION: &[u8] =
        include_bytes!("../tests/data/sigstore-rs/npm_slsa_bundle_v03.json");
    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn examined(json: &[u8], digest: &str, key: &TestKey) -> Examined {
        examine(json, digest, &Trusted::new(key.keys().into(), None))
    }

    fn rejection(examined: Examined) -> Rejection {
        match examined {
            Examined::Rejected(RejectedSignature {
                layout: SignatureLayout::Bundle,
                rejection,
            }) => rejection,
            _ => panic!("expected a rejected bundle"),
        }
    }

    fn unreadable(examined: Examined) -> String {
        match rejection(examined) {
            Rejection::Unreadable { reason } => reason,
            other => panic!("expected unreadable, got {other:?}"),
        }
    }

    #[test]
    fn a_key_based_bundle_verifies_with_its_key_only() {
        let (release, stranger) = (TestKey::generate("release"), TestKey::generate("stranger"));
        let bundle = release.bundle(&statement(DIGEST, SIGN_PREDICATE_TYPE));
        assert!(
            matches!(examined(&bundle, DIGEST, &release), Examined::Verified(key) if key == "release")
        );
        assert_eq!(
            rejection(examined(&bundle, DIGEST, &stranger)),
            Rejection::UnknownKey {
                hint: Some(release.hint())
            }
        );
    }

    #[test]
    fn a_tampered_payload_no_longer_verifies() {
        let key = TestKey::generate("release");
        let original = statement(DIGEST, SIGN_PREDICATE_TYPE);
        let mut bundle: serde_json::Value = serde_json::from_slice(&key.bundle(&original)).unwrap();
        // Same digest, one more field: the signature no longer covers the payload.
        let tampered = original.replace(r#""predicate":{}"#, r#""predicate":{"x":1}"#);
        bundle["dsseEnvelope"]["payload"] =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, tampered).into();
        let bundle = serde_json::to_vec(&bundle).unwrap();
        assert!(matches!(
            rejection(examined(&bundle, DIGEST, &key)),
            Rejection::UnknownKey { .. }
        ));
    }

    #[test]
    fn a_bundle_for_another_digest_is_a_mismatch() {
        let key = TestKey::generate("release");
        let other = format!("sha256:{}", "2".repeat(64));
        let bundle = key.bundle(&statement(&other, SIGN_PREDICATE_TYPE));
        assert!(matches!(
            examined(&bundle, DIGEST, &key),
            Examined::OtherDigest { payload_digest, layout: SignatureLayout::Bundle } if payload_digest == other
        ));
    }

    #[test]
    fn cosign_v3_keyless_bundles_need_trusted_identities() {
        let key = TestKey::generate("release");
        assert_eq!(
            rejection(examined(COSIGN_V3_KEYLESS, ITS_DIGEST, &key)),
            Rejection::KeylessWithoutIdentities
        );
        assert!(matches!(
            examined(COSIGN_V3_KEYLESS, DIGEST, &key),
            Examined::OtherDigest { payload_digest, .. } if payload_digest == ITS_DIGEST
        ));
    }

    #[test]
    fn attestations_are_passed_over() {
        let key = TestKey::generate("release");
        assert!(matches!(
            examined(NPM_ATTESTATION, DIGEST, &key),
            Examined::NotASignature
        ));
        let slsa = key.bundle(&statement(DIGEST, "https://slsa.dev/provenance/v1"));
        assert!(matches!(
            examined(&slsa, DIGEST, &key),
            Examined::NotASignature
        ));
    }

    #[test]
    fn what_is_not_an_image_signature_says_why() {
        let key = TestKey::generate("release");
        assert!(
            unreadable(examined(b"{not json", DIGEST, &key)).starts_with("not a Sigstore bundle: ")
        );
        let mut message: serde_json::Value = serde_json::from_slice(COSIGN_V3_KEYLESS).unwrap();
        let envelope = message
            .as_object_mut()
            .unwrap()
            .remove("dsseEnvelope")
            .unwrap();
        message["messageSignature"] = serde_json::json!({
            "messageDigest": {"algorithm": "SHA2_256", "digest": "EREREREREREREREREREREREREREREREREREREREREQ="},
            "signature": envelope["signatures"][0]["sig"],
        });
        assert_eq!(
            unreadable(examined(
                &serde_json::to_vec(&message).unwrap(),
                DIGEST,
                &key
            )),
            "a messageSignature signs a blob (cosign sign-blob), not an image; sign the image with cosign sign"
        );
        let mut two: serde_json::Value =
            serde_json::from_slice(&key.bundle(&statement(DIGEST, SIGN_PREDICATE_TYPE))).unwrap();
        let signature = two["dsseEnvelope"]["signatures"][0].clone();
        two["dsseEnvelope"]["signatures"]
            .as_array_mut()
            .unwrap()
            .push(signature);
        assert_eq!(
            unreadable(examined(&serde_json::to_vec(&two).unwrap(), DIGEST, &key)),
            "a DSSE envelope in a bundle has exactly one signature, this one has 2"
        );
    }
}
