//! How a [`Verifier`](crate::Verifier) reaches registries and how long it trusts a result.

use std::path::PathBuf;
use std::time::Duration;

/// How long a verification result is reused when the config does not say.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);

/// Settings of a [`Verifier`](crate::Verifier).
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// Registries (`host[:port]`, as written in image references) reached over plain
    /// HTTP; every other registry is reached over HTTPS.
    pub insecure_registries: Vec<String>,
    /// A docker `config.json` with registry credentials (`auths`); `None` means
    /// anonymous access everywhere. The guard mounts one from its own namespace and
    /// never reads application Secrets.
    pub docker_config: Option<PathBuf>,
    /// How long a verdict is reused before the registry is asked again. A signature
    /// added or removed meanwhile is seen only after this time.
    pub ttl: Duration,
    /// A Sigstore `trusted_root.json` (Fulcio CAs, Rekor logs) keyless signatures are
    /// verified against; `None` means keyless signatures cannot be verified.
    pub trusted_root: Option<PathBuf>,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            docker_config: None,
            ttl: DEFAULT_TTL,
            trusted_root: None,
        }
    }
}
