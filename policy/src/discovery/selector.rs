//! Label selectors: whether one picks a Deployment's pods, which Deployments it picks,
//! and how an error message spells it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

use super::error::DiscoveryError;
use crate::app::template_labels;
use crate::snapshot::Snapshot;

/// Whether a Service's selector picks the pods of a Deployment (an empty selector picks
/// none: such a Service has its endpoints managed by hand).
pub fn service_selects(service: &Service, deployment: &Deployment) -> bool {
    let selector = selector_of(service);
    !selector.is_empty()
        && template_labels(deployment).is_some_and(|labels| selects_except(selector, "", labels))
}

/// A Service's selector, empty when it has none.
pub(super) fn selector_of(service: &Service) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .unwrap_or(&EMPTY)
}

/// Whether a label selector selects pods with these labels; `None` when it is invalid.
/// Selectors of `matchLabels` alone, nearly all of them, are matched in place: kube's
/// [`Selector`], needed for expressions, is built from an owned copy, which cost more
/// than the match on the admission path.
pub fn label_selector_matches(
    selector: &LabelSelector,
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

fn describe_label_selector(selector: &LabelSelector) -> String {
    Selector::try_from(selector.clone())
        .map(|s| s.to_string())
        .unwrap_or_else(|err| format!("invalid: {}", err.0))
}

pub(super) fn describe_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `labels` satisfy every `key=value` of `selector` but the one of `except`.
pub(super) fn selects_except(
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
pub(super) fn deployments_matching<'a>(
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

/// Fails when a Deployment's own selector does not select its pods.
pub(super) fn check_deployment_selector(deployment: &Deployment) -> Result<(), DiscoveryError> {
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
