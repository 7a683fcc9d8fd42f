//! The trusted keys of a BlueGreenPolicy: as sigstore verification keys, and as the
//! fingerprint a cached verdict is filed under.

use std::hash::{BuildHasher, RandomState};

use policy::crd::TrustedKey;
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

/// Identifies a key set (names and keys, in any order) for the verdict cache, so a
/// policy change never serves a verdict reached with other keys. A keyed hash: its
/// key is random per verifier, so nobody can craft a colliding key set.
#[derive(Debug, Default)]
pub(crate) struct Fingerprinter {
    state: RandomState,
}

impl Fingerprinter {
    pub(crate) fn fingerprint(&self, keys: &[TrustedKey]) -> u64 {
        let mut parts: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k.name.as_str(), k.public_key.trim()))
            .collect();
        parts.sort_unstable();
        self.state.hash_one(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, pem: &str) -> TrustedKey {
        TrustedKey {
            name: name.into(),
            public_key: pem.into(),
        }
    }

    #[test]
    fn fingerprints_ignore_order_but_not_content() {
        let f = Fingerprinter::default();
        let (a, b) = (key("a", "PEM-A"), key("b", "PEM-B"));
        assert_eq!(
            f.fingerprint(&[a.clone(), b.clone()]),
            f.fingerprint(&[b.clone(), a.clone()])
        );
        assert_ne!(
            f.fingerprint(std::slice::from_ref(&a)),
            f.fingerprint(&[a.clone(), b])
        );
        assert_ne!(
            f.fingerprint(&[a]),
            f.fingerprint(&[key("renamed", "PEM-A")])
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
