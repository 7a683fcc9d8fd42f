//! Writes as the guard sees them, one per rule that judges changes.

use serde_json::json;

use super::*;
use crate::crd::{BlueGreenPolicySpec, Policy, SwitchIdentities};
use crate::rules::fixtures::{Fixture, ReplicaStatus, pod_mut, route, service};

fn switched_service() -> Service {
    service("api", json!({"app": "api", "color": "green"}))
}

use k8s_openapi::api::core::v1::Service;

/// The write that points Service `api` at `new`.
fn switch_api<'a>(fixture: &'a Fixture, new: &'a Service) -> Change<'a> {
    Change::Router {
        old: Some(Router::Service(fixture.service("api"))),
        new: Some(Router::Service(new)),
    }
}

fn ci_only() -> Policy {
    let spec = BlueGreenPolicySpec {
        switch_identities: SwitchIdentities {
            service_accounts: vec!["ci:deployer".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    Policy::from_spec(Some("default"), &spec).unwrap()
}

#[test]
fn a_selector_switch_to_a_ready_green_is_allowed() {
    let fixture = Fixture::service_app();
    let new = switched_service();
    let change = switch_api(&fixture, &new);
    assert!(fixture.review(change).is_empty());
}

#[test]
fn a_selector_switch_to_an_unready_green_is_refused_with_bg001() {
    let fixture = Fixture::service_app().with_green_status(ReplicaStatus {
        available: 0,
        ..ReplicaStatus::ready(3)
    });
    let new = switched_service();
    let change = switch_api(&fixture, &new);
    assert_eq!(
        fixture.review(change),
        [
            "BG001 ready-target: green (Deployment api-green) is not ready to take traffic: 0/3 replicas available; wait for the rollout (kubectl rollout status deployment/api-green) or fix its pods, then switch"
        ]
    );
}

#[test]
fn an_httproute_backend_switch_is_judged_like_a_selector_switch() {
    let fixture = Fixture::route_app().with_deployment("app-green", |d| d.spec.as_mut().unwrap().replicas = Some(1)).with_deployment("app-green", |d| {
        d.status = Some(serde_json::from_value(json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1})).unwrap())
    });
    let old = fixture.snapshot().routes[0];
    let new = route("myapp", json!([{"name": "app-green", "port": 80}]));
    let change = Change::Router {
        old: Some(Router::HttpRoute(old)),
        new: Some(Router::HttpRoute(&new)),
    };
    let findings = fixture.review(change);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].starts_with(
            "BG002 capacity: green (Deployment app-green) wants 1 replicas but live blue runs 3"
        ),
        "{}",
        findings[0]
    );
}

#[test]
fn a_weight_split_towards_an_unready_color_is_refused() {
    let fixture = Fixture::route_app().with_deployment("app-green", |d| d.status = None);
    let old = fixture.snapshot().routes[0];
    let new = route(
        "myapp",
        json!([{"name": "app-blue", "weight": 90}, {"name": "app-green", "weight": 10}]),
    );
    let change = Change::Router {
        old: Some(Router::HttpRoute(old)),
        new: Some(Router::HttpRoute(&new)),
    };
    assert!(
        fixture.review(change)[0].starts_with("BG001 ready-target: green (Deployment app-green)")
    );
}

#[test]
fn a_switch_by_someone_else_than_ci_is_refused_with_bg003() {
    let fixture = Fixture::service_app()
        .with_policy(ci_only())
        .with_requester("alice", &["system:authenticated"]);
    let new = switched_service();
    let change = switch_api(&fixture, &new);
    assert_eq!(
        fixture.review(change),
        [
            "BG003 switch-identity: user alice may not change the traffic of svc/api: BlueGreenPolicy default allows only serviceaccount ci:deployer; run the switch from CI (kubectl bluegreen promote svc/api) or, in an emergency, as a member of the break-glass group"
        ]
    );
}

#[test]
fn removing_the_app_label_from_a_router_is_privileged() {
    let fixture = Fixture::service_app()
        .with_policy(ci_only())
        .with_requester("alice", &[]);
    let mut unlabelled = fixture.service("api").clone();
    unlabelled.metadata.labels = None;
    let change = Change::Router {
        old: Some(Router::Service(fixture.service("api"))),
        new: Some(Router::Service(&unlabelled)),
    };
    assert_eq!(
        fixture.review(change),
        [
            "BG003 switch-identity: user alice may not change the traffic of svc/api: BlueGreenPolicy default allows only serviceaccount ci:deployer; run the switch from CI (kubectl bluegreen promote svc/api) or, in an emergency, as a member of the break-glass group",
            "BG011 governed: svc/api routes traffic to the live color blue (Deployment api-blue); removing its bluegreen.dev/app label would take the app out of the guard's sight, so its next switch or deletion would not be judged; keep the label; to retire the app, delete svc/api as an identity allowed to switch, then remove the labels of its Deployments"
        ]
    );
}

#[test]
fn deleting_a_router_is_privileged_and_other_router_edits_are_not() {
    let fixture = Fixture::service_app()
        .with_policy(ci_only())
        .with_requester("alice", &[]);
    let stored = fixture.service("api");
    let change = Change::Router {
        old: Some(Router::Service(stored)),
        new: None,
    };
    assert!(fixture.review(change)[0].starts_with("BG003"));
    let mut annotated = stored.clone();
    annotated.metadata.annotations = Some([("team".to_string(), "shop".to_string())].into());
    let change = Change::Router {
        old: Some(Router::Service(stored)),
        new: Some(Router::Service(&annotated)),
    };
    assert!(fixture.review(change).is_empty());
}

#[test]
fn a_selector_that_drops_the_color_label_is_refused_with_bg010() {
    let fixture = Fixture::service_app();
    let both = service("api", json!({"app": "api"}));
    let change = Change::Router {
        old: Some(Router::Service(fixture.service("api"))),
        new: Some(Router::Service(&both)),
    };
    let findings = fixture.review(change);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].starts_with("BG010 distinct-colors: this change would break the app: its selector has no \"color\" key"), "{}", findings[0]);
}

#[test]
fn a_router_created_before_its_deployments_is_allowed() {
    let mut fixture = Fixture::service_app();
    fixture
        .objects
        .retain(|o| !matches!(o, crate::snapshot::Object::Deployment(_)));
    let new = switched_service();
    assert!(
        fixture
            .review(Change::Router {
                old: None,
                new: Some(Router::Service(&new))
            })
            .is_empty()
    );
}

#[test]
fn changing_the_live_image_in_place_is_refused_with_bg009() {
    let fixture = Fixture::service_app();
    let old = fixture.deployment("api-blue");
    let mut new = old.clone();
    new.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("registry.local/api:hotfix".into());
    let findings = fixture.review(Change::Deployment {
        old: Some(old),
        new: Some(&new),
    });
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].starts_with("BG009 immutable-live: Deployment api-blue runs the live color blue of svc/api; changing it in place (container api image registry.local/api@sha256:1111"), "{}", findings[0]);
    assert!(findings[0].ends_with("→ registry.local/api:hotfix) is a rolling update on live traffic; deploy to the idle color and promote it: kubectl bluegreen deploy svc/api --image api=registry.local/api:hotfix"), "{}", findings[0]);
}

#[test]
fn live_replicas_and_restarts_may_change() {
    let fixture = Fixture::service_app();
    let old = fixture.deployment("api-blue");
    let mut new = old.clone();
    new.spec.as_mut().unwrap().replicas = Some(6);
    new.spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .as_mut()
        .unwrap()
        .annotations = Some(
        [(
            "kubectl.kubernetes.io/restartedAt".to_string(),
            "2026-11-22T12:00:00Z".to_string(),
        )]
        .into(),
    );
    assert!(
        fixture
            .review(Change::Deployment {
                old: Some(old),
                new: Some(&new)
            })
            .is_empty()
    );
}

#[test]
fn the_live_color_can_never_be_deleted_or_scaled_to_zero() {
    let fixture = Fixture::service_app();
    let live = fixture.deployment("api-blue");
    let expected = "BG008 warm-rollback: Deployment api-blue runs the live color blue of svc/api; deleting it drops all its traffic; switch traffic to green first (kubectl bluegreen promote svc/api)";
    assert_eq!(
        fixture.review(Change::Deployment {
            old: Some(live),
            new: None
        }),
        [expected]
    );
    let scaled = fixture.review(Change::Scale {
        deployment: live,
        replicas: 0,
    });
    assert_eq!(
        scaled,
        [expected.replace("deleting it", "scaling it to 0 replicas")]
    );
    assert!(
        fixture
            .review(Change::Scale {
                deployment: live,
                replicas: 2
            })
            .is_empty()
    );
}

#[test]
fn the_previous_color_stays_warm_for_the_window() {
    let fixture = Fixture::service_app()
        .with_router_annotation("bluegreen.dev/live-since", "2026-11-22T11:50:00Z")
        .with_router_annotation("bluegreen.dev/previous-color", "green");
    let previous = fixture.deployment("api-green");
    assert_eq!(
        fixture.review(Change::Scale {
            deployment: previous,
            replicas: 0
        }),
        [
            "BG008 warm-rollback: Deployment api-green runs the previous color green of svc/api, kept warm for rollback until 2026-11-22T12:20:00Z (warm window 30m after the switch at 2026-11-22T11:50:00Z); scaling it to 0 replicas now would make a rollback slow; wait until 2026-11-22T12:20:00Z, then retire it (kubectl bluegreen retire svc/api)"
        ]
    );
    let mut later = fixture.clone();
    later.now = "2026-11-22T12:30:00Z".parse().unwrap();
    assert!(
        later
            .review(Change::Deployment {
                old: Some(later.deployment("api-green")),
                new: None
            })
            .is_empty()
    );
}

#[test]
fn deploying_drifted_config_to_the_idle_color_is_refused() {
    let fixture = Fixture::service_app();
    let old = fixture.deployment("api-green");
    let mut new = old.clone();
    let pod = pod_mut(&mut new);
    pod.containers[0].env_from.as_mut().unwrap()[1]
        .secret_ref
        .as_mut()
        .unwrap()
        .name = "db-credentials-v2".into();
    pod.containers[0].readiness_probe = None;
    let findings = fixture.review(Change::Deployment {
        old: Some(old),
        new: Some(&new),
    });
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert!(findings[0].starts_with("BG004 config-parity: green references Secret db-credentials-v2, blue references Secret db-credentials"));
    assert!(findings[1].starts_with("BG007 readiness-probes: container api of green"));
}

#[test]
fn a_deployment_that_makes_a_color_ambiguous_is_refused_with_bg010() {
    let fixture = Fixture::service_app();
    let mut extra = fixture.deployment("api-green").clone();
    extra.metadata.name = Some("api-green-2".into());
    let findings = fixture.review(Change::Deployment {
        old: None,
        new: Some(&extra),
    });
    assert_eq!(
        findings,
        [
            "BG010 distinct-colors: color green resolves to 2 Deployments (api-green, api-green-2); each color must be exactly one Deployment: make their pod labels differ or delete the extra"
        ]
    );
}

#[test]
fn a_network_policy_that_selects_one_color_is_refused_and_its_deletion_is_not() {
    let fixture = Fixture::service_app();
    let blue_only: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "blue-only", "namespace": "shop"},
        "spec": {"podSelector": {"matchLabels": {"color": "blue"}}}
    }))
    .unwrap();
    let findings = fixture.review(Change::NetworkPolicy {
        old: None,
        new: Some(&blue_only),
    });
    assert_eq!(findings.len(), 1);
    assert!(findings[0].starts_with("BG005 netpol-parity: NetworkPolicy blue-only selects blue pods (Deployment api-blue) but not green pods"));
    let stored = fixture.snapshot().network_policies[0];
    assert!(
        fixture
            .review(Change::NetworkPolicy {
                old: Some(stored),
                new: None
            })
            .is_empty()
    );
}

mod pod_label_index {
    //! The guard's snapshots carry a [`PodLabelIndex`]; every judgement must be the
    //! one reached by reading all the namespace's Deployments.

    use std::sync::Arc;

    use k8s_openapi::api::apps::v1::Deployment;

    use super::*;
    use crate::discovery::discover;
    use crate::rules::fixtures::{GREEN_IMAGE, deployment};
    use crate::snapshot::{Object, PodLabelIndex, Snapshot};

    fn set_label(d: &mut Deployment, key: &str, value: &str) {
        let spec = d.spec.as_mut().unwrap();
        let labels = spec
            .template
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap();
        labels.insert(key.into(), value.into());
        spec.selector
            .match_labels
            .as_mut()
            .unwrap()
            .insert(key.into(), value.into());
    }

    /// Apps as they are and broken in the ways discovery tells apart.
    fn fixtures() -> Vec<(&'static str, Fixture)> {
        let extra_blue = deployment("api-blue-2", "color", "blue", "registry.local/api:2");
        let third = deployment("api-red", "color", "red", "registry.local/api:3");
        let worker = deployment("worker", "role", "batch", "registry.local/worker:1");
        vec![
            ("service app", Fixture::service_app()),
            ("route app", Fixture::route_app()),
            (
                "two blue Deployments",
                Fixture::service_app().with_object(Object::Deployment(extra_blue)),
            ),
            (
                "a third color",
                Fixture::service_app().with_object(Object::Deployment(third)),
            ),
            (
                "green relabelled blue",
                Fixture::service_app().with_green(|d| set_label(d, "color", "blue")),
            ),
            (
                "a Deployment of no app",
                Fixture::service_app().with_object(Object::Deployment(worker)),
            ),
        ]
    }

    /// What the guard hands the rules: the Deployments in name order, indexed.
    fn snapshots<'a>(fixture: &'a Fixture, index: &'a mut PodLabelIndex) -> [Snapshot<'a>; 2] {
        let mut plain = fixture.snapshot();
        plain.deployments.sort_by_key(|d| d.metadata.name.clone());
        for d in &plain.deployments {
            index.insert(Arc::new((*d).clone()));
        }
        let mut indexed = plain.clone();
        indexed.pod_labels = Some(index);
        [plain, indexed]
    }

    /// Every write of a Deployment the fixture's apps could see.
    fn deployment_writes(
        fixture: &Fixture,
    ) -> Vec<(String, Option<Deployment>, Option<Deployment>)> {
        let stored: Vec<Deployment> = fixture
            .snapshot()
            .deployments
            .iter()
            .map(|d| (*d).clone())
            .collect();
        let mut writes = Vec::new();
        for old in &stored {
            let name = old.metadata.name.clone().unwrap();
            let mut image = old.clone();
            pod_mut(&mut image).containers[0].image = Some("registry.local/api:9".into());
            writes.push((
                format!("new image for {name}"),
                Some(old.clone()),
                Some(image),
            ));
            for color in ["blue", "green", "red"] {
                let mut relabelled = old.clone();
                set_label(&mut relabelled, "color", color);
                set_label(&mut relabelled, "version", color);
                writes.push((
                    format!("{name} relabelled {color}"),
                    Some(old.clone()),
                    Some(relabelled),
                ));
            }
            writes.push((format!("{name} deleted"), Some(old.clone()), None));
        }
        let new = deployment("api-green-2", "color", "green", GREEN_IMAGE);
        writes.push(("a second green created".into(), None, Some(new)));
        writes
    }

    #[test]
    fn discovery_and_reviews_read_the_index_as_they_read_every_deployment() {
        let mut judged = 0;
        for (name, fixture) in fixtures() {
            let mut index = PodLabelIndex::default();
            let [plain, indexed] = snapshots(&fixture, &mut index);
            let apps = |s: &Snapshot<'_>| format!("{:?}", discover(s));
            assert_eq!(apps(&plain), apps(&indexed), "{name}: discovery");
            let ctx = fixture.ctx();
            let findings = |change: &Change<'_>, s: &Snapshot<'_>| -> Vec<String> {
                review(change, s, &ctx)
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            };
            for (write, old, new) in deployment_writes(&fixture) {
                let change = Change::Deployment {
                    old: old.as_ref(),
                    new: new.as_ref(),
                };
                assert_eq!(
                    findings(&change, &plain),
                    findings(&change, &indexed),
                    "{name}: {write}"
                );
                // A write after a write: the index must see both.
                if let Some(new) = &new {
                    let name_of_new = new.metadata.name.as_deref().unwrap();
                    let [plain, indexed] =
                        [&plain, &indexed].map(|s| s.with_deployment(name_of_new, Some(new)));
                    assert_eq!(
                        apps(&plain),
                        apps(&indexed),
                        "{name}: {write}, then discovery"
                    );
                    assert_eq!(
                        findings(&change, &plain),
                        findings(&change, &indexed),
                        "{name}: {write}, twice"
                    );
                }
                judged += 1;
            }
        }
        assert!(judged > 50, "{judged} writes judged");
    }
}

/// kube-apiserver never sends a Deployment update whose object is named differently from
/// its oldObject, but a guard in every release's write path must not panic on one: the
/// colors are found by the stored object's name.
#[test]
fn an_update_whose_object_is_renamed_is_judged_without_panicking() {
    let fixture = Fixture::service_app();
    let old = fixture.deployment("api-blue");
    let mut renamed = old.clone();
    renamed.metadata.name = Some("something-else".into());
    let mut nameless = old.clone();
    nameless.metadata.name = None;
    for new in [&renamed, &nameless] {
        let findings = fixture.review(Change::Deployment {
            old: Some(old),
            new: Some(new),
        });
        assert!(findings.is_empty(), "{findings:?}");
        let scale = fixture.review(Change::Scale {
            deployment: new,
            replicas: 0,
        });
        assert!(scale.is_empty(), "{scale:?}");
    }
}
