//! What one signature says about a digest, whichever layout it was found in: the
//! common answer of the legacy `.sig` and the bundle examinations, judged together.

use policy::{RejectedSignature, Rejection, SignatureLayout};

/// What one signature found for a digest says.
pub(crate) enum Examined {
    /// Verified by the named trusted key, or keylessly by the described identity.
    Verified(String),
    /// Not accepted, and why.
    Rejected(RejectedSignature),
    /// A signature of another digest, filed next to this one.
    OtherDigest {
        payload_digest: String,
        layout: SignatureLayout,
    },
    /// A bundle of the same artifact type that is an attestation, not a signature.
    NotASignature,
}

impl Examined {
    pub(crate) fn rejected(layout: SignatureLayout, rejection: Rejection) -> Self {
        Examined::Rejected(RejectedSignature { layout, rejection })
    }
}
