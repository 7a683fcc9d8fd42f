//! Label selectors (the `labelSelector` query string and the `LabelSelector` objects of
//! webhooks) and the field selectors kube-apiserver supports on every resource.

use std::collections::BTreeMap;

use serde_json::Value;

use super::object;
use super::status::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.operator {
            Operator::In(values) => value.is_some_and(|v| values.contains(v)),
            Operator::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A conjunction of requirements; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Parses the query-string syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(text: &str) -> ApiResult<Self> {
        let requirements = split_top_level(text)
            .into_iter()
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(parse_requirement)
            .collect::<Result<_, _>>()
            .map_err(|detail| {
                ApiError::bad_request(format!(
                    "unable to parse requirement: {detail} in label selector \"{text}\""
                ))
            })?;
        Ok(LabelSelector { requirements })
    }

    /// Reads a `metav1.LabelSelector` (`matchLabels` and `matchExpressions`); `null` matches all.
    pub fn from_object(selector: Option<&Value>) -> Result<Self, String> {
        let Some(selector) = selector.filter(|s| !s.is_null()) else {
            return Ok(LabelSelector::default());
        };
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in labels {
                let value = value.as_str().ok_or("matchLabels values must be strings")?;
                requirements.push(Requirement {
                    key: key.clone(),
                    operator: Operator::In(vec![value.to_string()]),
                });
            }
        }
        for expression in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expression
                .get("key")
                .and_then(Value::as_str)
                .ok_or("matchExpressions need a key")?;
            let values: Vec<String> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let operator = match expression.get("operator").and_then(Value::as_str) {
                Some("In") => Operator::In(values),
                Some("NotIn") => Operator::NotIn(values),
                Some("Exists") => Operator::Exists,
                Some("DoesNotExist") => Operator::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid selector operator")),
            };
            requirements.push(Requirement {
                key: key.to_string(),
                operator,
            });
        }
        Ok(LabelSelector { requirements })
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    let requirement = |key: &str, operator| Requirement {
        key: key.trim().to_string(),
        operator,
    };
    if let Some(key) = term.strip_prefix('!') {
        return Ok(requirement(key, Operator::DoesNotExist));
    }
    for (separator, negated) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((key, value)) = term.split_once(separator) {
            let values = vec![value.trim().to_string()];
            let operator = if negated {
                Operator::NotIn(values)
            } else {
                Operator::In(values)
            };
            return Ok(requirement(key, operator));
        }
    }
    for (word, negated) in [(" notin ", true), (" in ", false)] {
        if let Some((key, rest)) = term.split_once(word) {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("found '{rest}', expected: '('"))?;
            let values = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            let operator = if negated {
                Operator::NotIn(values)
            } else {
                Operator::In(values)
            };
            return Ok(requirement(key, operator));
        }
    }
    if term.contains(char::is_whitespace) {
        return Err(format!("found '{term}', expected: identifier"));
    }
    Ok(requirement(term, Operator::Exists))
}

/// `metadata.name` and `metadata.namespace` with `=`, `==` or `!=`, comma-separated.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector {
    terms: Vec<(FieldPath, bool, String)>,
}

#[derive(Debug, Clone, Copy)]
enum FieldPath {
    Name,
    Namespace,
}

impl FieldSelector {
    pub fn parse(text: &str) -> ApiResult<Self> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                )));
            };
            let path = match field.trim() {
                "metadata.name" => FieldPath::Name,
                "metadata.namespace" => FieldPath::Namespace,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "\"{other}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    )));
                }
            };
            terms.push((path, equal, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn matches(&self, candidate: &Value) -> bool {
        self.terms.iter().all(|(path, equal, value)| {
            let actual = match path {
                FieldPath::Name => object::name(candidate),
                FieldPath::Namespace => object::namespace(candidate),
            }
            .unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

/// Both selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl ObjectFilter {
    pub fn matches(&self, candidate: &Value) -> bool {
        self.labels.matches(&object::labels(candidate)) && self.fields.matches(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_syntax_covers_equality_and_sets() {
        let selector =
            LabelSelector::parse("app=api,color in (blue, green),tier notin (db),!legacy,owner")
                .unwrap();
        assert!(selector.matches(&labels(&[
            ("app", "api"),
            ("color", "green"),
            ("owner", "x")
        ])));
        assert!(!selector.matches(&labels(&[("app", "api"), ("color", "red"), ("owner", "x")])));
        assert!(!selector.matches(&labels(&[
            ("app", "api"),
            ("color", "blue"),
            ("owner", "x"),
            ("legacy", "1")
        ])));
        assert!(
            LabelSelector::parse("app!=api")
                .unwrap()
                .matches(&labels(&[]))
        );
    }

    #[test]
    fn label_selector_objects_match_like_kubernetes() {
        let selector = LabelSelector::from_object(Some(&serde_json::json!({
            "matchExpressions": [{"key": "bluegreen.dev/app", "operator": "Exists"}]
        })))
        .unwrap();
        assert!(selector.matches(&labels(&[("bluegreen.dev/app", "api")])));
        assert!(!selector.matches(&labels(&[])));
        assert!(
            LabelSelector::from_object(Some(&serde_json::json!({})))
                .unwrap()
                .matches(&labels(&[]))
        );
    }
}
