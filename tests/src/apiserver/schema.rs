//! The parts of the Kubernetes schema that merging needs: which objects are structs (named
//! fields), free-key maps or atomic, and which lists merge item by item and by which keys.
//! Strategic merge patch and server-side apply read the same table, so they cannot disagree.
//!
//! The list keys are the `+listType=map` / `+listMapKey` (and `+patchMergeKey`) markers of the
//! Go types in k8s.io/api, which kube-apiserver publishes in its OpenAPI as
//! `x-kubernetes-list-type` / `x-kubernetes-list-map-keys` / `x-kubernetes-patch-merge-key`;
//! atomic maps and structs are its `+mapType=atomic` / `+structType=atomic` markers. A list
//! without a marker is atomic. Custom resources follow their CRD's structural schema: objects
//! are structs, lists atomic (no CRD served here says otherwise), metadata as for any object.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// The schema of one kind of object, as addressed by an endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    group: &'static str,
    kind: &'static str,
    custom: bool,
}

/// How an object (a JSON map) merges and is owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectShape {
    /// Named fields, each merged and owned on its own.
    Struct,
    /// Free keys (labels, ConfigMap data), each merged and owned on its own.
    Map,
    /// Replaced and owned as a whole (`Service.spec.selector`, label selectors).
    Atomic,
}

/// One key of an associative list, with the schema default used when an item omits it.
#[derive(Debug, PartialEq, Eq)]
pub struct ListKey {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

/// How a list merges and is owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListShape {
    /// Replaced and owned as a whole.
    Atomic,
    /// A set of scalars (`finalizers`), each owned on its own.
    Set,
    /// Items identified by these keys; the first is strategic merge patch's `patchMergeKey`.
    Map(&'static [ListKey]),
}

const fn key(name: &'static str) -> ListKey {
    ListKey {
        name,
        default: None,
    }
}

const BY_NAME: &[ListKey] = &[key("name")];
const BY_TYPE: &[ListKey] = &[key("type")];
const BY_UID: &[ListKey] = &[key("uid")];
const BY_IP: &[ListKey] = &[key("ip")];
const BY_MOUNT_PATH: &[ListKey] = &[key("mountPath")];
const BY_DEVICE_PATH: &[ListKey] = &[key("devicePath")];
const BY_TOPOLOGY: &[ListKey] = &[key("topologyKey"), key("whenUnsatisfiable")];
const BY_CONTAINER_PORT: &[ListKey] = &[
    key("containerPort"),
    ListKey {
        name: "protocol",
        default: Some("TCP"),
    },
];
const BY_SERVICE_PORT: &[ListKey] = &[
    key("port"),
    ListKey {
        name: "protocol",
        default: Some("TCP"),
    },
];

impl Schema {
    pub fn of(resource: &ResourceType) -> Self {
        Schema {
            group: resource.group,
            kind: resource.kind,
            custom: resource.custom,
        }
    }

    /// `autoscaling/v1 Scale`, the view of the `scale` subresource.
    pub const SCALE: Schema = Schema {
        group: "autoscaling",
        kind: "Scale",
        custom: false,
    };

    /// The shape of the object at `path` (field names from the root, list items left out).
    pub fn object_shape(&self, path: &[&str]) -> ObjectShape {
        let (field, parent) = last_two(path);
        match (field, parent) {
            ("labels" | "annotations", Some("metadata")) => ObjectShape::Map,
            ("matchLabels", _) => ObjectShape::Map,
            _ if self.custom => ObjectShape::Struct,
            ("data" | "stringData" | "binaryData", None) => ObjectShape::Map,
            ("limits" | "requests", Some("resources")) => ObjectShape::Map,
            // `Service.spec.selector` and `nodeSelector` are `+mapType=atomic` maps;
            // metav1.LabelSelector is a `+structType=atomic` struct wherever it is used.
            ("selector" | "podSelector" | "namespaceSelector" | "objectSelector", _) => {
                ObjectShape::Atomic
            }
            ("nodeSelector", _) => ObjectShape::Atomic,
            _ => ObjectShape::Struct,
        }
    }

    /// The shape of the list at `path` (field names from the root, list items left out).
    pub fn list_shape(&self, path: &[&str]) -> ListShape {
        let (field, parent) = last_two(path);
        let in_container = matches!(
            parent,
            Some("containers" | "initContainers" | "ephemeralContainers")
        );
        match (field, parent) {
            ("finalizers", Some("metadata")) => ListShape::Set,
            ("ownerReferences", Some("metadata")) => ListShape::Map(BY_UID),
            _ if self.custom => ListShape::Atomic,
            ("containers" | "initContainers" | "ephemeralContainers", Some("spec")) => {
                ListShape::Map(BY_NAME)
            }
            ("volumes" | "imagePullSecrets" | "resourceClaims", Some("spec")) => {
                ListShape::Map(BY_NAME)
            }
            ("hostAliases", Some("spec")) => ListShape::Map(BY_IP),
            ("topologySpreadConstraints", Some("spec")) => ListShape::Map(BY_TOPOLOGY),
            ("env" | "resizePolicy", _) if in_container => ListShape::Map(BY_NAME),
            ("volumeMounts", _) if in_container => ListShape::Map(BY_MOUNT_PATH),
            ("volumeDevices", _) if in_container => ListShape::Map(BY_DEVICE_PATH),
            ("ports", _) if in_container => ListShape::Map(BY_CONTAINER_PORT),
            ("ports", Some("spec")) if self.kind == "Service" && path.len() == 2 => {
                ListShape::Map(BY_SERVICE_PORT)
            }
            ("conditions", Some("status")) => ListShape::Map(BY_TYPE),
            ("webhooks", None) if self.kind.ends_with("WebhookConfiguration") => {
                ListShape::Map(BY_NAME)
            }
            _ => ListShape::Atomic,
        }
    }

    /// The object a Go client would send for a zero value of this kind, as field managers compare
    /// against on create: value structs are present (`{}`), fields without `omitempty` are
    /// `null`, everything else absent. (A map or list absent here is "added" by a create, which
    /// shows as `"."` in the creator's `fieldsV1`.)
    pub fn empty_object(&self) -> Value {
        let metadata = json!({"creationTimestamp": null});
        match (self.group, self.kind) {
            _ if self.custom => json!({}),
            (_, "Service") => {
                json!({"metadata": metadata, "spec": {}, "status": {"loadBalancer": {}}})
            }
            (_, "Deployment") => json!({"metadata": metadata, "spec": {
                "selector": null, "strategy": {},
                "template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": null}}
            }, "status": {}}),
            (_, "Pod") => json!({"metadata": metadata, "spec": {"containers": null}, "status": {}}),
            (_, "Namespace") => json!({"metadata": metadata, "spec": {}, "status": {}}),
            (_, "NetworkPolicy") => json!({"metadata": metadata, "spec": {"podSelector": {}}}),
            (_, "HorizontalPodAutoscaler") => {
                json!({"metadata": metadata, "spec": {"scaleTargetRef": {}}, "status": {}})
            }
            ("", "Event") => json!({"metadata": metadata, "involvedObject": {}, "source": {}}),
            // events.k8s.io/v1: `eventTime` has no omitempty; `regarding` and
            // `deprecatedSource` are value structs.
            ("events.k8s.io", "Event") => json!({"metadata": metadata, "eventTime": null,
                "regarding": {}, "deprecatedSource": {}}),
            _ => json!({ "metadata": metadata }),
        }
    }
}

fn last_two<'a>(path: &[&'a str]) -> (&'a str, Option<&'a str>) {
    match path {
        [.., parent, field] => (field, Some(parent)),
        [field] => (field, None),
        [] => ("", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;

    #[test]
    fn service_ports_are_keyed_by_port_and_protocol_and_its_selector_is_atomic() {
        let service = Schema::of(resources::services());
        assert_eq!(
            service.list_shape(&["spec", "ports"]),
            ListShape::Map(BY_SERVICE_PORT)
        );
        assert_eq!(
            service.object_shape(&["spec", "selector"]),
            ObjectShape::Atomic
        );
        assert_eq!(
            service.object_shape(&["metadata", "labels"]),
            ObjectShape::Map
        );
        assert_eq!(
            service.list_shape(&["spec", "clusterIPs"]),
            ListShape::Atomic
        );
    }

    #[test]
    fn pod_template_lists_merge_by_their_keys() {
        let deployment = Schema::of(resources::deployments());
        let containers = ["spec", "template", "spec", "containers"];
        assert_eq!(deployment.list_shape(&containers), ListShape::Map(BY_NAME));
        let ports = ["spec", "template", "spec", "containers", "ports"];
        assert_eq!(
            deployment.list_shape(&ports),
            ListShape::Map(BY_CONTAINER_PORT)
        );
        assert_eq!(
            deployment.object_shape(&["spec", "selector"]),
            ObjectShape::Atomic
        );
        let args = ["spec", "template", "spec", "containers", "args"];
        assert_eq!(deployment.list_shape(&args), ListShape::Atomic);
    }

    #[test]
    fn custom_resources_have_struct_objects_and_atomic_lists() {
        let route =
            Schema::of(resources::find_kind("gateway.networking.k8s.io/v1", "HTTPRoute").unwrap());
        assert_eq!(route.list_shape(&["spec", "rules"]), ListShape::Atomic);
        assert_eq!(route.object_shape(&["spec"]), ObjectShape::Struct);
        assert_eq!(
            route.list_shape(&["metadata", "finalizers"]),
            ListShape::Set
        );
    }
}
