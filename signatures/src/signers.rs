//! Whom a signature is checked against: the policy's trusted keys, and for keyless
//! signatures its trusted identities with the verifier's trust root.

use policy::crd::{Signers, TrustedIdentity};
use policy::{Rejection, SignatureLayout};
use sigstore::crypto::Signature;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::VerificationMaterial;

use crate::examined::Examined;
use crate::keyless::{self, SignedContent, TrustRoot};
use crate::keys::TrustedKeys;

/// The policy's signers, ready to check signatures with.
pub(crate) struct Trusted<'a> {
    keys: TrustedKeys<'a>,
    identities: &'a [TrustedIdentity],
    trust_root: Option<&'a TrustRoot>,
}

impl<'a> Trusted<'a> {
    pub(crate) fn new(signers: Signers<'a>, trust_root: Option<&'a TrustRoot>) -> Self {
        Self {
            keys: TrustedKeys::new(signers.keys),
            identities: signers.identities,
            trust_root,
        }
    }

    /// The name of the first trusted key whose signature `signature` is over `message`.
    pub(crate) fn key_signer_of(
        &self,
        message: &[u8],
        signature: Signature<'_>,
    ) -> Option<&'a str> {
        self.keys.signer_of(message, signature)
    }

    /// What a keyless signature found in `layout` says: verified by a trusted identity,
    /// or rejected naming what is missing (identities in the policy before the trust
    /// root: without identities nobody keyless is trusted, whatever the root) or what
    /// the certificate and log entry say against the policy.
    pub(crate) fn keyless(
        &self,
        layout: SignatureLayout,
        material: &VerificationMaterial,
        content: SignedContent<'_>,
    ) -> Examined {
        if self.identities.is_empty() {
            return Examined::rejected(layout, Rejection::KeylessWithoutIdentities);
        }
        let Some(trust_root) = self.trust_root else {
            return Examined::rejected(layout, Rejection::KeylessWithoutTrustRoot);
        };
        match keyless::verify(material, content, trust_root, self.identities) {
            Ok(signer) => Examined::Verified(signer.to_string()),
            Err(refusal) => Examined::rejected(
                layout,
                Rejection::KeylessRefused {
                    reason: refusal.to_string(),
                },
            ),
        }
    }
}
