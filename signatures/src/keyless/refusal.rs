//! Why a keyless signature is not trusted ([`Refusal`], said to the person releasing),
//! and why keyless material cannot be used at all ([`Error`], said to whoever set it up).

use std::path::PathBuf;

/// Why a keyless signature is refused. Each message says what was expected and what
/// was found, for a BG006 finding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The verification material is a public key hint: a key-based signature.
    #[error(
        "the signature names a public key, not a certificate: it is key-based and verified with trustedKeys"
    )]
    NotKeyless,
    /// A cosign signature layer's keyless annotations are malformed.
    #[error("the signature layer's {annotation} annotation is malformed ({reason})")]
    MalformedAnnotation {
        /// The annotation's key.
        annotation: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The verification material holds no certificate.
    #[error("the signature carries no signing certificate")]
    NoCertificate,
    /// The leaf certificate does not parse.
    #[error("the signing certificate does not parse ({reason})")]
    MalformedCertificate {
        /// The parser's reason.
        reason: String,
    },
    /// No Rekor entry, or more than one.
    #[error(
        "the signature has {count} Rekor entries; a keyless signature is trusted offline only with exactly one (sign with the transparency log on, cosign's default)"
    )]
    LogEntries {
        /// How many there are.
        count: usize,
    },
    /// The entry's log is not in the trust root.
    #[error(
        "the Rekor entry was made by log {log_id}, which the trust root does not name; add that log to trusted_root.json or sign with a Rekor it names"
    )]
    UnknownLog {
        /// The log ID (hex SHA-256 of its key).
        log_id: String,
    },
    /// The log's key was not valid at the integrated time.
    #[error(
        "the Rekor entry was integrated at {integrated_time}, outside the validity of log {log}'s key in the trust root"
    )]
    LogKeyNotValid {
        /// The log's URL.
        log: String,
        /// When the entry was integrated (RFC 3339).
        integrated_time: String,
    },
    /// No signed entry timestamp: the integrated time cannot be trusted offline.
    #[error(
        "the Rekor entry has no signed entry timestamp, so the signing time cannot be established offline (timestamp-authority countersignatures are not supported)"
    )]
    NoSignedEntryTimestamp,
    /// The signed entry timestamp does not verify.
    #[error(
        "the Rekor entry's signed entry timestamp does not verify with the key of log {log}: the entry or its time was altered"
    )]
    SignedEntryTimestamp {
        /// The log's URL.
        log: String,
    },
    /// The inclusion proof or its checkpoint does not verify.
    #[error("the Rekor entry's inclusion proof does not verify for log {log}: {reason}")]
    InclusionProof {
        /// The log's URL.
        log: String,
        /// Which part failed.
        reason: String,
    },
    /// The leaf certificate was not valid at the integrated time.
    #[error(
        "the signing certificate was not valid when the Rekor entry was made: valid from {not_before} to {not_after}, entry integrated at {integrated_time}"
    )]
    CertificateExpired {
        /// Start of validity (RFC 3339).
        not_before: String,
        /// End of validity (RFC 3339).
        not_after: String,
        /// When the entry was integrated (RFC 3339).
        integrated_time: String,
    },
    /// The certificate does not chain to a trusted Fulcio CA.
    #[error(
        "the signing certificate (issuer {issuer}) does not chain to a Fulcio CA of the trust root valid at {integrated_time} ({reason})"
    )]
    UntrustedChain {
        /// The leaf's issuer DN.
        issuer: String,
        /// When the entry was integrated (RFC 3339).
        integrated_time: String,
        /// The path builder's last reason.
        reason: String,
    },
    /// A DSSE envelope without exactly one signature.
    #[error(
        "the DSSE envelope has {count} signatures; a Sigstore bundle's envelope has exactly one"
    )]
    DsseSignatures {
        /// How many it has.
        count: usize,
    },
    /// The signature does not verify with the certificate's key.
    #[error(
        "the signature does not verify with the signing certificate's key: the signed payload or the signature was altered"
    )]
    Signature,
    /// The Rekor entry is of a kind that cannot record this signature.
    #[error("the Rekor entry is a {found} entry; {content} is recorded as a {expected} entry")]
    EntryKind {
        /// `kind apiVersion` found.
        found: String,
        /// What was signed.
        content: &'static str,
        /// `kind apiVersion` expected.
        expected: &'static str,
    },
    /// The Rekor entry records another signature, certificate or digest.
    #[error(
        "the Rekor entry records another {what} than this signature carries: the entry was made for another signature"
    )]
    EntryMismatch {
        /// What differs.
        what: &'static str,
    },
    /// Verified, but signed by an identity the policy does not trust.
    #[error("signed by {found}; the policy trusts {expected}")]
    Identity {
        /// The certificate's subject and issuer, and the workflow detail that differs
        /// from an identity whose subject and issuer match.
        found: String,
        /// The trusted identities, described.
        expected: String,
    },
}

/// Why keyless material cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The trust root file cannot be read.
    #[error("cannot read the trust root {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The trust root is not a usable `trusted_root.json`.
    #[error(
        "the trust root {origin} is not a usable Sigstore trusted_root.json: {reason}; give the file `cosign trusted-root create` writes, or the one the Sigstore TUF repository serves"
    )]
    TrustRoot {
        /// The file, or `(bytes)`.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// Results of keyless set-up.
pub type Result<T, E = Error> = std::result::Result<T, E>;
