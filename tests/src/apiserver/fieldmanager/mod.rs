//! Field ownership, kept in `metadata.managedFields` as kube-apiserver's field manager keeps it
//! (k8s.io/apimachinery `managedfields` over sigs.k8s.io/structured-merge-diff):
//!
//! - every write records an `Update` entry for its manager (`?fieldManager=`, else the
//!   User-Agent up to its first `/`) owning the fields it set or changed, which other managers
//!   lose; fields it removed leave every manager;
//! - server-side apply records an `Apply` entry owning exactly the fields of the configuration,
//!   removes the fields its manager applied before and dropped (unless another manager owns
//!   them), and refuses (409) to change a value another manager owns unless forced;
//! - fields set by defaulting or admission belong to nobody: ownership is settled before them.

mod set;
mod typed;

use serde_json::{Map, Value, json};

use super::object;
use super::resources::{ResourceType, Subresource};
use super::schema::Schema;
use set::{FieldSet, PathElement, path_string};

/// The manager of a request: `?fieldManager=`, else the User-Agent's product name (kube-
/// apiserver's default), else `unknown`.
pub fn manager_name<'a>(field_manager: Option<&'a str>, user_agent: Option<&'a str>) -> &'a str {
    field_manager
        .filter(|m| !m.is_empty())
        .or_else(|| user_agent.and_then(|agent| agent.split('/').next()))
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry. Its identity is manager, operation, subresource and, for
/// updates, apiVersion (an applier keeps its entry across versions).
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    fn same_identity(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How conflict messages name a manager: an updater with the version it wrote.
    fn describe(&self) -> String {
        let mut text = Value::String(self.manager.clone()).to_string();
        if let Some(subresource) = &self.subresource {
            text.push_str(&format!(
                " with subresource {}",
                Value::String(subresource.clone())
            ));
        }
        if self.operation == Operation::Update {
            text.push_str(&format!(" using {}", self.api_version));
        }
        text
    }

    /// The identity as kube-apiserver serializes it, which orders conflicting managers.
    fn identity_key(&self) -> String {
        let mut identity = json!({"manager": self.manager, "operation": self.operation.as_str()});
        if self.operation == Operation::Update {
            identity["apiVersion"] = json!(self.api_version);
        }
        if let Some(subresource) = &self.subresource {
            identity["subresource"] = json!(subresource);
        }
        identity.to_string()
    }

    fn decode(entry: &Value) -> Option<Entry> {
        let text = |field: &str| entry.get(field).and_then(Value::as_str);
        let operation = match text("operation")? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        if text("fieldsType")? != "FieldsV1" {
            return None;
        }
        let fields = match entry.get("fieldsV1") {
            Some(fields) => FieldSet::from_fields_v1(fields).ok()?,
            None => FieldSet::default(),
        };
        Some(Entry {
            manager: text("manager").unwrap_or_default().to_string(),
            operation,
            api_version: text("apiVersion").filter(|v| !v.is_empty())?.to_string(),
            time: text("time").map(str::to_string),
            subresource: text("subresource")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            fields,
        })
    }

    fn encode(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), json!(self.manager));
        entry.insert("operation".into(), json!(self.operation.as_str()));
        entry.insert("apiVersion".into(), json!(self.api_version));
        if let Some(time) = &self.time {
            entry.insert("time".into(), json!(time));
        }
        entry.insert("fieldsType".into(), json!("FieldsV1"));
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(subresource) = &self.subresource {
            entry.insert("subresource".into(), json!(subresource));
        }
        Value::Object(entry)
    }

    /// `Apply` entries first, then by time in seconds, manager, apiVersion and subresource
    /// (apimachinery's `sortEncodedManagedFields`; a missing time counts as the earliest).
    fn order_key(&self) -> (Operation, i64, &str, &str, &str) {
        let seconds = self
            .time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(i64::MIN, |t| t.as_second());
        (
            self.operation,
            seconds,
            &self.manager,
            &self.api_version,
            self.subresource.as_deref().unwrap_or_default(),
        )
    }
}

/// The entries of an object, decoded; `None` when they cannot be (kube-apiserver then treats the
/// object as having none).
fn decode_entries(list: Option<&Value>) -> Option<Vec<Entry>> {
    match list {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(entries)) => entries.iter().map(Entry::decode).collect(),
        Some(_) => None,
    }
}

/// Whether a write's own `managedFields` asks to clear them: `[]` or `[{}]`.
fn is_reset(list: Option<&Value>) -> bool {
    match list {
        Some(Value::Array(entries)) => match entries.as_slice() {
            [] => true,
            [only] => only.as_object().is_some_and(Map::is_empty),
            _ => false,
        },
        _ => false,
    }
}

/// Apply refused: values other managers own would change.
#[derive(Debug)]
pub struct Conflicts(Vec<(String, String)>);

impl Conflicts {
    /// kube-apiserver's message: one conflict inline, several grouped by manager.
    pub fn message(&self) -> String {
        match self.0.as_slice() {
            [(manager, field)] => {
                format!("Apply failed with 1 conflict: conflict with {manager}: {field}")
            }
            all => {
                let mut lines = Vec::new();
                let mut current: Option<&str> = None;
                for (manager, field) in all {
                    if current != Some(manager) {
                        lines.push(format!("conflicts with {manager}:"));
                        current = Some(manager);
                    }
                    lines.push(format!("- {field}"));
                }
                format!(
                    "Apply failed with {} conflicts: {}",
                    all.len(),
                    lines.join("\n")
                )
            }
        }
    }

    /// `(conflict with <manager>, field)` per conflict.
    pub fn causes(&self) -> impl Iterator<Item = (String, &str)> {
        self.0
            .iter()
            .map(|(manager, field)| (format!("conflict with {manager}"), field.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{}", .0.message())]
    Conflicts(Conflicts),
    /// The configuration sets `metadata.managedFields`.
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsSet,
    /// The configuration cannot be owned field by field (e.g. duplicated list keys).
    #[error("{0}")]
    Invalid(String),
}

/// Paths no manager owns: identity and server-set metadata (apimachinery's `stripMetaManager`).
fn strip_set() -> FieldSet {
    let field = |name: &str| PathElement::Field(name.to_string());
    let mut set = FieldSet::from_members(["apiVersion", "kind", "metadata"].map(field));
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[field("metadata"), field(name)]);
    }
    set
}

/// The field manager of one endpoint: a resource, or its status or scale subresource.
pub struct FieldManager {
    schema: Schema,
    api_version: String,
    subresource: Option<Subresource>,
    /// Fields the endpoint resets whatever the request says, which nobody owns through it.
    ignored: FieldSet,
}

/// An object's managers, and the object without its `managedFields`.
struct Tracked {
    entries: Vec<Entry>,
    object: Value,
}

fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    object
}

impl FieldManager {
    pub fn new(resource: &ResourceType, subresource: Option<Subresource>) -> Self {
        let field = |name: &str| PathElement::Field(name.to_string());
        let ignored = match subresource {
            Some(Subresource::Status) => FieldSet::from_members([field("spec"), field("metadata")]),
            None if resource.has_subresource(Subresource::Status) => {
                FieldSet::from_members([field("status")])
            }
            _ => FieldSet::default(),
        };
        FieldManager {
            schema: Schema::of(resource),
            api_version: resource.api_version(),
            subresource,
            ignored,
        }
    }

    fn now(&self) -> Option<String> {
        // The scale subresource converts entries through a Scale and loses the writer's time
        // (apimachinery's ScaleHandler), as captured.
        (self.subresource != Some(Subresource::Scale)).then(object::now_timestamp)
    }

    /// Records a create (`live` is `None`) or update of `new`, whose own `managedFields` (from
    /// the request) replace the live ones when set, as kube-apiserver allows.
    pub fn update(&self, live: Option<&Value>, new: &mut Value, manager: &str) {
        let requested = object::metadata(new).and_then(|m| m.get("managedFields"));
        let entries = if self.subresource.is_some() {
            None
        } else if is_reset(requested) {
            Some(Vec::new())
        } else {
            decode_entries(requested).filter(|entries| !entries.is_empty())
        };
        let entries = entries
            .or_else(|| {
                decode_entries(
                    live.and_then(object::metadata)
                        .and_then(|m| m.get("managedFields")),
                )
            })
            .unwrap_or_default();
        let new_object = without_managed_fields(new);
        let tracked = match live {
            // An object that was never tracked stays untracked until an apply.
            Some(_) if entries.is_empty() => {
                set_entries(new, &[]);
                return;
            }
            Some(live) => Tracked {
                entries,
                object: without_managed_fields(live),
            },
            None => Tracked {
                entries,
                object: self.schema.empty_object(),
            },
        };
        let entries = self.record_update(tracked, &new_object, manager);
        set_entries(new, &entries);
    }

    fn record_update(&self, tracked: Tracked, new: &Value, manager: &str) -> Vec<Entry> {
        let comparison = typed::compare(self.schema, &tracked.object, new).excluding(&self.ignored);
        let changed = comparison.changed();
        let mut entries = tracked.entries;
        for entry in &mut entries {
            entry.fields = entry
                .fields
                .difference(&changed)
                .difference(&comparison.removed);
        }
        let own = changed.difference(&strip_set());
        let writer = Entry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: self.api_version.clone(),
            time: self.now(),
            subresource: self.subresource.map(|s| s.name().to_string()),
            fields: own,
        };
        if !writer.fields.is_empty() {
            match entries.iter_mut().find(|e| e.same_identity(&writer)) {
                Some(previous) => {
                    previous.fields = previous.fields.union(&writer.fields);
                    previous.time = writer.time;
                }
                None => entries.push(writer),
            }
        }
        entries.retain(|e| !e.fields.is_empty());
        entries
    }

    /// Server-side apply of `config` to `live` (`None` creates): the object to write, with its
    /// `managedFields`, or the conflicts. A no-op apply returns `live` with only its managers'
    /// fields updated, their times unchanged.
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, ApplyError> {
        if object::metadata(config)
            .is_some_and(|m| m.get("managedFields").is_some_and(|v| !v.is_null()))
        {
            return Err(ApplyError::ManagedFieldsSet);
        }
        let mut tracked = match live {
            Some(live) => Tracked {
                entries: decode_entries(
                    object::metadata(live).and_then(|m| m.get("managedFields")),
                )
                .unwrap_or_default(),
                object: without_managed_fields(live),
            },
            None => Tracked {
                entries: Vec::new(),
                object: self.schema.empty_object(),
            },
        };
        if live.is_some() && tracked.entries.is_empty() {
            // Fields set before anyone applied belong to `before-first-apply`, so that an apply
            // conflicts with them (apimachinery's skipNonAppliedManager).
            let empty = Tracked {
                entries: Vec::new(),
                object: self.schema.empty_object(),
            };
            tracked.entries = self.record_update(empty, &tracked.object, "before-first-apply");
        }
        let merged =
            typed::merge(self.schema, &tracked.object, config).map_err(ApplyError::Invalid)?;
        let applier = Entry {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: self.api_version.clone(),
            time: None,
            subresource: self.subresource.map(|s| s.name().to_string()),
            fields: typed::field_set(self.schema, config).recursive_difference(&self.ignored),
        };
        let mut entries = tracked.entries;
        let previous = entries.iter().position(|e| e.same_identity(&applier));
        let last = previous.map(|i| entries.remove(i));
        let pruned = self.prune(&merged, &entries, &applier, last.as_ref());

        let comparison =
            typed::compare(self.schema, &tracked.object, &pruned).excluding(&self.ignored);
        let changed = comparison.changed();
        let mut conflicts: Vec<(&Entry, FieldSet)> = entries
            .iter()
            .map(|entry| (entry, entry.fields.intersection(&changed)))
            .filter(|(_, conflict)| !conflict.is_empty())
            .collect();
        if !force && !conflicts.is_empty() {
            conflicts.sort_by_key(|(entry, _)| entry.identity_key());
            let listed = conflicts
                .iter()
                .flat_map(|(entry, fields)| {
                    fields
                        .paths()
                        .into_iter()
                        .map(|path| (entry.describe(), path_string(&path)))
                })
                .collect();
            return Err(ApplyError::Conflicts(Conflicts(listed)));
        }
        for entry in &mut entries {
            entry.fields = entry
                .fields
                .difference(&changed)
                .difference(&comparison.removed);
        }
        let changed_object = pruned != tracked.object;
        let applier = Entry {
            fields: applier.fields.difference(&strip_set()),
            time: if changed_object {
                self.now()
            } else {
                last.and_then(|l| l.time)
            },
            ..applier
        };
        entries.push(applier);
        entries.retain(|e| !e.fields.is_empty());
        let mut result = if changed_object {
            pruned
        } else {
            tracked.object
        };
        set_entries(&mut result, &entries);
        Ok(result)
    }

    /// `merged` without the fields the applier owned before (`last`) and no longer applies,
    /// unless another manager owns them (structured-merge-diff's `prune`, step by step).
    fn prune(
        &self,
        merged: &Value,
        others: &[Entry],
        applier: &Entry,
        last: Option<&Entry>,
    ) -> Value {
        let Some(last) = last.filter(|l| !l.fields.is_empty()) else {
            return merged.clone();
        };
        let named = |set: &FieldSet| typed::with_named_fields(self.schema, set);
        let fields_of = |object: &Value| named(&typed::field_set(self.schema, object));
        let last_fields = named(&last.fields);
        let pruned = typed::remove(self.schema, merged, &last_fields);
        // Add back what any manager (the applier included) owns.
        let owned = others.iter().fold(applier.fields.clone(), |all, entry| {
            all.union(&entry.fields)
        });
        let merged_fields = fields_of(merged);
        let pruned_fields = fields_of(&pruned);
        let dropped = merged_fields.difference(&pruned_fields.union(&named(&owned)));
        let pruned = typed::remove(self.schema, merged, &dropped);
        // Add back what the applier never owned (defaults, other writers' unowned fields).
        let removed = merged_fields
            .difference(&fields_of(&pruned))
            .intersection(&last_fields);
        typed::remove(self.schema, merged, &removed)
    }
}

/// Writes `entries`, sorted as kube-apiserver sorts them, as the object's `managedFields` (none
/// when empty).
fn set_entries(object: &mut Value, entries: &[Entry]) {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    let metadata = object::metadata_mut(object);
    if sorted.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert(
            "managedFields".into(),
            Value::Array(sorted.into_iter().map(Entry::encode).collect()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;

    fn fields(object: &Value, manager: &str) -> Value {
        object["metadata"]["managedFields"]
            .as_array()
            .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
            .map_or(Value::Null, |e| e["fieldsV1"].clone())
    }

    fn apply(kind: &str, live: Option<&Value>, config: Value, manager: &str) -> Value {
        FieldManager::new(resource(kind), None)
            .apply(live, &config, manager, false)
            .unwrap_or_else(|err| panic!("{manager}: {err}"))
    }

    fn resource(kind: &str) -> &'static ResourceType {
        resources::RESOURCES
            .iter()
            .find(|r| r.kind == kind)
            .expect("a served kind")
    }

    #[test]
    fn config_map_data_is_owned_key_by_key() {
        let config = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "data": data});
        let a = apply("ConfigMap", None, config(json!({"x": "1", "y": "2"})), "a");
        let b = apply("ConfigMap", Some(&a), config(json!({"z": "3"})), "b");
        let a = apply("ConfigMap", Some(&b), config(json!({"x": "1"})), "a");
        assert_eq!(a["data"], json!({"x": "1", "z": "3"}));
        assert_eq!(fields(&a, "a"), json!({"f:data": {"f:x": {}}}));
        assert_eq!(fields(&a, "b"), json!({"f:data": {"f:z": {}}}));
    }

    #[test]
    fn containers_and_their_env_are_owned_item_by_item() {
        let deployment = |containers: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "spec": {"template": {"spec": {"containers": containers}}}})
        };
        let both = deployment(json!([
            {"name": "api", "image": "api:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "proxy", "image": "proxy:1"}
        ]));
        let a = apply("Deployment", None, both, "a");
        let b_config = deployment(json!([{"name": "api", "env": [{"name": "B", "value": "2"}]}]));
        let b = apply("Deployment", Some(&a), b_config, "b");
        // a drops its env var and the proxy; b's env var, and the container b shares, stay.
        let a_again = deployment(json!([{"name": "api", "image": "api:1"}]));
        let a = apply("Deployment", Some(&b), a_again, "a");
        assert_eq!(
            a["spec"]["template"]["spec"]["containers"],
            json!([{"name": "api", "image": "api:1", "env": [{"name": "B", "value": "2"}]}])
        );
        let item = r#"k:{"name":"api"}"#;
        assert_eq!(
            fields(&a, "b")["f:spec"]["f:template"]["f:spec"]["f:containers"][item],
            json!({".": {}, "f:name": {}, "f:env": {r#"k:{"name":"B"}"#: {".": {}, "f:name": {}, "f:value": {}}}})
        );
    }

    #[test]
    fn fields_nobody_owns_stay_when_the_applier_applies_again() {
        let config = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
            "spec": {"selector": {"color": "green"}}});
        let mut applied = apply("Service", None, config.clone(), "helm");
        // What a mutating webhook adds after ownership was settled.
        applied["metadata"]["annotations"] = json!({"bluegreen.dev/live-since": "now"});
        let again = apply("Service", Some(&applied), config, "helm");
        assert_eq!(again, applied);
    }

    #[test]
    fn conflicts_on_atomic_lists_of_custom_resources_are_listed_by_manager() {
        let route = |backend: &str, hostname: &str| {
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                   "spec": {"hostnames": [hostname], "rules": [{"backendRefs": [{"name": backend}]}]}})
        };
        let helm = apply(
            "HTTPRoute",
            None,
            route("app-blue", "a.example.com"),
            "helm",
        );
        let refused = FieldManager::new(resource("HTTPRoute"), None)
            .apply(
                Some(&helm),
                &route("app-green", "b.example.com"),
                "argocd",
                false,
            )
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"helm\":\n- .spec.hostnames\n- .spec.rules"
        );
    }
}
