//! Keyless signatures: a short-lived Fulcio certificate for the signer's OIDC identity,
//! recorded in Rekor, verified offline against a `trusted_root.json`.
//!
//! [`verify`] checks, in this order (the first failure is the [`Refusal`]):
//! 1. the material carries a certificate (a public key hint is a key-based signature)
//!    and exactly one Rekor entry;
//! 2. the entry was made by a log of the trust root whose key was valid at the entry's
//!    integrated time, and its **signed entry timestamp** verifies with that key (this
//!    is what makes the integrated time trustworthy offline); when the entry also
//!    carries an **inclusion proof**, the proof's checkpoint is signed by the same log,
//!    names the proof's tree, and the entry hashes up to its root;
//! 3. the leaf certificate was valid at the integrated time;
//! 4. the leaf **chains to a Fulcio CA** of the trust root that was trusted at that
//!    time, for code signing, through the CA's intermediates and any the signature
//!    carries;
//! 5. the **signature** verifies with the leaf's key: over the message, or over the
//!    DSSE pre-authentication encoding of the envelope's payload;
//! 6. the entry's body **records this signature**: a `hashedrekord` 0.0.1 with the
//!    message's SHA-256, or a `dsse` 0.0.1 with the payload's SHA-256; the same
//!    signature bytes; the same certificate;
//! 7. the certificate's **identity** (subject alternative name, OIDC issuer from
//!    Fulcio's extension `.1.8`, or `.1.1` in older certificates, and the GitHub
//!    workflow extensions a policy names) is one of the trusted identities.
//!
//! What the signature is *about* is the caller's: a legacy simple-signing payload or
//! an in-toto statement must name the image digest; this module proves who signed
//! those bytes, and when.
//!
//! ## sigstore-rs (0.15): used where it fits
//!
//! Used: [`sigstore::crypto::CosignVerificationKey`] for every signature (leaf, SET,
//! checkpoint; ECDSA P-256/P-384, RSA, Ed25519), [`sigstore::rekor::models::InclusionProof::verify`]
//! with its [`SignedCheckpoint`](sigstore::rekor::models::checkpoint::SignedCheckpoint)
//! parser for the inclusion proof, the checkpoint signature and their agreement (RFC 6962
//! hashing), the `cosign::bundle` types for the legacy layout's Rekor bundle and its SET
//! payload, and the `sigstore_protobuf_specs` types for `trusted_root.json` and bundles.
//!
//! Not used, and why:
//! - `sigstore::bundle::verify::Verifier`: it does not verify the signed entry timestamp
//!   or the inclusion proof (both are `TODO(sigstore-rs#285)` in 0.15), so a forged
//!   Rekor entry would pass; it requires an embedded SCT checked against CT log keys
//!   (a test CA would have to run a CT log); it takes a whole `Bundle`, while the
//!   legacy layout has annotations; its identity policy matches the issuer only in the
//!   deprecated `.1.1` extension, has no regular expressions, and its errors
//!   ("certificate verification failed") do not say which identity was found.
//! - `sigstore::trust::sigstore::SigstoreTrustRoot` (feature `sigstore-trust-root`):
//!   it pulls `tough`, a TUF client with network access the guard must not have; the
//!   file is parsed here with the same protobuf types.
//! - `CertificatePool` and the DSSE pre-authentication encoding are crate-private in
//!   sigstore-rs: the chain is built with `rustls-webpki` as sigstore-rs does, and the
//!   encoding is the three-line DSSE v1 definition.
//!
//! Not checked: the certificate's embedded SCT (certificate transparency), as
//! cosign's `--insecure-ignore-sct`; RFC 3161 timestamp-authority countersignatures
//! (an entry without a signed entry timestamp is refused); Rekor v2 entries
//! (`hashedrekord` 0.0.2, whose time comes only from a timestamp authority).

mod annotations;
mod certificate;
mod identity;
mod log_entry;
mod refusal;
mod trust_root;

use policy::crd::TrustedIdentity;
use rustls_pki_types::CertificateDer;
use sigstore::crypto::Signature;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{
    VerificationMaterial, verification_material,
};
use sigstore_protobuf_specs::io::intoto::Envelope;

pub use annotations::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, material_from_cosign_annotations,
};
pub use refusal::{Error, Refusal, Result};
pub use trust_root::TrustRoot;

use certificate::Leaf;
use log_entry::{Recorded, sha256};

/// What was signed, so that the signature and the log entry are checked against it.
#[derive(Clone, Copy, Debug)]
pub enum SignedContent<'a> {
    /// A plain signature over `message`: the legacy layer's simple-signing payload, or a
    /// bundle's `messageSignature` artifact.
    Message {
        /// The signed bytes.
        message: &'a [u8],
        /// The raw signature (not base64).
        signature: &'a [u8],
    },
    /// A bundle's DSSE envelope (its one signature is the one checked).
    Dsse {
        /// The envelope.
        envelope: &'a Envelope,
    },
}

/// Who signed, once verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The trusted identity's name in the policy.
    pub identity: String,
    /// The certificate's subject (email or URI).
    pub subject: String,
    /// The certificate's OIDC issuer.
    pub issuer: String,
    /// When the log recorded the signature (RFC 3339).
    pub integrated_time: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (subject {}, issuer {})",
            self.identity, self.subject, self.issuer
        )
    }
}

/// Verifies a keyless signature offline (see the module documentation for each check)
/// and names the trusted identity that signed.
pub fn verify(
    material: &VerificationMaterial,
    content: SignedContent<'_>,
    trust: &TrustRoot,
    identities: &[TrustedIdentity],
) -> Result<Signer, Refusal> {
    let certificates: Vec<&[u8]> = match &material.content {
        Some(verification_material::Content::X509CertificateChain(chain)) => chain
            .certificates
            .iter()
            .map(|c| c.raw_bytes.as_slice())
            .collect(),
        Some(verification_material::Content::Certificate(leaf)) => vec![leaf.raw_bytes.as_slice()],
        Some(verification_material::Content::PublicKey(_)) => return Err(Refusal::NotKeyless),
        None => return Err(Refusal::NoCertificate),
    };
    let (leaf_der, carried) = certificates.split_first().ok_or(Refusal::NoCertificate)?;
    let leaf = Leaf::parse(leaf_der)?;
    let [entry] = material.tlog_entries.as_slice() else {
        return Err(Refusal::LogEntries {
            count: material.tlog_entries.len(),
        });
    };

    log_entry::authenticate(entry, trust)?;
    leaf.check_valid_at(entry.integrated_time)?;
    let carried: Vec<CertificateDer<'_>> = carried
        .iter()
        .map(|der| CertificateDer::from(*der))
        .collect();
    leaf.check_chain(&carried, trust, entry.integrated_time)?;

    let (signed, signature, recorded) = match content {
        SignedContent::Message { message, signature } => (
            message.to_vec(),
            signature,
            Recorded::Message {
                digest: sha256(message),
            },
        ),
        SignedContent::Dsse { envelope } => {
            let [only] = envelope.signatures.as_slice() else {
                return Err(Refusal::DsseSignatures {
                    count: envelope.signatures.len(),
                });
            };
            (
                pae(&envelope.payload_type, &envelope.payload),
                only.sig.as_slice(),
                Recorded::Dsse {
                    payload_digest: sha256(&envelope.payload),
                },
            )
        }
    };
    leaf.key()?
        .verify_signature(Signature::Raw(signature), &signed)
        .map_err(|_| Refusal::Signature)?;
    log_entry::check_binding(&entry.canonicalized_body, &recorded, signature, leaf.der())?;

    let identity = identity::matching(&leaf, identities)?;
    Ok(Signer {
        identity: identity.name.clone(),
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
        integrated_time: rfc3339(entry.integrated_time),
    })
}

/// The DSSE v1 pre-authentication encoding, what an envelope's signature signs
/// (<https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>).
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut encoded = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    encoded.extend_from_slice(payload);
    encoded
}

/// Unix seconds as RFC 3339, for messages.
fn rfc3339(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map_or_else(|_| format!("{unix_seconds} (Unix time)"), |t| t.to_string())
}
