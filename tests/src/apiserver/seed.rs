//! Test set-up writes that bypass authentication and admission, as an administrator with no
//! webhooks registered (or a controller) would make them: seeding objects, and writing the
//! Deployment status that no controller writes here.

use serde_json::{Value, json};

use super::defaults;
use super::fieldmanager::FieldManager;
use super::object;
use super::pods;
use super::resources::{self, ResourceType};
use super::store::{CommitError, ObjectKey, Store};
use super::validation;
use super::write::bump_generation_if_changed;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the test API server does not serve {api_version} {kind}")]
    UnknownKind { api_version: String, kind: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{resource} {namespace}/{name} not found")]
    NotFound {
        resource: String,
        namespace: String,
        name: String,
    },
    #[error("{0} changed concurrently; retry")]
    Conflict(String),
}

fn resource_of(manifest: &Value) -> Result<&'static ResourceType, SeedError> {
    let api_version = manifest
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = manifest
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    resources::find_kind(api_version, kind).ok_or_else(|| SeedError::UnknownKind {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
    })
}

/// Creates or replaces an object from a manifest, status included (a namespaced object without
/// a namespace goes to `default`). Its `managedFields` are the manifest's, plus an `Update` by
/// `manager` when given: none unless either, like an object whose field managers were cleared.
/// Returns the stored object.
pub fn put(store: &Store, manifest: &Value, manager: Option<&str>) -> Result<Value, SeedError> {
    let resource = resource_of(manifest)?;
    let mut object = manifest.clone();
    defaults::drop_nulls(&mut object);
    let namespace = resource
        .namespaced
        .then(|| object::namespace(&object).unwrap_or("default").to_string());
    let name = object::name(&object)
        .ok_or_else(|| SeedError::Invalid("metadata.name is required".into()))?
        .to_string();
    let metadata = object::metadata_mut(&mut object);
    metadata.remove("resourceVersion");
    match &namespace {
        Some(ns) => metadata.insert("namespace".into(), json!(ns)),
        None => metadata.remove("namespace"),
    };
    let key = ObjectKey::new(resource, namespace.as_deref(), &name);
    let current = store.get(&key);
    let metadata = object::metadata_mut(&mut object);
    let kept = current
        .as_ref()
        .and_then(object::metadata)
        .cloned()
        .unwrap_or_default();
    let uid = kept
        .get("uid")
        .cloned()
        .unwrap_or_else(|| json!(object::new_uid()));
    let created = kept
        .get("creationTimestamp")
        .cloned()
        .unwrap_or_else(|| json!(object::now_timestamp()));
    metadata.insert("uid".into(), uid);
    metadata.insert("creationTimestamp".into(), created);
    if resource.generation != resources::GenerationPolicy::None {
        metadata.insert("generation".into(), json!(1));
    }
    if let Some(current) = &current {
        // A manifest without status keeps the status a controller (or a test) wrote.
        if object.get("status").is_none()
            && let Some(status) = current.get("status")
        {
            object["status"] = status.clone();
        }
    }
    defaults::apply(resource, &mut object);
    if let Some(manager) = manager {
        FieldManager::new(resource, None).update(current.as_ref(), &mut object, manager);
    }
    defaults::allocate(resource, &mut object, current.as_ref());
    if let Some(current) = &current {
        bump_generation_if_changed(resource, current, &mut object);
    }
    validation::validate(resource, &object)
        .map_err(|err| SeedError::Invalid(err.status.message.unwrap_or_default()))?;
    let result = match current {
        Some(current) => {
            let rv = object::resource_version(&current).unwrap_or_default();
            store.update(&key, rv, object)
        }
        None => store.create(key, object),
    };
    result.map_err(|_| SeedError::Conflict(name))
}

/// Replaces a Deployment's `status` (what the deployment controller would write) and makes its
/// Pods match it (what the ReplicaSet controller and kubelets would do).
pub fn set_deployment_status(
    store: &Store,
    namespace: &str,
    name: &str,
    status: impl Fn(&Value) -> Value,
) -> Result<Value, SeedError> {
    let key = ObjectKey::new(resources::deployments(), Some(namespace), name);
    loop {
        let current = store.get(&key).ok_or_else(|| SeedError::NotFound {
            resource: "deployments.apps".into(),
            namespace: namespace.into(),
            name: name.into(),
        })?;
        let mut updated = current.clone();
        updated["status"] = status(&current);
        let rv = object::resource_version(&current).unwrap_or_default();
        match store.update(&key, rv, updated) {
            Err(CommitError::Changed) => continue,
            Err(_) => return Err(SeedError::Conflict(name.to_string())),
            Ok(deployment) => {
                pods::sync(store, &deployment)?;
                return Ok(deployment);
            }
        }
    }
}

fn replicas(deployment: &Value) -> i64 {
    object::at(deployment, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The status of a Deployment whose current generation has fully rolled out and is available.
pub fn rolled_out_status(deployment: &Value) -> Value {
    let replicas = replicas(deployment);
    let name = object::name(deployment).unwrap_or_default();
    let now = object::now_timestamp();
    json!({
        "observedGeneration": object::generation(deployment).unwrap_or(1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now,
             "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now,
             "reason": "NewReplicaSetAvailable",
             "message": format!("ReplicaSet \"{name}\" has successfully progressed.")}
        ]
    })
}

/// The status of a Deployment whose pods exist but none is ready yet.
pub fn not_ready_status(deployment: &Value) -> Value {
    let replicas = replicas(deployment);
    let name = object::name(deployment).unwrap_or_default();
    let now = object::now_timestamp();
    json!({
        "observedGeneration": object::generation(deployment).unwrap_or(1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "unavailableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "False", "lastUpdateTime": now, "lastTransitionTime": now,
             "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now,
             "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{name}\" is progressing.")}
        ]
    })
}
