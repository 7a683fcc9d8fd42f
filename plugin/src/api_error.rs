//! Failed API requests in the user's words: which request failed ([`ApiCall`]), and
//! what to do about it ([`explain`]).

use std::fmt;

use kube::Resource;

use crate::exit::Refused;

/// One API request, described for error messages.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// The RBAC verb: get, list, patch, create...
    pub verb: &'static str,
    /// `deployments.apps`, `services`, `deployments.apps/scale`.
    pub resource: String,
    /// The namespace, for namespaced requests.
    pub namespace: Option<String>,
    /// The object, when one is named.
    pub name: Option<String>,
}

impl ApiCall {
    /// A request on one object of kind `K`.
    pub fn new<K: Resource<DynamicType = ()>>(
        verb: &'static str,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        ApiCall {
            verb,
            resource: qualified_resource::<K>(),
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
        }
    }

    /// `get` of one object.
    pub fn get<K: Resource<DynamicType = ()>>(namespace: Option<&str>, name: &str) -> Self {
        Self::new::<K>("get", namespace, name)
    }

    /// `list` of a kind.
    pub fn list<K: Resource<DynamicType = ()>>(namespace: Option<&str>) -> Self {
        ApiCall {
            verb: "list",
            resource: qualified_resource::<K>(),
            namespace: namespace.map(str::to_string),
            name: None,
        }
    }

    /// The same request on a subresource (`deployments.apps/scale`).
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.resource = format!("{}/{subresource}", self.resource);
        self
    }
}

impl fmt::Display for ApiCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

/// `deployments.apps`, `services`, `httproutes.gateway.networking.k8s.io`: kubectl's names.
fn qualified_resource<K: Resource<DynamicType = ()>>() -> String {
    let plural = K::plural(&());
    let group = K::group(&());
    if group.is_empty() {
        plural.into_owned()
    } else {
        format!("{plural}.{group}")
    }
}

/// Whether the API answered 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

/// Whether the API answered 409 Conflict (a resourceVersion precondition failed).
pub fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409)
}

/// A failed request as a person reads it: a guard denial verbatim (exit 2), missing
/// RBAC naming the verb and resource, a missing Gateway API, a missing object.
pub fn explain(err: kube::Error, call: &ApiCall) -> anyhow::Error {
    let kube::Error::Api(status) = &err else {
        return anyhow::Error::new(err).context(format!(
            "cannot {call}: the API server did not answer; check the cluster is reachable (kubectl cluster-info) or raise --request-timeout"
        ));
    };
    let message = status.message.clone();
    if matches!(status.code, 400 | 403) && message.starts_with("admission webhook") {
        return Refused(message).into();
    }
    let ns_flag = call
        .namespace
        .as_deref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default();
    match status.code {
        401 => anyhow::anyhow!(
            "the API server rejected the credentials ({message}); log in again, or pick another context with --context"
        ),
        403 => anyhow::anyhow!(
            "{message}; you need RBAC permission to {} {}{}: ask a cluster admin (check with `kubectl auth can-i {} {}{ns_flag}`)",
            call.verb,
            call.resource,
            call.namespace
                .as_deref()
                .map(|ns| format!(" in namespace {ns}"))
                .unwrap_or_default(),
            call.verb,
            call.resource,
        ),
        404 if call.resource.starts_with("httproutes.") && call.name.is_none() => anyhow::anyhow!(
            "the Gateway API is not installed: this cluster does not serve {}; install the Gateway API CRDs (https://gateway-api.sigs.k8s.io/guides/#installing-gateway-api)",
            call.resource
        ),
        404 => anyhow::anyhow!("cannot {call}: {message}; check the name and the namespace (-n)"),
        _ => anyhow::Error::new(err).context(format!("cannot {call}")),
    }
}

#[cfg(test)]
mod tests {
    use gateway_api::apis::standard::httproutes::HttpRoute;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    use kube::core::Status;

    use super::*;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            message: message.to_string(),
            ..Status::default()
        }))
    }

    #[test]
    fn forbidden_names_the_verb_and_resource() {
        let call = ApiCall::new::<Service>("patch", Some("shop"), "api");
        let err = explain(
            api_error(
                403,
                "services \"api\" is forbidden: User \"alice\" cannot patch resource \"services\" in API group \"\" in the namespace \"shop\"",
            ),
            &call,
        );
        assert_eq!(
            err.to_string(),
            "services \"api\" is forbidden: User \"alice\" cannot patch resource \"services\" in API group \"\" in the namespace \"shop\"; you need RBAC permission to patch services in namespace shop: ask a cluster admin (check with `kubectl auth can-i patch services -n shop`)"
        );
    }

    #[test]
    fn a_guard_denial_is_a_refusal_shown_verbatim() {
        let message = "admission webhook \"guard.bluegreen.dev\" denied the request: BG001 ready-target: not ready";
        let err = explain(
            api_error(403, message),
            &ApiCall::new::<Service>("patch", Some("shop"), "api"),
        );
        assert_eq!(err.downcast_ref::<Refused>().unwrap().0, message);
    }

    #[test]
    fn a_missing_gateway_api_says_so() {
        let err = explain(
            api_error(404, "the server could not find the requested resource"),
            &ApiCall::list::<HttpRoute>(Some("shop")),
        );
        assert!(
            err.to_string().starts_with(
                "the Gateway API is not installed: this cluster does not serve httproutes.gateway.networking.k8s.io"
            ),
            "{err}"
        );
        let err = explain(
            api_error(404, "deployments.apps \"api-green\" not found"),
            &ApiCall::get::<Deployment>(Some("shop"), "api-green"),
        );
        assert_eq!(
            err.to_string(),
            "cannot get deployments.apps api-green in namespace shop: deployments.apps \"api-green\" not found; check the name and the namespace (-n)"
        );
    }
}
