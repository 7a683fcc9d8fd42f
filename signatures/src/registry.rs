//! The registry side of verification, over `oci-client` (the OCI client sigstore
//! itself uses): fetch cosign's signature artifact, resolve a tag, and say in words
//! why a registry could not be asked.
//!
//! Why not sigstore's `Client::trusted_signature_layers`: it logs and drops every
//! failure while fetching the `.sig` artifact, and drops layers whose payload names
//! another digest, so "registry down", "payload for another digest" and "unsigned"
//! would all come back as "no layers". BG006 must tell them apart. Its methods also
//! take `&mut self`, which would serialise concurrent verifications. The fetch below
//! is what it does for the `.sig` tag (manifest, then the simple-signing layers), with
//! the failures kept.

use std::sync::atomic::{AtomicU64, Ordering};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::{Client, Reference};

use crate::config::VerifierConfig;
use crate::credentials::Credentials;
use crate::error::{Error, Result};

/// The media type of cosign's simple-signing payload layers (sigstore keeps its
/// constant private).
pub(crate) const SIMPLE_SIGNING_MEDIA_TYPE: &str =
    "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
pub(crate) const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// A simple-signing payload is a few hundred bytes; a larger layer is not read.
const MAX_PAYLOAD_BYTES: i64 = 64 * 1024;

/// One simple-signing layer of a `.sig` artifact, digest-checked by `oci-client`.
pub(crate) struct SignedPayload {
    pub(crate) layer_digest: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Option<String>,
}

/// An OCI client with credentials, counting the requests it makes.
pub(crate) struct Registry {
    client: Client,
    credentials: Credentials,
    requests: AtomicU64,
}

impl Registry {
    pub(crate) fn new(config: &VerifierConfig) -> Result<Self> {
        let credentials = match &config.docker_config {
            Some(path) => Credentials::load(path)?,
            None => Credentials::default(),
        };
        let client = Client::try_from(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(config.insecure_registries.clone()),
            ..ClientConfig::default()
        })
        .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self {
            client,
            credentials,
            requests: AtomicU64::new(0),
        })
    }

    /// Registry operations issued so far (manifest and blob fetches, tag lookups);
    /// token exchanges `oci-client` makes on its own are not counted.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The simple-signing layers of the cosign artifact at `signature_ref`, or `None`
    /// when there is no such artifact (the image is unsigned). `Err` says why the
    /// registry could not be asked.
    pub(crate) async fn signatures(
        &self,
        signature_ref: &Reference,
    ) -> Result<Option<Vec<SignedPayload>>, String> {
        let auth = self
            .credentials
            .for_registry(signature_ref.resolve_registry());
        self.count();
        let manifest = match self.client.pull_image_manifest(signature_ref, &auth).await {
            Ok((manifest, _digest)) => manifest,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(describe(&err)),
        };
        let mut payloads = Vec::new();
        for layer in &manifest.layers {
            if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
                continue;
            }
            if layer.size > MAX_PAYLOAD_BYTES {
                tracing::warn!(%signature_ref, layer = %layer.digest, size = layer.size, "skipping an oversized signature layer");
                continue;
            }
            let mut payload = Vec::new();
            self.count();
            self.client
                .pull_blob(signature_ref, layer, &mut payload)
                .await
                .map_err(|e| describe(&e))?;
            payloads.push(SignedPayload {
                layer_digest: layer.digest.clone(),
                payload,
                signature: layer
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(SIGNATURE_ANNOTATION))
                    .cloned(),
            });
        }
        Ok(Some(payloads))
    }

    /// The digest a tag points at now (a HEAD request, as `crane digest` does).
    pub(crate) async fn resolve(&self, reference: &Reference) -> Result<String, String> {
        let auth = self.credentials.for_registry(reference.resolve_registry());
        self.count();
        self.client
            .fetch_manifest_digest(reference, &auth)
            .await
            .map_err(|e| describe(&e))
    }
}

/// Whether the registry answered "no such manifest" (or repository).
fn is_not_found(err: &OciDistributionError) -> bool {
    match err {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}

/// A short reason for a person: the innermost cause of a transport error (e.g.
/// "Connection refused (os error 111)") rather than reqwest's "error sending request".
fn describe(err: &OciDistributionError) -> String {
    match err {
        OciDistributionError::RequestError(e) => {
            let mut cause: &dyn std::error::Error = e;
            while let Some(source) = cause.source() {
                cause = source;
            }
            if e.is_connect() {
                format!("cannot connect: {cause}")
            } else {
                cause.to_string()
            }
        }
        OciDistributionError::UnauthorizedError { .. } => {
            "not authorized: check this registry's entry in the docker config".to_string()
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let errors: Vec<String> = envelope.errors.iter().map(|e| e.message.clone()).collect();
            format!("the registry refused: {}", errors.join("; "))
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let message: String = message.chars().take(200).collect();
            format!("HTTP {code}: {}", message.trim())
        }
        other => other.to_string(),
    }
}
