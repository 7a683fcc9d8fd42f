//! Image references and the signature verification results BG006 judges.
//!
//! Verification needs the network (the registry), so it happens outside this crate;
//! the rules only read the verdicts handed in.

use std::collections::HashMap;

/// The outcome of verifying one image reference against the trusted signers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageVerdict {
    /// Signed by a trusted key or a trusted keyless identity.
    Verified {
        /// Who: the trusted key's name, or the trusted identity's name with the
        /// certificate's subject and issuer.
        signer: String,
    },
    /// No cosign signature exists for the digest, in either layout.
    Unsigned,
    /// Signed, but no signature found is by a trusted signer.
    Untrusted {
        /// Every signature found for the digest, where it was and why it was not accepted.
        rejected: Vec<RejectedSignature>,
    },
    /// The signed payload names another digest.
    DigestMismatch {
        /// The digest the payload names.
        payload_digest: String,
        /// Where that signature was found.
        layout: SignatureLayout,
    },
    /// The registry could not be asked in time.
    Unreachable {
        /// The registry host.
        registry: String,
        /// Why.
        reason: String,
    },
    /// The reference is a tag; the digest it currently resolves to, if the registry said.
    NotPinned {
        /// `image@sha256:...` to use instead.
        suggestion: Option<String>,
    },
    /// The string is not an image reference at all.
    InvalidReference {
        /// Why it does not parse.
        reason: String,
    },
}

/// Where cosign stores a signature of an image, in the image's own repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignatureLayout {
    /// The legacy layout (cosign 2, and cosign 3 with `--new-bundle-format=false`):
    /// simple-signing layers of the artifact tagged `sha256-<digest>.sig`.
    SigTag,
    /// cosign 3's default: a Sigstore bundle (v0.3) stored as an OCI 1.1 artifact whose
    /// `subject` is the image, found through the registry's referrers API or, on a
    /// registry without one, the referrers tag `sha256-<digest>`.
    Bundle,
}

impl std::fmt::Display for SignatureLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureLayout::SigTag => "a legacy .sig signature",
            SignatureLayout::Bundle => "a Sigstore bundle (OCI referrer)",
        })
    }
}

/// A signature found for an image's digest that BG006 did not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedSignature {
    /// Where it was found.
    pub layout: SignatureLayout,
    /// Why it was not accepted.
    pub rejection: Rejection,
}

/// Why a signature found for an image's digest was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Made with a key that is none of the trusted keys.
    UnknownKey {
        /// The key hint the bundle gives (cosign: base64 SHA-256 of the public key's DER);
        /// unauthenticated, shown only to help find the key. The legacy layout has none.
        hint: Option<String>,
    },
    /// A keyless signature (a Fulcio certificate), but the policy names no
    /// `trustedIdentities` it could be verified for.
    KeylessWithoutIdentities,
    /// A keyless signature, but no trust root (`trusted_root.json`) is configured to
    /// verify it with.
    KeylessWithoutTrustRoot,
    /// A keyless signature that did not verify against the trust root and the trusted
    /// identities.
    KeylessRefused {
        /// Why, saying what was expected and what was found (subject, issuer, log, time).
        reason: String,
    },
    /// Not a signature BG006 can check.
    Unreadable {
        /// What is wrong with it.
        reason: String,
    },
}

impl std::fmt::Display for RejectedSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = self.layout;
        match &self.rejection {
            Rejection::UnknownKey { hint: Some(hint) } => {
                write!(f, "{layout} by an untrusted key (hint {hint})")
            }
            Rejection::UnknownKey { hint: None } => write!(f, "{layout} by an untrusted key"),
            Rejection::KeylessWithoutIdentities => write!(
                f,
                "{layout} made keyless (Fulcio certificate), which no trusted key verifies and the policy names no trustedIdentities to verify it for"
            ),
            Rejection::KeylessWithoutTrustRoot => write!(
                f,
                "{layout} made keyless (Fulcio certificate), which cannot be verified: no trust root is configured (set --trusted-root / chart imageVerification.trustedRootConfigMap)"
            ),
            Rejection::KeylessRefused { reason } => {
                write!(
                    f,
                    "{layout} made keyless (Fulcio certificate), refused: {reason}"
                )
            }
            Rejection::Unreadable { reason } => {
                write!(f, "{layout} that cannot be read ({reason})")
            }
        }
    }
}

/// Verdicts by image reference, exactly as written in the pod template.
pub type ImageVerdicts = HashMap<String, ImageVerdict>;

/// Whether the reference pins a digest (`repo@sha256:<64 hex>`).
pub fn is_pinned(image: &str) -> bool {
    digest_of(image).is_some()
}

/// The `sha256:<hex>` digest of a pinned reference.
pub fn digest_of(image: &str) -> Option<&str> {
    let (_, digest) = image.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_digest_references() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            digest_of(&format!("registry.local:5000/api@{digest}")),
            Some(digest.as_str())
        );
        assert_eq!(
            digest_of(&format!("api:1.2@{digest}")),
            Some(digest.as_str())
        );
        assert!(!is_pinned("registry.local:5000/api:1.2"));
        assert!(!is_pinned("api@sha256:abc"));
        assert!(!is_pinned(&format!("api@sha256:{}", "A".repeat(64))));
    }
}
