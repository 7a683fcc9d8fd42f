//! Ownership as the tools leave it. Each fixture's metadata carries the markers and the
//! managedFields entries the tool writes, from the tool's own source (see the module
//! documentation): Helm `pkg/action/validate.go` (markers) and `cmd/helm/helm.go`
//! (`ManagedFieldsManager = "helm"`, Helm 3 since 3.7; Helm 4 applies with it);
//! Argo CD `util/argo/resource_tracking.go` and `controller/sync.go`
//! (`argocd-controller`, `Apply` under server-side apply, `Update` otherwise); Flux
//! kustomize-controller (`kustomize-controller`, `Apply`, labels
//! `kustomize.toolkit.fluxcd.io/*`) and helm-controller (`helm-controller`, labels
//! `helm.toolkit.fluxcd.io/*`, plus Helm's markers).

use std::io::Write as _;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::helm::{Release, latest_deployed};
use super::owned::{Owned, OwnedRouter};
use super::*;
use crate::fixtures;

fn meta(value: Value) -> ObjectMeta {
    serde_json::from_value(value).unwrap()
}

/// A managedFields entry: manager, operation, fieldsV1.
fn entry(manager: &str, operation: &str, fields: Value) -> Value {
    json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "time": "2026-12-01T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    })
}

fn selector_fields() -> Value {
    json!({"f:spec": {"f:selector": {}, "f:ports": {}}})
}

/// Service `api` of Helm release shop/api, written by `manager` with `operation`.
fn helm_service(entries: Vec<Value>) -> ObjectMeta {
    meta(json!({
        "name": "api",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "api"},
        "annotations": {"meta.helm.sh/release-name": "api", "meta.helm.sh/release-namespace": "shop"},
        "managedFields": entries,
    }))
}

#[test]
fn helm_4_applies_and_helm_3_patches() {
    let helm4 = helm_service(vec![entry("helm", "Apply", selector_fields())]);
    let owner = Owner::of(&helm4).unwrap();
    assert_eq!(
        owner.to_string(),
        "Helm release shop/api (server-side apply)"
    );
    let helm3 = helm_service(vec![entry("helm", "Update", selector_fields())]);
    assert_eq!(
        Owner::of(&helm3).unwrap().to_string(),
        "Helm release shop/api (client-side apply)"
    );
}

#[test]
fn argo_cd_is_found_by_its_tracking_id_or_its_label_and_manager() {
    let annotation = meta(json!({
        "name": "api",
        "namespace": "shop",
        "annotations": {"argocd.argoproj.io/tracking-id": "shop-api:/Service:shop/api"},
        "managedFields": [entry("argocd-controller", "Apply", selector_fields())],
    }));
    assert_eq!(
        Owner::of(&annotation).unwrap().to_string(),
        "Argo CD application shop-api (server-side apply)"
    );
    let label = meta(json!({
        "name": "api",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/instance": "shop-api"},
        "managedFields": [entry("argocd-controller", "Update", selector_fields())],
    }));
    assert_eq!(
        Owner::of(&label).unwrap().to_string(),
        "Argo CD application shop-api (client-side apply)"
    );
    // Every Helm chart sets the instance label: alone, it names no owner.
    let chart_label = meta(json!({
        "name": "api",
        "labels": {"app.kubernetes.io/instance": "api"},
        "managedFields": [entry("kubectl-client-side-apply", "Update", selector_fields())],
    }));
    assert_eq!(Owner::of(&chart_label), None);
}

#[test]
fn flux_is_found_before_the_helm_markers_its_helm_releases_carry() {
    let kustomization = meta(json!({
        "name": "api",
        "namespace": "shop",
        "labels": {
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        },
        "managedFields": [entry("kustomize-controller", "Apply", selector_fields())],
    }));
    assert_eq!(
        Owner::of(&kustomization).unwrap().to_string(),
        "Flux Kustomization flux-system/apps (server-side apply)"
    );
    let helm_release = meta(json!({
        "name": "api",
        "namespace": "shop",
        "labels": {
            "app.kubernetes.io/managed-by": "Helm",
            "helm.toolkit.fluxcd.io/name": "api",
            "helm.toolkit.fluxcd.io/namespace": "flux-system",
        },
        "annotations": {"meta.helm.sh/release-name": "shop-api", "meta.helm.sh/release-namespace": "shop"},
        "managedFields": [entry("helm-controller", "Update", selector_fields())],
    }));
    assert_eq!(
        Owner::of(&helm_release).unwrap().tool,
        Tool::FluxHelmRelease {
            name: "api".into(),
            namespace: "flux-system".into()
        }
    );
    assert_eq!(Owner::of(&meta(json!({"name": "plain"}))), None);
}

#[test]
fn managed_fields_tell_which_fields_the_owner_sets() {
    let replicas = Field::replicas();
    let selector = Field::service_selector();
    let owns_selector = helm_service(vec![entry("helm", "Apply", selector_fields())]);
    let owner = Owner::of(&owns_selector).unwrap();
    assert_eq!(owner.sets(&owns_selector, &selector), Some(true));
    // A chart without replicas leaves them to the HPA.
    let hpa = helm_service(vec![
        entry("helm", "Apply", selector_fields()),
        entry(
            "kube-controller-manager",
            "Update",
            json!({"f:spec": {"f:replicas": {}}}),
        ),
    ]);
    assert_eq!(owner.sets(&hpa, &replicas), Some(false));
    // A person's switch took the selector; the chart still renders it.
    let taken = helm_service(vec![
        entry("helm", "Apply", json!({"f:spec": {"f:ports": {}}})),
        entry("kubectl-bluegreen", "Update", selector_fields()),
    ]);
    assert_eq!(owner.sets(&taken, &selector), Some(true));
    assert_eq!(owner.sets(&helm_service(vec![]), &selector), None);
    let image = Field::image("api");
    assert_eq!(
        image.path.last().map(String::as_str),
        Some("f:image"),
        "{image:?}"
    );
    assert_eq!(image.path[4], r#"k:{"name":"api"}"#);
    assert_eq!(
        image.shown,
        ".spec.template.spec.containers[name=api].image"
    );
}

#[test]
fn a_rendered_manifest_tells_which_fields_the_owner_sets() {
    let deployment = json!({"spec": {
        "selector": {"matchLabels": {"app": "api"}},
        "template": {"spec": {"containers": [
            {"name": "sidecar"},
            {"name": "api", "image": "registry.example.com/api:1.5"},
        ]}},
    }});
    assert!(Field::image("api").is_set_in(&deployment));
    // A container without an image, and one the chart does not render.
    assert!(!Field::image("sidecar").is_set_in(&deployment));
    assert!(!Field::image("worker").is_set_in(&deployment));
    // No replicas: the HPA's.
    assert!(!Field::replicas().is_set_in(&deployment));
    let service = json!({"spec": {"selector": {"app": "api", "color": "blue"}}});
    assert!(Field::service_selector().is_set_in(&service));
    assert!(!Field::route_rules().is_set_in(&service));
}

const SERVICE_TEMPLATE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  selector:\n    app: api\n    color: {{ .Values.liveColor }}\n";

/// A release Secret as Helm writes it: the release JSON gzipped, then base64.
fn release_secret(revision: u32, status: &str, live_color: &str) -> Secret {
    let release = json!({
        "name": "api",
        "namespace": "shop",
        "version": revision,
        "info": {"status": status},
        "manifest": format!("---\n# Source: seed-api/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  labels:\n    bluegreen.dev/app: api\nspec:\n  selector:\n    app: api\n    color: {live_color}\n"),
        "chart": {
            "metadata": {"name": "seed-api", "version": "0.1.0"},
            "templates": [{"name": "templates/service.yaml", "data": base64::engine::general_purpose::STANDARD.encode(SERVICE_TEMPLATE)}],
            "values": {"liveColor": "blue", "replicas": 3, "blue": {"image": {"repository": "registry.example.com/shop/api", "tag": "1.5.0"}}, "green": {"image": {"repository": "registry.example.com/shop/api", "tag": "1.5.0"}}},
        },
        "config": {"liveColor": live_color, "green": {"image": {"tag": "1.6.0"}}},
    });
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&serde_json::to_vec(&release).unwrap())
        .unwrap();
    let stored = base64::engine::general_purpose::STANDARD.encode(gzip.finish().unwrap());
    Secret {
        metadata: meta(json!({
            "name": format!("sh.helm.release.v1.api.v{revision}"),
            "namespace": "shop",
            "labels": {"owner": "helm", "name": "api", "status": status, "version": revision.to_string()},
        })),
        type_: Some("helm.sh/release.v1".into()),
        data: Some([("release".to_string(), ByteString(stored.into_bytes()))].into()),
        ..Secret::default()
    }
}

#[test]
fn a_release_is_read_as_helm_stores_it() {
    let secrets = [
        release_secret(1, "superseded", "blue"),
        release_secret(2, "deployed", "green"),
        release_secret(3, "failed", "blue"),
    ];
    let latest = latest_deployed(&secrets).unwrap();
    let release = Release::from_secret(latest).unwrap();
    assert_eq!(release.version, 2);
    assert_eq!(
        release.rendered("Service", "api").unwrap()["spec"]["selector"]["color"],
        json!("green")
    );
    assert_eq!(
        release.value_rendering(Some("color"), "green").as_deref(),
        Some("liveColor")
    );
    // Without a template line to go by, the one value equal to the color.
    assert_eq!(
        release.value_rendering(None, "green").as_deref(),
        Some("liveColor")
    );
    assert_eq!(
        release.image_value("green", "registry.example.com/shop/api:1.6.0"),
        Some(("green.image.tag".to_string(), true))
    );
    assert_eq!(
        release.upgrade_command("liveColor=blue"),
        "helm upgrade api <seed-api chart> -n shop --reuse-values --set liveColor=blue"
    );
    let mut broken = secrets[1].clone();
    broken.data = Some([("release".to_string(), ByteString(b"not base64!".to_vec()))].into());
    assert_eq!(
        Release::from_secret(&broken).unwrap_err().to_string(),
        "Secret sh.helm.release.v1.api.v2 does not hold a Helm release: its release is not base64: Invalid symbol 32, offset 3."
    );
}

/// Service `api` of the fixtures (live blue), as Helm release shop/api owns it.
fn owned_router(writes: &str, holder: &str, release_color: &str) -> (Owned, Release) {
    let release = Release::from_secret(&release_secret(2, "deployed", release_color)).unwrap();
    let owned = Owned {
        owner: Owner::of(&helm_service(vec![entry(
            "helm",
            writes,
            json!({"f:spec": {"f:ports": {}}}),
        )]))
        .unwrap(),
        object: "svc/api".into(),
        meta: helm_service(vec![
            entry("helm", writes, json!({"f:spec": {"f:ports": {}}})),
            entry(holder, "Update", selector_fields()),
        ]),
        release: Some(Ok(release.clone())),
    };
    (owned, release)
}

#[test]
fn status_tells_what_the_next_helm_upgrade_does_to_the_live_color() {
    let objects = fixtures::objects();
    let snapshot = fixtures::snapshot(&objects, "shop");
    let app = fixtures::app(&snapshot, "svc/api");
    assert_eq!(app.live.color, "blue");

    let (owned, _) = owned_router("Apply", "kubectl-bluegreen", "green");
    let router = OwnedRouter::of(owned, &app).unwrap();
    assert_eq!(router.renders.as_deref(), Some("green"));
    assert_eq!(
        router.drift("blue").unwrap(),
        "the next helm upgrade of shop/api fails: its chart renders green and kubectl-bluegreen holds .spec.selector (a server-side apply conflict); switch through Helm: helm upgrade api <seed-api chart> -n shop --reuse-values --set liveColor=blue"
    );

    let (owned, _) = owned_router("Update", "kubectl-patch", "green");
    let router = OwnedRouter::of(owned, &app).unwrap();
    assert_eq!(
        router.drift("blue").unwrap(),
        "the next helm upgrade of shop/api switches traffic back to green (chart renders green); switch through Helm: helm upgrade api <seed-api chart> -n shop --reuse-values --set liveColor=blue"
    );
    assert_eq!(router.drift("green"), None);
    assert_eq!(
        router.refusal("green"),
        "svc/api is owned by Helm release shop/api (client-side apply), which sets .spec.selector: after a switch to green here, the next helm upgrade of shop/api puts green back without a word; nothing was changed.\nswitch through Helm: helm upgrade api <seed-api chart> -n shop --reuse-values --set liveColor=green\n(`kubectl bluegreen promote svc/api --dry-run` runs every check and the API server's dry run without writing)\n--force-conflicts switches here anyway, taking .spec.selector from Helm release shop/api"
    );
}
