//! Reading objects from manifest text: multi-document YAML or JSON, `List` kinds
//! expanded, kinds the rules do not read skipped. Errors say which document, where,
//! and what is wrong, never panic.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::snapshot::Object;

/// A manifest that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// The text is not YAML (or JSON).
    #[error("{source_name}:{line}: document {index} is not valid YAML: {reason}")]
    Syntax {
        /// File name or other origin.
        source_name: String,
        /// 1-based index among the file's documents (empty ones are not counted).
        index: usize,
        /// 1-based line in the file where the parser stopped.
        line: usize,
        /// The parser's reason.
        reason: String,
    },
    /// A document is not a Kubernetes object.
    #[error(
        "{source_name}:{line}: document {index} has no {missing}; every Kubernetes object needs apiVersion and kind"
    )]
    NotAnObject {
        /// File name.
        source_name: String,
        /// 1-based document index.
        index: usize,
        /// 1-based line in the file where the object starts (after comments).
        line: usize,
        /// `apiVersion` or `kind`.
        missing: &'static str,
    },
    /// A known kind whose fields have the wrong shape.
    #[error(
        "{source_name}:{line}: document {index} ({object}): {problem}; fix the field to match the {schema} schema"
    )]
    Invalid {
        /// File name.
        source_name: String,
        /// 1-based document index.
        index: usize,
        /// 1-based line in the file where the object starts (after comments).
        line: usize,
        /// `Deployment api-blue`, or `Deployment (unnamed)`.
        object: String,
        /// `apps/v1 Deployment`.
        schema: String,
        /// The offending field's path and what is wrong with it.
        problem: String,
    },
}

/// Objects read from one manifest, with a count of the documents skipped because
/// no rule reads their kind (ConfigMaps, Secrets, Namespaces...).
#[derive(Debug, Default)]
pub struct Parsed {
    /// The objects rules understand.
    pub objects: Vec<Object>,
    /// `kind name` of every other object.
    pub skipped: Vec<String>,
}

/// Parses every document of `text`; `source_name` names it in errors.
pub fn parse(text: &str, source_name: &str) -> Result<Parsed, ManifestError> {
    let mut parsed = Parsed::default();
    for (index, document) in crate::yaml::documents::<Spanned<Value>>(&mut text.as_bytes())
        .enumerate()
        .map(|(i, document)| (i + 1, document))
    {
        let document = document.map_err(|err| ManifestError::Syntax {
            source_name: source_name.to_string(),
            index,
            line: err.location().map_or(1, |at| at.line() as usize),
            reason: crate::yaml::reason(&err),
        })?;
        let at = Position {
            source_name,
            index,
            line: document.referenced.line() as usize,
        };
        add_value(document.value, &at, &mut parsed)?;
    }
    Ok(parsed)
}

struct Position<'a> {
    source_name: &'a str,
    index: usize,
    line: usize,
}

fn field<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn add_value(value: Value, at: &Position<'_>, parsed: &mut Parsed) -> Result<(), ManifestError> {
    let missing = |missing| ManifestError::NotAnObject {
        source_name: at.source_name.to_string(),
        index: at.index,
        line: at.line,
        missing,
    };
    let api_version = field(&value, "apiVersion")
        .ok_or_else(|| missing("apiVersion"))?
        .to_string();
    let kind = field(&value, "kind")
        .ok_or_else(|| missing("kind"))?
        .to_string();
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    let object = match (group, kind.as_str()) {
        (_, list) if list.ends_with("List") && value.get("items").is_some() => {
            let items = value
                .get("items")
                .and_then(|i| i.as_array())
                .cloned()
                .unwrap_or_default();
            for item in items {
                add_value(item, at, parsed)?;
            }
            return Ok(());
        }
        ("apps", "Deployment") => Object::Deployment(typed(value, at, &api_version, &kind)?),
        ("", "Service") => Object::Service(typed(value, at, &api_version, &kind)?),
        ("gateway.networking.k8s.io", "HTTPRoute") => {
            Object::HttpRoute(typed(value, at, &api_version, &kind)?)
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            Object::NetworkPolicy(typed(value, at, &api_version, &kind)?)
        }
        ("autoscaling", "HorizontalPodAutoscaler") if api_version == "autoscaling/v2" => {
            Object::Hpa(typed(value, at, &api_version, &kind)?)
        }
        ("bluegreen.dev", "BlueGreenPolicy") => {
            Object::Policy(typed(value, at, &api_version, &kind)?)
        }
        _ => {
            let name = value
                .get("metadata")
                .and_then(|m| field(m, "name"))
                .unwrap_or("(unnamed)");
            parsed.skipped.push(format!("{kind} {name}"));
            return Ok(());
        }
    };
    parsed.objects.push(object);
    Ok(())
}

fn typed<T: DeserializeOwned>(
    value: Value,
    at: &Position<'_>,
    api_version: &str,
    kind: &str,
) -> Result<T, ManifestError> {
    let name = value
        .get("metadata")
        .and_then(|m| field(m, "name"))
        .unwrap_or("(unnamed)")
        .to_string();
    serde_path_to_error::deserialize(value).map_err(|err| ManifestError::Invalid {
        source_name: at.source_name.to_string(),
        index: at.index,
        line: at.line,
        object: format!("{kind} {name}"),
        schema: format!("{api_version} {kind}"),
        problem: format!("{}: {}", err.path(), err.inner()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_DOCS: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api, color: blue}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: api-blue}
  spec:
    selector: {matchLabels: {app: api}}
    template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api, image: nginx}]}}
";

    #[test]
    fn reads_documents_lists_and_skips_other_kinds() {
        let parsed = parse(TWO_DOCS, "app.yaml").unwrap();
        assert_eq!(parsed.objects.len(), 2);
        assert!(matches!(parsed.objects[0], Object::Service(_)));
        assert!(matches!(parsed.objects[1], Object::Deployment(_)));
        assert_eq!(parsed.skipped, ["ConfigMap settings"]);
    }

    #[test]
    fn reads_json() {
        let parsed = parse(
            r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}}"#,
            "svc.json",
        )
        .unwrap();
        assert_eq!(parsed.objects.len(), 1);
    }

    #[test]
    fn a_syntax_error_names_file_document_and_line() {
        let text = "apiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: a: b\n";
        let err = parse(text, "bad.yaml").unwrap_err().to_string();
        assert_eq!(
            err,
            "bad.yaml:5: document 2 is not valid YAML: mapping values are not allowed in this context"
        );
    }

    fn config_map(name: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
    }

    /// Document markers as kubectl and Helm write them: only real documents count.
    #[rstest::rstest]
    #[case::separated(format!("{}---\n{}", config_map("a"), config_map("b")))]
    #[case::leading_marker(format!("---\n{}---\n{}", config_map("a"), config_map("b")))]
    #[case::trailing_marker(format!("{}---\n{}---\n", config_map("a"), config_map("b")))]
    #[case::empty_document(format!("{}---\n---\n\n---\n{}", config_map("a"), config_map("b")))]
    #[case::comments_only(format!("{}---\n# nothing here\n  # still nothing\n---\n{}", config_map("a"), config_map("b")))]
    #[case::null_document(format!("{}---\n~\n---\nnull\n---\n{}", config_map("a"), config_map("b")))]
    #[case::end_markers(format!("{}...\n---\n{}...\n", config_map("a"), config_map("b")))]
    #[case::helm_sources(format!("---\n# Source: app/templates/a.yaml\n{}---\n# Source: app/templates/b.yaml\n{}", config_map("a"), config_map("b")))]
    #[case::content_on_the_marker_line(format!("--- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: a}}}}\n--- # b\n{}", config_map("b")))]
    #[case::json_documents(r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
---
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}"#.to_string())]
    fn only_real_documents_are_read(#[case] text: String) {
        let parsed = parse(&text, "app.yaml").unwrap();
        assert_eq!(parsed.skipped, ["ConfigMap a", "ConfigMap b"]);
    }

    #[test]
    fn errors_count_real_documents_and_give_the_line_in_the_file() {
        let text = format!(
            "{}---\n---\n# Source: app/templates/svc.yaml\napiVersion: v1\nmetadata: {{name: api}}\n",
            config_map("a")
        );
        assert_eq!(
            parse(&text, "helm.yaml").unwrap_err().to_string(),
            "helm.yaml:8: document 2 has no kind; every Kubernetes object needs apiVersion and kind"
        );
        let text = format!("{}---\n# empty\n---\nkind: [\n", config_map("a"));
        assert_eq!(
            parse(&text, "helm.yaml").unwrap_err().to_string(),
            "helm.yaml:8: document 2 is not valid YAML: unclosed bracket '['"
        );
    }

    /// The labels of the one Service `text` holds, as the API's JSON shows them.
    fn service_labels(text: &str) -> Value {
        match parse(text, "svc.yaml").unwrap().objects.as_slice() {
            [Object::Service(service)] => serde_json::to_value(&service.metadata.labels).unwrap(),
            other => panic!("expected one Service, got {other:?}"),
        }
    }

    /// YAML 1.2, as the API's JSON sees it: `on`, `yes`, `n`... are strings.
    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let labels = service_labels(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  labels: {a: on, b: yes, c: n, d: Off, e: y}\n",
        );
        assert_eq!(
            labels,
            serde_json::json!({"a": "on", "b": "yes", "c": "n", "d": "Off", "e": "y"})
        );
        let err = parse(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  labels: {public: true}\n",
            "svc.yaml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "svc.yaml:1: document 1 (Service api): metadata.labels.public: invalid type: boolean `true`, expected a string; fix the field to match the v1 Service schema"
        );
    }

    #[test]
    fn merge_keys_are_expanded() {
        let labels = service_labels(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  annotations: &common {team: shop}\n  labels:\n    <<: *common\n    app: api\n",
        );
        assert_eq!(labels, serde_json::json!({"app": "api", "team": "shop"}));
    }

    #[test]
    fn a_wrong_field_names_the_object_and_path() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api-blue}\nspec:\n  replicas: three\n  selector: {}\n  template: {}\n";
        let err = parse(text, "d.yaml").unwrap_err().to_string();
        assert!(err.starts_with("d.yaml:1: document 1 (Deployment api-blue): spec.replicas: invalid type: string \"three\", expected i32"), "{err}");
    }

    #[test]
    fn a_document_without_kind_is_refused() {
        let err = parse("apiVersion: v1\nmetadata: {}\n", "x.yaml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "x.yaml:1: document 1 has no kind; every Kubernetes object needs apiVersion and kind"
        );
    }

    #[test]
    fn arbitrary_text_never_panics() {
        for text in [
            "",
            "---",
            "- a\n- b",
            "42",
            "{",
            "kind: 5\napiVersion: 7",
            "\u{0}",
            "items: x\nkind: List\napiVersion: v1",
        ] {
            let _ = parse(text, "fuzz");
        }
    }
}
