//! Who owns an app's objects: the tool whose next write decides what they say (a Helm
//! release, an Argo CD Application, a Flux Kustomization or HelmRelease), found from the
//! markers each tool leaves on what it applies and from `metadata.managedFields`, and
//! what that tool does to a field the plugin changed: a server-side apply conflicts on
//! it, a client-side three-way merge or a GitOps reconcile puts it back.
//!
//! The markers and manager names are the tools' own:
//! - Helm (helm.sh/helm `pkg/action/validate.go`, `pkg/kube/client.go`): the annotations
//!   `meta.helm.sh/release-name` and `meta.helm.sh/release-namespace` on every object of a
//!   release; field manager `helm` (Helm 4 sets it; Helm 3 takes the program's name,
//!   `helm`); Helm 4 writes with server-side apply (`Apply`), Helm 3 with a three-way
//!   merge patch (`Update`).
//! - Argo CD (argo-cd `util/argo/resource_tracking.go`, docs "Resource Tracking"): the
//!   annotation `argocd.argoproj.io/tracking-id` = `APP:GROUP/KIND:NAMESPACE/NAME` (the
//!   default from Argo CD 3.0), or the label `app.kubernetes.io/instance` = `APP`
//!   (before 3.0); field manager `argocd-controller` for server-side apply syncs.
//! - Flux (fluxcd/kustomize-controller, fluxcd/helm-controller): the labels
//!   `kustomize.toolkit.fluxcd.io/name`/`namespace` with field manager
//!   `kustomize-controller` (always server-side apply, correcting drift at every
//!   reconcile), and `helm.toolkit.fluxcd.io/name`/`namespace` with field manager
//!   `helm-controller` (objects of a HelmRelease carry Helm's markers too).

pub mod helm;
pub mod owned;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use serde_json::Value;

/// Helm's release annotations.
pub const HELM_RELEASE_NAME: &str = "meta.helm.sh/release-name";
/// The namespace of the Helm release.
pub const HELM_RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";
/// Helm's field manager (Helm 4 sets it; Helm 3 uses its program name).
pub const HELM_MANAGER: &str = "helm";
/// Argo CD's annotation tracking method (default from Argo CD 3.0).
pub const ARGOCD_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// Argo CD's label tracking method (default before Argo CD 3.0); Helm charts set it too.
pub const ARGOCD_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Argo CD's field manager for server-side apply syncs.
pub const ARGOCD_MANAGER: &str = "argocd-controller";
/// Flux kustomize-controller's labels and field manager.
pub const FLUX_KUSTOMIZATION_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
/// The namespace of the Flux Kustomization.
pub const FLUX_KUSTOMIZATION_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// kustomize-controller's field manager.
pub const FLUX_KUSTOMIZE_MANAGER: &str = "kustomize-controller";
/// Flux helm-controller's labels and field manager.
pub const FLUX_HELMRELEASE_NAME: &str = "helm.toolkit.fluxcd.io/name";
/// The namespace of the Flux HelmRelease.
pub const FLUX_HELMRELEASE_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";
/// helm-controller's field manager.
pub const FLUX_HELM_MANAGER: &str = "helm-controller";

/// The tool that owns an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tool {
    /// A Helm release, installed and upgraded with the helm CLI.
    Helm {
        /// The release's name.
        release: String,
        /// Its namespace.
        namespace: String,
    },
    /// An Argo CD Application.
    ArgoCd {
        /// The Application's name.
        application: String,
    },
    /// A Flux Kustomization.
    FluxKustomization {
        /// Its name.
        name: String,
        /// Its namespace.
        namespace: String,
    },
    /// A Flux HelmRelease.
    FluxHelmRelease {
        /// Its name.
        name: String,
        /// Its namespace.
        namespace: String,
    },
}

impl Tool {
    /// The field manager the tool writes with.
    pub fn manager(&self) -> &'static str {
        match self {
            Tool::Helm { .. } => HELM_MANAGER,
            Tool::ArgoCd { .. } => ARGOCD_MANAGER,
            Tool::FluxKustomization { .. } => FLUX_KUSTOMIZE_MANAGER,
            Tool::FluxHelmRelease { .. } => FLUX_HELM_MANAGER,
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tool::Helm { release, namespace } => write!(f, "Helm release {namespace}/{release}"),
            Tool::ArgoCd { application } => write!(f, "Argo CD application {application}"),
            Tool::FluxKustomization { name, namespace } => {
                write!(f, "Flux Kustomization {namespace}/{name}")
            }
            Tool::FluxHelmRelease { name, namespace } => {
                write!(f, "Flux HelmRelease {namespace}/{name}")
            }
        }
    }
}

/// How the owner writes, which decides what it does to a field someone else changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// Server-side apply (`Apply` in managedFields): its next write conflicts on a field
    /// another manager now owns with another value, and fails unless forced.
    ServerSideApply,
    /// A client-side patch (`Update`): its next write puts its own value back, silently.
    ClientSide,
}

impl fmt::Display for Writes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Writes::ServerSideApply => "server-side apply",
            Writes::ClientSide => "client-side apply",
        })
    }
}

/// The owner of one object: the tool, and how it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The tool.
    pub tool: Tool,
    /// How it writes.
    pub writes: Writes,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.tool, self.writes)
    }
}

impl Owner {
    /// The owner `meta`'s markers name, if any. Argo CD's and Flux's markers come first:
    /// a HelmRelease's objects, and some charts Argo CD renders, carry Helm's too.
    pub fn of(meta: &ObjectMeta) -> Option<Owner> {
        let tool = tool(meta)?;
        let entries = meta.managed_fields.as_deref().unwrap_or_default();
        let applies = entries.iter().any(|entry| {
            entry.manager.as_deref() == Some(tool.manager())
                && entry.operation.as_deref() == Some("Apply")
        });
        let writes = match (&tool, applies) {
            // kustomize-controller only ever applies server-side.
            (Tool::FluxKustomization { .. }, _) | (_, true) => Writes::ServerSideApply,
            (_, false) => Writes::ClientSide,
        };
        Some(Owner { tool, writes })
    }

    /// Whether the owner sets `field` of the object `meta` belongs to, as managedFields
    /// tell: `Some(true)` when its manager's entry owns the field, or when a person's
    /// write (a `kubectl …` manager, or the plugin's) took it from the owner, who still
    /// renders it; `Some(false)` when the owner has entries and leaves the field to a
    /// controller (a chart without `replicas` leaves them to an HPA); `None` when the
    /// owner has no entry to tell by.
    pub fn sets(&self, meta: &ObjectMeta, field: &Field) -> Option<bool> {
        let entries = meta.managed_fields.as_deref().unwrap_or_default();
        let manager = |entry: &ManagedFieldsEntry| entry.manager.clone().unwrap_or_default();
        if !entries.iter().any(|e| manager(e) == self.tool.manager()) {
            return None;
        }
        Some(
            entries
                .iter()
                .filter(|entry| owns(entry, &field.path))
                .any(|entry| {
                    let manager = manager(entry);
                    manager == self.tool.manager() || manager.starts_with("kubectl")
                }),
        )
    }
}

/// The tool `meta`'s markers name.
fn tool(meta: &ObjectMeta) -> Option<Tool> {
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    // A tool's namespace marker, else the object's own namespace.
    let namespace = |markers: &BTreeMap<String, String>, key: &str| {
        markers
            .get(key)
            .cloned()
            .unwrap_or_else(|| meta.namespace.clone().unwrap_or_default())
    };
    if let Some(application) = annotations
        .get(ARGOCD_TRACKING_ID)
        .and_then(|id| id.split_once(':'))
        .map(|(application, _)| application.to_string())
    {
        return Some(Tool::ArgoCd { application });
    }
    if let Some(name) = labels.get(FLUX_KUSTOMIZATION_NAME) {
        return Some(Tool::FluxKustomization {
            name: name.clone(),
            namespace: namespace(labels, FLUX_KUSTOMIZATION_NAMESPACE),
        });
    }
    if let Some(name) = labels.get(FLUX_HELMRELEASE_NAME) {
        return Some(Tool::FluxHelmRelease {
            name: name.clone(),
            namespace: namespace(labels, FLUX_HELMRELEASE_NAMESPACE),
        });
    }
    if let Some(release) = annotations.get(HELM_RELEASE_NAME) {
        return Some(Tool::Helm {
            release: release.clone(),
            namespace: namespace(annotations, HELM_RELEASE_NAMESPACE),
        });
    }
    // The instance label alone is every Helm chart's convention too: it names Argo CD
    // only where Argo CD's own manager wrote the object.
    let argocd_wrote = meta
        .managed_fields
        .iter()
        .flatten()
        .any(|entry| entry.manager.as_deref() == Some(ARGOCD_MANAGER));
    labels
        .get(ARGOCD_INSTANCE_LABEL)
        .filter(|_| argocd_wrote)
        .map(|application| Tool::ArgoCd {
            application: application.clone(),
        })
}

/// Whether a managedFields entry owns the field at `path` (fieldsV1 keys from the root).
fn owns(entry: &ManagedFieldsEntry, path: &[String]) -> bool {
    let Some(fields) = &entry.fields_v1 else {
        return false;
    };
    let mut node = &fields.0;
    for key in path {
        match node.get(key) {
            Some(next) => node = next,
            None => return false,
        }
    }
    true
}

/// A field the plugin writes, as managedFields address it and as people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// fieldsV1 keys from the root: `f:spec`, `f:selector`.
    pub path: Vec<String>,
    /// `.spec.selector`.
    pub shown: String,
}

impl Field {
    fn of(names: &[&str]) -> Self {
        Field {
            path: names.iter().map(|name| format!("f:{name}")).collect(),
            shown: names.iter().map(|name| format!(".{name}")).collect(),
        }
    }

    /// A Service's selector: one atomic map, owned as a whole.
    pub fn service_selector() -> Self {
        Field::of(&["spec", "selector"])
    }

    /// An HTTPRoute's rules: an atomic list, owned as a whole.
    pub fn route_rules() -> Self {
        Field::of(&["spec", "rules"])
    }

    /// A Deployment's replicas.
    pub fn replicas() -> Self {
        Field::of(&["spec", "replicas"])
    }

    /// The image of a Deployment's container (an item of a list keyed by name).
    pub fn image(container: &str) -> Self {
        let key =
            serde_json::to_string(&serde_json::json!({ "name": container })).unwrap_or_default();
        let mut field = Field::of(&["spec", "template", "spec", "containers"]);
        field.path.push(format!("k:{key}"));
        field.path.push("f:image".to_string());
        field.shown = format!("{}[name={container}].image", field.shown);
        field
    }

    /// Whether `object` (a manifest as JSON) sets the field: the same path walked in the
    /// object, a `k:{...}` key naming the list item whose fields match.
    pub fn is_set_in(&self, object: &Value) -> bool {
        let mut node = object;
        for key in &self.path {
            let next = match (key.strip_prefix("f:"), key.strip_prefix("k:")) {
                (Some(name), _) => node.get(name),
                (_, Some(item)) => {
                    let Ok(Value::Object(wanted)) = serde_json::from_str::<Value>(item) else {
                        return false;
                    };
                    node.as_array().into_iter().flatten().find(|candidate| {
                        wanted
                            .iter()
                            .all(|(name, value)| candidate.get(name) == Some(value))
                    })
                }
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => return false,
            }
        }
        !node.is_null()
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
