//! cosign's legacy layout: simple-signing layers of the artifact tagged
//! `sha256-<digest>.sig`, each with its signature in a layer annotation.
//!
//! Each layer is checked the way sigstore's own (crate-private) layer parser does: the
//! payload must parse as simple signing and name the image's digest, and must carry a
//! signature, which one of the trusted keys must verify over the payload bytes, or,
//! when the layer carries a Fulcio certificate, a trusted identity
//! ([`keyless::verify`](crate::keyless::verify)).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use policy::{Rejection, SignatureLayout};
use sigstore::cosign::simple_signing::SimpleSigning;
use sigstore::crypto::Signature;

use crate::examined::Examined;
use crate::keyless::{SignedContent, material_from_cosign_annotations};
use crate::registry::SignedPayload;
use crate::signers::Trusted;

/// The layer annotation holding the base64 signature of the payload.
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// What one simple-signing layer found for `digest` says.
pub(crate) fn examine(layer: &SignedPayload, digest: &str, trusted: &Trusted<'_>) -> Examined {
    let unreadable = |reason: String| {
        Examined::rejected(SignatureLayout::SigTag, Rejection::Unreadable { reason })
    };
    let simple_signing: SimpleSigning = match serde_json::from_slice(&layer.payload) {
        Ok(parsed) => parsed,
        Err(err) => {
            return unreadable(format!(
                "layer {} is not a simple-signing payload: {err}",
                layer.layer_digest
            ));
        }
    };
    if !simple_signing.satisfies_manifest_digest(digest) {
        return Examined::OtherDigest {
            payload_digest: simple_signing.critical.image.docker_manifest_digest,
            layout: SignatureLayout::SigTag,
        };
    }
    let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
        return unreadable(format!("layer {} has no signature", layer.layer_digest));
    };
    if let Some(key) = trusted.key_signer_of(
        &layer.payload,
        Signature::Base64Encoded(signature.as_bytes()),
    ) {
        return Examined::Verified(key.to_string());
    }
    let rejected = |rejection| Examined::rejected(SignatureLayout::SigTag, rejection);
    match material_from_cosign_annotations(&layer.annotations) {
        Ok(None) => rejected(Rejection::UnknownKey { hint: None }),
        Err(refusal) => rejected(Rejection::KeylessRefused {
            reason: refusal.to_string(),
        }),
        Ok(Some(material)) => match STANDARD.decode(signature) {
            Ok(signature) => trusted.keyless(
                SignatureLayout::SigTag,
                &material,
                SignedContent::Message {
                    message: &layer.payload,
                    signature: &signature,
                },
            ),
            Err(err) => unreadable(format!(
                "layer {}'s signature is not base64 ({err})",
                layer.layer_digest
            )),
        },
    }
}
