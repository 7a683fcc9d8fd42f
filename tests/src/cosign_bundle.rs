//! Images signed in cosign 3's default layout (`cosign sign --key`, new bundle format),
//! written into a [`LocalRegistry`] byte for byte as cosign writes them:
//!
//! - the signed content: an in-toto Statement v1, one subject `{"digest": {"sha256":
//!   <hex>}}`, predicate type `https://sigstore.dev/cosign/sign/v1`, empty predicate, in a
//!   DSSE envelope (`application/vnd.in-toto+json`) signed over its pre-authentication
//!   encoding;
//! - the Sigstore bundle v0.3 around it, verification material a `publicKey` hint
//!   (base64 SHA-256 of the key's DER) and no log entry (`--tlog-upload=false`);
//! - the referrer (cosign's `WriteReferrer`): an OCI image manifest with
//!   `artifactType` and one layer `application/vnd.dev.sigstore.bundle.v0.3+json`, an
//!   empty config `{}` (`application/vnd.oci.empty.v1+json`), `subject` the image, the
//!   annotations `dev.sigstore.bundle.content`, `dev.sigstore.bundle.predicateType`,
//!   `org.opencontainers.image.created`; pushed by digest, untagged;
//! - on a registry without the referrers API, the referrers tag `sha256-<hex>`: an
//!   image index listing the referrer, which go-containerregistry (cosign's registry
//!   client) maintains, keeping `artifactType` but dropping the annotations
//!   (sigstore/cosign#4641). go-containerregistry decides by the `OCI-Subject` header of
//!   the manifest push; `oci-client` does not return headers, so this asks the API.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oci_client::Reference;
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{Bundle, bundle};

use crate::registry::{LocalRegistry, TestKey, http_get_status};
use crate::sigstore::KeylessSigner;

/// The bundle's media type, the referrer's artifact type and its layer's media type.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The predicate type of `cosign sign`.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

impl LocalRegistry {
    /// Pushes a minimal image, signs it with `key` as cosign 3 does by default, and
    /// returns it pinned: `<addr>/<repo>@sha256:…`.
    pub async fn bundle_signed_image(&self, repo: &str, tag: &str, key: &TestKey) -> String {
        let digest = self.push_image(repo, tag).await;
        self.sign_bundle(repo, &digest, &digest, key).await;
        format!("{}/{repo}@{digest}", self.addr)
    }

    /// Signs `<addr>/<repo>@<digest>` with `key` as `cosign sign --key` (v3) does: a
    /// bundle whose statement names `statement_digest` (normally `digest` itself),
    /// stored as a referrer of the image.
    pub async fn sign_bundle(
        &self,
        repo: &str,
        digest: &str,
        statement_digest: &str,
        key: &TestKey,
    ) {
        let statement = statement(statement_digest, SIGN_PREDICATE_TYPE);
        self.push_bundle(repo, digest, &key.bundle(&statement), SIGN_PREDICATE_TYPE)
            .await;
    }

    /// Signs `<addr>/<repo>@<digest>` keylessly as `cosign sign` (v3) does by default: a
    /// bundle with the certificate and the `dsse` Rekor entry, stored as a referrer.
    pub async fn sign_bundle_keyless(&self, repo: &str, digest: &str, signer: &KeylessSigner<'_>) {
        let statement = statement(digest, SIGN_PREDICATE_TYPE);
        self.push_bundle(
            repo,
            digest,
            &signer.bundle(&statement),
            SIGN_PREDICATE_TYPE,
        )
        .await;
    }

    /// Stores `bundle` as a referrer of `<repo>@<digest>` the way cosign does, with the
    /// referrers tag where the registry has no referrers API; returns the referrer's
    /// descriptor as the referrers tag lists it.
    pub async fn push_bundle(
        &self,
        repo: &str,
        digest: &str,
        bundle: &[u8],
        predicate_type: &str,
    ) -> Value {
        let client = self.oci_client();
        let auth = RegistryAuth::Anonymous;
        let image = Reference::with_digest(self.addr.clone(), repo.into(), digest.into());
        // Accepted as an OCI manifest only, so that is its media type.
        let (image_manifest, _) = client
            .pull_manifest_raw(&image, &auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .expect("the image's manifest");
        let config = self.push_blob(repo, b"{}").await;
        let layer = self.push_blob(repo, bundle).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "artifactType": BUNDLE_MEDIA_TYPE, "digest": config, "size": 2},
            "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "digest": layer, "size": bundle.len()}],
            "annotations": {
                "dev.sigstore.bundle.content": "dsse-envelope",
                "dev.sigstore.bundle.predicateType": predicate_type,
                "org.opencontainers.image.created": "2026-12-04T12:00:00Z",
            },
            "subject": {"mediaType": OCI_IMAGE_MEDIA_TYPE, "digest": digest, "size": image_manifest.len()},
            "artifactType": BUNDLE_MEDIA_TYPE,
        })
        .to_string();
        let manifest_digest = sha256_digest(manifest.as_bytes());
        client
            .push_manifest_raw(
                &Reference::with_digest(self.addr.clone(), repo.into(), manifest_digest.clone()),
                manifest.clone(),
                OCI_IMAGE_MEDIA_TYPE.parse().expect("header value"),
            )
            .await
            .expect("push the referrer");
        let descriptor = json!({
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "digest": manifest_digest,
            "size": manifest.len(),
            "artifactType": BUNDLE_MEDIA_TYPE,
        });
        let api = format!("/v2/{repo}/referrers/{digest}");
        if http_get_status(&self.addr, &api).as_deref() != Some("200") {
            self.add_to_referrers_tag(repo, digest, descriptor.clone())
                .await;
        }
        descriptor
    }

    /// Adds `descriptor` to the index tagged `sha256-<hex>` of `digest`, creating it.
    pub async fn add_to_referrers_tag(&self, repo: &str, digest: &str, descriptor: Value) {
        let client = self.oci_client();
        let tag = Reference::with_tag(self.addr.clone(), repo.into(), digest.replace(':', "-"));
        let mut index = match client
            .pull_manifest_raw(
                &tag,
                &RegistryAuth::Anonymous,
                &[OCI_IMAGE_INDEX_MEDIA_TYPE],
            )
            .await
        {
            Ok((raw, _)) => serde_json::from_slice(&raw).expect("referrers index"),
            Err(_) => {
                json!({"schemaVersion": 2, "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE, "manifests": []})
            }
        };
        index["manifests"]
            .as_array_mut()
            .expect("manifests")
            .push(descriptor);
        client
            .push_manifest_raw(
                &tag,
                index.to_string(),
                OCI_IMAGE_INDEX_MEDIA_TYPE.parse().expect("header value"),
            )
            .await
            .expect("push the referrers tag");
    }

    /// Pushes `data` as a blob of `repo`; returns its digest.
    pub(crate) async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let reference = Reference::with_digest(self.addr.clone(), repo.into(), digest.clone());
        self.oci_client()
            .push_blob(&reference, data.to_vec(), &digest)
            .await
            .expect("push blob");
        digest
    }
}

impl TestKey {
    /// A Sigstore bundle of `statement` signed by this key, as cosign 3 writes it with
    /// `--key` and `--tlog-upload=false`.
    pub fn bundle(&self, statement: &str) -> Vec<u8> {
        let signature = self
            .signer()
            .expect("signer")
            .sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement.as_bytes()))
            .expect("sign");
        json!({
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"publicKey": {"hint": self.hint()}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": STANDARD.encode(statement),
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{"sig": STANDARD.encode(signature), "keyid": ""}],
            },
        })
        .to_string()
        .into_bytes()
    }

    /// cosign's key hint: base64 of the SHA-256 of the public key's DER.
    pub fn hint(&self) -> String {
        STANDARD.encode(Sha256::digest(self.public_key_der()))
    }
}

impl KeylessSigner<'_> {
    /// A Sigstore bundle of `statement` signed keylessly, as cosign 3 writes it: the
    /// certificate and the Rekor entry (with inclusion proof) as verification material.
    pub fn bundle(&self, statement: &str) -> Vec<u8> {
        let (envelope, signed) = self.sign_dsse(IN_TOTO_PAYLOAD_TYPE, statement.as_bytes());
        serde_json::to_vec(&Bundle {
            media_type: BUNDLE_MEDIA_TYPE.to_string(),
            verification_material: Some(signed.material),
            content: Some(bundle::Content::DsseEnvelope(envelope)),
        })
        .expect("a bundle serializes")
    }
}

/// The in-toto statement cosign signs, naming `digest` (`sha256:<hex>`) as its one
/// subject; `cosign sign` uses [`SIGN_PREDICATE_TYPE`], `cosign attest` others.
pub fn statement(digest: &str, predicate_type: &str) -> String {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": digest.strip_prefix("sha256:").unwrap_or(digest)}}],
        "predicateType": predicate_type,
        "predicate": {},
    })
    .to_string()
}

/// DSSE's pre-authentication encoding of a payload, what an envelope's signature signs.
/// Written out here, not taken from `signatures`: the test signer stays independent of
/// the verifier under test, so a wrong encoding on one side fails the tests instead of
/// agreeing with itself.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut encoded = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    encoded.extend_from_slice(payload);
    encoded
}

fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}
