//! Finding apps among objects: which objects are routers, which label tells the
//! colors apart, and which Deployment runs each color.
//!
//! Discovery understands manifests as people write them, without any label of ours:
//! a Service whose selector carries the color label (default `color`), or an HTTPRoute
//! whose backendRef names one of two Services whose selectors differ in exactly one
//! label. The `bluegreen.dev/app` label and `bluegreen.dev/color-label` annotation
//! only refine it.

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::apis::standard::httproutes::HttpRoute as HTTPRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

use crate::app::{App, ColorSide, Router, RouterKind, RouterRef, template_labels};
use crate::contract::{APP_LABEL, COLOR_LABEL_ANNOTATION, DEFAULT_COLOR_LABEL};
use crate::finding::RuleId;
use crate::snapshot::Snapshot;

/// Why an app could not be discovered. Every message names the object and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The named router does not exist.
    #[error(
        "{router} not found in namespace {namespace}; list the apps with `kubectl bluegreen list -n {namespace}`"
    )]
    RouterNotFound {
        /// The router asked for.
        router: RouterRef,
        /// Where it was looked for.
        namespace: String,
    },
    /// A Service router's selector lacks the color label.
    #[error(
        "{router}: its selector has no {key:?} key, so it does not pick a color; add `{key}: <color>` to spec.selector, or name the color label with the annotation {COLOR_LABEL_ANNOTATION}"
    )]
    NoColorLabel {
        /// The router.
        router: RouterRef,
        /// The color label key expected.
        key: String,
    },
    /// The router selects a color no Deployment has.
    #[error(
        "{router} sends traffic to {key}={color}, but no Deployment has pod label {key}={color}; create that color or point the router at an existing one"
    )]
    LiveColorMissing {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The live color.
        color: String,
    },
    /// Only one color exists.
    #[error(
        "{router}: only the {color} color exists (Deployment {deployment}); a blue-green app needs a second Deployment that differs only in pod label {key} (`kubectl bluegreen init {router}` creates it)"
    )]
    OnlyOneColor {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The only color found.
        color: String,
        /// Its Deployment.
        deployment: String,
    },
    /// More than two colors.
    #[error(
        "{router}: found {} colors ({}) for label {key}; a blue-green app has exactly two: remove or relabel the extra Deployments", colors.len(), colors.join(", ")
    )]
    TooManyColors {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The colors found.
        colors: Vec<String>,
    },
    /// One color matches several Deployments (BG010).
    #[error(
        "{router}: color {color} resolves to {} Deployments ({}); each color must be exactly one Deployment: make their pod labels differ or delete the extra", deployments.len(), deployments.join(", ")
    )]
    AmbiguousColor {
        /// The router.
        router: RouterRef,
        /// The color.
        color: String,
        /// The Deployments it matches.
        deployments: Vec<String>,
    },
    /// Both colors are the same Deployment (BG010).
    #[error(
        "{router}: colors {} and {} both resolve to Deployment {deployment}, so a switch would change nothing; give each color its own Deployment whose pod label {key} differs", colors[0], colors[1]
    )]
    SameDeployment {
        /// The router.
        router: RouterRef,
        /// The color label key.
        key: String,
        /// The two colors.
        colors: Vec<String>,
        /// The shared Deployment.
        deployment: String,
    },
    /// Two color Services with one selector: both colors are the same pods (BG010).
    #[error(
        "{router}: Services {} and {} have the same selector ({selector}), so both colors are Deployment {deployment} and a switch would change nothing; make the Services differ in one label (e.g. version: blue / version: green) and give each color its own Deployment", services[0], services[1]
    )]
    IdenticalColorServices {
        /// The router.
        router: RouterRef,
        /// The two Services.
        services: Vec<String>,
        /// Their common selector.
        selector: String,
        /// The Deployment both select.
        deployment: String,
    },
    /// A color has no Deployment.
    #[error(
        "{router}: no Deployment runs color {color} (Service {service} selects {selector}); create it, or fix the Service's selector"
    )]
    ColorDeploymentMissing {
        /// The router.
        router: RouterRef,
        /// The color.
        color: String,
        /// The color's Service.
        service: String,
        /// That Service's selector.
        selector: String,
    },
    /// An HTTPRoute names a Service that does not exist.
    #[error(
        "{router}: backendRef names Service {service}, which does not exist in namespace {namespace}; create it or fix the backendRef"
    )]
    BackendServiceMissing {
        /// The router.
        router: RouterRef,
        /// The missing Service.
        service: String,
        /// The namespace.
        namespace: String,
    },
    /// An HTTPRoute names no Service at all.
    #[error(
        "{router}: no backendRef names a Service in namespace {namespace}; point a rule's backendRef at the live color's Service"
    )]
    NoBackend {
        /// The router.
        router: RouterRef,
        /// The namespace.
        namespace: String,
    },
    /// No sibling Service for the other color.
    #[error(
        "{router}: routes to Service {service} but no other Service's selector differs from it in exactly one label, so there is no second color; create the other color's Service (e.g. {suggestion})"
    )]
    NoSiblingService {
        /// The router.
        router: RouterRef,
        /// The referenced Service.
        service: String,
        /// A name to create.
        suggestion: String,
    },
    /// The two color Services differ in several labels.
    #[error(
        "{router}: Services {} and {} differ in labels {}, not exactly one; make them differ only in the color label, or name it with the annotation {COLOR_LABEL_ANNOTATION}", services[0], services[1], keys.join(", ")
    )]
    AmbiguousColorLabel {
        /// The router.
        router: RouterRef,
        /// The two Services.
        services: Vec<String>,
        /// The differing keys.
        keys: Vec<String>,
    },
    /// Traffic is split between the colors.
    #[error(
        "{router}: sends traffic to both colors ({}); blue-green needs 100% on one color: set the other backendRef's weight to 0, or run `kubectl bluegreen promote {router}`", weights.iter().map(|(c, w)| format!("{c} weight {w}")).collect::<Vec<_>>().join(", ")
    )]
    SplitTraffic {
        /// The router.
        router: RouterRef,
        /// Weight per color.
        weights: Vec<(String, i64)>,
    },
    /// No color receives traffic.
    #[error(
        "{router}: every backendRef has weight 0, so no color is live; give the live color's backendRef a weight above 0"
    )]
    NoTraffic {
        /// The router.
        router: RouterRef,
    },
    /// A Deployment's selector does not select its own pods.
    #[error(
        "Deployment {deployment}: spec.selector ({selector}) does not match its pod template labels; the API server refuses it: make spec.template.metadata.labels satisfy the selector"
    )]
    DeploymentSelectorMismatch {
        /// The Deployment.
        deployment: String,
        /// Its selector.
        selector: String,
    },
}

impl DiscoveryError {
    /// The rule this failure violates, when it is a rule violation rather than a
    /// setup the tool cannot understand.
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            DiscoveryError::AmbiguousColor { .. }
            | DiscoveryError::SameDeployment { .. }
            | DiscoveryError::IdenticalColorServices { .. } => Some(RuleId::BG010),
            _ => None,
        }
    }

    /// The router the failure is about, if any.
    pub fn router(&self) -> Option<&RouterRef> {
        match self {
            DiscoveryError::DeploymentSelectorMismatch { .. } => None,
            DiscoveryError::RouterNotFound { router, .. }
            | DiscoveryError::NoColorLabel { router, .. }
            | DiscoveryError::LiveColorMissing { router, .. }
            | DiscoveryError::OnlyOneColor { router, .. }
            | DiscoveryError::TooManyColors { router, .. }
            | DiscoveryError::AmbiguousColor { router, .. }
            | DiscoveryError::SameDeployment { router, .. }
            | DiscoveryError::IdenticalColorServices { router, .. }
            | DiscoveryError::ColorDeploymentMissing { router, .. }
            | DiscoveryError::BackendServiceMissing { router, .. }
            | DiscoveryError::NoBackend { router, .. }
            | DiscoveryError::NoSiblingService { router, .. }
            | DiscoveryError::AmbiguousColorLabel { router, .. }
            | DiscoveryError::SplitTraffic { router, .. }
            | DiscoveryError::NoTraffic { router } => Some(router),
        }
    }
}

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

/// Whether a Service's selector picks the pods of a Deployment (an empty selector picks
/// none: such a Service has its endpoints managed by hand).
pub fn service_selects(service: &Service, deployment: &Deployment) -> bool {
    let selector = selector_of(service);
    !selector.is_empty()
        && template_labels(deployment).is_some_and(|labels| selects_except(selector, "", labels))
}

fn resolve_routes<'a>(snapshot: &Snapshot<'a>) -> Vec<Result<App<'a>, DiscoveryError>> {
    snapshot
        .routes
        .iter()
        .map(|route| resolve(snapshot, Router::HttpRoute(route)))
        .collect()
}

/// The Services that HTTPRoutes use as color Services: those named by backendRefs and
/// the siblings resolved for them.
fn color_services(
    snapshot: &Snapshot<'_>,
    route_apps: &[Result<App<'_>, DiscoveryError>],
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = snapshot
        .routes
        .iter()
        .flat_map(|route| backend_refs(route, &snapshot.namespace))
        .map(|(service, _)| service)
        .collect();
    for app in route_apps.iter().flatten() {
        names.extend(
            [&app.live, &app.idle]
                .iter()
                .filter_map(|s| s.service)
                .map(|s| s.name_any()),
        );
    }
    names
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

fn claims_to_be_router(service: &Service) -> bool {
    let key = color_label_key(service.annotations());
    let selector_has_key = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|sel| sel.contains_key(key));
    selector_has_key
        || service.labels().contains_key(APP_LABEL)
        || service.annotations().contains_key(COLOR_LABEL_ANNOTATION)
}

fn color_label_key(annotations: &BTreeMap<String, String>) -> &str {
    annotations
        .get(COLOR_LABEL_ANNOTATION)
        .map(String::as_str)
        .unwrap_or(DEFAULT_COLOR_LABEL)
}

fn app_name(router: &Router<'_>) -> String {
    router
        .labels()
        .get(APP_LABEL)
        .cloned()
        .unwrap_or_else(|| router.name())
}

/// Fails when a Deployment's own selector does not select its pods.
fn check_deployment_selector(deployment: &Deployment) -> Result<(), DiscoveryError> {
    let Some(spec) = deployment.spec.as_ref() else {
        return Ok(());
    };
    let empty = BTreeMap::new();
    let labels = template_labels(deployment).unwrap_or(&empty);
    let selects_all = spec
        .selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && spec
            .selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty);
    if selects_all || label_selector_matches(&spec.selector, labels) != Some(true) {
        return Err(DiscoveryError::DeploymentSelectorMismatch {
            deployment: deployment.name_any(),
            selector: describe_label_selector(&spec.selector),
        });
    }
    Ok(())
}

/// Whether a label selector selects pods with these labels; `None` when it is invalid.
/// Selectors of `matchLabels` alone, nearly all of them, are matched in place: kube's
/// [`Selector`], needed for expressions, is built from an owned copy, which cost more
/// than the match on the admission path.
pub fn label_selector_matches(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Option<bool> {
    match selector.match_expressions.as_deref() {
        None | Some([]) => Some(
            selector
                .match_labels
                .iter()
                .flatten()
                .all(|(k, v)| labels.get(k) == Some(v)),
        ),
        Some(_) => Selector::try_from(selector.clone())
            .ok()
            .map(|s| s.matches(labels)),
    }
}

fn describe_label_selector(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> String {
    Selector::try_from(selector.clone())
        .map(|s| s.to_string())
        .unwrap_or_else(|err| format!("invalid: {}", err.0))
}

fn describe_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `labels` satisfy every `key=value` of `selector` but the one of `except`.
fn selects_except(
    selector: &BTreeMap<String, String>,
    except: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector
        .iter()
        .filter(|(k, _)| k.as_str() != except)
        .all(|(k, v)| labels.get(k) == Some(v))
}

/// Deployments whose pod template satisfies every `key=value` of `selector` but the
/// one of `except` (empty: none excepted).
fn deployments_matching<'a>(
    snapshot: &Snapshot<'a>,
    selector: &BTreeMap<String, String>,
    except: &str,
) -> Vec<&'a Deployment> {
    let matches = |d: &&Deployment| {
        template_labels(d).is_some_and(|labels| selects_except(selector, except, labels))
    };
    // Every match has the selector's first label that counts, so only those with it
    // need a look.
    match selector.iter().find(|(key, _)| key.as_str() != except) {
        Some((key, value)) => snapshot
            .deployments_with_label(key, value)
            .filter(matches)
            .collect(),
        None => snapshot
            .deployments
            .iter()
            .copied()
            .filter(matches)
            .collect(),
    }
}

fn resolve_service<'a>(
    snapshot: &Snapshot<'a>,
    router: Router<'a>,
    service: &'a Service,
) -> Result<App<'a>, DiscoveryError> {
    let reference = router.reference();
    let key = color_label_key(service.annotations()).to_string();
    let empty = BTreeMap::new();
    let selector = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .unwrap_or(&empty);
    let live_color = selector
        .get(&key)
        .ok_or_else(|| DiscoveryError::NoColorLabel {
            router: reference.clone(),
            key: key.clone(),
        })?;
    let mut by_color: BTreeMap<&'a str, Vec<&'a Deployment>> = BTreeMap::new();
    for deployment in deployments_matching(snapshot, selector, &key) {
        if let Some(color) = template_labels(deployment).and_then(|l| l.get(&key)) {
            by_color.entry(color.as_str()).or_default().push(deployment);
        }
    }
    if !by_color.contains_key(live_color.as_str()) {
        return Err(DiscoveryError::LiveColorMissing {
            router: reference,
            key,
            color: live_color.clone(),
        });
    }
    for (color, deployments) in &by_color {
        if deployments.len() > 1 {
            return Err(DiscoveryError::AmbiguousColor {
                router: reference,
                color: color.to_string(),
                deployments: deployments.iter().map(|d| d.name_any()).collect(),
            });
        }
        check_deployment_selector(deployments[0])?;
    }
    match by_color.len() {
        1 => {
            return Err(DiscoveryError::OnlyOneColor {
                router: reference,
                key,
                color: live_color.clone(),
                deployment: by_color[live_color.as_str()][0].name_any(),
            });
        }
        2 => {}
        _ => {
            return Err(DiscoveryError::TooManyColors {
                router: reference,
                key,
                colors: by_color.keys().map(|c| c.to_string()).collect(),
            });
        }
    }
    let mut live = None;
    let mut idle = None;
    for (color, deployments) in by_color {
        let side = ColorSide {
            color,
            deployment: deployments[0],
            service: None,
        };
        if color == live_color {
            live = Some(side)
        } else {
            idle = Some(side)
        }
    }
    let (Some(live), Some(idle)) = (live, idle) else {
        unreachable!("two colors, one of them live")
    };
    Ok(App {
        name: app_name(&router),
        namespace: snapshot.namespace.clone(),
        router,
        color_label: key,
        live,
        idle,
    })
}

/// `(service name, weight)` of each backendRef that names a Service in the route's
/// namespace. Gateway API defaults kind to Service, group to core and weight to 1.
pub fn backend_refs(route: &HTTPRoute, namespace: &str) -> Vec<(String, i64)> {
    route
        .spec
        .rules
        .iter()
        .flatten()
        .flat_map(|rule| rule.backend_refs.iter().flatten())
        .filter(|r| r.kind.as_deref().is_none_or(|k| k == "Service"))
        .filter(|r| r.group.as_deref().is_none_or(str::is_empty))
        .filter(|r| r.namespace.as_deref().is_none_or(|ns| ns == namespace))
        .map(|r| (r.name.clone(), i64::from(r.weight.unwrap_or(1))))
        .collect()
}

/// A Service's selector, empty when it has none.
fn selector_of(service: &Service) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .unwrap_or(&EMPTY)
}

/// The keys whose values differ between two selectors with the same keys, or `None`
/// when their key sets differ.
fn differing_keys(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    if !a.keys().eq(b.keys()) {
        return None;
    }
    Some(
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect(),
    )
}

fn resolve_route<'a>(
    snapshot: &Snapshot<'a>,
    router: Router<'a>,
    route: &'a HTTPRoute,
) -> Result<App<'a>, DiscoveryError> {
    let reference = router.reference();
    let namespace = snapshot.namespace.clone();
    let refs = backend_refs(route, &namespace);
    let mut weights: BTreeMap<String, i64> = BTreeMap::new();
    for (service, weight) in &refs {
        *weights.entry(service.clone()).or_default() += weight;
    }
    let mut services: Vec<&'a Service> = Vec::new();
    for name in weights.keys() {
        let service =
            snapshot
                .service(name)
                .ok_or_else(|| DiscoveryError::BackendServiceMissing {
                    router: reference.clone(),
                    service: name.clone(),
                    namespace: namespace.clone(),
                })?;
        services.push(service);
    }
    let annotated_key = route.annotations().get(COLOR_LABEL_ANNOTATION);
    let pair: [&'a Service; 2] = match services.as_slice() {
        [] => {
            return Err(DiscoveryError::NoBackend {
                router: reference,
                namespace,
            });
        }
        [only] => [
            *only,
            sibling_service(snapshot, &reference, only, annotated_key)?,
        ],
        [a, b] => [*a, *b],
        _ => {
            return Err(DiscoveryError::TooManyColors {
                router: reference,
                key: annotated_key
                    .cloned()
                    .unwrap_or_else(|| "(backendRefs)".to_string()),
                colors: services.iter().map(|s| s.name_any()).collect(),
            });
        }
    };
    let selectors = pair.map(selector_of);
    let key = match annotated_key {
        Some(key) => key.clone(),
        None => match differing_keys(selectors[0], selectors[1]).as_deref() {
            Some([one]) => one.clone(),
            Some([]) => {
                let deployment = deployments_matching(snapshot, selectors[0], "")
                    .first()
                    .map(|d| d.name_any())
                    .unwrap_or_else(|| "(none)".to_string());
                return Err(DiscoveryError::IdenticalColorServices {
                    router: reference,
                    services: pair.iter().map(|s| s.name_any()).collect(),
                    selector: describe_map(selectors[0]),
                    deployment,
                });
            }
            other => {
                return Err(DiscoveryError::AmbiguousColorLabel {
                    router: reference,
                    services: pair.iter().map(|s| s.name_any()).collect(),
                    keys: other.map(<[String]>::to_vec).unwrap_or_else(|| {
                        let mut keys: BTreeSet<String> = selectors[0].keys().cloned().collect();
                        keys.extend(selectors[1].keys().cloned());
                        keys.into_iter().collect()
                    }),
                });
            }
        },
    };
    let mut sides = Vec::with_capacity(2);
    for (service, selector) in pair.iter().zip(&selectors) {
        let Some(color) = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| s.get(&key))
        else {
            return Err(DiscoveryError::NoColorLabel {
                router: RouterRef {
                    kind: RouterKind::Service,
                    name: service.name_any(),
                },
                key,
            });
        };
        let deployments = deployments_matching(snapshot, selector, "");
        match deployments.as_slice() {
            [] => {
                return Err(DiscoveryError::ColorDeploymentMissing {
                    router: reference,
                    color: color.clone(),
                    service: service.name_any(),
                    selector: describe_map(selector),
                });
            }
            [one] => {
                check_deployment_selector(one)?;
                sides.push(ColorSide {
                    color: color.as_str(),
                    deployment: one,
                    service: Some(service),
                });
            }
            many => {
                return Err(DiscoveryError::AmbiguousColor {
                    router: reference,
                    color: color.clone(),
                    deployments: many.iter().map(|d| d.name_any()).collect(),
                });
            }
        }
    }
    let (first, second) = (sides[0], sides[1]);
    if first.color == second.color || first.deployment.name_any() == second.deployment.name_any() {
        return Err(DiscoveryError::SameDeployment {
            router: reference,
            key,
            colors: vec![first.color.to_string(), second.color.to_string()],
            deployment: first.deployment_name(),
        });
    }
    let weight_of = |side: &ColorSide<'_>| {
        side.service
            .map(|s| weights.get(&s.name_any()).copied().unwrap_or(0))
            .unwrap_or(0)
    };
    let (live, idle) = match (weight_of(&first) > 0, weight_of(&second) > 0) {
        (true, false) => (first, second),
        (false, true) => (second, first),
        (false, false) => return Err(DiscoveryError::NoTraffic { router: reference }),
        (true, true) => {
            return Err(DiscoveryError::SplitTraffic {
                router: reference,
                weights: vec![
                    (first.color.to_string(), weight_of(&first)),
                    (second.color.to_string(), weight_of(&second)),
                ],
            });
        }
    };
    Ok(App {
        name: app_name(&router),
        namespace,
        router,
        color_label: key,
        live,
        idle,
    })
}

/// The other color's Service for a route that names only one: a Service whose
/// selector has the same keys and differs in exactly one value (the annotated color
/// label, when given). `<base>-<color>` names break ties.
fn sibling_service<'a>(
    snapshot: &Snapshot<'a>,
    router: &RouterRef,
    referenced: &Service,
    annotated_key: Option<&String>,
) -> Result<&'a Service, DiscoveryError> {
    let name = referenced.name_any();
    let selector = selector_of(referenced);
    let candidates: Vec<&'a Service> = snapshot
        .services
        .iter()
        .copied()
        .filter(|s| s.name_any() != name)
        .filter(
            |s| match differing_keys(selector, selector_of(s)).as_deref() {
                Some([key]) => annotated_key.is_none_or(|k| k == key),
                _ => false,
            },
        )
        .collect();
    let base = name.rsplit_once('-').map(|(base, _)| base);
    let by_name: Vec<&'a Service> = candidates
        .iter()
        .copied()
        .filter(|s| base.is_some_and(|b| s.name_any().rsplit_once('-').map(|(p, _)| p) == Some(b)))
        .collect();
    match (candidates.as_slice(), by_name.as_slice()) {
        ([one], _) | (_, [one]) => Ok(one),
        _ => Err(DiscoveryError::NoSiblingService {
            router: router.clone(),
            service: name.clone(),
            suggestion: match base {
                Some(base) => format!("{base}-green"),
                None => format!("{name}-green"),
            },
        }),
    }
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
