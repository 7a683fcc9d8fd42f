//! BG009 immutable-live: the live color's pod template never changes in place, because
//! that is a rolling update on live traffic: exactly what blue-green exists to avoid.
//! Replica changes are fine.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::app::{App, container_images};
use crate::finding::{Findings, RuleId};
use crate::rules::Context;

/// The template annotation `kubectl rollout restart` sets. A restart runs the same
/// code and configuration, and it is how config rotated in place (BG004's fix) is
/// picked up, so it does not count as a change.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

fn comparable(deployment: &Deployment) -> Option<PodTemplateSpec> {
    let mut template = deployment.spec.as_ref()?.template.clone();
    if let Some(annotations) = template
        .metadata
        .as_mut()
        .and_then(|m| m.annotations.as_mut())
    {
        annotations.remove(RESTARTED_AT_ANNOTATION);
        if annotations.is_empty()
            && let Some(metadata) = template.metadata.as_mut()
        {
            metadata.annotations = None;
        }
    }
    Some(template)
}

fn images(template: &PodTemplateSpec) -> BTreeMap<&str, &str> {
    template
        .spec
        .as_ref()
        .map(container_images)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Judges an update of the live color's Deployment from `old` to `new`.
pub fn evaluate(
    app: &App<'_>,
    old: &Deployment,
    new: &Deployment,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let (before, after) = (comparable(old), comparable(new));
    if before == after {
        return;
    }
    let router = app.router.reference();
    let (old_images, new_images) = (
        before.as_ref().map(images).unwrap_or_default(),
        after.as_ref().map(images).unwrap_or_default(),
    );
    let changed: Vec<(&str, &str, &str)> = new_images
        .iter()
        .filter_map(|(name, image)| {
            let previous = old_images.get(name).copied().unwrap_or("(none)");
            (previous != *image).then_some((*name, previous, *image))
        })
        .collect();
    let (what, fix) = if changed.is_empty() {
        (
            "its pod template changed".to_string(),
            format!(
                "make the change on the idle color {} and promote it",
                app.idle.color
            ),
        )
    } else {
        let what = changed
            .iter()
            .map(|(name, from, to)| format!("container {name} image {from} → {to}"))
            .collect::<Vec<_>>()
            .join(", ");
        let flags = changed
            .iter()
            .map(|(name, _, to)| format!("--image {name}={to}"))
            .collect::<Vec<_>>()
            .join(" ");
        (
            what,
            format!(
                "deploy to the idle color and promote it: kubectl bluegreen deploy {router} {flags}"
            ),
        )
    };
    ctx.report(
        out,
        RuleId::BG009,
        app.live.object_ref(),
        format!(
            "Deployment {} runs the live color {} of {router}; changing it in place ({what}) is a rolling update on live traffic",
            app.live.deployment_name(),
            app.live.color
        ),
        fix,
    );
}
