//! One app as the commands read it from the cluster, and what the rules judge it
//! by: the policy in force, who asks, and the BG006 verdicts on both colors' images,
//! verified against the registries with the same verifier the guard uses.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Result;
use jiff::Timestamp;
use policy::app::RouterRef;
use policy::{App, Context, ImageVerdicts, Policy, Requester, Snapshot, discover_router};
use signatures::{Verifier, VerifierConfig};

use crate::cli::ImageCheckArgs;
use crate::cluster::{Cluster, ClusterState, Routes, Scope};

/// The namespace of one app as read, and who asked when that was wanted.
pub struct AppRead {
    /// The app's router.
    pub router: RouterRef,
    /// The namespace's objects, policies and labels.
    pub state: ClusterState,
    /// Who asks, when asked for and the API server says.
    pub requester: Option<Requester>,
}

impl AppRead {
    /// Reads the app's namespace (its warnings go to stderr) and, when `identify`, the
    /// requester's identity concurrently.
    pub async fn load(cluster: &Cluster, router: &RouterRef, identify: bool) -> Result<Self> {
        let (state, requester) = tokio::join!(
            cluster.read(Scope::Namespace, Routes::for_app(router)),
            async {
                match identify {
                    true => cluster.requester().await,
                    false => None,
                }
            }
        );
        let state = state?;
        state.print_warnings();
        Ok(AppRead {
            router: router.clone(),
            state,
            requester,
        })
    }

    /// The namespace's objects as the rules see them.
    pub fn snapshot(&self) -> Snapshot<'_> {
        self.state.snapshot()
    }

    /// The app in `snapshot`; fails with the discovery error (and its fix) when the
    /// router names no app.
    pub fn app<'a>(&self, snapshot: &'a Snapshot<'a>) -> Result<App<'a>> {
        Ok(discover_router(snapshot, &self.router)?)
    }

    /// What the rules need: the policy in force, and the images of both colors
    /// verified when `images` says how to reach registries and BG006 is on.
    pub async fn checks(&self, namespace: &str, images: Option<&ImageCheckArgs>) -> Result<Checks> {
        let policy = self.state.policy(namespace)?;
        let verdicts = match images {
            Some(args) if policy.verifies_images() => {
                let snapshot = self.snapshot();
                let app = self.app(&snapshot)?;
                verify_images(&policy, &app_images(&app), args).await?
            }
            _ => ImageVerdicts::new(),
        };
        Ok(Checks {
            policy,
            requester: self.requester.clone(),
            images: verdicts,
        })
    }
}

/// The policy, requester and image verdicts the rules borrow.
pub struct Checks {
    /// The policy in force in the namespace.
    pub policy: Policy,
    /// Who asks; `None` skips BG003.
    pub requester: Option<Requester>,
    /// BG006 verdicts by image.
    pub images: ImageVerdicts,
}

impl Checks {
    /// The rules' context at `now`.
    pub fn context(&self, now: Timestamp) -> Context<'_> {
        Context {
            policy: &self.policy,
            now,
            requester: self.requester.as_ref(),
            images: &self.images,
        }
    }
}

/// Every image both colors of `app` run, init containers included.
pub fn app_images(app: &App<'_>) -> Vec<String> {
    [&app.live, &app.idle]
        .into_iter()
        .flat_map(|side| side.images())
        .map(|(_, image)| image.to_string())
        .collect()
}

/// Verifies `images` against the policy's trusted keys and identities, all within the
/// budget of `args`: a registry that does not answer in time gives a verdict naming it.
pub async fn verify_images(
    policy: &Policy,
    images: &[String],
    args: &ImageCheckArgs,
) -> Result<ImageVerdicts> {
    let docker_config = docker_config(
        std::env::var_os("DOCKER_CONFIG").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    );
    // One verifier per process, so that `status --watch` redraws and the re-read before
    // an automatic rollback answer from its cache. The flags are the same all along.
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    let verifier = match VERIFIER.get() {
        Some(verifier) => verifier,
        None => {
            let verifier = Verifier::new(VerifierConfig {
                insecure_registries: args.insecure_registries.clone(),
                docker_config: docker_config.clone(),
                trusted_root: args.trusted_root.clone(),
                ..VerifierConfig::default()
            })
            .map_err(|err| {
                let context = match (&err, &docker_config) {
                    // The trust root's error names its own file.
                    (signatures::Error::TrustRoot(_), _) | (_, None) => {
                        "cannot verify image signatures (BG006)".to_string()
                    }
                    (_, Some(path)) => format!(
                        "cannot verify image signatures (BG006) with the registry credentials of {}",
                        path.display()
                    ),
                };
                anyhow::Error::new(err).context(context)
            })?;
            VERIFIER.get_or_init(|| verifier)
        }
    };
    tracing::info!(
        images = images.len(),
        keys = policy.trusted_keys.len(),
        identities = policy.trusted_identities.len(),
        "verifying image signatures (BG006)"
    );
    Ok(verifier
        .verify_all(images, policy.signers(), args.verify_timeout)
        .await)
}

/// The docker config with registry credentials, as docker finds it:
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; `None` (anonymous
/// access) when there is none.
pub fn docker_config(docker_config_dir: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let candidate = match docker_config_dir {
        Some(dir) => dir.join("config.json"),
        None => home?.join(".docker").join("config.json"),
    };
    Path::is_file(&candidate).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_config_is_found_where_docker_looks() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let custom = dir.path().join("custom");
        std::fs::create_dir_all(home.join(".docker")).unwrap();
        std::fs::create_dir_all(&custom).unwrap();
        assert_eq!(docker_config(None, Some(home.clone())), None);
        std::fs::write(home.join(".docker/config.json"), "{}").unwrap();
        assert_eq!(
            docker_config(None, Some(home.clone())),
            Some(home.join(".docker/config.json"))
        );
        // $DOCKER_CONFIG wins, and without a config.json there means anonymous.
        assert_eq!(
            docker_config(Some(custom.clone()), Some(home.clone())),
            None
        );
        std::fs::write(custom.join("config.json"), "{}").unwrap();
        assert_eq!(
            docker_config(Some(custom.clone()), Some(home)),
            Some(custom.join("config.json"))
        );
        assert_eq!(docker_config(None, None), None);
    }
}
