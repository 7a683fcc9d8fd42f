//! CREATE, UPDATE (PUT), PATCH and DELETE, in kube-apiserver's order: decode, preconditions
//! (stale resourceVersion → 409), defaulting, field ownership (`managedFields`; server-side apply
//! conflicts → 409), mutating admission, validation (422), validating admission, then storage
//! (unless `dryRun=All`). Writes to `status` keep the spec; writes to `scale` change only
//! `spec.replicas`; writes to the main resource keep the status.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::admission::{self, Attributes, Operation};
use super::auth::User;
use super::defaults;
use super::fieldmanager::{self, ApplyError, FieldManager};
use super::object;
use super::patch::{self, PatchFormat, PatchType};
use super::protobuf;
use super::resources::{self, GenerationPolicy, ResourceType, Subresource};
use super::response::{Failure, Outcome, Reply};
use super::route::Target;
use super::scale;
use super::schema::Schema;
use super::status::{ApiError, ApiResult, Status};
use super::store::{CommitError, ObjectKey, Store};
use super::validation;

/// How often a write is recomputed when the object changed between read and commit.
const MAX_ATTEMPTS: usize = 5;

pub struct WriteRequest<'a> {
    pub store: &'a Store,
    pub require_namespaces: bool,
    pub user: &'a User,
    pub target: &'a Target,
    pub query: &'a HashMap<String, String>,
    pub content_type: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub body: &'a [u8],
}

impl WriteRequest<'_> {
    fn resource(&self) -> &'static ResourceType {
        self.target.resource
    }

    fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or_default()
    }

    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey::new(self.resource(), self.target.namespace.as_deref(), name)
    }

    /// The field manager of the request's endpoint, and the request's manager name.
    fn field_manager(&self) -> (FieldManager, &str) {
        let name = fieldmanager::manager_name(
            self.query.get("fieldManager").map(String::as_str),
            self.user_agent,
        );
        (
            FieldManager::new(self.resource(), self.target.subresource),
            name,
        )
    }

    /// Server-side apply of `config` to `live` (`None` creates), refused before admission.
    fn apply(&self, live: Option<&Value>, config: &Value) -> ApiResult<Value> {
        let (manager, name) = self.field_manager();
        let force = self.query.get("force").is_some_and(|f| f == "true");
        manager
            .apply(live, config, name, force)
            .map_err(|err| match err {
                ApplyError::Conflicts(conflicts) => {
                    ApiError::apply_conflict(conflicts.message(), conflicts.causes())
                }
                ApplyError::ManagedFieldsSet => ApiError::bad_request(err.to_string()),
                ApplyError::Invalid(detail) => ApiError::unknown(format!(
                    "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {detail}",
                    self.target.namespace.as_deref().unwrap_or_default(),
                    self.name(),
                    self.resource().group,
                    self.resource().version,
                    self.resource().kind
                )),
            })
    }

    fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    /// `CreateOptions`/`UpdateOptions` as webhooks see them (from the query; `force` is not carried).
    fn options(&self, kind: &str) -> Value {
        let mut options = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
        if self.dry_run() {
            options["dryRun"] = json!(["All"]);
        }
        for field in ["fieldManager", "fieldValidation"] {
            if let Some(value) = self.query.get(field) {
                options[field] = json!(value);
            }
        }
        options
    }

    /// The identity of the admission kind: a Scale for `deployments/scale`, else the resource's kind.
    fn admission_kind(&self) -> (&'static str, &'static str, &'static str) {
        match self.target.subresource {
            Some(Subresource::Scale) => ("autoscaling", "v1", "Scale"),
            _ => (
                self.resource().group,
                self.resource().version,
                self.resource().kind,
            ),
        }
    }

    fn attributes<'a>(
        &'a self,
        operation: Operation,
        name: &'a str,
        object: Option<&'a Value>,
        old_object: Option<&'a Value>,
        options: &'a Value,
    ) -> Attributes<'a> {
        Attributes {
            resource: self.resource(),
            subresource: self.target.subresource.map(Subresource::name),
            kind: self.admission_kind(),
            operation,
            name,
            namespace: self.target.namespace.as_deref(),
            object,
            old_object,
            dry_run: self.dry_run(),
            options,
            user: &self.user.info,
        }
    }

    /// Admission of a create or update: mutating webhooks change `object` (the endpoint's view
    /// of the write), `settle` makes what they leave the object to store (what the registry does
    /// next: keeping system fields, validation), and validating webhooks judge that object's
    /// endpoint view. Returns it, with every webhook's warnings. Field managers are not told of
    /// the webhooks' changes: kube-apiserver records ownership before mutating admission.
    async fn admit(
        &self,
        operation: Operation,
        name: &str,
        object: Value,
        old_object: Option<&Value>,
        options: &Value,
        settle: impl FnOnce(Value) -> ApiResult<Value>,
    ) -> Result<(Value, Vec<String>), Failure> {
        let mutation = admission::mutate(
            self.store,
            &self.attributes(operation, name, Some(&object), old_object, options),
        )
        .await?;
        let warnings = mutation.warnings;
        let settled = match settle(mutation.object.unwrap_or(object)) {
            Ok(settled) => settled,
            Err(error) => return Err(Failure { error, warnings }),
        };
        let view = endpoint_view(self.target.subresource, &settled);
        let attributes = self.attributes(operation, name, Some(&view), old_object, options);
        let warnings = self.validate(&attributes, warnings).await?;
        Ok((settled, warnings))
    }

    /// Admission of a delete: mutating webhooks are called too, but may not patch.
    async fn admit_delete(
        &self,
        name: &str,
        old_object: &Value,
        options: &Value,
    ) -> Result<Vec<String>, Failure> {
        let attributes = self.attributes(Operation::Delete, name, None, Some(old_object), options);
        let warnings = admission::mutate(self.store, &attributes).await?.warnings;
        self.validate(&attributes, warnings).await
    }

    /// Validating admission; its warnings follow the mutating webhooks' `warnings`.
    async fn validate(
        &self,
        attributes: &Attributes<'_>,
        mut warnings: Vec<String>,
    ) -> Result<Vec<String>, Failure> {
        match admission::validate(self.store, attributes).await {
            Ok(more) => {
                warnings.extend(more);
                Ok(warnings)
            }
            Err(refusal) => {
                warnings.extend(refusal.warnings);
                Err(Failure {
                    error: refusal.error,
                    warnings,
                })
            }
        }
    }
}

/// A request body: JSON, YAML when the client says so, or protobuf for the kinds
/// [`protobuf`] reads.
fn decode_body(body: &[u8], content_type: Option<&str>) -> ApiResult<Value> {
    if protobuf::is_protobuf(content_type) {
        // kubectl's typed generators (`create service ...`) send kinds not read here.
        return protobuf::decode(body).map_err(|err| match err {
            protobuf::DecodeError::Unsupported(_) => ApiError::unsupported_media_type(),
            other => ApiError::bad_request(format!("error decoding body: {other}")),
        });
    }
    let yaml = content_type.is_some_and(|ct| ct.contains("yaml"));
    let decoded = if yaml {
        policy::yaml::from_slice::<Value>(body).map_err(|err| err.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|err| err.to_string())
    };
    let value =
        decoded.map_err(|err| ApiError::bad_request(format!("error decoding body: {err}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ))
    }
}

/// Checks (or fills in) `apiVersion` and `kind` of a body sent to `resource`'s endpoint.
fn check_type(
    resource: &ResourceType,
    object: &mut Value,
    expected_kind: &str,
    expected_api_version: &str,
) -> ApiResult<()> {
    for (field, expected) in [
        ("apiVersion", expected_api_version),
        ("kind", expected_kind),
    ] {
        match object.get(field).and_then(Value::as_str) {
            None | Some("") => object[field] = json!(expected),
            Some(actual) if actual == expected => {}
            Some(actual) => {
                return Err(ApiError::bad_request(format!(
                    "the {} in the data ({actual}) does not match the expected {} ({expected}) of {}",
                    if field == "kind" {
                        "kind"
                    } else {
                        "API version"
                    },
                    if field == "kind" {
                        "kind"
                    } else {
                        "API version"
                    },
                    resource.qualified_name()
                )));
            }
        }
    }
    Ok(())
}

/// Gives `object` the request's namespace (or none for cluster-scoped resources).
fn place_in_namespace(
    resource: &ResourceType,
    object: &mut Value,
    namespace: Option<&str>,
) -> ApiResult<()> {
    let metadata = object::metadata_mut(object);
    if !resource.namespaced {
        metadata.remove("namespace");
        return Ok(());
    }
    let namespace = namespace.unwrap_or_default();
    match metadata.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            metadata.insert("namespace".into(), json!(namespace));
            Ok(())
        }
    }
}

/// The spec-like part of an object: everything but metadata and status.
fn spec_part(object: &Value) -> Map<String, Value> {
    object
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(key, _)| {
                    !matches!(key.as_str(), "metadata" | "status" | "kind" | "apiVersion")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn bump_generation_if_changed(
    resource: &ResourceType,
    current: &Value,
    updated: &mut Value,
) {
    let changed = match resource.generation {
        GenerationPolicy::None => return,
        GenerationPolicy::SpecChange => spec_part(current) != spec_part(updated),
        GenerationPolicy::SpecOrAnnotationChange => {
            spec_part(current) != spec_part(updated)
                || object::string_map(current, "annotations")
                    != object::string_map(updated, "annotations")
        }
    };
    let generation = object::generation(current).unwrap_or(1) + i64::from(changed);
    object::metadata_mut(updated).insert("generation".into(), json!(generation));
}

/// Fresh identity of a new object: uid, creationTimestamp, generation; no resourceVersion.
fn prepare_create(resource: &ResourceType, object: &mut Value) {
    let metadata = object::metadata_mut(object);
    for field in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
        "selfLink",
    ] {
        metadata.remove(field);
    }
    metadata.insert("uid".into(), json!(object::new_uid()));
    metadata.insert("creationTimestamp".into(), json!(object::now_timestamp()));
    if resource.generation != GenerationPolicy::None {
        metadata.insert("generation".into(), json!(1));
    }
    if resource.has_subresource(Subresource::Status) {
        // The status of a new object is the controllers' to write, never the creator's.
        let root = object.as_object_mut().expect("metadata_mut made an object");
        if resource.custom {
            root.remove("status");
        } else {
            root.insert("status".into(), defaults::empty());
        }
    }
}

/// `generateName` plus a suffix, as kube-apiserver names objects without a name.
fn generated_name(object: &Value) -> Option<String> {
    let prefix = object::meta_str(object, "generateName").filter(|p| !p.is_empty())?;
    let uid = object::new_uid();
    Some(format!("{prefix}{}", &uid[uid.len() - 5..]))
}

pub async fn create(request: &WriteRequest<'_>) -> Outcome {
    let resource = request.resource();
    if request.target.name.is_some() || request.target.subresource.is_some() {
        return Err(ApiError::method_not_allowed().into());
    }
    let mut object = decode_body(request.body, request.content_type)?;
    check_type(
        resource,
        &mut object,
        resource.kind,
        &resource.api_version(),
    )?;
    if object::meta_str(&object, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        )
        .into());
    }
    create_object(request, object, Creation::Create).await
}

/// How an object comes to be: a create, whose writer owns what it set (defaults included), or a
/// server-side apply, whose writer owns its configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Creation {
    Create,
    Apply,
}

async fn create_object(
    request: &WriteRequest<'_>,
    mut object: Value,
    creation: Creation,
) -> Outcome {
    let resource = request.resource();
    place_in_namespace(resource, &mut object, request.target.namespace.as_deref())?;
    if object::name(&object).is_none()
        && let Some(name) = generated_name(&object)
    {
        object::metadata_mut(&mut object).insert("name".into(), json!(name));
    }
    if let (true, true, Some(namespace)) = (
        request.require_namespaces,
        resource.namespaced,
        request.target.namespace.as_deref(),
    ) && request
        .store
        .get(&ObjectKey::new(resources::namespaces(), None, namespace))
        .is_none()
    {
        return Err(ApiError::not_found(resources::namespaces(), namespace).into());
    }
    if creation == Creation::Apply {
        object = request.apply(None, &object)?;
    }
    defaults::drop_nulls(&mut object);
    defaults::apply(resource, &mut object);
    // Ownership is settled before admission: what mutating webhooks add belongs to nobody.
    if creation == Creation::Create {
        let (manager, name) = request.field_manager();
        manager.update(None, &mut object, name);
    }
    let name = object::name(&object).unwrap_or_default().to_string();
    let options = request.options("CreateOptions");
    // The registry gives the object its identity and allocations after mutating admission.
    let (object, warnings) = request
        .admit(
            Operation::Create,
            &name,
            object,
            None,
            &options,
            |mut object| {
                prepare_create(resource, &mut object);
                defaults::allocate(resource, &mut object, None);
                validation::validate(resource, &object)?;
                Ok(object)
            },
        )
        .await?;
    let created = if request.dry_run() {
        object
    } else {
        request
            .store
            .create(request.key(&name), object)
            .map_err(|_| Failure {
                error: ApiError::already_exists(resource, &name),
                warnings: warnings.clone(),
            })?
    };
    Ok(Reply::json(StatusCode::CREATED, created).with_warnings(warnings))
}

pub async fn update(request: &WriteRequest<'_>) -> Outcome {
    let resource = request.resource();
    let mut body = decode_body(request.body, request.content_type)?;
    let (kind, api_version) = match request.target.subresource {
        Some(Subresource::Scale) => ("Scale", "autoscaling/v1".to_string()),
        _ => (resource.kind, resource.api_version()),
    };
    check_type(resource, &mut body, kind, &api_version)?;
    if let Some(body_name) = object::name(&body)
        && body_name != request.name()
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            request.name()
        ))
        .into());
    }
    modify(request, |_| Ok(body.clone()), Ownership::Update).await
}

/// Whose fields a modification records: the writer's changes (`Update`), or none, because
/// they are recorded already (`Applied`: an apply's own result, or an object after admission).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ownership {
    Update,
    Applied,
}

pub async fn patch(request: &WriteRequest<'_>) -> Outcome {
    let resource = request.resource();
    let patch_type = PatchType::from_content_type(request.content_type)?;
    let custom = resource.custom && request.target.subresource != Some(Subresource::Scale);
    if patch_type == PatchType::Patch(PatchFormat::Strategic) && custom {
        return Err(ApiError::strategic_patch_on_custom_resource().into());
    }
    if let PatchType::Patch(format) = patch_type {
        let schema = match request.target.subresource {
            Some(Subresource::Scale) => Schema::SCALE,
            _ => Schema::of(resource),
        };
        return modify(
            request,
            |view| patch::apply(format, view, request.body, schema),
            Ownership::Update,
        )
        .await;
    }
    if request.target.subresource == Some(Subresource::Scale) {
        return Err(ApiError::bad_request(
            "server-side apply to the scale subresource is not supported by the test API server",
        )
        .into());
    }
    if request
        .query
        .get("fieldManager")
        .is_none_or(|m| m.is_empty())
    {
        return Err(ApiError::apply_without_field_manager().into());
    }
    let mut config = patch::decode_apply(request.body)?;
    check_type(
        resource,
        &mut config,
        resource.kind,
        &resource.api_version(),
    )?;
    let missing = request.store.get(&request.key(request.name())).is_none();
    if missing && request.target.subresource.is_none() {
        // Server-side apply of a new object creates it.
        object::metadata_mut(&mut config).insert("name".into(), json!(request.name()));
        return create_object(request, config, Creation::Apply).await;
    }
    modify(
        request,
        |view| request.apply(Some(view), &config),
        Ownership::Applied,
    )
    .await
}

/// The object as the request's endpoint shows it: a Scale for `scale`, else the object.
fn endpoint_view(subresource: Option<Subresource>, stored: &Value) -> Value {
    match subresource {
        Some(Subresource::Scale) => scale::from_deployment(stored),
        _ => stored.clone(),
    }
}

/// The full object after a write of `candidate` (in the endpoint's view) to `current`,
/// defaulted, with the writer's fields recorded when `ownership` says so; not yet validated.
fn updated_object(
    request: &WriteRequest<'_>,
    current: &Value,
    mut candidate: Value,
    ownership: Ownership,
) -> Value {
    let resource = request.resource();
    defaults::drop_nulls(&mut candidate);
    let mut updated = match request.target.subresource {
        Some(Subresource::Scale) => scale::apply_to_deployment(current, &candidate),
        Some(Subresource::Status) => {
            let mut updated = current.clone();
            let root = updated.as_object_mut().expect("stored objects are objects");
            match candidate.get("status") {
                Some(status) => root.insert("status".into(), status.clone()),
                None => root.remove("status"),
            };
            updated
        }
        _ => {
            let mut updated = candidate;
            updated["kind"] = json!(resource.kind);
            updated["apiVersion"] = json!(resource.api_version());
            let kept = object::metadata(current).cloned().unwrap_or_default();
            let metadata = object::metadata_mut(&mut updated);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                match kept.get(field) {
                    Some(value) => metadata.insert(field.into(), value.clone()),
                    None => metadata.remove(field),
                };
            }
            if resource.has_subresource(Subresource::Status) {
                let root = updated
                    .as_object_mut()
                    .expect("metadata_mut made an object");
                match current.get("status") {
                    Some(status) => root.insert("status".into(), status.clone()),
                    None => root.remove("status"),
                };
            }
            updated
        }
    };
    defaults::apply(resource, &mut updated);
    if ownership == Ownership::Update {
        let (manager, name) = request.field_manager();
        manager.update(Some(current), &mut updated, name);
    }
    defaults::allocate(resource, &mut updated, Some(current));
    bump_generation_if_changed(resource, current, &mut updated);
    updated
}

/// Read, compute, admit, commit; recomputed when the object changed in between (as
/// kube-apiserver's GuaranteedUpdate does), so a stale resourceVersion in the request is a 409.
async fn modify(
    request: &WriteRequest<'_>,
    compute: impl Fn(&Value) -> ApiResult<Value>,
    ownership: Ownership,
) -> Outcome {
    let resource = request.resource();
    let name = request.name();
    let key = request.key(name);
    for _ in 0..MAX_ATTEMPTS {
        let current = request
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        let current_rv = object::resource_version(&current).unwrap_or_default();
        let view = endpoint_view(request.target.subresource, &current);
        let candidate = compute(&view)?;
        if object::meta_str(&candidate, "resourceVersion")
            .is_some_and(|rv| !rv.is_empty() && rv != current_rv.to_string())
        {
            return Err(ApiError::conflict(resource, name).into());
        }
        let updated = |candidate, ownership| {
            let mut updated = updated_object(request, &current, candidate, ownership);
            // The object keeps the resourceVersion it was read at until it is stored.
            object::set_resource_version(&mut updated, current_rv);
            updated
        };
        // Ownership is settled on the write as sent: what mutating webhooks change belongs
        // to nobody, so the admitted object takes these managedFields.
        let owned = updated(candidate, ownership);
        let managed_fields = owned["metadata"].get("managedFields").cloned();
        let proposed = endpoint_view(request.target.subresource, &owned);
        let settle = |admitted| {
            let mut updated = updated(admitted, Ownership::Applied);
            let metadata = object::metadata_mut(&mut updated);
            match managed_fields {
                Some(fields) => metadata.insert("managedFields".into(), fields),
                None => metadata.remove("managedFields"),
            };
            validation::validate(resource, &updated)?;
            Ok(updated)
        };
        let (updated, warnings) = request
            .admit(
                Operation::Update,
                name,
                proposed,
                Some(&view),
                &request.options("UpdateOptions"),
                settle,
            )
            .await?;
        if request.dry_run() {
            let admitted = endpoint_view(request.target.subresource, &updated);
            return Ok(Reply::ok(admitted).with_warnings(warnings));
        }
        match request.store.update(&key, current_rv, updated) {
            Ok(stored) => {
                return Ok(
                    Reply::ok(endpoint_view(request.target.subresource, &stored))
                        .with_warnings(warnings),
                );
            }
            Err(CommitError::Changed) => continue,
            Err(_) => {
                return Err(Failure {
                    error: ApiError::not_found(resource, name),
                    warnings,
                });
            }
        }
    }
    Err(ApiError::conflict(resource, name).into())
}

/// `DeleteOptions` from the body (kubectl sends `{"propagationPolicy":"Background"}`) and query.
fn delete_options(request: &WriteRequest<'_>) -> ApiResult<Value> {
    let body: Value = if request.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        decode_body(request.body, request.content_type)?
    };
    let mut options = json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"});
    for field in [
        "gracePeriodSeconds",
        "preconditions",
        "propagationPolicy",
        "orphanDependents",
    ] {
        if let Some(value) = body.get(field).filter(|v| !v.is_null()) {
            options[field] = value.clone();
        }
    }
    if let Some(policy) = request.query.get("propagationPolicy") {
        options["propagationPolicy"] = json!(policy);
    }
    let body_dry_run = body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty());
    if request.dry_run() || body_dry_run {
        options["dryRun"] = json!(["All"]);
    }
    Ok(options)
}

pub async fn delete(request: &WriteRequest<'_>) -> Outcome {
    let resource = request.resource();
    if request.target.subresource.is_some() {
        return Err(ApiError::method_not_allowed().into());
    }
    let name = request.name();
    let key = request.key(name);
    let options = delete_options(request)?;
    let dry_run = options.get("dryRun").is_some();
    for _ in 0..MAX_ATTEMPTS {
        let current = request
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        let current_rv = object::resource_version(&current).unwrap_or_default();
        let precondition = |field: &str| {
            options
                .pointer(&format!("/preconditions/{field}"))
                .and_then(Value::as_str)
        };
        if precondition("uid").is_some_and(|uid| Some(uid) != object::meta_str(&current, "uid"))
            || precondition("resourceVersion").is_some_and(|rv| rv != current_rv.to_string())
        {
            return Err(ApiError::conflict(resource, name).into());
        }
        let warnings = request.admit_delete(name, &current, &options).await?;
        let deleted = if dry_run {
            current
        } else {
            match request.store.delete(&key, current_rv) {
                Ok(deleted) => deleted,
                Err(CommitError::Changed) => continue,
                Err(_) => return Err(ApiError::not_found(resource, name).into()),
            }
        };
        if !dry_run && resource.plural == "namespaces" && resource.group.is_empty() {
            request.store.delete_namespace_contents(name);
        }
        let reply = if resource.delete_returns_object {
            Reply::ok(deleted)
        } else {
            let uid = object::meta_str(&deleted, "uid").map(str::to_string);
            Reply::status(StatusCode::OK, Status::deleted(resource, name, uid))
        };
        return Ok(reply.with_warnings(warnings));
    }
    Err(ApiError::conflict(resource, name).into())
}
