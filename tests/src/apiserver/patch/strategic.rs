//! Strategic merge patch for the built-in types this server stores: maps merge, `null` deletes,
//! lists with a patch merge key (containers by name, ports by port, ...) merge element-wise,
//! other lists are replaced. Directives: `$patch: delete|replace|merge`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` (accepted, order ignored).

use serde_json::{Map, Value};

use crate::apiserver::schema::{ListShape, Schema};

/// How a list field is patched, from the schema's list shape: associative lists merge by their
/// first key (Kubernetes' `patchMergeKey`), sets of primitives take the union, others are replaced.
enum ListStrategy {
    MergeByKey(&'static str),
    MergePrimitives,
    Replace,
}

fn list_strategy(schema: Schema, path: &[String]) -> ListStrategy {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    match schema.list_shape(&names) {
        ListShape::Map([first, ..]) => ListStrategy::MergeByKey(first.name),
        ListShape::Set => ListStrategy::MergePrimitives,
        ListShape::Map([]) | ListShape::Atomic => ListStrategy::Replace,
    }
}

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies `patch` to `original`, an object of `schema`. Errors are messages for a 422/400 answer.
pub fn apply(schema: Schema, original: &Value, patch: &Value) -> Result<Value, String> {
    let Value::Object(patch) = patch else {
        return Err("strategic merge patch must be a JSON object".into());
    };
    let base = original.as_object().cloned().unwrap_or_default();
    merge_map(schema, base, patch, &mut Vec::new()).map(Value::Object)
}

fn merge_map(
    schema: Schema,
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Map<String, Value>, String> {
    match patch.get(DIRECTIVE).and_then(Value::as_str) {
        Some("replace") => return Ok(strip_directives(patch)),
        Some("delete") => return Ok(Map::new()),
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other}")),
    }
    if let Some(Value::Array(retained)) = patch.get(RETAIN_KEYS) {
        let keep: Vec<&str> = retained.iter().filter_map(Value::as_str).collect();
        original.retain(|key, _| keep.contains(&key.as_str()));
    }
    for (key, value) in patch {
        if key == DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let doomed = value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !doomed.contains(item));
            }
            continue;
        }
        path.push(key.clone());
        let merged = match (original.remove(key), value) {
            (_, Value::Null) => None,
            (_, Value::Object(new)) if is_delete_directive(new) => None,
            (Some(Value::Object(old)), Value::Object(new)) => {
                Some(Value::Object(merge_map(schema, old, new, path)?))
            }
            (Some(Value::Array(old)), Value::Array(new)) => {
                Some(Value::Array(merge_list(schema, old, new, path)?))
            }
            (_, Value::Object(new)) => {
                Some(Value::Object(merge_map(schema, Map::new(), new, path)?))
            }
            (_, Value::Array(new)) => {
                Some(Value::Array(merge_list(schema, Vec::new(), new, path)?))
            }
            (_, scalar) => Some(scalar.clone()),
        };
        path.pop();
        if let Some(merged) = merged {
            original.insert(key.clone(), merged);
        }
    }
    Ok(original)
}

/// A map patched with `$patch: delete` disappears from its parent.
fn is_delete_directive(patch: &Map<String, Value>) -> bool {
    patch.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

fn merge_list(
    schema: Schema,
    original: Vec<Value>,
    patch: &[Value],
    path: &mut Vec<String>,
) -> Result<Vec<Value>, String> {
    if patch
        .iter()
        .any(|item| item.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch
            .iter()
            .filter(|item| item.get(DIRECTIVE).is_none())
            .cloned()
            .collect());
    }
    match list_strategy(schema, path) {
        ListStrategy::Replace => Ok(patch.iter().map(strip_directives_value).collect()),
        ListStrategy::MergePrimitives => {
            let mut merged = original;
            for item in patch {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            Ok(merged)
        }
        ListStrategy::MergeByKey(key) => {
            let mut merged = original;
            for item in patch {
                let Some(item_map) = item.as_object() else {
                    return Err(format!(
                        "{}: list items must be objects with the merge key {key}",
                        path.join(".")
                    ));
                };
                let Some(wanted) = item_map.get(key) else {
                    return Err(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    ));
                };
                let position = merged.iter().position(|m| m.get(key) == Some(wanted));
                let deleting = is_delete_directive(item_map);
                match (position, deleting) {
                    (Some(i), true) => {
                        merged.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        let old = merged[i].as_object().cloned().unwrap_or_default();
                        merged[i] = Value::Object(merge_map(schema, old, item_map, path)?);
                    }
                    (None, false) => merged.push(Value::Object(merge_map(
                        schema,
                        Map::new(),
                        item_map,
                        path,
                    )?)),
                }
            }
            Ok(merged)
        }
    }
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(key, _)| {
            *key != DIRECTIVE
                && *key != RETAIN_KEYS
                && !key.starts_with(SET_ELEMENT_ORDER)
                && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
        })
        .map(|(key, value)| (key.clone(), strip_directives_value(value)))
        .collect()
}

fn strip_directives_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_directives(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;
    use serde_json::json;

    fn deployments() -> Schema {
        Schema::of(resources::deployments())
    }

    fn services() -> Schema {
        Schema::of(resources::services())
    }

    fn deployment() -> Value {
        json!({"spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {"spec": {"containers": [
            {"name": "api", "image": "api:1", "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
            {"name": "sidecar", "image": "proxy:1"}
        ]}}}})
    }

    #[test]
    fn containers_merge_by_name_and_keep_the_others() {
        let patched = apply(
            deployments(),
            &deployment(),
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "api", "image": "api:2", "env": [{"name": "B", "value": "2"}]}
            ]}}}}),
        )
        .unwrap();
        let containers = &patched["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "api:2");
        assert_eq!(containers[0]["env"].as_array().unwrap().len(), 2);
        assert_eq!(containers[0]["ports"][0]["containerPort"], 8080);
        assert_eq!(containers[1]["name"], "sidecar");
    }

    #[test]
    fn patch_delete_directive_removes_a_list_element() {
        let patched = apply(
            deployments(),
            &deployment(),
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "$patch": "delete"}
            ]}}}}),
        )
        .unwrap();
        assert_eq!(
            patched["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn maps_merge_and_null_deletes() {
        let patched = apply(
            services(),
            &json!({"spec": {"selector": {"app": "api", "color": "blue"}}}),
            &json!({"spec": {"selector": {"color": "green", "app": null}}}),
        )
        .unwrap();
        assert_eq!(patched, json!({"spec": {"selector": {"color": "green"}}}));
    }

    #[test]
    fn service_ports_merge_by_port_and_unknown_lists_are_replaced() {
        let patched = apply(
            services(),
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}], "externalIPs": ["1.1.1.1"]}}),
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}], "externalIPs": ["2.2.2.2"]}}),
        )
        .unwrap();
        assert_eq!(
            patched,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}], "externalIPs": ["2.2.2.2"]}})
        );
    }
}
