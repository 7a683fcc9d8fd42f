//! The rollout stand-in: scenarios write Deployment status (and, on a real cluster
//! without controllers, the Pods) as the deployment controller and kubelets would.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use super::{CLEANUP_LABEL, Cluster, Target, Who};

impl Cluster {
    /// Writes a Deployment's rollout status, as its controller would: `ready` replicas
    /// of `spec.replicas` available and updated, generation observed.
    pub async fn set_rollout(&self, deployment: &str, ready: i64) {
        self.write_rollout(&self.namespace, deployment, Rollout::Updated(ready))
            .await;
    }

    /// Writes a Deployment's status as its controller would report `rollout` of its
    /// current generation (no controllers are assumed, on either target).
    pub async fn write_rollout(&self, namespace: &str, deployment: &str, rollout: Rollout) {
        let current = self
            .get_in("apps/v1", "Deployment", namespace, deployment)
            .await
            .unwrap_or_else(|| panic!("deployment {namespace}/{deployment} exists"));
        let client = self.client(Who::Admin).await;
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, self.ns(namespace), &deployment_resource());
        let status = rollout.status(&current);
        let patch = Patch::Merge(json!({"status": status}));
        api.patch_status(deployment, &PatchParams::default(), &patch)
            .await
            .expect("write deployment status");
        // The Pods follow, as the ReplicaSet controller and kubelets would make them.
        match &self.target {
            Target::Local(server) => {
                server
                    .set_deployment_status(self.ns(namespace), deployment, status)
                    .expect("the test API server's pods follow the status");
            }
            Target::Real(_) => self.sync_real_pods(&current, &status).await,
        }
    }

    /// On a real cluster without controllers: `status.replicas` Pods of the Deployment's
    /// current template, the first `status.readyReplicas` of them Ready, bound to a node
    /// that does not exist (so no kubelet runs them) and the others deleted.
    async fn sync_real_pods(&self, deployment: &Value, status: &Value) {
        let client = self.client(Who::Admin).await;
        let namespace = deployment["metadata"]["namespace"]
            .as_str()
            .expect("namespaced");
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, namespace);
        let name = deployment["metadata"]["name"].as_str().expect("named");
        let template = &deployment["spec"]["template"];
        let hash = template_hash(template);
        let wanted: Vec<String> = (0..status["replicas"].as_i64().unwrap_or(0))
            .map(|index| format!("{name}-{hash}-{index}"))
            .collect();
        let selector = deployment["spec"]["selector"]["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
        let existing = pods
            .list(&kube::api::ListParams::default().labels(&selector))
            .await
            .expect("list pods");
        // Gone at once, as the ReplicaSet controller's old Pods are once their kubelet has
        // stopped them: with no kubelet, a graceful delete would leave them Terminating.
        let at_once = kube::api::DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        for pod in existing.items {
            let pod_name = pod.metadata.name.unwrap_or_default();
            if !wanted.contains(&pod_name) {
                pods.delete(&pod_name, &at_once).await.expect("delete pod");
            }
        }
        let ready = status["readyReplicas"].as_i64().unwrap_or(0);
        for (index, pod_name) in (0..).zip(&wanted) {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            labels[CLEANUP_LABEL] = json!("true");
            let mut spec = template["spec"].clone();
            spec["nodeName"] = json!("bluegreen-e2e-no-node");
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": namespace, "labels": labels},
                "spec": spec});
            if pods.get_opt(pod_name).await.expect("read pod").is_none() {
                let pod = serde_json::from_value(pod).expect("pod");
                pods.create(&PostParams::default(), &pod)
                    .await
                    .expect("create pod");
            }
            let is_ready = index < ready;
            let condition = |kind: &str| json!({"type": kind, "status": if is_ready { "True" } else { "False" }});
            let containers: Vec<Value> = spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": is_ready,
                    "restartCount": 0, "started": true, "state": {"running": {}}})
                })
                .collect();
            let patch = Patch::Merge(json!({"status": {"phase": "Running",
                "conditions": [condition("Ready"), condition("ContainersReady")],
                "containerStatuses": containers}}));
            pods.patch_status(pod_name, &PatchParams::default(), &patch)
                .await
                .expect("write pod status");
        }
    }

    /// Plays the deployment controller for one change: waits (bounded) until the
    /// Deployment satisfies `changed` (e.g. the plugin's write landed), then reports its
    /// new generation rolled out with `spec.replicas` replicas.
    pub async fn roll_out_when(
        &self,
        namespace: &str,
        deployment: &str,
        changed: impl Fn(&Value) -> bool,
    ) {
        self.wait_for("apps/v1", "Deployment", namespace, deployment, changed)
            .await;
        self.write_rollout(namespace, deployment, Rollout::Complete)
            .await;
    }
}

/// How far a Deployment's rollout got, as [`Cluster::write_rollout`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// Every replica of the current generation updated and available.
    Complete,
    /// Every replica updated, this many of them available (`Available(0)`: none ready).
    Available(i64),
    /// This many replicas updated and available (mid-rollout).
    Updated(i64),
}

impl Rollout {
    /// The status the deployment controller would write for `deployment`.
    fn status(self, deployment: &Value) -> Value {
        let desired = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
        let (updated, ready) = match self {
            Rollout::Complete => (desired, desired),
            Rollout::Available(ready) => (desired, ready),
            Rollout::Updated(ready) => (ready, ready),
        };
        let available = if ready >= desired { "True" } else { "False" };
        json!({
            "observedGeneration": generation,
            "replicas": desired,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": available, "reason": "MinimumReplicasAvailable"}]
        })
    }
}

/// A stable hash of a pod template, in the alphabet Kubernetes uses for generated names.
fn template_hash(template: &Value) -> String {
    let hash = template
        .to_string()
        .bytes()
        .fold(0x811c_9dc5u32, |hash, byte| {
            (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
        });
    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|digit| char::from(alphabet[usize::from(digit) % alphabet.len()]))
        .collect()
}

fn deployment_resource() -> ApiResource {
    ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    }
}
