//! BG011 governed: an app that serves traffic stays in the guard's sight.
//!
//! The API server sends the guard only the writes of objects that carry
//! `bluegreen.dev/app` (the webhook's objectSelector matches the old or the new object).
//! A write that takes the label away, or turns the router into something that no longer
//! routes by color, would let the next write (a switch, a scale to zero, a deletion)
//! through unjudged. Such a write is judged on what the object was; and a labelled
//! router's colors must carry the label too, or their writes never reach the guard.

use gateway_api::apis::standard::httproutes::HttpRoute as HTTPRoute;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use crate::app::{App, ColorSide, Router};
use crate::contract::APP_LABEL;
use crate::crd::Action;
use crate::discovery;
use crate::finding::{Findings, ObjectRef, RuleId};
use crate::rules::warm_rollback::warm_until;
use crate::rules::{Context, describe_side, switch_identity};
use crate::snapshot::Snapshot;

/// How a write of an object takes it out of the guard's sight, judged on its labels
/// before and after: `removing its bluegreen.dev/app label`, or changing its value.
pub fn label_leaves(
    old: &std::collections::BTreeMap<String, String>,
    new: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    match (old.get(APP_LABEL), new.get(APP_LABEL)) {
        (Some(_), None) => Some(format!("removing its {APP_LABEL} label")),
        (Some(before), Some(after)) if before != after => Some(format!(
            "changing its {APP_LABEL} label from {before} to {after}"
        )),
        _ => None,
    }
}

/// How a router write takes the router out of the guard's sight, if it does: its app
/// label goes or changes, or the Service becomes an ExternalName (which sends its
/// traffic to a DNS name, whatever its selector says).
pub fn router_leaves(old: &Router<'_>, new: &Router<'_>) -> Option<String> {
    if let Some(how) = label_leaves(old.labels(), new.labels()) {
        return Some(how);
    }
    match (old, new) {
        (Router::Service(old), Router::Service(new))
            if is_external_name(new) && !is_external_name(old) =>
        {
            Some(
                "making it an ExternalName Service (its traffic would go to a DNS name, not to a color)"
                    .to_string(),
            )
        }
        _ => None,
    }
}

fn is_external_name(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_some_and(|kind| kind == "ExternalName")
}

/// What a color does for its app, when it serves traffic or may have to: the live
/// color (with replicas), and the previous color inside the warm window.
fn role(app: &App<'_>, side: &ColorSide<'_>, ctx: &Context<'_>) -> Option<String> {
    if side.desired_replicas() < 1 {
        return None;
    }
    if side.color == app.live.color {
        return Some(format!("the live color {}", side.color));
    }
    let until = warm_until(app, ctx).filter(|until| ctx.now < *until)?;
    Some(format!(
        "the previous color {} (kept warm for rollback until {until})",
        side.color
    ))
}

/// Judges a write that takes `app`'s router (a Service or an HTTPRoute) out of the
/// guard's sight, `how` as [`router_leaves`] says.
pub fn evaluate_router(app: &App<'_>, how: &str, ctx: &Context<'_>, out: &mut Findings) {
    let router = app.router.reference();
    let Some(serving) = [&app.live, &app.idle]
        .into_iter()
        .find_map(|side| role(app, side, ctx).map(|role| (side, role)))
    else {
        return;
    };
    let (side, role) = serving;
    report(
        ctx,
        out,
        app.router.object_ref(),
        format!(
            "{router} routes traffic to {role} (Deployment {}); {how} would take the app out of the guard's sight, so its next switch or deletion would not be judged",
            side.deployment_name()
        ),
        format!(
            "keep the label; to retire the app, delete {router} as an identity allowed to switch, then remove the labels of its Deployments"
        ),
    );
}

/// Judges a write that takes one color's own object out of the guard's sight: its
/// Deployment, or (HTTPRoute apps) its color Service.
pub fn evaluate_color(
    app: &App<'_>,
    side: &ColorSide<'_>,
    object: ObjectRef,
    how: &str,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let Some(role) = role(app, side, ctx) else {
        return;
    };
    let router = app.router.reference();
    let what = match object.kind.as_str() {
        "Deployment" => "runs",
        _ => "routes to",
    };
    report(
        ctx,
        out,
        object.clone(),
        format!(
            "{} {} {what} {role} of {router}; {how} would take it out of the guard's sight, so its next change (a switch, a scale to zero, a deletion) would not be judged",
            object.kind, object.name
        ),
        format!(
            "keep the label; once no traffic depends on it (switched away and the warm window over, or {router} deleted by an identity allowed to switch), it may go"
        ),
    );
}

/// A labelled router's colors carry the label too: the Deployments, and an HTTPRoute's
/// color Services. Otherwise the API server never sends the guard their writes.
pub fn evaluate_colors(app: &App<'_>, ctx: &Context<'_>, out: &mut Findings) {
    let Some(name) = app.router.labels().get(APP_LABEL) else {
        return;
    };
    let router = app.router.reference();
    for side in [&app.live, &app.idle] {
        let deployment = side.deployment;
        let unlabelled = [
            (!deployment.labels().contains_key(APP_LABEL))
                .then(|| ("Deployment", deployment.name_any(), "deployment")),
            side.service
                .filter(|service| !service.labels().contains_key(APP_LABEL))
                .map(|service| ("Service", service.name_any(), "service")),
        ];
        for (kind, object, short) in unlabelled.into_iter().flatten() {
            ctx.report(
                out,
                RuleId::BG011,
                app.router.object_ref(),
                format!(
                    "{router} is governed ({APP_LABEL}={name}) but {kind} {object} of its color {} is not, so the API server never sends the guard its writes",
                    side.color
                ),
                format!(
                    "label the app's objects: kubectl bluegreen init {router} (or kubectl label {short} {object} {APP_LABEL}={name})"
                ),
            );
        }
    }
}

/// Records a BG011 finding; a member of the break-glass group may still make the
/// change, which is then always audited.
fn report(ctx: &Context<'_>, out: &mut Findings, object: ObjectRef, message: String, fix: String) {
    match switch_identity::break_glass(ctx) {
        Some((user, group)) => {
            if ctx.action(RuleId::BG011) != Action::Off {
                out.push(
                    Action::Audit,
                    RuleId::BG011,
                    object,
                    format!("user {user} made this change as a member of break-glass group {group}: {message}"),
                    "review this break-glass change; put the label back once the emergency is over".to_string(),
                );
            }
        }
        None => ctx.report(out, RuleId::BG011, object, message, fix),
    }
}

/// An HTTPRoute without the label whose backends select a governed app's pods: a second
/// router for the app that the guard would never judge. Such a route is sent by the
/// chart's entry for unlabelled HTTPRoutes (failurePolicy Ignore, so a guard that is
/// down blocks nobody's routes).
pub fn evaluate_unlabelled_route(
    route: &HTTPRoute,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let router = Router::HttpRoute(route);
    let reference = router.reference();
    let governed: Vec<App<'_>> = discovery::discover(snapshot)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|app| app.is_labelled() && app.router.reference() != reference)
        .collect();
    let namespace = route
        .namespace()
        .unwrap_or_else(|| snapshot.namespace.clone());
    for (name, _) in discovery::backend_refs(route, &namespace) {
        let Some(service) = snapshot.service(&name) else {
            continue;
        };
        for app in &governed {
            let Some(side) = [&app.live, &app.idle]
                .into_iter()
                .find(|side| discovery::service_selects(service, side.deployment))
            else {
                continue;
            };
            report(
                ctx,
                out,
                router.object_ref(),
                format!(
                    "{reference} is not labelled {APP_LABEL} but sends traffic to Service {name}, which selects the pods of {} of {}; the switches of such a second router would never be judged",
                    describe_side(side),
                    app.router.reference()
                ),
                format!(
                    "route through {} (the app's router), or label {reference} {APP_LABEL}={} so that its writes are judged",
                    app.router.reference(),
                    app.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    use crate::app::Router;
    use crate::contract::{APP_LABEL, LIVE_SINCE_ANNOTATION, PREVIOUS_COLOR_ANNOTATION};
    use crate::review::Change;
    use crate::rules::fixtures::{Fixture, ReplicaStatus, ci_with_break_glass, route, service};

    const CI: &str = "system:serviceaccount:ci:deployer";

    fn as_ci(fixture: Fixture) -> Fixture {
        fixture
            .with_policy(ci_with_break_glass())
            .with_requester(CI, &["system:serviceaccounts"])
    }

    fn router_write<'a>(fixture: &'a Fixture, name: &str, new: &'a Service) -> Change<'a> {
        Change::Router {
            old: Some(Router::Service(fixture.service(name))),
            new: Some(Router::Service(new)),
        }
    }

    fn unlabelled(service: &Service) -> Service {
        let mut copy = service.clone();
        copy.metadata
            .labels
            .get_or_insert_default()
            .remove(APP_LABEL);
        copy
    }

    const ROUTER_LEAVES: &str = "BG011 governed: svc/api routes traffic to the live color blue (Deployment api-blue); removing its bluegreen.dev/app label would take the app out of the guard's sight, so its next switch or deletion would not be judged; keep the label; to retire the app, delete svc/api as an identity allowed to switch, then remove the labels of its Deployments";

    #[test]
    fn even_the_ci_account_may_not_unlabel_a_router_that_serves() {
        let fixture = as_ci(Fixture::service_app());
        let new = unlabelled(fixture.service("api"));
        assert_eq!(
            fixture.review(router_write(&fixture, "api", &new)),
            [ROUTER_LEAVES]
        );
    }

    #[test]
    fn unlabelling_and_dropping_the_color_in_one_write_is_refused() {
        let fixture = as_ci(Fixture::service_app());
        let mut new = unlabelled(fixture.service("api"));
        new.spec.as_mut().unwrap().selector = Some([("app".into(), "api".into())].into());
        assert_eq!(
            fixture.review(router_write(&fixture, "api", &new)),
            [ROUTER_LEAVES]
        );
    }

    #[test]
    fn break_glass_may_unlabel_and_is_audited() {
        let fixture = Fixture::service_app()
            .with_policy(ci_with_break_glass())
            .with_requester("bob", &["sre-oncall"]);
        let new = unlabelled(fixture.service("api"));
        let findings = fixture.review(router_write(&fixture, "api", &new));
        assert_eq!(
            findings,
            [
                "BG003 switch-identity: user bob changed the traffic of svc/api as a member of break-glass group sre-oncall; review this break-glass switch; routine switches belong to CI",
                "BG011 governed: user bob made this change as a member of break-glass group sre-oncall: svc/api routes traffic to the live color blue (Deployment api-blue); removing its bluegreen.dev/app label would take the app out of the guard's sight, so its next switch or deletion would not be judged; review this break-glass change; put the label back once the emergency is over"
            ]
        );
    }

    #[test]
    fn a_retired_app_may_leave() {
        let fixture = as_ci(Fixture::service_app())
            .with_deployment("api-blue", |d| d.spec.as_mut().unwrap().replicas = Some(0))
            .with_deployment("api-green", |d| d.spec.as_mut().unwrap().replicas = Some(0));
        let new = unlabelled(fixture.service("api"));
        assert!(
            fixture
                .review(router_write(&fixture, "api", &new))
                .is_empty()
        );
    }

    #[test]
    fn an_external_name_router_is_refused() {
        let fixture = as_ci(Fixture::service_app());
        let mut new = fixture.service("api").clone();
        let spec = new.spec.as_mut().unwrap();
        spec.type_ = Some("ExternalName".into());
        spec.external_name = Some("api-green.shop.svc.cluster.local".into());
        assert_eq!(
            fixture.review(router_write(&fixture, "api", &new)),
            [
                "BG011 governed: svc/api routes traffic to the live color blue (Deployment api-blue); making it an ExternalName Service (its traffic would go to a DNS name, not to a color) would take the app out of the guard's sight, so its next switch or deletion would not be judged; keep the label; to retire the app, delete svc/api as an identity allowed to switch, then remove the labels of its Deployments"
            ]
        );
    }

    fn deployment_unlabel(fixture: &Fixture, name: &str) -> Vec<String> {
        let old = fixture.deployment(name);
        let mut new = old.clone();
        new.metadata
            .labels
            .get_or_insert_default()
            .remove(APP_LABEL);
        fixture.review(Change::Deployment {
            old: Some(old),
            new: Some(&new),
        })
    }

    #[test]
    fn the_live_color_keeps_its_label() {
        let fixture = as_ci(Fixture::service_app());
        assert_eq!(
            deployment_unlabel(&fixture, "api-blue"),
            [
                "BG011 governed: Deployment api-blue runs the live color blue of svc/api; removing its bluegreen.dev/app label would take it out of the guard's sight, so its next change (a switch, a scale to zero, a deletion) would not be judged; keep the label; once no traffic depends on it (switched away and the warm window over, or svc/api deleted by an identity allowed to switch), it may go"
            ]
        );
    }

    #[test]
    fn the_previous_color_keeps_its_label_for_the_warm_window_only() {
        let fixture = as_ci(Fixture::service_app())
            .with_router_annotation(LIVE_SINCE_ANNOTATION, "2026-11-22T11:50:00Z")
            .with_router_annotation(PREVIOUS_COLOR_ANNOTATION, "green");
        assert_eq!(
            deployment_unlabel(&fixture, "api-green"),
            [
                "BG011 governed: Deployment api-green runs the previous color green (kept warm for rollback until 2026-11-22T12:20:00Z) of svc/api; removing its bluegreen.dev/app label would take it out of the guard's sight, so its next change (a switch, a scale to zero, a deletion) would not be judged; keep the label; once no traffic depends on it (switched away and the warm window over, or svc/api deleted by an identity allowed to switch), it may go"
            ]
        );
        let later = as_ci(Fixture::service_app())
            .with_router_annotation(LIVE_SINCE_ANNOTATION, "2026-11-22T10:00:00Z");
        assert!(deployment_unlabel(&later, "api-green").is_empty());
    }

    #[test]
    fn a_router_recreated_over_a_serving_color_is_a_switch() {
        let fixture = as_ci(Fixture::service_app()).with_green_status(ReplicaStatus {
            available: 0,
            ..ReplicaStatus::ready(3)
        });
        let green = service("api", json!({"app": "api", "color": "green"}));
        let snapshot = fixture.snapshot().with_service("api", None);
        let findings: Vec<String> = crate::review::review(
            &Change::Router {
                old: None,
                new: Some(Router::Service(&green)),
            },
            &snapshot,
            &fixture.ctx(),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            findings,
            [
                "BG001 ready-target: green (Deployment api-green) is not ready to take traffic: 0/3 replicas available; wait for the rollout (kubectl rollout status deployment/api-green) or fix its pods, then switch"
            ]
        );
    }

    #[test]
    fn a_router_created_before_any_color_serves_is_an_install() {
        let fixture = as_ci(Fixture::service_app())
            .with_deployment("api-blue", |d| d.status = None)
            .with_deployment("api-green", |d| d.status = None);
        let router = service("api", json!({"app": "api", "color": "green"}));
        let snapshot = fixture.snapshot().with_service("api", None);
        let findings = crate::review::review(
            &Change::Router {
                old: None,
                new: Some(Router::Service(&router)),
            },
            &snapshot,
            &fixture.ctx(),
        );
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn a_labelled_router_with_unlabelled_colors_is_reported() {
        let fixture = Fixture::service_app().with_deployment("api-green", |d| {
            d.metadata.labels.get_or_insert_default().remove(APP_LABEL);
        });
        let lines: Vec<String> = fixture
            .app_findings()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "BG011 governed: svc/api is governed (bluegreen.dev/app=api) but Deployment api-green of its color green is not, so the API server never sends the guard its writes; label the app's objects: kubectl bluegreen init svc/api (or kubectl label deployment api-green bluegreen.dev/app=api)"
            ]
        );
    }

    #[test]
    fn a_color_service_selector_change_is_a_switch() {
        let fixture = as_ci(Fixture::route_app()).with_deployment("app-green", |d| {
            d.status = Some(
                serde_json::from_value(
                    ReplicaStatus {
                        available: 0,
                        ..ReplicaStatus::ready(3)
                    }
                    .to_json(),
                )
                .unwrap(),
            )
        });
        // app-blue now selects the green pods: the route's traffic goes to green.
        let new = service("app-blue", json!({"app": "api", "version": "green"}));
        let findings = fixture.review(router_write(&fixture, "app-blue", &new));
        assert_breaks_the_app(&findings);
    }

    #[test]
    fn unlabelling_the_live_color_service_is_refused() {
        let fixture = as_ci(Fixture::route_app());
        let new = unlabelled(fixture.service("app-blue"));
        assert_eq!(
            fixture.review(router_write(&fixture, "app-blue", &new)),
            [
                "BG011 governed: Service app-blue routes to the live color blue of httproute/myapp; removing its bluegreen.dev/app label would take it out of the guard's sight, so its next change (a switch, a scale to zero, a deletion) would not be judged; keep the label; once no traffic depends on it (switched away and the warm window over, or httproute/myapp deleted by an identity allowed to switch), it may go"
            ]
        );
    }

    #[test]
    fn an_unlabelled_route_to_a_governed_color_is_refused() {
        let fixture = as_ci(Fixture::route_app());
        let mut shortcut = route("shortcut", json!([{"name": "app-green", "port": 80}]));
        shortcut.metadata.labels = None;
        let findings = fixture.review(Change::Router {
            old: None,
            new: Some(Router::HttpRoute(&shortcut)),
        });
        assert_eq!(
            findings,
            [
                "BG011 governed: httproute/shortcut is not labelled bluegreen.dev/app but sends traffic to Service app-green, which selects the pods of green (Deployment app-green) of httproute/myapp; the switches of such a second router would never be judged; route through httproute/myapp (the app's router), or label httproute/shortcut bluegreen.dev/app=myapp so that its writes are judged"
            ]
        );
    }

    /// One finding: BG010 for a write that would leave the app undiscoverable.
    fn assert_breaks_the_app(findings: &[String]) {
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].starts_with("BG010 distinct-colors: this change would break the app: "),
            "{findings:?}"
        );
    }

    fn unready_green(fixture: Fixture) -> Fixture {
        fixture.with_green_status(ReplicaStatus {
            available: 0,
            ..ReplicaStatus::ready(3)
        })
    }

    #[test]
    fn changing_the_color_label_is_judged_like_a_selector_change() {
        let fixture = as_ci(Fixture::service_app());
        let mut new = fixture.service("api").clone();
        new.metadata
            .annotations
            .get_or_insert_default()
            .insert(crate::contract::COLOR_LABEL_ANNOTATION.into(), "app".into());
        let findings = fixture.review(router_write(&fixture, "api", &new));
        assert_breaks_the_app(&findings);
    }

    #[test]
    fn changing_the_selectors_color_key_is_judged_like_a_selector_change() {
        let fixture = as_ci(Fixture::service_app());
        let new = service("api", json!({"app": "api", "tier": "blue"}));
        let findings = fixture.review(router_write(&fixture, "api", &new));
        assert_breaks_the_app(&findings);
    }

    #[test]
    fn a_second_labelled_router_on_an_unready_green_is_a_switch() {
        let fixture = as_ci(unready_green(Fixture::service_app()));
        let second = service("api-direct", json!({"app": "api", "color": "green"}));
        let findings = fixture.review(Change::Router {
            old: None,
            new: Some(Router::Service(&second)),
        });
        assert_eq!(
            findings,
            [
                "BG001 ready-target: green (Deployment api-green) is not ready to take traffic: 0/3 replicas available; wait for the rollout (kubectl rollout status deployment/api-green) or fix its pods, then switch"
            ]
        );
    }

    #[test]
    fn moving_a_route_to_other_gateways_keeps_it_in_sight_and_is_no_switch() {
        let fixture = as_ci(Fixture::route_app());
        let mut moved = route("myapp", json!([{"name": "app-blue", "port": 80}]));
        moved.spec.parent_refs =
            Some(serde_json::from_value(json!([{"name": "other-gateway"}])).unwrap());
        let old = fixture.snapshot().routes[0];
        let findings = fixture.review(Change::Router {
            old: Some(Router::HttpRoute(old)),
            new: Some(Router::HttpRoute(&moved)),
        });
        assert!(findings.is_empty(), "{findings:?}");
    }
}
