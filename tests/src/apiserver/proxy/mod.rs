//! The API server's proxy: `/api/v1/namespaces/<ns>/services|pods/<[scheme:]name[:port]>/proxy/...`
//! resolved like kube-apiserver resolves it (a Service goes to one of its ready Pods, a Pod to
//! its IP) and forwarded. Pods here have no network of their own, so a test tells the server
//! where a Service's or Pod's traffic goes ([`ProxyTarget`]); a Pod nobody routed answers like
//! a Pod with nothing listening.

pub(crate) mod upstream;

use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;

use super::object;
use super::pods::{self, POD_IP};
use super::resources;
use super::response::{Reply, ReplyBody};
use super::route::Target;
use super::selector::LabelSelector;
use super::status::{ApiError, ApiResult};
use super::store::{ObjectKey, Store};

/// What a proxy route sends to a backend (all in the route's namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyTarget {
    /// All traffic to the Service, while it has ready Pods (takes precedence over its Pods' routes).
    Service(String),
    /// One Pod, by name.
    Pod(String),
    /// Every Pod matching a label selector (`app=api,color=green`): e.g. all Pods of a Deployment.
    Pods(String),
}

enum Matcher {
    Service(String),
    Pod(String),
    Pods(LabelSelector),
}

struct Registered {
    namespace: String,
    matcher: Matcher,
    backend: Uri,
}

/// The routes tests registered; the latest registration that matches wins.
#[derive(Default)]
pub struct ProxyRoutes {
    routes: Mutex<Vec<Registered>>,
}

impl ProxyRoutes {
    /// Registers `backend` (`http://host:port[/base]`) for `target` in `namespace`.
    pub fn add(&self, namespace: &str, target: ProxyTarget, backend: &str) -> Result<(), String> {
        let backend: Uri = backend
            .parse()
            .map_err(|err| format!("backend URL {backend:?}: {err}"))?;
        if backend.scheme_str() != Some("http") || backend.authority().is_none() {
            return Err(format!("backend URL {backend} must be http://host:port"));
        }
        let matcher = match target {
            ProxyTarget::Service(name) => Matcher::Service(name),
            ProxyTarget::Pod(name) => Matcher::Pod(name),
            ProxyTarget::Pods(selector) => Matcher::Pods(
                LabelSelector::parse(&selector)
                    .map_err(|err| err.status.message.unwrap_or_default())?,
            ),
        };
        self.lock().push(Registered {
            namespace: namespace.to_string(),
            matcher,
            backend,
        });
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Registered>> {
        // Registrations are single pushes: a poisoned list is still consistent.
        self.routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn find(&self, namespace: &str, matches: impl Fn(&Matcher) -> bool) -> Option<Uri> {
        self.lock()
            .iter()
            .rev()
            .find(|r| r.namespace == namespace && matches(&r.matcher))
            .map(|r| r.backend.clone())
    }

    fn for_service(&self, namespace: &str, name: &str) -> Option<Uri> {
        self.find(namespace, |m| matches!(m, Matcher::Service(n) if n == name))
    }

    fn for_pod(&self, namespace: &str, pod: &Value) -> Option<Uri> {
        let name = object::name(pod).unwrap_or_default();
        let labels = object::labels(pod);
        self.find(namespace, |m| match m {
            Matcher::Pod(n) => n == name,
            Matcher::Pods(selector) => selector.matches(&labels),
            Matcher::Service(_) => false,
        })
    }
}

/// The client's request, as the proxy forwards it.
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub body: Bytes,
}

/// Where a request goes: the routed backend, or none, and the Pod address a real cluster would
/// dial (for the error when nothing listens).
struct Backend {
    base: Option<Uri>,
    dialed: String,
}

pub async fn serve(
    store: &Store,
    routes: &ProxyRoutes,
    target: &Target,
    path: &str,
    incoming: Incoming<'_>,
) -> ApiResult<Reply> {
    let namespace = target.namespace.as_deref().unwrap_or_default();
    let id = target.name.as_deref().unwrap_or_default();
    let backend = if target.resource.kind == "Pod" {
        pod_backend(store, routes, namespace, id)?
    } else {
        service_backend(store, routes, namespace, id)?
    };
    let unreachable = |detail: String| {
        ApiError::service_unavailable(format!("error trying to reach service: {detail}"))
    };
    let base = backend.base.ok_or_else(|| {
        unreachable(format!(
            "dial tcp {}: connect: connection refused",
            backend.dialed
        ))
    })?;
    let path = if path.is_empty() { "/" } else { path };
    let exchange = upstream::Exchange {
        method: incoming.method,
        headers: incoming.headers,
        path_and_query: match incoming.query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        },
        body: incoming.body,
    };
    let answer = upstream::send(&base, exchange).await.map_err(unreachable)?;
    let mut reply = Reply {
        code: answer.status,
        body: ReplyBody::Raw(answer.body, "text/plain; charset=utf-8"),
        warnings: Vec::new(),
        headers: Vec::new(),
    };
    for (name, value) in answer.headers {
        reply = reply.with_header(name, value);
    }
    Ok(reply)
}

/// `[scheme:]name[:port]`, as Go's `utilnet.SplitSchemeNamePort` reads it.
fn split_scheme_name_port(id: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https")).then_some((name, port))
}

/// A Service goes to its first ready Pod (kube-apiserver picks one at random).
fn service_backend(
    store: &Store,
    routes: &ProxyRoutes,
    namespace: &str,
    id: &str,
) -> ApiResult<Backend> {
    let (name, port) = split_scheme_name_port(id)
        .ok_or_else(|| ApiError::bad_request(format!("invalid service request \"{id}\"")))?;
    let services = resources::services();
    let service = store
        .get(&ObjectKey::new(services, Some(namespace), name))
        .ok_or_else(|| ApiError::not_found(services, name))?;
    let ports = object::at(&service, &["spec", "ports"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let service_port = match port.parse::<i64>() {
        _ if port.is_empty() => ports.first(),
        Ok(number) => Some(ports.iter().find(|p| p["port"] == number).ok_or_else(|| {
            ApiError::service_unavailable(format!(
                "no service port {number} found for service \"{name}\""
            ))
        })?),
        Err(_) => Some(ports.iter().find(|p| p["name"] == port).ok_or_else(|| {
            ApiError::service_unavailable(format!("no endpoints available for service \"{id}\""))
        })?),
    };
    let selector = object::at(&service, &["spec", "selector"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (candidates, _) = store.list(resources::pods(), Some(namespace));
    let endpoint = candidates.into_iter().find(|pod| {
        let labels = object::labels(pod);
        !selector.is_empty()
            && pods::is_ready(pod)
            && selector
                .iter()
                .all(|(key, value)| labels.get(key).is_some_and(|l| value == l.as_str()))
    });
    let pod = endpoint.ok_or_else(|| {
        ApiError::service_unavailable(format!("no endpoints available for service \"{name}\""))
    })?;
    let target_port = service_port
        .and_then(|p| p.get("targetPort").filter(|t| t.is_i64()).or(p.get("port")))
        .map_or_else(|| "80".to_string(), Value::to_string);
    Ok(Backend {
        base: routes
            .for_service(namespace, name)
            .or_else(|| routes.for_pod(namespace, &pod)),
        dialed: format!("{}:{target_port}", pod_ip(&pod)),
    })
}

fn pod_backend(
    store: &Store,
    routes: &ProxyRoutes,
    namespace: &str,
    id: &str,
) -> ApiResult<Backend> {
    let (name, port) = split_scheme_name_port(id)
        .ok_or_else(|| ApiError::bad_request(format!("invalid pod request \"{id}\"")))?;
    let pods = resources::pods();
    let pod = store
        .get(&ObjectKey::new(pods, Some(namespace), name))
        .ok_or_else(|| ApiError::not_found(pods, name))?;
    // Without a port, kube-apiserver dials the first declared container port.
    let port = if port.is_empty() {
        match &pod["spec"]["containers"][0]["ports"][0]["containerPort"] {
            Value::Number(number) => number.to_string(),
            _ => "80".to_string(),
        }
    } else {
        port.to_string()
    };
    Ok(Backend {
        base: routes.for_pod(namespace, &pod),
        dialed: format!("{}:{port}", pod_ip(&pod)),
    })
}

fn pod_ip(pod: &Value) -> &str {
    object::at(pod, &["status", "podIP"])
        .and_then(Value::as_str)
        .unwrap_or(POD_IP)
}
