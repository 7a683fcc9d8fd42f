//! The serving certificate: loaded from PEM files, and reloaded without a restart
//! when they change on disk, as when cert-manager rotates a mounted Secret.
//!
//! A Secret volume changes by swapping a symlink, so the files are re-read through
//! their paths on a short interval rather than watched by inode. A new pair is served
//! once it loads as a matching certificate and key; until then (half-written files,
//! a key that does not fit) the old pair stays and the problem is logged once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// A certificate and key as PEM bytes, as found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemPair {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// Where the certificate and key live.
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl CertificateFiles {
    /// Reads both files.
    pub fn read(&self) -> Result<PemPair> {
        let read = |path: &Path| std::fs::read(path).map_err(|err| self.error(err.to_string()));
        Ok(PemPair {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
        })
    }

    fn error(&self, reason: String) -> Error {
        Error::Tls {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason,
        }
    }

    /// Reads and loads the pair.
    pub fn load(&self) -> Result<(PemPair, Certificate)> {
        let pem = self.read()?;
        let certificate = Certificate::from_pem(&pem).map_err(|reason| self.error(reason))?;
        Ok((pem, certificate))
    }
}

/// A loaded serving certificate.
pub struct Certificate {
    /// The TLS configuration serving it.
    pub config: Arc<ServerConfig>,
    /// Its notAfter, in Unix seconds.
    pub not_after: i64,
}

impl Certificate {
    /// Loads a certificate chain and its key: TLS 1.3 and 1.2 only, HTTP/2 and HTTP/1.1.
    pub fn from_pem(pem: &PemPair) -> Result<Self, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem.cert)
            .collect::<Result<_, _>>()
            .map_err(|err| format!("the certificate file is not PEM: {err}"))?;
        let leaf = chain
            .first()
            .ok_or("the certificate file holds no CERTIFICATE block")?;
        let not_after = x509_parser::parse_x509_certificate(leaf)
            .map_err(|err| format!("the certificate does not parse: {err}"))?
            .1
            .validity()
            .not_after
            .timestamp();
        let key = PrivateKeyDer::from_pem_slice(&pem.key)
            .map_err(|err| format!("the key file holds no usable private key: {err}"))?;
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|err| err.to_string())?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|err| format!("the key does not fit the certificate: {err}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Certificate {
            config: Arc::new(config),
            not_after,
        })
    }
}

/// Re-reads `files` every `interval` and serves a changed pair once it loads. Runs
/// until dropped. `serving` is the pair `config` serves now.
pub async fn reload_on_change(
    files: CertificateFiles,
    mut serving: PemPair,
    config: RustlsConfig,
    metrics: Arc<Metrics>,
    interval: Duration,
) {
    let mut rejected: Option<PemPair> = None;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let on_disk = match files.read() {
            Ok(pem) => pem,
            // Mid-swap a file may be briefly missing: look again next tick.
            Err(err) => {
                tracing::debug!(error = %err, "certificate files unreadable");
                continue;
            }
        };
        if on_disk == serving || rejected.as_ref() == Some(&on_disk) {
            continue;
        }
        match Certificate::from_pem(&on_disk) {
            Ok(certificate) => {
                config.reload_from_config(certificate.config);
                metrics.set_certificate_expiry(certificate.not_after);
                tracing::info!(
                    not_after = certificate.not_after,
                    "serving a new certificate"
                );
                serving = on_disk;
                rejected = None;
            }
            Err(reason) => {
                tracing::warn!(error = %files.error(reason), "new certificate not loaded; still serving the previous one");
                rejected = Some(on_disk);
            }
        }
    }
}
