//! JSON Patch as kube-apiserver applies it, to PATCH bodies and to mutating webhooks' answers:
//! evanphx/json-patch v4 (`gopkg.in/evanphx/json-patch.v4`), with its error messages. It departs
//! from RFC 6902, and from the json-patch crate, where clients notice: `replace` of a missing key
//! in an existing object adds it; `copy` from a missing key copies null and `test` of a missing
//! key passes for a null value; `add` without `value` adds null; array indices may be negative
//! or signed; the part before a path's first `/` is ignored; a root `add` or `remove` fails.

use serde_json::{Map, Value};

use super::golang;

/// A decoded patch: its operations as sent (a null operation is empty).
#[derive(Debug)]
pub struct Patch(Vec<Map<String, Value>>);

impl Patch {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn type_error(value: &Value, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        golang::json_kind(value)
    )
}

/// `jsonpatch.DecodePatch`: JSON syntax first, then the shape (an array of objects; `null` is
/// an empty patch).
pub fn decode(bytes: &[u8]) -> Result<Patch, String> {
    if let Some(error) = golang::json_syntax_error(bytes) {
        return Err(error);
    }
    match serde_json::from_slice(bytes).map_err(|err| err.to_string())? {
        Value::Null => Ok(Patch(Vec::new())),
        Value::Array(operations) => operations
            .into_iter()
            .map(|operation| match operation {
                Value::Object(fields) => Ok(fields),
                Value::Null => Ok(Map::new()),
                other => Err(type_error(&other, "jsonpatch.Operation")),
            })
            .collect::<Result<_, _>>()
            .map(Patch),
        other => Err(type_error(&other, "jsonpatch.Patch")),
    }
}

/// A string field of an operation (`op`, `path`, `from`); `None` when absent or null.
fn string_field(operation: &Map<String, Value>, field: &str) -> Option<Result<String, String>> {
    match operation.get(field)? {
        Value::Null => None,
        Value::String(text) => Some(Ok(text.clone())),
        other => Some(Err(type_error(other, "string"))),
    }
}

fn path(operation: &Map<String, Value>) -> Result<String, String> {
    string_field(operation, "path")
        .unwrap_or_else(|| Err("operation missing path field: missing value".to_string()))
}

fn from(operation: &Map<String, Value>) -> Result<String, String> {
    string_field(operation, "from")
        .unwrap_or_else(|| Err("operation, missing from field: missing value".to_string()))
}

/// The value to add or set: an absent `value` is null.
fn value(operation: &Map<String, Value>) -> Value {
    operation.get("value").cloned().unwrap_or(Value::Null)
}

/// Applies `patch` to `document` (an object or an array); `Err` is evanphx's message.
pub fn apply(patch: &Patch, document: &Value) -> Result<Value, String> {
    let mut document = document.clone();
    for operation in &patch.0 {
        let kind = match string_field(operation, "op") {
            Some(Ok(kind)) => kind,
            _ => "unknown".to_string(),
        };
        match kind.as_str() {
            "add" => add(&mut document, operation)?,
            "remove" => remove(&mut document, operation)?,
            "replace" => replace(&mut document, operation)?,
            "move" => move_value(&mut document, operation)?,
            "test" => test(&mut document, operation)?,
            "copy" => copy(&mut document, operation)?,
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(document)
}

/// RFC 6901 unescaping, `~1` before `~0` in one pass, as evanphx's replacer does.
fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn invalid_index(index: i64) -> String {
    format!("Unable to access invalid index: {index}: invalid index referenced")
}

/// An array index as evanphx reads it for `get`, `set` and `remove`: Atoi, negative counted from
/// the end.
fn existing_index(items: &[Value], key: &str) -> Result<usize, String> {
    let index = golang::atoi(key)?;
    let length = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let resolved = if index < 0 { index + length } else { index };
    if resolved < 0 || resolved >= length {
        return Err(invalid_index(index));
    }
    usize::try_from(resolved).map_err(|_| invalid_index(index))
}

/// A container's child, as evanphx's `get`: a missing key is no error, only no value (and a null
/// value reads the same as a missing one).
fn get<'a>(container: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    Ok(match container {
        Value::Object(fields) => fields.get(key),
        Value::Array(items) => items.get(existing_index(items, key)?),
        _ => None,
    }
    .filter(|value| !value.is_null()))
}

/// Inserts into an object, or into an array at an index (`-` appends, negative counts from the
/// end, the length itself appends).
fn insert(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(fields) => {
            fields.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) if key == "-" => {
            items.push(value);
            Ok(())
        }
        Value::Array(items) => {
            let index = golang::atoi(key)
                .map_err(|err| format!("value was not a proper array index: '{key}': {err}"))?;
            let slots = i64::try_from(items.len() + 1).unwrap_or(i64::MAX);
            let resolved = if index < 0 { index + slots } else { index };
            if index >= slots || resolved < 0 {
                return Err(invalid_index(index));
            }
            let at = usize::try_from(resolved).map_err(|_| invalid_index(index))?;
            items.insert(at, value);
            Ok(())
        }
        _ => Err(format!("value was not a proper array index: '{key}'")),
    }
}

fn delete(container: &mut Value, key: &str) -> Result<Value, String> {
    match container {
        Value::Object(fields) => fields
            .remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: missing value")),
        Value::Array(items) => {
            let at = existing_index(items, key)?;
            Ok(items.remove(at))
        }
        _ => Err(format!(
            "Unable to remove nonexistent key: {key}: missing value"
        )),
    }
}

/// evanphx's `findObject`: the container holding the path's last token, and that token
/// (unescaped). Only objects and arrays are traversed; the part before the first `/` is
/// ignored.
fn find<'a>(document: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let tokens: Vec<&str> = path.split('/').collect();
    let (key, parents) = tokens.split_last()?;
    let parents = parents.get(1..)?;
    let mut container = document;
    for token in parents {
        let token = unescape(token);
        let next = match container {
            Value::Object(fields) => fields.get_mut(&token),
            Value::Array(items) => {
                let at = existing_index(items, &token).ok()?;
                items.get_mut(at)
            }
            _ => None,
        }?;
        if !(next.is_object() || next.is_array()) {
            return None;
        }
        container = next;
    }
    Some((container, unescape(key)))
}

fn add(document: &mut Value, operation: &Map<String, Value>) -> Result<(), String> {
    let path = path(operation).map_err(|_| "add operation failed to decode path: missing value")?;
    let (container, key) = find(document, &path).ok_or_else(|| {
        format!("add operation does not apply: doc is missing path: \"{path}\": missing value")
    })?;
    insert(container, &key, value(operation))
        .map_err(|err| format!("error in add for path: '{path}': {err}"))
}

fn remove(document: &mut Value, operation: &Map<String, Value>) -> Result<(), String> {
    let path =
        path(operation).map_err(|err| format!("remove operation failed to decode path: {err}"))?;
    let (container, key) = find(document, &path).ok_or_else(|| {
        format!("remove operation does not apply: doc is missing path: \"{path}\": missing value")
    })?;
    delete(container, &key)
        .map(drop)
        .map_err(|err| format!("error in remove for path: '{path}': {err}"))
}

fn replace(document: &mut Value, operation: &Map<String, Value>) -> Result<(), String> {
    let path =
        path(operation).map_err(|err| format!("replace operation failed to decode path: {err}"))?;
    if path.is_empty() {
        // The whole document; evanphx ignores a value that is neither object nor array.
        let replacement = value(operation);
        if replacement.is_object() || replacement.is_array() {
            *document = replacement;
        }
        return Ok(());
    }
    let (container, key) = find(document, &path).ok_or_else(|| {
        format!("replace operation does not apply: doc is missing path: {path}: missing value")
    })?;
    match container {
        Value::Object(fields) => {
            fields.insert(key, value(operation));
        }
        Value::Array(items) => {
            let at = existing_index(items, &key).map_err(|_| {
                format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                )
            })?;
            items[at] = value(operation);
        }
        _ => {}
    }
    Ok(())
}

fn move_value(document: &mut Value, operation: &Map<String, Value>) -> Result<(), String> {
    let from =
        from(operation).map_err(|err| format!("move operation failed to decode from: {err}"))?;
    let (container, key) = find(document, &from).ok_or_else(|| {
        format!("move operation does not apply: doc is missing from path: {from}: missing value")
    })?;
    let error = |err: String| format!("error in move for path: '{key}': {err}");
    get(container, &key).map_err(error)?;
    let moved = delete(container, &key).map_err(error)?;
    let path =
        path(operation).map_err(|err| format!("move operation failed to decode path: {err}"))?;
    let (container, key) = find(document, &path).ok_or_else(|| {
        format!(
            "move operation does not apply: doc is missing destination path: {path}: missing value"
        )
    })?;
    insert(container, &key, moved).map_err(|err| format!("error in move for path: '{path}': {err}"))
}

fn test(document: &mut Value, operation: &Map<String, Value>) -> Result<(), String> {
    let path =
        path(operation).map_err(|err| format!("test operation failed to decode path: {err}"))?;
    let failed = || format!("testing value {path} failed: test failed");
    let expected = operation.get("value");
    if path.is_empty() {
        return if expected == Some(&*document) {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let (container, key) = find(document, &path).ok_or_else(|| {
        format!("test operation does not apply: is missing path: {path}: missing value")
    })?;
    let actual =
        get(container, &key).map_err(|err| format!("error in test for path: '{path}': {err}"))?;
    match (actual, expected) {
        (None, None | Some(Value::Null)) => Ok(()),
        (Some(actual), Some(expected)) if actual == expected => Ok(()),
        _ => Err(failed()),
    }
}

fn copy(document: &mut Value, operation: &Map<String, Value>) -> Result<(), String> {
    let from =
        from(operation).map_err(|err| format!("copy operation failed to decode from: {err}"))?;
    let (container, key) = find(document, &from).ok_or_else(|| {
        format!("copy operation does not apply: doc is missing from path: {from}: missing value")
    })?;
    let copied = get(container, &key)
        .map_err(|err| format!("error in copy for from: '{from}': {err}"))?
        .cloned()
        .unwrap_or(Value::Null);
    let path =
        path(operation).map_err(|_| "copy operation failed to decode path: missing value")?;
    let (container, key) = find(document, &path).ok_or_else(|| {
        format!(
            "copy operation does not apply: doc is missing destination path: {path}: missing value"
        )
    })?;
    insert(container, &key, copied)
        .map_err(|err| format!("error while adding value during copy: {err}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(document: Value, operations: Value) -> Result<Value, String> {
        apply(&decode(operations.to_string().as_bytes())?, &document)
    }

    fn service() -> Value {
        json!({"metadata": {"labels": {"app": "api"}}, "spec": {"ports": [{"port": 80}], "selector": {"color": "blue"}}})
    }

    #[test]
    fn replace_of_a_missing_key_adds_it_but_not_below_a_missing_parent() {
        let patched = run(
            service(),
            json!([{"op": "replace", "path": "/metadata/labels/bluegreen.dev~1missing", "value": "x"}]),
        )
        .unwrap();
        assert_eq!(patched["metadata"]["labels"]["bluegreen.dev/missing"], "x");
        assert_eq!(
            run(service(), json!([{"op": "replace", "path": "/spec/missing/key", "value": "x"}])),
            Err("replace operation does not apply: doc is missing path: /spec/missing/key: missing value".to_string())
        );
        assert_eq!(
            run(service(), json!([{"op": "add", "path": "/spec/missing/key", "value": "x"}])),
            Err("add operation does not apply: doc is missing path: \"/spec/missing/key\": missing value".to_string())
        );
        assert_eq!(
            run(service(), json!([{"op": "replace", "path": "/spec/ports/1", "value": {}}])),
            Err("replace operation does not apply: doc is missing key: /spec/ports/1: missing value".to_string())
        );
    }

    #[test]
    fn operations_follow_evanphx_v4() {
        let patched = run(
            service(),
            json!([
                {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "1"}},
                {"op": "copy", "from": "/metadata/annotations/a~0b~1c", "path": "/metadata/labels/copied"},
                {"op": "copy", "from": "/metadata/nothing", "path": "/metadata/labels/null"},
                {"op": "move", "from": "/spec/selector/color", "path": "/spec/selector/colour"},
                {"op": "add", "path": "/spec/ports/-1", "value": {"port": 443}},
                {"op": "add", "path": "/spec/ports/0", "value": {"port": 8080}},
                {"op": "remove", "path": "/spec/ports/-1"},
                {"op": "add", "path": "/spec/novalue"},
                {"op": "test", "path": "/spec/missing", "value": null},
                {"op": "test", "path": "/spec/ports/+1", "value": {"port": 80}},
            ]),
        )
        .unwrap();
        assert_eq!(
            patched,
            json!({
                "metadata": {"annotations": {"a~b/c": "1"}, "labels": {"app": "api", "copied": "1", "null": null}},
                "spec": {"novalue": null, "ports": [{"port": 8080}, {"port": 80}], "selector": {"colour": "blue"}}
            })
        );
    }

    #[test]
    fn failures_carry_evanphx_messages() {
        for (operations, message) in [
            (
                json!([{"op": "remove", "path": "/spec/absent"}]),
                "error in remove for path: '/spec/absent': Unable to remove nonexistent key: absent: missing value",
            ),
            (
                json!([{"op": "remove", "path": "/spec/ports/x"}]),
                "error in remove for path: '/spec/ports/x': strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                json!([{"op": "add", "path": "/spec/ports/3", "value": 1}]),
                "error in add for path: '/spec/ports/3': Unable to access invalid index: 3: invalid index referenced",
            ),
            (
                json!([{"op": "add", "path": "", "value": {}}]),
                "add operation does not apply: doc is missing path: \"\": missing value",
            ),
            (
                json!([{"op": "test", "path": "/spec/selector/color", "value": "green"}]),
                "testing value /spec/selector/color failed: test failed",
            ),
            (
                json!([{"op": "move", "from": "/spec/absent", "path": "/spec/x"}]),
                "error in move for path: 'absent': Unable to remove nonexistent key: absent: missing value",
            ),
            (
                json!([{"op": "remove"}]),
                "remove operation failed to decode path: operation missing path field: missing value",
            ),
            (json!([{"path": "/spec"}]), "Unexpected kind: unknown"),
            (
                json!([{"op": "copy", "path": "/spec/x"}]),
                "copy operation failed to decode from: operation, missing from field: missing value",
            ),
        ] {
            assert_eq!(
                run(service(), operations.clone()),
                Err(message.to_string()),
                "{operations}"
            );
        }
    }

    #[test]
    fn decoding_reads_like_go() {
        for (bytes, message) in [
            (
                &b"this is not a JSON patch"[..],
                "invalid character 'h' in literal true (expecting 'r')",
            ),
            (
                b"{\"op\":\"add\"}",
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
            ),
            (
                b"[\"add\"]",
                "json: cannot unmarshal string into Go value of type jsonpatch.Operation",
            ),
        ] {
            assert_eq!(decode(bytes).map(|_| ()), Err(message.to_string()));
        }
        assert!(decode(b"null").unwrap().is_empty());
        assert!(decode(b"[]").unwrap().is_empty());
    }
}
