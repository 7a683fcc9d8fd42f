//! BG006 costs, per layout cosign writes: a cold verification against a local registry
//! (what a Deployment create or image change pays, once per digest and key set), and
//! the cached look-up a switch pays. Figures in bench/README.md, "Signed images (BG006)".
//!
//! cargo bench -p signatures --bench verify

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use oci_client::secrets::RegistryAuth;
use policy::ImageVerdict;
use support::{LocalRegistry, TestKey, WithVerifier, install_crypto_provider};
use tokio::runtime::Runtime;

const BUDGET: Duration = Duration::from_secs(5);

/// One signed image in one layout, on the registry that serves that layout.
struct Layout {
    name: &'static str,
    registry: LocalRegistry,
    image: String,
}

impl Layout {
    fn new(
        name: &'static str,
        registry: LocalRegistry,
        rt: &Runtime,
        key: &TestKey,
        bundle: bool,
    ) -> Self {
        let image = rt.block_on(async {
            match bundle {
                true => registry.bundle_signed_image("app", "v1", key).await,
                false => registry.signed_image("app", "v1", key).await,
            }
        });
        Self {
            name,
            registry,
            image,
        }
    }
}

fn bench(c: &mut Criterion) {
    install_crypto_provider();
    let rt = Runtime::new().expect("runtime");
    let key = TestKey::generate("release");
    let layouts = [
        Layout::new("legacy .sig tag", LocalRegistry::start(), &rt, &key, false),
        Layout::new(
            "bundle, referrers tag",
            LocalRegistry::start(),
            &rt,
            &key,
            true,
        ),
        Layout::new(
            "bundle, referrers API (stand-in)",
            LocalRegistry::start_with_referrers_api(),
            &rt,
            &key,
            true,
        ),
    ];
    let keys = key.keys();
    let verified = ImageVerdict::Verified {
        key: "release".into(),
    };

    for layout in &layouts {
        let served = |r: &LocalRegistry| r.requests_served() + r.referrers_requests().unwrap_or(0);
        let before = served(&layout.registry);
        rt.block_on(
            layout
                .registry
                .verifier(Duration::ZERO)
                .verify(&layout.image, keys, BUDGET),
        );
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
        bench_layout(&mut group, &rt, layout, keys, &verified);
    }
    group.finish();
}

fn bench_layout(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    layout: &Layout,
    keys: &[policy::crd::TrustedKey],
    verified: &ImageVerdict,
) {
    let Layout {
        name,
        registry,
        image,
    } = layout;
    group.bench_function(
        format!("{name}: cold verify, new verifier and connection"),
        |b| {
            b.iter_batched(
                || registry.verifier(Duration::from_secs(600)),
                |verifier| assert_eq!(&rt.block_on(verifier.verify(image, keys, BUDGET)), verified),
                BatchSize::PerIteration,
            )
        },
    );
    // A zero TTL makes every call a miss, over connections kept alive.
    let uncached = registry.verifier(Duration::ZERO);
    group.bench_function(format!("{name}: cold verify, warm connection"), |b| {
        b.iter(|| assert_eq!(&rt.block_on(uncached.verify(image, keys, BUDGET)), verified))
    });
    let verifier = registry.verifier(Duration::from_secs(600));
    rt.block_on(verifier.verify(image, keys, BUDGET));
    group.bench_function(
        format!("{name}: cached look-up (admission hot path)"),
        |b| b.iter(|| assert_eq!(verifier.cached(image, keys).as_ref(), Some(verified))),
    );
    group.bench_function(format!("{name}: verify, cache hit"), |b| {
        b.iter(|| assert_eq!(&rt.block_on(verifier.verify(image, keys, BUDGET)), verified))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
