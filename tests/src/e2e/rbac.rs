//! RBAC of a scenario on a real cluster: the CI account and alice may read what the
//! plugin reads and write in the scenario's namespaces, less what the scenario denies.

use serde_json::{Value, json};

use super::Who;
use crate::apiserver::Denial;

/// Who may do what on a real cluster besides admin: the CI account and alice can read
/// everything the plugin reads, cluster-wide, and write routers and Deployments in the
/// scenario's namespaces, so refusals come from admission, not RBAC. `(group, resource,
/// verbs)`; the cluster-wide rules go in a ClusterRole, the others in a Role per namespace.
const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const CLUSTER_RULES: &[(&str, &str, &[&str])] = &[
    ("", "namespaces", READ),
    ("", "services", READ),
    ("", "pods", READ),
    ("apps", "deployments", READ),
    ("networking.k8s.io", "networkpolicies", READ),
    ("autoscaling", "horizontalpodautoscalers", READ),
    ("gateway.networking.k8s.io", "httproutes", READ),
    ("bluegreen.dev", "bluegreenpolicies", READ),
];
const NAMESPACE_RULES: &[(&str, &str, &[&str])] = &[
    ("", "services", WRITE),
    // Helm keeps its releases in Secrets of the release's namespace.
    ("", "secrets", WRITE),
    ("", "pods", WRITE),
    ("events.k8s.io", "events", WRITE),
    ("apps", "deployments", WRITE),
    ("apps", "deployments/scale", WRITE),
    ("networking.k8s.io", "networkpolicies", WRITE),
    ("gateway.networking.k8s.io", "httproutes", WRITE),
];

/// The RBAC of the CI account and alice on a real cluster: a ClusterRole to read and a
/// Role per namespace to write (see [`CLUSTER_RULES`]), each identity with its own, less
/// what `denials` refuses it. Names end in `suffix`; namespaces are as given to
/// [`super::Cluster::start_with`] (the cluster maps them when applying).
pub(super) fn real_rbac(
    suffix: &str,
    namespaces: &[&str],
    denials: &[(Who, Denial)],
) -> Vec<Value> {
    let rules = |who: Who,
                 namespace: Option<&str>,
                 table: &[(&str, &str, &[&str])]|
     -> Vec<Value> {
        table
            .iter()
            .filter_map(|(group, resource, verbs)| {
                let verbs: Vec<&str> = verbs
                    .iter()
                    .copied()
                    .filter(|verb| {
                        !denials.iter().any(|(denied, denial)| {
                            let matches =
                                |pattern: &str, actual: &str| pattern == "*" || pattern == actual;
                            *denied == who
                                && matches(&denial.verb, verb)
                                && matches(&denial.group, group)
                                && matches(&denial.resource, resource)
                                && denial
                                    .namespace
                                    .as_deref()
                                    .is_none_or(|ns| Some(ns) == namespace)
                        })
                    })
                    .collect();
                (!verbs.is_empty())
                    .then(|| json!({"apiGroups": [group], "resources": [resource], "verbs": verbs}))
            })
            .collect()
    };
    let mut objects = Vec::new();
    for who in [Who::Ci, Who::Alice] {
        let name = format!("bluegreen-e2e-{who:?}{suffix}").to_lowercase();
        let binding = |kind: &str, role_kind: &str, namespace: Option<&str>| {
            let mut binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
                "subjects": [who.subject()]});
            if let Some(namespace) = namespace {
                binding["metadata"]["namespace"] = json!(namespace);
            }
            binding
        };
        objects.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules(who, None, CLUSTER_RULES)}),
        );
        objects.push(binding("ClusterRoleBinding", "ClusterRole", None));
        for namespace in namespaces {
            objects.push(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": rules(who, Some(namespace), NAMESPACE_RULES)}),
            );
            objects.push(binding("RoleBinding", "Role", Some(namespace)));
        }
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_on_a_real_cluster_leaves_out_what_a_scenario_denies() {
        let denials = [(Who::Alice, Denial::new("patch", "", "services"))];
        let objects = real_rbac("-1a", &["shop"], &denials);
        let find = |kind: &str, name: &str| {
            objects
                .iter()
                .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{kind} {name}"))
        };
        let verbs = |role: &Value, resource: &str| {
            role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["resources"] == json!([resource]))
                .map(|r| r["verbs"].clone())
        };
        let alice = find("Role", "bluegreen-e2e-alice-1a");
        assert_eq!(alice["metadata"]["namespace"], json!("shop"));
        assert_eq!(
            verbs(alice, "services"),
            Some(json!([
                "get", "list", "watch", "create", "update", "delete"
            ]))
        );
        assert_eq!(
            verbs(find("Role", "bluegreen-e2e-ci-1a"), "services"),
            Some(json!(WRITE))
        );
        assert_eq!(
            verbs(
                find("ClusterRole", "bluegreen-e2e-alice-1a"),
                "bluegreenpolicies"
            ),
            Some(json!(READ))
        );
        let binding = find("RoleBinding", "bluegreen-e2e-ci-1a");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}])
        );
        assert_eq!(binding["roleRef"]["name"], json!("bluegreen-e2e-ci-1a"));
    }
}
