//! The verifier: cache first, then the registry (both layouts at once) within a time
//! budget, then the signature check against the policy's trusted signers.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::join_all;
use policy::crd::Signers;
use policy::{ImageVerdict, ImageVerdicts};
use tokio::time::{Instant, timeout_at};

use crate::cache::VerdictCache;
use crate::config::VerifierConfig;
use crate::error::Result;
use crate::examined::Examined;
use crate::keyless::TrustRoot;
use crate::keys::Fingerprinter;
use crate::reference::{ImageRef, cache_key, pinned_form, registry_of, signature_ref};
use crate::registry::{Registry, SignedPayload};
use crate::signers::Trusted;
use crate::{bundle, legacy};

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

    /// Verifies one image against `signers` (any one key or keyless identity
    /// suffices), from the cache when it can, else from the registry within `budget`.
    pub async fn verify<'s>(
        &self,
        image: &str,
        signers: impl Into<Signers<'s>>,
        budget: Duration,
    ) -> ImageVerdict {
        let deadline = Instant::now() + budget;
        let signers = signers.into();
        let signer_set = self.fingerprinter.fingerprint(signers);
        self.verify_until(image, signers, signer_set, deadline, budget)
            .await
    }

    /// Verifies every distinct image concurrently; the whole call returns within
    /// `budget`, a registry that has not answered by then gives
    /// [`ImageVerdict::Unreachable`]. Verdicts are keyed by the image as given.
    pub async fn verify_all<'s, I>(
        &self,
        images: I,
        signers: impl Into<Signers<'s>>,
        budget: Duration,
    ) -> ImageVerdicts
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let deadline = Instant::now() + budget;
        let signers = signers.into();
        let signer_set = self.fingerprinter.fingerprint(signers);
        let images: BTreeSet<String> = images.into_iter().map(|i| i.as_ref().to_owned()).collect();
        let verdicts = join_all(
            images
                .iter()
                .map(|image| self.verify_until(image, signers, signer_set, deadline, budget)),
        )
        .await;
        images.into_iter().zip(verdicts).collect()
    }

    /// The cached verdict of a pinned image, if fresh; `None` for anything else.
    /// Never touches the network: this is the admission hot path.
    pub fn cached<'s>(&self, image: &str, signers: impl Into<Signers<'s>>) -> Option<ImageVerdict> {
        self.cached_for(image, self.fingerprinter.fingerprint(signers.into()))
    }

    /// [`Verifier::cached`] for several images: the verdicts known now, by image.
    pub fn cached_all<'s, I>(&self, images: I, signers: impl Into<Signers<'s>>) -> ImageVerdicts
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let signer_set = self.fingerprinter.fingerprint(signers.into());
        images
            .into_iter()
            .filter_map(|image| {
                let image = image.as_ref();
                Some((image.to_owned(), self.cached_for(image, signer_set)?))
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

    fn cached_for(&self, image: &str, signer_set: u64) -> Option<ImageVerdict> {
        let Ok(ImageRef::Pinned { reference, digest }) = ImageRef::parse(image) else {
            return None;
        };
        self.lookup(cache_key(&reference, &digest), signer_set)
    }

    fn lookup(&self, key: String, signer_set: u64) -> Option<ImageVerdict> {
        let found = self.cache.get(key, signer_set);
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
        signers: Signers<'_>,
        signer_set: u64,
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
        if let Some(verdict) = self.lookup(key.clone(), signer_set) {
            return verdict;
        }
        // Both layouts at once: an image may carry either, or both.
        let sig_tag = signature_ref(&reference, &digest);
        let fetched = timeout_at(deadline, async {
            futures::join!(
                self.registry.signatures(&sig_tag),
                self.registry.bundles(&reference, &digest),
            )
        })
        .await;
        let unreachable = |reason| ImageVerdict::Unreachable {
            registry: registry_of(&reference).to_string(),
            reason,
        };
        let verdict = match fetched {
            Err(_elapsed) => unreachable(format!("no answer within {budget:?}")),
            Ok((legacy_layers, bundles)) => {
                let verdict = judge(
                    &digest,
                    legacy_layers
                        .as_ref()
                        .ok()
                        .and_then(Option::as_deref)
                        .unwrap_or_default(),
                    bundles.as_deref().unwrap_or_default(),
                    &Trusted::new(signers, self.trust_root.as_ref()),
                );
                // A layout the registry did not answer for may hold the signature that
                // verifies: only a verified image is judged without it.
                match (verdict, legacy_layers.err().or(bundles.err())) {
                    (verdict @ ImageVerdict::Verified { .. }, _) | (verdict, None) => verdict,
                    (_, Some(reason)) => unreachable(reason),
                }
            }
        };
        // A registry that did not answer is asked again next time.
        if !matches!(verdict, ImageVerdict::Unreachable { .. }) {
            self.cache.insert(key, signer_set, verdict.clone());
        }
        verdict
    }
}

/// The verdict on every signature found for `digest`, in both layouts: verified if any
/// trusted signer verifies one; else untrusted, naming each signature found for the
/// digest; else a mismatch if only other digests' signatures were found; else unsigned.
fn judge(
    digest: &str,
    legacy_layers: &[SignedPayload],
    bundles: &[Vec<u8>],
    trusted: &Trusted<'_>,
) -> ImageVerdict {
    let examined = legacy_layers
        .iter()
        .map(|layer| legacy::examine(layer, digest, trusted))
        .chain(
            bundles
                .iter()
                .map(|json| bundle::examine(json, digest, trusted)),
        );
    let mut rejected = Vec::new();
    let mut other_digest = None;
    for found in examined {
        match found {
            Examined::Verified(signer) => return ImageVerdict::Verified { signer },
            Examined::Rejected(rejection) => rejected.push(rejection),
            Examined::OtherDigest {
                payload_digest,
                layout,
            } => {
                other_digest.get_or_insert(ImageVerdict::DigestMismatch {
                    payload_digest,
                    layout,
                });
            }
            Examined::NotASignature => {}
        }
    }
    if !rejected.is_empty() {
        return ImageVerdict::Untrusted { rejected };
    }
    other_digest.unwrap_or(ImageVerdict::Unsigned)
}
