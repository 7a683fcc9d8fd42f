//! The decision alone, from memory: 10,000 Deployments, 2,000 Services and 1,000
//! NetworkPolicies cached. `decide` judges a parsed request; `answer` is the whole
//! request path without HTTP (parse the body, decide, count, serialize); `decide, CPU
//! caches flushed` is `decide` with the CPU's caches overwritten before each decision,
//! as they are under load.
//! `guard-side/*` splits the guard's own share off `policy::review`: reading the body
//! into typed objects (beside reading it as `DynamicObject`s, as an allow-all webhook
//! written after kube-rs's example does), and picking the policy and the namespace's snapshot.
//! `catch-panic layer/*`: one request through tower without and with the layer that
//! answers a panicking handler with a 500.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use bluegreen_guard::admission::parse_review;
use bluegreen_guard::metrics::Metrics;
use bluegreen_guard::server::catch_panics;
use bluegreen_guard::{AppState, Guard, Unsynced, answer};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;
use tower::ServiceExt as _;

fn decisions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let state = AppState::new(Guard::new(common::cache(), Unsynced::Deny));
    for (name, review) in common::scenarios() {
        let body = review.to_string().into_bytes();
        let request = parse_review(&body).unwrap();
        let expect_allowed = !name.starts_with("denied");
        assert_eq!(
            state.guard.decide(request.clone()).response.allowed,
            expect_allowed,
            "{name}"
        );
        c.bench_function(&format!("decide/{name}"), |b| {
            b.iter_batched(
                || request.clone(),
                |r| state.guard.decide(r),
                BatchSize::SmallInput,
            )
        });
        c.bench_function(&format!("answer/{name}"), |b| {
            b.iter(|| runtime.block_on(answer(&state, &body)).unwrap())
        });
    }
    // Under load the cached objects are no longer in the CPU's caches when the next
    // review comes: the same decisions, each after the caches were overwritten.
    let mut cold = c.benchmark_group("decide, CPU caches flushed");
    cold.sample_size(30);
    let mut scratch = vec![0u8; FLUSH_BYTES];
    for (name, review) in common::scenarios() {
        let request = parse_review(review.to_string().as_bytes()).unwrap();
        cold.bench_function(name, |b| {
            b.iter_batched(
                || {
                    flush_cpu_caches(&mut scratch);
                    request.clone()
                },
                |r| state.guard.decide(r),
                BatchSize::PerIteration,
            )
        });
    }
}

/// Twice the last-level cache of the machines benchmarked (32 MiB).
const FLUSH_BYTES: usize = 64 << 20;

/// Writes a buffer larger than the CPU's caches, one byte per cache line, so that what
/// was cached before is evicted.
fn flush_cpu_caches(scratch: &mut [u8]) {
    for line in scratch.chunks_mut(64) {
        line[0] = line[0].wrapping_add(1);
    }
    std::hint::black_box(scratch);
}

/// The guard's work around `policy::review` for the Deployment update.
fn guard_side(c: &mut Criterion) {
    let cache = common::cache();
    let body = common::allowed_deployment_update().to_string().into_bytes();
    c.bench_function("guard-side/parse body", |b| {
        b.iter(|| parse_review(&body).unwrap())
    });
    // For comparison: the same body read as kube-rs's admission example (and the
    // load benchmark's allow-all webhook) reads it.
    c.bench_function("guard-side/parse body as DynamicObjects", |b| {
        b.iter(|| serde_json::from_slice::<AdmissionReview<DynamicObject>>(&body).unwrap())
    });
    c.bench_function("guard-side/policy and snapshot", |b| {
        b.iter(|| {
            let index = cache.read();
            let policy = index.policy_for(common::NAMESPACE).unwrap();
            let snapshot = index.snapshot(common::NAMESPACE);
            (policy.capacity_ratio, snapshot.deployments.len())
        })
    });
}

/// Discovering one app, with the cache's pod label index and by reading every
/// Deployment of the namespace, as namespaces grow.
fn discovery(c: &mut Criterion) {
    let router = "svc/app-4".parse().unwrap();
    for workers in [0, 1000] {
        let cache = common::crowded_namespace(workers);
        let index = cache.read();
        let indexed = index.snapshot(common::NAMESPACE);
        let mut scanned = indexed.clone();
        scanned.pod_labels = None;
        let size = indexed.deployments.len();
        for (how, snapshot) in [
            ("pod label index", &indexed),
            ("every Deployment read", &scanned),
        ] {
            c.bench_function(
                &format!("discover one app/{size} Deployments, {how}"),
                |b| b.iter(|| policy::discover_router(snapshot, &router).unwrap()),
            );
        }
    }
}

/// What the catch-panic layer adds to one request: the same trivial route served through
/// tower, without and with the layer (`server::catch_panics`, on every admission route).
fn catch_panic(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let plain = Router::new().route("/validate", post(|| async { "ok" }));
    let caught = catch_panics(plain.clone(), Arc::new(Metrics::default()));
    let request = || {
        axum::http::Request::post("/validate")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    for (name, router) in [("without", plain), ("with", caught)] {
        c.bench_function(&format!("catch-panic layer/{name}"), |b| {
            b.iter(|| runtime.block_on(router.clone().oneshot(request())).unwrap())
        });
    }
}

criterion_group!(benches, decisions, guard_side, discovery, catch_panic);
criterion_main!(benches);
