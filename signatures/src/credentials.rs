//! Registry credentials from a docker `config.json`, the file `docker login` writes
//! and the guard mounts from a Secret of its own namespace.
//!
//! Only the `auths` section is read: `auth` (base64 `user:password`), or `username`
//! and `password`, or `registrytoken` (a bearer token). Credential helpers
//! (`credsStore`, `credHelpers`) need programs the guard does not have, and an
//! `identitytoken` needs an OAuth exchange per registry: an entry with nothing else
//! (Docker Desktop writes `{}` entries next to `credsStore`) is skipped with a warning
//! and its registry is asked anonymously. A malformed `auth` fails the load, so a
//! broken mount shows at startup rather than as "access denied" on a review.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Credentials by registry host; anonymous for any registry not listed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Credentials {
    by_host: HashMap<String, RegistryAuth>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registrytoken: Option<String>,
}

impl Credentials {
    /// Reads a docker config file.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::DockerConfigRead {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| Error::DockerConfigInvalid {
            path: path.to_owned(),
            reason,
        })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let config: DockerConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let by_host = config
            .auths
            .into_iter()
            .filter_map(|(key, entry)| match entry.into_auth() {
                Ok(Some(auth)) => Some(Ok((canonical_host(&key), auth))),
                Ok(None) => {
                    tracing::warn!(registry = key, "no usable credentials in this docker config entry (credential helpers and identity tokens are not supported); asking anonymously");
                    None
                }
                Err(why) => Some(Err(format!("auths.{key:?}: {why}"))),
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { by_host })
    }

    /// The credentials for a registry host as [`oci_client::Reference::resolve_registry`]
    /// names it.
    pub(crate) fn for_registry(&self, registry: &str) -> RegistryAuth {
        self.by_host
            .get(&canonical_host(registry))
            .cloned()
            .unwrap_or(RegistryAuth::Anonymous)
    }
}

impl AuthEntry {
    /// The entry's credentials; `None` when it holds none this crate can use.
    fn into_auth(self) -> Result<Option<RegistryAuth>, String> {
        if let Some(encoded) = self.auth.filter(|a| !a.is_empty()) {
            let decoded = STANDARD
                .decode(encoded.trim())
                .map_err(|e| format!("auth is not base64 ({e})"))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| "auth is not UTF-8".to_string())?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or("auth does not decode to user:password")?;
            return Ok(Some(RegistryAuth::Basic(
                user.to_string(),
                password.to_string(),
            )));
        }
        Ok(match (self.username, self.password, self.registrytoken) {
            (Some(user), Some(password), _) => Some(RegistryAuth::Basic(user, password)),
            (_, _, Some(token)) => Some(RegistryAuth::Bearer(token)),
            _ => None,
        })
    }
}

/// `https://index.docker.io/v1/` and `docker.io` name the same registry as the
/// `index.docker.io` image references resolve to; other keys are `host[:port]`,
/// possibly written as a URL.
fn canonical_host(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host).to_string();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".to_string(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> RegistryAuth {
        RegistryAuth::Basic(user.into(), password.into())
    }

    #[test]
    fn reads_every_supported_entry_form() {
        let creds = Credentials::parse(
            r#"{
              "auths": {
                "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldDpwYXJ0"},
                "registry.example.com:5000": {"username": "ci", "password": "pw"},
                "HTTPS://ghcr.io": {"registrytoken": "tok"}
              },
              "credsStore": "desktop"
            }"#,
        )
        .unwrap();
        // The password itself may contain ':'; only the first one separates.
        assert_eq!(
            creds.for_registry("index.docker.io"),
            basic("hub", "secret:part")
        );
        assert_eq!(
            creds.for_registry("registry.example.com:5000"),
            basic("ci", "pw")
        );
        assert_eq!(
            creds.for_registry("ghcr.io"),
            RegistryAuth::Bearer("tok".into())
        );
        assert_eq!(creds.for_registry("quay.io"), RegistryAuth::Anonymous);
    }

    #[test]
    fn skips_helper_entries_and_refuses_broken_ones_naming_them() {
        let creds = Credentials::parse(
            r#"{"auths": {"r.example": {}, "s.example": {"identitytoken": "x"}}, "credsStore": "desktop"}"#,
        )
        .unwrap();
        assert_eq!(creds.for_registry("r.example"), RegistryAuth::Anonymous);
        assert_eq!(creds.for_registry("s.example"), RegistryAuth::Anonymous);
        let err = Credentials::parse(r#"{"auths": {"r.example": {"auth": "%%%"}}}"#).unwrap_err();
        assert!(
            err.starts_with("auths.\"r.example\": auth is not base64"),
            "{err}"
        );
        assert!(Credentials::parse("not json").is_err());
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = Credentials::load(Path::new("/nonexistent/config.json")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/config.json"),
            "{err}"
        );
    }
}
