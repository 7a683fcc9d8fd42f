//! The blue-green view of a set of objects: a router and its two colors.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use gateway_api::apis::standard::httproutes::HttpRoute as HTTPRoute;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PodSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use crate::contract::{APP_LABEL, LIVE_SINCE_ANNOTATION, PREVIOUS_COLOR_ANNOTATION};
use crate::finding::ObjectRef;

/// The kinds of router bluegreen can switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouterKind {
    /// A core/v1 Service whose selector carries the color label.
    Service,
    /// A gateway.networking.k8s.io/v1 HTTPRoute whose backendRefs name one Service per color.
    HttpRoute,
}

impl RouterKind {
    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            RouterKind::Service => "Service",
            RouterKind::HttpRoute => "HTTPRoute",
        }
    }

    /// The short form used in app references (`svc/api`).
    pub fn short(self) -> &'static str {
        match self {
            RouterKind::Service => "svc",
            RouterKind::HttpRoute => "httproute",
        }
    }
}

/// How a user names an app: by its router, `svc/api` or `httproute/myapp`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterRef {
    /// The router's kind.
    pub kind: RouterKind,
    /// The router's name.
    pub name: String,
}

/// A router reference that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{input:?} does not name a router; name the app by its router, e.g. svc/api or httproute/myapp"
)]
pub struct RouterRefError {
    /// What was given.
    pub input: String,
}

impl FromStr for RouterRef {
    type Err = RouterRefError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || RouterRefError {
            input: input.to_string(),
        };
        let (kind, name) = input.split_once('/').ok_or_else(err)?;
        let kind = match kind.to_ascii_lowercase().as_str() {
            "svc" | "service" | "services" => RouterKind::Service,
            "httproute"
            | "httproutes"
            | "httproute.gateway.networking.k8s.io"
            | "httproutes.gateway.networking.k8s.io" => RouterKind::HttpRoute,
            _ => return Err(err()),
        };
        if name.is_empty() || name.contains('/') {
            return Err(err());
        }
        Ok(RouterRef {
            kind,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for RouterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.short(), self.name)
    }
}

/// The object that decides which color is live.
#[derive(Clone, Copy, Debug)]
pub enum Router<'a> {
    /// A Service whose selector names the live color.
    Service(&'a Service),
    /// An HTTPRoute whose backendRefs send traffic to the live color's Service.
    HttpRoute(&'a HTTPRoute),
}

impl<'a> Router<'a> {
    /// The router's kind.
    pub fn kind(&self) -> RouterKind {
        match self {
            Router::Service(_) => RouterKind::Service,
            Router::HttpRoute(_) => RouterKind::HttpRoute,
        }
    }

    /// The router's name.
    pub fn name(&self) -> String {
        match self {
            Router::Service(s) => s.name_any(),
            Router::HttpRoute(r) => r.name_any(),
        }
    }

    /// The router's namespace (`default` when unset).
    pub fn namespace(&self) -> String {
        match self {
            Router::Service(s) => s.namespace(),
            Router::HttpRoute(r) => r.namespace(),
        }
        .unwrap_or_else(|| "default".to_string())
    }

    /// The router's annotations.
    pub fn annotations(&self) -> &'a BTreeMap<String, String> {
        match self {
            Router::Service(s) => s.annotations(),
            Router::HttpRoute(r) => r.annotations(),
        }
    }

    /// The router's metadata.
    pub fn meta(&self) -> &'a ObjectMeta {
        match self {
            Router::Service(s) => &s.metadata,
            Router::HttpRoute(r) => &r.metadata,
        }
    }

    /// The router's labels.
    pub fn labels(&self) -> &'a BTreeMap<String, String> {
        match self {
            Router::Service(s) => s.labels(),
            Router::HttpRoute(r) => r.labels(),
        }
    }

    /// The name of the app this router switches: its `bluegreen.dev/app` label, or its
    /// own name.
    pub fn app_name(&self) -> String {
        self.labels()
            .get(APP_LABEL)
            .cloned()
            .unwrap_or_else(|| self.name())
    }

    /// `svc/api` or `httproute/myapp`.
    pub fn reference(&self) -> RouterRef {
        RouterRef {
            kind: self.kind(),
            name: self.name(),
        }
    }

    /// The router as the object of a finding.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind().kind(), &self.namespace(), &self.name())
    }
}

/// One color of an app.
#[derive(Clone, Copy, Debug)]
pub struct ColorSide<'a> {
    /// The color's value of the color label, e.g. `green`.
    pub color: &'a str,
    /// The Deployment running this color.
    pub deployment: &'a Deployment,
    /// The color's own Service (HTTPRoute routers only).
    pub service: Option<&'a Service>,
}

impl<'a> ColorSide<'a> {
    /// The Deployment's name.
    pub fn deployment_name(&self) -> String {
        self.deployment.name_any()
    }

    /// The Deployment as the object of a finding.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(
            "Deployment",
            &self
                .deployment
                .namespace()
                .unwrap_or_else(|| "default".to_string()),
            &self.deployment.name_any(),
        )
    }

    /// `spec.replicas` (Kubernetes defaults it to 1).
    pub fn desired_replicas(&self) -> i32 {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
    }

    /// Whether the Deployment has available pods: a router that selects this color
    /// sends traffic to it at once.
    pub fn has_available_pods(&self) -> bool {
        self.deployment
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
            > 0
    }

    /// The pod template's spec.
    pub fn pod_spec(&self) -> Option<&'a PodSpec> {
        pod_spec(self.deployment)
    }

    /// Every container image of the pod template, init containers included.
    pub fn images(&self) -> Vec<(&'a str, &'a str)> {
        deployment_images(self.deployment)
    }
}

/// A Deployment's pod template spec.
pub fn pod_spec(deployment: &Deployment) -> Option<&PodSpec> {
    deployment.spec.as_ref()?.template.spec.as_ref()
}

/// A Deployment's pod template labels.
pub fn template_labels(deployment: &Deployment) -> Option<&BTreeMap<String, String>> {
    deployment
        .spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .labels
        .as_ref()
}

/// `(container name, image)` of every container of a Deployment's pod template, init
/// containers first: the images BG006 judges, the guard verifies and `check` counts.
pub fn deployment_images(deployment: &Deployment) -> Vec<(&str, &str)> {
    pod_spec(deployment)
        .map(container_images)
        .unwrap_or_default()
}

/// `(container name, image)` of every container, init containers first; a container
/// without an image has `""`.
pub fn container_images(pod: &PodSpec) -> Vec<(&str, &str)> {
    pod.init_containers
        .iter()
        .flatten()
        .chain(pod.containers.iter())
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or("")))
        .collect()
}

/// A blue-green app: a router and its two colors, discovered from objects.
#[derive(Clone, Debug)]
pub struct App<'a> {
    /// The app's name: the router's `bluegreen.dev/app` label, or the router's name.
    pub name: String,
    /// The namespace.
    pub namespace: String,
    /// The router.
    pub router: Router<'a>,
    /// The pod label key that tells the colors apart.
    pub color_label: String,
    /// The color that receives the traffic.
    pub live: ColorSide<'a>,
    /// The other color.
    pub idle: ColorSide<'a>,
}

impl<'a> App<'a> {
    /// The side of that color, if it is one of the app's two.
    pub fn side(&self, color: &str) -> Option<&ColorSide<'a>> {
        [&self.live, &self.idle]
            .into_iter()
            .find(|s| s.color == color)
    }

    /// The side running that Deployment, if it is one of the app's two.
    pub fn side_of_deployment(&self, name: &str) -> Option<&ColorSide<'a>> {
        [&self.live, &self.idle]
            .into_iter()
            .find(|s| s.deployment.metadata.name.as_deref() == Some(name))
    }

    /// The side that is not `color`.
    pub fn other(&self, color: &str) -> &ColorSide<'a> {
        if self.live.color == color {
            &self.idle
        } else {
            &self.live
        }
    }

    /// When the live color took traffic, from `bluegreen.dev/live-since`.
    pub fn live_since(&self) -> Option<Timestamp> {
        self.router
            .annotations()
            .get(LIVE_SINCE_ANNOTATION)?
            .parse()
            .ok()
    }

    /// The color that was live before the last switch, from `bluegreen.dev/previous-color`,
    /// when it names this app's idle color.
    pub fn previous_color(&self) -> Option<&'a str> {
        let previous = self.router.annotations().get(PREVIOUS_COLOR_ANNOTATION)?;
        (previous == self.idle.color).then_some(self.idle.color)
    }

    /// Whether the router carries the `bluegreen.dev/app` label.
    pub fn is_labelled(&self) -> bool {
        self.router.labels().contains_key(APP_LABEL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_refs_parse_like_kubectl() {
        for (input, kind, name) in [
            ("svc/api", RouterKind::Service, "api"),
            ("service/api", RouterKind::Service, "api"),
            ("services/api", RouterKind::Service, "api"),
            ("httproute/myapp", RouterKind::HttpRoute, "myapp"),
            (
                "httproutes.gateway.networking.k8s.io/myapp",
                RouterKind::HttpRoute,
                "myapp",
            ),
        ] {
            let parsed: RouterRef = input.parse().unwrap();
            assert_eq!((parsed.kind, parsed.name.as_str()), (kind, name), "{input}");
        }
        let err = "deploy/api".parse::<RouterRef>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"deploy/api\" does not name a router; name the app by its router, e.g. svc/api or httproute/myapp"
        );
        assert!("api".parse::<RouterRef>().is_err());
        assert!("svc/".parse::<RouterRef>().is_err());
    }
}
