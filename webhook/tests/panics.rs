//! A handler that panics is answered with a 500 and a message, and counted; the
//! connection is not dropped and the guard keeps serving.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::routing;
use bluegreen_guard::metrics::Metrics;
use bluegreen_guard::server::catch_panics;
use common::{Cluster, post};
use serde_json::Value;

/// A handler with a bug that some input reaches.
async fn buggy() -> &'static str {
    panic!("a bug reached by some input")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_is_counted() {
    let metrics = Arc::new(Metrics::default());
    let routes: Router = Router::new().route("/validate", routing::post(buggy));
    let router = catch_panics(routes, Arc::clone(&metrics));
    let (status, body) = post(router.clone(), "{}").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        Value::String("bluegreen-guard failed on this request (a bug: it is logged and counted in bluegreen_guard_panics); retry, and report it with the guard's log\n".into())
    );
    let (again, _) = post(router, "{}").await;
    assert_eq!(again, 500, "the router keeps serving");
    let rendered = metrics.render(&Cluster::service_app().cache());
    assert!(
        rendered.contains("bluegreen_guard_panics_total 2\n"),
        "{rendered}"
    );
}
