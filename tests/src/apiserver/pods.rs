//! A stand-in for the ReplicaSet controller and the kubelet, which do not run here: whenever a
//! test helper writes a Deployment's status, the Deployment's Pods are made to match it, as the
//! controllers would leave them (`status.replicas` Pods of the current template, the first
//! `status.readyReplicas` of them Ready). There are no ReplicaSet objects and no garbage
//! collection; all Pods carry the current template's hash, also mid-rollout.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::object;
use super::resources;
use super::seed::SeedError;
use super::selector::LabelSelector;
use super::store::{CommitError, ObjectKey, Store};

/// Every Pod of the stand-in answers on this address; tests route its traffic with
/// `TestApiServer::route_proxy`.
pub const POD_IP: &str = "127.0.0.1";

/// The characters Kubernetes uses for generated names (`rand.SafeEncodeString`: no vowels, no
/// look-alikes).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// `pod-template-hash`: like the deployment controller, a hash of the pod template, encoded
/// with the safe alphabet.
pub fn template_hash(deployment: &Value) -> String {
    let template = object::at(deployment, &["spec", "template"]).unwrap_or(&Value::Null);
    safe_encode(&fnv32a(template.to_string().as_bytes()).to_string())
}

/// `<deployment>-<hash>-<suffix>`; the suffix is random in Kubernetes, derived here so that
/// names are stable across calls.
fn pod_name(deployment: &str, hash: &str, index: i64) -> String {
    let digits = fnv32a(format!("{deployment}-{hash}-{index}").as_bytes()).to_string();
    let suffix = safe_encode(&digits);
    format!(
        "{deployment}-{hash}-{}",
        &suffix[suffix.len().saturating_sub(5)..]
    )
}

fn key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(resources::pods(), Some(namespace), name)
}

fn count(deployment: &Value, field: &str) -> i64 {
    object::at(deployment, &["status", field])
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The Pods of a Deployment (those its selector matches), sorted by name.
pub fn of_deployment(store: &Store, deployment: &Value) -> Result<Vec<Value>, SeedError> {
    let selector = LabelSelector::from_object(object::at(deployment, &["spec", "selector"]))
        .map_err(SeedError::Invalid)?;
    let namespace = object::namespace(deployment);
    let (pods, _) = store.list(resources::pods(), namespace);
    Ok(pods
        .into_iter()
        .filter(|pod| selector.matches(&object::labels(pod)))
        .collect())
}

/// Makes the Deployment's Pods match its status: creates missing ones, updates readiness,
/// deletes the rest. Restart counts survive.
pub fn sync(store: &Store, deployment: &Value) -> Result<(), SeedError> {
    let namespace = object::namespace(deployment).unwrap_or("default");
    let name = object::name(deployment).unwrap_or_default();
    let hash = template_hash(deployment);
    let ready = count(deployment, "readyReplicas");
    let wanted: Vec<String> = (0..count(deployment, "replicas"))
        .map(|index| pod_name(name, &hash, index))
        .collect();
    for pod in of_deployment(store, deployment)? {
        let pod_name = object::name(&pod).unwrap_or_default();
        if !wanted.iter().any(|w| w == pod_name) {
            let rv = object::resource_version(&pod).unwrap_or_default();
            // Already gone or changed concurrently: the next sync deletes it.
            let _ = store.delete(&key(namespace, pod_name), rv);
        }
    }
    for (index, pod_name) in (0..).zip(&wanted) {
        update(store, namespace, pod_name, |current| {
            Some(pod(deployment, &hash, pod_name, index < ready, current))
        })?;
    }
    Ok(())
}

/// Adds one restart to every container of a Pod (a crash the kubelet recovered from).
pub fn bump_restart_count(store: &Store, namespace: &str, name: &str) -> Result<Value, SeedError> {
    update(store, namespace, name, |current| {
        let mut pod = current?.clone();
        let now = object::now_timestamp();
        for status in pod["status"]["containerStatuses"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let restarts = status["restartCount"].as_i64().unwrap_or(0);
            status["restartCount"] = json!(restarts + 1);
            status["lastState"] = json!({"terminated": {
                "exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}});
        }
        Some(pod)
    })?
    .ok_or_else(|| SeedError::NotFound {
        resource: "pods".into(),
        namespace: namespace.into(),
        name: name.into(),
    })
}

/// Writes `change(current)` (`None`: leave it), retrying when the Pod changed meanwhile.
fn update(
    store: &Store,
    namespace: &str,
    name: &str,
    change: impl Fn(Option<&Value>) -> Option<Value>,
) -> Result<Option<Value>, SeedError> {
    let key = key(namespace, name);
    loop {
        let current = store.get(&key);
        let Some(wanted) = change(current.as_ref()) else {
            return Ok(None);
        };
        let result = match &current {
            Some(current) => {
                store.update(&key, object::resource_version(current).unwrap_or(0), wanted)
            }
            None => store.create(key.clone(), wanted),
        };
        match result {
            Err(CommitError::Changed | CommitError::AlreadyExists | CommitError::NotFound) => {}
            Ok(pod) => return Ok(Some(pod)),
        }
    }
}

/// A Pod of the Deployment's current template, running on [`POD_IP`]; `previous` keeps its
/// identity, start time, restart counts and unchanged condition times.
fn pod(deployment: &Value, hash: &str, name: &str, ready: bool, previous: Option<&Value>) -> Value {
    let now = object::now_timestamp();
    let template = object::at(deployment, &["spec", "template"]).unwrap_or(&Value::Null);
    let deployment_name = object::name(deployment).unwrap_or_default();
    let mut labels = template["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!(hash);
    let kept = |path: &[&str], default: Value| {
        previous
            .and_then(|p| object::at(p, path))
            .cloned()
            .unwrap_or(default)
    };
    let mut metadata = json!({
        "name": name,
        "generateName": format!("{deployment_name}-{hash}-"),
        "namespace": object::namespace(deployment),
        "uid": kept(&["metadata", "uid"], json!(object::new_uid())),
        "creationTimestamp": kept(&["metadata", "creationTimestamp"], json!(now)),
        "labels": labels,
    });
    if let Some(annotations) = template["metadata"].get("annotations") {
        metadata["annotations"] = annotations.clone();
    }
    let restarts: BTreeMap<String, Value> = previous
        .and_then(|p| object::at(p, &["status", "containerStatuses"]))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["name"].as_str()?.to_string(), s.clone())))
        .collect();
    let containers = template["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let started = kept(&["status", "startTime"], json!(now));
    let container_statuses: Vec<Value> = containers
        .iter()
        .map(|container| {
            let container_name = container["name"].as_str().unwrap_or_default();
            let before = restarts.get(container_name);
            let mut status = json!({
                "name": container_name,
                "state": {"running": {"startedAt": started}},
                "ready": ready,
                "restartCount": before.and_then(|b| b["restartCount"].as_i64()).unwrap_or(0),
                "image": container["image"],
                "imageID": "",
                "started": true,
            });
            if let Some(last) = before.and_then(|b| b.get("lastState")) {
                status["lastState"] = last.clone();
            }
            status
        })
        .collect();
    let unready: Vec<&str> = containers
        .iter()
        .filter(|_| !ready)
        .filter_map(|c| c["name"].as_str())
        .collect();
    let condition = |kind: &str, is_true: bool| {
        let status = if is_true { "True" } else { "False" };
        let previous_condition = previous
            .and_then(|p| object::at(p, &["status", "conditions"]))
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .find(|c| c["type"] == kind && c["status"] == status)
            });
        let mut condition = json!({
            "type": kind, "status": status, "lastProbeTime": null,
            "lastTransitionTime": previous_condition
                .map_or(json!(now), |c| c["lastTransitionTime"].clone()),
        });
        if !is_true {
            condition["reason"] = json!("ContainersNotReady");
            condition["message"] = json!(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            ));
        }
        condition
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template["spec"],
        "status": {
            "phase": "Running",
            "conditions": [
                condition("Initialized", true),
                condition("Ready", ready),
                condition("ContainersReady", ready),
                condition("PodScheduled", true),
            ],
            "hostIP": POD_IP,
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "startTime": started,
            "containerStatuses": container_statuses,
            "qosClass": "BestEffort",
        },
    })
}

/// Whether a Pod counts as a ready endpoint (what the EndpointSlice controller would publish).
pub fn is_ready(pod: &Value) -> bool {
    object::at(pod, &["status", "conditions"])
        .and_then(Value::as_array)
        .is_some_and(|all| {
            all.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_look_like_the_controllers_and_stay_stable() {
        let deployment = json!({"spec": {"template": {"metadata": {"labels": {"app": "api"}}}}});
        let hash = template_hash(&deployment);
        assert!(hash.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{hash}");
        assert_eq!(hash, template_hash(&deployment.clone()));
        let name = pod_name("app-blue", &hash, 0);
        assert!(name.starts_with(&format!("app-blue-{hash}-")));
        assert_eq!(name.len(), "app-blue-".len() + hash.len() + 6);
        assert_ne!(name, pod_name("app-blue", &hash, 1));
    }
}
