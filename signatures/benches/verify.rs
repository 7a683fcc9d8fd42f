//! BG006 costs, per layout cosign writes and per kind of signer (a key, or keyless: a
//! test Fulcio certificate and Rekor entry checked against a trust root): a cold
//! verification against a local registry (what a Deployment create or image change
//! pays, once per digest and signer set), and the cached look-up a switch pays.
//! Figures in bench/README.md, "Signed images (BG006)".
//!
//! cargo bench -p signatures --bench verify

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use bluegreen_e2e::sigstore::{FulcioIdentity, KeylessSigner, TestSigstore};
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use oci_client::secrets::RegistryAuth;
use policy::crd::{Signers, TrustedIdentity};
use policy::{ImageVerdict, SignatureLayout};
use signatures::Verifier;
use support::{LocalRegistry, TestKey, WithVerifier, install_crypto_provider};
use tokio::runtime::Runtime;

const BUDGET: Duration = Duration::from_secs(5);

/// Who signs a row's image.
#[derive(Clone, Copy)]
enum Signing<'a> {
    Key(&'a TestKey),
    Keyless(KeylessSigner<'a>),
}

/// One signed image in one layout, on the registry that serves that layout, with
/// whom the policy trusts for it.
struct Layout<'a> {
    name: String,
    registry: LocalRegistry,
    image: String,
    signers: Signers<'a>,
    trusted_root: Option<String>,
    verified: ImageVerdict,
}

impl<'a> Layout<'a> {
    fn new(
        (name, registry, layout): (&str, LocalRegistry, SignatureLayout),
        rt: &Runtime,
        signing: Signing<'a>,
        identities: &'a [TrustedIdentity],
    ) -> Self {
        let image = rt.block_on(async {
            match (signing, layout) {
                (Signing::Key(key), SignatureLayout::Bundle) => {
                    registry.bundle_signed_image("app", "v1", key).await
                }
                (Signing::Key(key), SignatureLayout::SigTag) => {
                    registry.signed_image("app", "v1", key).await
                }
                (Signing::Keyless(signer), layout) => {
                    registry
                        .keyless_signed_image("app", "v1", layout, &signer)
                        .await
                }
            }
        });
        let (kind, signers, trusted_root, signer) = match signing {
            Signing::Key(key) => ("key", key.keys().into(), None, key.trusted.name.clone()),
            Signing::Keyless(signer) => (
                "keyless",
                Signers {
                    keys: &[],
                    identities,
                },
                Some(signer.sigstore.trusted_root_json()),
                format!(
                    "{} (subject {}, issuer {})",
                    identities[0].name, signer.identity.subject, signer.identity.issuer
                ),
            ),
        };
        Self {
            name: format!("{kind}, {name}"),
            registry,
            image,
            signers,
            trusted_root,
            verified: ImageVerdict::Verified { signer },
        }
    }

    fn verifier(&self, ttl: Duration) -> Verifier {
        self.registry
            .keyless_verifier(ttl, self.trusted_root.as_deref())
    }
}

/// The registries and layouts each kind of signer is measured on.
fn places() -> [(&'static str, LocalRegistry, SignatureLayout); 3] {
    [
        (
            "legacy .sig tag",
            LocalRegistry::start(),
            SignatureLayout::SigTag,
        ),
        (
            "bundle, referrers tag",
            LocalRegistry::start(),
            SignatureLayout::Bundle,
        ),
        (
            "bundle, referrers API (stand-in)",
            LocalRegistry::start_with_referrers_api(),
            SignatureLayout::Bundle,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    install_crypto_provider();
    let rt = Runtime::new().expect("runtime");
    let key = TestKey::generate("release");
    let sigstore = TestSigstore::generate("bench");
    let workflow = FulcioIdentity::github_workflow("acme/shop", "refs/heads/main");
    let identities = [TrustedIdentity {
        name: "release".into(),
        issuer: workflow.issuer.clone(),
        subject: Some(workflow.subject.clone()),
        ..TrustedIdentity::default()
    }];
    let keyless = Signing::Keyless(sigstore.signer(&workflow));
    let layouts: Vec<Layout<'_>> = places()
        .into_iter()
        .map(|place| Layout::new(place, &rt, Signing::Key(&key), &identities))
        .chain(
            places()
                .into_iter()
                .map(|place| Layout::new(place, &rt, keyless, &identities)),
        )
        .collect();

    for layout in &layouts {
        let served = |r: &LocalRegistry| r.requests_served() + r.referrers_requests().unwrap_or(0);
        let before = served(&layout.registry);
        let verdict = rt.block_on(layout.verifier(Duration::ZERO).verify(
            &layout.image,
            layout.signers,
            BUDGET,
        ));
        assert_eq!(verdict, layout.verified, "{}", layout.name);
        eprintln!(
            "{}: one cold verification, {} HTTP requests served",
            layout.name,
            served(&layout.registry) - before
        );
    }

    let mut group = c.benchmark_group("bg006");
    // Baseline: one manifest fetch of the legacy signature artifact over a warm
    // connection, the least a verification can cost.
    let legacy = &layouts[0];
    let client = legacy.registry.oci_client();
    let (name, digest) = legacy.image.split_once('@').expect("pinned");
    let signature_tag: oci_client::Reference = format!("{name}:{}.sig", digest.replace(':', "-"))
        .parse()
        .expect("signature reference");
    group.bench_function("baseline: one manifest fetch", |b| {
        b.iter(|| {
            rt.block_on(client.pull_image_manifest(&signature_tag, &RegistryAuth::Anonymous))
                .expect("manifest")
        })
    });
    for layout in &layouts {
        bench_layout(&mut group, &rt, layout);
    }
    group.finish();
}

fn bench_layout(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    layout: &Layout<'_>,
) {
    let Layout {
        name,
        image,
        signers,
        verified,
        ..
    } = layout;
    let signers = *signers;
    group.bench_function(
        format!("{name}: cold verify, new verifier and connection"),
        |b| {
            b.iter_batched(
                || layout.verifier(Duration::from_secs(600)),
                |verifier| {
                    assert_eq!(
                        &rt.block_on(verifier.verify(image, signers, BUDGET)),
                        verified
                    )
                },
                BatchSize::PerIteration,
            )
        },
    );
    // A zero TTL makes every call a miss, over connections kept alive.
    let uncached = layout.verifier(Duration::ZERO);
    group.bench_function(format!("{name}: cold verify, warm connection"), |b| {
        b.iter(|| {
            assert_eq!(
                &rt.block_on(uncached.verify(image, signers, BUDGET)),
                verified
            )
        })
    });
    let verifier = layout.verifier(Duration::from_secs(600));
    rt.block_on(verifier.verify(image, signers, BUDGET));
    group.bench_function(
        format!("{name}: cached look-up (admission hot path)"),
        |b| b.iter(|| assert_eq!(verifier.cached(image, signers).as_ref(), Some(verified))),
    );
    group.bench_function(format!("{name}: verify, cache hit"), |b| {
        b.iter(|| {
            assert_eq!(
                &rt.block_on(verifier.verify(image, signers, BUDGET)),
                verified
            )
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
