//! Objects walked by their schema, as structured-merge-diff walks typed values: the fields an
//! object sets, what changed between two objects, an apply configuration merged into an object,
//! fields removed from an object. A JSON `null` is a value here (Go's zero-value objects have
//! some); an absent key is no value.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::set::{FieldSet, PathElement, Scalar};
use crate::apiserver::schema::{ListShape, ObjectShape, Schema};

/// What changed from one object to another.
#[derive(Debug, Default)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// Leaves out what lies below `ignored` (fields the endpoint resets).
    pub fn excluding(self, ignored: &FieldSet) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }

    pub fn changed(&self) -> FieldSet {
        self.modified.union(&self.added)
    }
}

/// Where a walk is: field names from the root (list items left out, as the schema addresses
/// them) and the full path.
struct Walk<'a> {
    schema: Schema,
    names: Vec<&'a str>,
    path: Vec<PathElement>,
}

impl<'a> Walk<'a> {
    fn new(schema: Schema) -> Self {
        Walk {
            schema,
            names: Vec::new(),
            path: Vec::new(),
        }
    }

    fn object_shape(&self) -> ObjectShape {
        self.schema.object_shape(&self.names)
    }

    fn list_shape(&self) -> ListShape {
        self.schema.list_shape(&self.names)
    }

    fn enter_field(&mut self, name: &'a str) {
        self.names.push(name);
        self.path.push(PathElement::Field(name.to_string()));
    }

    fn leave_field(&mut self) {
        self.names.pop();
        self.path.pop();
    }
}

/// The path element of a list item, or why the item cannot be in such a list.
pub fn item_element(shape: ListShape, item: &Value) -> Result<PathElement, String> {
    match shape {
        ListShape::Atomic => Err("invalid indexing of non-associative list".into()),
        ListShape::Set => Ok(PathElement::Value(Scalar(item.clone()))),
        ListShape::Map(keys) => {
            let Value::Object(fields) = item else {
                return Err("associative list with keys may not have non-map elements".into());
            };
            let mut key: Vec<(String, Scalar)> = keys
                .iter()
                .filter_map(|key| {
                    let value = match (fields.get(key.name), key.default) {
                        (Some(value), _) => value.clone(),
                        (None, Some(default)) => Value::String(default.to_string()),
                        (None, None) => return None,
                    };
                    Some((key.name.to_string(), Scalar(value)))
                })
                .collect();
            if key.is_empty() {
                let names: Vec<String> = keys.iter().map(|k| format!("{:?}", k.name)).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] \
                     (and doesn't have default values for any key fields)",
                    names.join(" ")
                ));
            }
            key.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(key))
        }
    }
}

/// The fields `value` sets: its leaves, its list items, its empty or null map entries, and the
/// entries of free-key maps (structured-merge-diff's `ToFieldSet`).
pub fn field_set(schema: Schema, value: &Value) -> FieldSet {
    let mut set = FieldSet::default();
    Walk::new(schema).collect(value, &mut set);
    set
}

impl<'a> Walk<'a> {
    fn collect(&mut self, value: &'a Value, set: &mut FieldSet) {
        match value {
            Value::Object(map) => {
                let shape = self.object_shape();
                if shape == ObjectShape::Atomic {
                    set.insert(&self.path);
                    return;
                }
                for (key, child) in map {
                    self.enter_field(key);
                    self.collect(child, set);
                    let empty = matches!(child, Value::Null)
                        || matches!(child, Value::Object(m) if m.is_empty());
                    if empty || shape == ObjectShape::Map {
                        set.insert(&self.path);
                    }
                    self.leave_field();
                }
            }
            Value::Array(items) => {
                let shape = self.list_shape();
                if shape == ListShape::Atomic {
                    set.insert(&self.path);
                    return;
                }
                let elements: Vec<Option<PathElement>> = items
                    .iter()
                    .map(|item| item_element(shape, item).ok())
                    .collect();
                for (item, element) in items.iter().zip(&elements) {
                    let Some(element) = element else { continue };
                    self.path.push(element.clone());
                    // A duplicated item is owned as a whole.
                    if elements.iter().flatten().filter(|e| *e == element).count() == 1 {
                        self.collect(item, set);
                    }
                    set.insert(&self.path);
                    self.path.pop();
                }
            }
            _ => set.insert(&self.path),
        }
    }
}

/// What is added, modified and removed from `old` to `new` (structured-merge-diff's `Compare`).
pub fn compare(schema: Schema, old: &Value, new: &Value) -> Comparison {
    let mut comparison = Comparison::default();
    Walk::new(schema).compare(Some(old), Some(new), &mut comparison);
    comparison
}

/// Maps and lists are told apart from scalars by either side's value.
fn is_object(l: Option<&Value>, r: Option<&Value>) -> bool {
    l.is_some_and(Value::is_object) || r.is_some_and(Value::is_object)
}

fn is_list(l: Option<&Value>, r: Option<&Value>) -> bool {
    l.is_some_and(Value::is_array) || r.is_some_and(Value::is_array)
}

fn empty_object(value: Option<&Map<String, Value>>) -> bool {
    value.is_none_or(Map::is_empty)
}

fn empty_list(value: Option<&Vec<Value>>) -> bool {
    value.is_none_or(Vec::is_empty)
}

/// The items of a list grouped by path element, in first-seen order.
fn items_by_element<'a>(
    shape: ListShape,
    items: Option<&'a Vec<Value>>,
    order: &mut Vec<PathElement>,
) -> BTreeMap<PathElement, Vec<&'a Value>> {
    let mut grouped: BTreeMap<PathElement, Vec<&'a Value>> = BTreeMap::new();
    for item in items.into_iter().flatten() {
        let Ok(element) = item_element(shape, item) else {
            continue;
        };
        if !grouped.contains_key(&element) && !order.contains(&element) {
            order.push(element.clone());
        }
        grouped.entry(element).or_default().push(item);
    }
    grouped
}

impl<'a> Walk<'a> {
    fn compare(&mut self, l: Option<&'a Value>, r: Option<&'a Value>, out: &mut Comparison) {
        let leaf = if is_object(l, r) {
            self.compare_objects(l, r, out)
        } else if is_list(l, r) {
            self.compare_lists(l, r, out)
        } else {
            self.compare_leaf(l, r, out);
            true
        };
        if !leaf {
            if l.is_none() {
                out.added.insert(&self.path);
            } else if r.is_none() {
                out.removed.insert(&self.path);
            }
        }
    }

    fn compare_leaf(&self, l: Option<&Value>, r: Option<&Value>, out: &mut Comparison) {
        match (l, r) {
            (None, _) => out.added.insert(&self.path),
            (_, None) => out.removed.insert(&self.path),
            (Some(l), Some(r)) if l != r => out.modified.insert(&self.path),
            _ => {}
        }
    }

    /// Returns whether the objects were compared as one leaf.
    fn compare_objects(
        &mut self,
        l: Option<&'a Value>,
        r: Option<&'a Value>,
        out: &mut Comparison,
    ) -> bool {
        let (lm, rm) = (l.and_then(Value::as_object), r.and_then(Value::as_object));
        if self.object_shape() == ObjectShape::Atomic || (empty_object(lm) && empty_object(rm)) {
            self.compare_leaf(l, r, out);
            return true;
        }
        let keys: BTreeSet<&'a String> = lm.into_iter().chain(rm).flat_map(Map::keys).collect();
        for key in keys {
            self.enter_field(key);
            self.compare(
                lm.and_then(|m| m.get(key)),
                rm.and_then(|m| m.get(key)),
                out,
            );
            self.leave_field();
        }
        false
    }

    fn compare_lists(
        &mut self,
        l: Option<&'a Value>,
        r: Option<&'a Value>,
        out: &mut Comparison,
    ) -> bool {
        let (ll, rl) = (l.and_then(Value::as_array), r.and_then(Value::as_array));
        let shape = self.list_shape();
        if shape == ListShape::Atomic || (empty_list(ll) && empty_list(rl)) {
            self.compare_leaf(l, r, out);
            return true;
        }
        let mut order = Vec::new();
        let left = items_by_element(shape, ll, &mut order);
        let right = items_by_element(shape, rl, &mut order);
        for element in order {
            let (li, ri) = (
                left.get(&element).map_or(&[][..], Vec::as_slice),
                right.get(&element).map_or(&[][..], Vec::as_slice),
            );
            self.path.push(element);
            if li.len() <= 1 && ri.len() <= 1 {
                self.compare(li.first().copied(), ri.first().copied(), out);
            } else if li.len() >= 2 && ri.len() >= 2 {
                // Duplicated items are compared as a whole.
                if li != ri {
                    out.modified.insert(&self.path);
                }
            } else if li.len() >= 2 {
                out.removed.insert(&self.path);
            } else {
                out.added.insert(&self.path);
            }
            self.path.pop();
        }
        false
    }
}

/// `config` merged into `live` (structured-merge-diff's `Merge`): granular maps key by key,
/// associative lists item by item, everything else replaced by the configuration's value.
pub fn merge(schema: Schema, live: &Value, config: &Value) -> Result<Value, String> {
    let mut walk = Walk::new(schema);
    Ok(walk.merge(Some(live), Some(config))?.unwrap_or(Value::Null))
}

impl<'a> Walk<'a> {
    fn merge(
        &mut self,
        l: Option<&'a Value>,
        r: Option<&'a Value>,
    ) -> Result<Option<Value>, String> {
        let (Some(lv), Some(rv)) = (l, r) else {
            if let Some(config) = r {
                self.check_config(config)?;
            }
            return Ok(r.or(l).cloned());
        };
        if is_object(l, r) {
            let (lm, rm) = (lv.as_object(), rv.as_object());
            if self.object_shape() == ObjectShape::Atomic || (empty_object(lm) && empty_object(rm))
            {
                return Ok(Some(rv.clone()));
            }
            let keys: BTreeSet<&'a String> = lm.into_iter().chain(rm).flat_map(Map::keys).collect();
            let mut merged = Map::new();
            for key in keys {
                self.enter_field(key);
                let value = self.merge(lm.and_then(|m| m.get(key)), rm.and_then(|m| m.get(key)));
                self.leave_field();
                if let Some(value) = value? {
                    merged.insert(key.clone(), value);
                }
            }
            return Ok(Some(Value::Object(merged)));
        }
        if is_list(l, r) {
            let (ll, rl) = (lv.as_array(), rv.as_array());
            let shape = self.list_shape();
            if shape == ListShape::Atomic || (empty_list(ll) && empty_list(rl)) {
                return Ok(Some(rv.clone()));
            }
            let (ll, rl) = (
                ll.map_or(&[][..], Vec::as_slice),
                rl.map_or(&[][..], Vec::as_slice),
            );
            let merged = self.merge_lists(shape, ll, rl)?;
            return Ok(Some(Value::Array(merged)));
        }
        Ok(Some(rv.clone()))
    }

    /// Refuses what cannot be owned item by item: duplicated or unkeyed items of an associative
    /// list in an apply configuration.
    fn check_config(&mut self, config: &'a Value) -> Result<(), String> {
        match config {
            Value::Object(map) if self.object_shape() != ObjectShape::Atomic => {
                for (key, child) in map {
                    self.enter_field(key);
                    let checked = self.check_config(child);
                    self.leave_field();
                    checked?;
                }
                Ok(())
            }
            Value::Array(items) => {
                let shape = self.list_shape();
                if shape == ListShape::Atomic {
                    return Ok(());
                }
                for (element, item) in self
                    .check_config_items(shape, items)?
                    .into_iter()
                    .zip(items)
                {
                    self.path.push(element);
                    let checked = self.check_config(item);
                    self.path.pop();
                    checked?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn location(&self) -> String {
        super::set::path_string(&self.path)
    }

    /// Items of both lists: shared items in the configuration's order, live-only items where they
    /// were, new items after the configuration item before them (structured-merge-diff's order).
    fn merge_lists(
        &mut self,
        shape: ListShape,
        live: &'a [Value],
        config: &'a [Value],
    ) -> Result<Vec<Value>, String> {
        self.check_config_items(shape, config)?;
        let elements = |items: &'a [Value]| -> Vec<(PathElement, &'a Value)> {
            items
                .iter()
                .filter_map(|item| Some((item_element(shape, item).ok()?, item)))
                .collect()
        };
        let (lhs, rhs) = (elements(live), elements(config));
        let in_lhs = |e: &PathElement| lhs.iter().any(|(l, _)| l == e);
        let in_rhs = |e: &PathElement| rhs.iter().any(|(r, _)| r == e);
        let lhs_item = |e: &PathElement| lhs.iter().find(|(l, _)| l == e).map(|(_, v)| *v);
        let mut shared = rhs.iter().map(|(e, _)| e).filter(|e| in_lhs(e));
        let mut next_shared = shared.next();
        let mut merged_rhs: Vec<&PathElement> = Vec::new();
        let mut out = Vec::new();
        let (mut li, mut ri) = (0, 0);
        while li < lhs.len() || ri < rhs.len() {
            if li < lhs.len() && ri < rhs.len() {
                let (le, lv) = &lhs[li];
                if *le == rhs[ri].0 {
                    merged_rhs.push(le);
                    out.extend(self.merge_item(le, Some(lv), Some(rhs[ri].1))?);
                    li += 1;
                    ri += 1;
                    next_shared = shared.next();
                    continue;
                }
                if in_rhs(le) && next_shared.is_some_and(|next| next != le) {
                    li += 1;
                    continue;
                }
            }
            if li < lhs.len() {
                let (le, lv) = &lhs[li];
                if !in_rhs(le) {
                    out.extend(self.merge_item(le, Some(lv), None)?);
                    li += 1;
                    continue;
                } else if merged_rhs.contains(&le) {
                    li += 1;
                }
            }
            if ri < rhs.len() {
                let (re, rv) = &rhs[ri];
                merged_rhs.push(re);
                out.extend(self.merge_item(re, lhs_item(re), Some(rv))?);
                ri += 1;
                if next_shared == Some(re) {
                    next_shared = shared.next();
                }
            }
        }
        Ok(out)
    }

    /// The path elements of a configuration's list items, each once.
    fn check_config_items(
        &self,
        shape: ListShape,
        config: &[Value],
    ) -> Result<Vec<PathElement>, String> {
        let mut elements: Vec<PathElement> = Vec::new();
        for (index, item) in config.iter().enumerate() {
            let element = item_element(shape, item)
                .map_err(|err| format!("{}: element {index}: {err}", self.location()))?;
            if elements.contains(&element) {
                return Err(format!(
                    "{}: duplicate entries for key {element}",
                    self.location()
                ));
            }
            elements.push(element);
        }
        Ok(elements)
    }

    fn merge_item(
        &mut self,
        element: &PathElement,
        l: Option<&'a Value>,
        r: Option<&'a Value>,
    ) -> Result<Option<Value>, String> {
        self.path.push(element.clone());
        let merged = self.merge(l, r);
        self.path.pop();
        merged
    }
}

/// `value` without the paths of `remove` (structured-merge-diff's `RemoveItems`): a map or list
/// left empty becomes `null`.
pub fn remove(schema: Schema, value: &Value, remove: &FieldSet) -> Value {
    Walk::new(schema).remove(value, remove)
}

impl<'a> Walk<'a> {
    fn remove(&mut self, value: &'a Value, remove: &FieldSet) -> Value {
        match value {
            Value::Object(map) => {
                if map.is_empty() || self.object_shape() == ObjectShape::Atomic {
                    return Value::Null;
                }
                let mut kept = Map::new();
                for (key, child) in map {
                    let element = PathElement::Field(key.clone());
                    if remove.has_member(&element) {
                        continue;
                    }
                    let value = match remove.child(&element) {
                        Some(below) => {
                            self.enter_field(key);
                            let value = self.remove(child, below);
                            self.leave_field();
                            value
                        }
                        None => child.clone(),
                    };
                    kept.insert(key.clone(), value);
                }
                if kept.is_empty() {
                    Value::Null
                } else {
                    Value::Object(kept)
                }
            }
            Value::Array(items) => {
                let shape = self.list_shape();
                if items.is_empty() || shape == ListShape::Atomic {
                    return Value::Null;
                }
                let mut kept = Vec::new();
                for item in items {
                    let Ok(element) = item_element(shape, item) else {
                        kept.push(item.clone());
                        continue;
                    };
                    if remove.has_member(&element) {
                        continue;
                    }
                    match remove.child(&element) {
                        Some(below) => kept.push(self.remove(item, below)),
                        None => kept.push(item.clone()),
                    }
                }
                if kept.is_empty() {
                    Value::Null
                } else {
                    Value::Array(kept)
                }
            }
            scalar => scalar.clone(),
        }
    }
}

/// `set` plus, as members, the struct fields that only have paths below them (structured-merge-
/// diff's `EnsureNamedFieldsAreMembers`): pruning then removes a struct whose every owned field
/// went, while free-key maps and lists only lose their entries.
pub fn with_named_fields(schema: Schema, set: &FieldSet) -> FieldSet {
    named_fields(schema, &mut Vec::new(), set)
}

fn named_fields<'s>(schema: Schema, names: &mut Vec<&'s str>, set: &'s FieldSet) -> FieldSet {
    let is_struct = schema.object_shape(names) == ObjectShape::Struct;
    let mut result = FieldSet::from_members(set.members().cloned());
    for (element, child) in set.children() {
        let below = match element {
            PathElement::Field(name) => {
                if is_struct {
                    result.insert(std::slice::from_ref(element));
                }
                names.push(name);
                let below = named_fields(schema, names, child);
                names.pop();
                below
            }
            _ => named_fields(schema, names, child),
        };
        result.set_child(element.clone(), below);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;
    use serde_json::json;

    fn service() -> Schema {
        Schema::of(resources::services())
    }

    fn fields(value: Value) -> FieldSet {
        FieldSet::from_fields_v1(&value).unwrap()
    }

    #[test]
    fn an_apply_configuration_owns_its_leaves_and_list_items() {
        let config = json!({"metadata": {"name": "api", "labels": {"bluegreen.dev/app": "api"}},
            "spec": {"selector": {"app": "api", "color": "blue"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
        assert_eq!(
            field_set(service(), &config),
            fields(
                json!({"f:metadata": {"f:name": {}, "f:labels": {"f:bluegreen.dev/app": {}}},
                "f:spec": {"f:selector": {}, "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {
                    ".": {}, "f:name": {}, "f:port": {}, "f:targetPort": {}}}}})
            )
        );
    }

    #[test]
    fn a_create_adds_the_maps_and_lists_a_zero_object_lacks() {
        let created = json!({"metadata": {"creationTimestamp": null, "labels": {"app": "api"}},
            "spec": {"type": "ClusterIP", "ports": [{"port": 80, "protocol": "TCP"}]},
            "status": {"loadBalancer": {}}});
        let comparison = compare(service(), &service().empty_object(), &created);
        assert_eq!(
            comparison.added,
            fields(json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:type": {}, "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                    ".": {}, "f:port": {}, "f:protocol": {}}}}}))
        );
        assert!(comparison.modified.is_empty() && comparison.removed.is_empty());
    }

    #[test]
    fn merging_keeps_live_items_and_replaces_atomic_maps() {
        let live = json!({"spec": {"selector": {"app": "api", "color": "blue", "x": "y"},
            "ports": [{"port": 80, "protocol": "TCP", "name": "http"},
                      {"port": 443, "protocol": "TCP", "name": "https"}]}});
        let config = json!({"spec": {"selector": {"app": "api", "color": "green"},
            "ports": [{"port": 8443, "name": "alt"}, {"port": 80, "name": "web"}]}});
        let merged = merge(service(), &live, &config).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"selector": {"app": "api", "color": "green"},
                "ports": [{"port": 8443, "name": "alt"},
                          {"port": 80, "protocol": "TCP", "name": "web"},
                          {"port": 443, "protocol": "TCP", "name": "https"}]}})
        );
        let duplicated = json!({"spec": {"ports": [{"port": 80}, {"port": 80}]}});
        assert_eq!(
            merge(service(), &live, &duplicated).unwrap_err(),
            ".spec.ports: duplicate entries for key [port=80,protocol=\"TCP\"]"
        );
    }

    #[test]
    fn removing_an_annotation_leaves_the_others() {
        let object =
            json!({"metadata": {"annotations": {"a": "1", "b": "2"}}, "spec": {"type": "x"}});
        let gone = fields(json!({"f:metadata": {"f:annotations": {"f:b": {}}}}));
        assert_eq!(
            remove(service(), &object, &gone),
            json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"type": "x"}})
        );
        let named = with_named_fields(service(), &gone);
        assert_eq!(
            named,
            fields(json!({"f:metadata": {".": {}, "f:annotations": {".": {}, "f:b": {}}}}))
        );
    }
}
