//! Judging one write: the guard describes an admission request as a [`Change`], hands
//! in the namespace's stored state, and gets the findings back. The plugin's pre-flight
//! uses the same entry points, so both say the same thing.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;

use crate::app::{App, ColorSide, Router};
use crate::contract::{APP_LABEL, COLOR_LABEL_ANNOTATION};
use crate::discovery::{self, DiscoveryError, discover};
use crate::finding::{Finding, Findings, ObjectRef, RuleId};
pub use crate::rules::{Context, Requester};
use crate::rules::{
    check_switch, config_parity, distinct_colors, governed, immutable_live, netpol_parity,
    readiness_probes, signed_images, switch_identity, warm_rollback,
};
use crate::snapshot::Snapshot;

/// One write, as the rules see it. `old` is the stored object (absent on create),
/// `new` the object as it would be stored (absent on delete).
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// A Service or HTTPRoute.
    Router {
        /// Before.
        old: Option<Router<'a>>,
        /// After.
        new: Option<Router<'a>>,
    },
    /// A Deployment.
    Deployment {
        /// Before.
        old: Option<&'a Deployment>,
        /// After.
        new: Option<&'a Deployment>,
    },
    /// The `scale` subresource of a stored Deployment.
    Scale {
        /// The stored Deployment.
        deployment: &'a Deployment,
        /// The requested replicas.
        replicas: i32,
    },
    /// A NetworkPolicy.
    NetworkPolicy {
        /// Before.
        old: Option<&'a NetworkPolicy>,
        /// After.
        new: Option<&'a NetworkPolicy>,
    },
}

/// The findings for one write against the stored state `snapshot` of its namespace.
pub fn review(change: &Change<'_>, snapshot: &Snapshot<'_>, ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Findings::default();
    match *change {
        Change::Router { old, new } => review_router(old, new, snapshot, ctx, &mut out),
        Change::Deployment { old, new } => review_deployment(old, new, snapshot, ctx, &mut out),
        Change::Scale {
            deployment,
            replicas,
        } => {
            for (app, side) in colors_of(snapshot, deployment) {
                warm_rollback::evaluate(&app, &side, Some(replicas), ctx, &mut out);
            }
        }
        Change::NetworkPolicy { old, new } => {
            review_network_policy(old, new, snapshot, ctx, &mut out)
        }
    }
    out.into_vec()
}

/// The apps of the snapshot whose colors include this Deployment (by its name), each
/// with the color it runs.
fn colors_of<'a>(
    snapshot: &Snapshot<'a>,
    deployment: &Deployment,
) -> Vec<(App<'a>, ColorSide<'a>)> {
    let name = deployment.name_any();
    let labels = template_labels_or_empty(deployment);
    discovery::discover_touching(snapshot, &[labels])
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|app| {
            let side = *app.side_of_deployment(&name)?;
            Some((app, side))
        })
        .collect()
}

fn template_labels_or_empty(deployment: &Deployment) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    crate::app::template_labels(deployment).unwrap_or(&EMPTY)
}

/// Whether a router write changes who gets traffic or whether the guard sees the
/// router at all: its selector or backendRefs, its app label, or its color label.
fn routing_changed(old: &Router<'_>, new: &Router<'_>) -> bool {
    let spec_changed = match (old, new) {
        (Router::Service(a), Router::Service(b)) => {
            a.spec.as_ref().map(|s| &s.selector) != b.spec.as_ref().map(|s| &s.selector)
        }
        (Router::HttpRoute(a), Router::HttpRoute(b)) => {
            let namespace = a.namespace().unwrap_or_default();
            discovery::backend_refs(a, &namespace) != discovery::backend_refs(b, &namespace)
        }
        _ => true,
    };
    spec_changed
        || old.labels().get(APP_LABEL) != new.labels().get(APP_LABEL)
        || old.annotations().get(COLOR_LABEL_ANNOTATION)
            != new.annotations().get(COLOR_LABEL_ANNOTATION)
}

fn review_router(
    old: Option<Router<'_>>,
    new: Option<Router<'_>>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    if let (Some(old), Some(new)) = (old, new) {
        leaving_sight(old, new, snapshot, ctx, out);
    }
    let labelled = |router: &Router<'_>| router.labels().contains_key(APP_LABEL);
    if let Some(Router::HttpRoute(route)) = new.filter(|r| !labelled(r)) {
        // Sent by the chart's entry for unlabelled HTTPRoutes, or a route leaving the
        // guard's sight, which was judged above.
        if !old.is_some_and(|r| labelled(&r)) {
            governed::evaluate_unlabelled_route(route, snapshot, ctx, out);
        }
        return;
    }
    let old = match old.filter(|r| discovery::is_router(snapshot, r)) {
        None => {
            review_color_service(old, new, snapshot, ctx, out);
            None
        }
        router => router,
    };
    let new = new.filter(|r| discovery::is_router(snapshot, r));
    match (old, new) {
        (None, None) => {}
        (Some(old), None) => switch_identity::evaluate(&old, ctx, out),
        (None, Some(new)) => {
            // A router created (or a Service becoming one): privileged, and its app must
            // be well-formed. An app whose Deployments do not exist yet or have no
            // available pods is being installed, not switched, so installs in any order
            // work; over a color that already serves, the router is a switch to its live
            // color, so deleting and re-creating a router is no way around the switch rules.
            switch_identity::evaluate(&new, ctx, out);
            match discovery::resolve(snapshot, new) {
                Ok(app) if app.live.has_available_pods() || app.idle.has_available_pods() => {
                    extend_switch(out, check_switch(&app, &app.live, snapshot, ctx));
                }
                Ok(app) => standing_rules(&app, snapshot, ctx, out),
                Err(err) => {
                    distinct_colors::evaluate(&new, &err, ctx, out);
                }
            }
        }
        (Some(old), Some(new)) => {
            if !routing_changed(&old, &new) {
                return;
            }
            switch_identity::evaluate(&new, ctx, out);
            let before = discovery::resolve(snapshot, old);
            let after = discovery::resolve(snapshot, new);
            judge_traffic_change(before, after, new, snapshot, ctx, out);
        }
    }
}

/// Judges a write that changes where an app's traffic goes, from the app as it
/// resolved before to the app as it resolves after: a switch, a split, a broken app,
/// or the app's standing rules.
fn judge_traffic_change(
    before: Result<App<'_>, DiscoveryError>,
    after: Result<App<'_>, DiscoveryError>,
    router_after: Router<'_>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    match (before, after) {
        (Ok(before), Ok(after)) if before.live.color != after.live.color => {
            let target = *before.side(after.live.color).unwrap_or(&after.live);
            extend_switch(out, check_switch(&before, &target, snapshot, ctx));
        }
        (_, Ok(after)) => standing_rules(&after, snapshot, ctx, out),
        (Ok(before), Err(DiscoveryError::SplitTraffic { .. })) => {
            // Part of the traffic moves to the idle color: it must be as ready
            // as for a full switch.
            extend_switch(out, check_switch(&before, &before.idle, snapshot, ctx));
        }
        (Ok(_), Err(err)) => {
            // The write would leave a working app undiscoverable: traffic to
            // both colors, to none, or to pods of the wrong app.
            if !distinct_colors::evaluate(&router_after, &err, ctx, out) {
                distinct_colors::evaluate_breaking_write(&router_after, &err, ctx, out);
            }
        }
        (Err(_), Err(err)) => {
            distinct_colors::evaluate(&router_after, &err, ctx, out);
        }
    }
}

/// A switch's findings, but BG003: the router write's requester was judged already.
fn extend_switch(out: &mut Findings, findings: Vec<Finding>) {
    extend(
        out,
        findings.into_iter().filter(|f| f.rule != RuleId::BG003),
    );
}

fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    service.spec.as_ref()?.selector.as_ref()
}

/// BG011: a write that takes a router, or an HTTPRoute app's color Service, out of the
/// guard's sight, judged on what it was.
fn leaving_sight(
    old: Router<'_>,
    new: Router<'_>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let Some(how) = governed::router_leaves(&old, &new) else {
        return;
    };
    if discovery::is_router(snapshot, &old) {
        if let Ok(app) = discovery::resolve(snapshot, old) {
            governed::evaluate_router(&app, &how, ctx, out);
        }
        return;
    }
    if let Router::Service(service) = old {
        let name = service.name_any();
        for (app, side) in discovery::route_apps_through(snapshot, &name) {
            let object = ObjectRef::new("Service", &snapshot.namespace, &name);
            governed::evaluate_color(&app, &side, object, &how, ctx, out);
        }
    }
}

/// A write of an HTTPRoute app's color Service that changes its selector changes where
/// the route's traffic goes: judged like a write of the route itself.
fn review_color_service<'a>(
    old: Option<Router<'a>>,
    new: Option<Router<'a>>,
    snapshot: &Snapshot<'a>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let (Some(Router::Service(old)), new) = (old, new) else {
        return;
    };
    let new = match new {
        Some(Router::Service(new)) => Some(new),
        _ => None,
    };
    let name = old.name_any();
    if selector(old) == new.and_then(selector) {
        return;
    }
    let after = snapshot.with_service(&name, new);
    for (before, _) in discovery::route_apps_through(snapshot, &name) {
        let route = before.router;
        switch_identity::evaluate(&route, ctx, out);
        let resolved = discovery::resolve(&after, route);
        judge_traffic_change(Ok(before), resolved, route, snapshot, ctx, out);
    }
}

fn extend(out: &mut Findings, findings: impl IntoIterator<Item = Finding>) {
    for f in findings {
        out.push(f.action, f.rule, f.object, f.message, f.fix);
    }
}

/// The rules an app must satisfy at all times.
fn standing_rules(app: &App<'_>, snapshot: &Snapshot<'_>, ctx: &Context<'_>, out: &mut Findings) {
    extend(out, crate::rules::check_app(app, snapshot, ctx));
}

fn review_deployment(
    old: Option<&Deployment>,
    new: Option<&Deployment>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let Some(written) = new.or(old) else { return };
    let name = written.name_any();
    let Some(new) = new else {
        for (app, side) in colors_of(snapshot, written) {
            warm_rollback::evaluate(&app, &side, None, ctx, out);
        }
        return;
    };
    // The live color is judged on the stored state: its template is frozen, it
    // cannot be scaled away, and (with the previous color) it stays in the guard's sight.
    let mut live_of_an_app = false;
    if let Some(old) = old {
        let leaves = governed::label_leaves(old.labels(), new.labels());
        for (app, side) in colors_of(snapshot, old) {
            if app.live.deployment_name() == side.deployment_name() {
                live_of_an_app = true;
                immutable_live::evaluate(&app, old, new, ctx, out);
            }
            let replicas = new.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            warm_rollback::evaluate(&app, &side, Some(replicas), ctx, out);
            if let Some(how) = leaves.as_deref().filter(|_| app.is_labelled()) {
                governed::evaluate_color(&app, &side, side.object_ref(), how, ctx, out);
            }
        }
    }
    if live_of_an_app {
        return;
    }
    // The idle color (or a new Deployment) is judged on the state after the write,
    // among the apps whose routers could select its pods before or after.
    let touching: Vec<&BTreeMap<String, String>> = old
        .into_iter()
        .chain([new])
        .map(template_labels_or_empty)
        .collect();
    let after = snapshot.with_deployment(&name, Some(new));
    let mut broken_before: Option<Vec<Result<App<'_>, DiscoveryError>>> = None;
    for result in discovery::discover_touching(&after, &touching) {
        match result {
            Ok(app) => {
                let Some(side) = app.side_of_deployment(&name) else {
                    continue;
                };
                config_parity::evaluate(side, app.other(side.color), ctx, out);
                signed_images::evaluate(side, ctx, out);
                readiness_probes::evaluate(side, ctx, out);
                new_netpol_asymmetries(&app, snapshot, &after, ctx, out);
            }
            Err(err) if err.rule() == Some(RuleId::BG010) => {
                let before = broken_before
                    .get_or_insert_with(|| discovery::discover_touching(snapshot, &touching));
                let was_broken = before.iter().any(|r| r.as_ref().err() == Some(&err));
                let router = err.router().and_then(|r| discovery::find_router(&after, r));
                if let (false, Some(router)) = (was_broken, router) {
                    distinct_colors::evaluate(&router, &err, ctx, out);
                }
            }
            Err(_) => {}
        }
    }
}

/// BG005 findings present after a write but not before: a write is judged on the
/// asymmetry it introduces, not on one it merely leaves in place.
fn new_netpol_asymmetries(
    app_after: &App<'_>,
    before: &Snapshot<'_>,
    after: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let mut existing = Findings::default();
    if let Ok(app_before) = discovery::resolve(before, app_after.router) {
        netpol_parity::evaluate(&app_before, before, ctx, &mut existing);
    }
    let existing = existing.into_vec();
    let mut now = Findings::default();
    netpol_parity::evaluate(app_after, after, ctx, &mut now);
    extend(
        out,
        now.into_vec()
            .into_iter()
            .filter(|f| !existing.iter().any(|e| e.object == f.object)),
    );
}

fn review_network_policy(
    old: Option<&NetworkPolicy>,
    new: Option<&NetworkPolicy>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let Some(name) = new.or(old).map(|p| p.name_any()) else {
        return;
    };
    let after = snapshot.with_network_policy(&name, new);
    for app in discover(&after).into_iter().filter_map(Result::ok) {
        new_netpol_asymmetries(&app, snapshot, &after, ctx, out);
    }
}

#[cfg(test)]
#[path = "review_tests.rs"]
mod tests;
