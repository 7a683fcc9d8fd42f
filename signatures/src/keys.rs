//! The trusted keys of a BlueGreenPolicy: as sigstore verifiers, and as the
//! fingerprint a cached verdict is filed under.

use std::hash::{BuildHasher, RandomState};

use policy::crd::TrustedKey;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};

use crate::error::{Error, Result};

/// Checks that every key parses as a public key cosign could have produced; the guard
/// and the plugin report a broken policy with this instead of seeing only
/// "untrusted key" verdicts.
pub fn check_keys(keys: &[TrustedKey]) -> Result<()> {
    keys.iter().try_for_each(|key| parse(key).map(drop))
}

fn parse(key: &TrustedKey) -> Result<PublicKeyVerifier> {
    // The scheme (ECDSA P-256 for `cosign generate-key-pair`, also P-384, RSA, Ed25519)
    // is taken from the key itself.
    PublicKeyVerifier::try_from(key.public_key.trim().as_bytes()).map_err(|e| Error::InvalidKey {
        name: key.name.clone(),
        reason: e.to_string(),
    })
}

/// The usable keys as sigstore verification constraints, by name in a fixed order so
/// that the key a verdict names does not depend on the policy's ordering. Keys that
/// do not parse are skipped with a warning: they cannot have signed anything.
///
/// Boxed per verification rather than stored: `verify_constraints` wants
/// `Box<dyn VerificationConstraint>`, which is not `Send`, and verification futures
/// must be.
pub(crate) fn verifiers(keys: &[TrustedKey]) -> Vec<(&str, Box<dyn VerificationConstraint>)> {
    let mut keys: Vec<&TrustedKey> = keys.iter().collect();
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    keys.into_iter()
        .filter_map(|key| match parse(key) {
            Ok(verifier) => Some((key.name.as_str(), Box::new(verifier) as Box<_>)),
            Err(err) => {
                tracing::warn!(%err, "ignoring a trusted key");
                None
            }
        })
        .collect()
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
        assert!(verifiers(&[key("release", "not a pem")]).is_empty());
    }
}
