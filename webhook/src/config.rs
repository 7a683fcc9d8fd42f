//! The guard's settings: what `bluegreen-guard` reads from its flags, and what tests
//! build directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use policy::duration::{DurationError, parse_std_duration};

/// How the guard serves admission reviews.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// HTTPS address for AdmissionReviews (`POST /validate`).
    #[arg(long, env = "BLUEGREEN_GUARD_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Plain-HTTP address for `/healthz`, `/readyz` and `/metrics`.
    #[arg(
        long,
        env = "BLUEGREEN_GUARD_PROBE_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub probe_listen: SocketAddr,
    /// PEM certificate chain served to the API server; reloaded when it changes on disk.
    #[arg(long, env = "BLUEGREEN_GUARD_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// PEM private key of the certificate; reloaded when it changes on disk.
    #[arg(long, env = "BLUEGREEN_GUARD_TLS_KEY")]
    pub tls_key: PathBuf,
    /// How often the certificate files are checked for rotation.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,
    /// What to answer before every cache of cluster state has synced.
    #[arg(long, value_enum, default_value_t = Unsynced::Deny)]
    pub unsynced: Unsynced,
    /// Deadline for one request, body included; keep it below the webhook's timeoutSeconds.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// How long in-flight reviews may take to finish after SIGTERM.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// BG006 image verification.
    #[command(flatten)]
    pub images: ImageConfig,
}

/// How the guard verifies image signatures (BG006), when a BlueGreenPolicy names
/// trusted keys.
#[derive(Clone, Debug, clap::Args)]
pub struct ImageConfig {
    /// Budget for the registry work of one review; a registry slower than this gives a
    /// refusal naming it. Keep it below the webhook's timeoutSeconds.
    #[arg(long = "image-verify-timeout", default_value = "2s", value_parser = parse_duration)]
    pub verify_timeout: Duration,
    /// How long a verification result is reused before the registry is asked again.
    #[arg(long = "image-cache-ttl", default_value = "10m", value_parser = parse_duration)]
    pub cache_ttl: Duration,
    /// A registry (`HOST:PORT`, as image references write it) reached over plain HTTP;
    /// repeatable. Every other registry is reached over HTTPS.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// A docker config.json with registry credentials, mounted from a Secret in the
    /// guard's own namespace; without it registries are read anonymously.
    #[arg(long = "registry-config", value_name = "PATH")]
    pub registry_config: Option<PathBuf>,
    /// A Sigstore trusted_root.json (Fulcio CAs, Rekor logs) to verify keyless
    /// signatures against, for policies with trustedIdentities; mounted from a ConfigMap.
    #[arg(long = "trusted-root", value_name = "PATH")]
    pub trusted_root: Option<PathBuf>,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            verify_timeout: Duration::from_secs(2),
            cache_ttl: signatures::DEFAULT_TTL,
            insecure_registries: Vec::new(),
            registry_config: None,
            trusted_root: None,
        }
    }
}

impl ImageConfig {
    /// The [`signatures::Verifier`] settings these flags describe.
    pub fn verifier_config(&self) -> signatures::VerifierConfig {
        signatures::VerifierConfig {
            insecure_registries: self.insecure_registries.clone(),
            docker_config: self.registry_config.clone(),
            ttl: self.cache_ttl,
            trusted_root: self.trusted_root.clone(),
        }
    }
}

/// The answer to reviews the guard cannot judge yet because its caches are syncing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Unsynced {
    /// Refuse them, saying why (safe: nothing unchecked gets through).
    #[default]
    Deny,
    /// Allow them (available: a restart never blocks releases).
    Allow,
}

/// Parses `5s`, `1m30s`, `250ms` (and ISO 8601 `PT5S`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_std_duration(text).map_err(|err| match err {
        DurationError::Invalid(reason) => {
            format!("{text:?} is not a duration like 5s or 250ms: {reason}")
        }
        DurationError::Negative => format!("{text:?} is negative"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl_flags() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("soon").is_err());
    }
}
