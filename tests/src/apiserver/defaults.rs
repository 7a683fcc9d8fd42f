//! Defaulting, as kube-apiserver fills objects before admission: webhooks and clients see fully
//! defaulted objects. Scheme and CRD schema defaults ([`apply`]) come with the decoded request,
//! so its field manager owns them; what the registry sets ([`allocate`]: a Service's cluster IPs,
//! a Namespace's finalizer) comes later and belongs to nobody.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value, json};

use super::resources::{ResourceType, Subresource};

/// Fills the scheme (or CRD schema) defaults of `object` in place.
pub fn apply(resource: &ResourceType, object: &mut Value) {
    omit_empty_metadata_maps(object);
    match (resource.group, resource.kind) {
        ("apps", "Deployment") => deployment(object),
        ("", "Service") => service(object),
        ("", "Namespace") => namespace(object),
        ("", "Secret") => {
            set_missing(object, "type", json!("Opaque"));
        }
        ("networking.k8s.io", "NetworkPolicy") => network_policy(object),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            webhook_configuration(object);
            for webhook in each_in(object, "webhooks") {
                set_missing(webhook, "reinvocationPolicy", json!("Never"));
            }
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            webhook_configuration(object)
        }
        ("gateway.networking.k8s.io", "HTTPRoute") => http_route(object),
        _ => {}
    }
}

/// Go omits empty `labels`, `annotations` and `finalizers`: removing the last label removes the map.
fn omit_empty_metadata_maps(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.retain(|key, value| {
            let optional = matches!(key.as_str(), "labels" | "annotations" | "finalizers");
            let empty = match value {
                Value::Object(map) => map.is_empty(),
                Value::Array(items) => items.is_empty(),
                _ => false,
            };
            !(optional && empty)
        });
    }
}

/// Inserts `value` at `key` if the key is missing; returns the (possibly existing) entry.
fn set_missing<'a>(object: &'a mut Value, key: &str, value: Value) -> &'a mut Value {
    if !object.is_object() {
        *object = json!({});
    }
    let Value::Object(map) = object else {
        unreachable!("made an object above")
    };
    map.entry(key.to_string()).or_insert(value)
}

fn object_at<'a>(object: &'a mut Value, key: &str) -> &'a mut Value {
    let entry = set_missing(object, key, json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry
}

fn each_in<'a>(object: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    object
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(|item| item.is_object())
}

fn deployment(object: &mut Value) {
    let spec = object_at(object, "spec");
    set_missing(spec, "replicas", json!(1));
    let strategy = object_at(spec, "strategy");
    set_missing(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        let rolling = object_at(strategy, "rollingUpdate");
        set_missing(rolling, "maxUnavailable", json!("25%"));
        set_missing(rolling, "maxSurge", json!("25%"));
    }
    set_missing(spec, "revisionHistoryLimit", json!(10));
    set_missing(spec, "progressDeadlineSeconds", json!(600));
    let template = object_at(spec, "template");
    pod_spec(object_at(template, "spec"));
}

fn pod_spec(spec: &mut Value) {
    for key in ["containers", "initContainers"] {
        for container in each_in(spec, key) {
            self::container(container);
        }
    }
    set_missing(spec, "restartPolicy", json!("Always"));
    set_missing(spec, "terminationGracePeriodSeconds", json!(30));
    set_missing(spec, "dnsPolicy", json!("ClusterFirst"));
    set_missing(spec, "securityContext", json!({}));
    set_missing(spec, "schedulerName", json!("default-scheduler"));
}

fn container(container: &mut Value) {
    for port in each_in(container, "ports") {
        set_missing(port, "protocol", json!("TCP"));
    }
    set_missing(container, "resources", json!({}));
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(probe) = container.get_mut(probe).filter(|p| p.is_object()) {
            if let Some(http_get) = probe.get_mut("httpGet").filter(|h| h.is_object()) {
                set_missing(http_get, "scheme", json!("HTTP"));
            }
            set_missing(probe, "timeoutSeconds", json!(1));
            set_missing(probe, "periodSeconds", json!(10));
            set_missing(probe, "successThreshold", json!(1));
            set_missing(probe, "failureThreshold", json!(3));
        }
    }
    set_missing(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    set_missing(container, "terminationMessagePolicy", json!("File"));
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    set_missing(
        container,
        "imagePullPolicy",
        json!(image_pull_policy(image)),
    );
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise (digests count as tags).
fn image_pull_policy(image: &str) -> &'static str {
    let name = image.rsplit('/').next().unwrap_or(image);
    let tagged = name.contains('@') || name.split_once(':').is_some_and(|(_, tag)| tag != "latest");
    if tagged { "IfNotPresent" } else { "Always" }
}

/// Fills what the registry sets on create and keeps on update: a Service's cluster IPs (from
/// `previous`, the stored object, on update) and empty load-balancer status, a Namespace's
/// finalizer and phase; and the empty status every built-in kind with one always has (a Go
/// value struct).
pub fn allocate(resource: &ResourceType, object: &mut Value, previous: Option<&Value>) {
    if !resource.custom && resource.has_subresource(Subresource::Status) {
        set_missing(object, "status", empty());
    }
    match (resource.group, resource.kind) {
        ("", "Service") => service_addresses(object, previous),
        ("", "Namespace") => {
            set_missing(
                object_at(object, "spec"),
                "finalizers",
                json!(["kubernetes"]),
            );
            set_missing(object_at(object, "status"), "phase", json!("Active"));
        }
        _ => {}
    }
}

fn service(object: &mut Value) {
    let spec = object_at(object, "spec");
    set_missing(spec, "type", json!("ClusterIP"));
    set_missing(spec, "sessionAffinity", json!("None"));
    for port in each_in(spec, "ports") {
        set_missing(port, "protocol", json!("TCP"));
        if let Some(number) = port.get("port").cloned() {
            set_missing(port, "targetPort", number);
        }
    }
    if spec["type"] != "ExternalName" {
        set_missing(spec, "internalTrafficPolicy", json!("Cluster"));
    }
}

fn service_addresses(object: &mut Value, previous: Option<&Value>) {
    let spec = object_at(object, "spec");
    if spec["type"] != "ExternalName" {
        let kept = previous
            .and_then(|p| p.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let cluster_ip = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty())
            .map(str::to_string)
            .or(kept)
            .unwrap_or_else(allocate_cluster_ip);
        spec["clusterIP"] = json!(cluster_ip);
        set_missing(spec, "clusterIPs", json!([cluster_ip]));
        set_missing(spec, "ipFamilies", json!(["IPv4"]));
        set_missing(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    // LoadBalancerStatus is a value struct: Go always writes it.
    set_missing(object_at(object, "status"), "loadBalancer", json!({}));
}

/// Cluster IPs from 10.0.0.0/16, like a service CIDR.
fn allocate_cluster_ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(10);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("10.0.{}.{}", (n >> 8) & 0xff, n & 0xff)
}

fn namespace(object: &mut Value) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let metadata = object_at(object, "metadata");
    let labels = object_at(metadata, "labels");
    // kube-apiserver labels every namespace with its own name, for namespaceSelectors.
    labels["kubernetes.io/metadata.name"] = json!(name);
}

fn network_policy(object: &mut Value) {
    let spec = object_at(object, "spec");
    for direction in ["ingress", "egress"] {
        for rule in each_in(spec, direction) {
            for port in each_in(rule, "ports") {
                set_missing(port, "protocol", json!("TCP"));
            }
        }
    }
    let has_egress = spec.get("egress").is_some_and(|e| !e.is_null());
    let policy_types = if has_egress {
        json!(["Ingress", "Egress"])
    } else {
        json!(["Ingress"])
    };
    set_missing(spec, "policyTypes", policy_types);
}

fn webhook_configuration(object: &mut Value) {
    for webhook in each_in(object, "webhooks") {
        for rule in each_in(webhook, "rules") {
            set_missing(rule, "scope", json!("*"));
        }
        set_missing(webhook, "failurePolicy", json!("Fail"));
        set_missing(webhook, "matchPolicy", json!("Equivalent"));
        set_missing(webhook, "namespaceSelector", json!({}));
        set_missing(webhook, "objectSelector", json!({}));
        set_missing(webhook, "timeoutSeconds", json!(10));
    }
}

/// The Gateway API CRD's schema defaults.
fn http_route(object: &mut Value) {
    let spec = object_at(object, "spec");
    for parent in each_in(spec, "parentRefs") {
        set_missing(parent, "group", json!("gateway.networking.k8s.io"));
        set_missing(parent, "kind", json!("Gateway"));
    }
    let rules = set_missing(spec, "rules", json!([{}]));
    for rule in rules.as_array_mut().into_iter().flatten() {
        if !rule.is_object() {
            continue;
        }
        let matches = set_missing(rule, "matches", json!([{}]));
        for matched in matches.as_array_mut().into_iter().flatten() {
            if matched.is_object() {
                let path = set_missing(matched, "path", json!({}));
                if path.is_object() {
                    set_missing(path, "type", json!("PathPrefix"));
                    set_missing(path, "value", json!("/"));
                }
            }
        }
        for backend in each_in(rule, "backendRefs") {
            set_missing(backend, "group", json!(""));
            set_missing(backend, "kind", json!("Service"));
            set_missing(backend, "weight", json!(1));
        }
    }
}

/// Removes keys whose value is `null`, as decoding into typed Go structs does.
pub fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// An empty JSON object, for status resets.
pub fn empty() -> Value {
    Value::Object(Map::new())
}
