//! The trusted keys of a BlueGreenPolicy: as sigstore verification keys, and as the
//! fingerprint a cached verdict is filed under.

use std::hash::{BuildHasher, RandomState};

use policy::crd::{Signers, TrustedIdentity, TrustedKey};
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::error::{Error, Result};

/// Checks that every key parses as a public key cosign could have produced; the guard
/// and the plugin report a broken policy with this instead of seeing only
/// "untrusted key" verdicts.
pub fn check_keys(keys: &[TrustedKey]) -> Result<()> {
    keys.iter().try_for_each(|key| parse(key).map(drop))
}

fn parse(key: &TrustedKey) -> Result<CosignVerificationKey> {
    // The scheme (ECDSA P-256 for `cosign generate-key-pair`, also P-384, RSA, Ed25519)
    // is taken from the key itself.
    CosignVerificationKey::try_from_pem(key.public_key.trim().as_bytes()).map_err(|e| {
        Error::InvalidKey {
            name: key.name.clone(),
            reason: e.to_string(),
        }
    })
}

/// The usable trusted keys, by name in a fixed order so that the key a verdict names
/// does not depend on the policy's ordering. Keys that do not parse are skipped with a
/// warning: they cannot have signed anything.
pub(crate) struct TrustedKeys<'a>(Vec<(&'a str, CosignVerificationKey)>);

impl<'a> TrustedKeys<'a> {
    pub(crate) fn new(keys: &'a [TrustedKey]) -> Self {
        let mut keys: Vec<&TrustedKey> = keys.iter().collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Self(
            keys.into_iter()
                .filter_map(|key| match parse(key) {
                    Ok(verification_key) => Some((key.name.as_str(), verification_key)),
                    Err(err) => {
                        tracing::warn!(%err, "ignoring a trusted key");
                        None
                    }
                })
                .collect(),
        )
    }

    /// The name of the first trusted key whose signature `signature` is over `message`
    /// (sigstore's check: the scheme of the key, the message hashed as that scheme says).
    pub(crate) fn signer_of(&self, message: &[u8], signature: Signature<'_>) -> Option<&'a str> {
        self.0.iter().find_map(|(name, key)| {
            key.verify_signature(signature_copy(&signature), message)
                .is_ok()
                .then_some(*name)
        })
    }
}

/// `Signature` is not `Clone`; it is two borrowed variants.
fn signature_copy<'s>(signature: &Signature<'s>) -> Signature<'s> {
    match signature {
        Signature::Raw(bytes) => Signature::Raw(bytes),
        Signature::Base64Encoded(bytes) => Signature::Base64Encoded(bytes),
    }
}

/// Identifies a set of signers (keys by name and PEM, keyless identities by every
/// field, each in any order) for the verdict cache, so a policy change never serves a
/// verdict reached with other signers. A keyed hash: its key is random per verifier,
/// so nobody can craft a colliding set.
#[derive(Debug, Default)]
pub(crate) struct Fingerprinter {
    state: RandomState,
}

impl Fingerprinter {
    pub(crate) fn fingerprint(&self, signers: Signers<'_>) -> u64 {
        let mut keys: Vec<(&str, &str)> = signers
            .keys
            .iter()
            .map(|k| (k.name.as_str(), k.public_key.trim()))
            .collect();
        keys.sort_unstable();
        // Every field counts (subject, pattern, issuer, workflow details).
        let mut identities: Vec<&TrustedIdentity> = signers.identities.iter().collect();
        identities.sort_unstable();
        self.state.hash_one((keys, identities))
    }
}

#[cfg(test)]
mod tests {
    use policy::crd::TrustedIdentity;

    use super::*;

    fn key(name: &str, pem: &str) -> TrustedKey {
        TrustedKey {
            name: name.into(),
            public_key: pem.into(),
        }
    }

    fn identity(name: &str, subject: &str) -> TrustedIdentity {
        TrustedIdentity {
            name: name.into(),
            issuer: "https://issuer.test".into(),
            subject: Some(subject.into()),
            ..TrustedIdentity::default()
        }
    }

    #[test]
    fn fingerprints_ignore_order_but_not_content() {
        let f = Fingerprinter::default();
        let print = |keys: &[TrustedKey], identities: &[TrustedIdentity]| {
            f.fingerprint(Signers { keys, identities })
        };
        let (a, b) = (key("a", "PEM-A"), key("b", "PEM-B"));
        let (x, y) = (identity("x", "x@test"), identity("y", "y@test"));
        assert_eq!(
            print(&[a.clone(), b.clone()], &[x.clone(), y.clone()]),
            print(&[b.clone(), a.clone()], &[y.clone(), x.clone()])
        );
        assert_ne!(
            print(std::slice::from_ref(&a), &[]),
            print(&[a.clone(), b], &[])
        );
        assert_ne!(
            print(std::slice::from_ref(&a), &[]),
            print(&[key("renamed", "PEM-A")], &[])
        );
        let keys = std::slice::from_ref(&a);
        assert_ne!(print(keys, &[]), print(keys, std::slice::from_ref(&x)));
        assert_ne!(
            print(keys, std::slice::from_ref(&x)),
            print(keys, &[identity("x", "someone-else@test")])
        );
    }

    #[test]
    fn a_broken_key_is_named() {
        let err = check_keys(&[key("release", "not a pem")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("trusted key release is not a valid public key"),
            "{err}"
        );
        assert!(
            TrustedKeys::new(&[key("release", "not a pem")])
                .0
                .is_empty()
        );
    }
}
