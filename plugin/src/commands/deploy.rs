//! `deploy APP --image C=IMG...`: the new version goes to the idle color only. One
//! patch, guarded by the Deployment's resourceVersion, sets the images and scales the
//! color to the live one's current replicas (its HPA's when it has one); then a watch
//! waits until the color would pass BG001.

use anyhow::{Result, bail};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::Patch;
use policy::finding::Findings;
use policy::rules::capacity::current_replicas;
use policy::rules::immutable_live;
use policy::{App, ColorSide, Context, Finding};
use serde_json::{Value, json};

use crate::api_error::{ApiCall, explain, is_conflict};
use crate::app_read::AppRead;
use crate::cli::{DeployArgs, OutputFormat};
use crate::cluster::Cluster;
use crate::exit::{Outcome, Refused};
use crate::output::{print_data, print_line};
use crate::owner::owned::{check_deploy, check_scale};
use crate::rollout;
use crate::switch::write_params;

/// The strategic merge patch that sets `images` on `side` and scales it to `replicas`,
/// guarded by its resourceVersion. Containers are merged by name, so only the named
/// ones change.
pub fn deploy_patch(
    side: &ColorSide<'_>,
    images: &[(String, String)],
    replicas: i32,
) -> Result<Value> {
    let pod = side
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref());
    let names = |init: bool| -> Vec<&str> {
        pod.map(|p| {
            if init {
                p.init_containers
                    .iter()
                    .flatten()
                    .map(|c| c.name.as_str())
                    .collect()
            } else {
                p.containers.iter().map(|c| c.name.as_str()).collect()
            }
        })
        .unwrap_or_default()
    };
    let (regular, init) = (names(false), names(true));
    let mut containers = Vec::new();
    let mut init_containers = Vec::new();
    for (container, image) in images {
        let entry = json!({"name": container, "image": image});
        if regular.contains(&container.as_str()) {
            containers.push(entry);
        } else if init.contains(&container.as_str()) {
            init_containers.push(entry);
        } else {
            let known: Vec<&str> = regular.iter().chain(&init).copied().collect();
            bail!(
                "deployment/{} has no container {container:?} (it has {}); name one of those in --image CONTAINER=IMAGE",
                side.deployment_name(),
                known.join(", ")
            );
        }
    }
    let mut pod_patch = serde_json::Map::new();
    if !containers.is_empty() {
        pod_patch.insert("containers".into(), Value::Array(containers));
    }
    if !init_containers.is_empty() {
        pod_patch.insert("initContainers".into(), Value::Array(init_containers));
    }
    Ok(json!({
        "metadata": {"resourceVersion": side.deployment.resource_version()},
        "spec": {"replicas": replicas, "template": {"spec": pod_patch}},
    }))
}

/// Judges setting `images` on the live color in place by BG009 under the policy in
/// force, as the guard will judge the write: a deny refuses; warn and audit are
/// printed and returned; off says nothing.
pub fn in_place(
    app: &App<'_>,
    ctx: &Context<'_>,
    images: &[(String, String)],
) -> Result<Vec<Finding>, Refused> {
    let mut changed = app.live.deployment.clone();
    let pod = changed
        .spec
        .as_mut()
        .and_then(|spec| spec.template.spec.as_mut());
    for container in pod.into_iter().flat_map(|pod| {
        pod.init_containers
            .iter_mut()
            .flatten()
            .chain(pod.containers.iter_mut())
    }) {
        if let Some((_, image)) = images.iter().find(|(name, _)| *name == container.name) {
            container.image = Some(image.clone());
        }
    }
    let mut findings = Findings::default();
    immutable_live::evaluate(app, app.live.deployment, &changed, ctx, &mut findings);
    let findings = findings.into_vec();
    let what = format!(
        "deploying to the live color {} of {}",
        app.live.color,
        app.router.reference()
    );
    Refused::unless_allowed(&what, ctx.policy, &findings)?;
    Ok(findings)
}

/// `deploy APP --image C=IMG...`.
pub async fn run(cluster: &Cluster, args: &DeployArgs, format: OutputFormat) -> Result<Outcome> {
    let router = &args.app.app;
    let read = AppRead::load(cluster, router, false).await?;
    let snapshot = read.snapshot();
    let app = read.app(&snapshot)?;
    let side = match args.color.as_deref() {
        Some(color) if color == app.live.color => {
            let checks = read.checks(&cluster.namespace, None).await?;
            in_place(&app, &checks.context(Timestamp::now()), &args.images)?;
            app.live
        }
        Some(color) if color != app.idle.color => bail!(
            "{router} has colors {} (live) and {} (idle), not {color}; omit --color to deploy to {}",
            app.live.color,
            app.idle.color,
            app.idle.color
        ),
        _ => app.idle,
    };
    let role = if side.color == app.live.color {
        "live"
    } else {
        "idle"
    };
    let name = side.deployment_name();
    let replicas = current_replicas(&app.live, &snapshot);
    let patch = deploy_patch(&side, &args.images, replicas)?;
    check_deploy(
        cluster,
        side.deployment,
        side.color,
        &args.images,
        args.owner.force_conflicts,
    )
    .await?;
    if replicas != side.desired_replicas() {
        check_scale(
            cluster,
            side.deployment,
            replicas,
            args.owner.force_conflicts,
        )
        .await?;
    }
    if let Err(err) = cluster
        .api::<Deployment>()
        .patch(&name, &write_params(false), &Patch::Strategic(&patch))
        .await
    {
        if is_conflict(&err) {
            bail!(
                "deployment/{name} changed since it was read; nothing was deployed: re-run the command"
            );
        }
        return Err(explain(
            err,
            &ApiCall::new::<Deployment>("patch", Some(&cluster.namespace), &name),
        ));
    }
    anstream::eprintln!(
        "deployment/{name} ({}, {role}): images set, scaled to {replicas} like {}; waiting for the rollout",
        side.color,
        app.live.color
    );
    let rolled_out = rollout::wait(cluster, &name, side.color, args.timeout).await?;
    match format {
        OutputFormat::Table => print_line(&format!(
            "deployment/{name} is rolled out ({replicas}/{replicas} available); next: kubectl bluegreen verify {router}, then kubectl bluegreen promote {router}"
        ))?,
        format => print_data(&rolled_out, format)?,
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use policy::{Action, RuleId};

    use super::*;
    use crate::fixtures;

    #[test]
    fn the_patch_names_only_the_changed_containers_and_guards_the_version() {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, "shop");
        let app = fixtures::app(&snapshot, "svc/api");
        let images = [(
            "api".to_string(),
            "registry.example.com/api:1.6".to_string(),
        )];
        let patch = deploy_patch(&app.idle, &images, 5).unwrap();
        assert_eq!(
            patch,
            json!({
                "metadata": {"resourceVersion": "52"},
                "spec": {"replicas": 5, "template": {"spec": {"containers": [
                    {"name": "api", "image": "registry.example.com/api:1.6"}
                ]}}},
            })
        );
        let unknown = [("web".to_string(), "x".to_string())];
        let err = deploy_patch(&app.idle, &unknown, 5)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "deployment/api-green has no container \"web\" (it has api); name one of those in --image CONTAINER=IMAGE"
        );
    }

    #[test]
    fn changing_the_live_color_is_judged_by_bg009_with_the_action_in_force() {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, "shop");
        let app = fixtures::app(&snapshot, "svc/api");
        let images = [("api".to_string(), "registry.example.com/api:9".to_string())];
        let mut checks = fixtures::checks();
        let refused = in_place(&app, &checks.context(fixtures::now()), &images)
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "deploying to the live color blue of svc/api is refused by the built-in defaults (no BlueGreenPolicy); nothing was changed:\n  deny: BG009 immutable-live: Deployment api-blue runs the live color blue of svc/api; changing it in place (container api image registry.example.com/api:1.4 → registry.example.com/api:9) is a rolling update on live traffic; deploy to the idle color and promote it: kubectl bluegreen deploy svc/api --image api=registry.example.com/api:9"
        );
        for action in [Action::Warn, Action::Audit, Action::Off] {
            checks.policy = checks.policy.with_action(RuleId::BG009, action);
            assert!(
                in_place(&app, &checks.context(fixtures::now()), &images).is_ok(),
                "{action}"
            );
        }
    }
}
