//! The `scale` subresource: a Deployment seen as an `autoscaling/v1 Scale`.

use serde_json::{Map, Value, json};

use super::object;

/// The Scale view of a Deployment (metadata limited to identity fields, as kube-apiserver does).
pub fn from_deployment(deployment: &Value) -> Value {
    let mut metadata = Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(value) = object::metadata(deployment).and_then(|m| m.get(field)) {
            metadata.insert(field.to_string(), value.clone());
        }
    }
    let replicas = object::at(deployment, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let current = object::at(deployment, &["status", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    // autoscaling/v1 ScaleSpec's replicas is omitempty: a Scale to 0 has an empty spec.
    let spec = if replicas == 0 {
        json!({})
    } else {
        json!({ "replicas": replicas })
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": spec,
        "status": {"replicas": current, "selector": selector_string(deployment)},
    })
}

/// The Deployment after a Scale write: only `spec.replicas` changes.
pub fn apply_to_deployment(deployment: &Value, scale: &Value) -> Value {
    let mut updated = deployment.clone();
    let replicas = object::at(scale, &["spec", "replicas"])
        .cloned()
        .unwrap_or(json!(0));
    if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".to_string(), replicas);
    }
    updated
}

/// `app=api,color=green`: the label selector as a query string.
fn selector_string(deployment: &Value) -> String {
    let selector = object::at(deployment, &["spec", "selector"]);
    let mut terms: Vec<String> = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for expression in selector
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match expression.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("DoesNotExist") => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    terms.join(",")
}
