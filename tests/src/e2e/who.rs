//! The identities scenarios act as, and the kubeconfigs that make them so on a real
//! cluster (the admin's, impersonating).

use serde_json::{Value, json};

/// The identities scenarios act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// A cluster admin (`system:masters`): set-up and checks.
    Admin,
    /// The CI service account `ci:deployer`, allowed to switch.
    Ci,
    /// A person, `alice`, not allowed to switch.
    Alice,
}

impl Who {
    /// The username the API server authenticates.
    pub fn username(self) -> &'static str {
        match self {
            Who::Admin => "admin",
            Who::Ci => "system:serviceaccount:ci:deployer",
            Who::Alice => "alice",
        }
    }

    /// The groups the API server adds, for impersonation on a real cluster.
    fn groups(self) -> &'static [&'static str] {
        match self {
            Who::Admin => &["system:masters", "system:authenticated"],
            Who::Ci => &[
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated",
            ],
            Who::Alice => &["system:authenticated"],
        }
    }

    /// The RBAC subject a real cluster binds roles to.
    pub(super) fn subject(self) -> Value {
        match self {
            Who::Ci => json!({"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}),
            _ => {
                json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": self.username()})
            }
        }
    }
}

/// The admin kubeconfig `admin` (YAML text) with its users impersonating `who`
/// (kubeconfig `as`/`as-groups`) and its contexts defaulting to `namespace`.
pub(super) fn impersonating(admin: &str, who: Who, namespace: &str) -> String {
    let mut config: serde_json::Value = policy::yaml::from_str(admin).expect("kubeconfig YAML");
    if who != Who::Admin {
        for user in config["users"].as_array_mut().into_iter().flatten() {
            user["user"]["as"] = who.username().into();
            user["user"]["as-groups"] = who
                .groups()
                .iter()
                .map(|g| serde_json::Value::from(*g))
                .collect();
        }
    }
    for context in config["contexts"].as_array_mut().into_iter().flatten() {
        context["context"]["namespace"] = namespace.into();
    }
    policy::yaml::to_string(&config).expect("kubeconfig YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "apiVersion: v1
kind: Config
current-context: kind-e2e
clusters:
- name: kind-e2e
  cluster: {server: 'https://127.0.0.1:6443', certificate-authority-data: Q0E=}
users:
- name: kind-e2e
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
contexts:
- name: kind-e2e
  context: {cluster: kind-e2e, user: kind-e2e}
";

    fn parsed(text: &str) -> kube::config::Kubeconfig {
        kube::config::Kubeconfig::from_yaml(text).expect("a kubeconfig kube-rs reads")
    }

    #[test]
    fn other_identities_impersonate_through_the_admin_kubeconfig() {
        let ci = parsed(&impersonating(ADMIN, Who::Ci, "shop-1a"));
        let user = ci.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(
            user.impersonate.as_deref(),
            Some("system:serviceaccount:ci:deployer")
        );
        assert_eq!(
            user.impersonate_groups.as_deref(),
            Some(
                &[
                    "system:serviceaccounts".to_string(),
                    "system:serviceaccounts:ci".to_string(),
                    "system:authenticated".to_string()
                ][..]
            )
        );
        assert!(
            user.client_certificate_data.is_some(),
            "still the admin's credentials"
        );
        let context = ci.contexts[0].context.as_ref().expect("context");
        assert_eq!(context.namespace.as_deref(), Some("shop-1a"));
        assert_eq!(ci.current_context.as_deref(), Some("kind-e2e"));

        let alice = parsed(&impersonating(ADMIN, Who::Alice, "web-1a"));
        let user = alice.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(user.impersonate.as_deref(), Some("alice"));
        assert_eq!(
            user.impersonate_groups.as_deref(),
            Some(&["system:authenticated".to_string()][..])
        );
    }

    #[test]
    fn admin_keeps_its_own_identity() {
        let admin = parsed(&impersonating(ADMIN, Who::Admin, "shop-1a"));
        let user = admin.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(user.impersonate, None);
        assert_eq!(user.impersonate_groups, None);
        let context = admin.contexts[0].context.as_ref().expect("context");
        assert_eq!(context.namespace.as_deref(), Some("shop-1a"));
    }
}
