//! Finding apps among objects: which objects are routers, which label tells the
//! colors apart, and which Deployment runs each color.
//!
//! Discovery understands manifests as people write them, without any label of ours:
//! a Service whose selector carries the color label (default `color`), or an HTTPRoute
//! whose backendRef names one of two Services whose selectors differ in exactly one
//! label. The `bluegreen.dev/app` label and `bluegreen.dev/color-label` annotation
//! only refine it.
//!
//! This module holds the entry points; `service` and `route` resolve the two kinds
//! of router, `selector` matches label selectors, and `error` says what failed.

mod error;
mod route;
mod selector;
mod service;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

pub use self::error::DiscoveryError;
pub use self::route::backend_refs;
use self::route::{color_services, resolve_route};
pub use self::selector::{label_selector_matches, service_selects};
use self::selector::{selector_of, selects_except};
use self::service::{claims_to_be_router, color_label_key, resolve_service};
use crate::app::{App, ColorSide, Router, RouterKind, RouterRef};
use crate::snapshot::Snapshot;

/// Every app the namespace's objects describe, one result per router found.
///
/// A Service is a router when its selector carries the color label (or it carries
/// the `bluegreen.dev/app` label or color-label annotation and so claims to be one),
/// unless an HTTPRoute names it as a backend: then it is that route's color Service.
pub fn discover<'a>(snapshot: &Snapshot<'a>) -> Vec<Result<App<'a>, DiscoveryError>> {
    discover_where(snapshot, |_| true)
}

/// The apps whose router could select pods with one of these label sets: only they
/// can be concerned by a write of such a Deployment. Service routers whose selector
/// (color label aside) does not match are skipped unresolved, which keeps a
/// Deployment write's review independent of the namespace's other apps.
pub fn discover_touching<'a>(
    snapshot: &Snapshot<'a>,
    pod_labels: &[&BTreeMap<String, String>],
) -> Vec<Result<App<'a>, DiscoveryError>> {
    discover_where(snapshot, |service| {
        let key = color_label_key(service.annotations());
        let selector = selector_of(service);
        pod_labels
            .iter()
            .any(|labels| selects_except(selector, key, labels))
    })
}

/// Whether a Service is a router of its own, rather than an HTTPRoute's color Service
/// or no part of an app.
pub fn is_service_router(snapshot: &Snapshot<'_>, service: &Service) -> bool {
    claims_to_be_router(service)
        && !color_services(snapshot, &resolve_routes(snapshot)).contains(&service.name_any())
}

/// Whether a router object is an app's router: an HTTPRoute, or a Service router of its own
/// (not an HTTPRoute's color Service).
pub fn is_router(snapshot: &Snapshot<'_>, router: &Router<'_>) -> bool {
    match router {
        Router::HttpRoute(_) => true,
        Router::Service(service) => is_service_router(snapshot, service),
    }
}

/// The HTTPRoute apps that route through the Service called `name`, as they resolve in
/// `snapshot`, each with the color whose Service it is.
pub fn route_apps_through<'a>(
    snapshot: &Snapshot<'a>,
    name: &str,
) -> Vec<(App<'a>, ColorSide<'a>)> {
    resolve_routes(snapshot)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|app| {
            let side = [&app.live, &app.idle]
                .into_iter()
                .find(|side| {
                    side.service
                        .is_some_and(|s| s.metadata.name.as_deref() == Some(name))
                })
                .copied()?;
            Some((app, side))
        })
        .collect()
}

fn resolve_routes<'a>(snapshot: &Snapshot<'a>) -> Vec<Result<App<'a>, DiscoveryError>> {
    snapshot
        .routes
        .iter()
        .map(|route| resolve(snapshot, Router::HttpRoute(route)))
        .collect()
}

fn discover_where<'a>(
    snapshot: &Snapshot<'a>,
    mut keep: impl FnMut(&Service) -> bool,
) -> Vec<Result<App<'a>, DiscoveryError>> {
    let route_apps = resolve_routes(snapshot);
    let color_services = color_services(snapshot, &route_apps);
    let mut apps: Vec<_> = snapshot
        .services
        .iter()
        .filter(|service| {
            !color_services.contains(&service.name_any())
                && claims_to_be_router(service)
                && keep(service)
        })
        .map(|service| resolve(snapshot, Router::Service(service)))
        .collect();
    apps.extend(route_apps);
    apps
}

/// The router object a reference names, if the snapshot has it.
pub fn find_router<'a>(snapshot: &Snapshot<'a>, router: &RouterRef) -> Option<Router<'a>> {
    match router.kind {
        RouterKind::Service => snapshot.service(&router.name).map(Router::Service),
        RouterKind::HttpRoute => snapshot
            .routes
            .iter()
            .copied()
            .find(|r| r.metadata.name.as_deref() == Some(router.name.as_str()))
            .map(Router::HttpRoute),
    }
}

/// The app of one named router.
pub fn discover_router<'a>(
    snapshot: &Snapshot<'a>,
    router: &RouterRef,
) -> Result<App<'a>, DiscoveryError> {
    let found = find_router(snapshot, router).ok_or_else(|| DiscoveryError::RouterNotFound {
        router: router.clone(),
        namespace: snapshot.namespace.clone(),
    })?;
    resolve(snapshot, found)
}

/// The app a router object describes, for a router that may not be in the snapshot
/// (the new object of an admission request).
pub fn resolve<'a>(snapshot: &Snapshot<'a>, router: Router<'a>) -> Result<App<'a>, DiscoveryError> {
    match router {
        Router::Service(service) => resolve_service(snapshot, router, service),
        Router::HttpRoute(route) => resolve_route(snapshot, router, route),
    }
}

#[cfg(test)]
mod tests;
