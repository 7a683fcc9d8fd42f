//! `meta/v1 Status` bodies, built exactly like kube-apiserver's (field order kind, apiVersion,
//! metadata, status, message, reason, details, code), and the error type every handler returns.

use axum::http::StatusCode;
use serde::Serialize;

use super::auth::ImpersonationRefused;
use super::resources::ResourceType;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: EmptyObject,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EmptyObject {}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causes: Option<Vec<StatusCause>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusCause {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Status {
    pub fn failure(code: u16, reason: Option<&str>, message: impl Into<String>) -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: EmptyObject {},
            status: "Failure",
            message: Some(message.into()),
            reason: reason.map(str::to_string),
            details: None,
            code: Some(code),
        }
    }

    /// The body of a successful DELETE of a resource that does not return the deleted object.
    pub fn deleted(resource: &ResourceType, name: &str, uid: Option<String>) -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: EmptyObject {},
            status: "Success",
            message: None,
            reason: None,
            details: Some(StatusDetails {
                uid,
                ..StatusDetails::for_resource(resource, Some(name))
            }),
            code: None,
        }
    }

    fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(details);
        self
    }
}

impl StatusDetails {
    /// `{name, group, kind: <plural>}`, `group` only for non-core resources.
    pub fn for_resource(resource: &ResourceType, name: Option<&str>) -> Self {
        StatusDetails {
            name: name.map(str::to_string),
            group: (!resource.group.is_empty()).then(|| resource.group.to_string()),
            kind: Some(resource.plural.to_string()),
            ..StatusDetails::default()
        }
    }
}

/// One field error of a 422 Invalid response.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub reason: &'static str,
    pub message: String,
}

impl FieldError {
    /// `Invalid value: <value>: <detail>`, kube-apiserver's `field.Invalid`.
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        FieldError {
            field: field.to_string(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {value}: {detail}"),
        }
    }

    /// `Required value[: <detail>]`, kube-apiserver's `field.Required`.
    pub fn required(field: &str, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        FieldError {
            field: field.to_string(),
            reason: "FieldValueRequired",
            message,
        }
    }
}

/// An error answered as a `Status` with its HTTP code (boxed: errors travel in every `Result`).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: Box<Status>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn http_status(&self) -> StatusCode {
        self.status
            .code
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn new(status: Status) -> Self {
        ApiError {
            status: Box::new(status),
        }
    }

    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            Status::failure(
                404,
                Some("NotFound"),
                format!("{} \"{name}\" not found", resource.qualified_name()),
            )
            .with_details(StatusDetails::for_resource(resource, Some(name))),
        )
    }

    /// A path that names no resource this server knows.
    pub fn no_such_path() -> Self {
        Self::new(
            Status::failure(
                404,
                Some("NotFound"),
                "the server could not find the requested resource",
            )
            .with_details(StatusDetails::default()),
        )
    }

    pub fn already_exists(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            Status::failure(
                409,
                Some("AlreadyExists"),
                format!("{} \"{name}\" already exists", resource.qualified_name()),
            )
            .with_details(StatusDetails::for_resource(resource, Some(name))),
        )
    }

    pub fn conflict(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            Status::failure(
                409,
                Some("Conflict"),
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    resource.qualified_name()
                ),
            )
            .with_details(StatusDetails::for_resource(resource, Some(name))),
        )
    }

    /// 422 Invalid: `<Kind>.<group> "<name>" is invalid: <field>: <message>` (several errors in brackets).
    pub fn invalid(resource: &ResourceType, name: &str, errors: Vec<FieldError>) -> Self {
        let qualified_kind = if resource.group.is_empty() {
            resource.kind.to_string()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        let listed: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        let summary = match listed.as_slice() {
            [single] => single.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let causes = errors
            .into_iter()
            .map(|e| StatusCause {
                reason: Some(e.reason.to_string()),
                message: e.message,
                field: Some(e.field),
            })
            .collect();
        Self::new(
            Status::failure(
                422,
                Some("Invalid"),
                format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
            )
            .with_details(StatusDetails {
                name: Some(name.to_string()),
                group: (!resource.group.is_empty()).then(|| resource.group.to_string()),
                kind: Some(resource.kind.to_string()),
                causes: Some(causes),
                ..StatusDetails::default()
            }),
        )
    }

    /// 409 of a server-side apply that would change fields other managers own: no name or kind
    /// in the details, one `FieldManagerConflict` cause per field.
    pub fn apply_conflict(
        message: String,
        causes: impl Iterator<Item = (String, impl Into<String>)>,
    ) -> Self {
        let causes = causes
            .map(|(message, field)| StatusCause {
                reason: Some("FieldManagerConflict".to_string()),
                message,
                field: Some(field.into()),
            })
            .collect();
        Self::new(
            Status::failure(409, Some("Conflict"), message).with_details(StatusDetails {
                causes: Some(causes),
                ..StatusDetails::default()
            }),
        )
    }

    /// 422 for an apply patch without `?fieldManager=`.
    pub fn apply_without_field_manager() -> Self {
        let message = "Required value: is required for apply patch";
        Self::new(
            Status::failure(
                422,
                Some("Invalid"),
                format!("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: {message}"),
            )
            .with_details(StatusDetails {
                group: Some("meta.k8s.io".to_string()),
                kind: Some("PatchOptions".to_string()),
                causes: Some(vec![StatusCause {
                    reason: Some("FieldValueRequired".to_string()),
                    message: message.to_string(),
                    field: Some("fieldManager".to_string()),
                }]),
                ..StatusDetails::default()
            }),
        )
    }

    /// 500 with reason `Unknown`: how kube-apiserver answers an error that is not a Status.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(Status::failure(500, Some("Unknown"), message))
    }

    /// The generic 422 kube-apiserver answers when a JSON patch cannot be applied.
    pub fn patch_not_applicable() -> Self {
        Self::new(
            Status::failure(
                422,
                Some("Invalid"),
                "the server rejected our request due to an error in our request",
            )
            .with_details(StatusDetails::default()),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Status::failure(400, Some("BadRequest"), message))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            Status::failure(
                415,
                Some("UnsupportedMediaType"),
                "415: Unsupported Media Type",
            )
            .with_details(StatusDetails::default()),
        )
    }

    /// 415 for a strategic merge patch on a custom resource (CRDs have no patch strategy).
    pub fn strategic_patch_on_custom_resource() -> Self {
        Self::new(Status::failure(
            415,
            Some("UnsupportedMediaType"),
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ))
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            Status::failure(
                405,
                Some("MethodNotAllowed"),
                "the server does not allow this method on the requested resource",
            )
            .with_details(StatusDetails::default()),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(Status::failure(401, Some("Unauthorized"), "Unauthorized"))
    }

    /// 403 Forbidden: `<resource> ["<name>" ]is forbidden: <cause>`, kube-apiserver's `NewForbidden`.
    pub fn forbidden_because(resource: &ResourceType, name: Option<&str>, cause: &str) -> Self {
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", resource.qualified_name()),
            None => resource.qualified_name(),
        };
        Self::new(
            Status::failure(
                403,
                Some("Forbidden"),
                format!("{subject} is forbidden: {cause}"),
            )
            .with_details(StatusDetails::for_resource(resource, name)),
        )
    }

    /// RBAC's refusal: `<resource> ["<name>" ]is forbidden: User "<user>" cannot <verb> resource ...`.
    pub fn forbidden(
        resource: &ResourceType,
        subresource: Option<&str>,
        name: Option<&str>,
        namespace: Option<&str>,
        user: &str,
        verb: &str,
    ) -> Self {
        let resource_path = match subresource {
            Some(sub) => format!("{}/{sub}", resource.plural),
            None => resource.plural.to_string(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        Self::forbidden_because(
            resource,
            name,
            &format!(
                "User \"{user}\" cannot {verb} resource \"{resource_path}\" in API group \"{}\" {scope}",
                resource.group
            ),
        )
    }

    /// The 403 (or 500) of an impersonation the server refuses, in kube-apiserver's words.
    pub fn impersonation_refused(refused: ImpersonationRefused) -> Self {
        match refused {
            ImpersonationRefused::NoUser => {
                Self::internal("requested impersonation of groups or a uid without impersonating a user")
            }
            ImpersonationRefused::NotAllowed { user, impersonated } => Self::new(
                Status::failure(
                    403,
                    Some("Forbidden"),
                    format!(
                        "users \"{impersonated}\" is forbidden: User \"{user}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
                    ),
                )
                .with_details(StatusDetails {
                    name: Some(impersonated),
                    kind: Some("users".to_string()),
                    ..StatusDetails::default()
                }),
            ),
        }
    }

    /// 500 InternalError: `Internal error occurred: <cause>`, the cause repeated in `details.causes`.
    pub fn internal(cause: impl Into<String>) -> Self {
        let cause = cause.into();
        Self::new(
            Status::failure(
                500,
                Some("InternalError"),
                format!("Internal error occurred: {cause}"),
            )
            .with_details(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: None,
                    message: cause,
                    field: None,
                }]),
                ..StatusDetails::default()
            }),
        )
    }

    /// An admission webhook's refusal: no reason or details unless the webhook gave them.
    pub fn admission_denied(
        webhook: &str,
        message: Option<&str>,
        reason: Option<&str>,
        code: Option<u16>,
    ) -> Self {
        let denied_by = format!("admission webhook \"{webhook}\" denied the request");
        let message = match (message.filter(|m| !m.is_empty()), reason) {
            (Some(message), _) => format!("{denied_by}: {message}"),
            (None, Some(reason)) if !reason.is_empty() => format!("{denied_by}: {reason}"),
            _ => format!("{denied_by} without explanation"),
        };
        let code = code.filter(|code| *code >= 400).unwrap_or(400);
        Self::new(Status::failure(
            code,
            reason.filter(|r| !r.is_empty()),
            message,
        ))
    }

    /// The `Expired` status of a watch or list from a compacted resourceVersion.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(Status::failure(410, Some("Expired"), message))
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(Status::failure(503, Some("ServiceUnavailable"), message))
    }
}
