//! Webhook `matchConditions`, applied as kube-apiserver applies them once a webhook's rules and
//! selectors matched (k8s.io/apiserver, `pkg/admission/plugin/webhook/matchconditions`): CEL
//! expressions over `object` (null for DELETE), `oldObject` (null for CREATE) and `request`. One
//! false skips the webhook; otherwise an evaluation error leaves it to failurePolicy (Fail refuses
//! the request, Ignore skips the webhook); all true calls it.
//!
//! There is no `authorizer` variable: an expression that reaches it fails to evaluate, so
//! failurePolicy decides, rather than the condition passing unchecked.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use cel::common::traits::Indexer;
use cel::common::types::{CelNull, NULL_TYPE, Type};
use cel::common::value::{CowVal, Val};
use cel::{Context, ExecutionError, Program};
use serde_json::Value;

use super::{Attributes, ignores_failures, review};

/// Whether `webhook` is called for the request. `Err` is the cause of the refusal, in
/// kube-apiserver's words, when a condition failed to evaluate under failurePolicy Fail.
pub fn matches(webhook: &Value, attributes: &Attributes<'_>) -> Result<bool, String> {
    let Some(conditions) = webhook
        .get("matchConditions")
        .and_then(Value::as_array)
        .filter(|conditions| !conditions.is_empty())
    else {
        return Ok(true);
    };
    let mut context = Context::default();
    for (name, value) in [
        ("object", attributes.object),
        ("oldObject", attributes.old_object),
    ] {
        match value {
            Some(value) => context.add_variable_from_value(name, cel_value(value)),
            None => context.add_variable_as_val(name, Box::new(AbsentObject)),
        }
    }
    context.add_variable_from_value("request", cel_value(&review::cel_request(attributes)));

    let mut errors: Vec<String> = Vec::new();
    for condition in conditions {
        let expression = condition
            .get("expression")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match evaluate(expression, &context) {
            // Only false skips: kube-apiserver's matcher counts any other value as a match.
            Ok(cel::Value::Bool(false)) => return Ok(false),
            Ok(_) => {}
            Err(error) if errors.contains(&error) => {}
            Err(error) => errors.push(error),
        }
    }
    match errors.as_slice() {
        [] => Ok(true),
        _ if ignores_failures(webhook) => Ok(false),
        [error] => Err(error.clone()),
        // The text of Go's utilerrors.NewAggregate: distinct messages, bracketed when several.
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

/// One expression's value, or its error in the words of kube-apiserver's CEL evaluator
/// (k8s.io/apiserver, pkg/admission/plugin/cel/activation.go).
fn evaluate(expression: &str, context: &Context) -> Result<cel::Value, String> {
    // kube-apiserver refuses to store an expression that does not compile; its evaluator words
    // one that still reaches it this way.
    let program =
        Program::compile(expression).map_err(|err| format!("compilation error: {err}"))?;
    program.execute(context).map_err(|err| {
        format!(
            "expression '{expression}' resulted in error: {}",
            error_text(&err)
        )
    })
}

/// cel-go's words for the error conditions meet most (a field the object lacks), cel-rust's for
/// the others.
fn error_text(error: &ExecutionError) -> String {
    match error {
        ExecutionError::NoSuchKey(key) => format!("no such key: {key}"),
        ExecutionError::UndeclaredReference(name) if name.as_str() == "authorizer" => {
            "the test API server has no CEL authorizer".to_string()
        }
        other => other.to_string(),
    }
}

/// The null `object` of a DELETE or `oldObject` of a CREATE, as cel-go treats kube-apiserver's:
/// equal to `null`, a field of it is `no such key: <field>`, and `has()` of one is false (cel-go
/// without EnableErrorOnBadPresenceTest). cel-rust's own null fails both with no matching overload.
#[derive(Debug, Clone, Copy)]
struct AbsentObject;

impl Val for AbsentObject {
    fn get_type(&self) -> &Type {
        &NULL_TYPE
    }

    fn cel_type() -> &'static Type {
        &NULL_TYPE
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        other.get_type() == &NULL_TYPE
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(*self)
    }

    /// `null == oldObject` compares by downcasting the right side to cel-rust's null.
    fn as_any(&self) -> Option<&dyn Any> {
        Some(&CelNull)
    }
}

impl Indexer for AbsentObject {
    fn get<'b, 'v>(&'b self, key: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let key = match cel::Value::try_from(key) {
            Ok(cel::Value::String(field)) => field.to_string(),
            other => format!("{other:?}"),
        };
        Err(ExecutionError::NoSuchKey(Arc::new(key)))
    }

    fn steal<'v>(self: Box<Self>, key: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(key).map(CowVal::into_owned)
    }
}

/// A JSON value as Kubernetes decodes one for CEL: integers as `int` (int64), other numbers as
/// `double`.
fn cel_value(json: &Value) -> cel::Value {
    match json {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(int) => cel::Value::Int(int),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(cel_value).collect())),
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| (key.clone(), cel_value(value)))
            .collect::<HashMap<_, _>>()
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apiserver::admission::Operation;
    use crate::apiserver::auth::UserInfo;
    use crate::apiserver::resources;

    fn user() -> UserInfo {
        UserInfo {
            username: "ci-deployer".to_string(),
            uid: String::new(),
            groups: vec!["system:authenticated".to_string()],
            extra: Default::default(),
        }
    }

    /// A write of Deployment api-blue (its `scale` when the objects are Scales).
    fn check(
        webhook: &Value,
        operation: Operation,
        object: Option<&Value>,
        old_object: Option<&Value>,
    ) -> Result<bool, String> {
        let user = user();
        let options = json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"});
        let scale = object.or(old_object).is_some_and(|o| o["kind"] == "Scale");
        let attributes = Attributes {
            resource: resources::deployments(),
            subresource: scale.then_some("scale"),
            kind: if scale {
                ("autoscaling", "v1", "Scale")
            } else {
                ("apps", "v1", "Deployment")
            },
            operation,
            name: "api-blue",
            namespace: Some("shop"),
            object,
            old_object,
            dry_run: false,
            options: &options,
            user: &user,
        };
        matches(webhook, &attributes)
    }

    /// `kubectl scale deploy api-blue --replicas=<new>` from `old` replicas, as Scales carry them.
    fn check_scale(webhook: &Value, old: Value, new: Value) -> Result<bool, String> {
        let scale =
            |spec: Value| json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": spec});
        check(
            webhook,
            Operation::Update,
            Some(&scale(new)),
            Some(&scale(old)),
        )
    }

    fn webhook(failure_policy: &str, expressions: &[&str]) -> Value {
        let conditions: Vec<Value> = expressions
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"name": format!("condition-{i}"), "expression": e}))
            .collect();
        json!({"name": "scale.bluegreen.dev", "failurePolicy": failure_policy, "matchConditions": conditions})
    }

    const SCALE_TO_ZERO: &str = "!has(object.spec.replicas) || object.spec.replicas == 0";

    #[test]
    fn has_on_nested_maps_and_json_integers() {
        let to_zero = webhook("Fail", &[SCALE_TO_ZERO]);
        let replicas = |n: i64| json!({"replicas": n});
        assert_eq!(check_scale(&to_zero, replicas(3), json!({})), Ok(true));
        assert_eq!(check_scale(&to_zero, replicas(3), replicas(0)), Ok(true));
        assert_eq!(check_scale(&to_zero, replicas(0), replicas(3)), Ok(false));
        let larger = webhook("Fail", &["object.spec.replicas > oldObject.spec.replicas"]);
        assert_eq!(check_scale(&larger, replicas(2), replicas(3)), Ok(true));
        assert_eq!(check_scale(&larger, replicas(3), replicas(2)), Ok(false));
    }

    #[test]
    fn request_carries_the_admission_attributes() {
        let expression = "request.operation == 'UPDATE' && request.subResource == 'scale' \
             && request.kind.kind == 'Scale' && request.resource.resource == 'deployments' \
             && request.name == 'api-blue' && request.namespace == 'shop' && !request.dryRun \
             && request.userInfo.username == 'ci-deployer' && request.options.kind == 'UpdateOptions' \
             && request.uid == '' && request.object == null";
        let replicas = json!({"replicas": 1});
        assert_eq!(
            check_scale(&webhook("Fail", &[expression]), replicas.clone(), replicas),
            Ok(true)
        );
    }

    #[test]
    fn any_false_skips_even_beside_errors_and_errors_are_aggregated() {
        let missing = "object.spec.replicas == 0";
        let error = format!("expression '{missing}' resulted in error: no such key: replicas");
        let check = |policy: &str, expressions: &[&str]| {
            check_scale(
                &webhook(policy, expressions),
                json!({"replicas": 3}),
                json!({}),
            )
        };
        assert_eq!(check("Fail", &[missing, "false"]), Ok(false));
        assert_eq!(check("Fail", &[missing, "true"]), Err(error.clone()));
        assert_eq!(check("Ignore", &[missing, "true"]), Ok(false));
        assert_eq!(check("Fail", &[missing, missing]), Err(error.clone()));
        assert_eq!(
            check("Fail", &[missing, "1 / 0 == 1"]),
            Err(format!(
                "[{error}, expression '1 / 0 == 1' resulted in error: {}]",
                ExecutionError::DivisionByZero(cel::Value::Int(1))
            ))
        );
    }

    #[test]
    fn authorizer_is_an_error_not_a_pass() {
        let expression =
            "authorizer.group('apps').resource('deployments').check('update').allowed()";
        let replicas = json!({"replicas": 1});
        assert_eq!(
            check_scale(
                &webhook("Fail", &[expression]),
                replicas.clone(),
                replicas.clone()
            ),
            Err(format!(
                "expression '{expression}' resulted in error: the test API server has no CEL authorizer"
            ))
        );
        // Short-circuited, as CEL does: never reached, so no error.
        let unreached = format!("false && {expression}");
        assert_eq!(
            check_scale(&webhook("Fail", &[&unreached]), replicas.clone(), replicas),
            Ok(false)
        );
    }

    #[test]
    fn only_false_skips_and_bad_syntax_fails_to_compile() {
        let replicas = json!({"replicas": 1});
        let check = |expression: &str| {
            check_scale(
                &webhook("Fail", &[expression]),
                replicas.clone(),
                replicas.clone(),
            )
        };
        assert_eq!(check("object.kind"), Ok(true));
        for bad in ["object.", "((", "'unterminated", ""] {
            let refused = check(bad).expect_err(bad);
            assert!(
                refused.starts_with("compilation error: "),
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn the_missing_object_is_null_with_no_fields() {
        let deployment = json!({"kind": "Deployment", "metadata": {"name": "api-blue"}});
        let create = |expression: &str| {
            check(
                &webhook("Fail", &[expression]),
                Operation::Create,
                Some(&deployment),
                None,
            )
        };
        for holds in [
            "oldObject == null",
            "null == oldObject",
            "type(oldObject) == null_type",
            "object != null",
            "!has(oldObject.metadata)",
        ] {
            assert_eq!(create(holds), Ok(true), "{holds}");
        }
        assert_eq!(
            create("oldObject.metadata.name == 'api-blue'"),
            Err("expression 'oldObject.metadata.name == 'api-blue'' resulted in error: no such key: metadata".to_string())
        );
        let delete = check(
            &webhook(
                "Fail",
                &["object == null && oldObject.metadata.name == 'api-blue'"],
            ),
            Operation::Delete,
            None,
            Some(&deployment),
        );
        assert_eq!(delete, Ok(true));
    }
}
