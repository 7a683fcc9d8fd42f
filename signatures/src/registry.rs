//! The registry side of verification, over `oci-client` (the OCI client sigstore
//! itself uses): fetch cosign's signature artifacts in both layouts, resolve a tag, and
//! say in words why a registry could not be asked.
//!
//! Bundles are found with `oci-client`'s `pull_referrers`, which asks the OCI 1.1
//! referrers API (`GET /v2/<name>/referrers/<digest>?artifactType=…`) and, on the 404 a
//! registry without that API answers, reads the referrers tag schema (an image index
//! tagged `sha256-<digest>`), as the distribution spec prescribes. It does not say
//! which of the two answered, so verdicts name the layout (bundle or `.sig`), not the
//! discovery path; and it reads a 4xx answer on the referrers tag as "no referrers".
//!
//! Why not sigstore's `Client::trusted_signature_layers`: it logs and drops every
//! failure while fetching the `.sig` artifact, and drops layers whose payload names
//! another digest, so "registry down", "payload for another digest" and "unsigned"
//! would all come back as "no layers". BG006 must tell them apart. Its methods also
//! take `&mut self`, which would serialise concurrent verifications. The fetch below
//! is what it does for the `.sig` tag (manifest, then the simple-signing layers), with
//! the failures kept.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::try_join_all;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{ImageIndexEntry, OciDescriptor};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::config::VerifierConfig;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::referrer::{BUNDLE_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, SIGN_PREDICATE_TYPE};

/// The media type of cosign's simple-signing payload layers (sigstore keeps its
/// constant private).
pub(crate) const SIMPLE_SIGNING_MEDIA_TYPE: &str =
    "application/vnd.dev.cosign.simplesigning.v1+json";
/// A simple-signing payload is a few hundred bytes; a larger layer is not read.
const MAX_PAYLOAD_BYTES: i64 = 64 * 1024;
/// A bundle is a few kilobytes (a certificate chain and a log entry at most).
const MAX_BUNDLE_BYTES: i64 = 256 * 1024;
/// Bundle referrers read per image: signatures and attestations share the artifact
/// type, and a registry's list is not bounded by anything else.
const MAX_BUNDLE_REFERRERS: usize = 16;

/// One simple-signing layer of a `.sig` artifact, digest-checked by `oci-client`.
pub(crate) struct SignedPayload {
    pub(crate) layer_digest: String,
    pub(crate) payload: Vec<u8>,
    /// The layer's annotations: the signature, and a keyless signature's certificate,
    /// chain and Rekor bundle.
    pub(crate) annotations: BTreeMap<String, String>,
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

    fn auth(&self, reference: &Reference) -> RegistryAuth {
        self.credentials.for_registry(reference.resolve_registry())
    }

    /// The simple-signing layers of the cosign artifact at `signature_ref`, or `None`
    /// when there is no such artifact (the image is unsigned). `Err` says why the
    /// registry could not be asked.
    pub(crate) async fn signatures(
        &self,
        signature_ref: &Reference,
    ) -> Result<Option<Vec<SignedPayload>>, String> {
        let auth = self.auth(signature_ref);
        self.count();
        let manifest = match self.client.pull_image_manifest(signature_ref, &auth).await {
            Ok((manifest, _digest)) => manifest,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(describe(&err)),
        };
        let mut payloads = Vec::new();
        for layer in manifest.layers.iter().filter(|l| {
            is_readable(
                signature_ref,
                l,
                SIMPLE_SIGNING_MEDIA_TYPE,
                MAX_PAYLOAD_BYTES,
            )
        }) {
            let mut payload = Vec::new();
            self.count();
            self.client
                .pull_blob(signature_ref, layer, &mut payload)
                .await
                .map_err(|e| describe(&e))?;
            payloads.push(SignedPayload {
                layer_digest: layer.digest.clone(),
                payload,
                annotations: layer.annotations.clone().unwrap_or_default(),
            });
        }
        Ok(Some(payloads))
    }

    /// The Sigstore bundles stored as OCI referrers of `image` (pinned by `digest`):
    /// through the referrers API, or the referrers tag where the registry has none.
    /// Referrers whose annotation names another predicate type (attestations) are not
    /// read. `Err` says why the registry could not be asked.
    pub(crate) async fn bundles(
        &self,
        image: &Reference,
        digest: &str,
    ) -> Result<Vec<Vec<u8>>, String> {
        let subject = by_digest(image, digest);
        let auth = self.auth(&subject);
        // `pull_referrers` takes no credentials: it uses the client's stored ones.
        self.client
            .store_auth_if_needed(subject.resolve_registry(), &auth)
            .await;
        self.count();
        let index = self
            .client
            .pull_referrers(&subject, Some(BUNDLE_MEDIA_TYPE))
            .await
            .map_err(|e| describe(&e))?;
        // The artifactType filter is optional for a registry: filter again.
        let signatures: Vec<&ImageIndexEntry> = index
            .manifests
            .iter()
            .filter(|entry| entry.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE))
            .filter(|entry| {
                entry
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(PREDICATE_TYPE_ANNOTATION))
                    .is_none_or(|predicate| predicate == SIGN_PREDICATE_TYPE)
            })
            .collect();
        if signatures.len() > MAX_BUNDLE_REFERRERS {
            tracing::warn!(%subject, found = signatures.len(), read = MAX_BUNDLE_REFERRERS, "reading only the first bundle referrers");
        }
        let bundles = try_join_all(
            signatures
                .into_iter()
                .take(MAX_BUNDLE_REFERRERS)
                .map(|entry| self.bundle_of(&subject, digest, &entry.digest, &auth)),
        )
        .await?;
        Ok(bundles.into_iter().flatten().collect())
    }

    /// The bundle layers of one referrer manifest, if its `subject` is the image (the
    /// referrers tag is an ordinary tag anyone with push access can point anywhere).
    async fn bundle_of(
        &self,
        subject: &Reference,
        digest: &str,
        referrer: &str,
        auth: &RegistryAuth,
    ) -> Result<Vec<Vec<u8>>, String> {
        let reference = by_digest(subject, referrer);
        self.count();
        let manifest = match self.client.pull_image_manifest(&reference, auth).await {
            Ok((manifest, _digest)) => manifest,
            // Listed, then deleted: nothing to verify.
            Err(err) if is_not_found(&err) => return Ok(Vec::new()),
            Err(err) => return Err(describe(&err)),
        };
        if manifest.subject.as_ref().map(|s| s.digest.as_str()) != Some(digest) {
            tracing::warn!(%reference, "skipping a bundle referrer whose subject is not the image");
            return Ok(Vec::new());
        }
        let mut bundles = Vec::new();
        for layer in manifest
            .layers
            .iter()
            .filter(|l| is_readable(&reference, l, BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES))
        {
            let mut bundle = Vec::new();
            self.count();
            self.client
                .pull_blob(&reference, layer, &mut bundle)
                .await
                .map_err(|e| describe(&e))?;
            bundles.push(bundle);
        }
        Ok(bundles)
    }

    /// The digest a tag points at now (a HEAD request, as `crane digest` does).
    pub(crate) async fn resolve(&self, reference: &Reference) -> Result<String, String> {
        let auth = self.auth(reference);
        self.count();
        self.client
            .fetch_manifest_digest(reference, &auth)
            .await
            .map_err(|e| describe(&e))
    }
}

/// `digest` in the repository of `reference`.
fn by_digest(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        reference.registry().to_string(),
        reference.repository().to_string(),
        digest.to_string(),
    )
}

/// Whether `layer` of the artifact at `reference` is a signature layer of `media_type`
/// small enough to read; an oversized one is skipped with a warning.
fn is_readable(
    reference: &Reference,
    layer: &OciDescriptor,
    media_type: &str,
    max_bytes: i64,
) -> bool {
    if layer.media_type != media_type {
        return false;
    }
    if layer.size > max_bytes {
        tracing::warn!(%reference, layer = %layer.digest, size = layer.size, media_type, "skipping an oversized signature layer");
        return false;
    }
    true
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
