//! The resources this server serves: one table that storage, discovery, OpenAPI, tables and
//! admission all read, so they cannot disagree.

/// A subresource of a served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Status,
    Scale,
    Proxy,
    Finalize,
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Proxy => "proxy",
            Subresource::Finalize => "finalize",
        }
    }

    /// The verbs discovery lists for the subresource.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Status | Subresource::Scale => &["get", "patch", "update"],
            Subresource::Proxy => &["create", "delete", "get", "patch", "update"],
            Subresource::Finalize => &["update"],
        }
    }
}

/// When `metadata.generation` is bumped on update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationPolicy {
    /// The object has no generation (Services, ConfigMaps, ...).
    None,
    /// Any change outside metadata and status (CRs, NetworkPolicies, webhook configurations).
    SpecChange,
    /// Spec or annotation changes: Deployments copy annotations to their ReplicaSets.
    SpecOrAnnotationChange,
}

#[derive(Debug)]
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    pub storage_version_hash: Option<&'static str>,
    /// Defined by a CRD: served as unstructured JSON, no strategic merge patch.
    pub custom: bool,
    pub generation: GenerationPolicy,
    /// DELETE answers with the deleted object (Services, Namespaces) rather than a Status.
    pub delete_returns_object: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `services`, `deployments.apps`: the name kube-apiserver uses in messages.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn has_subresource(&self, subresource: Subresource) -> bool {
        self.subresources.contains(&subresource)
    }

    pub fn subresource_named(&self, name: &str) -> Option<Subresource> {
        self.subresources.iter().copied().find(|s| s.name() == name)
    }

    /// The path prefix of this group version: `/api/v1` or `/apis/<group>/<version>`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

const BUILTIN_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CRD_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

const fn builtin(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: BUILTIN_VERBS,
        subresources: &[],
        storage_version_hash: None,
        custom: false,
        generation: GenerationPolicy::None,
        delete_returns_object: false,
    }
}

/// Every served resource, in discovery order (groups in kube-apiserver's order).
pub static RESOURCES: &[ResourceType] = &[
    ResourceType {
        short_names: &["cm"],
        storage_version_hash: Some("qFsyl6wFWjQ="),
        ..builtin("", "configmaps", "configmap", "ConfigMap", true)
    },
    ResourceType {
        short_names: &["ev"],
        storage_version_hash: Some("r2yiGXH7wu8="),
        ..builtin("", "events", "event", "Event", true)
    },
    ResourceType {
        short_names: &["ns"],
        verbs: NAMESPACE_VERBS,
        subresources: &[Subresource::Finalize, Subresource::Status],
        storage_version_hash: Some("Q3oi5N2YM8M="),
        delete_returns_object: true,
        ..builtin("", "namespaces", "namespace", "Namespace", false)
    },
    // Pods exist only as the stand-in for controllers writes them (`pods.rs`).
    ResourceType {
        short_names: &["po"],
        categories: &["all"],
        subresources: &[Subresource::Proxy, Subresource::Status],
        storage_version_hash: Some("xPOwRZ+Yhw8="),
        delete_returns_object: true,
        ..builtin("", "pods", "pod", "Pod", true)
    },
    ResourceType {
        storage_version_hash: Some("S6u1pOWzb84="),
        ..builtin("", "secrets", "secret", "Secret", true)
    },
    ResourceType {
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[Subresource::Proxy, Subresource::Status],
        storage_version_hash: Some("0/CO1lhkEBI="),
        delete_returns_object: true,
        ..builtin("", "services", "service", "Service", true)
    },
    ResourceType {
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[Subresource::Scale, Subresource::Status],
        storage_version_hash: Some("8aSe+NMegvE="),
        generation: GenerationPolicy::SpecOrAnnotationChange,
        ..builtin("apps", "deployments", "deployment", "Deployment", true)
    },
    // The guard's Events (kube-runtime's Recorder writes events.k8s.io/v1). Stored apart
    // from core Events: kube-apiserver keeps both versions in one place and converts
    // between them, which no scenario reads across.
    ResourceType {
        short_names: &["ev"],
        storage_version_hash: Some("r2yiGXH7wu8="),
        ..builtin("events.k8s.io", "events", "event", "Event", true)
    },
    // Not stored: a POST answers with the caller's identity (`review.rs`).
    ResourceType {
        verbs: &["create"],
        ..builtin(
            "authentication.k8s.io",
            "selfsubjectreviews",
            "selfsubjectreview",
            "SelfSubjectReview",
            false,
        )
    },
    // Read by the guard and the plugin for BG002 (an HPA's current replicas).
    ResourceType {
        version: "v2",
        short_names: &["hpa"],
        categories: &["all"],
        subresources: &[Subresource::Status],
        generation: GenerationPolicy::SpecChange,
        ..builtin(
            "autoscaling",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            "HorizontalPodAutoscaler",
            true,
        )
    },
    ResourceType {
        short_names: &["netpol"],
        storage_version_hash: Some("YpfwF18m1G8="),
        generation: GenerationPolicy::SpecChange,
        ..builtin(
            "networking.k8s.io",
            "networkpolicies",
            "networkpolicy",
            "NetworkPolicy",
            true,
        )
    },
    ResourceType {
        categories: &["api-extensions"],
        storage_version_hash: Some("Sqi0GUgDaX0="),
        generation: GenerationPolicy::SpecChange,
        ..builtin(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            "MutatingWebhookConfiguration",
            false,
        )
    },
    ResourceType {
        categories: &["api-extensions"],
        storage_version_hash: Some("B0wHjQmsGNk="),
        generation: GenerationPolicy::SpecChange,
        ..builtin(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "ValidatingWebhookConfiguration",
            false,
        )
    },
    ResourceType {
        categories: &["gateway-api"],
        verbs: CRD_VERBS,
        subresources: &[Subresource::Status],
        storage_version_hash: Some("s9TOoTqdPlk="),
        custom: true,
        generation: GenerationPolicy::SpecChange,
        ..builtin(
            "gateway.networking.k8s.io",
            "httproutes",
            "httproute",
            "HTTPRoute",
            true,
        )
    },
    ResourceType {
        version: "v1alpha1",
        verbs: CRD_VERBS,
        custom: true,
        generation: GenerationPolicy::SpecChange,
        ..builtin(
            "bluegreen.dev",
            "bluegreenpolicies",
            "bluegreenpolicy",
            "BlueGreenPolicy",
            false,
        )
    },
];

/// The resource served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource of a kind (`apps/v1`, `Deployment`), used by test helpers that take manifests.
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

pub fn namespaces() -> &'static ResourceType {
    find("", "v1", "namespaces").expect("namespaces are served")
}

pub fn mutating_webhook_configurations() -> &'static ResourceType {
    find(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
    )
    .expect("mutatingwebhookconfigurations are served")
}

pub fn validating_webhook_configurations() -> &'static ResourceType {
    find(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
    )
    .expect("validatingwebhookconfigurations are served")
}

pub fn deployments() -> &'static ResourceType {
    find("apps", "v1", "deployments").expect("deployments are served")
}

pub fn pods() -> &'static ResourceType {
    find("", "v1", "pods").expect("pods are served")
}

pub fn services() -> &'static ResourceType {
    find("", "v1", "services").expect("services are served")
}

pub fn self_subject_reviews() -> &'static ResourceType {
    find("authentication.k8s.io", "v1", "selfsubjectreviews")
        .expect("selfsubjectreviews are served")
}

/// The API groups other than core, in discovery order, each with its versions.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for resource in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == resource.group) {
            Some((_, versions)) if !versions.contains(&resource.version) => {
                versions.push(resource.version)
            }
            Some(_) => {}
            None => groups.push((resource.group, vec![resource.version])),
        }
    }
    groups
}

/// The resources of one group version, in discovery order.
pub fn in_group_version(group: &str, version: &str) -> Vec<&'static ResourceType> {
    RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}
