//! Image references and the signature verification results BG006 judges.
//!
//! Verification needs the network (the registry), so it happens outside this crate;
//! the rules only read the verdicts handed in.

use std::collections::HashMap;

/// The outcome of verifying one image reference against the trusted keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageVerdict {
    /// Signed by a trusted key.
    Verified {
        /// Which trusted key verified it.
        key: String,
    },
    /// No cosign signature artifact exists for the digest.
    Unsigned,
    /// Signed, but by none of the trusted keys.
    UntrustedKey,
    /// The signed payload names another digest.
    DigestMismatch {
        /// The digest the payload names.
        payload_digest: String,
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
