//! The verifier: cache first, then the registry within a time budget, then sigstore's
//! signature check against the policy's trusted keys.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::join_all;
use policy::crd::TrustedKey;
use policy::{ImageVerdict, ImageVerdicts};
use sigstore::cosign::{SignatureLayer, simple_signing::SimpleSigning, verify_constraints};
use tokio::time::{Instant, timeout_at};

use crate::cache::VerdictCache;
use crate::config::VerifierConfig;
use crate::error::Result;
use crate::keyless::TrustRoot;
use crate::keys::{Fingerprinter, verifiers};
use crate::reference::{ImageRef, cache_key, pinned_form, registry_of, signature_ref};
use crate::registry::{Registry, SignedPayload};

/// Verifies cosign signatures of container images for BG006 and remembers the results.
///
/// Share one per process (behind an `Arc`): the cache and the registry connections
/// are what make the second look-up free.
pub struct Verifier {
    registry: Registry,
    cache: VerdictCache,
    trust_root: Option<TrustRoot>,
    fingerprinter: Fingerprinter,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

/// Counters since the verifier was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Registry operations issued (manifest and blob fetches, tag look-ups).
    pub registry_requests: u64,
    /// Look-ups of pinned images answered from the cache.
    pub cache_hits: u64,
    /// Look-ups of pinned images the cache could not answer.
    pub cache_misses: u64,
}

impl Verifier {
    /// Builds a verifier; fails on an unreadable docker config or trust root, or a TLS
    /// setup error.
    pub fn new(config: VerifierConfig) -> Result<Self> {
        Ok(Self {
            registry: Registry::new(&config)?,
            cache: VerdictCache::new(config.ttl),
            trust_root: config
                .trusted_root
                .as_deref()
                .map(TrustRoot::from_file)
                .transpose()?,
            fingerprinter: Fingerprinter::default(),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        })
    }

    /// Verifies one image against `keys` (any one suffices), from the cache when it
    /// can, else from the registry within `budget`.
    pub async fn verify(&self, image: &str, keys: &[TrustedKey], budget: Duration) -> ImageVerdict {
        let deadline = Instant::now() + budget;
        let key_set = self.fingerprinter.fingerprint(keys);
        self.verify_until(image, keys, key_set, deadline, budget)
            .await
    }

    /// Verifies every distinct image concurrently; the whole call returns within
    /// `budget`, a registry that has not answered by then gives
    /// [`ImageVerdict::Unreachable`]. Verdicts are keyed by the image as given.
    pub async fn verify_all<I>(
        &self,
        images: I,
        keys: &[TrustedKey],
        budget: Duration,
    ) -> ImageVerdicts
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let deadline = Instant::now() + budget;
        let key_set = self.fingerprinter.fingerprint(keys);
        let images: BTreeSet<String> = images.into_iter().map(|i| i.as_ref().to_owned()).collect();
        let verdicts = join_all(
            images
                .iter()
                .map(|image| self.verify_until(image, keys, key_set, deadline, budget)),
        )
        .await;
        images.into_iter().zip(verdicts).collect()
    }

    /// The cached verdict of a pinned image, if fresh; `None` for anything else.
    /// Never touches the network: this is the admission hot path.
    pub fn cached(&self, image: &str, keys: &[TrustedKey]) -> Option<ImageVerdict> {
        let Ok(ImageRef::Pinned { reference, digest }) = ImageRef::parse(image) else {
            return None;
        };
        self.lookup(
            cache_key(&reference, &digest),
            self.fingerprinter.fingerprint(keys),
        )
    }

    /// [`Verifier::cached`] for several images: the verdicts known now, by image.
    pub fn cached_all<I>(&self, images: I, keys: &[TrustedKey]) -> ImageVerdicts
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        images
            .into_iter()
            .filter_map(|image| {
                let image = image.as_ref();
                Some((image.to_owned(), self.cached(image, keys)?))
            })
            .collect()
    }

    /// The trust root keyless signatures are verified against, if one was configured.
    pub fn trust_root(&self) -> Option<&TrustRoot> {
        self.trust_root.as_ref()
    }

    /// Counters since the verifier was built.
    pub fn stats(&self) -> Stats {
        Stats {
            registry_requests: self.registry.requests(),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            cache_misses: self.cache_misses.load(Ordering::Relaxed),
        }
    }

    fn lookup(&self, key: String, key_set: u64) -> Option<ImageVerdict> {
        let found = self.cache.get(key, key_set);
        let counter = if found.is_some() {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    async fn verify_until(
        &self,
        image: &str,
        keys: &[TrustedKey],
        key_set: u64,
        deadline: Instant,
        budget: Duration,
    ) -> ImageVerdict {
        let parsed = match ImageRef::parse(image) {
            Ok(parsed) => parsed,
            Err(reason) => return ImageVerdict::InvalidReference { reason },
        };
        let (reference, digest) = match parsed {
            ImageRef::Pinned { reference, digest } => (reference, digest),
            ImageRef::Unpinned { reference } => {
                // Only a plain tag has a digest to suggest; an unaccepted digest
                // (another algorithm, upper case) is left for the person to fix.
                let suggestion = match reference.digest() {
                    Some(_) => None,
                    None => match timeout_at(deadline, self.registry.resolve(&reference)).await {
                        Ok(Ok(digest)) => Some(pinned_form(image, &digest)),
                        Ok(Err(reason)) => {
                            tracing::debug!(image, reason, "cannot resolve the tag to a digest");
                            None
                        }
                        Err(_) => None,
                    },
                };
                return ImageVerdict::NotPinned { suggestion };
            }
        };

        let key = cache_key(&reference, &digest);
        if let Some(verdict) = self.lookup(key.clone(), key_set) {
            return verdict;
        }
        let fetched = timeout_at(
            deadline,
            self.registry
                .signatures(&signature_ref(&reference, &digest)),
        )
        .await;
        let verdict = match fetched {
            Err(_elapsed) => ImageVerdict::Unreachable {
                registry: registry_of(&reference).to_string(),
                reason: format!("no answer within {budget:?}"),
            },
            Ok(Err(reason)) => ImageVerdict::Unreachable {
                registry: registry_of(&reference).to_string(),
                reason,
            },
            Ok(Ok(None)) => ImageVerdict::Unsigned,
            Ok(Ok(Some(payloads))) => judge(&digest, payloads, keys),
        };
        // A registry that did not answer is asked again next time.
        if !matches!(verdict, ImageVerdict::Unreachable { .. }) {
            self.cache.insert(key, key_set, verdict.clone());
        }
        verdict
    }
}

/// The verdict on the simple-signing layers found for `digest`.
///
/// Each layer is checked the way sigstore's own (crate-private) layer parser does:
/// the payload must parse as simple signing and name `digest`, and must carry a
/// signature; a layer naming another digest is kept aside for
/// [`ImageVerdict::DigestMismatch`]. The remaining layers are sigstore
/// `SignatureLayer`s without certificate or Rekor bundle (key-based signing), checked
/// with `verify_constraints` and one `PublicKeyVerifier` per trusted key.
fn judge(digest: &str, payloads: Vec<SignedPayload>, keys: &[TrustedKey]) -> ImageVerdict {
    let mut layers = Vec::new();
    let mut other_digest = None;
    for SignedPayload {
        layer_digest,
        payload,
        signature,
    } in payloads
    {
        let simple_signing: SimpleSigning = match serde_json::from_slice(&payload) {
            Ok(parsed) => parsed,
            Err(err) => {
                tracing::warn!(layer = %layer_digest, %err, "skipping a signature layer that is not simple signing");
                continue;
            }
        };
        if !simple_signing.satisfies_manifest_digest(digest) {
            other_digest.get_or_insert(simple_signing.critical.image.docker_manifest_digest);
            continue;
        }
        let Some(signature) = signature else {
            tracing::warn!(layer = %layer_digest, "skipping a signature layer without a signature");
            continue;
        };
        layers.push(SignatureLayer {
            simple_signing,
            oci_digest: layer_digest,
            certificate_signature: None,
            bundle: None,
            signature: Some(signature),
            raw_data: payload,
        });
    }
    if layers.is_empty() {
        return match other_digest {
            Some(payload_digest) => ImageVerdict::DigestMismatch { payload_digest },
            None => ImageVerdict::Unsigned,
        };
    }
    verifiers(keys)
        .into_iter()
        .find(|(_, verifier)| verify_constraints(&layers, std::iter::once(verifier)).is_ok())
        .map_or(ImageVerdict::UntrustedKey, |(name, _)| {
            ImageVerdict::Verified {
                key: name.to_string(),
            }
        })
}
