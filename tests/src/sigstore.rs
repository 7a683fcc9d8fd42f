//! A stand-in for Sigstore's public-good instance: a Fulcio-like CA (root and
//! intermediate) that certifies OIDC identities for minutes, and a Rekor-like log that
//! records signatures with a signed entry timestamp and an RFC 6962 inclusion proof
//! under a signed checkpoint. [`TestSigstore::trusted_root_json`] names both, as the
//! `trusted_root.json` a real deployment is given.
//!
//! Everything is generated per test; nothing touches the network. The formats are the
//! real ones (Fulcio's certificate extensions, Rekor's `hashedrekord` and `dsse` 0.0.1
//! bodies, the signed-note checkpoint, cosign's legacy layer annotations), so the
//! verifier cannot tell these from production material but for the keys.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SigningKey,
};
use sha2::{Digest as _, Sha256};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{
    VerificationMaterial, verification_material,
};
use sigstore_protobuf_specs::dev::sigstore::common::v1::{LogId, X509Certificate};
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::{
    Checkpoint, InclusionPromise, InclusionProof, KindVersion, TransparencyLogEntry,
};
use sigstore_protobuf_specs::io::intoto::{Envelope, Signature as DsseSignature};
use time::OffsetDateTime;

/// Fulcio's extension arc.
const FULCIO_ARC: [u64; 9] = [1, 3, 6, 1, 4, 1, 57264, 1, 0];
/// Other entries of the test log, so inclusion proofs have siblings on both sides.
const OTHER_ENTRIES: usize = 6;

/// The workload identity a certificate is issued to.
#[derive(Clone, Debug)]
pub struct FulcioIdentity {
    /// The SAN: a URI (`https://…`) or an email.
    pub subject: String,
    /// The OIDC issuer, written as Fulcio does in extensions `.1.1` and `.1.8`.
    pub issuer: String,
    /// Further Fulcio extensions as (last arc, value), e.g. GitHub's workflow details.
    pub extensions: Vec<(u64, String)>,
}

impl FulcioIdentity {
    /// A GitHub Actions release workflow of `repository` (`owner/name`) on `git_ref`,
    /// with the extensions Fulcio writes for one (`.1.2`–`.1.6` and their successors).
    pub fn github_workflow(repository: &str, git_ref: &str) -> Self {
        let sha = "2a6b879b7a5ef59d7fb348d0b5d14314538ac0a6";
        let url = format!("https://github.com/{repository}");
        Self {
            subject: format!("{url}/.github/workflows/release.yml@{git_ref}"),
            issuer: "https://token.actions.githubusercontent.com".to_string(),
            extensions: vec![
                (2, "push".to_string()),
                (3, sha.to_string()),
                (4, "Release".to_string()),
                (5, repository.to_string()),
                (6, git_ref.to_string()),
                (12, url),
                (13, sha.to_string()),
                (14, git_ref.to_string()),
                (20, "push".to_string()),
            ],
        }
    }

    /// A person signing with their email, as `cosign sign` in a browser does.
    pub fn email(email: &str, issuer: &str) -> Self {
        Self {
            subject: email.to_string(),
            issuer: issuer.to_string(),
            extensions: Vec::new(),
        }
    }
}

/// When a signature is made, and how long its certificate lives.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// The time the log records (Unix seconds).
    pub integrated_time: i64,
    /// The certificate's validity (Unix seconds).
    pub not_before: i64,
    /// The certificate's validity (Unix seconds).
    pub not_after: i64,
}

impl Timing {
    /// Now, with a ten-minute certificate issued a minute ago, as Fulcio does.
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Self {
            integrated_time: now,
            not_before: now - 60,
            not_after: now + 540,
        }
    }
}

/// A keyless signature with everything a verifier needs.
pub struct KeylessSignature {
    /// The raw signature over the message.
    pub signature: Vec<u8>,
    /// As a Sigstore bundle carries it: the leaf certificate and the log entry (signed
    /// entry timestamp and inclusion proof with checkpoint).
    pub material: VerificationMaterial,
    /// As cosign's legacy `.sig` layer carries it: `dev.sigstore.cosign/certificate`,
    /// `…/chain` and `…/bundle` (the signature itself goes in
    /// `dev.cosignproject.cosign/signature`, base64).
    pub annotations: BTreeMap<String, String>,
}

/// Who signs keylessly, through which test Fulcio and Rekor, and when: what an image
/// is signed with in either layout (`LocalRegistry::keyless_signed_image`).
#[derive(Clone, Copy)]
pub struct KeylessSigner<'a> {
    /// The CA and log.
    pub sigstore: &'a TestSigstore,
    /// The identity the certificate is issued to.
    pub identity: &'a FulcioIdentity,
    /// When.
    pub timing: Timing,
}

impl KeylessSigner<'_> {
    /// [`TestSigstore::sign_message_at`].
    pub fn sign_message(&self, message: &[u8]) -> KeylessSignature {
        self.sigstore
            .sign_message_at(message, self.identity, self.timing)
    }

    /// [`TestSigstore::sign_dsse_at`].
    pub fn sign_dsse(&self, payload_type: &str, payload: &[u8]) -> (Envelope, KeylessSignature) {
        self.sigstore
            .sign_dsse_at(payload_type, payload, self.identity, self.timing)
    }
}

/// A test Fulcio CA and Rekor log.
pub struct TestSigstore {
    name: String,
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    intermediate: Issuer<'static, KeyPair>,
    log_key: KeyPair,
    log_id: Vec<u8>,
    next_index: AtomicI64,
}

impl TestSigstore {
    /// A new CA and log; `name` tells several apart (`O=<name>, CN=<name>-root`, the
    /// log's origin).
    pub fn generate(name: &str) -> Self {
        let root_key = KeyPair::generate().expect("root key");
        let mut root = ca_params(&format!("{name}-root"), name, None);
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_cert = root.self_signed(&root_key).expect("root certificate");
        let root_issuer = Issuer::new(root, root_key);

        let intermediate_key = KeyPair::generate().expect("intermediate key");
        let intermediate = ca_params(
            &format!("{name}-intermediate"),
            name,
            Some(ExtendedKeyUsagePurpose::CodeSigning),
        );
        let intermediate_cert = intermediate
            .signed_by(&intermediate_key, &root_issuer)
            .expect("intermediate certificate");
        let log_key = KeyPair::generate().expect("log key");
        let log_id = Sha256::digest(log_key.subject_public_key_info()).to_vec();
        Self {
            name: name.to_string(),
            root_der: root_cert.der().to_vec(),
            intermediate_der: intermediate_cert.der().to_vec(),
            intermediate: Issuer::new(intermediate, intermediate_key),
            log_key,
            log_id,
            next_index: AtomicI64::new(1000),
        }
    }

    /// `identity` signing through this CA and log, now.
    pub fn signer<'a>(&'a self, identity: &'a FulcioIdentity) -> KeylessSigner<'a> {
        KeylessSigner {
            sigstore: self,
            identity,
            timing: Timing::now(),
        }
    }

    /// A `trusted_root.json` naming this CA and this log.
    pub fn trusted_root_json(&self) -> String {
        Self::trusted_root_json_for(&[self], &[self])
    }

    /// A `trusted_root.json` naming the CAs of `authorities` and the logs of `logs`.
    pub fn trusted_root_json_for(authorities: &[&Self], logs: &[&Self]) -> String {
        let b64 = |bytes: &[u8]| STANDARD.encode(bytes);
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": logs.iter().map(|s| serde_json::json!({
                "baseUrl": format!("https://rekor.{}.test", s.name),
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(&s.log_key.subject_public_key_info()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"}
                },
                "logId": {"keyId": b64(&s.log_id)}
            })).collect::<Vec<_>>(),
            "certificateAuthorities": authorities.iter().map(|s| serde_json::json!({
                "subject": {"organization": s.name, "commonName": format!("{}-root", s.name)},
                "uri": format!("https://fulcio.{}.test", s.name),
                "certChain": {"certificates": [
                    {"rawBytes": b64(&s.intermediate_der)},
                    {"rawBytes": b64(&s.root_der)}
                ]},
                "validFor": {"start": "2020-01-01T00:00:00Z"}
            })).collect::<Vec<_>>(),
            "ctlogs": [],
            "timestampAuthorities": []
        })
        .to_string()
    }

    /// Signs `message` keylessly as `identity`, now: a certificate, a signature, a
    /// `hashedrekord` entry.
    pub fn sign_message(&self, message: &[u8], identity: &FulcioIdentity) -> KeylessSignature {
        self.sign_message_at(message, identity, Timing::now())
    }

    /// [`TestSigstore::sign_message`] at a given time.
    pub fn sign_message_at(
        &self,
        message: &[u8],
        identity: &FulcioIdentity,
        timing: Timing,
    ) -> KeylessSignature {
        let (leaf_key, leaf_der) = self.certify(identity, timing);
        let signature = leaf_key.sign(message).expect("sign");
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(message))}},
                "signature": {
                    "content": STANDARD.encode(&signature),
                    "publicKey": {"content": STANDARD.encode(pem("CERTIFICATE", &leaf_der))}
                }
            }
        });
        self.record(signature, leaf_der, &body, timing)
    }

    /// Signs an in-toto statement keylessly as `identity`, now, as a DSSE envelope
    /// recorded in a `dsse` entry; returns the envelope and its material.
    pub fn sign_dsse(
        &self,
        payload_type: &str,
        payload: &[u8],
        identity: &FulcioIdentity,
    ) -> (Envelope, KeylessSignature) {
        self.sign_dsse_at(payload_type, payload, identity, Timing::now())
    }

    /// [`TestSigstore::sign_dsse`] at a given time.
    pub fn sign_dsse_at(
        &self,
        payload_type: &str,
        payload: &[u8],
        identity: &FulcioIdentity,
        timing: Timing,
    ) -> (Envelope, KeylessSignature) {
        let (leaf_key, leaf_der) = self.certify(identity, timing);
        let signature = leaf_key
            .sign(&crate::cosign_bundle::pae(payload_type, payload))
            .expect("sign");
        let envelope = Envelope {
            payload: payload.to_vec(),
            payload_type: payload_type.to_string(),
            signatures: vec![DsseSignature {
                sig: signature.clone(),
                keyid: String::new(),
            }],
        };
        let envelope_json = serde_json::json!({
            "payloadType": payload_type,
            "payload": STANDARD.encode(payload),
            "signatures": [{"keyid": "", "sig": STANDARD.encode(&signature)}]
        });
        let sha256 = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": sha256(envelope_json.to_string().as_bytes())},
                "payloadHash": {"algorithm": "sha256", "value": sha256(payload)},
                "signatures": [{
                    "signature": STANDARD.encode(&signature),
                    "verifier": STANDARD.encode(pem("CERTIFICATE", &leaf_der))
                }]
            }
        });
        (envelope, self.record(signature, leaf_der, &body, timing))
    }

    /// A leaf certificate for `identity`, issued by the intermediate.
    fn certify(&self, identity: &FulcioIdentity, timing: Timing) -> (KeyPair, Vec<u8>) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let san = Ia5String::try_from(identity.subject.as_str()).expect("ASCII subject");
        params.subject_alt_names = vec![if identity.subject.contains("://") {
            SanType::URI(san)
        } else {
            SanType::Rfc822Name(san)
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.not_before = at(timing.not_before);
        params.not_after = at(timing.not_after);
        let fulcio = |arc: u64, content: Vec<u8>| {
            let mut oid = FULCIO_ARC;
            oid[8] = arc;
            CustomExtension::from_oid_content(&oid, content)
        };
        params.custom_extensions = vec![
            fulcio(1, identity.issuer.as_bytes().to_vec()),
            fulcio(8, der_utf8_string(&identity.issuer)),
        ];
        params
            .custom_extensions
            .extend(identity.extensions.iter().map(|(arc, value)| {
                // `.1.2`–`.1.6` are raw text, later ones DER UTF8Strings, as Fulcio writes.
                let content = if *arc <= 6 {
                    value.as_bytes().to_vec()
                } else {
                    der_utf8_string(value)
                };
                fulcio(*arc, content)
            }));
        let cert = params
            .signed_by(&key, &self.intermediate)
            .expect("leaf certificate");
        (key, cert.der().to_vec())
    }

    /// Records an entry in the log: signed entry timestamp, and an inclusion proof in a
    /// tree of [`OTHER_ENTRIES`] + 1 entries under a signed checkpoint.
    fn record(
        &self,
        signature: Vec<u8>,
        leaf_der: Vec<u8>,
        body: &serde_json::Value,
        timing: Timing,
    ) -> KeylessSignature {
        let body = body.to_string().into_bytes();
        let log_index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let log_id = hex::encode(&self.log_id);
        // Canonical JSON (keys sorted, no spaces) of what Rekor signs.
        let set_payload = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{log_id}","logIndex":{log_index}}}"#,
            STANDARD.encode(&body),
            timing.integrated_time
        );
        let signed_entry_timestamp = self.log_key.sign(set_payload.as_bytes()).expect("SET");

        let mut leaves: Vec<[u8; 32]> = (0..OTHER_ENTRIES)
            .map(|i| leaf_hash(format!("another entry {i}").as_bytes()))
            .collect();
        let position = OTHER_ENTRIES / 2;
        leaves.insert(position, leaf_hash(&body));
        let root = tree_hash(&leaves);
        let checkpoint = self.checkpoint(leaves.len(), &root);

        let bundle_annotation = serde_json::json!({
            "SignedEntryTimestamp": STANDARD.encode(&signed_entry_timestamp),
            "Payload": {
                "body": STANDARD.encode(&body),
                "integratedTime": timing.integrated_time,
                "logIndex": log_index,
                "logID": log_id
            }
        });
        let annotations = BTreeMap::from([
            (
                "dev.sigstore.cosign/certificate".to_string(),
                pem("CERTIFICATE", &leaf_der),
            ),
            (
                "dev.sigstore.cosign/chain".to_string(),
                pem("CERTIFICATE", &self.intermediate_der) + &pem("CERTIFICATE", &self.root_der),
            ),
            (
                "dev.sigstore.cosign/bundle".to_string(),
                bundle_annotation.to_string(),
            ),
        ]);
        let kind = serde_json::from_slice::<serde_json::Value>(&body).expect("body");
        let material = VerificationMaterial {
            content: Some(verification_material::Content::Certificate(
                X509Certificate {
                    raw_bytes: leaf_der,
                },
            )),
            tlog_entries: vec![TransparencyLogEntry {
                log_index,
                log_id: Some(LogId {
                    key_id: self.log_id.clone(),
                }),
                kind_version: Some(KindVersion {
                    kind: kind["kind"].as_str().unwrap_or_default().to_string(),
                    version: kind["apiVersion"].as_str().unwrap_or_default().to_string(),
                }),
                integrated_time: timing.integrated_time,
                inclusion_promise: Some(InclusionPromise {
                    signed_entry_timestamp,
                }),
                inclusion_proof: Some(InclusionProof {
                    log_index: position as i64,
                    root_hash: root.to_vec(),
                    tree_size: leaves.len() as i64,
                    hashes: audit_path(position, &leaves)
                        .into_iter()
                        .map(|h| h.to_vec())
                        .collect(),
                    checkpoint: Some(Checkpoint {
                        envelope: checkpoint,
                    }),
                }),
                canonicalized_body: body,
            }],
            timestamp_verification_data: None,
        };
        KeylessSignature {
            signature,
            material,
            annotations,
        }
    }

    /// A signed note of the tree head, as Rekor writes its checkpoints: the signature
    /// line carries the first four bytes of the log ID as key hint.
    fn checkpoint(&self, size: usize, root: &[u8; 32]) -> String {
        let origin = format!("rekor.{}.test - 1", self.name);
        let note = format!("{origin}\n{size}\n{}\n", STANDARD.encode(root));
        let signature = self.log_key.sign(note.as_bytes()).expect("checkpoint");
        let mut hinted = self.log_id[..4].to_vec();
        hinted.extend(signature);
        format!(
            "{note}\n\u{2014} rekor.{}.test {}\n",
            self.name,
            STANDARD.encode(hinted)
        )
    }
}

fn ca_params(
    common_name: &str,
    organization: &str,
    usage: Option<ExtendedKeyUsagePurpose>,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, organization);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.extended_key_usages = usage.into_iter().collect();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    params
}

fn at(unix_seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_seconds).expect("a time")
}

/// A DER UTF8String (tag 12) with a definite length.
fn der_utf8_string(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut der = vec![0x0c];
    match bytes.len() {
        len @ 0..=127 => der.push(len as u8),
        len @ 128..=255 => der.extend([0x81, len as u8]),
        len => der.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    der.extend_from_slice(bytes);
    der
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// RFC 6962 leaf hash.
fn leaf_hash(data: &[u8]) -> [u8; 32] {
    Sha256::new_with_prefix([0u8])
        .chain_update(data)
        .finalize()
        .into()
}

/// RFC 6962 interior node hash.
fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new_with_prefix([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The split of RFC 6962 §2.1: the largest power of two below `n`.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 Merkle tree hash of leaf hashes.
fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [only] => *only,
        _ => {
            let k = split(leaves.len());
            node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// RFC 6962 audit path of leaf `m`, leaf to root.
fn audit_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if m < k {
        let mut path = audit_path(m, &leaves[..k]);
        path.push(tree_hash(&leaves[k..]));
        path
    } else {
        let mut path = audit_path(m - k, &leaves[k..]);
        path.push(tree_hash(&leaves[..k]));
        path
    }
}
