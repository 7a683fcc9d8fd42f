//! The decision alone, from memory: 10,000 Deployments, 2,000 Services and 1,000
//! NetworkPolicies cached. `decide` judges a parsed request; `answer` is the whole
//! request path without HTTP (parse the body, decide, count, serialize).
//! `guard-side/*` splits the guard's own share off `policy::review`: reading the body
//! into typed objects (beside reading it as `DynamicObject`s, as an allow-all webhook
//! written after kube-rs's example does), and picking the policy and the namespace's snapshot.

mod common;

use bluegreen_guard::admission::parse_review;
use bluegreen_guard::{AppState, Guard, Unsynced, answer};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;

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

criterion_group!(benches, decisions, guard_side);
criterion_main!(benches);
