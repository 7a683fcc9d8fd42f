use serde_json::json;

use super::*;
use crate::fixtures;

fn plan(namespace: &str, router: &str) -> SwitchPlan {
    let objects = fixtures::objects();
    let snapshot = fixtures::snapshot(&objects, namespace);
    let app = fixtures::app(&snapshot, router);
    SwitchPlan::new(
        &app,
        fixtures::now(),
        Some("system:serviceaccount:ci:deployer"),
        None,
    )
    .unwrap()
}

#[test]
fn a_service_switch_is_one_guarded_merge_patch_of_the_selector() {
    let plan = plan("shop", "svc/api");
    assert_eq!((plan.from.as_str(), plan.to.as_str()), ("blue", "green"));
    assert_eq!(
        plan.merge_patch(),
        json!({
            "metadata": {
                "resourceVersion": "41",
                "annotations": {
                    "bluegreen.dev/live-since": "2025-01-10T10:30:00Z",
                    "bluegreen.dev/previous-color": "blue",
                    "bluegreen.dev/history": concat!(
                        r#"[{"time":"2025-01-10T09:00:00Z","from":"green","to":"blue","images":{"blue":{"api":"registry.example.com/api:1.4"},"green":{"api":"registry.example.com/api:1.3"}},"by":"system:serviceaccount:ci:deployer"},"#,
                        r#"{"time":"2025-01-10T10:30:00Z","from":"blue","to":"green","images":{"blue":{"api":"registry.example.com/api:1.4"},"green":{"api":"registry.example.com/api:1.5"}},"by":"system:serviceaccount:ci:deployer","manager":"kubectl-bluegreen"}]"#
                    ),
                },
            },
            "spec": {"selector": {"app": "api", "color": "green"}},
        })
    );
    // Taking the switch over from an owner: the same write as a server-side apply,
    // with the whole (atomic) selector.
    assert_eq!(
        plan.apply_configuration(),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "api",
                "namespace": "shop",
                "resourceVersion": "41",
                "annotations": plan.annotations,
            },
            "spec": {"selector": {"app": "api", "color": "green"}},
        })
    );
}

#[test]
fn an_httproute_switch_rewrites_the_rules_swapping_weights_or_names() {
    let plan = plan("web", "httproute/myapp");
    assert_eq!((plan.from.as_str(), plan.to.as_str()), ("blue", "green"));
    assert_eq!(
        plan.merge_patch()["metadata"]["resourceVersion"],
        json!("77")
    );
    assert_eq!(
        plan.merge_patch()["metadata"]["annotations"]["bluegreen.dev/previous-color"],
        json!("blue")
    );
    assert_eq!(
        plan.merge_patch()["spec"],
        json!({"rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [
                    {"name": "app-blue", "port": 80, "weight": 0},
                    {"name": "app-green", "port": 80, "weight": 100},
                ],
            },
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                "backendRefs": [{"name": "app-green", "port": 80}],
            },
        ]})
    );
}

#[test]
fn backend_refs_to_other_kinds_or_namespaces_are_left_alone() {
    let service = json!({"name": "app-blue"});
    assert!(names_service(&service, "app-blue", "web"));
    assert!(names_service(
        &json!({"name": "app-blue", "kind": "Service", "group": "", "namespace": "web"}),
        "app-blue",
        "web"
    ));
    assert!(!names_service(
        &json!({"name": "app-blue", "namespace": "other"}),
        "app-blue",
        "web"
    ));
    assert!(!names_service(
        &json!({"name": "app-blue", "kind": "Backend", "group": "example.com"}),
        "app-blue",
        "web"
    ));
}
