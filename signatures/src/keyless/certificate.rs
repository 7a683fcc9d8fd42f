//! The Fulcio signing certificate: what it says (subject, issuer, GitHub workflow,
//! validity, key) and whether it chains to a trusted Fulcio CA.

use std::collections::BTreeMap;

use rustls_pki_types::{CertificateDer, UnixTime};
use sigstore::crypto::CosignVerificationKey;
use x509_parser::der_parser::der::parse_der_utf8string;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::refusal::Refusal;
use super::rfc3339;
use super::trust_root::TrustRoot;

/// Extended key usage `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), DER content octets:
/// Fulcio issues nothing else.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Fulcio's extension arc, <https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md>.
const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1.";
/// The OIDC issuer, as a raw string (deprecated, still written).
const ISSUER_V1: &str = "1";
/// The OIDC issuer, as a DER UTF8String.
const ISSUER_V2: &str = "8";

/// A parsed leaf certificate.
pub(super) struct Leaf<'a> {
    der: &'a [u8],
    pub(super) subject: String,
    pub(super) issuer: String,
    issuer_dn: String,
    not_before: i64,
    not_after: i64,
    /// Fulcio's extensions, by the last arc of their OID, as text.
    fulcio: BTreeMap<String, String>,
    spki: Vec<u8>,
}

impl<'a> Leaf<'a> {
    pub(super) fn parse(der: &'a [u8]) -> Result<Self, Refusal> {
        let malformed = |reason: String| Refusal::MalformedCertificate { reason };
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let subject = cert
            .subject_alternative_name()
            .map_err(|e| malformed(e.to_string()))?
            .and_then(|san| {
                san.value.general_names.iter().find_map(|name| match name {
                    GeneralName::URI(uri) => Some(uri.to_string()),
                    GeneralName::RFC822Name(email) => Some(email.to_string()),
                    _ => None,
                })
            })
            .unwrap_or_default();
        let fulcio: BTreeMap<String, String> = cert
            .extensions()
            .iter()
            .filter_map(|ext| {
                let oid = ext.oid.to_id_string();
                let arc = oid.strip_prefix(FULCIO_ARC)?;
                Some((arc.to_string(), extension_text(arc, ext.value)))
            })
            .collect();
        let issuer = [ISSUER_V2, ISSUER_V1]
            .iter()
            .find_map(|arc| fulcio.get(*arc).cloned())
            .unwrap_or_default();
        Ok(Leaf {
            der,
            subject,
            issuer,
            issuer_dn: cert.issuer().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            fulcio,
            spki: cert.public_key().raw.to_vec(),
        })
    }

    /// A Fulcio extension's value, by the last arc of its OID.
    pub(super) fn extension(&self, arc: &str) -> Option<&str> {
        self.fulcio.get(arc).map(String::as_str)
    }

    /// The certificate's key, to verify the signature with.
    pub(super) fn key(&self) -> Result<CosignVerificationKey, Refusal> {
        CosignVerificationKey::try_from_der(&self.spki).map_err(|e| Refusal::MalformedCertificate {
            reason: e.to_string(),
        })
    }

    /// The certificate's DER bytes.
    pub(super) fn der(&self) -> &[u8] {
        self.der
    }

    /// Fulcio certificates live minutes: this one must have been valid at the
    /// (log-signed) time the signature was recorded, not now.
    pub(super) fn check_valid_at(&self, integrated_time: i64) -> Result<(), Refusal> {
        if (self.not_before..=self.not_after).contains(&integrated_time) {
            return Ok(());
        }
        Err(Refusal::CertificateExpired {
            not_before: rfc3339(self.not_before),
            not_after: rfc3339(self.not_after),
            integrated_time: rfc3339(integrated_time),
        })
    }

    /// Finds a Fulcio CA of `trust`, trusted at `integrated_time`, that the certificate
    /// chains to (through the CA's own intermediates and any the signature carries), for
    /// code signing, with every certificate of the path valid at that time.
    pub(super) fn check_chain(
        &self,
        carried: &[CertificateDer<'_>],
        trust: &TrustRoot,
        integrated_time: i64,
    ) -> Result<(), Refusal> {
        let der = CertificateDer::from(self.der);
        let leaf =
            webpki::EndEntityCert::try_from(&der).map_err(|e| Refusal::MalformedCertificate {
                reason: e.to_string(),
            })?;
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(integrated_time).unwrap_or_default(),
        ));
        let mut reason = "no CA of the trust root was trusted then".to_string();
        for authority in trust
            .authorities
            .iter()
            .filter(|a| a.valid.contains(integrated_time))
        {
            let intermediates: Vec<CertificateDer<'_>> = authority
                .intermediates
                .iter()
                .chain(carried)
                .cloned()
                .collect();
            match leaf.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                std::slice::from_ref(&authority.anchor),
                &intermediates,
                time,
                webpki::KeyUsage::required(CODE_SIGNING),
                None,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(err) => reason = format!("{}: {}", authority.name, chain_failure(&err)),
            }
        }
        Err(Refusal::UntrustedChain {
            issuer: self.issuer_dn.clone(),
            integrated_time: rfc3339(integrated_time),
            reason,
        })
    }
}

/// Why no path leads from the leaf to a CA, in words: webpki's errors print as Rust
/// debug forms, which name neither the certificate nor what to fix.
fn chain_failure(err: &webpki::Error) -> String {
    use webpki::Error as E;
    match err {
        E::UnknownIssuer => "no path leads to it".to_string(),
        // Also what a chain carried up to a foreign root ends in: that root, tried as
        // an intermediate, is not allowed for code signing.
        E::RequiredEkuNotFoundContext(_) => {
            "no path leads to it through certificates allowed for code signing".to_string()
        }
        E::CertExpired { .. } | E::CertNotValidYet { .. } => {
            "a certificate on the path was not valid at that time".to_string()
        }
        E::InvalidSignatureForPublicKey => {
            "a certificate on the path is not signed by its issuer".to_string()
        }
        other => format!("{other:?}"),
    }
}

/// Fulcio writes its first extensions (.1 to .6) as raw bytes and the later ones as
/// DER UTF8Strings.
fn extension_text(arc: &str, value: &[u8]) -> String {
    let raw = || String::from_utf8_lossy(value).into_owned();
    match arc.parse::<u32>() {
        Ok(1..=6) => raw(),
        _ => parse_der_utf8string(value)
            .ok()
            .and_then(|(_, obj)| obj.as_str().ok().map(str::to_string))
            .unwrap_or_else(raw),
    }
}
