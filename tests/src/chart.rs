//! The guard's Helm chart rendered by the real helm binary, so tests check the chart
//! and scenarios register the guard with the chart's own webhook configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The helm binary `.ci/tools.sh` installs, else one on PATH.
pub fn helm() -> PathBuf {
    let cached = repo().join(".ci/cache/bin/helm");
    if cached.exists() {
        return cached;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("helm"))
                .find(|p| p.exists())
        })
        .expect("helm not found: run .ci/tools.sh (the README's test command does)")
}

/// Helm v3, as `.ci/tools.sh` installs it beside helm v4 (there is none on PATH to
/// fall back to: a machine's `helm` is v4 or unknown).
pub fn helm3() -> PathBuf {
    let cached = repo().join(".ci/cache/bin/helm3");
    assert!(
        cached.exists(),
        "{} not found: run .ci/tools.sh (the README's test command does)",
        cached.display()
    );
    cached
}

/// A helm command run from the repository root.
pub fn helm_command() -> Command {
    let mut command = Command::new(helm());
    command.current_dir(repo());
    command
}

/// `helm template` of the chart into namespace `bluegreen-system` (release `guard`), as
/// JSON values, one per manifest.
pub fn render(args: &[&str]) -> Vec<Value> {
    let output = helm_command()
        .args([
            "template",
            "guard",
            "charts/bluegreen-guard",
            "--namespace",
            "bluegreen-system",
        ])
        .args(args)
        .output()
        .expect("helm runs");
    assert!(
        output.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("helm prints UTF-8");
    policy::yaml::documents(&mut text.as_bytes())
        .map(|doc| doc.expect("helm renders YAML"))
        .collect()
}

/// Every rendered manifest of that kind.
pub fn find<'a>(manifests: &'a [Value], kind: &str) -> Vec<&'a Value> {
    manifests.iter().filter(|m| m["kind"] == kind).collect()
}

/// The one rendered manifest of that kind.
pub fn one<'a>(manifests: &'a [Value], kind: &str) -> &'a Value {
    let found = find(manifests, kind);
    assert_eq!(found.len(), 1, "expected one {kind}");
    found[0]
}

/// The chart's ValidatingWebhookConfiguration with every webhook pointed at `url`
/// (the guard runs as a local process, not behind a Service) and trusting `ca_bundle`.
pub fn webhook_configuration(values: &[&str], url: &str, ca_bundle: &str) -> Value {
    let manifests = render(values);
    pointed_at(
        one(&manifests, "ValidatingWebhookConfiguration"),
        |_| url.to_string(),
        ca_bundle,
    )
}

/// The chart's Validating- and MutatingWebhookConfiguration, every webhook pointed at
/// the guard serving at `origin` (`https://host:port`) on the path the chart gives it.
pub fn webhook_configurations(values: &[&str], origin: &str, ca_bundle: &str) -> Vec<Value> {
    let manifests = render(values);
    [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ]
    .into_iter()
    .map(|kind| {
        pointed_at(
            one(&manifests, kind),
            |path| format!("{origin}{path}"),
            ca_bundle,
        )
    })
    .collect()
}

/// A rendered webhook configuration whose webhooks call `url(path)` instead of the
/// chart's Service at `path`.
fn pointed_at(config: &Value, url: impl Fn(&str) -> String, ca_bundle: &str) -> Value {
    let mut config = config.clone();
    for webhook in config["webhooks"].as_array_mut().expect("webhooks") {
        let path = webhook["clientConfig"]["service"]["path"]
            .as_str()
            .unwrap_or("/validate")
            .to_string();
        webhook["clientConfig"] = serde_json::json!({"url": url(&path), "caBundle": ca_bundle});
    }
    config
}

/// The guard container's arguments as the chart's Deployment passes them.
pub fn guard_args(values: &[&str]) -> Vec<String> {
    let manifests = render(values);
    one(&manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}
