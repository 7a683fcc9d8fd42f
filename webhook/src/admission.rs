//! Reading an AdmissionReview: the request body into an [`AdmissionRequest`], and the
//! request into the [`Subject`] whose [`Change`] the rules judge.

use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Resource;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview, Operation};
use policy::{Change, Router, Snapshot};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// The only AdmissionReview version the guard registers for.
pub const ADMISSION_V1: &str = "admission.k8s.io/v1";

/// Parses a request body into the AdmissionRequest it carries; anything else is an
/// [`Error`] that answers 400.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>> {
    // Tracking the path costs an allocation per key, for every key of both objects:
    // only a body that does not parse is read again with it, for the message.
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(_) => parse_with_path(body)?,
    };
    if review.types.api_version != ADMISSION_V1 || review.types.kind != "AdmissionReview" {
        return Err(Error::NotAdmissionReview(format!(
            "apiVersion {:?} kind {:?}; the guard answers apiVersion {ADMISSION_V1} kind AdmissionReview (set admissionReviewVersions: [v1])",
            review.types.api_version, review.types.kind
        )));
    }
    review
        .try_into()
        .map_err(|_| Error::NotAdmissionReview("it has no request".to_string()))
}

/// [`parse_review`]'s slow path, naming where a body that does not parse goes wrong.
fn parse_with_path(body: &[u8]) -> Result<AdmissionReview<DynamicObject>> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let review = serde_path_to_error::deserialize(&mut json).map_err(|err| {
        if err.inner().is_data() {
            Error::NotAdmissionReview(format!("at {}: {}", err.path(), err.inner()))
        } else {
            Error::NotJson(err.into_inner().to_string())
        }
    })?;
    json.end().map_err(|err| Error::NotJson(err.to_string()))?;
    Ok(review)
}

/// A request the guard should judge but cannot read; it is refused with this message.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// The object of a router write.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per request, never in collections
pub enum RouterObject {
    /// A Service.
    Service(Service),
    /// An HTTPRoute.
    HttpRoute(HttpRoute),
}

impl RouterObject {
    /// The router as the rules see it.
    pub fn as_router(&self) -> Router<'_> {
        match self {
            RouterObject::Service(service) => Router::Service(service),
            RouterObject::HttpRoute(route) => Router::HttpRoute(route),
        }
    }
}

/// What a request writes, typed, when it is a kind the rules judge.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per request, never in collections
pub enum Subject {
    /// A Service or HTTPRoute written.
    Router {
        /// Stored object (UPDATE, DELETE).
        old: Option<RouterObject>,
        /// Object as it would be stored (CREATE, UPDATE).
        new: Option<RouterObject>,
    },
    /// A Deployment written.
    Deployment {
        /// Stored object.
        old: Option<Deployment>,
        /// Object as it would be stored.
        new: Option<Deployment>,
    },
    /// The `scale` subresource of a Deployment.
    Scale {
        /// The Deployment's name.
        deployment: String,
        /// The requested replicas.
        replicas: i32,
    },
    /// A NetworkPolicy written.
    NetworkPolicy {
        /// Stored object.
        old: Option<NetworkPolicy>,
        /// Object as it would be stored.
        new: Option<NetworkPolicy>,
    },
}

/// The kind label of requests the guard does not judge.
pub const OTHER_KIND: &str = "other";

/// Which objects of a request an operation needs.
struct Needs {
    old: bool,
    new: bool,
}

impl Subject {
    /// The subject of `request`, taking its objects out; `Ok(None)` for requests the
    /// rules do not judge (other kinds, other subresources, CONNECT).
    pub fn take_from(
        request: &mut AdmissionRequest<DynamicObject>,
    ) -> Result<Option<Subject>, Unreadable> {
        let needs = match request.operation {
            Operation::Create => Needs {
                old: false,
                new: true,
            },
            Operation::Update => Needs {
                old: true,
                new: true,
            },
            Operation::Delete => Needs {
                old: true,
                new: false,
            },
            Operation::Connect => return Ok(None),
        };
        let kind = (request.kind.group.as_str(), request.kind.kind.as_str());
        match request.sub_resource.as_deref() {
            None | Some("") => {}
            Some("scale") if is_deployments(request) => return Self::scale(request),
            Some(_) => return Ok(None),
        }
        let subject = match kind {
            ("", "Service") => router(request, &needs, RouterObject::Service)?,
            ("gateway.networking.k8s.io", "HTTPRoute") => {
                router(request, &needs, RouterObject::HttpRoute)?
            }
            ("apps", "Deployment") => {
                let (old, new) = objects(request, &needs)?;
                Subject::Deployment { old, new }
            }
            ("networking.k8s.io", "NetworkPolicy") => {
                let (old, new) = objects(request, &needs)?;
                Subject::NetworkPolicy { old, new }
            }
            _ => return Ok(None),
        };
        Ok(Some(subject))
    }

    fn scale(request: &mut AdmissionRequest<DynamicObject>) -> Result<Option<Subject>, Unreadable> {
        if request.operation != Operation::Update {
            return Ok(None);
        }
        let scale = request
            .object
            .as_ref()
            .ok_or_else(|| missing("object", "UPDATE"))?;
        // autoscaling/v1 ScaleSpec omits replicas when it is 0 (`kubectl scale --replicas=0`).
        let replicas = match scale.data.pointer("/spec/replicas") {
            None | Some(Value::Null) => 0,
            Some(value) => value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| {
                    Unreadable(format!(
                        "request.object.spec.replicas of the Scale is {value}, not a replica count"
                    ))
                })?,
        };
        Ok(Some(Subject::Scale {
            deployment: request.name.clone(),
            replicas,
        }))
    }

    /// The kind as metrics and logs name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Router {
                old: Some(RouterObject::HttpRoute(_)),
                ..
            }
            | Subject::Router {
                new: Some(RouterObject::HttpRoute(_)),
                ..
            } => "HTTPRoute",
            Subject::Router { .. } => "Service",
            Subject::Deployment { .. } => "Deployment",
            Subject::Scale { .. } => "Scale",
            Subject::NetworkPolicy { .. } => "NetworkPolicy",
        }
    }

    /// The write as the rules see it, against the stored state of its namespace. A
    /// scale of a Deployment the cache does not hold changes nothing the rules judge.
    pub fn change<'a>(&'a self, snapshot: &Snapshot<'a>) -> Option<Change<'a>> {
        Some(match self {
            Subject::Router { old, new } => Change::Router {
                old: old.as_ref().map(RouterObject::as_router),
                new: new.as_ref().map(RouterObject::as_router),
            },
            Subject::Deployment { old, new } => Change::Deployment {
                old: old.as_ref(),
                new: new.as_ref(),
            },
            Subject::Scale {
                deployment,
                replicas,
            } => Change::Scale {
                deployment: snapshot.deployment(deployment)?,
                replicas: *replicas,
            },
            Subject::NetworkPolicy { old, new } => Change::NetworkPolicy {
                old: old.as_ref(),
                new: new.as_ref(),
            },
        })
    }
}

fn router<K>(
    request: &mut AdmissionRequest<DynamicObject>,
    needs: &Needs,
    wrap: fn(K) -> RouterObject,
) -> Result<Subject, Unreadable>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let (old, new) = objects(request, needs)?;
    Ok(Subject::Router {
        old: old.map(wrap),
        new: new.map(wrap),
    })
}

fn is_deployments(request: &AdmissionRequest<DynamicObject>) -> bool {
    request.resource.group == "apps" && request.resource.resource == "deployments"
}

fn missing(field: &str, operation: &str) -> Unreadable {
    Unreadable(format!(
        "the AdmissionReview has no request.{field}, which kube-apiserver always sends for {operation}; the guard cannot judge the write without it"
    ))
}

/// The typed old and new objects the operation needs, taken out of the request.
fn objects<K>(
    request: &mut AdmissionRequest<DynamicObject>,
    needs: &Needs,
) -> Result<(Option<K>, Option<K>), Unreadable>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let operation = format!("{:?}", request.operation).to_uppercase();
    let namespace = request.namespace.clone();
    let take = |field: &str, slot: &mut Option<DynamicObject>, needed: bool| match slot.take() {
        Some(object) if needed => typed::<K>(object, field, namespace.as_deref()).map(Some),
        None if needed => Err(missing(field, &operation)),
        _ => Ok(None),
    };
    let old = take("oldObject", &mut request.old_object, needs.old)?;
    let new = take("object", &mut request.object, needs.new)?;
    Ok((old, new))
}

/// Converts a request object into its typed form, naming the offending field when
/// the object does not fit the schema.
fn typed<K>(object: DynamicObject, field: &str, namespace: Option<&str>) -> Result<K, Unreadable>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let DynamicObject {
        mut metadata,
        mut data,
        ..
    } = object;
    if let Value::Object(map) = &mut data {
        // Metadata is already parsed; custom resources insist on the key.
        map.insert("metadata".to_string(), Value::Object(Default::default()));
    }
    // As in `parse_review`: the path is tracked only to explain an object that does
    // not fit.
    let mut typed: K = match K::deserialize(&data) {
        Ok(typed) => typed,
        Err(_) => serde_path_to_error::deserialize(data).map_err(|err| {
            Unreadable(format!(
                "request.{field} is not a valid {} {}: {}: {}",
                K::api_version(&()),
                K::kind(&()),
                err.path(),
                err.inner()
            ))
        })?,
    };
    if metadata.namespace.is_none() {
        metadata.namespace = namespace.map(str::to_string);
    }
    *typed.meta_mut() = metadata;
    Ok(typed)
}
