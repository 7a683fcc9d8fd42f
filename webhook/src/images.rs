//! Where decisions get their BG006 image verdicts.
//!
//! Verifying a signature needs the registry. The guard asks it only for images a write
//! introduces (a Deployment created, or its images changed) and for pinned images whose
//! verdict is not cached (e.g. expired), always within a budget below the webhook's
//! timeout; everything else, a switch in particular, is a cache look-up.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::BoxFuture;
use policy::crd::Signers;
use policy::images::is_pinned;
use policy::{ImageVerdict, ImageVerdicts};

/// The images one decision needs verdicts for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantedImages {
    /// Images the write introduces: verified now unless cached (a tag is resolved so
    /// the refusal can give the digest form).
    pub introduced: BTreeSet<String>,
    /// Images the write leaves in place (the app's other containers and colors): looked
    /// up, and verified only when pinned and not cached.
    pub standing: BTreeSet<String>,
}

impl WantedImages {
    /// Whether nothing is wanted.
    pub fn is_empty(&self) -> bool {
        self.introduced.is_empty() && self.standing.is_empty()
    }
}

/// Verdicts for one decision and how they were obtained, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageOutcome {
    /// Verdicts by image reference.
    pub verdicts: ImageVerdicts,
    /// How many verdicts came from the cache.
    pub cache_hits: usize,
    /// The verdict label of each image verified against a registry for this decision.
    pub verified: Vec<&'static str>,
}

/// A source of image verification results for decisions.
pub trait ImageVerifier: Send + Sync {
    /// Verdicts known now, without I/O (the offline and synchronous decision path).
    fn cached(&self, wanted: &WantedImages, signers: Signers<'_>) -> ImageOutcome;

    /// Verdicts for `wanted`, asking registries where [`WantedImages`] says so; returns
    /// within the verifier's budget whatever the registries do.
    fn verify<'a>(
        &'a self,
        wanted: &'a WantedImages,
        signers: Signers<'a>,
    ) -> BoxFuture<'a, ImageOutcome>;
}

/// No verification: BG006 sees every image as unverified (it is off unless a
/// BlueGreenPolicy names trusted keys or identities).
#[derive(Debug, Default)]
pub struct NoImageVerification;

impl ImageVerifier for NoImageVerification {
    fn cached(&self, _: &WantedImages, _: Signers<'_>) -> ImageOutcome {
        ImageOutcome::default()
    }

    fn verify<'a>(&'a self, _: &'a WantedImages, _: Signers<'a>) -> BoxFuture<'a, ImageOutcome> {
        Box::pin(std::future::ready(ImageOutcome::default()))
    }
}

/// Cosign verification against the images' registries with [`signatures::Verifier`],
/// whose TTL cache makes the second look-up free.
pub struct RegistryVerification {
    verifier: signatures::Verifier,
    budget: Duration,
}

impl RegistryVerification {
    /// Verification with `verifier`, each decision's registry work bounded by `budget`.
    pub fn new(verifier: signatures::Verifier, budget: Duration) -> Self {
        RegistryVerification { verifier, budget }
    }

    /// The verifier's counters (registry requests, cache hits and misses).
    pub fn stats(&self) -> signatures::Stats {
        self.verifier.stats()
    }

    fn lookup(&self, wanted: &WantedImages, signers: Signers<'_>) -> ImageOutcome {
        let pinned = wanted
            .introduced
            .iter()
            .chain(&wanted.standing)
            .filter(|image| is_pinned(image));
        let verdicts = self.verifier.cached_all(pinned, signers);
        ImageOutcome {
            cache_hits: verdicts.len(),
            verdicts,
            verified: Vec::new(),
        }
    }
}

impl ImageVerifier for RegistryVerification {
    fn cached(&self, wanted: &WantedImages, signers: Signers<'_>) -> ImageOutcome {
        self.lookup(wanted, signers)
    }

    fn verify<'a>(
        &'a self,
        wanted: &'a WantedImages,
        signers: Signers<'a>,
    ) -> BoxFuture<'a, ImageOutcome> {
        Box::pin(async move {
            let mut outcome = self.lookup(wanted, signers);
            let missing: BTreeSet<&String> = wanted
                .introduced
                .iter()
                .chain(wanted.standing.iter().filter(|image| is_pinned(image)))
                .filter(|image| !outcome.verdicts.contains_key(image.as_str()))
                .collect();
            if missing.is_empty() {
                return outcome;
            }
            let verified = self
                .verifier
                .verify_all(missing, signers, self.budget)
                .await;
            for (image, verdict) in verified {
                if let ImageVerdict::Unreachable { registry, reason } = &verdict {
                    tracing::warn!(%image, %registry, %reason, "image not verified: registry unreachable");
                }
                outcome.verified.push(verdict_label(&verdict));
                outcome.verdicts.insert(image, verdict);
            }
            outcome
        })
    }
}

/// The metrics label of a verdict.
pub fn verdict_label(verdict: &ImageVerdict) -> &'static str {
    match verdict {
        ImageVerdict::Verified { .. } => "verified",
        ImageVerdict::Unsigned => "unsigned",
        ImageVerdict::Untrusted { .. } => "untrusted",
        ImageVerdict::DigestMismatch { .. } => "digest_mismatch",
        ImageVerdict::Unreachable { .. } => "unreachable",
        ImageVerdict::NotPinned { .. } => "not_pinned",
        ImageVerdict::InvalidReference { .. } => "invalid_reference",
    }
}
