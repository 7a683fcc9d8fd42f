//! The object validation that matters to the tested workflows, with kube-apiserver's messages.

use serde_json::Value;

use super::object;
use super::resources::ResourceType;
use super::selector::LabelSelector;
use super::status::{ApiError, ApiResult, FieldError};

pub fn validate(resource: &ResourceType, candidate: &Value) -> ApiResult<()> {
    let name = object::name(candidate).unwrap_or_default();
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    match (resource.group, resource.kind) {
        ("apps", "Deployment") => deployment(candidate, &mut errors),
        ("gateway.networking.k8s.io", "HTTPRoute") => http_route(candidate, &mut errors),
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(resource, name, errors))
    }
}

/// Go's `%v`-free rendering kube-apiserver uses for maps in messages: compact JSON.
fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn deployment(candidate: &Value, errors: &mut Vec<FieldError>) {
    let Some(selector) = object::at(candidate, &["spec", "selector"]).filter(|s| !s.is_null())
    else {
        errors.push(FieldError::required("spec.selector", ""));
        return;
    };
    let template_labels = object::at(candidate, &["spec", "template", "metadata", "labels"])
        .cloned()
        .unwrap_or(Value::Null);
    let labels = template_labels
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    match LabelSelector::from_object(Some(selector)) {
        Ok(parsed) if parsed == LabelSelector::default() => errors.push(FieldError::invalid(
            "spec.selector",
            &compact(selector),
            "empty selector is invalid for deployment",
        )),
        Ok(parsed) if !parsed.matches(&labels) => errors.push(FieldError::invalid(
            "spec.template.metadata.labels",
            &compact(&template_labels),
            "`selector` does not match template `labels`",
        )),
        Ok(_) => {}
        Err(detail) => errors.push(FieldError::invalid(
            "spec.selector",
            &compact(selector),
            &detail,
        )),
    }
    if let Some(replicas) = object::at(candidate, &["spec", "replicas"]).and_then(Value::as_i64)
        && replicas < 0
    {
        errors.push(FieldError::invalid(
            "spec.replicas",
            &replicas.to_string(),
            "must be greater than or equal to 0",
        ));
    }
}

/// Two of the Gateway API CRD's schema and CEL rules.
fn http_route(candidate: &Value, errors: &mut Vec<FieldError>) {
    let rules = object::at(candidate, &["spec", "rules"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (r, rule) in rules.iter().enumerate() {
        for (m, matched) in rule
            .get("matches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let kind = matched.pointer("/path/type").and_then(Value::as_str);
            let value = matched.pointer("/path/value").and_then(Value::as_str);
            if matches!(kind, Some("Exact" | "PathPrefix"))
                && value.is_some_and(|v| !v.starts_with('/'))
            {
                errors.push(FieldError {
                    field: format!("spec.rules[{r}].matches[{m}].path"),
                    reason: "FieldValueInvalid",
                    message: "Invalid value: value must be an absolute path and start with '/' \
                              when type one of ['Exact', 'PathPrefix']"
                        .to_string(),
                });
            }
        }
        for (b, backend) in rule
            .get("backendRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(weight) = backend.get("weight").and_then(Value::as_i64)
                && weight < 0
            {
                let field = format!("spec.rules[{r}].backendRefs[{b}].weight");
                errors.push(FieldError::invalid(
                    &field,
                    &weight.to_string(),
                    &format!("{field} in body should be greater than or equal to 0"),
                ));
            }
        }
    }
}
