//! Validating admission through webhooks, as kube-apiserver does it: the matching webhooks of
//! every stored ValidatingWebhookConfiguration (rules, selectors, then matchConditions) are called
//! in parallel with an AdmissionReview v1; a denial, or a failure under `failurePolicy: Fail`,
//! refuses the request; warnings are passed back to the client even when the request is refused.

mod client;
mod conditions;
mod matching;
mod review;

use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use super::auth::UserInfo;
use super::object;
use super::resources::{self, ResourceType};
use super::status::ApiError;
use super::store::{ObjectKey, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// Everything kube-apiserver's admission chain knows about a write.
#[derive(Debug)]
pub struct Attributes<'a> {
    pub resource: &'static ResourceType,
    pub subresource: Option<&'static str>,
    /// Group, version and kind of `object`/`old_object` (a Scale for `deployments/scale`).
    pub kind: (&'a str, &'a str, &'a str),
    pub operation: Operation,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    pub dry_run: bool,
    /// `CreateOptions`, `UpdateOptions` or `DeleteOptions`.
    pub options: Value,
    pub user: &'a UserInfo,
}

/// A refused request: the error to answer, plus the warnings gathered before the refusal.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    pub warnings: Vec<String>,
}

enum Verdict {
    Allowed {
        warnings: Vec<String>,
    },
    Denied {
        error: ApiError,
        warnings: Vec<String>,
    },
    /// The call failed; `failurePolicy` decides.
    Failed {
        cause: String,
        ignore: bool,
    },
}

/// Runs validating admission. `Ok` carries the webhooks' warnings.
pub async fn validate(store: &Store, attributes: &Attributes<'_>) -> Result<Vec<String>, Refusal> {
    let namespace_labels = attributes.namespace.and_then(|ns| {
        store
            .get(&ObjectKey::new(resources::namespaces(), None, ns))
            .map(|namespace| object::labels(&namespace))
    });
    let (configurations, _) = store.list(resources::webhook_configurations(), None);
    let mut calls = Vec::new();
    for configuration in &configurations {
        for webhook in configuration
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // Like kube-apiserver, an invalid selector or a failing matchCondition refuses the
            // request before any webhook is called.
            match matching::webhook_applies(webhook, attributes, namespace_labels.as_ref()) {
                Ok(true) => calls.push(call(webhook, attributes)),
                Ok(false) => {}
                Err(error) => {
                    return Err(Refusal {
                        error,
                        warnings: Vec::new(),
                    });
                }
            }
        }
    }

    let mut warnings = Vec::new();
    let mut refusal = None;
    for verdict in join_all(calls).await {
        match verdict {
            Verdict::Allowed { warnings: w } => warnings.extend(w),
            Verdict::Denied { error, warnings: w } => {
                warnings.extend(w);
                refusal.get_or_insert(error);
            }
            Verdict::Failed { ignore: true, .. } => {}
            Verdict::Failed {
                cause,
                ignore: false,
            } => {
                refusal.get_or_insert(ApiError::internal(cause));
            }
        }
    }
    match refusal {
        Some(error) => Err(Refusal { error, warnings }),
        None => Ok(warnings),
    }
}

fn webhook_name(webhook: &Value) -> &str {
    webhook
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `failurePolicy: Ignore`; Fail is the default.
fn ignores_failures(webhook: &Value) -> bool {
    webhook.get("failurePolicy").and_then(Value::as_str) == Some("Ignore")
}

async fn call(webhook: &Value, attributes: &Attributes<'_>) -> Verdict {
    let name = webhook_name(webhook).to_string();
    let ignore = ignores_failures(webhook);
    let failed = |detail: String| Verdict::Failed {
        cause: format!("failed calling webhook \"{name}\": {detail}"),
        ignore,
    };
    let timeout = Duration::from_secs(
        webhook
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(10),
    );
    let client_config = webhook.get("clientConfig");
    let Some(url) = client_config
        .and_then(|c| c.get("url"))
        .and_then(Value::as_str)
    else {
        return failed(
            "failed to call webhook: the test API server reaches webhooks by clientConfig.url only"
                .to_string(),
        );
    };
    let ca_bundle = client_config
        .and_then(|c| c.get("caBundle"))
        .and_then(Value::as_str);

    let uid = object::new_uid();
    let body = review::request_body(&uid, attributes);
    let response = match client::post_review(url, ca_bundle, body, timeout).await {
        Ok(response) => response,
        Err(detail) => return failed(format!("failed to call webhook: {detail}")),
    };
    match review::parse_response(&response, &uid) {
        Ok(answer) if answer.allowed => Verdict::Allowed {
            warnings: answer.warnings,
        },
        Ok(answer) => Verdict::Denied {
            error: ApiError::admission_denied(
                &name,
                answer.message.as_deref(),
                answer.reason.as_deref(),
                answer.code,
            ),
            warnings: answer.warnings,
        },
        Err(detail) => failed(format!("received invalid webhook response: {detail}")),
    }
}
