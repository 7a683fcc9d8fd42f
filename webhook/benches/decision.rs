//! The decision alone, from memory: 10,000 Deployments, 2,000 Services and 1,000
//! NetworkPolicies cached. `decide` judges a parsed request; `answer` is the whole
//! request path without HTTP (parse the body, decide, count, serialize).

mod common;

use bluegreen_guard::admission::parse_review;
use bluegreen_guard::{AppState, Guard, Unsynced, answer};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn decisions(c: &mut Criterion) {
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
            b.iter(|| answer(&state, &body).unwrap())
        });
    }
}

criterion_group!(benches, decisions);
criterion_main!(benches);
