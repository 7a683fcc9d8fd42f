//! HTTPRoute routers: the route's backendRefs name the colors' Services, the label
//! their selectors differ in is the color label, and the weights say which is live.

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::apis::standard::httproutes::HttpRoute as HTTPRoute;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use super::error::DiscoveryError;
use super::selector::{check_deployment_selector, deployments_matching, describe_map, selector_of};
use crate::app::{App, ColorSide, Router, RouterKind, RouterRef};
use crate::contract::COLOR_LABEL_ANNOTATION;
use crate::snapshot::Snapshot;

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

/// The Services that HTTPRoutes use as color Services: those named by backendRefs and
/// the siblings resolved for them.
pub(super) fn color_services(
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

/// The app of an HTTPRoute router, established step by step; each step fails with the
/// first thing that keeps the route from being a blue-green app.
pub(super) fn resolve_route<'a>(
    snapshot: &Snapshot<'a>,
    router: Router<'a>,
    route: &'a HTTPRoute,
) -> Result<App<'a>, DiscoveryError> {
    let reference = router.reference();
    let weights = backend_weights(route, &snapshot.namespace);
    let services = backend_services(snapshot, &reference, &weights)?;
    let annotated_key = route.annotations().get(COLOR_LABEL_ANNOTATION);
    let pair = color_service_pair(snapshot, &reference, &services, annotated_key)?;
    let key = match annotated_key {
        Some(key) => key.clone(),
        None => inferred_color_label(snapshot, &reference, pair)?,
    };
    let first = color_side(snapshot, &reference, pair[0], &key)?;
    let second = color_side(snapshot, &reference, pair[1], &key)?;
    check_colors_differ(&reference, &key, first, second)?;
    let (live, idle) = live_and_idle(&reference, &weights, first, second)?;
    Ok(App {
        name: router.app_name(),
        namespace: snapshot.namespace.clone(),
        router,
        color_label: key,
        live,
        idle,
    })
}

/// The weight the route sends to each backend Service, summed over its rules.
fn backend_weights(route: &HTTPRoute, namespace: &str) -> BTreeMap<String, i64> {
    let mut weights: BTreeMap<String, i64> = BTreeMap::new();
    for (service, weight) in backend_refs(route, namespace) {
        *weights.entry(service).or_default() += weight;
    }
    weights
}

/// The backend Services, each of which must exist.
fn backend_services<'a>(
    snapshot: &Snapshot<'a>,
    reference: &RouterRef,
    weights: &BTreeMap<String, i64>,
) -> Result<Vec<&'a Service>, DiscoveryError> {
    weights
        .keys()
        .map(|name| {
            snapshot
                .service(name)
                .ok_or_else(|| DiscoveryError::BackendServiceMissing {
                    router: reference.clone(),
                    service: name.clone(),
                    namespace: snapshot.namespace.clone(),
                })
        })
        .collect()
}

/// The two colors' Services: the two backends, or the one backend and its sibling.
fn color_service_pair<'a>(
    snapshot: &Snapshot<'a>,
    reference: &RouterRef,
    services: &[&'a Service],
    annotated_key: Option<&String>,
) -> Result<[&'a Service; 2], DiscoveryError> {
    match services {
        [] => Err(DiscoveryError::NoBackend {
            router: reference.clone(),
            namespace: snapshot.namespace.clone(),
        }),
        [only] => Ok([
            *only,
            sibling_service(snapshot, reference, only, annotated_key)?,
        ]),
        [a, b] => Ok([*a, *b]),
        _ => Err(DiscoveryError::TooManyColors {
            router: reference.clone(),
            key: annotated_key
                .cloned()
                .unwrap_or_else(|| "(backendRefs)".to_string()),
            colors: services.iter().map(|s| s.name_any()).collect(),
        }),
    }
}

/// The color label when no annotation names it: the one key the two Services'
/// selectors differ in.
fn inferred_color_label(
    snapshot: &Snapshot<'_>,
    reference: &RouterRef,
    pair: [&Service; 2],
) -> Result<String, DiscoveryError> {
    let selectors = pair.map(selector_of);
    match differing_keys(selectors[0], selectors[1]).as_deref() {
        Some([one]) => Ok(one.clone()),
        Some([]) => {
            let deployment = deployments_matching(snapshot, selectors[0], "")
                .first()
                .map(|d| d.name_any())
                .unwrap_or_else(|| "(none)".to_string());
            Err(DiscoveryError::IdenticalColorServices {
                router: reference.clone(),
                services: pair.iter().map(|s| s.name_any()).collect(),
                selector: describe_map(selectors[0]),
                deployment,
            })
        }
        other => Err(DiscoveryError::AmbiguousColorLabel {
            router: reference.clone(),
            services: pair.iter().map(|s| s.name_any()).collect(),
            keys: other.map(<[String]>::to_vec).unwrap_or_else(|| {
                let mut keys: BTreeSet<String> = selectors[0].keys().cloned().collect();
                keys.extend(selectors[1].keys().cloned());
                keys.into_iter().collect()
            }),
        }),
    }
}

/// One color: its value of the color label in the Service's selector, and the one
/// Deployment that Service selects.
fn color_side<'a>(
    snapshot: &Snapshot<'a>,
    reference: &RouterRef,
    service: &'a Service,
    key: &str,
) -> Result<ColorSide<'a>, DiscoveryError> {
    let selector = selector_of(service);
    let Some(color) = selector.get(key) else {
        return Err(DiscoveryError::NoColorLabel {
            router: RouterRef {
                kind: RouterKind::Service,
                name: service.name_any(),
            },
            key: key.to_string(),
        });
    };
    match deployments_matching(snapshot, selector, "").as_slice() {
        [] => Err(DiscoveryError::ColorDeploymentMissing {
            router: reference.clone(),
            color: color.clone(),
            service: service.name_any(),
            selector: describe_map(selector),
        }),
        [one] => {
            check_deployment_selector(one)?;
            Ok(ColorSide {
                color: color.as_str(),
                deployment: one,
                service: Some(service),
            })
        }
        many => Err(DiscoveryError::AmbiguousColor {
            router: reference.clone(),
            color: color.clone(),
            deployments: many.iter().map(|d| d.name_any()).collect(),
        }),
    }
}

/// Fails when the two colors are one: the same color value, or the same Deployment.
fn check_colors_differ(
    reference: &RouterRef,
    key: &str,
    first: ColorSide<'_>,
    second: ColorSide<'_>,
) -> Result<(), DiscoveryError> {
    if first.color == second.color || first.deployment.name_any() == second.deployment.name_any() {
        return Err(DiscoveryError::SameDeployment {
            router: reference.clone(),
            key: key.to_string(),
            colors: vec![first.color.to_string(), second.color.to_string()],
            deployment: first.deployment_name(),
        });
    }
    Ok(())
}

/// `(live, idle)`: the live color is the one whose Service alone gets weight.
fn live_and_idle<'a>(
    reference: &RouterRef,
    weights: &BTreeMap<String, i64>,
    first: ColorSide<'a>,
    second: ColorSide<'a>,
) -> Result<(ColorSide<'a>, ColorSide<'a>), DiscoveryError> {
    let weight_of = |side: &ColorSide<'_>| {
        side.service
            .map(|s| weights.get(&s.name_any()).copied().unwrap_or(0))
            .unwrap_or(0)
    };
    match (weight_of(&first) > 0, weight_of(&second) > 0) {
        (true, false) => Ok((first, second)),
        (false, true) => Ok((second, first)),
        (false, false) => Err(DiscoveryError::NoTraffic {
            router: reference.clone(),
        }),
        (true, true) => Err(DiscoveryError::SplitTraffic {
            router: reference.clone(),
            weights: vec![
                (first.color.to_string(), weight_of(&first)),
                (second.color.to_string(), weight_of(&second)),
            ],
        }),
    }
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
