//! The keyless material of a signature in cosign's legacy layout (a `.sig` image whose
//! layer annotations carry the certificate, its chain and the Rekor bundle), as the
//! same [`VerificationMaterial`] a Sigstore bundle carries.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sigstore::cosign::bundle::Bundle as RekorBundle;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{
    VerificationMaterial, verification_material,
};
use sigstore_protobuf_specs::dev::sigstore::common::v1::{
    LogId, X509Certificate, X509CertificateChain,
};
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::{InclusionPromise, TransparencyLogEntry};

use super::refusal::Refusal;

/// The leaf certificate, PEM.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The rest of the chain up to the root, PEM.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The Rekor bundle: signed entry timestamp and the entry it signs.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// The layer's keyless material, or `None` when it carries no certificate (a key-based
/// signature). Certificates come leaf first; the Rekor bundle becomes the one log
/// entry, with its inclusion promise (cosign's legacy layout has no inclusion proof).
pub fn material_from_cosign_annotations(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<VerificationMaterial>, Refusal> {
    let Some(leaf) = annotations.get(CERTIFICATE_ANNOTATION) else {
        return Ok(None);
    };
    let mut certificates = certificates(CERTIFICATE_ANNOTATION, leaf)?;
    if let Some(chain) = annotations.get(CHAIN_ANNOTATION) {
        certificates.extend(self::certificates(CHAIN_ANNOTATION, chain)?);
    }
    let tlog_entries = annotations
        .get(BUNDLE_ANNOTATION)
        .map(|bundle| log_entry(bundle))
        .transpose()?
        .into_iter()
        .collect();
    Ok(Some(VerificationMaterial {
        content: Some(verification_material::Content::X509CertificateChain(
            X509CertificateChain { certificates },
        )),
        tlog_entries,
        timestamp_verification_data: None,
    }))
}

fn certificates(annotation: &'static str, pem: &str) -> Result<Vec<X509Certificate>, Refusal> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|der| {
            der.map(|der| X509Certificate {
                raw_bytes: der.to_vec(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Refusal::MalformedAnnotation {
            annotation,
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(Refusal::MalformedAnnotation {
            annotation,
            reason: "no PEM certificate".to_string(),
        });
    }
    Ok(certificates)
}

fn log_entry(bundle: &str) -> Result<TransparencyLogEntry, Refusal> {
    let malformed = |reason: String| Refusal::MalformedAnnotation {
        annotation: BUNDLE_ANNOTATION,
        reason,
    };
    let bundle: RekorBundle = serde_json::from_str(bundle).map_err(|e| malformed(e.to_string()))?;
    let decode = |what: &str, b64: &str| {
        STANDARD
            .decode(b64)
            .map_err(|e| malformed(format!("{what} is not base64 ({e})")))
    };
    Ok(TransparencyLogEntry {
        log_index: bundle.payload.log_index,
        log_id: Some(LogId {
            key_id: hex::decode(&bundle.payload.log_id)
                .map_err(|e| malformed(format!("logID is not hex ({e})")))?,
        }),
        integrated_time: bundle.payload.integrated_time,
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp: decode("SignedEntryTimestamp", &bundle.signed_entry_timestamp)?,
        }),
        canonicalized_body: decode("body", &bundle.payload.body)?,
        ..TransparencyLogEntry::default()
    })
}
