//! BG006 through the guard with a real registry on loopback (Debian's
//! `docker-registry`, started by `bluegreen_e2e::registry`): images a Deployment write
//! introduces are verified within the budget, results are cached, and a registry that
//! never answers gives a refusal naming it instead of a hang.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bluegreen_e2e::registry::{LocalRegistry, TestKey, install_crypto_provider, silent_registry};
use bluegreen_guard::images::RegistryVerification;
use bluegreen_guard::{AppState, Clock, Guard, Unsynced, answer};
use common::{Cluster, NOW, deployment, set};
use serde_json::{Value, json};
use signatures::{Verifier, VerifierConfig};

/// The guard over the captured Service app, with a policy trusting `key`, verifying
/// against `registry` (plain HTTP) within `budget`.
fn guard(key: &TestKey, registry: &str, budget: Duration) -> Arc<AppState> {
    install_crypto_provider();
    let cluster = Cluster::service_app().with_policy(json!({"trustedKeys": [key.trusted]}));
    let verifier = Verifier::new(VerifierConfig {
        insecure_registries: vec![registry.to_string()],
        ..VerifierConfig::default()
    })
    .unwrap();
    let images = RegistryVerification::new(verifier, budget);
    AppState::new(
        Guard::new(cluster.cache(), Unsynced::Deny)
            .with_clock(Clock::Fixed(NOW.parse().unwrap()))
            .with_image_verifier(Arc::new(images)),
    )
}

/// An UPDATE of the idle color app-green to `image`.
fn green_update(image: &str) -> Vec<u8> {
    let old = deployment("green");
    let mut new = old.clone();
    set(
        &mut new,
        "/spec/template/spec/containers/0/image",
        json!(image),
    );
    let mut review = common::review("deployment-create");
    set(&mut review, "/request/operation", json!("UPDATE"));
    set(&mut review, "/request/name", json!("app-green"));
    set(&mut review, "/request/oldObject", old);
    set(&mut review, "/request/object", new);
    review.to_string().into_bytes()
}

async fn respond(state: &AppState, body: &[u8]) -> Value {
    let answer = answer(state, body).await.unwrap();
    let review: Value = serde_json::from_slice(&answer).unwrap();
    review["response"].clone()
}

fn refusal(response: &Value) -> &str {
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403);
    response["status"]["message"].as_str().unwrap()
}

fn metric(state: &AppState, line_start: &str) -> String {
    let text = state.metrics.render(state.guard.cache());
    text.lines()
        .find(|line| line.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
        .to_string()
}

#[tokio::test]
async fn an_unsigned_image_is_refused_with_the_bg006_line() {
    let registry = LocalRegistry::start();
    let key = TestKey::generate("release");
    let image = registry.pushed_image("api", "unsigned").await;
    let state = guard(&key, &registry.addr, Duration::from_secs(2));
    let response = respond(&state, &green_update(&image)).await;
    assert_eq!(
        refusal(&response),
        format!(
            "BG006 signed-images: container api of green (Deployment app-green) runs {image}, which has no cosign signature (neither a Sigstore bundle among its OCI referrers nor a legacy sha256-<digest>.sig tag); sign it with a trusted key (cosign sign --key <key> <image>)"
        )
    );
    assert_eq!(
        metric(&state, "bluegreen_guard_image_verifications_total{"),
        "bluegreen_guard_image_verifications_total{verdict=\"unsigned\"} 1"
    );
}

#[tokio::test]
async fn a_signed_image_is_allowed_and_the_second_review_is_a_cache_hit() {
    let registry = LocalRegistry::start();
    let key = TestKey::generate("release");
    let image = registry.signed_image("api", "v2", &key).await;
    let state = guard(&key, &registry.addr, Duration::from_secs(2));
    let body = green_update(&image);

    let first = respond(&state, &body).await;
    assert_eq!(first["allowed"], true, "{first}");
    let served = registry.requests_served();
    assert!(served > 0, "the first review asked the registry");

    let second = respond(&state, &body).await;
    assert_eq!(second["allowed"], true, "{second}");
    assert_eq!(
        registry.requests_served(),
        served,
        "no registry request on the second review"
    );
    assert_eq!(
        metric(&state, "bluegreen_guard_image_verifications_total{"),
        "bluegreen_guard_image_verifications_total{verdict=\"verified\"} 1"
    );
    assert_eq!(
        metric(&state, "bluegreen_guard_image_cache_hits_total "),
        "bluegreen_guard_image_cache_hits_total 1"
    );
}

#[tokio::test]
async fn an_image_signed_by_another_key_is_refused() {
    let registry = LocalRegistry::start();
    let trusted = TestKey::generate("release");
    let other = TestKey::generate("someone-else");
    let image = registry.signed_image("api", "v3", &other).await;
    let state = guard(&trusted, &registry.addr, Duration::from_secs(2));
    let response = respond(&state, &green_update(&image)).await;
    assert_eq!(
        refusal(&response),
        format!(
            "BG006 signed-images: container api of green (Deployment app-green) runs {image}, which is signed, but by none of the trusted keys: found a legacy .sig signature by an untrusted key; sign it with one of the trusted keys of BlueGreenPolicy default (release)"
        )
    );
}

#[tokio::test]
async fn a_registry_that_never_answers_is_named_in_a_refusal_within_the_budget() {
    let (_listener, addr) = silent_registry();
    let key = TestKey::generate("release");
    let image = format!("{addr}/api@sha256:{}", "a".repeat(64));
    let state = guard(&key, &addr, Duration::from_millis(300));
    let response = respond(&state, &green_update(&image)).await;
    assert_eq!(
        refusal(&response),
        format!(
            "BG006 signed-images: container api of green (Deployment app-green) runs {image}, which could not be verified: registry {addr} did not answer in time (no answer within 300ms); check that {addr} is reachable from the guard, then retry"
        )
    );
    assert_eq!(
        metric(&state, "bluegreen_guard_image_verifications_total{"),
        "bluegreen_guard_image_verifications_total{verdict=\"unreachable\"} 1"
    );
}
