//! PATCH bodies: the four patch types kube-apiserver accepts, told apart by Content-Type.

mod strategic;

use serde_json::Value;

use super::status::{ApiError, ApiResult};
use super::{golang, jsonpatch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902, as evanphx/json-patch v4 implements it (`jsonpatch.rs`).
    Json,
    /// RFC 7386.
    Merge,
    Strategic,
    /// Server-side apply: here create-or-merge, without field ownership.
    Apply,
}

impl PatchType {
    /// The patch type of a Content-Type header; anything else is `415 Unsupported Media Type`.
    pub fn from_content_type(content_type: Option<&str>) -> ApiResult<Self> {
        let media_type = content_type
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        match media_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
            _ => Err(ApiError::unsupported_media_type()),
        }
    }
}

/// Decodes a JSON body the way kube-apiserver reports it: `error decoding patch: ...`, in Go's
/// encoding/json wording, which clients and the captures show.
fn decode_json(body: &[u8]) -> ApiResult<Value> {
    let decode_error =
        |detail: String| ApiError::bad_request(format!("error decoding patch: {detail}"));
    if let Some(detail) = golang::json_syntax_error(body) {
        return Err(decode_error(detail));
    }
    serde_json::from_slice(body).map_err(|err| decode_error(err.to_string()))
}

/// Decodes an apply configuration (YAML, of which JSON is a subset).
pub fn decode_apply(body: &[u8]) -> ApiResult<Value> {
    serde_yaml::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("error decoding YAML: {err}")))
}

/// Applies a patch to `current`. `custom` resources (CRDs) refuse strategic merge patches.
pub fn apply(
    patch_type: PatchType,
    current: &Value,
    body: &[u8],
    custom: bool,
) -> ApiResult<Value> {
    match patch_type {
        PatchType::Json => {
            let operations = jsonpatch::decode(body)
                .map_err(|err| ApiError::bad_request(format!("error decoding patch: {err}")))?;
            // kube-apiserver answers with a generic 422; evanphx's message is not shown.
            jsonpatch::apply(&operations, current).map_err(|_| ApiError::patch_not_applicable())
        }
        PatchType::Merge => {
            let patch = decode_json(body)?;
            let mut patched = current.clone();
            json_patch::merge(&mut patched, &patch);
            Ok(patched)
        }
        PatchType::Strategic if custom => Err(ApiError::strategic_patch_on_custom_resource()),
        PatchType::Strategic => {
            strategic::apply(current, &decode_json(body)?).map_err(ApiError::bad_request)
        }
        PatchType::Apply => merge_applied(current, &decode_apply(body)?, custom),
    }
}

/// Merges an apply configuration into the live object: strategic for built-in types, JSON
/// merge for custom resources. Fields the applier dropped are not removed (no field ownership).
pub fn merge_applied(current: &Value, applied: &Value, custom: bool) -> ApiResult<Value> {
    if custom {
        let mut merged = current.clone();
        json_patch::merge(&mut merged, applied);
        Ok(merged)
    } else {
        strategic::apply(current, applied).map_err(ApiError::bad_request)
    }
}
