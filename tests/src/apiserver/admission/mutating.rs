//! Mutating admission, as kube-apiserver's mutating webhook dispatcher runs it: the webhooks one
//! after the other, each matched against and sent the object as the webhooks before it left it.
//! An allowed answer's JSONPatch is applied with evanphx/json-patch v4 semantics (`jsonpatch.rs`)
//! and the result defaulted. When a webhook changed the object, a second round calls again the
//! `reinvocationPolicy: IfNeeded` webhooks called before that change (never for their own change;
//! no third round).

use std::collections::BTreeSet;

use serde_json::Value;

use super::review::Answer;
use super::{
    Attributes, CallFailure, call, denial, matching, namespace_labels, webhook_name, webhooks,
};
use crate::apiserver::response::Failure;
use crate::apiserver::status::ApiError;
use crate::apiserver::store::Store;
use crate::apiserver::{defaults, golang, jsonpatch, resources};

/// What mutating admission made of a write.
#[derive(Debug)]
pub struct Mutation {
    /// The object as the webhooks left it, when they changed it.
    pub object: Option<Value>,
    pub warnings: Vec<String>,
}

/// kube-apiserver's reinvocation bookkeeping (its webhookReinvokeContext), by webhook position.
#[derive(Default)]
struct Reinvocation {
    /// Whether a webhook changed the object, which makes a second round.
    required: bool,
    /// `IfNeeded` webhooks called since the object last changed.
    called: BTreeSet<usize>,
    /// Webhooks the second round calls: the object changed after they were called.
    due: BTreeSet<usize>,
}

impl Reinvocation {
    fn after_call(&mut self, position: usize, webhook: &Value, changed: bool) {
        if changed {
            self.required = true;
            self.due.append(&mut self.called);
        }
        if webhook.get("reinvocationPolicy").and_then(Value::as_str) == Some("IfNeeded") {
            self.called.insert(position);
        }
    }
}

/// Why an answer's patch cannot be applied.
enum Error {
    /// A call failure: failurePolicy decides.
    Call(CallFailure),
    /// Refuses the request whatever the failurePolicy.
    Refusal(ApiError),
}

/// Runs mutating admission on `attributes.object`.
pub async fn mutate(store: &Store, attributes: &Attributes<'_>) -> Result<Mutation, Failure> {
    let namespace_labels = namespace_labels(store, attributes);
    let webhooks = webhooks(store, resources::mutating_webhook_configurations());
    let mut object = attributes.object.cloned();
    let mut warnings = Vec::new();
    let mut reinvocation = Reinvocation::default();
    for round in 0..2 {
        if round == 1 && !reinvocation.required {
            break;
        }
        for (position, webhook) in webhooks.iter().enumerate() {
            let current = Attributes {
                object: object.as_ref(),
                ..*attributes
            };
            match matching::webhook_applies(webhook, &current, namespace_labels.as_ref()) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => return Err(Failure { error, warnings }),
            }
            // A reinvocation never calls a webhook for the first time.
            if round == 1 && !reinvocation.due.contains(&position) {
                continue;
            }
            let result = match call(webhook, &current, true).await {
                Ok(answer) => {
                    warnings.extend(answer.warnings.iter().cloned());
                    patched(webhook, &current, answer)
                }
                Err(failure) => Err(Error::Call(failure)),
            };
            let patched = match result {
                Ok(patched) => patched,
                Err(Error::Call(failure)) if failure.ignore => None,
                Err(Error::Call(failure)) => {
                    let error = ApiError::internal(failure.message);
                    return Err(Failure { error, warnings });
                }
                Err(Error::Refusal(error)) => return Err(Failure { error, warnings }),
            };
            let changed = match patched {
                Some(mut patched) => {
                    let changed = object.as_ref() != Some(&patched);
                    default(attributes, &mut patched);
                    object = Some(patched);
                    changed
                }
                None => false,
            };
            reinvocation.after_call(position, webhook, changed);
        }
    }
    Ok(Mutation {
        object: object.filter(|object| Some(object) != attributes.object),
        warnings,
    })
}

/// The object after an answer's JSONPatch; `None` when the answer has none.
fn patched(
    webhook: &Value,
    attributes: &Attributes<'_>,
    answer: Answer,
) -> Result<Option<Value>, Error> {
    if !answer.allowed {
        return Err(Error::Refusal(denial(webhook, &answer)));
    }
    let Some(patch) = answer.patch else {
        return Ok(None);
    };
    let operations = jsonpatch::decode(&patch).map_err(|detail| {
        Error::Call(CallFailure::new(
            webhook,
            format!("received undecodable patch in webhook response: {detail}"),
        ))
    })?;
    if operations.is_empty() {
        return Ok(None);
    }
    let Some(object) = attributes.object else {
        return Err(Error::Refusal(ApiError::internal(format!(
            "admission webhook \"{}\" attempted to modify the object, which is not supported for this operation",
            webhook_name(webhook)
        ))));
    };
    let patch_type = answer.patch_type.unwrap_or_default();
    if patch_type != "JSONPatch" {
        return Err(Error::Call(CallFailure::new(
            webhook,
            format!("unsupported patch type {}", golang::quote(&patch_type)),
        )));
    }
    // Errors in applying the patch are not the webhook call's: no failurePolicy helps.
    let mut patched = jsonpatch::apply(&operations, object)
        .map_err(|detail| Error::Refusal(ApiError::internal(detail)))?;
    // kube-apiserver decodes the result into its typed object, which has no nulls.
    defaults::drop_nulls(&mut patched);
    Ok(Some(patched))
}

/// kube-apiserver applies the scheme's defaults after each patch (a Scale has none here).
fn default(attributes: &Attributes<'_>, object: &mut Value) {
    if attributes.kind.2 == attributes.resource.kind {
        defaults::apply(attributes.resource, object);
    }
}
