//! Webhook configurations scoped to a scenario on a real cluster: renamed, and limited
//! to the scenario's namespaces, so that concurrent scenarios never see each other's.

use serde_json::{Value, json};

use super::{Cluster, Target};

impl Cluster {
    /// On a real cluster: a ValidatingWebhookConfiguration renamed for this scenario
    /// and limited to its namespaces, so that concurrent scenarios and other workloads
    /// never see it; unchanged on the test API server.
    pub fn scoped_webhooks(&self, configuration: Value) -> Value {
        match self.target {
            Target::Local(_) => configuration,
            Target::Real(_) => scope_webhooks(configuration, &self.suffix, &self.real_names()),
        }
    }

    /// A label selector matching exactly the scenario's namespaces.
    pub fn namespace_selector(&self) -> Value {
        namespace_selector(&self.real_names())
    }
}

/// A label selector matching exactly `namespaces` (kube-apiserver labels each
/// namespace with its name).
fn namespace_selector(namespaces: &[&str]) -> Value {
    json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]})
}

/// `configuration` renamed with `suffix`, each webhook also requiring `namespaces`.
fn scope_webhooks(mut configuration: Value, suffix: &str, namespaces: &[&str]) -> Value {
    let name = configuration["metadata"]["name"].as_str().unwrap_or("e2e");
    configuration["metadata"]["name"] = json!(format!("{name}{suffix}"));
    let only_ours = namespace_selector(namespaces)["matchExpressions"][0].clone();
    for webhook in configuration["webhooks"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let selector = &mut webhook["namespaceSelector"];
        if selector.is_null() {
            *selector = json!({});
        }
        match selector["matchExpressions"].as_array_mut() {
            Some(expressions) => expressions.push(only_ours.clone()),
            None => selector["matchExpressions"] = json!([only_ours]),
        }
    }
    configuration
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_on_a_real_cluster_see_only_the_scenarios_namespaces() {
        let configuration = json!({"metadata": {"name": "bluegreen-guard"}, "webhooks": [
            {"name": "a", "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
            {"name": "b"}
        ]});
        let scoped = scope_webhooks(configuration, "-1a", &["shop-1a", "web-1a"]);
        assert_eq!(scoped["metadata"]["name"], json!("bluegreen-guard-1a"));
        let ours = json!({"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop-1a", "web-1a"]});
        assert_eq!(
            scoped["webhooks"][0]["namespaceSelector"]["matchExpressions"],
            json!([{"key": "team", "operator": "Exists"}, ours])
        );
        assert_eq!(
            scoped["webhooks"][1]["namespaceSelector"],
            json!({"matchExpressions": [ours]})
        );
    }
}
