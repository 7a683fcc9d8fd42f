//! Discovery documents (`/api`, `/apis`, group versions, `/version`) and the minimal OpenAPI v3
//! kubectl needs, all derived from the resource table.

use serde_json::{Value, json};

use super::resources::{self, ResourceType, Subresource};

/// The media type kubectl asks for first: aggregated discovery v2.
pub const AGGREGATED_DISCOVERY: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an Accept header asks for aggregated discovery v2.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35",
        "gitVersion": "v1.36.2",
        "gitCommit": "98b35193b2ac7a23a673325f5e9b830ecd5ba406",
        "gitTreeState": "clean",
        "buildDate": "2026-11-21T23:44:24Z",
        "goVersion": "go1.27.3-X:nojsonv2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api` as APIVersions.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn group_entry(group: &str, versions: &[&str]) -> Value {
    let version_entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": version_entries,
        "preferredVersion": version_entries.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /apis` as APIGroupList.
pub fn group_list() -> Value {
    let groups: Vec<Value> = resources::groups()
        .iter()
        .map(|(group, versions)| group_entry(group, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>` as APIGroup.
pub fn group(name: &str) -> Option<Value> {
    let groups = resources::groups();
    let (group, versions) = groups.iter().find(|(g, _)| *g == name)?;
    let mut entry = group_entry(group, versions);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// `GET /api/v1` or `/apis/<group>/<version>` as APIResourceList.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let served = resources::in_group_version(group, version);
    if served.is_empty() {
        return None;
    }
    let mut entries = Vec::new();
    for resource in served {
        let mut entry = json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": resource.verbs,
        });
        if !resource.short_names.is_empty() {
            entry["shortNames"] = json!(resource.short_names);
        }
        if !resource.categories.is_empty() {
            entry["categories"] = json!(resource.categories);
        }
        if let Some(hash) = resource.storage_version_hash {
            entry["storageVersionHash"] = json!(hash);
        }
        entries.push(entry);
        for subresource in resource.subresources {
            let (sub_group, sub_version, sub_kind) = subresource_kind(resource, *subresource);
            let mut entry = json!({
                "name": format!("{}/{}", resource.plural, subresource.name()),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": sub_kind,
                "verbs": subresource.verbs(),
            });
            if !sub_group.is_empty() {
                entry["group"] = json!(sub_group);
                entry["version"] = json!(sub_version);
            }
            entries.push(entry);
        }
    }
    let mut list = json!({"kind": "APIResourceList", "groupVersion": resource_gv(group, version), "resources": entries});
    if !group.is_empty() {
        list["apiVersion"] = json!("v1");
    }
    Some(list)
}

fn resource_gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// The kind a subresource answers with: `(group, version, kind)`, group empty for "same as parent".
fn subresource_kind(
    resource: &ResourceType,
    subresource: Subresource,
) -> (&'static str, &'static str, &'static str) {
    match subresource {
        Subresource::Scale => ("autoscaling", "v1", "Scale"),
        Subresource::Proxy if resource.kind == "Pod" => ("", "", "PodProxyOptions"),
        Subresource::Proxy => ("", "", "ServiceProxyOptions"),
        Subresource::Status | Subresource::Finalize => ("", "", resource.kind),
    }
}

/// In aggregated discovery built-in kinds leave group and version empty; CRDs fill them.
fn response_kind(resource: &ResourceType, group: &str, version: &str, kind: &str) -> Value {
    if resource.custom {
        json!({"group": resource.group, "version": resource.version, "kind": kind})
    } else {
        json!({"group": group, "version": version, "kind": kind})
    }
}

fn aggregated_resource(resource: &ResourceType) -> Value {
    let mut entry = json!({
        "resource": resource.plural,
        "responseKind": response_kind(resource, "", "", resource.kind),
        "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource.singular,
        "verbs": resource.verbs,
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    if !resource.subresources.is_empty() {
        let subresources: Vec<Value> = resource
            .subresources
            .iter()
            .map(|sub| {
                let (group, version, kind) = subresource_kind(resource, *sub);
                let kind = if group.is_empty() {
                    response_kind(resource, "", "", kind)
                } else {
                    json!({"group": group, "version": version, "kind": kind})
                };
                json!({"subresource": sub.name(), "responseKind": kind, "verbs": sub.verbs()})
            })
            .collect();
        entry["subresources"] = json!(subresources);
    }
    entry
}

fn aggregated_group(name: Option<&str>, group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let served: Vec<Value> = resources::in_group_version(group, version)
                .into_iter()
                .map(aggregated_resource)
                .collect();
            json!({"version": version, "resources": served, "freshness": "Current"})
        })
        .collect();
    let metadata = match name {
        Some(name) => json!({"name": name}),
        None => json!({}),
    };
    json!({"metadata": metadata, "versions": versions})
}

/// `GET /api` with the aggregated discovery Accept header.
pub fn aggregated_core() -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [aggregated_group(None, "", &["v1"])]
    })
}

/// `GET /apis` with the aggregated discovery Accept header.
pub fn aggregated_groups() -> Value {
    let items: Vec<Value> = resources::groups()
        .iter()
        .map(|(group, versions)| aggregated_group(Some(group), group, versions))
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items
    })
}

/// A short stable hash for ETags and OpenAPI `?hash=` parameters (FNV-1a, hex).
pub fn content_hash(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016X}")
}

/// The group-version paths of OpenAPI v3: `api/v1`, `apis/apps/v1`, ...
fn openapi_group_versions() -> Vec<(String, &'static str, &'static str)> {
    let mut paths = vec![("api/v1".to_string(), "", "v1")];
    for (group, versions) in resources::groups() {
        for version in versions {
            paths.push((format!("apis/{group}/{version}"), group, version));
        }
    }
    paths
}

/// `GET /openapi/v3`: the index of group-version documents.
pub fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    for (path, group, version) in openapi_group_versions() {
        let hash = content_hash(openapi_document(group, version).to_string().as_bytes());
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({ "paths": paths })
}

/// `GET /openapi/v3/<path>`, if the path names a served group version.
pub fn openapi_for_path(path: &str) -> Option<Value> {
    openapi_group_versions()
        .into_iter()
        .find(|(p, _, _)| p == path)
        .map(|(_, group, version)| openapi_document(group, version))
}

/// A deliberately small OpenAPI v3 document: for each resource, a PATCH operation tagged with its
/// group-version-kind that takes `fieldValidation` (so kubectl relies on server-side validation)
/// and no strategic-merge media type (so kubectl's apply builds its patches from its compiled-in
/// types, or JSON merge patches for custom resources). No schemas are published.
fn openapi_document(group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for resource in resources::in_group_version(group, version)
        .into_iter()
        .filter(|r| r.verbs.contains(&"patch"))
    {
        let scope = if resource.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let path = format!(
            "/{}/{scope}{}/{{name}}",
            resource.group_version_path().trim_start_matches('/'),
            resource.plural
        );
        let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
        paths.insert(
            path,
            json!({"patch": {
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": resource.kind},
                "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
                "requestBody": {"content": {
                    "application/json-patch+json": {},
                    "application/merge-patch+json": {},
                    "application/apply-patch+yaml": {}
                }},
                "responses": {"200": {"description": "OK"}}
            }}),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.2"},
        "paths": paths,
        "components": {"schemas": {}}
    })
}
