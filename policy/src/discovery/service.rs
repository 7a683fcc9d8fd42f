//! Service routers: a Service whose selector carries the color label picks the live
//! color's Deployment by that label's value; the other color is the one Deployment
//! that differs from it in that label alone.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use super::error::DiscoveryError;
use super::selector::{check_deployment_selector, deployments_matching, selector_of};
use crate::app::{App, ColorSide, Router, template_labels};
use crate::contract::{APP_LABEL, COLOR_LABEL_ANNOTATION, DEFAULT_COLOR_LABEL};
use crate::snapshot::Snapshot;

/// Whether a Service claims to be a router: its selector carries the color label, or it
/// carries the `bluegreen.dev/app` label or the color-label annotation.
pub(super) fn claims_to_be_router(service: &Service) -> bool {
    let key = color_label_key(service.annotations());
    selector_of(service).contains_key(key)
        || service.labels().contains_key(APP_LABEL)
        || service.annotations().contains_key(COLOR_LABEL_ANNOTATION)
}

/// The color label a Service router names in its annotation, or the default.
pub(super) fn color_label_key(annotations: &BTreeMap<String, String>) -> &str {
    annotations
        .get(COLOR_LABEL_ANNOTATION)
        .map(String::as_str)
        .unwrap_or(DEFAULT_COLOR_LABEL)
}

/// The app of a Service router.
pub(super) fn resolve_service<'a>(
    snapshot: &Snapshot<'a>,
    router: Router<'a>,
    service: &'a Service,
) -> Result<App<'a>, DiscoveryError> {
    let reference = router.reference();
    let key = color_label_key(service.annotations()).to_string();
    let selector = selector_of(service);
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
        name: router.app_name(),
        namespace: snapshot.namespace.clone(),
        router,
        color_label: key,
        live,
        idle,
    })
}
