//! cosign's legacy layout: simple-signing layers of the artifact tagged
//! `sha256-<digest>.sig`, each with its signature in a layer annotation.
//!
//! Each layer is checked the way sigstore's own (crate-private) layer parser does: the
//! payload must parse as simple signing and name the image's digest, and must carry a
//! signature, which one of the trusted keys must verify over the payload bytes.

use policy::{Rejection, SignatureLayout};
use sigstore::cosign::simple_signing::SimpleSigning;
use sigstore::crypto::Signature;

use crate::keys::TrustedKeys;
use crate::registry::SignedPayload;
use crate::verify::Examined;

/// The layer annotation holding the base64 signature of the payload.
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation of a keyless signature's Fulcio certificate (PEM).
const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";

/// What one simple-signing layer found for `digest` says.
pub(crate) fn examine(layer: &SignedPayload, digest: &str, keys: &TrustedKeys<'_>) -> Examined {
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
    if let Some(key) = keys.signer_of(
        &layer.payload,
        Signature::Base64Encoded(signature.as_bytes()),
    ) {
        return Examined::Verified(key.to_string());
    }
    // Keyless: verified by identity once `keyless::verify` is wired in here, with the
    // material from these annotations.
    let rejection = if layer.annotations.contains_key(CERTIFICATE_ANNOTATION) {
        Rejection::Keyless
    } else {
        Rejection::UnknownKey { hint: None }
    };
    Examined::rejected(SignatureLayout::SigTag, rejection)
}
