//! Where decisions get their BG006 image verdicts. Verifying a signature needs the
//! registry, which is too slow for the API server's write path, so a verifier works
//! ahead (when Deployments appear or change) and decisions read what it has cached.

use std::sync::Arc;

use policy::ImageVerdicts;

/// A source of image verification results for decisions.
pub trait ImageVerifier: Send + Sync {
    /// The verdicts known now, by image reference; an image absent from them is
    /// "not verified yet" to BG006. Must not block.
    fn verdicts(&self) -> Arc<ImageVerdicts>;
}

/// No verification yet: BG006 sees every image as unverified (it is off unless a
/// BlueGreenPolicy names trusted keys).
#[derive(Debug, Default)]
pub struct NoImageVerification {
    empty: Arc<ImageVerdicts>,
}

impl ImageVerifier for NoImageVerification {
    fn verdicts(&self) -> Arc<ImageVerdicts> {
        Arc::clone(&self.empty)
    }
}
