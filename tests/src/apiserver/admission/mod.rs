//! Admission through webhooks, as kube-apiserver does it. Mutating first: the matching webhooks
//! of the MutatingWebhookConfigurations are called one after the other, each on the object as
//! the previous ones left it, and their JSONPatches applied (`mutating.rs`). Then validating: the
//! matching webhooks of every ValidatingWebhookConfiguration are called in parallel on the
//! mutated object; a denial, or a failure under `failurePolicy: Fail`, refuses the request.
//! Matching is the same for both (rules, selectors, then matchConditions), and so is the call
//! (an AdmissionReview v1 with a uid of its own). Warnings are passed back to the client even
//! when the request is refused.

mod client;
mod conditions;
mod matching;
mod mutating;
mod review;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use super::auth::UserInfo;
use super::object;
use super::resources::{self, ResourceType};
use super::response::Failure;
use super::status::ApiError;
use super::store::{ObjectKey, Store};

pub use mutating::mutate;

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
#[derive(Debug, Clone, Copy)]
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
    pub options: &'a Value,
    pub user: &'a UserInfo,
}

/// The labels of the request's Namespace, which namespaceSelectors match.
fn namespace_labels(
    store: &Store,
    attributes: &Attributes<'_>,
) -> Option<BTreeMap<String, String>> {
    let namespace = attributes.namespace?;
    store
        .get(&ObjectKey::new(resources::namespaces(), None, namespace))
        .map(|namespace| object::labels(&namespace))
}

/// The webhooks of the stored configurations of `resource`, in kube-apiserver's order:
/// configurations by name (as the store lists them), then as listed in each.
fn webhooks(store: &Store, resource: &ResourceType) -> Vec<Value> {
    store
        .list(resource, None)
        .0
        .into_iter()
        .flat_map(
            |mut configuration| match configuration.get_mut("webhooks") {
                Some(Value::Array(webhooks)) => std::mem::take(webhooks),
                _ => Vec::new(),
            },
        )
        .collect()
}

/// Runs validating admission. `Ok` carries the webhooks' warnings.
pub async fn validate(store: &Store, attributes: &Attributes<'_>) -> Result<Vec<String>, Failure> {
    let namespace_labels = namespace_labels(store, attributes);
    let webhooks = webhooks(store, resources::validating_webhook_configurations());
    let mut calls = Vec::new();
    for webhook in &webhooks {
        // Like kube-apiserver, an invalid selector or a failing matchCondition refuses the
        // request before any webhook is called.
        if matching::webhook_applies(webhook, attributes, namespace_labels.as_ref())? {
            calls.push(async move { (webhook, call(webhook, attributes, false).await) });
        }
    }

    let mut warnings = Vec::new();
    let mut refusal = None;
    for (webhook, result) in join_all(calls).await {
        match result {
            Ok(answer) => {
                warnings.extend(answer.warnings.iter().cloned());
                if !answer.allowed {
                    refusal.get_or_insert(denial(webhook, &answer));
                }
            }
            Err(failure) if failure.ignore => {}
            Err(failure) => {
                refusal.get_or_insert(ApiError::internal(failure.message));
            }
        }
    }
    match refusal {
        Some(error) => Err(Failure { error, warnings }),
        None => Ok(warnings),
    }
}

fn webhook_name(webhook: &Value) -> &str {
    webhook
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A webhook's refusal of the request.
fn denial(webhook: &Value, answer: &review::Answer) -> ApiError {
    ApiError::admission_denied(
        webhook_name(webhook),
        answer.message.as_deref(),
        answer.reason.as_deref(),
        answer.code,
    )
}

/// A call that gave no usable answer (kube-apiserver's ErrCallingWebhook): refuses the request
/// under `failurePolicy: Fail` (the default), is skipped under `Ignore`.
struct CallFailure {
    message: String,
    ignore: bool,
}

impl CallFailure {
    fn new(webhook: &Value, detail: impl std::fmt::Display) -> Self {
        CallFailure {
            message: format!(
                "failed calling webhook \"{}\": {detail}",
                webhook_name(webhook)
            ),
            ignore: ignores_failures(webhook),
        }
    }
}

/// `failurePolicy: Ignore`; Fail is the default.
fn ignores_failures(webhook: &Value) -> bool {
    webhook.get("failurePolicy").and_then(Value::as_str) == Some("Ignore")
}

/// Sends the webhook its AdmissionReview (a fresh uid per call) and returns its answer.
async fn call(
    webhook: &Value,
    attributes: &Attributes<'_>,
    mutating: bool,
) -> Result<review::Answer, CallFailure> {
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
        return Err(CallFailure::new(
            webhook,
            "failed to call webhook: the test API server reaches webhooks by clientConfig.url only",
        ));
    };
    let ca_bundle = client_config
        .and_then(|c| c.get("caBundle"))
        .and_then(Value::as_str);

    let uid = object::new_uid();
    let body = review::request_body(&uid, attributes);
    let response = client::post_review(url, ca_bundle, body, timeout)
        .await
        .map_err(|detail| CallFailure::new(webhook, format!("failed to call webhook: {detail}")))?;
    review::parse_response(&response, &uid, mutating).map_err(|error| {
        let detail = match error {
            review::ResponseError::Undecodable(detail) => {
                format!("failed to call webhook: {detail}")
            }
            review::ResponseError::Invalid(detail) => {
                format!("received invalid webhook response: {detail}")
            }
        };
        CallFailure::new(webhook, detail)
    })
}
