//! The trust root of keyless verification, from a Sigstore `trusted_root.json`: the
//! Fulcio CAs that issue signing certificates and the Rekor logs that record
//! signatures, each with the time span it is trusted for.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use rustls_pki_types::{CertificateDer, TrustAnchor};
use sigstore::crypto::CosignVerificationKey;
use sigstore_protobuf_specs::dev::sigstore::common::v1::{DistinguishedName, TimeRange};
use sigstore_protobuf_specs::dev::sigstore::trustroot::v1::{
    CertificateAuthority, TransparencyLogInstance, TrustedRoot,
};

use super::refusal::{Error, Result};

/// The Fulcio CAs and Rekor logs keyless signatures are verified against, offline.
///
/// Timestamp authorities and certificate transparency logs of the file are not used:
/// the signing time comes from the Rekor entry, and a certificate's SCT is not checked
/// (see the module documentation).
pub struct TrustRoot {
    pub(super) authorities: Vec<Authority>,
    /// By log ID: the SHA-256 of the log's public key, as Rekor entries name their log.
    pub(super) logs: BTreeMap<Vec<u8>, Log>,
}

/// A Fulcio CA: its root as the anchor, its intermediates, and when it issued.
pub(super) struct Authority {
    pub(super) name: String,
    pub(super) anchor: TrustAnchor<'static>,
    pub(super) intermediates: Vec<CertificateDer<'static>>,
    pub(super) valid: Validity,
}

/// A Rekor log's key and when it signed.
pub(super) struct Log {
    pub(super) url: String,
    pub(super) key: CosignVerificationKey,
    pub(super) valid: Validity,
}

/// A span of Unix seconds; an open end is unbounded.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Validity {
    start: Option<i64>,
    end: Option<i64>,
}

impl Validity {
    fn of(range: Option<&TimeRange>) -> Self {
        Validity {
            start: range.and_then(|r| r.start.as_ref()).map(|t| t.seconds),
            end: range.and_then(|r| r.end.as_ref()).map(|t| t.seconds),
        }
    }

    pub(super) fn contains(&self, unix_seconds: i64) -> bool {
        self.start.is_none_or(|start| start <= unix_seconds)
            && self.end.is_none_or(|end| unix_seconds <= end)
    }
}

impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoot")
            .field(
                "authorities",
                &self.authorities.iter().map(|a| &a.name).collect::<Vec<_>>(),
            )
            .field(
                "logs",
                &self.logs.values().map(|l| &l.url).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TrustRoot {
    /// Reads a `trusted_root.json` file (the guard's and the plugin's `--trusted-root`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&bytes).map_err(|reason| Error::TrustRoot {
            origin: path.display().to_string(),
            reason,
        })
    }

    /// Parses a `trusted_root.json` (media type
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1` or `…v0.2+json`).
    pub fn from_trusted_root_json(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes).map_err(|reason| Error::TrustRoot {
            origin: "(bytes)".to_string(),
            reason,
        })
    }

    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let root: TrustedRoot = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let authorities = root
            .certificate_authorities
            .iter()
            .enumerate()
            .map(|(index, ca)| {
                Authority::parse(ca)
                    .map_err(|why| format!("certificateAuthorities[{index}]: {why}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if authorities.is_empty() {
            return Err("it names no certificate authority (Fulcio)".to_string());
        }
        let logs: BTreeMap<Vec<u8>, Log> = root.tlogs.iter().filter_map(Log::parse).collect();
        if logs.is_empty() {
            return Err("it names no transparency log (Rekor) with a usable key".to_string());
        }
        Ok(TrustRoot { authorities, logs })
    }
}

impl Authority {
    fn parse(ca: &CertificateAuthority) -> Result<Self, String> {
        let chain: Vec<CertificateDer<'static>> = ca
            .cert_chain
            .iter()
            .flat_map(|chain| &chain.certificates)
            .map(|cert| CertificateDer::from(cert.raw_bytes.clone()))
            .collect();
        // The chain is leaf-first: the last certificate is the CA's root.
        let Some((root, intermediates)) = chain.split_last() else {
            return Err("certChain holds no certificate".to_string());
        };
        let anchor = webpki::anchor_from_trusted_cert(root)
            .map_err(|e| format!("its root certificate does not parse ({e})"))?
            .to_owned();
        Ok(Authority {
            name: describe_name(ca.subject.as_ref(), &ca.uri),
            anchor,
            intermediates: intermediates.to_vec(),
            valid: Validity::of(ca.valid_for.as_ref()),
        })
    }
}

impl Log {
    /// The log by its ID, or `None` (with a warning) when its key cannot be used: a
    /// trust root lists logs of kinds this verifier does not read (e.g. Rekor v2 with
    /// Ed25519 checkpoints), and they must not make the whole file unusable.
    fn parse(log: &TransparencyLogInstance) -> Option<(Vec<u8>, Self)> {
        let key_id = log.log_id.as_ref()?.key_id.clone();
        let public_key = log.public_key.as_ref()?;
        let key = match CosignVerificationKey::try_from_der(public_key.raw_bytes.as_deref()?) {
            Ok(key) => key,
            Err(err) => {
                tracing::warn!(log = log.base_url, %err, "ignoring a transparency log of the trust root whose key cannot be used");
                return None;
            }
        };
        Some((
            key_id,
            Log {
                url: log.base_url.clone(),
                key,
                valid: Validity::of(public_key.valid_for.as_ref()),
            },
        ))
    }
}

/// `O=sigstore.dev, CN=sigstore`, or the CA's URI when the file gives no subject.
fn describe_name(subject: Option<&DistinguishedName>, uri: &str) -> String {
    match subject {
        Some(DistinguishedName {
            organization,
            common_name,
        }) => format!("O={organization}, CN={common_name}"),
        None => uri.to_string(),
    }
}
