//! The Rekor entry of a keyless signature, checked offline: made by a trusted log
//! (signed entry timestamp, and the inclusion proof against its signed checkpoint when
//! the entry carries one), and recording this very signature and certificate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sigstore::cosign::bundle::Payload;
use sigstore::crypto::Signature;
use sigstore::errors::SigstoreError;
use sigstore::rekor::models::InclusionProof;
use sigstore::rekor::models::checkpoint::SignedCheckpoint;
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::TransparencyLogEntry;

use super::refusal::Refusal;
use super::rfc3339;
use super::trust_root::{Log, TrustRoot};

/// Shows that `entry` was made by a log of `trust`: the log's key was valid at the
/// entry's integrated time, the signed entry timestamp (which covers the body, the time
/// and the index) verifies, and so does the inclusion proof, if any.
pub(super) fn authenticate(entry: &TransparencyLogEntry, trust: &TrustRoot) -> Result<(), Refusal> {
    let log_id = entry
        .log_id
        .as_ref()
        .map(|id| id.key_id.as_slice())
        .unwrap_or_default();
    let log = trust.logs.get(log_id).ok_or_else(|| Refusal::UnknownLog {
        log_id: hex::encode(log_id),
    })?;
    if !log.valid.contains(entry.integrated_time) {
        return Err(Refusal::LogKeyNotValid {
            log: log.url.clone(),
            integrated_time: rfc3339(entry.integrated_time),
        });
    }
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or(Refusal::NoSignedEntryTimestamp)?;
    // What Rekor signs: the canonical JSON of body, time, index and log ID.
    let signed = serde_json_canonicalizer::to_vec(&Payload {
        body: STANDARD.encode(&entry.canonicalized_body),
        integrated_time: entry.integrated_time,
        log_index: entry.log_index,
        log_id: hex::encode(log_id),
    })
    .map_err(|_| Refusal::SignedEntryTimestamp {
        log: log.url.clone(),
    })?;
    log.key
        .verify_signature(Signature::Raw(&promise.signed_entry_timestamp), &signed)
        .map_err(|_| Refusal::SignedEntryTimestamp {
            log: log.url.clone(),
        })?;
    if let Some(proof) = &entry.inclusion_proof {
        check_inclusion(proof, &entry.canonicalized_body, log)?;
    }
    Ok(())
}

/// The inclusion proof with its checkpoint, by sigstore-rs: the checkpoint is signed
/// by the log, names the proof's tree, and the entry hashes up to its root.
fn check_inclusion(
    proof: &sigstore_protobuf_specs::dev::sigstore::rekor::v1::InclusionProof,
    body: &[u8],
    log: &Log,
) -> Result<(), Refusal> {
    let refuse = |reason: &str| Refusal::InclusionProof {
        log: log.url.clone(),
        reason: reason.to_string(),
    };
    let hash =
        |bytes: &[u8]| <[u8; 32]>::try_from(bytes).map_err(|_| refuse("a hash is not 32 bytes"));
    let envelope = proof
        .checkpoint
        .as_ref()
        .ok_or_else(|| refuse("it has no checkpoint"))?;
    let checkpoint: SignedCheckpoint =
        serde_json::from_value(serde_json::Value::String(envelope.envelope.clone()))
            .map_err(|_| refuse("its checkpoint is not a signed note"))?;
    let proof = InclusionProof::new(
        proof.log_index,
        hash(&proof.root_hash)?,
        u64::try_from(proof.tree_size).map_err(|_| refuse("its tree size is negative"))?,
        proof
            .hashes
            .iter()
            .map(|h| hash(h))
            .collect::<Result<_, _>>()?,
        Some(checkpoint),
    );
    proof.verify(body, &log.key).map_err(|err| {
        refuse(match err {
            SigstoreError::CheckpointSignatureVerificationError => {
                "the checkpoint is not signed by the log's key"
            }
            SigstoreError::ConsistencyProofError(_) => {
                "the proof's tree (size and root hash) is not the one the checkpoint signs"
            }
            _ => "the entry does not hash up to the checkpoint's root",
        })
    })
}

/// What was signed, as the Rekor entry must record it.
pub(super) enum Recorded {
    /// A `hashedrekord` 0.0.1 entry: the signature over a message with this SHA-256.
    Message { digest: [u8; 32] },
    /// A `dsse` 0.0.1 entry: the envelope's signature over a payload with this SHA-256.
    Dsse { payload_digest: [u8; 32] },
}

/// Checks that the entry's body records this signature, by this certificate, over
/// this content: without it, a valid entry of another signature could be presented.
pub(super) fn check_binding(
    body: &[u8],
    recorded: &Recorded,
    signature: &[u8],
    certificate: &[u8],
) -> Result<(), Refusal> {
    let (content, expected) = match recorded {
        Recorded::Message { .. } => ("a message signature", "hashedrekord 0.0.1"),
        Recorded::Dsse { .. } => ("a DSSE envelope", "dsse 0.0.1"),
    };
    let wrong_kind = |found: String| Refusal::EntryKind {
        found,
        content,
        expected,
    };
    let entry: Body =
        serde_json::from_slice(body).map_err(|_| wrong_kind("unreadable".to_string()))?;
    let kind = format!("{} {}", entry.kind, entry.api_version);
    if kind != expected {
        return Err(wrong_kind(kind));
    }
    let mismatch = |what| Refusal::EntryMismatch { what };
    let unreadable = |_| wrong_kind(format!("{kind} (unreadable)"));
    let (recorded_digest, recorded_signature, verifier, digest) = match recorded {
        Recorded::Message { digest } => {
            let spec: HashedrekordSpec = serde_json::from_value(entry.spec).map_err(unreadable)?;
            (
                spec.data.hash,
                spec.signature.content,
                spec.signature.public_key.content,
                digest,
            )
        }
        Recorded::Dsse { payload_digest } => {
            let spec: DsseSpec = serde_json::from_value(entry.spec).map_err(unreadable)?;
            let [only] = <[DsseSignature; 1]>::try_from(spec.signatures)
                .map_err(|_| mismatch("number of signatures"))?;
            (
                spec.payload_hash,
                only.signature,
                only.verifier,
                payload_digest,
            )
        }
    };
    if recorded_digest.algorithm != "sha256"
        || !recorded_digest
            .value
            .eq_ignore_ascii_case(&hex::encode(digest))
    {
        return Err(mismatch("payload digest"));
    }
    if STANDARD.decode(recorded_signature).ok().as_deref() != Some(signature) {
        return Err(mismatch("signature"));
    }
    // Rekor keeps the certificate as PEM (base64 again in the body); compared as DER,
    // since PEM line wrapping is the uploader's choice.
    let recorded_certificate = STANDARD
        .decode(verifier)
        .ok()
        .and_then(|pem| CertificateDer::from_pem_slice(&pem).ok());
    if recorded_certificate.as_deref() != Some(certificate) {
        return Err(mismatch("certificate"));
    }
    Ok(())
}

/// A Rekor v1 entry body; its spec is read once the kind is known.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    kind: String,
    api_version: String,
    spec: serde_json::Value,
}

/// `hashedrekord` 0.0.1: what cosign records for a signature over a payload.
#[derive(Deserialize)]
struct HashedrekordSpec {
    data: Data,
    signature: HashedrekordSignature,
}

/// `dsse` 0.0.1: what cosign records for a DSSE envelope. Its `envelopeHash` is not
/// compared: it hashes Rekor's own JSON encoding of the envelope, and the payload hash,
/// signature and verifier compared here already bind everything the envelope signs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    payload_hash: Hash,
    signatures: Vec<DsseSignature>,
}

#[derive(Deserialize)]
struct Data {
    hash: Hash,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedrekordSignature {
    content: String,
    public_key: Content,
}

#[derive(Deserialize)]
struct Content {
    content: String,
}

#[derive(Deserialize)]
struct DsseSignature {
    signature: String,
    verifier: String,
}

/// SHA-256 of `bytes`.
pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
