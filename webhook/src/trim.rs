//! What the cache keeps of an object: only the fields the rules read, so that 10,000
//! Deployments fit in a few tens of MiB.
//!
//! The rules read (and nothing else may be dropped without changing this file and its
//! test, `tests/trim.rs`, which checks that `policy::review` says the same on trimmed
//! and full objects):
//!
//! - every object: name, namespace, labels, `bluegreen.dev/*` annotations;
//! - Deployments: generation, replicas, paused, selector, the pod template's labels,
//!   containers' and init containers' names, images, `env[].valueFrom` ConfigMap and
//!   Secret key refs, `envFrom`, whether a readinessProbe is set; volumes' `configMap`,
//!   `secret` and `projected` sources; imagePullSecrets; status replica counts,
//!   observedGeneration and the `Progressing` condition's reason;
//! - Services: selector; NetworkPolicies: podSelector; HPAs: scaleTargetRef and
//!   status.currentReplicas; Namespaces: labels.
//!
//! BG009 compares the request's old and new objects, which are never trimmed.
//! HTTPRoutes and BlueGreenPolicies are few and kept whole (less managed fields).

use std::collections::BTreeMap;

use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus,
};
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus,
};
use k8s_openapi::api::core::v1::{
    ConfigMapKeySelector, ConfigMapProjection, ConfigMapVolumeSource, Container, EnvVar,
    EnvVarSource, Namespace, PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource,
    SecretKeySelector, SecretProjection, SecretVolumeSource, Service, ServiceSpec, Volume,
    VolumeProjection,
};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use policy::BlueGreenPolicy;

/// The prefix of the annotations the rules read.
const ANNOTATION_PREFIX: &str = "bluegreen.dev/";

/// An object reduced to what the rules read.
pub trait Trim {
    /// The object with every field the rules do not read dropped.
    fn trim(self) -> Self;
}

/// Name, namespace, labels, `bluegreen.dev/*` annotations and generation.
fn meta(meta: ObjectMeta) -> ObjectMeta {
    let annotations: BTreeMap<String, String> = meta
        .annotations
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.starts_with(ANNOTATION_PREFIX))
        .collect();
    ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        labels: meta.labels,
        annotations: (!annotations.is_empty()).then_some(annotations),
        generation: meta.generation,
        ..ObjectMeta::default()
    }
}

/// A vector without spare capacity (deserialized vectors of large structs often
/// have some).
fn exact<T>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut items: Vec<T> = items.collect();
    items.shrink_to_fit();
    items
}

fn container(c: Container) -> Container {
    let env: Vec<EnvVar> = exact(c.env.into_iter().flatten().filter_map(|var| {
        let source = var.value_from?;
        let value_from = EnvVarSource {
            config_map_key_ref: source.config_map_key_ref.map(|r| ConfigMapKeySelector {
                name: r.name,
                ..ConfigMapKeySelector::default()
            }),
            secret_key_ref: source.secret_key_ref.map(|r| SecretKeySelector {
                name: r.name,
                ..SecretKeySelector::default()
            }),
            ..EnvVarSource::default()
        };
        (value_from.config_map_key_ref.is_some() || value_from.secret_key_ref.is_some()).then(
            || EnvVar {
                name: var.name,
                value_from: Some(value_from),
                ..EnvVar::default()
            },
        )
    }));
    Container {
        name: c.name,
        image: c.image,
        env: (!env.is_empty()).then_some(env),
        env_from: c.env_from.map(|from| exact(from.into_iter())),
        readiness_probe: c.readiness_probe.map(|_| Probe::default()),
        ..Container::default()
    }
}

fn volume(v: Volume) -> Option<Volume> {
    let config_map = v.config_map.map(|cm| ConfigMapVolumeSource {
        name: cm.name,
        ..ConfigMapVolumeSource::default()
    });
    let secret = v.secret.map(|s| SecretVolumeSource {
        secret_name: s.secret_name,
        ..SecretVolumeSource::default()
    });
    let projected = v.projected.map(|p| ProjectedVolumeSource {
        sources: p.sources.map(|sources| {
            exact(sources.into_iter().map(|s| VolumeProjection {
                config_map: s.config_map.map(|cm| ConfigMapProjection {
                    name: cm.name,
                    ..ConfigMapProjection::default()
                }),
                secret: s.secret.map(|secret| SecretProjection {
                    name: secret.name,
                    ..SecretProjection::default()
                }),
                ..VolumeProjection::default()
            }))
        }),
        ..ProjectedVolumeSource::default()
    });
    (config_map.is_some() || secret.is_some() || projected.is_some()).then(|| Volume {
        name: v.name,
        config_map,
        secret,
        projected,
        ..Volume::default()
    })
}

fn pod_spec(pod: PodSpec) -> PodSpec {
    let volumes: Vec<Volume> = exact(pod.volumes.into_iter().flatten().filter_map(volume));
    PodSpec {
        containers: exact(pod.containers.into_iter().map(container)),
        init_containers: pod
            .init_containers
            .map(|c| exact(c.into_iter().map(container))),
        volumes: (!volumes.is_empty()).then_some(volumes),
        image_pull_secrets: pod.image_pull_secrets,
        ..PodSpec::default()
    }
}

impl Trim for Deployment {
    fn trim(self) -> Self {
        let spec = self.spec.map(|spec| DeploymentSpec {
            replicas: spec.replicas,
            paused: spec.paused,
            selector: spec.selector,
            template: PodTemplateSpec {
                metadata: spec.template.metadata.map(|m| ObjectMeta {
                    labels: m.labels,
                    ..ObjectMeta::default()
                }),
                spec: spec.template.spec.map(pod_spec),
            },
            ..DeploymentSpec::default()
        });
        let status = self.status.map(|status| DeploymentStatus {
            observed_generation: status.observed_generation,
            replicas: status.replicas,
            updated_replicas: status.updated_replicas,
            ready_replicas: status.ready_replicas,
            available_replicas: status.available_replicas,
            unavailable_replicas: status.unavailable_replicas,
            conditions: status.conditions.and_then(|conditions| {
                let progressing = exact(
                    conditions
                        .into_iter()
                        .filter(|c| c.type_ == "Progressing")
                        .map(|c| DeploymentCondition {
                            type_: c.type_,
                            status: c.status,
                            reason: c.reason,
                            ..DeploymentCondition::default()
                        }),
                );
                (!progressing.is_empty()).then_some(progressing)
            }),
            ..DeploymentStatus::default()
        });
        Deployment {
            metadata: meta(self.metadata),
            spec,
            status,
        }
    }
}

impl Trim for Service {
    fn trim(self) -> Self {
        Service {
            metadata: meta(self.metadata),
            spec: self.spec.map(|spec| ServiceSpec {
                selector: spec.selector,
                ..ServiceSpec::default()
            }),
            status: None,
        }
    }
}

impl Trim for NetworkPolicy {
    fn trim(self) -> Self {
        NetworkPolicy {
            metadata: meta(self.metadata),
            spec: self.spec.map(|spec| NetworkPolicySpec {
                pod_selector: spec.pod_selector,
                ..NetworkPolicySpec::default()
            }),
        }
    }
}

impl Trim for HorizontalPodAutoscaler {
    fn trim(self) -> Self {
        HorizontalPodAutoscaler {
            metadata: meta(self.metadata),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: self.spec.scale_target_ref,
                max_replicas: self.spec.max_replicas,
                min_replicas: self.spec.min_replicas,
                ..HorizontalPodAutoscalerSpec::default()
            },
            status: self.status.map(|status| HorizontalPodAutoscalerStatus {
                current_replicas: status.current_replicas,
                desired_replicas: status.desired_replicas,
                ..HorizontalPodAutoscalerStatus::default()
            }),
        }
    }
}

impl Trim for Namespace {
    fn trim(self) -> Self {
        Namespace {
            metadata: ObjectMeta {
                name: self.metadata.name,
                labels: self.metadata.labels,
                ..ObjectMeta::default()
            },
            spec: None,
            status: None,
        }
    }
}

const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What makes the few objects kept whole large: managed fields and kubectl's copy of
/// the last applied manifest.
fn trim_bulk<K: Resource>(mut object: K) -> K {
    object.managed_fields_mut().clear();
    object.annotations_mut().remove(LAST_APPLIED_ANNOTATION);
    object
}

impl Trim for HttpRoute {
    fn trim(self) -> Self {
        trim_bulk(self)
    }
}

impl Trim for BlueGreenPolicy {
    fn trim(self) -> Self {
        trim_bulk(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bluegreen_annotations_are_kept() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api", "annotations": {
                "bluegreen.dev/live-since": "2026-01-01T00:00:00Z",
                "kubectl.kubernetes.io/last-applied-configuration": "{}"
            }},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}
        }))
        .unwrap();
        let trimmed = service.trim();
        let annotations = trimmed.metadata.annotations.unwrap();
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["bluegreen.dev/live-since"]
        );
        let spec = trimmed.spec.unwrap();
        assert!(spec.ports.is_none());
        assert_eq!(spec.selector.unwrap()["app"], "api");
    }
}
