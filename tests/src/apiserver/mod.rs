//! An in-process Kubernetes API server for end-to-end tests: HTTPS on a loopback ephemeral port,
//! bearer-token users, objects as JSON with resourceVersions, patches, field ownership
//! (`managedFields`, server-side apply with its conflicts), watches, status and scale
//! subresources, discovery, and mutating and validating admission webhooks (rules, selectors,
//! CEL matchConditions, JSONPatches, reinvocation) called exactly like kube-apiserver 1.36 calls
//! them (see `tests/captures`). Also the Service/Pod proxy, `SelfSubjectReview`, and Helm's
//! protobuf release Secrets. No controllers run: the Deployment status helpers also keep the
//! Deployment's Pods in line, as the ReplicaSet controller and kubelets would.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bluegreen_e2e::apiserver::{Config, TestApiServer};
//! let server = TestApiServer::start(Config::default().with_namespace("shop")).await?;
//! let client = server.client("admin").await?;          // a kube::Client as `admin`
//! let kubeconfig = server.write_kubeconfig("alice", "shop", std::path::Path::new("/tmp"))?;
//! // After `put_object` of Deployment `app-green`: 2 ready Pods, whose proxied traffic
//! // (`/api/v1/namespaces/shop/services/app-green:80/proxy/healthz`) goes to a local server.
//! # use bluegreen_e2e::ProxyTarget;
//! server.mark_deployment_rolled_out("shop", "app-green")?;
//! let green = ProxyTarget::Pods("app=shop,color=green".into());
//! server.route_proxy("shop", green, "http://127.0.0.1:8081")?;
//! # let _ = (client, kubeconfig); Ok(()) }
//! ```

mod admission;
mod auth;
mod defaults;
mod discovery;
mod fieldmanager;
mod golang;
mod jsonpatch;
mod kubeconfig;
mod object;
mod patch;
mod pods;
mod protobuf;
pub(crate) mod proxy;
mod read;
mod resources;
mod response;
mod review;
mod route;
mod scale;
mod schema;
mod seed;
mod selector;
mod status;
mod store;
mod table;
mod validation;
mod watch;
mod write;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

pub use auth::{Denial, User, UserInfo, builtin_users};
pub use proxy::ProxyTarget;
pub use seed::SeedError;

use crate::tls::{TestCertificates, TlsError, install_crypto_provider};
use auth::{AccessRequest, Impersonation, Users};
use patch::PatchType;
use response::{Outcome, Reply, ReplyBody};
use route::{Route, Target};
use status::ApiError;
use store::{ObjectKey, Store};
use table::Representation;

/// Request bodies larger than this are refused (kube-apiserver's limit is 3 MiB per object).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How the server starts: its users and the namespaces that exist from the start.
#[derive(Debug, Clone)]
pub struct Config {
    pub users: Vec<User>,
    pub namespaces: Vec<String>,
    /// Refuse creating objects in a namespace that does not exist (kube-apiserver's
    /// NamespaceLifecycle admission). On by default.
    pub require_namespaces: bool,
}

impl Default for Config {
    /// The built-in users and the `default` namespace.
    fn default() -> Self {
        Config {
            users: builtin_users(),
            namespaces: vec!["default".to_string()],
            require_namespaces: true,
        }
    }
}

impl Config {
    pub fn with_namespace(mut self, name: &str) -> Self {
        self.namespaces.push(name.to_string());
        self
    }

    pub fn with_user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Makes RBAC refuse `denial` to the user called `username`.
    pub fn deny(mut self, username: &str, denial: Denial) -> Self {
        for user in self.users.iter_mut().filter(|u| u.name() == username) {
            user.denials.push(denial.clone());
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("starting the test API server: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("building a client: {0}")]
    Client(String),
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("registering a proxy route: {0}")]
    ProxyRoute(String),
}

struct ServerState {
    store: Store,
    proxy_routes: proxy::ProxyRoutes,
    users: Users,
    require_namespaces: bool,
    address: SocketAddr,
}

/// A running test API server; stopped when dropped.
pub struct TestApiServer {
    url: String,
    certificates: TestCertificates,
    state: Arc<ServerState>,
    handle: axum_server::Handle<SocketAddr>,
}

impl TestApiServer {
    /// Starts the server on `127.0.0.1` with an ephemeral port, HTTPS with a fresh CA.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        install_crypto_provider();
        let certificates = TestCertificates::generate()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let state = Arc::new(ServerState {
            store: Store::default(),
            proxy_routes: proxy::ProxyRoutes::default(),
            users: Users::new(config.users),
            require_namespaces: config.require_namespaces,
            address,
        });
        for namespace in &config.namespaces {
            seed::put(
                &state.store,
                &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
                None,
            )?;
        }
        let app = Router::new().fallback(handle).with_state(state.clone());
        let handle = axum_server::Handle::new();
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(certificates.server_config()?);
        let server = axum_server::from_tcp_rustls(listener, tls)?.handle(handle.clone());
        tokio::spawn(async move {
            if let Err(err) = server.serve(app.into_make_service()).await {
                tracing::error!("test API server stopped: {err}");
            }
        });
        Ok(TestApiServer {
            url: format!("https://{address}"),
            certificates,
            state,
            handle,
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA (PEM) that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.certificates.ca_pem
    }

    fn user(&self, username: &str) -> Result<&User, ServerError> {
        self.state
            .users
            .find(username)
            .ok_or_else(|| ServerError::UnknownUser(username.to_string()))
    }

    /// The bearer token of a user.
    pub fn token(&self, username: &str) -> Result<&str, ServerError> {
        Ok(&self.user(username)?.token)
    }

    /// A kubeconfig (YAML) for `username` whose context defaults to `namespace`.
    pub fn kubeconfig(&self, username: &str, namespace: &str) -> Result<String, ServerError> {
        let user = self.user(username)?;
        Ok(kubeconfig::render(
            &self.url,
            &self.certificates.ca_pem,
            user.name(),
            &user.token,
            namespace,
        ))
    }

    /// Writes `<dir>/<user>.kubeconfig` and returns its path.
    pub fn write_kubeconfig(
        &self,
        username: &str,
        namespace: &str,
        dir: &Path,
    ) -> Result<PathBuf, ServerError> {
        let path = dir.join(format!("{}.kubeconfig", kubeconfig::context_name(username)));
        std::fs::write(&path, self.kubeconfig(username, namespace)?)?;
        Ok(path)
    }

    /// A `kube::Client` for `username`, built from the generated kubeconfig like any user's.
    pub async fn client(&self, username: &str) -> Result<kube::Client, ServerError> {
        let text = self.kubeconfig(username, "default")?;
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&text)
            .map_err(|err| ServerError::Client(err.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(|err| ServerError::Client(err.to_string()))?;
        kube::Client::try_from(config).map_err(|err| ServerError::Client(err.to_string()))
    }

    /// Creates or replaces an object from a manifest, bypassing authentication and admission
    /// (test set-up). The status in the manifest is kept; so are its `managedFields`, and it has
    /// none without them (like an object whose field managers were cleared).
    pub fn put_object(&self, manifest: &Value) -> Result<Value, ServerError> {
        Ok(seed::put(&self.state.store, manifest, None)?)
    }

    /// [`TestApiServer::put_object`], with `manager` owning what the write set, as when it is
    /// made through the API with `?fieldManager=<manager>` (e.g. `kubectl-create`).
    pub fn put_object_as(&self, manifest: &Value, manager: &str) -> Result<Value, ServerError> {
        Ok(seed::put(&self.state.store, manifest, Some(manager))?)
    }

    /// The stored object, read without authentication.
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let resource = resources::find_kind(api_version, kind)?;
        self.state
            .store
            .get(&ObjectKey::new(resource, namespace, name))
    }

    /// Writes the status the deployment controller would write once the current generation is
    /// fully rolled out and available (no controllers run here), and leaves `spec.replicas`
    /// ready Pods of the current template, as the ReplicaSet controller and kubelets would.
    pub fn mark_deployment_rolled_out(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ServerError> {
        Ok(seed::set_deployment_status(
            &self.state.store,
            namespace,
            name,
            seed::rolled_out_status,
        )?)
    }

    /// Writes the status of a Deployment whose pods are not ready (not rolled out); its Pods
    /// run but are not Ready.
    pub fn mark_deployment_not_ready(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ServerError> {
        Ok(seed::set_deployment_status(
            &self.state.store,
            namespace,
            name,
            seed::not_ready_status,
        )?)
    }

    /// Writes any Deployment status; the Deployment gets `status.replicas` Pods, the first
    /// `status.readyReplicas` of them Ready.
    pub fn set_deployment_status(
        &self,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, ServerError> {
        Ok(seed::set_deployment_status(
            &self.state.store,
            namespace,
            name,
            |_| status.clone(),
        )?)
    }

    /// The Pods of a Deployment (those its selector matches), sorted by name. They follow the
    /// last status helper call: writes through the API do not create or delete Pods.
    pub fn deployment_pods(&self, namespace: &str, name: &str) -> Result<Vec<Value>, ServerError> {
        let deployment = self
            .object("apps/v1", "Deployment", Some(namespace), name)
            .ok_or_else(|| SeedError::NotFound {
                resource: "deployments.apps".into(),
                namespace: namespace.into(),
                name: name.into(),
            })?;
        Ok(pods::of_deployment(&self.state.store, &deployment)?)
    }

    /// Adds a restart to every container of a Pod, as after a crash the kubelet recovered
    /// from (the Pod stays Ready; a "degrading" new color).
    pub fn bump_pod_restart_count(&self, namespace: &str, pod: &str) -> Result<Value, ServerError> {
        Ok(pods::bump_restart_count(&self.state.store, namespace, pod)?)
    }

    /// Sends the API server proxy's traffic for `target` in `namespace` to `backend`
    /// (`http://127.0.0.1:<port>`, an HTTP server of the test). A Service still needs ready Pods
    /// (503 `no endpoints available` otherwise); a Service without its own route goes to its
    /// first ready Pod's route. The latest matching registration wins.
    pub fn route_proxy(
        &self,
        namespace: &str,
        target: ProxyTarget,
        backend: &str,
    ) -> Result<(), ServerError> {
        self.state
            .proxy_routes
            .add(namespace, target, backend)
            .map_err(ServerError::ProxyRoute)
    }

    /// Forgets the event history like an etcd compaction: watches from older resourceVersions
    /// get `410 Expired` and clients must re-list.
    pub fn compact_history(&self) {
        self.state.store.compact();
    }

    /// The current resourceVersion (etcd revision).
    pub fn resource_version(&self) -> u64 {
        self.state.store.current_resource_version()
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|Query(query)| query)
        .unwrap_or_default();
    let pretty = response::wants_pretty(&parts.headers, query.get("pretty").map(String::as_str));
    let request = Incoming {
        method: &parts.method,
        path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        query: &query,
    };
    let reply = dispatch(&state, &request, body)
        .await
        .unwrap_or_else(Reply::from);
    response::render(reply, pretty)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// kube-apiserver serves health and version to anyone (system:public-info-viewer); kubectl's
/// dispatcher asks for /version without credentials.
fn public_reply(route: &Route) -> Option<Reply> {
    match route {
        Route::Health => Some(Reply {
            code: StatusCode::OK,
            body: ReplyBody::Raw(b"ok".to_vec(), "text/plain; charset=utf-8"),
            warnings: Vec::new(),
            headers: Vec::new(),
        }),
        Route::Version => Some(Reply::ok(discovery::version())),
        _ => None,
    }
}

/// A request as the handlers see it.
struct Incoming<'a> {
    method: &'a Method,
    path: &'a str,
    /// The query string as sent, which the proxy forwards.
    raw_query: Option<&'a str>,
    headers: &'a HeaderMap,
    query: &'a HashMap<String, String>,
}

async fn dispatch(state: &ServerState, request: &Incoming<'_>, body: Body) -> Outcome {
    let (method, headers, query) = (request.method, request.headers, request.query);
    let route = route::parse(request.path);
    if let Some(reply) = public_reply(&route) {
        return Ok(reply);
    }
    let authenticated = state
        .users
        .authenticate(header_str(headers, header::AUTHORIZATION))
        .ok_or_else(ApiError::unauthorized)?;
    let impersonated;
    let asked = impersonation(headers);
    let user = match asked.is_requested() {
        false => authenticated,
        true => {
            impersonated = state
                .users
                .impersonate(authenticated, asked)
                .map_err(ApiError::impersonation_refused)?;
            &impersonated
        }
    };
    let accept = header_str(headers, header::ACCEPT).unwrap_or_default();
    let aggregated = |document: Value| {
        let etag = format!(
            "\"{}\"",
            discovery::content_hash(document.to_string().as_bytes())
        );
        Reply::ok(document)
            .with_header(header::CONTENT_TYPE, discovery::AGGREGATED_DISCOVERY)
            .with_header(header::CACHE_CONTROL, "public")
            .with_header(header::ETAG, etag)
            .with_header(header::VARY, "Accept")
    };
    match route {
        Route::CoreVersions if discovery::wants_aggregated(accept) => {
            Ok(aggregated(discovery::aggregated_core()))
        }
        Route::CoreVersions => Ok(Reply::ok(discovery::core_versions(
            &state.address.to_string(),
        ))),
        Route::Groups if discovery::wants_aggregated(accept) => {
            Ok(aggregated(discovery::aggregated_groups()))
        }
        Route::Groups => Ok(Reply::ok(discovery::group_list())),
        Route::Group(name) => Ok(Reply::ok(
            discovery::group(&name).ok_or_else(ApiError::no_such_path)?,
        )),
        Route::ResourceList { group, version } => Ok(Reply::ok(
            discovery::resource_list(&group, &version).ok_or_else(ApiError::no_such_path)?,
        )),
        Route::OpenApiRoot => Ok(Reply {
            code: StatusCode::OK,
            body: ReplyBody::Raw(
                response::encode(&discovery::openapi_root(), false),
                "text/plain; charset=utf-8",
            ),
            warnings: Vec::new(),
            headers: Vec::new(),
        }),
        // An empty protobuf message is an empty OpenAPI v2 document: kubectl finds no schema for
        // any kind, so it skips client-side validation (e.g. of `kind: List` files) and builds
        // apply patches from its compiled-in types.
        Route::OpenApiV2 => Ok(Reply {
            code: StatusCode::OK,
            body: ReplyBody::Raw(
                Vec::new(),
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            ),
            warnings: Vec::new(),
            headers: Vec::new(),
        }),
        Route::OpenApi(path) => Ok(Reply::ok(
            discovery::openapi_for_path(&path).ok_or_else(ApiError::no_such_path)?,
        )),
        // Health and version were answered before authentication.
        Route::Unknown | Route::Health | Route::Version => Err(ApiError::no_such_path().into()),
        Route::Resource(target) => {
            let body = read_body(body).await?;
            serve_resource(state, user, method, headers, query, &target, &body).await
        }
        Route::Proxy { target, path } => {
            let verb = proxy_verb(method).ok_or_else(ApiError::method_not_allowed)?;
            authorize(user, &target, verb)?;
            let incoming = proxy::Incoming {
                method,
                headers,
                query: request.raw_query,
                body: read_body(body).await?,
            };
            Ok(proxy::serve(&state.store, &state.proxy_routes, &target, &path, incoming).await?)
        }
    }
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|err| ApiError::bad_request(format!("reading the request body: {err}")))
}

/// The RBAC verb of a proxy request (kube-apiserver's connect verbs follow the HTTP method).
fn proxy_verb(method: &Method) -> Option<&'static str> {
    match method.as_str() {
        "GET" | "HEAD" => Some("get"),
        "POST" => Some("create"),
        "PUT" => Some("update"),
        "PATCH" => Some("patch"),
        "DELETE" => Some("delete"),
        _ => None,
    }
}

/// The impersonation a request asks for, from its headers.
fn impersonation(headers: &HeaderMap) -> Impersonation {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    Impersonation {
        user: values("impersonate-user").into_iter().next(),
        groups: values("impersonate-group"),
        uid: values("impersonate-uid").into_iter().next(),
    }
}

/// RBAC: refuses what the user's denials name.
fn authorize(user: &User, target: &Target, verb: &str) -> Result<(), ApiError> {
    let resource = target.resource;
    let request = AccessRequest {
        verb,
        group: resource.group,
        resource: resource.plural,
        subresource: target.subresource.map(resources::Subresource::name),
        namespace: target.namespace.as_deref(),
    };
    if user.allowed(&request) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            resource,
            request.subresource,
            target.name.as_deref(),
            request.namespace,
            user.name(),
            verb,
        ))
    }
}

/// The RBAC verb of a request, or `None` for a method the endpoint does not allow.
fn verb(method: &Method, target: &Target, query: &HashMap<String, String>) -> Option<&'static str> {
    let named = target.name.is_some();
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    match (method.as_str(), named) {
        ("GET", true) if watching => Some("watch"),
        ("GET", true) => Some("get"),
        ("GET", false) if watching => Some("watch"),
        ("GET", false) => Some("list"),
        ("POST", false) => Some("create"),
        ("PUT", true) => Some("update"),
        ("PATCH", true) => Some("patch"),
        ("DELETE", true) => Some("delete"),
        _ => None,
    }
}

async fn serve_resource(
    state: &ServerState,
    user: &User,
    method: &Method,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    target: &Target,
    body: &[u8],
) -> Outcome {
    let resource = target.resource;
    let verb = verb(method, target, query)
        .filter(|verb| target.subresource.is_some() || resource.verbs.contains(verb))
        .ok_or_else(ApiError::method_not_allowed)?;
    let content_type = header_str(headers, header::CONTENT_TYPE);
    authorize(user, target, verb)?;
    if std::ptr::eq(resource, resources::self_subject_reviews()) {
        return Ok(review::self_subject_review(&user.info));
    }
    let applying_new_object = verb == "patch"
        && PatchType::from_content_type(content_type).ok() == Some(PatchType::Apply)
        && target.subresource.is_none()
        && state
            .store
            .get(&ObjectKey::new(
                resource,
                target.namespace.as_deref(),
                target.name.as_deref().unwrap_or_default(),
            ))
            .is_none();
    if applying_new_object {
        // Server-side apply that creates needs the create permission too.
        authorize(user, target, "create")?;
    }

    let representation =
        Representation::from_accept(header_str(headers, header::ACCEPT).unwrap_or_default());
    let request = write::WriteRequest {
        store: &state.store,
        require_namespaces: state.require_namespaces,
        user,
        target,
        query,
        content_type,
        user_agent: header_str(headers, header::USER_AGENT),
        body,
    };
    match verb {
        "get" => Ok(read::get(&state.store, target, representation)?),
        "list" => Ok(read::list(&state.store, target, query, representation)?),
        "watch" => Ok(watch::watch(&state.store, target, query, representation)?),
        "create" => write::create(&request).await,
        "update" => write::update(&request).await,
        "patch" => write::patch(&request).await,
        _ => write::delete(&request).await,
    }
}
