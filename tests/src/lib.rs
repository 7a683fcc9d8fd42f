//! End-to-end test support for bluegreen: an in-process Kubernetes API server that behaves like
//! kube-apiserver for kubectl, kube-rs and admission webhooks ([`apiserver`]), a recording
//! webhook ([`recording_webhook`]) and throwaway TLS certificates ([`tls`]).
//! Never part of a shipped binary.

pub mod apiserver;
pub mod chart;
pub mod cosign_bundle;
pub mod e2e;
pub mod prometheus;
pub mod recording_webhook;
pub mod referrers;
pub mod registry;
pub mod sigstore;
pub mod tls;

pub use apiserver::{Config, Denial, ProxyTarget, TestApiServer, User};
