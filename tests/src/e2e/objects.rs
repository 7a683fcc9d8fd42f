//! The scenario's objects: applied as admin, read, modified and waited for, by
//! apiVersion and kind, on either target.

use std::path::PathBuf;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use super::{CLEANUP_LABEL, Cluster, WAIT_ATTEMPTS, WAIT_PAUSE, Who};

impl Cluster {
    /// Writes a manifest to a file in the scenario's directory, for `kubectl -f`.
    pub fn manifest_file(&self, name: &str, manifest: &Value) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(manifest).expect("json"))
            .expect("write manifest");
        path
    }

    /// Creates or replaces objects as admin: namespaced ones in their
    /// `metadata.namespace` (one of the scenario's namespaces, by the name given to
    /// [`Cluster::start_with`]), else in [`Cluster::namespace`]; with their `status`
    /// when they have one. Server-set metadata (resourceVersion, uid, generation,
    /// creationTimestamp, managedFields) is ignored. Like any write, this goes through
    /// admission: seed before registering webhooks that should not see the set-up.
    pub async fn apply(&self, manifests: &[Value]) {
        let client = self.client(Who::Admin).await;
        for manifest in manifests {
            let mut manifest = manifest.clone();
            if let Some(metadata) = manifest["metadata"].as_object_mut() {
                for server_set in [
                    "resourceVersion",
                    "uid",
                    "generation",
                    "creationTimestamp",
                    "managedFields",
                ] {
                    metadata.remove(server_set);
                }
            }
            let (api, resource) = self.api_for(&client, &mut manifest);
            let cluster_scoped = manifest["metadata"]["namespace"].is_null();
            if cluster_scoped && !self.is_local() {
                // What a killed run leaves behind can be found by this label.
                manifest["metadata"]["labels"][CLEANUP_LABEL] = json!("true");
            }
            let name = manifest["metadata"]["name"]
                .as_str()
                .expect("named")
                .to_string();
            let object: DynamicObject = serde_json::from_value(manifest.clone()).expect("object");
            match api.get_opt(&name).await.expect("read before apply") {
                None => {
                    api.create(&PostParams::default(), &object)
                        .await
                        .unwrap_or_else(|e| panic!("create {name}: {e}"));
                    if cluster_scoped && !self.is_local() {
                        let kind = match resource.group.as_str() {
                            "" => resource.plural.clone(),
                            group => format!("{}.{group}", resource.plural),
                        };
                        self.created
                            .lock()
                            .expect("created objects")
                            .push(format!("{kind}/{name}"));
                    }
                }
                Some(existing) => {
                    let mut object = object;
                    object.metadata.resource_version = existing.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &object)
                        .await
                        .unwrap_or_else(|e| panic!("replace {name}: {e}"));
                }
            }
            if let Some(status) = manifest.get("status") {
                let patch = Patch::Merge(json!({"status": status}));
                api.patch_status(&name, &PatchParams::default(), &patch)
                    .await
                    .expect("write status");
            }
        }
    }

    /// Reads an object of the scenario's namespace as admin (`None` when absent).
    pub async fn get(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        self.get_in(api_version, kind, &self.namespace, name).await
    }

    /// Reads an object of one of the scenario's namespaces (ignored for cluster-scoped
    /// kinds) as admin (`None` when absent).
    pub async fn get_in(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let client = self.client(Who::Admin).await;
        let mut probe = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}});
        let (api, _) = self.api_for(&client, &mut probe);
        api.get_opt(name)
            .await
            .expect("read")
            .map(|o| serde_json::to_value(o).expect("json"))
    }

    /// Changes an object as admin (read, `change`, replace; retried on conflicts) and
    /// returns it as written. Its status is left as it was.
    pub async fn modify(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut Value),
    ) -> Value {
        let client = self.client(Who::Admin).await;
        for _ in 0..WAIT_ATTEMPTS {
            let mut object = self
                .get_in(api_version, kind, namespace, name)
                .await
                .unwrap_or_else(|| panic!("{kind} {namespace}/{name} exists"));
            change(&mut object);
            if let Some(metadata) = object["metadata"].as_object_mut() {
                metadata.remove("managedFields");
            }
            let (api, _) = self.api_for(&client, &mut object);
            let object: DynamicObject = serde_json::from_value(object).expect("object");
            match api.replace(name, &PostParams::default(), &object).await {
                Ok(written) => return serde_json::to_value(written).expect("json"),
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(err) => panic!("replace {kind} {namespace}/{name}: {err}"),
            }
        }
        panic!("{kind} {namespace}/{name} kept changing under the test");
    }

    /// Waits (bounded) until an object of one of the scenario's namespaces exists and
    /// satisfies `done`, and returns it.
    pub async fn wait_for(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..WAIT_ATTEMPTS {
            if let Some(object) = self.get_in(api_version, kind, namespace, name).await
                && done(&object)
            {
                return object;
            }
            tokio::time::sleep(WAIT_PAUSE).await;
        }
        panic!("{kind} {namespace}/{name} never got to the state the scenario waits for");
    }

    fn api_for(
        &self,
        client: &kube::Client,
        manifest: &mut Value,
    ) -> (Api<DynamicObject>, ApiResource) {
        let api_version = manifest["apiVersion"]
            .as_str()
            .expect("apiVersion")
            .to_string();
        let kind = manifest["kind"].as_str().expect("kind").to_string();
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let plural = format!("{}s", kind.to_lowercase()).replace("policys", "policies");
        let resource = ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.clone(),
            kind: kind.clone(),
            plural,
        };
        let cluster_scoped = matches!(
            kind.as_str(),
            "Namespace"
                | "BlueGreenPolicy"
                | "ValidatingWebhookConfiguration"
                | "MutatingWebhookConfiguration"
                | "ValidatingAdmissionPolicy"
                | "ValidatingAdmissionPolicyBinding"
                | "ClusterRole"
                | "ClusterRoleBinding"
        );
        let api = if cluster_scoped {
            if let Some(metadata) = manifest["metadata"].as_object_mut() {
                metadata.remove("namespace");
            }
            Api::all_with(client.clone(), &resource)
        } else {
            let namespace = match manifest["metadata"]["namespace"].as_str() {
                Some(namespace) => self.ns(namespace).to_string(),
                None => self.namespace.clone(),
            };
            manifest["metadata"]["namespace"] = json!(namespace);
            Api::namespaced_with(client.clone(), &namespace, &resource)
        };
        (api, resource)
    }
}
