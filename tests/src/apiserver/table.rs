//! Server-side printing: `meta.k8s.io/v1 Table` for `kubectl get`, and the
//! PartialObjectMetadata views kube-rs metadata watchers ask for.

use serde_json::{Value, json};

use super::object;
use super::resources::ResourceType;

/// What the Accept header asks a GET, LIST or WATCH to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    PartialObjectMetadata,
}

impl Representation {
    pub fn from_accept(accept: &str) -> Self {
        let first = accept.split(',').next().unwrap_or_default();
        let wants = |name: &str| {
            first
                .split(';')
                .any(|param| param.trim() == format!("as={name}"))
                && first.contains("g=meta.k8s.io")
        };
        if wants("Table") {
            Representation::Table
        } else if wants("PartialObjectMetadata") || wants("PartialObjectMetadataList") {
            Representation::PartialObjectMetadata
        } else {
            Representation::Object
        }
    }
}

pub fn partial_metadata(item: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": item.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

pub fn partial_metadata_list(items: &[Value], resource_version: u64) -> Value {
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "items": items.iter().map(partial_metadata).collect::<Vec<_>>(),
    })
}

struct Column {
    name: &'static str,
    /// The OpenAPI type of the cells: `string` or `integer`.
    cell_type: &'static str,
    description: &'static str,
    priority: u8,
    cell: fn(&Value) -> Value,
}

const NAME: Column = Column {
    name: "Name",
    cell_type: "string",
    description: "Name must be unique within a namespace.",
    priority: 0,
    cell: |o| json!(object::name(o).unwrap_or_default()),
};

/// The Age column; its cell is filled from `creationTimestamp` at print time.
const AGE_COLUMN: &str = "Age";

fn columns(resource: &ResourceType) -> Vec<Column> {
    let mut columns = vec![NAME];
    match (resource.group, resource.kind) {
        ("apps", "Deployment") => columns.extend([
            Column {
                name: "Ready",
        cell_type: "string",
                description: "Number of the pod with ready state",
                priority: 0,
                cell: |o| {
                    let ready = object::at(o, &["status", "readyReplicas"])
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    let desired = object::at(o, &["spec", "replicas"])
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    json!(format!("{ready}/{desired}"))
                },
            },
            Column {
                name: "Up-to-date",
        cell_type: "integer",
                description: "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
                priority: 0,
                cell: |o| integer(o, &["status", "updatedReplicas"]),
            },
            Column {
                name: "Available",
        cell_type: "integer",
                description: "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
                priority: 0,
                cell: |o| integer(o, &["status", "availableReplicas"]),
            },
            age_column(),
            Column {
                name: "Containers",
        cell_type: "string",
                description: "Names of each container in the template.",
                priority: 1,
                cell: |o| json!(containers(o, "name")),
            },
            Column {
                name: "Images",
        cell_type: "string",
                description: "Images referenced by each container in the template.",
                priority: 1,
                cell: |o| json!(containers(o, "image")),
            },
            Column {
                name: "Selector",
        cell_type: "string",
                description: "Label selector for pods.",
                priority: 1,
                cell: |o| {
                    json!(selector_text(
                        object::at(o, &["spec", "selector", "matchLabels"])
                    ))
                },
            },
        ]),
        ("", "Service") => columns.extend([
            Column {
                name: "Type",
        cell_type: "string",
                description: "type determines how the Service is exposed.",
                priority: 0,
                cell: |o| string(o, &["spec", "type"]),
            },
            Column {
                name: "Cluster-IP",
        cell_type: "string",
                description: "clusterIP is the IP address of the service.",
                priority: 0,
                cell: |o| string(o, &["spec", "clusterIP"]),
            },
            Column {
                name: "External-IP",
        cell_type: "string",
                description: "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                priority: 0,
                cell: |_| json!("<none>"),
            },
            Column {
                name: "Port(s)",
        cell_type: "string",
                description: "The list of ports that are exposed by this service.",
                priority: 0,
                cell: service_ports,
            },
            age_column(),
            Column {
                name: "Selector",
        cell_type: "string",
                description: "Route service traffic to pods with label keys and values matching this selector.",
                priority: 1,
                cell: |o| json!(selector_text(object::at(o, &["spec", "selector"]))),
            },
        ]),
        ("", "Pod") => columns.extend([
            Column {
                name: "Ready",
                cell_type: "string",
                description: "The aggregate readiness state of this pod for accepting traffic.",
                priority: 0,
                cell: |o| {
                    let statuses = container_statuses(o);
                    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
                    json!(format!("{ready}/{}", statuses.len()))
                },
            },
            Column {
                name: "Status",
                cell_type: "string",
                description: "The aggregate status of the containers in this pod.",
                priority: 0,
                cell: |o| string(o, &["status", "phase"]),
            },
            Column {
                name: "Restarts",
                cell_type: "string",
                description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                priority: 0,
                cell: |o| {
                    let restarts: i64 = container_statuses(o)
                        .iter()
                        .filter_map(|s| s["restartCount"].as_i64())
                        .sum();
                    json!(restarts.to_string())
                },
            },
            age_column(),
            Column {
                name: "IP",
                cell_type: "string",
                description: "IP address assigned to the pod",
                priority: 1,
                cell: |o| string(o, &["status", "podIP"]),
            },
        ]),
        ("", "Namespace") => columns.extend([
            Column {
                name: "Status",
        cell_type: "string",
                description: "The status of the namespace",
                priority: 0,
                cell: |o| string(o, &["status", "phase"]),
            },
            age_column(),
        ]),
        ("", "ConfigMap") | ("", "Secret") => columns.extend([
            Column {
                name: "Data",
        cell_type: "integer",
                description: "Number of entries in the data.",
                priority: 0,
                cell: |o| {
                    let entries = |key| o.get(key).and_then(Value::as_object).map_or(0, |m| m.len());
                    json!(entries("data") + entries("binaryData") + entries("stringData"))
                },
            },
            age_column(),
        ]),
        ("networking.k8s.io", "NetworkPolicy") => columns.extend([
            Column {
                name: "Pod-Selector",
        cell_type: "string",
                description: "Selects the pods to which this NetworkPolicy object applies.",
                priority: 0,
                cell: |o| {
                    let text = selector_text(object::at(o, &["spec", "podSelector", "matchLabels"]));
                    json!(if text == "<none>" { String::new() } else { text })
                },
            },
            age_column(),
        ]),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => columns.extend([
            Column {
                name: "Webhooks",
        cell_type: "integer",
                description: "Webhooks is a list of webhooks and the affected resources and operations.",
                priority: 0,
                cell: |o| json!(o.get("webhooks").and_then(Value::as_array).map_or(0, Vec::len)),
            },
            age_column(),
        ]),
        _ => columns.push(age_column()),
    }
    columns
}

fn container_statuses(o: &Value) -> Vec<Value> {
    object::at(o, &["status", "containerStatuses"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn age_column() -> Column {
    Column {
        name: AGE_COLUMN,
        cell_type: "string",
        description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
        priority: 0,
        cell: |_| Value::Null,
    }
}

fn integer(o: &Value, path: &[&str]) -> Value {
    json!(object::at(o, path).and_then(Value::as_i64).unwrap_or(0))
}

fn string(o: &Value, path: &[&str]) -> Value {
    json!(
        object::at(o, path)
            .and_then(Value::as_str)
            .unwrap_or_default()
    )
}

fn containers(o: &Value, field: &str) -> String {
    object::at(o, &["spec", "template", "spec", "containers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get(field).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

fn selector_text(labels: Option<&Value>) -> String {
    let pairs: Vec<String> = labels
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

fn service_ports(o: &Value) -> Value {
    let ports: Vec<String> = object::at(o, &["spec", "ports"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    json!(if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    })
}

/// A Table of `items`; rows carry PartialObjectMetadata objects like kube-apiserver's default.
pub fn table(
    resource: &ResourceType,
    items: &[Value],
    resource_version: u64,
    now: jiff::Timestamp,
) -> Value {
    let columns = columns(resource);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.cell_type,
                "format": if c.name == "Name" { "name" } else { "" },
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|c| {
                    if c.name == AGE_COLUMN {
                        json!(age(item, now))
                    } else {
                        (c.cell)(item)
                    }
                })
                .collect();
            json!({"cells": cells, "object": partial_metadata(item)})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn age(item: &Value, now: jiff::Timestamp) -> String {
    object::meta_str(item, "creationTimestamp")
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|created| human_duration(now.as_second() - created.as_second()))
        .unwrap_or_else(|| "<unknown>".to_string())
}

/// apimachinery's `duration.HumanDuration`, which kubectl prints in AGE columns.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    let with_rest = |major: i64, major_unit: &str, minor: i64, minor_unit: &str| {
        if minor == 0 {
            format!("{major}{major_unit}")
        } else {
            format!("{major}{major_unit}{minor}{minor_unit}")
        }
    };
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => with_rest(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => with_rest(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => with_rest(days, "d", hours % 24, "h"),
        _ if days < 365 * 2 => format!("{days}d"),
        _ if days < 365 * 8 => with_rest(years, "y", days % 365, "d"),
        _ => format!("{years}y"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(282), "4m42s");
        assert_eq!(human_duration(387), "6m27s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }

    #[test]
    fn accept_headers_pick_the_representation() {
        assert_eq!(
            Representation::from_accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Representation::Table
        );
        assert_eq!(
            Representation::from_accept(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            ),
            Representation::PartialObjectMetadata
        );
        assert_eq!(
            Representation::from_accept("application/json"),
            Representation::Object
        );
    }
}
