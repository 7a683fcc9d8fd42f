//! A Helm release as Helm stores it, read to tell what its next `helm upgrade` writes: the
//! manifest of its latest deployed revision, and which chart value renders a field.
//!
//! Helm 3 and 4 keep each revision in a Secret `sh.helm.release.v1.NAME.vREVISION` of type
//! `helm.sh/release.v1`, labelled `owner=helm`, `name`, `status` and `version`
//! (helm.sh/helm `pkg/storage/driver/secrets.go`); its `release` key holds the release as
//! JSON, gzipped, then base64-encoded (`pkg/storage/driver/util.go`), inside the Secret's
//! own base64.

use std::io::Read as _;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde_json::Value;

/// The label selector of a release's Secrets.
pub fn release_selector(release: &str) -> String {
    format!("owner=helm,name={release}")
}

/// Why a release record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// No Secret holds a deployed revision.
    #[error("no deployed revision is stored (no Secret labelled {selector},status=deployed)")]
    NoDeployedRevision {
        /// The selector searched.
        selector: String,
    },
    /// The Secret's `release` key is not what Helm writes.
    #[error("Secret {secret} does not hold a Helm release: {reason}")]
    Malformed {
        /// The Secret.
        secret: String,
        /// What was wrong.
        reason: String,
    },
}

/// The parts of a stored release this module reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    /// The release's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The revision.
    pub version: u32,
    /// Every rendered object, as YAML documents.
    #[serde(default)]
    pub manifest: String,
    /// The chart.
    #[serde(default)]
    pub chart: Chart,
    /// The values given at install and upgrade (`--set`, `-f`).
    #[serde(default)]
    pub config: Option<Value>,
}

/// A release's chart.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Chart {
    /// Chart.yaml.
    #[serde(default)]
    pub metadata: ChartMetadata,
    /// The templates, each `{name, data}` with data in base64.
    #[serde(default)]
    pub templates: Vec<Template>,
    /// The chart's default values.
    #[serde(default)]
    pub values: Option<Value>,
}

/// Chart.yaml's name and version.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChartMetadata {
    /// The chart's name.
    #[serde(default)]
    pub name: String,
    /// Its version.
    #[serde(default)]
    pub version: String,
}

/// One template file of a chart.
#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    /// `templates/service.yaml`.
    pub name: String,
    /// Its text, base64-encoded (Go's `[]byte` in JSON).
    #[serde(default)]
    pub data: String,
}

/// The Secret holding the latest deployed revision among a release's Secrets.
pub fn latest_deployed(secrets: &[Secret]) -> Option<&Secret> {
    let label = |secret: &Secret, key: &str| {
        secret
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(key).cloned())
    };
    secrets
        .iter()
        .filter(|secret| label(secret, "status").as_deref() == Some("deployed"))
        .max_by_key(|secret| {
            label(secret, "version")
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        })
}

impl Release {
    /// The release a Secret holds.
    pub fn from_secret(secret: &Secret) -> Result<Self, ReleaseError> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let malformed = |reason: String| ReleaseError::Malformed {
            secret: name.clone(),
            reason,
        };
        let stored = secret
            .data
            .as_ref()
            .and_then(|data| data.get("release"))
            .ok_or_else(|| malformed("it has no key `release`".into()))?;
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(&stored.0)
            .map_err(|err| malformed(format!("its release is not base64: {err}")))?;
        // Helm gzips every release it writes, and reads releases without the gzip magic
        // as plain JSON (releases from before it compressed them).
        let json = if compressed.starts_with(&[0x1f, 0x8b]) {
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(compressed.as_slice())
                .read_to_end(&mut json)
                .map_err(|err| malformed(format!("its release is not gzip: {err}")))?;
            json
        } else {
            compressed
        };
        serde_json::from_slice(&json)
            .map_err(|err| malformed(format!("its release is not a Helm release: {err}")))
    }

    /// The rendered object of `kind` named `name`, if the release renders it.
    pub fn rendered(&self, kind: &str, name: &str) -> Option<Value> {
        policy::yaml::documents::<Value>(&mut self.manifest.as_bytes())
            .filter_map(Result::ok)
            .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
    }

    /// `helm upgrade NAME <CHART chart> -n NAMESPACE --reuse-values --set PATH=VALUE`.
    pub fn upgrade_command(&self, set: &str) -> String {
        let chart = match self.chart.metadata.name.as_str() {
            "" => "CHART".to_string(),
            name => format!("<{name} chart>"),
        };
        format!(
            "helm upgrade {} {chart} -n {} --reuse-values --set {set}",
            self.name, self.namespace
        )
    }

    /// The values in force: the chart's defaults under the values given.
    fn values(&self) -> Value {
        let mut values = self.chart.values.clone().unwrap_or(Value::Null);
        if let Some(config) = &self.config {
            merge(&mut values, config);
        }
        values
    }

    /// The value (a dotted path for `--set`) that renders `key: VALUE` in a template,
    /// when exactly one is named so (`color: {{ .Values.liveColor }}`); else the one
    /// value in force equal to `current`, when exactly one is.
    pub fn value_rendering(&self, key: Option<&str>, current: &str) -> Option<String> {
        let mut named: Vec<String> = key
            .into_iter()
            .flat_map(|key| self.template_values(key))
            .collect();
        named.sort();
        named.dedup();
        match named.as_slice() {
            [one] => Some(one.clone()),
            [] => unique(leaves_equal(&self.values(), current, &[])),
            _ => None,
        }
    }

    /// The `.Values` paths the templates render under `key:`.
    fn template_values(&self, key: &str) -> Vec<String> {
        self.chart
            .templates
            .iter()
            .filter_map(|template| {
                base64::engine::general_purpose::STANDARD
                    .decode(&template.data)
                    .ok()
            })
            .filter_map(|text| String::from_utf8(text).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|line| values_path_after(line, key))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The value that sets `color`'s image `image`: the one value in force equal to the
    /// whole image, else the one equal to its tag under a key named after the color
    /// (`green.image.tag`). Returns the path and whether it holds only the tag.
    pub fn image_value(&self, color: &str, image: &str) -> Option<(String, bool)> {
        let values = self.values();
        if let Some(path) = unique(leaves_equal(&values, image, &[])) {
            return Some((path, false));
        }
        let tag = image.rsplit_once(':').map(|(_, tag)| tag)?;
        let under_color = leaves_equal(&values, tag, &[])
            .into_iter()
            .filter(|path| path.split('.').any(|segment| segment == color))
            .collect();
        unique(under_color).map(|path| (path, true))
    }
}

/// The `.Values` path a template line renders under `key:`, as in
/// `color: {{ .Values.liveColor }}` or `color: {{ $.Values.live.color | quote }}`.
fn values_path_after(line: &str, key: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(key)?.strip_prefix(':')?;
    let action = rest.trim_start().strip_prefix("{{")?;
    let action = action.trim_start_matches('-').trim_start();
    let action = action.strip_prefix('$').unwrap_or(action);
    let path = action.strip_prefix(".Values.")?;
    let end = path
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(path.len());
    let path = path[..end].trim_end_matches('.');
    (!path.is_empty()).then(|| path.to_string())
}

fn unique(mut paths: Vec<String>) -> Option<String> {
    match paths.len() {
        1 => paths.pop(),
        _ => None,
    }
}

/// The dotted paths of the string leaves of `values` equal to `wanted`.
fn leaves_equal(values: &Value, wanted: &str, at: &[&str]) -> Vec<String> {
    match values {
        Value::String(text) if text == wanted => vec![at.join(".")],
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| {
                let mut path = at.to_vec();
                path.push(key);
                leaves_equal(value, wanted, &path)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Helm's coalescing of values: maps merge key by key, anything else is replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, over) => *base = over.clone(),
    }
}
