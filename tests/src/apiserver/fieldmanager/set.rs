//! Field sets: the fields of an object one manager owns, as structured-merge-diff keeps them
//! (paths of field names, associative-list keys and set values), and their `FieldsV1` encoding.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// A scalar naming a list item (a key field's value, or a set's item), ordered like
/// structured-merge-diff's `value.Compare`: by type first, numbers by value.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub Value);

impl Eq for Scalar {}

impl Ord for Scalar {
    fn cmp(&self, other: &Self) -> Ordering {
        fn rank(value: &Value) -> u8 {
            match value {
                Value::Null => 0,
                Value::Bool(_) => 1,
                Value::Number(_) => 2,
                Value::String(_) => 3,
                Value::Array(_) => 4,
                Value::Object(_) => 5,
            }
        }
        match (&self.0, &other.0) {
            (Value::Number(a), Value::Number(b)) => {
                let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                a.total_cmp(&b)
            }
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (a, b) => rank(a)
                .cmp(&rank(b))
                .then_with(|| a.to_string().cmp(&b.to_string())),
        }
    }
}

impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Scalar {
    /// structured-merge-diff's `value.ToString`: strings quoted, other scalars as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One step of a path. The variant order is structured-merge-diff's: fields, then keys, then values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathElement {
    Field(String),
    /// An item of an associative list, by its key fields sorted by name.
    Key(Vec<(String, Scalar)>),
    /// An item of a set.
    Value(Scalar),
}

impl PathElement {
    /// The `FieldsV1` key: `f:name`, `k:{"port":80,"protocol":"TCP"}`, `v:"x"`.
    fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let object: Map<String, Value> = fields
                    .iter()
                    .map(|(name, value)| (name.clone(), value.0.clone()))
                    .collect();
                format!("k:{}", Value::Object(object))
            }
            PathElement::Value(value) => format!("v:{}", value.0),
        }
    }

    fn decode(text: &str) -> Result<Self, String> {
        let invalid = || format!("invalid FieldsV1 key {text:?}");
        match text.split_at_checked(2).ok_or_else(invalid)? {
            ("f:", name) => Ok(PathElement::Field(name.to_string())),
            ("k:", json) => {
                let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(json) else {
                    return Err(invalid());
                };
                let mut fields: Vec<(String, Scalar)> = fields
                    .into_iter()
                    .map(|(name, value)| (name, Scalar(value)))
                    .collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(PathElement::Key(fields))
            }
            ("v:", json) => serde_json::from_str(json)
                .map(|value| PathElement::Value(Scalar(value)))
                .map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for PathElement {
    /// As in conflict messages: `.selector`, `[port=80,protocol="TCP"]`, `[="x"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let pairs: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                write!(f, "[{}]", pairs.join(","))
            }
            PathElement::Value(value) => write!(f, "[={value}]"),
        }
    }
}

/// A path as conflict messages print it: `.spec.selector`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(PathElement::to_string).collect()
}

/// A set of paths, as a tree: the paths ending at a node are its members; longer paths go on in
/// its children. No child is ever empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    #[cfg(test)]
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a [PathElement]>) -> Self {
        let mut set = FieldSet::default();
        for path in paths {
            set.insert(path);
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The paths below `element`, without it (structured-merge-diff's `WithPrefix`).
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    pub fn from_members(members: impl IntoIterator<Item = PathElement>) -> Self {
        FieldSet {
            members: members.into_iter().collect(),
            children: BTreeMap::new(),
        }
    }

    /// Replaces the paths below `element` (none when `child` is empty).
    pub fn set_child(&mut self, element: PathElement, child: FieldSet) {
        if child.is_empty() {
            self.children.remove(&element);
        } else {
            self.children.insert(element, child);
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut union = self.clone();
        union.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            let merged = match union.children.get(element) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            union.children.insert(element.clone(), merged);
        }
        union
    }

    /// The paths of `self` that are not paths of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        self.combine(other, |mine, theirs| match theirs {
            Some(theirs) => Some(mine.difference(theirs)),
            None => Some(mine.clone()),
        })
        .keep_members(|element| !other.members.contains(element))
    }

    /// The paths in both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        self.combine(other, |mine, theirs| {
            theirs.map(|theirs| mine.intersection(theirs))
        })
        .keep_members(|element| other.members.contains(element))
    }

    /// The paths of `self` that neither are nor lie below a path of `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut result = self.combine(other, |mine, theirs| match theirs {
            Some(theirs) => Some(mine.recursive_difference(theirs)),
            None => Some(mine.clone()),
        });
        result
            .children
            .retain(|element, _| !other.members.contains(element));
        result.keep_members(|element| !other.members.contains(element))
    }

    fn combine(
        &self,
        other: &FieldSet,
        child: impl Fn(&FieldSet, Option<&FieldSet>) -> Option<FieldSet>,
    ) -> FieldSet {
        let children = self
            .children
            .iter()
            .filter_map(|(element, mine)| {
                let combined = child(mine, other.children.get(element))?;
                (!combined.is_empty()).then(|| (element.clone(), combined))
            })
            .collect();
        FieldSet {
            members: self.members.clone(),
            children,
        }
    }

    fn keep_members(mut self, keep: impl Fn(&PathElement) -> bool) -> FieldSet {
        self.members.retain(keep);
        self
    }

    /// Every path, members of a node before its children, each in order (structured-merge-diff's
    /// `Iterate`, the order of conflicts).
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut paths = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut paths);
        paths
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for member in &self.members {
            prefix.push(member.clone());
            out.push(prefix.clone());
            prefix.pop();
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `fieldsV1` object: `{}` for a member, `"."` for a member that also has children.
    pub fn to_fields_v1(&self) -> Value {
        let mut object = Map::new();
        for member in &self.members {
            object.insert(member.encode(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            let mut encoded = child.to_fields_v1();
            if self.members.contains(element)
                && let Value::Object(map) = &mut encoded
            {
                map.insert(".".to_string(), Value::Object(Map::new()));
            }
            object.insert(element.encode(), encoded);
        }
        Value::Object(object)
    }

    pub fn from_fields_v1(fields: &Value) -> Result<FieldSet, String> {
        let Value::Object(object) = fields else {
            return Err("FieldsV1 must be a JSON object".to_string());
        };
        let mut set = FieldSet::default();
        for (key, value) in object.iter().filter(|(key, _)| *key != ".") {
            let element = PathElement::decode(key)?;
            let Value::Object(inner) = value else {
                return Err(format!("FieldsV1 value of {key:?} must be an object"));
            };
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(element.clone());
            }
            let child = FieldSet::from_fields_v1(value)?;
            if !child.is_empty() {
                set.children.insert(element, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn captured() -> Value {
        json!({"f:metadata": {"f:labels": {".": {}, "f:bluegreen.dev/app": {}}},
               "f:spec": {"f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                   ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
                   "f:selector": {}, "f:type": {}}})
    }

    #[test]
    fn fields_v1_round_trips() {
        let set = FieldSet::from_fields_v1(&captured()).unwrap();
        assert_eq!(set.to_fields_v1(), captured());
        let paths: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(
            paths,
            [
                ".metadata.labels",
                ".metadata.labels.bluegreen.dev/app",
                ".spec.ports",
                ".spec.selector",
                ".spec.type",
                ".spec.ports[port=80,protocol=\"TCP\"]",
                ".spec.ports[port=80,protocol=\"TCP\"].name",
                ".spec.ports[port=80,protocol=\"TCP\"].port",
                ".spec.ports[port=80,protocol=\"TCP\"].protocol",
                ".spec.ports[port=80,protocol=\"TCP\"].targetPort",
            ]
        );
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
    }

    #[test]
    fn set_operations_work_on_whole_paths() {
        let field = |name: &str| PathElement::Field(name.to_string());
        let spec = |leaf: &str| vec![field("spec"), field(leaf)];
        let a = FieldSet::from_paths([spec("selector").as_slice(), spec("type").as_slice()]);
        let b = FieldSet::from_paths([spec("selector").as_slice()]);
        assert_eq!(
            a.difference(&b),
            FieldSet::from_paths([spec("type").as_slice()])
        );
        assert_eq!(a.intersection(&b), b);
        assert_eq!(b.union(&a), a);
        let whole_spec = FieldSet::from_paths([vec![field("spec")].as_slice()]);
        assert!(a.recursive_difference(&whole_spec).is_empty());
        assert_eq!(a.difference(&whole_spec), a);
    }
}
