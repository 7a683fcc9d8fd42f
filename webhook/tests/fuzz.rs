//! Property tests: whatever arrives at `/validate` or `/mutate`, the guard answers with a
//! well-formed response and never panics.

mod common;

use axum::http::StatusCode;
use common::{Cluster, post_to, review};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "UPDATE",
            "CREATE",
            "DELETE",
            "scale",
            "apps",
            "Deployment",
            "v1",
            "admission.k8s.io/v1"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer inside `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(key, v)| {
            let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
            out.push(path.clone());
            pointers(v, path, out);
        }),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
            let path = format!("{at}/{i}");
            out.push(path.clone());
            pointers(v, path, out);
        }),
        _ => {}
    }
}

/// Sends a body to `/validate` and checks the answer is a well-formed 200 AdmissionReview
/// or a 400.
fn answer_is_well_formed(runtime: &tokio::runtime::Runtime, cluster: &Cluster, body: Vec<u8>) {
    answer_at_is_well_formed(runtime, cluster, "/validate", body);
}

/// The same for any admission path.
fn answer_at_is_well_formed(
    runtime: &tokio::runtime::Runtime,
    cluster: &Cluster,
    path: &str,
    body: Vec<u8>,
) {
    let (status, answer) = runtime.block_on(post_to(cluster.router(), path, body));
    match status {
        StatusCode::OK => {
            assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
            assert_eq!(answer["kind"], "AdmissionReview");
            assert!(answer["response"]["uid"].is_string(), "{answer}");
            assert!(answer["response"]["allowed"].is_boolean(), "{answer}");
        }
        StatusCode::BAD_REQUEST => assert!(
            answer
                .as_str()
                .is_some_and(|text| text.starts_with("the request body is not")),
            "{answer}"
        ),
        other => panic!("unexpected status {other}: {answer}"),
    }
}

fn setup() -> (tokio::runtime::Runtime, Cluster) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    (runtime, Cluster::service_app())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let (runtime, cluster) = setup();
        answer_is_well_formed(&runtime, &cluster, body);
    }

    #[test]
    fn arbitrary_json(value in json_value()) {
        let (runtime, cluster) = setup();
        answer_is_well_formed(&runtime, &cluster, value.to_string().into_bytes());
    }

    #[test]
    fn captured_reviews_with_one_part_replaced(
        fixture in prop::sample::select(vec![
            "service-switch", "deployment-create", "deployment-delete", "deployment-scale",
            "networkpolicy-create", "httproute-switch", "service-label-remove",
        ]),
        pick in any::<prop::sample::Index>(),
        replacement in json_value(),
    ) {
        let (runtime, cluster) = setup();
        let mut request = review(fixture);
        let mut paths = Vec::new();
        pointers(&request, String::new(), &mut paths);
        let path: &String = pick.get(&paths);
        *request.pointer_mut(path).unwrap() = replacement;
        answer_is_well_formed(&runtime, &cluster, request.to_string().into_bytes());
    }

    /// Requests kube-apiserver never sends, built from captured ones: object and
    /// oldObject named, kinded and namespaced otherwise than the request and each
    /// other, without metadata, or Lists, under every operation.
    #[test]
    fn objects_that_disagree_with_their_request(
        fixture in prop::sample::select(vec![
            "service-switch", "deployment-create", "deployment-delete", "deployment-scale",
            "httproute-switch", "service-label-remove",
        ]),
        operation in prop::sample::select(vec!["CREATE", "UPDATE", "DELETE"]),
        names in (name(), name()),
        kinds in (kind(), kind()),
        namespaces in (namespace(), namespace()),
        drop_metadata in (prop::bool::weighted(0.2), prop::bool::weighted(0.2)),
        path in prop::sample::select(vec!["/validate", "/mutate"]),
    ) {
        let (runtime, cluster) = setup();
        let mut request = review(fixture);
        request["request"]["operation"] = Value::from(operation);
        let stored = request["request"]["oldObject"].clone();
        let written = request["request"]["object"].clone();
        let template = if written.is_null() { stored } else { written };
        let settings = [
            ("object", names.0, kinds.0, namespaces.0, drop_metadata.0),
            ("oldObject", names.1, kinds.1, namespaces.1, drop_metadata.1),
        ];
        for (field, name, kind, namespace, drop) in settings {
            let mut object = template.clone();
            if let Some(kind) = kind {
                object["kind"] = Value::from(kind);
            }
            set_or_remove(&mut object["metadata"], "name", name);
            set_or_remove(&mut object["metadata"], "namespace", namespace);
            if drop {
                object.as_object_mut().unwrap().remove("metadata");
            }
            if kind == Some("List") {
                object = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [object]});
            }
            request["request"][field] = object;
        }
        answer_at_is_well_formed(&runtime, &cluster, path, request.to_string().into_bytes());
    }
}

fn name() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        Some("app-blue"),
        Some("app-green"),
        Some("api"),
        Some("other"),
        Some(""),
        None,
    ])
}

/// Mostly the captured object's own kind (`None`), so that most cases reach the rules.
fn kind() -> impl Strategy<Value = Option<&'static str>> {
    let other = prop::sample::select(vec![
        "Deployment",
        "Service",
        "HTTPRoute",
        "Scale",
        "List",
        "NetworkPolicy",
    ]);
    prop_oneof![4 => Just(None), 1 => other.prop_map(Some)]
}

fn namespace() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![Some("capture"), Some("elsewhere"), None])
}

fn set_or_remove(map: &mut Value, key: &str, value: Option<&str>) {
    match (value, map.as_object_mut()) {
        (Some(value), Some(map)) => {
            map.insert(key.to_string(), Value::from(value));
        }
        (None, Some(map)) => {
            map.remove(key);
        }
        _ => {}
    }
}
