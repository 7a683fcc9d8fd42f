//! HTTP responses as kube-apiserver writes them: compact JSON and a newline (pretty-printed for
//! curl, Wget and browsers), `Cache-Control: no-cache, private`, one `Warning: 299 - "..."`
//! header per admission warning.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::status::{ApiError, Status};

pub enum ReplyBody {
    Json(Value),
    Status(Status),
    /// Already encoded, with its Content-Type.
    Raw(Vec<u8>, &'static str),
    /// A watch: newline-delimited JSON events.
    Stream(Body),
}

pub struct Reply {
    pub code: StatusCode,
    pub body: ReplyBody,
    pub warnings: Vec<String>,
    pub headers: Vec<(HeaderName, String)>,
}

impl Reply {
    pub fn json(code: StatusCode, value: Value) -> Self {
        Reply {
            code,
            body: ReplyBody::Json(value),
            warnings: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A `Status` body, serialized in kube-apiserver's field order.
    pub fn status(code: StatusCode, status: Status) -> Self {
        Reply {
            code,
            body: ReplyBody::Status(status),
            warnings: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn ok(value: Value) -> Self {
        Self::json(StatusCode::OK, value)
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A refused request and the warnings gathered before the refusal.
#[derive(Debug)]
pub struct Failure {
    pub error: ApiError,
    pub warnings: Vec<String>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure {
            error,
            warnings: Vec::new(),
        }
    }
}

pub type Outcome = Result<Reply, Failure>;

impl From<Failure> for Reply {
    fn from(failure: Failure) -> Self {
        Reply::status(failure.error.http_status(), *failure.error.status)
            .with_warnings(failure.warnings)
    }
}

/// kube-apiserver pretty-prints for humans' tools and `?pretty=true`.
pub fn wants_pretty(headers: &HeaderMap, pretty_param: Option<&str>) -> bool {
    if matches!(pretty_param, Some("true" | "1")) {
        return true;
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ["curl", "Wget", "Mozilla/5.0"]
        .iter()
        .any(|prefix| agent.starts_with(prefix))
}

pub fn encode(value: &impl serde::Serialize, pretty: bool) -> Vec<u8> {
    let mut bytes = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    }
    .unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Go's `strconv.Quote` for the warning text of a `Warning` header.
fn quote_warning(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

pub fn render(reply: Reply, pretty: bool) -> Response {
    let forbidden = reply.code == StatusCode::FORBIDDEN;
    let (content_type, body) = match reply.body {
        ReplyBody::Json(value) => ("application/json", Body::from(encode(&value, pretty))),
        ReplyBody::Status(status) => ("application/json", Body::from(encode(&status, pretty))),
        ReplyBody::Raw(bytes, content_type) => (content_type, Body::from(bytes)),
        ReplyBody::Stream(body) => ("application/json", body),
    };
    let mut response = (reply.code, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if forbidden {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    for warning in reply.warnings {
        if let Ok(value) =
            HeaderValue::from_bytes(format!("299 - {}", quote_warning(&warning)).as_bytes())
        {
            headers.append(header::WARNING, value);
        }
    }
    response
}
