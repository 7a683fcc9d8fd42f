//! The ConfigMaps and Secrets a pod template reads, by name.

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::core::v1::{Container, PodSpec};

/// The kind of a referenced configuration object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigKind {
    /// core/v1 ConfigMap.
    ConfigMap,
    /// core/v1 Secret.
    Secret,
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        })
    }
}

/// One referenced ConfigMap or Secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigRef {
    /// ConfigMap or Secret.
    pub kind: ConfigKind,
    /// Its name.
    pub name: String,
}

impl fmt::Display for ConfigRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// Every ConfigMap and Secret a pod reads: containers' and init containers' `env`
/// (`valueFrom`) and `envFrom`, volumes (`configMap`, `secret`, `projected` sources)
/// and `imagePullSecrets`.
pub fn config_refs(pod: &PodSpec) -> BTreeSet<ConfigRef> {
    let mut refs = BTreeSet::new();
    let mut add = |kind, name: &str| {
        refs.insert(ConfigRef {
            kind,
            name: name.to_string(),
        });
    };
    let containers: Vec<&Container> = pod
        .init_containers
        .iter()
        .flatten()
        .chain(pod.containers.iter())
        .collect();
    for container in containers {
        for env in container.env.iter().flatten() {
            let Some(source) = &env.value_from else {
                continue;
            };
            if let Some(key) = &source.config_map_key_ref {
                add(ConfigKind::ConfigMap, &key.name);
            }
            if let Some(key) = &source.secret_key_ref {
                add(ConfigKind::Secret, &key.name);
            }
        }
        for from in container.env_from.iter().flatten() {
            if let Some(cm) = &from.config_map_ref {
                add(ConfigKind::ConfigMap, &cm.name);
            }
            if let Some(secret) = &from.secret_ref {
                add(ConfigKind::Secret, &secret.name);
            }
        }
    }
    for volume in pod.volumes.iter().flatten() {
        if let Some(cm) = &volume.config_map {
            add(ConfigKind::ConfigMap, &cm.name);
        }
        if let Some(name) = volume
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref())
        {
            add(ConfigKind::Secret, name);
        }
        for source in volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
        {
            if let Some(cm) = &source.config_map {
                add(ConfigKind::ConfigMap, &cm.name);
            }
            if let Some(secret) = &source.secret {
                add(ConfigKind::Secret, &secret.name);
            }
        }
    }
    for secret in pod.image_pull_secrets.iter().flatten() {
        add(ConfigKind::Secret, &secret.name);
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_kind_of_reference() {
        let pod: PodSpec = serde_json::from_value(serde_json::json!({
            "initContainers": [{"name": "migrate", "envFrom": [{"secretRef": {"name": "db-admin"}}]}],
            "containers": [{
                "name": "api",
                "env": [
                    {"name": "A", "value": "literal"},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "b"}}},
                    {"name": "C", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "c"}}}
                ],
                "envFrom": [{"configMapRef": {"name": "settings"}}]
            }],
            "volumes": [
                {"name": "v1", "configMap": {"name": "nginx-conf"}},
                {"name": "v2", "secret": {"secretName": "tls"}},
                {"name": "v3", "projected": {"sources": [
                    {"configMap": {"name": "bundle"}},
                    {"secret": {"name": "token"}},
                    {"serviceAccountToken": {"path": "t"}}
                ]}},
                {"name": "v4", "emptyDir": {}}
            ],
            "imagePullSecrets": [{"name": "registry"}]
        }))
        .unwrap();
        let names: Vec<String> = config_refs(&pod).iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "ConfigMap bundle",
                "ConfigMap flags",
                "ConfigMap nginx-conf",
                "ConfigMap settings",
                "Secret db-admin",
                "Secret db-credentials",
                "Secret registry",
                "Secret tls",
                "Secret token",
            ]
        );
    }
}
