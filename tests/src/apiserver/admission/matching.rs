//! Which webhooks of the stored webhook configurations, mutating and validating alike, a request
//! must be sent to: rules (groups, versions, resources incl. subresources, operations, scope),
//! namespaceSelector, objectSelector (new OR old object), then matchConditions, like
//! kube-apiserver's webhook dispatchers.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Attributes, conditions, webhook_name};
use crate::apiserver::object;
use crate::apiserver::selector::LabelSelector;
use crate::apiserver::status::ApiError;

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn contains_or_wildcard(list: &[&str], wanted: &str) -> bool {
    list.iter().any(|item| *item == "*" || *item == wanted)
}

/// `deployments`, `deployments/scale`, `*`, `*/scale`, `deployments/*`, `*/*`.
fn resource_matches(pattern: &str, resource: &str, subresource: Option<&str>) -> bool {
    let (pattern_resource, pattern_sub) = match pattern.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (pattern, None),
    };
    let resource_ok = pattern_resource == "*" || pattern_resource == resource;
    let sub_ok = match (pattern_sub, subresource) {
        (None, None) => true,
        (Some("*"), _) => true,
        (Some(p), Some(s)) => p == s,
        _ => false,
    };
    resource_ok && sub_ok
}

fn rule_matches(rule: &Value, attributes: &Attributes<'_>, exact_versions: bool) -> bool {
    let resource = attributes.resource;
    let scope_ok = match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Cluster" => !resource.namespaced,
        "Namespaced" => resource.namespaced,
        _ => true,
    };
    // With matchPolicy Equivalent a rule naming another version of the same resource matches:
    // kube-apiserver would convert the object; every resource here has one version.
    let version_ok = !exact_versions
        || contains_or_wildcard(&strings(rule.get("apiVersions")), resource.version);
    scope_ok
        && version_ok
        && contains_or_wildcard(
            &strings(rule.get("operations")),
            attributes.operation.as_str(),
        )
        && contains_or_wildcard(&strings(rule.get("apiGroups")), resource.group)
        && strings(rule.get("resources"))
            .iter()
            .any(|pattern| resource_matches(pattern, resource.plural, attributes.subresource))
}

/// Whether `webhook` (one entry of a configuration's `webhooks`) is called for the request.
/// `namespace_labels` are the labels of the request's Namespace object. `Err` is the request's
/// refusal: an invalid selector, or a matchCondition that failed under failurePolicy Fail.
pub fn webhook_applies(
    webhook: &Value,
    attributes: &Attributes<'_>,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Result<bool, ApiError> {
    let selected =
        rules_and_selectors_match(webhook, attributes, namespace_labels).map_err(|detail| {
            ApiError::internal(format!(
                "failed calling webhook \"{}\": invalid selector: {detail}",
                webhook_name(webhook)
            ))
        })?;
    if !selected {
        return Ok(false);
    }
    // The refusal of kube-apiserver's ShouldCallHook (k8s.io/apiserver,
    // pkg/admission/plugin/webhook/generic/webhook.go): NewForbidden(resource, name, <errors>).
    conditions::matches(webhook, attributes).map_err(|cause| {
        let name = Some(attributes.name).filter(|name| !name.is_empty());
        ApiError::forbidden_because(attributes.resource, name, &cause)
    })
}

/// Whether the rules, namespaceSelector and objectSelector match; `Err` names an invalid selector.
fn rules_and_selectors_match(
    webhook: &Value,
    attributes: &Attributes<'_>,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Result<bool, String> {
    let exact = webhook.get("matchPolicy").and_then(Value::as_str) == Some("Exact");
    let rules = webhook.get("rules").and_then(Value::as_array);
    if !rules
        .into_iter()
        .flatten()
        .any(|rule| rule_matches(rule, attributes, exact))
    {
        return Ok(false);
    }

    let namespace_selector = LabelSelector::from_object(webhook.get("namespaceSelector"))?;
    let namespace_ok =
        if attributes.resource.plural == "namespaces" && attributes.resource.group.is_empty() {
            objects_match(&namespace_selector, attributes)
        } else if attributes.resource.namespaced {
            namespace_selector.matches(namespace_labels.unwrap_or(&BTreeMap::new()))
        } else {
            true
        };

    let object_selector = LabelSelector::from_object(webhook.get("objectSelector"))?;
    Ok(namespace_ok && objects_match(&object_selector, attributes))
}

/// kube-apiserver matches the new object or the old one: removing a label still calls the webhook.
fn objects_match(selector: &LabelSelector, attributes: &Attributes<'_>) -> bool {
    if *selector == LabelSelector::default() {
        return true;
    }
    [attributes.object, attributes.old_object]
        .into_iter()
        .flatten()
        .any(|candidate| selector.matches(&object::labels(candidate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subresource_patterns_follow_kubernetes() {
        assert!(resource_matches("deployments", "deployments", None));
        assert!(!resource_matches(
            "deployments",
            "deployments",
            Some("scale")
        ));
        assert!(resource_matches(
            "deployments/scale",
            "deployments",
            Some("scale")
        ));
        assert!(resource_matches("*/scale", "deployments", Some("scale")));
        assert!(!resource_matches("*", "deployments", Some("status")));
        assert!(resource_matches("*/*", "deployments", Some("status")));
        assert!(resource_matches("*/*", "services", None));
    }
}
