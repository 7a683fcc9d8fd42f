//! A real OCI registry on loopback (Debian's `docker-registry`, installed by
//! `.ci/tools.sh`), and images pushed and signed in it the way cosign does (BG006).
//!
//! One copy for every test that needs signed images: the `signatures` crate's tests
//! and benchmark, the plugin's scenarios and the guard's.
//!
//! ```no_run
//! # async fn demo() {
//! use bluegreen_e2e::registry::{LocalRegistry, TestKey};
//! let registry = LocalRegistry::start();
//! let key = TestKey::generate("release");
//! // `127.0.0.1:<port>/api@sha256:…`, signed by `key`; trust it with `key.trusted`.
//! let image = registry.signed_image("api", "v1", &key).await;
//! let unsigned = registry.pushed_image("api", "v2").await;
//! # let _ = (image, unsigned); }
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use policy::SignatureLayout;
use policy::crd::TrustedKey;
use sigstore::cosign::SignatureLayer;
use sigstore::cosign::constraint::{Constraint, PrivateKeySigner};
use sigstore::crypto::SigningScheme;
use sigstore::registry::OciReference;

use crate::sigstore::KeylessSigner;

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
/// The media type of a `.sig` artifact's layers.
const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

pub use crate::referrers::ReferrersApi;
pub use crate::tls::install_crypto_provider;

/// A `docker-registry` child process serving a temporary directory on an ephemeral
/// loopback port, without auth; killed on drop.
pub struct LocalRegistry {
    /// `127.0.0.1:<port>`, as image references name it.
    pub addr: String,
    /// The referrers API stand-in in front, when started with one.
    referrers_api: Option<ReferrersApi>,
    child: Child,
    requests: Arc<AtomicUsize>,
    _storage: tempfile::TempDir,
}

impl LocalRegistry {
    pub fn start() -> Self {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: run .ci/tools.sh (apt-get install docker-registry)"
        );
        let storage = tempfile::tempdir().expect("temporary directory");
        let config = storage.path().join("config.yml");
        // Port 0: the registry picks a free port and logs it, so no port can be taken
        // between choosing and binding it.
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:0\n",
                storage.path().join("data").display()
            ),
        )
        .expect("write registry config");
        let mut child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start docker-registry");
        let stderr = child.stderr.take().expect("piped stderr");
        let requests = Arc::new(AtomicUsize::new(0));
        let (addr_tx, addr_rx) = mpsc::channel();
        let counter = Arc::clone(&requests);
        // Reads the log until the process exits: the listening address first, then one
        // "response completed" line per request the registry served.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("msg=\"listening on ").nth(1) {
                    let _ = addr_tx.send(rest.split('"').next().unwrap_or_default().to_string());
                } else if line.contains("msg=\"response completed\"") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("docker-registry did not log its address");
        let registry = Self {
            addr,
            referrers_api: None,
            child,
            requests,
            _storage: storage,
        };
        registry.wait_until_ready();
        registry
    }

    fn wait_until_ready(&self) {
        let give_up = Instant::now() + Duration::from_secs(20);
        while Instant::now() < give_up {
            if http_get_status(&self.addr, "/v2/").as_deref() == Some("200") {
                self.requests.store(0, Ordering::SeqCst);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry at {} never answered /v2/", self.addr);
    }

    /// The registry behind a stand-in that serves the OCI 1.1 referrers API
    /// ([`ReferrersApi`]); `addr` is the stand-in's.
    pub fn start_with_referrers_api() -> Self {
        let mut registry = Self::start();
        let front = ReferrersApi::start(&registry.addr);
        registry.addr = front.addr.clone();
        registry.referrers_api = Some(front);
        registry
    }

    /// Referrers API requests answered, when started with the API; `None` without.
    pub fn referrers_requests(&self) -> Option<usize> {
        self.referrers_api
            .as_ref()
            .map(ReferrersApi::referrers_requests)
    }

    /// Requests the registry has served since it became ready.
    pub fn requests_served(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// A plain `oci-client` for this registry.
    pub fn oci_client(&self) -> oci_client::Client {
        oci_client::Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(vec![self.addr.clone()]),
            ..ClientConfig::default()
        })
    }

    /// Pushes a minimal image (OCI manifest, `{}` config, one small layer) as
    /// `<addr>/<repo>:<tag>`; returns its digest.
    pub async fn push_image(&self, repo: &str, tag: &str) -> String {
        let reference: oci_client::Reference = format!("{}/{repo}:{tag}", self.addr)
            .parse()
            .expect("reference");
        let client = self.oci_client();
        let layer = ImageLayer::oci_v1(format!("layer of {repo}:{tag}").into_bytes(), None);
        let config = Config::oci_v1(b"{}".to_vec(), None);
        client
            .push(&reference, &[layer], config, &RegistryAuth::Anonymous, None)
            .await
            .expect("push image");
        client
            .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
            .await
            .expect("digest of the pushed image")
    }

    /// Pushes a minimal image as `<addr>/<repo>:<tag>` and returns it pinned:
    /// `<addr>/<repo>@sha256:…`, without signature.
    pub async fn pushed_image(&self, repo: &str, tag: &str) -> String {
        let digest = self.push_image(repo, tag).await;
        format!("{}/{repo}@{digest}", self.addr)
    }

    /// Pushes a minimal image, signs it with `key` as cosign does, and returns it
    /// pinned: `<addr>/<repo>@sha256:…`.
    pub async fn signed_image(&self, repo: &str, tag: &str, key: &TestKey) -> String {
        let digest = self.push_image(repo, tag).await;
        self.sign(repo, &digest, &digest, key).await;
        format!("{}/{repo}@{digest}", self.addr)
    }

    /// Signs `<addr>/<repo>@<digest>` with `key` as `cosign sign --key` does, through
    /// sigstore's own signing API: a simple-signing payload naming `payload_digest`
    /// (normally `digest` itself), signed, added to the `sha256-<digest>.sig` artifact.
    /// Several calls add several signatures.
    pub async fn sign(&self, repo: &str, digest: &str, payload_digest: &str, key: &TestKey) {
        let mut layer = self.unsigned_layer(repo, digest, payload_digest);
        let signer = PrivateKeySigner::new_with_signer(key.signer().expect("signer"));
        assert!(signer.add_constraint(&mut layer).expect("sign"));
        let signature = layer.signature.expect("signed");
        let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), signature)]);
        self.add_signature_layer(repo, digest, layer.raw_data, annotations)
            .await;
    }

    /// Signs `<addr>/<repo>@<digest>` keylessly as cosign (with
    /// `--new-bundle-format=false`) does: the same simple-signing payload, its
    /// signature, certificate, chain and Rekor bundle in the layer's annotations.
    pub async fn sign_keyless(&self, repo: &str, digest: &str, signer: &KeylessSigner<'_>) {
        let payload = self.unsigned_layer(repo, digest, digest).raw_data;
        let signed = signer.sign_message(&payload);
        let mut annotations = signed.annotations;
        annotations.insert(
            SIGNATURE_ANNOTATION.to_string(),
            STANDARD.encode(&signed.signature),
        );
        self.add_signature_layer(repo, digest, payload, annotations)
            .await;
    }

    /// Pushes a minimal image, signs it keylessly in `layout` as cosign does, and
    /// returns it pinned: `<addr>/<repo>@sha256:…`.
    pub async fn keyless_signed_image(
        &self,
        repo: &str,
        tag: &str,
        layout: SignatureLayout,
        signer: &KeylessSigner<'_>,
    ) -> String {
        let digest = self.push_image(repo, tag).await;
        match layout {
            SignatureLayout::SigTag => self.sign_keyless(repo, &digest, signer).await,
            SignatureLayout::Bundle => self.sign_bundle_keyless(repo, &digest, signer).await,
        }
        format!("{}/{repo}@{digest}", self.addr)
    }

    /// The simple-signing payload of `<addr>/<repo>@<digest>` naming `payload_digest`,
    /// as sigstore builds it, unsigned.
    fn unsigned_layer(&self, repo: &str, digest: &str, payload_digest: &str) -> SignatureLayer {
        let image: OciReference = format!("{}/{repo}@{digest}", self.addr)
            .parse()
            .expect("reference");
        SignatureLayer::new_unsigned(&image, payload_digest).expect("payload")
    }

    /// Adds one simple-signing layer with `annotations` to the `sha256-<digest>.sig`
    /// artifact, keeping the layers already there, as cosign appends signatures (and
    /// as sigstore's `push_signature` does, but keeping every annotation: it writes
    /// only the signature).
    async fn add_signature_layer(
        &self,
        repo: &str,
        digest: &str,
        payload: Vec<u8>,
        annotations: BTreeMap<String, String>,
    ) {
        let client = self.oci_client();
        let signatures = oci_client::Reference::with_tag(
            self.addr.clone(),
            repo.into(),
            format!("{}.sig", digest.replace(':', "-")),
        );
        let mut layers = match client
            .pull(
                &signatures,
                &RegistryAuth::Anonymous,
                vec![SIMPLE_SIGNING_MEDIA_TYPE],
            )
            .await
        {
            Ok(existing) => {
                let manifest = existing.manifest.expect("manifest");
                manifest
                    .layers
                    .into_iter()
                    .zip(existing.layers)
                    .map(|(descriptor, layer)| {
                        ImageLayer::new(
                            layer.data.to_vec(),
                            SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
                            descriptor.annotations,
                        )
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        layers.push(ImageLayer::new(
            payload,
            SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
            Some(annotations),
        ));
        // Pushed as plain JSON: oci-client's `push` writes OLPC canonical JSON, which
        // leaves the newlines of the PEM annotations unescaped, and the registry
        // refuses that manifest.
        let config = Config::oci_v1(b"{}".to_vec(), None);
        let mut manifest = OciImageManifest::build(&layers, &config, None);
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_string());
        for layer in &layers {
            self.push_blob(repo, &layer.data).await;
        }
        self.push_blob(repo, &config.data).await;
        client
            .push_manifest_raw(
                &signatures,
                serde_json::to_vec(&manifest).expect("manifest JSON"),
                OCI_IMAGE_MEDIA_TYPE.parse().expect("header value"),
            )
            .await
            .expect("push signature");
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ECDSA P-256 key pair as `cosign generate-key-pair` makes.
pub struct TestKey {
    private_pem: String,
    /// The public key as a policy's trusted key.
    pub trusted: TrustedKey,
}

impl TestKey {
    pub fn generate(name: &str) -> Self {
        let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .expect("generate key");
        let pair = signer.to_sigstore_keypair().expect("key pair");
        Self {
            private_pem: pair.private_key_to_pem().expect("private pem").to_string(),
            trusted: TrustedKey {
                name: name.to_string(),
                public_key: pair.public_key_to_pem().expect("public pem"),
            },
        }
    }

    /// A policy's key set holding only this key.
    pub fn keys(&self) -> &[TrustedKey] {
        std::slice::from_ref(&self.trusted)
    }

    pub(crate) fn signer(&self) -> sigstore::errors::Result<sigstore::crypto::SigStoreSigner> {
        self.key_pair()?
            .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
    }

    pub(crate) fn public_key_der(&self) -> Vec<u8> {
        self.key_pair()
            .and_then(|pair| pair.public_key_to_der())
            .expect("public key DER")
    }

    fn key_pair(&self) -> sigstore::errors::Result<sigstore::crypto::signing_key::SigStoreKeyPair> {
        sigstore::crypto::signing_key::SigStoreKeyPair::from_pem(self.private_pem.as_bytes())
    }
}

/// A loopback port that accepts connections (the kernel completes the handshake
/// into the backlog) and never answers: a registry that hangs.
pub fn silent_registry() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    (listener, addr)
}

/// A loopback port with nothing listening: a registry that is down.
pub fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

pub(crate) fn http_get_status(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    Some(String::from_utf8_lossy(&head[9..12]).into_owned())
}
