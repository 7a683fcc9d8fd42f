//! Reading an AdmissionReview: the request body into a [`Review`], whose [`Subject`]
//! is the write the rules judge as a [`Change`].

use std::fmt;

use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::{DynamicObject, GroupVersionKind};
use policy::{BlueGreenPolicy, Change, Router, Snapshot};
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::managed_fields::{Key, WithoutManagedFields};

/// The only AdmissionReview version the guard registers for.
pub const ADMISSION_V1: &str = "admission.k8s.io/v1";

/// A request read and its objects typed: what [`crate::Guard`] judges.
#[derive(Clone, Debug)]
pub struct Review {
    /// The response to fill in, echoing the request's uid.
    pub response: AdmissionResponse,
    /// The operation.
    pub operation: Operation,
    /// The namespace written, for namespaced kinds.
    pub namespace: Option<String>,
    /// The name of the object written.
    pub name: String,
    /// Who writes.
    pub user_info: UserInfo,
    /// The tool that writes: the request's `options.fieldManager` (create, update and
    /// patch options carry it; kubectl, Helm and Argo CD set it), when there is one.
    pub field_manager: Option<String>,
    /// A server-side dry run: judged, never stored.
    pub dry_run: bool,
    /// The write the rules judge, `Ok(None)` for requests they do not judge.
    pub subject: Result<Option<Subject>, Unreadable>,
}

impl Review {
    /// Splits a request into what identifies it and its subject, taken out by `take`.
    fn new<T: Resource>(
        mut request: AdmissionRequest<T>,
        take: impl FnOnce(&mut AdmissionRequest<T>) -> Result<Option<Subject>, Unreadable>,
    ) -> Self {
        let subject = take(&mut request);
        let field_manager = request
            .options
            .as_ref()
            .and_then(|options| options.0.get("fieldManager"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Review {
            response: AdmissionResponse::from(&request),
            operation: request.operation,
            namespace: request.namespace,
            name: request.name,
            user_info: request.user_info,
            field_manager,
            dry_run: request.dry_run,
            subject,
        }
    }
}

/// Parses a request body into the [`Review`] it carries; anything else is an
/// [`Error`] that answers 400.
///
/// The objects of the kinds the rules judge are read straight into their types, after
/// a look at the request's kind: building them through [`DynamicObject`]'s JSON trees
/// cost as much as the decision itself. A body that does not fit its type is read
/// again the slow way, which names where it goes wrong. Either way the objects are
/// read without their managed fields.
pub fn parse_review(body: &[u8]) -> Result<Review> {
    let typed = peek_kind(body).and_then(|kind| for_judged_kind(&kind, ParseTyped(body)).flatten());
    match typed {
        Some(review) => review,
        None => {
            let request = parse_request::<DynamicObject>(parse_dynamic(body)?)?;
            Ok(Review::new(request, Subject::take_from))
        }
    }
}

/// The request's kind, read without the rest of the body: kube-apiserver writes it
/// second, after the uid and well before the objects, and scanning on to the end
/// cost a sixth of reading a Deployment update. `None` when there is no readable
/// `request.kind` (the slow path then says what is wrong).
fn peek_kind(body: &[u8]) -> Option<GroupVersionKind> {
    let mut kind = None;
    // Reading ends with an error as soon as the kind is found: what counts is `kind`.
    let _ = KindSeed {
        found: &mut kind,
        in_request: false,
    }
    .deserialize(&mut serde_json::Deserializer::from_slice(body));
    kind
}

/// Reads a map (the review, then its `request`) up to the request's `kind`.
struct KindSeed<'a> {
    found: &'a mut Option<GroupVersionKind>,
    in_request: bool,
}

impl<'de> DeserializeSeed<'de> for KindSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KindSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an AdmissionReview")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match (self.in_request, key.as_str()) {
                (false, "request") => {
                    map.next_value_seed(KindSeed {
                        found: &mut *self.found,
                        in_request: true,
                    })?;
                }
                (true, "kind") => *self.found = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if self.found.is_some() {
                return Err(A::Error::custom("found the request's kind"));
            }
        }
        Ok(())
    }
}

/// Checks the review's version and takes its request out.
fn parse_request<T: Resource>(review: AdmissionReview<T>) -> Result<AdmissionRequest<T>> {
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

/// Reads a body whose objects are of kind `K`; `None` when they do not fit `K`, for
/// the slow path to explain.
struct ParseTyped<'a>(&'a [u8]);

impl ForJudgedKind for ParseTyped<'_> {
    type Output = Option<Result<Review>>;

    fn visit<K: Judged>(self) -> Self::Output {
        let review =
            serde_json::from_slice::<AdmissionReview<WithoutManagedFields<K>>>(self.0).ok()?;
        // Subresources (a Deployment's status, say) are told apart on the slow path.
        let sub_resource = review
            .request
            .as_ref()
            .and_then(|r| r.sub_resource.as_deref());
        if !sub_resource.unwrap_or_default().is_empty() {
            return None;
        }
        Some(parse_request(review).map(|request| {
            Review::new(request, |request| {
                take_objects(request, |WithoutManagedFields(object), _| Ok(object))
                    .map(|objects| objects.map(K::subject))
            })
        }))
    }
}

/// [`parse_review`]'s slow path: every object as a [`DynamicObject`], and on a body
/// that does not parse, the path to where it goes wrong. Tracking the path costs an
/// allocation per key, so a body that parses is not read with it.
fn parse_dynamic(body: &[u8]) -> Result<AdmissionReview<DynamicObject>> {
    let error = match serde_json::from_slice(body) {
        Ok(review) => return Ok(review),
        Err(error) => error,
    };
    if error.to_string().starts_with("recursion limit exceeded") {
        return Err(Error::NotAdmissionReview(
            "its JSON nests deeper than the 128 levels the guard reads; kube-apiserver never sends such objects".to_string(),
        ));
    }
    if let Some(wrong) = misplaced(body) {
        return Err(Error::NotAdmissionReview(wrong));
    }
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

/// What is wrong with a JSON object that is a piece of an AdmissionReview rather than a
/// review to answer, as test fixtures of other tools often are.
fn misplaced(body: &[u8]) -> Option<String> {
    let object = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).ok()?;
    let has = |key: &str| object.contains_key(key);
    if has("request") {
        return None;
    }
    if has("response") {
        return Some(
            "it carries a response and no request: the guard answers requests, not answers"
                .to_string(),
        );
    }
    (has("uid") && has("operation")).then(|| {
        "it is a bare AdmissionRequest, without the AdmissionReview envelope; send {\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":<it>}".to_string()
    })
}

/// A request the guard should judge but cannot read; it is refused with this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// The object of a router write.
#[derive(Clone, Debug)]
pub enum RouterObject {
    /// A Service.
    Service(Box<Service>),
    /// An HTTPRoute.
    HttpRoute(Box<HttpRoute>),
}

impl RouterObject {
    /// The router as the rules see it.
    pub fn as_router(&self) -> Router<'_> {
        match self {
            RouterObject::Service(service) => Router::Service(service),
            RouterObject::HttpRoute(route) => Router::HttpRoute(route),
        }
    }

    /// A reference to the router, not to one version of it (an Event's `regarding`).
    pub fn object_ref(&self) -> ObjectReference {
        let reference = match self {
            RouterObject::Service(service) => service.object_ref(&()),
            RouterObject::HttpRoute(route) => route.object_ref(&()),
        };
        ObjectReference {
            resource_version: None,
            ..reference
        }
    }
}

/// What a request writes, typed, when it is a kind the rules judge. The objects are
/// boxed: a typed Deployment is 2.4 KB, and every future holding a subject across an
/// await would carry, and move, that much per object.
#[derive(Clone, Debug)]
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
        old: Option<Box<Deployment>>,
        /// Object as it would be stored.
        new: Option<Box<Deployment>>,
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
        old: Option<Box<NetworkPolicy>>,
        /// Object as it would be stored.
        new: Option<Box<NetworkPolicy>>,
    },
    /// A BlueGreenPolicy written: checked itself, not judged by the rules.
    Policy {
        /// Object as it would be stored (`None` for a DELETE).
        new: Option<Box<BlueGreenPolicy>>,
    },
}

/// The kind label of requests the guard does not judge.
pub const OTHER_KIND: &str = "other";

/// The old and new objects of a write.
pub type Objects<K> = (Option<Box<K>>, Option<Box<K>>);

/// A kind the rules judge, and the subject its writes are.
pub trait Judged: Resource<DynamicType = ()> + DeserializeOwned {
    /// The subject of a write with these old and new objects.
    fn subject(objects: Objects<Self>) -> Subject;
}

impl Judged for Service {
    fn subject((old, new): Objects<Self>) -> Subject {
        Subject::Router {
            old: old.map(RouterObject::Service),
            new: new.map(RouterObject::Service),
        }
    }
}

impl Judged for HttpRoute {
    fn subject((old, new): Objects<Self>) -> Subject {
        Subject::Router {
            old: old.map(RouterObject::HttpRoute),
            new: new.map(RouterObject::HttpRoute),
        }
    }
}

impl Judged for Deployment {
    fn subject((old, new): Objects<Self>) -> Subject {
        Subject::Deployment { old, new }
    }
}

impl Judged for NetworkPolicy {
    fn subject((old, new): Objects<Self>) -> Subject {
        Subject::NetworkPolicy { old, new }
    }
}

impl Judged for BlueGreenPolicy {
    fn subject((_, new): Objects<Self>) -> Subject {
        Subject::Policy { new }
    }
}

/// Something done with the type of a judged kind.
trait ForJudgedKind {
    type Output;
    fn visit<K: Judged>(self) -> Self::Output;
}

/// Runs `visitor` with the type of `kind`; `None` for kinds the rules do not judge.
fn for_judged_kind<V: ForJudgedKind>(kind: &GroupVersionKind, visitor: V) -> Option<V::Output> {
    Some(match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Service") => visitor.visit::<Service>(),
        ("gateway.networking.k8s.io", "HTTPRoute") => visitor.visit::<HttpRoute>(),
        ("apps", "Deployment") => visitor.visit::<Deployment>(),
        ("networking.k8s.io", "NetworkPolicy") => visitor.visit::<NetworkPolicy>(),
        ("bluegreen.dev", "BlueGreenPolicy") => visitor.visit::<BlueGreenPolicy>(),
        _ => return None,
    })
}

/// Types the objects of a request read as [`DynamicObject`]s.
struct TakeDynamic<'a>(&'a mut AdmissionRequest<DynamicObject>);

impl ForJudgedKind for TakeDynamic<'_> {
    type Output = Result<Option<Subject>, Unreadable>;

    fn visit<K: Judged>(self) -> Self::Output {
        take_objects(self.0, typed::<K>).map(|objects| objects.map(K::subject))
    }
}

impl Subject {
    /// The subject of a request read as [`DynamicObject`]s, taking its objects out;
    /// `Ok(None)` for requests the rules do not judge (other kinds, other
    /// subresources, CONNECT).
    pub fn take_from(
        request: &mut AdmissionRequest<DynamicObject>,
    ) -> Result<Option<Subject>, Unreadable> {
        match request.sub_resource.as_deref() {
            None | Some("") => {}
            Some("scale") if is_deployments(request) => return Self::scale(request),
            Some(_) => return Ok(None),
        }
        let kind = request.kind.clone();
        for_judged_kind(&kind, TakeDynamic(request)).unwrap_or(Ok(None))
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
            Subject::Policy { .. } => "BlueGreenPolicy",
        }
    }

    /// The write as the rules see it, against the stored state of its namespace. A
    /// scale of a Deployment the cache does not hold changes nothing the rules judge,
    /// nor does a BlueGreenPolicy write (the guard checks the policy itself).
    pub fn change<'a>(&'a self, snapshot: &Snapshot<'a>) -> Option<Change<'a>> {
        Some(match self {
            Subject::Router { old, new } => Change::Router {
                old: old.as_ref().map(RouterObject::as_router),
                new: new.as_ref().map(RouterObject::as_router),
            },
            Subject::Deployment { old, new } => Change::Deployment {
                old: old.as_deref(),
                new: new.as_deref(),
            },
            Subject::Scale {
                deployment,
                replicas,
            } => Change::Scale {
                deployment: snapshot.deployment(deployment)?,
                replicas: *replicas,
            },
            Subject::NetworkPolicy { old, new } => Change::NetworkPolicy {
                old: old.as_deref(),
                new: new.as_deref(),
            },
            Subject::Policy { .. } => return None,
        })
    }
}

fn is_deployments(request: &AdmissionRequest<DynamicObject>) -> bool {
    request.resource.group == "apps" && request.resource.resource == "deployments"
}

fn missing(field: &str, operation: &str) -> Unreadable {
    Unreadable(format!(
        "the AdmissionReview has no request.{field}, which kube-apiserver always sends for {operation}; the guard cannot judge the write without it"
    ))
}

/// The old and new objects the request's operation needs, taken out of it and
/// converted by `convert`, in the request's namespace unless they name one;
/// `Ok(None)` for CONNECT, which writes no object.
fn take_objects<T: Resource, K: Resource>(
    request: &mut AdmissionRequest<T>,
    convert: impl Fn(T, &str) -> Result<K, Unreadable>,
) -> Result<Option<Objects<K>>, Unreadable> {
    let (old_needed, new_needed) = match request.operation {
        Operation::Create => (false, true),
        Operation::Update => (true, true),
        Operation::Delete => (true, false),
        Operation::Connect => return Ok(None),
    };
    let operation = operation_name(&request.operation);
    let (old, new) = (request.old_object.take(), request.object.take());
    let take = |field: &str, slot: Option<T>, needed: bool| match slot {
        Some(object) if needed => {
            let mut object = convert(object, field)?;
            // Judged by the request's name: an object named otherwise would be judged as
            // a write of something else (kube-apiserver never sends one; a create with
            // generateName may leave the request's name empty).
            let name = object.meta().name.as_deref().unwrap_or_default();
            if !request.name.is_empty() && name != request.name {
                return Err(Unreadable(format!(
                    "request.{field} is named {name:?} but the request writes {:?}; send the object the request names",
                    request.name
                )));
            }
            if object.meta().namespace.is_none() {
                object.meta_mut().namespace.clone_from(&request.namespace);
            }
            Ok(Some(Box::new(object)))
        }
        None if needed => Err(missing(field, operation)),
        _ => Ok(None),
    };
    Ok(Some((
        take("oldObject", old, old_needed)?,
        take("object", new, new_needed)?,
    )))
}

/// The operation as the API server names it.
pub fn operation_name(operation: &Operation) -> &'static str {
    match operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

/// Converts a request object into its typed form, naming the offending field when
/// the object does not fit the schema.
fn typed<K>(object: DynamicObject, field: &str) -> Result<K, Unreadable>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let DynamicObject {
        metadata, mut data, ..
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
    *typed.meta_mut() = ObjectMeta {
        // As the fast path reads them: no rule reads managed fields.
        managed_fields: None,
        ..metadata
    };
    Ok(typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow path's reading of a body, to compare the fast path with.
    fn read_dynamic(body: &[u8]) -> Review {
        let request = parse_request(parse_dynamic(body).unwrap()).unwrap();
        Review::new(request, Subject::take_from)
    }

    /// Every captured review of a judged kind, and the same without the objects'
    /// namespaces (which the request's namespace then fills in).
    fn captured_reviews() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut reviews = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut review: Value = serde_json::from_str(&text).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            reviews.push((name.clone(), text.into_bytes()));
            for field in ["object", "oldObject"] {
                let metadata = review
                    .pointer_mut(&format!("/request/{field}/metadata"))
                    .and_then(Value::as_object_mut);
                if let Some(metadata) = metadata {
                    metadata.remove("namespace");
                }
            }
            reviews.push((
                format!("{name} without namespaces"),
                review.to_string().into_bytes(),
            ));
        }
        reviews
    }

    #[test]
    fn typed_reading_equals_reading_through_dynamic_objects() {
        let mut typed = 0;
        for (name, body) in captured_reviews() {
            let review: Value = serde_json::from_slice(&body).unwrap();
            let kind: GroupVersionKind =
                serde_json::from_value(review["request"]["kind"].clone()).unwrap();
            assert_eq!(peek_kind(&body), Some(kind.clone()), "{name}");
            let fast = parse_review(&body).unwrap();
            assert!(
                !format!("{fast:?}").contains("managed_fields: Some"),
                "{name}"
            );
            assert_eq!(
                format!("{fast:?}"),
                format!("{:?}", read_dynamic(&body)),
                "{name}"
            );
            if review["request"].get("subResource").is_none() {
                let direct = for_judged_kind(&kind, ParseTyped(&body));
                let direct = direct.flatten().expect(&name).unwrap();
                assert_eq!(format!("{direct:?}"), format!("{fast:?}"), "{name}");
                typed += 1;
            }
        }
        assert_eq!(typed, 24, "every capture but the scale's read typed, twice");
    }

    /// A capture with its request's `kind` written last, after the objects, and
    /// `extra` fields before it.
    fn kind_last(text: &str, extra: &str) -> Vec<u8> {
        let review: Value = serde_json::from_str(text).unwrap();
        let mut request = review["request"].as_object().unwrap().clone();
        let kind = request.remove("kind").unwrap();
        let rest = Value::Object(request).to_string();
        let request = format!(
            "{},{extra}\"kind\":{kind}}}",
            rest.strip_suffix('}').unwrap()
        );
        assert!(request.find("\"object\"").unwrap() < request.find("\"kind\"").unwrap());
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{request}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn the_kind_is_found_wherever_the_request_has_it() {
        let text = include_str!("../tests/data/deployment-create.json");
        let body = kind_last(text, "");
        let kind = peek_kind(&body).unwrap();
        assert_eq!(
            (kind.group.as_str(), kind.kind.as_str()),
            ("apps", "Deployment")
        );
        let read = parse_review(&body).unwrap();
        assert!(matches!(read.subject, Ok(Some(Subject::Deployment { .. }))));
        assert_eq!(
            peek_kind(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
            None
        );
        assert_eq!(peek_kind(br#"{"request":{"kind":"Deployment"}}"#), None);
    }

    #[test]
    fn a_subresource_after_the_objects_is_not_judged_as_the_object() {
        // A status write of a Deployment is not a Deployment write the rules judge.
        let text = include_str!("../tests/data/deployment-create.json");
        let body = kind_last(text, r#""subResource":"status","#);
        assert!(matches!(parse_review(&body).unwrap().subject, Ok(None)));
    }

    #[test]
    fn an_object_that_does_not_fit_its_type_is_explained_by_the_slow_path() {
        let text = include_str!("../tests/data/deployment-create.json");
        let mut review: Value = serde_json::from_str(text).unwrap();
        review["request"]["object"]["spec"]["replicas"] = Value::from("three");
        let body = review.to_string().into_bytes();
        let parsed = parse_review(&body).unwrap();
        assert_eq!(
            parsed.subject.unwrap_err(),
            Unreadable(
                "request.object is not a valid apps/v1 Deployment: spec.replicas: invalid type: string \"three\", expected i32"
                    .to_string()
            )
        );
    }
}
