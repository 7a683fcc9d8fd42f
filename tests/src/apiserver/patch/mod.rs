//! PATCH bodies: the four patch types kube-apiserver accepts, told apart by Content-Type. Three
//! are merged here; apply configurations go to the field manager (`fieldmanager`), which owns
//! what they set.

mod strategic;

use serde_json::Value;

use super::schema::Schema;
use super::status::{ApiError, ApiResult};
use super::{golang, jsonpatch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Patch(PatchFormat),
    /// Server-side apply.
    Apply,
}

/// A patch merged into the object by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFormat {
    /// RFC 6902, as evanphx/json-patch v4 implements it (`jsonpatch.rs`).
    Json,
    /// RFC 7386.
    Merge,
    Strategic,
}

impl PatchType {
    /// The patch type of a Content-Type header; anything else is `415 Unsupported Media Type`.
    pub fn from_content_type(content_type: Option<&str>) -> ApiResult<Self> {
        let media_type = content_type
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        match media_type {
            "application/json-patch+json" => Ok(PatchType::Patch(PatchFormat::Json)),
            "application/merge-patch+json" => Ok(PatchType::Patch(PatchFormat::Merge)),
            "application/strategic-merge-patch+json" => {
                Ok(PatchType::Patch(PatchFormat::Strategic))
            }
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
    policy::yaml::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("error decoding YAML: {err}")))
}

/// Applies a patch to `current`, an object of `schema`.
pub fn apply(
    format: PatchFormat,
    current: &Value,
    body: &[u8],
    schema: Schema,
) -> ApiResult<Value> {
    match format {
        PatchFormat::Json => {
            let operations = jsonpatch::decode(body)
                .map_err(|err| ApiError::bad_request(format!("error decoding patch: {err}")))?;
            // kube-apiserver answers with a generic 422; evanphx's message is not shown.
            jsonpatch::apply(&operations, current).map_err(|_| ApiError::patch_not_applicable())
        }
        PatchFormat::Merge => {
            let patch = decode_json(body)?;
            let mut patched = current.clone();
            json_patch::merge(&mut patched, &patch);
            Ok(patched)
        }
        PatchFormat::Strategic => {
            strategic::apply(schema, current, &decode_json(body)?).map_err(ApiError::bad_request)
        }
    }
}
