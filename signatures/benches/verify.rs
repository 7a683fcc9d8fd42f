//! BG006 costs: a cold verification against a local registry (what a Deployment
//! create or image change pays, once per digest and key set), and the cached look-up
//! a switch pays. Figures in bench/README.md, "Signed images (BG006)".
//!
//! cargo bench -p signatures --bench verify

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use oci_client::secrets::RegistryAuth;
use policy::ImageVerdict;
use support::{LocalRegistry, TestKey, WithVerifier, install_crypto_provider};

const BUDGET: Duration = Duration::from_secs(5);

fn bench(c: &mut Criterion) {
    install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registry = LocalRegistry::start();
    let key = TestKey::generate("release");
    let image = rt.block_on(async {
        let digest = registry.push_image("app", "v1").await;
        registry.sign("app", &digest, &digest, &key).await;
        format!("{}/app@{digest}", registry.addr)
    });
    let keys = key.keys();
    let verified = ImageVerdict::Verified {
        key: "release".into(),
    };

    let before = registry.requests_served();
    rt.block_on(
        registry
            .verifier(Duration::ZERO)
            .verify(&image, keys, BUDGET),
    );
    eprintln!(
        "one cold verification: {} HTTP requests served by the registry",
        registry.requests_served() - before
    );

    let mut group = c.benchmark_group("bg006");
    // Baseline: one manifest fetch of the signature artifact over a warm connection,
    // the least a verification can cost.
    let client = registry.oci_client();
    let signature_tag: oci_client::Reference = format!(
        "{}:{}.sig",
        image.split('@').next().unwrap_or_default(),
        image
            .split('@')
            .nth(1)
            .unwrap_or_default()
            .replace(':', "-")
    )
    .parse()
    .expect("signature reference");
    group.bench_function("baseline: one manifest fetch", |b| {
        b.iter(|| {
            rt.block_on(client.pull_image_manifest(&signature_tag, &RegistryAuth::Anonymous))
                .expect("manifest")
        })
    });
    group.bench_function("cold verify, new verifier and connection", |b| {
        b.iter_batched(
            || registry.verifier(Duration::from_secs(600)),
            |verifier| {
                let verdict = rt.block_on(verifier.verify(&image, keys, BUDGET));
                assert_eq!(verdict, verified);
            },
            BatchSize::PerIteration,
        )
    });
    // A zero TTL makes every call a miss, over connections kept alive.
    let uncached = registry.verifier(Duration::ZERO);
    group.bench_function("cold verify, warm connection", |b| {
        b.iter(|| assert_eq!(rt.block_on(uncached.verify(&image, keys, BUDGET)), verified))
    });
    let verifier = registry.verifier(Duration::from_secs(600));
    rt.block_on(verifier.verify(&image, keys, BUDGET));
    group.bench_function("cached look-up (admission hot path)", |b| {
        b.iter(|| assert_eq!(verifier.cached(&image, keys).as_ref(), Some(&verified)))
    });
    group.bench_function("verify, cache hit", |b| {
        b.iter(|| assert_eq!(rt.block_on(verifier.verify(&image, keys, BUDGET)), verified))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
