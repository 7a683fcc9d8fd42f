//! Kubeconfig files for one user of the test API server, as kubectl and kube-rs read them.

use base64::Engine;

/// A kubeconfig with one cluster, one user (bearer token) and one context named after the user.
pub fn render(server_url: &str, ca_pem: &str, user: &str, token: &str, namespace: &str) -> String {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let context = context_name(user);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test-apiserver
  cluster:
    server: {server_url}
    certificate-authority-data: {ca_data}
users:
- name: {context}
  user:
    token: {token}
contexts:
- name: {context}
  context:
    cluster: test-apiserver
    user: {context}
    namespace: {namespace}
current-context: {context}
"
    )
}

/// A context name usable in YAML and file names (`system:serviceaccount:ci:deployer` → `system-serviceaccount-ci-deployer`).
pub fn context_name(user: &str) -> String {
    user.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
