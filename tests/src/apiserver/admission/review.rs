//! The AdmissionReview v1 sent to webhooks (fields in kube-apiserver's order) and the parsing
//! of their answers.

use serde::Serialize;
use serde_json::Value;

use super::Attributes;
use crate::apiserver::auth::UserInfo;
use crate::apiserver::golang;

#[derive(Serialize)]
struct GroupVersionKind<'a> {
    group: &'a str,
    version: &'a str,
    kind: &'a str,
}

#[derive(Serialize)]
struct GroupVersionResource<'a> {
    group: &'a str,
    version: &'a str,
    resource: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    uid: &'a str,
    kind: GroupVersionKind<'a>,
    resource: GroupVersionResource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_resource: Option<&'a str>,
    request_kind: GroupVersionKind<'a>,
    request_resource: GroupVersionResource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_sub_resource: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    operation: &'a str,
    user_info: &'a UserInfo,
    object: Option<&'a Value>,
    old_object: Option<&'a Value>,
    dry_run: bool,
    options: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Review<'a> {
    kind: &'static str,
    api_version: &'static str,
    request: Request<'a>,
}

fn request<'a>(uid: &'a str, attributes: &'a Attributes<'_>) -> Request<'a> {
    let (group, version, kind) = attributes.kind;
    let resource = attributes.resource;
    let gvk = || GroupVersionKind {
        group,
        version,
        kind,
    };
    let gvr = || GroupVersionResource {
        group: resource.group,
        version: resource.version,
        resource: resource.plural,
    };
    Request {
        uid,
        kind: gvk(),
        resource: gvr(),
        sub_resource: attributes.subresource,
        request_kind: gvk(),
        request_resource: gvr(),
        request_sub_resource: attributes.subresource,
        name: attributes.name,
        namespace: attributes.namespace,
        operation: attributes.operation.as_str(),
        user_info: attributes.user,
        object: attributes.object,
        old_object: attributes.old_object,
        dry_run: attributes.dry_run,
        options: attributes.options,
    }
}

pub fn request_body(uid: &str, attributes: &Attributes<'_>) -> Vec<u8> {
    let review = Review {
        kind: "AdmissionReview",
        api_version: "admission.k8s.io/v1",
        request: request(uid, attributes),
    };
    // Serializing plain data into a Vec cannot fail.
    serde_json::to_vec(&review).unwrap_or_default()
}

/// The `request` variable of CEL expressions (matchConditions): the AdmissionRequest kube-apiserver
/// builds for them, with an empty uid and null objects (those are the `object` and `oldObject`
/// variables).
pub fn cel_request(attributes: &Attributes<'_>) -> Value {
    let request = Request {
        object: None,
        old_object: None,
        ..request("", attributes)
    };
    // Serializing plain data into a Value cannot fail.
    serde_json::to_value(request).unwrap_or_default()
}

/// The parts of an AdmissionResponse kube-apiserver acts on.
pub struct Answer {
    pub allowed: bool,
    pub code: Option<u16>,
    pub message: Option<String>,
    pub reason: Option<String>,
    pub warnings: Vec<String>,
    /// The decoded `patch`, when not empty (mutating webhooks only).
    pub patch: Option<Vec<u8>>,
    pub patch_type: Option<String>,
}

/// Why a webhook's response is unusable, in kube-apiserver's two kinds of failure.
pub enum ResponseError {
    /// The body does not decode (`failed to call webhook: ...`).
    Undecodable(String),
    /// It decodes but is no valid answer (`received invalid webhook response: ...`).
    Invalid(String),
}

/// Decodes a webhook's response (`patch` is base64, as Go decodes `[]byte`), then checks it as
/// kube-apiserver's VerifyAdmissionResponse does, in its order.
pub fn parse_response(
    body: &[u8],
    expected_uid: &str,
    mutating: bool,
) -> Result<Answer, ResponseError> {
    if let Some(error) = golang::json_syntax_error(body) {
        return Err(ResponseError::Undecodable(format!(
            "couldn't get version/kind; json parse error: {error}"
        )));
    }
    let review: Value =
        serde_json::from_slice(body).map_err(|err| ResponseError::Undecodable(err.to_string()))?;
    let response = review.get("response").filter(|r| r.is_object());
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
    let patch = match response.and_then(|r| r.get("patch")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(encoded)) => {
            golang::decode_base64(encoded.as_bytes()).map_err(|at| {
                ResponseError::Undecodable(format!("illegal base64 data at input byte {at}"))
            })?
        }
        Some(other) => {
            return Err(ResponseError::Undecodable(format!(
                "json: cannot unmarshal {} into Go struct field AdmissionResponse.response.patch of type []uint8",
                golang::json_kind(other)
            )));
        }
    };

    let invalid = |message: String| Err(ResponseError::Invalid(message));
    let Some(response) = response else {
        return invalid("webhook response was absent".to_string());
    };
    let uid = text(response.get("uid")).unwrap_or_default();
    if uid != expected_uid {
        return invalid(format!(
            "expected response.uid=\"{expected_uid}\", got \"{uid}\""
        ));
    }
    let api_version = text(review.get("apiVersion")).unwrap_or_default();
    let kind = text(review.get("kind")).unwrap_or_default();
    if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
        // Go prints a group version without group as `/<version>`.
        let group_version = if api_version.contains('/') {
            api_version
        } else {
            format!("/{api_version}")
        };
        return invalid(format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {group_version}, Kind={kind}"
        ));
    }
    let patch_type = text(response.get("patchType"));
    match (mutating, patch.is_empty(), patch_type.as_deref()) {
        (true, false, None) => {
            return invalid("webhook returned response.patch but not response.patchType".into());
        }
        (true, true, Some(_)) => {
            return invalid("webhook returned response.patchType but not response.patch".into());
        }
        (true, false, Some("")) => {
            return invalid("webhook returned invalid response.patchType of \"\"".into());
        }
        (false, false, _) => {
            return invalid("validating webhook may not return response.patch".into());
        }
        (false, true, Some(_)) => {
            return invalid("validating webhook may not return response.patchType".into());
        }
        _ => {}
    }

    let status = response.get("status");
    Ok(Answer {
        allowed: response
            .get("allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        code: status
            .and_then(|s| s.get("code"))
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok()),
        message: text(status.and_then(|s| s.get("message"))),
        reason: text(status.and_then(|s| s.get("reason"))),
        warnings: response
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect(),
        patch: Some(patch).filter(|patch| !patch.is_empty()),
        patch_type,
    })
}
