//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), for
//! the kinds clients send that way here: Helm stores its releases in Secrets and deletes them
//! with DeleteOptions, both as protobuf. A body is the magic `k8s\0` then a `runtime.Unknown`
//! naming the kind and holding the object's message. Only the fields those clients set are
//! declared (field numbers from k8s.io/api and k8s.io/apimachinery's `generated.proto`); answers
//! go back as JSON, which client-go reads by the response's Content-Type.

use std::collections::BTreeMap;

use base64::Engine;
use prost::Message;
use serde_json::{Map, Value, json};

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// Whether a Content-Type names the protobuf encoding.
pub fn is_protobuf(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim() == MEDIA_TYPE)
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("provided object is not a protobuf message: missing the k8s magic prefix")]
    NoMagic,
    #[error("{0}")]
    Message(#[from] prost::DecodeError),
    /// A kind this server does not read as protobuf.
    #[error("no protobuf decoding of {0}")]
    Unsupported(String),
}

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    raw: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, tag = "1")]
    api_version: String,
    #[prost(string, tag = "2")]
    kind: String,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    generate_name: String,
    #[prost(string, tag = "3")]
    namespace: String,
    #[prost(string, tag = "5")]
    uid: String,
    #[prost(string, tag = "6")]
    resource_version: String,
    #[prost(btree_map = "string, string", tag = "11")]
    labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    annotations: BTreeMap<String, String>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, bytes", tag = "2")]
    data: BTreeMap<String, Vec<u8>>,
    #[prost(string, tag = "3")]
    r#type: String,
    #[prost(btree_map = "string, string", tag = "4")]
    string_data: BTreeMap<String, String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct DeleteOptions {
    #[prost(int64, optional, tag = "1")]
    grace_period_seconds: Option<i64>,
    #[prost(message, optional, tag = "2")]
    preconditions: Option<Preconditions>,
    #[prost(bool, optional, tag = "3")]
    orphan_dependents: Option<bool>,
    #[prost(string, optional, tag = "4")]
    propagation_policy: Option<String>,
    #[prost(string, repeated, tag = "5")]
    dry_run: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Preconditions {
    #[prost(string, optional, tag = "1")]
    uid: Option<String>,
    #[prost(string, optional, tag = "2")]
    resource_version: Option<String>,
}

/// The object of a protobuf body, as the JSON the client would have sent.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let message = body.strip_prefix(MAGIC).ok_or(DecodeError::NoMagic)?;
    let unknown = Unknown::decode(message)?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let mut object = match type_meta.kind.as_str() {
        "Secret" => secret(Secret::decode(unknown.raw.as_slice())?),
        "DeleteOptions" => delete_options(DeleteOptions::decode(unknown.raw.as_slice())?),
        other => return Err(DecodeError::Unsupported(other.to_string())),
    };
    object["apiVersion"] = json!(type_meta.api_version);
    object["kind"] = json!(type_meta.kind);
    Ok(object)
}

/// Inserts the non-empty fields (Go's JSON leaves out empty strings, maps and lists).
fn insert_non_empty(map: &mut Map<String, Value>, field: &str, value: Value) {
    let empty = match &value {
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if !empty {
        map.insert(field.to_string(), value);
    }
}

fn metadata(meta: ObjectMeta) -> Value {
    let mut map = Map::new();
    insert_non_empty(&mut map, "name", json!(meta.name));
    insert_non_empty(&mut map, "generateName", json!(meta.generate_name));
    insert_non_empty(&mut map, "namespace", json!(meta.namespace));
    insert_non_empty(&mut map, "uid", json!(meta.uid));
    insert_non_empty(&mut map, "resourceVersion", json!(meta.resource_version));
    insert_non_empty(&mut map, "labels", json!(meta.labels));
    insert_non_empty(&mut map, "annotations", json!(meta.annotations));
    insert_non_empty(&mut map, "finalizers", json!(meta.finalizers));
    Value::Object(map)
}

fn secret(secret: Secret) -> Value {
    let mut map = Map::new();
    map.insert(
        "metadata".into(),
        metadata(secret.metadata.unwrap_or_default()),
    );
    let data: Map<String, Value> = secret
        .data
        .into_iter()
        .map(|(key, bytes)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            (key, Value::String(encoded))
        })
        .collect();
    insert_non_empty(&mut map, "data", Value::Object(data));
    insert_non_empty(&mut map, "stringData", json!(secret.string_data));
    insert_non_empty(&mut map, "type", json!(secret.r#type));
    if let Some(immutable) = secret.immutable {
        map.insert("immutable".into(), json!(immutable));
    }
    Value::Object(map)
}

fn delete_options(options: DeleteOptions) -> Value {
    let mut map = Map::new();
    if let Some(seconds) = options.grace_period_seconds {
        map.insert("gracePeriodSeconds".into(), json!(seconds));
    }
    if let Some(preconditions) = options.preconditions {
        let mut inner = Map::new();
        insert_non_empty(&mut inner, "uid", json!(preconditions.uid));
        insert_non_empty(
            &mut inner,
            "resourceVersion",
            json!(preconditions.resource_version),
        );
        map.insert("preconditions".into(), Value::Object(inner));
    }
    if let Some(orphan) = options.orphan_dependents {
        map.insert("orphanDependents".into(), json!(orphan));
    }
    insert_non_empty(
        &mut map,
        "propagationPolicy",
        json!(options.propagation_policy),
    );
    insert_non_empty(&mut map, "dryRun", json!(options.dry_run));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: api_version.into(),
                kind: kind.into(),
            }),
            raw,
        };
        [MAGIC, unknown.encode_to_vec().as_slice()].concat()
    }

    #[test]
    fn a_secret_reads_as_the_json_a_client_would_send() {
        let secret = Secret {
            metadata: Some(ObjectMeta {
                name: "sh.helm.release.v1.app.v1".into(),
                labels: BTreeMap::from([("owner".to_string(), "helm".to_string())]),
                ..ObjectMeta::default()
            }),
            data: BTreeMap::from([("release".to_string(), b"H4sI".to_vec())]),
            r#type: "helm.sh/release.v1".into(),
            ..Secret::default()
        };
        let body = envelope("v1", "Secret", secret.encode_to_vec());
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "sh.helm.release.v1.app.v1", "labels": {"owner": "helm"}},
                "data": {"release": "SDRzSQ=="}, "type": "helm.sh/release.v1"})
        );
    }

    #[test]
    fn helms_captured_release_secret_decodes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/captures/ssa/4a-helm-install.json"
        );
        let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let post = capture["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == "POST")
            .unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(post["bodyBase64"].as_str().unwrap())
            .unwrap();
        let secret = decode(&body).unwrap();
        assert_eq!(
            secret["metadata"]["name"],
            "sh.helm.release.v1.bluegreen.v1"
        );
        assert_eq!(secret["metadata"]["labels"]["status"], "pending-install");
        assert_eq!(secret["type"], "helm.sh/release.v1");
        assert!(secret["data"]["release"].as_str().unwrap().len() > 100);
        assert!(secret["metadata"].get("namespace").is_none());
    }

    #[test]
    fn helms_empty_delete_options_and_bad_bodies() {
        let body = envelope("v1", "DeleteOptions", Vec::new());
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "DeleteOptions"})
        );
        assert!(matches!(
            decode(b"{\"kind\":\"Secret\"}"),
            Err(DecodeError::NoMagic)
        ));
        assert!(matches!(
            decode(&envelope("v1", "Service", Vec::new())),
            Err(DecodeError::Unsupported(kind)) if kind == "Service"
        ));
        assert!(matches!(
            decode(&[MAGIC, &[0x0a, 0xff]].concat()),
            Err(DecodeError::Message(_))
        ));
    }
}
