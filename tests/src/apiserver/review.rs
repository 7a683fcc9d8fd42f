//! `authentication.k8s.io/v1 SelfSubjectReview`: a POST answers with the caller's identity as
//! the authenticator saw it (what `kubectl auth whoami` shows). Nothing is stored.

use axum::http::StatusCode;
use serde::Serialize;

use super::auth::UserInfo;
use super::response::{self, Reply, ReplyBody};
use super::status::EmptyObject;

/// Typed so the keys keep kube-apiserver's order. Like kube-apiserver since 1.33, the empty
/// metadata has no `creationTimestamp: null`.
#[derive(Serialize)]
struct SelfSubjectReview<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: EmptyObject,
    status: ReviewStatus<'a>,
}

#[derive(Serialize)]
struct ReviewStatus<'a> {
    #[serde(rename = "userInfo")]
    user_info: &'a UserInfo,
}

/// The review has no input fields, so the request body is not read (kubectl sends it as
/// protobuf, which this server does not decode).
pub fn self_subject_review(user: &UserInfo) -> Reply {
    let review = SelfSubjectReview {
        kind: "SelfSubjectReview",
        api_version: "authentication.k8s.io/v1",
        metadata: EmptyObject {},
        status: ReviewStatus { user_info: user },
    };
    Reply {
        code: StatusCode::CREATED,
        body: ReplyBody::Raw(response::encode(&review, false), "application/json"),
        warnings: Vec::new(),
        headers: Vec::new(),
    }
}
