//! Verdicts kept for a while, so that a switch looks results up instead of asking the
//! registry inside an admission decision.
//!
//! Entries expire by `tokio::time::Instant`, so tests move time with
//! `tokio::time::advance` instead of sleeping.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use policy::ImageVerdict;
use tokio::time::Instant;

/// Beyond this many entries, expired ones are dropped on insert; live entries are only
/// as many as the distinct images of running Deployments times the signer sets in use.
const PRUNE_ABOVE: usize = 1024;

/// Verdicts by (repository-qualified digest, signer-set fingerprint), each with an expiry.
#[derive(Debug)]
pub(crate) struct VerdictCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, u64), Entry>>,
}

#[derive(Debug)]
struct Entry {
    verdict: ImageVerdict,
    expires: Instant,
}

impl VerdictCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The verdict if one is stored and still fresh. Never blocks on I/O: the lock is
    /// only ever held for a map operation.
    pub(crate) fn get(&self, key: String, signers: u64) -> Option<ImageVerdict> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(&(key, signers))?;
        (entry.expires > Instant::now()).then(|| entry.verdict.clone())
    }

    pub(crate) fn insert(&self, key: String, signers: u64, verdict: ImageVerdict) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() > PRUNE_ABOVE {
            entries.retain(|_, entry| entry.expires > now);
        }
        entries.insert(
            (key, signers),
            Entry {
                verdict,
                expires: now + self.ttl,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_the_ttl() {
        let cache = VerdictCache::new(Duration::from_secs(60));
        cache.insert("r/a@d".into(), 1, ImageVerdict::Unsigned);
        assert_eq!(cache.get("r/a@d".into(), 1), Some(ImageVerdict::Unsigned));
        assert_eq!(cache.get("r/a@d".into(), 2), None, "another signer set");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(cache.get("r/a@d".into(), 1), None);
    }
}
