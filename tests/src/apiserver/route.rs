//! URL paths of the Kubernetes API, parsed into what they name.

use super::resources::{self, ResourceType, Subresource};

/// A resource path: `/api/v1/namespaces/capture/services/api/status` and the like.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
}

#[derive(Debug, Clone)]
pub enum Route {
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    Version,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`.
    ResourceList {
        group: String,
        version: String,
    },
    OpenApiRoot,
    OpenApi(String),
    /// `/openapi/v2`, which clients read as protobuf.
    OpenApiV2,
    Resource(Target),
    /// `/api/v1/namespaces/<ns>/services|pods/<[scheme:]name[:port]>/proxy<path>`: the target's
    /// name is the whole `[scheme:]name[:port]` id; `path` is what follows `proxy`.
    Proxy {
        target: Target,
        path: String,
    },
    Unknown,
}

pub fn parse(path: &str) -> Route {
    if let Some(route) = proxy_route(path) {
        return route;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["version"] => Route::Version,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", rest @ ..] if !rest.is_empty() => Route::OpenApi(rest.join("/")),
        ["apis", group] => Route::Group(group.to_string()),
        ["api", version] => Route::ResourceList {
            group: String::new(),
            version: version.to_string(),
        },
        ["apis", group, version] => Route::ResourceList {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::Unknown,
    }
}

/// Proxy paths are matched on the raw path: everything after `proxy`, trailing slash included,
/// goes to the backend.
fn proxy_route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let mut parts = rest.splitn(4, '/');
    let (namespace, plural, id) = (parts.next()?, parts.next()?, parts.next()?);
    let tail = parts.next()?.strip_prefix("proxy")?;
    if !(tail.is_empty() || tail.starts_with('/')) || namespace.is_empty() || id.is_empty() {
        return None;
    }
    let resource = resources::find("", "v1", plural)
        .filter(|resource| resource.has_subresource(Subresource::Proxy))?;
    Some(Route::Proxy {
        target: Target {
            resource,
            namespace: Some(namespace.to_string()),
            name: Some(id.to_string()),
            subresource: Some(Subresource::Proxy),
        },
        path: tail.to_string(),
    })
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let target = |plural: &str, namespace: Option<&str>, tail: &[&str]| -> Option<Target> {
        let resource = resources::find(group, version, plural)?;
        if namespace.is_some() && !resource.namespaced {
            return None;
        }
        let (name, subresource) = match tail {
            [] => (None, None),
            [name] => (Some(name.to_string()), None),
            [name, sub] => (
                Some(name.to_string()),
                Some(resource.subresource_named(sub)?),
            ),
            _ => return None,
        };
        // A namespaced object is only addressed within its namespace.
        if resource.namespaced && namespace.is_none() && name.is_some() {
            return None;
        }
        Some(Target {
            resource,
            namespace: namespace.map(str::to_string),
            name,
            subresource,
        })
    };
    let parsed = match rest {
        // `/api/v1/namespaces/<name>/status` is the Namespace's own subresource.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            target("namespaces", None, &[name, sub])
        }
        ["namespaces", namespace, plural, tail @ ..] => target(plural, Some(namespace), tail),
        [plural, tail @ ..] => target(plural, None, tail),
        [] => None,
    };
    parsed.map_or(Route::Unknown, Route::Resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse(path) {
            Route::Resource(target) => target,
            other => panic!("{path} parsed as {other:?}"),
        }
    }

    #[test]
    fn resource_paths() {
        let scale = target("/apis/apps/v1/namespaces/capture/deployments/app-green/scale");
        assert_eq!(scale.resource.plural, "deployments");
        assert_eq!(scale.namespace.as_deref(), Some("capture"));
        assert_eq!(scale.name.as_deref(), Some("app-green"));
        assert_eq!(scale.subresource, Some(Subresource::Scale));

        let namespace = target("/api/v1/namespaces/capture");
        assert_eq!(namespace.resource.plural, "namespaces");
        assert_eq!(namespace.name.as_deref(), Some("capture"));

        let all = target("/apis/apps/v1/deployments");
        assert!(all.namespace.is_none() && all.name.is_none());

        assert!(matches!(
            parse("/apis/apps/v1/namespaces/x/deployments/a/b/c"),
            Route::Unknown
        ));
        assert!(matches!(
            parse("/api/v1/namespaces/x/endpoints"),
            Route::Unknown
        ));
    }

    #[test]
    fn proxy_paths_keep_the_id_and_the_rest_of_the_path() {
        let Route::Proxy { target, path } =
            parse("/api/v1/namespaces/shop/services/http:app-green:80/proxy/api/v1/")
        else {
            panic!("not a proxy route");
        };
        assert_eq!(target.resource.plural, "services");
        assert_eq!(target.name.as_deref(), Some("http:app-green:80"));
        assert_eq!(path, "/api/v1/");
        assert!(matches!(
            parse("/api/v1/namespaces/shop/pods/app-1/proxy"),
            Route::Proxy { path, .. } if path.is_empty()
        ));
        assert!(matches!(
            parse("/api/v1/namespaces/shop/configmaps/x/proxy/"),
            Route::Unknown
        ));
    }
}
