//! The connection to the cluster and what the plugin reads from it: a kube Client built
//! from the kubeconfig like kubectl's (`--kubeconfig`, `--context`, `-n`,
//! `--request-timeout`), and one namespace's objects, BlueGreenPolicies and labels,
//! read concurrently and turned into the `policy` crate's [`Snapshot`].

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context as _, Result};
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource, ResourceExt};
use policy::app::{RouterKind, RouterRef};
use policy::{BlueGreenPolicy, Object, Policy, PolicySet, Requester, Snapshot};
use serde::de::DeserializeOwned;

use crate::api_error::{ApiCall, explain, is_not_found};
use crate::cli::GlobalArgs;

/// A client and the namespace commands act in.
#[derive(Clone)]
pub struct Cluster {
    /// The API client.
    pub client: Client,
    /// `-n`, else the kubeconfig context's namespace.
    pub namespace: String,
}

impl Cluster {
    /// Connects as kubectl would: `--kubeconfig` (else `$KUBECONFIG`, else
    /// `~/.kube/config`, else the in-cluster service account), `--context`, `--cluster`,
    /// `--user`, `-n`, then kubectl's overrides of what the kubeconfig says (`--server`,
    /// `--token`, `--certificate-authority`, `--insecure-skip-tls-verify`, `--as`,
    /// `--as-group`, `--as-uid`, `--request-timeout`). With `--server`, no kubeconfig is
    /// needed.
    pub async fn connect(global: &GlobalArgs) -> Result<Self> {
        let options = KubeConfigOptions {
            context: global.context.clone(),
            cluster: global.cluster.clone(),
            user: global.user.clone(),
        };
        let names_an_entry =
            global.context.is_some() || global.cluster.is_some() || global.user.is_some();
        let loaded = match &global.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .with_context(|| format!("{}: cannot read the kubeconfig", path.display()))?;
                Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None => Config::from_kubeconfig(&options).await,
        }
        .or_else(|err| match names_an_entry {
            false => Config::incluster().map_err(|_| err),
            true => Err(err),
        });
        let mut config = match (loaded, &global.server) {
            (Ok(config), _) => config,
            (Err(_), Some(server)) if !names_an_entry && global.kubeconfig.is_none() => {
                Config::new(server_url(server)?)
            }
            (Err(err), _) => {
                return Err(err).context(
                    "cannot load a kubeconfig; pass --kubeconfig, set KUBECONFIG, check --context, --cluster and --user, or name the API server with --server",
                );
            }
        };
        override_connection(&mut config, global)?;
        // kube's default policy retries 503s for minutes, but through the API server's
        // proxy a 503 is an answer (no endpoints) and a CLI should say so at once.
        config.default_retry = false;
        if !global.request_timeout.is_zero() {
            // Connecting includes the TLS handshake, so a server that accepts and never
            // answers is bounded too.
            config.connect_timeout = Some(global.request_timeout);
            config.read_timeout = Some(global.request_timeout);
            config.write_timeout = Some(global.request_timeout);
        }
        let namespace = global
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).context("cannot build an API client")?;
        Ok(Cluster { client, namespace })
    }

    /// The objects of the command's namespace (or of all, for `Scope::AllNamespaces`),
    /// the namespaces' labels and the BlueGreenPolicies, read concurrently. HTTPRoutes
    /// are read only as `routes` says (a Service app never needs them, and then works
    /// on a cluster without the Gateway API).
    pub async fn read(&self, scope: Scope, routes: Routes) -> Result<ClusterState> {
        let ns = match scope {
            Scope::Namespace => Some(self.namespace.as_str()),
            Scope::AllNamespaces => None,
        };
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let (deployments, services, httproutes, netpols, hpas, policies, namespace_labels) = tokio::join!(
            list(self.scoped::<Deployment>(ns)),
            list(self.scoped::<Service>(ns)),
            async {
                match routes {
                    Routes::Skip => Ok(Vec::new()),
                    Routes::Required | Routes::IfInstalled => {
                        list(self.scoped::<HttpRoute>(ns)).await
                    }
                }
            },
            list(self.scoped::<NetworkPolicy>(ns)),
            list(self.scoped::<HorizontalPodAutoscaler>(ns)),
            list(Api::<BlueGreenPolicy>::all(self.client.clone())),
            async {
                let labelled = |n: Namespace| (n.name_any(), n.labels().clone());
                match ns {
                    Some(name) => namespaces
                        .get_opt(name)
                        .await
                        .map(|found| found.into_iter().map(labelled).collect::<BTreeMap<_, _>>()),
                    None => list(namespaces.clone())
                        .await
                        .map(|all| all.into_iter().map(labelled).collect()),
                }
            },
        );
        let mut state = ClusterState {
            namespace: ns.map(str::to_string),
            ..ClusterState::default()
        };
        let httproutes = match httproutes {
            Err(err) if routes == Routes::IfInstalled && is_not_found(&err) => Vec::new(),
            other => other.map_err(|err| explain(err, &ApiCall::list::<HttpRoute>(ns)))?,
        };
        state.objects.extend(
            deployments
                .map_err(|err| explain(err, &ApiCall::list::<Deployment>(ns)))?
                .into_iter()
                .map(Object::Deployment),
        );
        state.objects.extend(
            services
                .map_err(|err| explain(err, &ApiCall::list::<Service>(ns)))?
                .into_iter()
                .map(Object::Service),
        );
        state
            .objects
            .extend(httproutes.into_iter().map(Object::HttpRoute));
        state.objects.extend(
            netpols
                .map_err(|err| explain(err, &ApiCall::list::<NetworkPolicy>(ns)))?
                .into_iter()
                .map(Object::NetworkPolicy),
        );
        match hpas {
            Ok(hpas) => state.objects.extend(hpas.into_iter().map(Object::Hpa)),
            // autoscaling/v2 not served: no HPA can scale anything.
            Err(err) if is_not_found(&err) => {}
            Err(err) => state.warn(
                err,
                &ApiCall::list::<HorizontalPodAutoscaler>(ns),
                "capacity (BG002) counts spec.replicas only",
            ),
        }
        match policies {
            Ok(policies) => state.policies = policies,
            // No CRD: the guard is not installed and the built-in defaults apply.
            Err(err) if is_not_found(&err) => {}
            Err(err) => state.warn(
                err,
                &ApiCall::list::<BlueGreenPolicy>(None),
                "the checks use the built-in defaults; the guard still enforces the real policy",
            ),
        }
        match namespace_labels {
            Ok(labels) => state.namespace_labels = labels,
            Err(err) => state.warn(
                err,
                &match ns {
                    Some(name) => ApiCall::get::<Namespace>(None, name),
                    None => ApiCall::list::<Namespace>(None),
                },
                "a BlueGreenPolicy selecting namespaces by label may be missed",
            ),
        }
        Ok(state)
    }

    /// Who the API server says we are (authentication.k8s.io/v1 SelfSubjectReview), for
    /// BG003 in the pre-flight and the history; `None` where the API is not served or
    /// not allowed, and then the guard alone judges BG003.
    pub async fn requester(&self) -> Option<Requester> {
        let api: Api<SelfSubjectReview> = Api::all(self.client.clone());
        match api
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
        {
            Ok(review) => {
                let user = review.status?.user_info?;
                Some(Requester {
                    username: user.username?,
                    groups: user.groups.unwrap_or_default(),
                })
            }
            Err(err) => {
                tracing::info!("SelfSubjectReview unavailable ({err}); BG003 is left to the guard");
                None
            }
        }
    }

    /// The annotations of one router, read with a single GET.
    pub async fn router_annotations(&self, router: &RouterRef) -> Result<BTreeMap<String, String>> {
        let ns = Some(self.namespace.as_str());
        let name = &router.name;
        let annotations = match router.kind {
            RouterKind::Service => self
                .api::<Service>()
                .get(name)
                .await
                .map_err(|err| explain(err, &ApiCall::get::<Service>(ns, name)))?
                .annotations()
                .clone(),
            RouterKind::HttpRoute => self
                .api::<HttpRoute>()
                .get(name)
                .await
                .map_err(|err| explain(err, &ApiCall::get::<HttpRoute>(ns, name)))?
                .annotations()
                .clone(),
        };
        Ok(annotations)
    }

    /// The Pods a Deployment's selector (`matchLabels`) selects, in the command's namespace.
    pub async fn pods_of(&self, deployment: &Deployment) -> Result<Vec<Pod>> {
        let selector = match_labels(deployment);
        Ok(self
            .api::<Pod>()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|err| explain(err, &ApiCall::list::<Pod>(Some(&self.namespace))))?
            .items)
    }

    fn scoped<K>(&self, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    /// The API of a namespaced kind in the command's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

/// `--server` as kubectl reads it: a URL, or `host:port` meaning HTTPS.
fn server_url(server: &str) -> Result<http::Uri> {
    let url = match server.contains("://") {
        true => server.to_string(),
        false => format!("https://{server}"),
    };
    url.parse().with_context(|| {
        format!("--server {server:?} is not a URL; write it like https://api.example.com:6443")
    })
}

/// kubectl's flags over what the kubeconfig says, each with kubectl's meaning.
fn override_connection(config: &mut Config, global: &GlobalArgs) -> Result<()> {
    if let Some(server) = &global.server {
        config.cluster_url = server_url(server)?;
    }
    if let Some(path) = &global.certificate_authority {
        // kube reads the file when it builds the client; read it here first, so that a
        // wrong path is named as the flag's.
        std::fs::read(path).with_context(|| {
            format!(
                "{}: cannot read the certificate authority (--certificate-authority)",
                path.display()
            )
        })?;
        config.root_cert_file = Some(path.clone());
    }
    if global.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
    }
    if let Some(token) = &global.token {
        // The token replaces the kubeconfig user's other credentials, as in kubectl;
        // a client certificate stays.
        let auth = &mut config.auth_info;
        auth.token = Some(token.clone().into());
        auth.token_file = None;
        auth.username = None;
        auth.password = None;
        auth.auth_provider = None;
        auth.exec = None;
    }
    if let Some(user) = &global.impersonate {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !global.impersonate_groups.is_empty() {
        config.auth_info.impersonate_groups = Some(global.impersonate_groups.clone());
    }
    if let Some(uid) = &global.impersonate_uid {
        config.auth_info.impersonate_uid = Some(uid.clone());
    }
    // kube sends Impersonate-User and Impersonate-Group itself, not Impersonate-Uid.
    if let Some(uid) = &config.auth_info.impersonate_uid {
        let value = http::HeaderValue::from_str(uid)
            .with_context(|| format!("--as-uid {uid:?} cannot be sent in an HTTP header"))?;
        config
            .headers
            .push((http::HeaderName::from_static("impersonate-uid"), value));
    }
    Ok(())
}

/// The API server proxy path of `path` on one target (`services` or `pods`): what
/// `verify` and metric gates reach through the API server.
pub fn proxy_path(namespace: &str, kind: &str, name: &str, port: &str, path: &str) -> String {
    let path = path.strip_prefix('/').unwrap_or(path);
    format!("/api/v1/namespaces/{namespace}/{kind}/{name}:{port}/proxy/{path}")
}

/// A Deployment's `matchLabels` as a label selector: `app=api,color=green`.
pub fn match_labels(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

async fn list<K>(api: Api<K>) -> kube::Result<Vec<K>>
where
    K: Resource + Clone + DeserializeOwned + fmt::Debug,
{
    Ok(api.list(&ListParams::default()).await?.items)
}

/// Which namespaces to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The command's namespace.
    Namespace,
    /// Every namespace (`-A`).
    AllNamespaces,
}

/// Whether to read HTTPRoutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    /// Needed: a missing Gateway API is an error.
    Required,
    /// Read them when the Gateway API is installed.
    IfInstalled,
    /// Not needed.
    Skip,
}

impl Routes {
    /// What an app named by `router` needs.
    pub fn for_app(router: &RouterRef) -> Self {
        match router.kind {
            RouterKind::Service => Routes::Skip,
            RouterKind::HttpRoute => Routes::Required,
        }
    }
}

/// What the plugin read.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// The namespace read, or `None` for all.
    pub namespace: Option<String>,
    /// Deployments, Services, HTTPRoutes, NetworkPolicies and HPAs.
    pub objects: Vec<Object>,
    /// Every BlueGreenPolicy of the cluster.
    pub policies: Vec<BlueGreenPolicy>,
    /// Labels by namespace (policies select namespaces by them).
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// What could not be read, and what that means for the result.
    pub warnings: Vec<String>,
}

impl ClusterState {
    /// The objects of the namespace read, as the rules see them.
    pub fn snapshot(&self) -> Snapshot<'_> {
        let namespace = self.namespace.as_deref().unwrap_or("default");
        let mut snapshot = Snapshot::new(namespace);
        for object in &self.objects {
            snapshot.add(object);
        }
        snapshot
    }

    /// One snapshot per namespace that has objects, ordered by namespace.
    pub fn snapshots(&self) -> Vec<Snapshot<'_>> {
        Snapshot::by_namespace(&self.objects)
    }

    /// The policy in force in `namespace`; a policy that does not parse is an error,
    /// as the guard would not use it either.
    pub fn policy(&self, namespace: &str) -> Result<Policy> {
        let labels = self
            .namespace_labels
            .get(namespace)
            .cloned()
            .unwrap_or_default();
        match PolicySet::new(&self.policies).for_namespace(&labels) {
            Ok(policy) => Ok(Policy::clone(policy)),
            Err(err) => Err(err.clone()).context("fix the BlueGreenPolicy, or delete it"),
        }
    }

    /// Prints the warnings on stderr.
    pub fn print_warnings(&self) {
        for warning in &self.warnings {
            anstream::eprintln!("warning: {warning}");
        }
    }

    fn warn(&mut self, err: kube::Error, call: &ApiCall, consequence: &str) {
        self.warnings
            .push(format!("{:#}; {consequence}", explain(err, call)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_follow_the_api_server_layout() {
        assert_eq!(
            proxy_path("web", "services", "app-green", "http", "/healthz"),
            "/api/v1/namespaces/web/services/app-green:http/proxy/healthz"
        );
        assert_eq!(
            proxy_path("shop", "pods", "api-green-7d9f-x2", "8080", "/"),
            "/api/v1/namespaces/shop/pods/api-green-7d9f-x2:8080/proxy/"
        );
    }
}
