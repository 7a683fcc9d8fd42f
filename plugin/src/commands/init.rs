//! `init APP`: make an app blue-green. Adopting an existing router with one color
//! labels its objects with `bluegreen.dev/app` and creates the missing color as a copy
//! of the live one; `--image` generates a new Service app instead. `--dry-run` prints
//! the objects as YAML and writes nothing.

use anyhow::{Context as _, Result, bail};
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use policy::app::{RouterKind, RouterRef};
use policy::contract::{APP_LABEL, DEFAULT_COLOR_LABEL};
use policy::{DiscoveryError, discover_router};
use serde_json::{Value, json};

use crate::api_error::{ApiCall, explain};
use crate::cli::InitArgs;
use crate::cluster::{Cluster, Routes, Scope};
use crate::exit::{Outcome, Owned};
use crate::output::{print, print_line};
use crate::owner::Owner;
use crate::switch::FIELD_MANAGER;

/// A write `init` makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create this object.
    Create(Value),
    /// Add the app label to an existing object of this kind and name.
    Label {
        /// Its kind.
        kind: Labelled,
        /// Its name.
        name: String,
    },
}

/// The kinds of existing object `init` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    /// A router or color Service.
    Service,
    /// A color's Deployment.
    Deployment,
    /// A router HTTPRoute.
    HttpRoute,
}

impl Labelled {
    fn of_router(router: &RouterRef) -> Self {
        match router.kind {
            RouterKind::Service => Labelled::Service,
            RouterKind::HttpRoute => Labelled::HttpRoute,
        }
    }

    /// kubectl's short form, `svc`, `deployment`, `httproute`.
    fn short(self) -> &'static str {
        match self {
            Labelled::Service => "svc",
            Labelled::Deployment => "deployment",
            Labelled::HttpRoute => "httproute",
        }
    }
}

/// The other color of the usual pair.
fn other_color(color: &str) -> Result<&'static str> {
    match color {
        "blue" => Ok("green"),
        "green" => Ok("blue"),
        other => bail!(
            "the live color is {other:?}; init creates the second color only for the blue/green pair: create it yourself with another value of the color label"
        ),
    }
}

/// A copy of the live Deployment for `color`: same pod template with the color label
/// changed, the same replicas, none of the server-set fields.
pub fn second_color(
    live: &Deployment,
    key: &str,
    from: &str,
    color: &str,
    app: &str,
) -> Result<Value> {
    let mut copy = serde_json::to_value(live)?;
    let name = live.name_any();
    let new_name = match name.strip_suffix(&format!("-{from}")) {
        Some(base) => format!("{base}-{color}"),
        None => format!("{name}-{color}"),
    };
    copy["metadata"] = json!({
        "name": new_name,
        "namespace": live.namespace(),
        "labels": live.labels(),
    });
    copy["metadata"]["labels"][APP_LABEL] = json!(app);
    copy.as_object_mut().map(|o| o.remove("status"));
    copy["spec"]["template"]["metadata"]["labels"][key] = json!(color);
    if copy["spec"]["selector"]["matchLabels"].get(key).is_some() {
        copy["spec"]["selector"]["matchLabels"][key] = json!(color);
    }
    Ok(copy)
}

/// The objects of a new Service app running `image`.
pub fn generate(name: &str, namespace: &str, image: &str, port: i32, replicas: i32) -> Vec<Value> {
    let labels = |color: &str| json!({"app": name, DEFAULT_COLOR_LABEL: color});
    let deployment = |color: &str| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": format!("{name}-{color}"), "namespace": namespace, "labels": {APP_LABEL: name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels(color)},
                "template": {
                    "metadata": {"labels": labels(color)},
                    "spec": {"containers": [{
                        "name": name,
                        "image": image,
                        "ports": [{"containerPort": port}],
                        "readinessProbe": {"tcpSocket": {"port": port}},
                    }]},
                },
            },
        })
    };
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": {APP_LABEL: name}},
            "spec": {
                "selector": labels("blue"),
                "ports": [{"name": "http", "port": 80, "targetPort": port}],
            },
        }),
        deployment("blue"),
        deployment("green"),
    ]
}

/// What adopting `router` takes, from the namespace's state, and the owners of the
/// objects it would write (by `kind/name`). The router is labelled last: the guard
/// refuses a labelled router whose colors are not (BG011).
async fn adoption(
    cluster: &Cluster,
    router: &RouterRef,
) -> Result<(Vec<Write>, Vec<(String, Owner)>)> {
    let state = cluster
        .read(Scope::Namespace, Routes::for_app(router))
        .await?;
    state.print_warnings();
    let snapshot = state.snapshot();
    let router_kind = Labelled::of_router(router);
    let mut writes = Vec::new();
    let mut owners = Vec::new();
    let mut owned_by = |object: String, meta: &ObjectMeta| {
        if let Some(owner) = Owner::of(meta) {
            owners.push((object, owner));
        }
    };
    match discover_router(&snapshot, router) {
        Ok(app) => {
            for side in [&app.live, &app.idle] {
                owned_by(
                    format!("deployment/{}", side.deployment_name()),
                    &side.deployment.metadata,
                );
                if let Some(service) = side.service {
                    owned_by(format!("svc/{}", service.name_any()), &service.metadata);
                }
            }
            owned_by(router.to_string(), app.router.meta());
            for side in [&app.live, &app.idle] {
                if !side.deployment.labels().contains_key(APP_LABEL) {
                    writes.push(Write::Label {
                        kind: Labelled::Deployment,
                        name: side.deployment_name(),
                    });
                }
                if let Some(service) = side.service.filter(|s| !s.labels().contains_key(APP_LABEL))
                {
                    writes.push(Write::Label {
                        kind: Labelled::Service,
                        name: service.name_any(),
                    });
                }
            }
            if !app.router.labels().contains_key(APP_LABEL) {
                writes.push(Write::Label {
                    kind: router_kind,
                    name: router.name.clone(),
                });
            }
        }
        Err(DiscoveryError::OnlyOneColor {
            key,
            color,
            deployment,
            ..
        }) if router.kind == RouterKind::Service => {
            let live = snapshot
                .deployment(&deployment)
                .with_context(|| format!("deployment/{deployment} vanished while reading"))?;
            owned_by(format!("deployment/{deployment}"), &live.metadata);
            if let Some(service) = snapshot.service(&router.name) {
                owned_by(router.to_string(), &service.metadata);
            }
            writes.push(Write::Label {
                kind: Labelled::Deployment,
                name: deployment.clone(),
            });
            let copy = second_color(live, &key, &color, other_color(&color)?, &router.name)?;
            writes.push(Write::Create(copy));
            writes.push(Write::Label {
                kind: router_kind,
                name: router.name.clone(),
            });
        }
        Err(DiscoveryError::NoColorLabel { key, .. }) => bail!(
            "{router}: its selector has no {key:?} label, so it does not pick a color yet. Adopting it changes live pods, so do it in steps: add `{key}: blue` to the Deployment's pod template labels and wait for the rollout, then add `{key}: blue` to the Service's selector, then re-run `kubectl bluegreen init {router}`"
        ),
        Err(err) => return Err(err.into()),
    }
    Ok((writes, owners))
}

/// What to add to the owner's source instead of writing: the labels as the chart or the
/// Git manifests should carry them, and the objects to create.
fn owned_snippet(writes: &[Write], app: &str, owners: &[(String, Owner)]) -> String {
    let mut text =
        String::from("# Add these to the manifests the owners render, and let them apply them:\n");
    for (object, owner) in owners {
        text.push_str(&format!("#   {object}: {owner}\n"));
    }
    for write in writes {
        match write {
            Write::Label { kind, name } => text.push_str(&format!(
                "---\n# {}/{name}: under metadata.labels (in a Helm template, the same line)\nmetadata:\n  labels:\n    {APP_LABEL}: {app}\n",
                kind.short()
            )),
            Write::Create(object) => {
                text.push_str("---\n# a new object for the chart or the Git repository\n");
                text.push_str(&policy::yaml::to_string(object).unwrap_or_default());
            }
        }
    }
    text
}

async fn label(cluster: &Cluster, kind: Labelled, name: &str, app: &str) -> Result<()> {
    let patch = json!({"metadata": {"labels": {APP_LABEL: app}}});
    let patch = Patch::Merge(&patch);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let ns = Some(cluster.namespace.as_str());
    match kind {
        Labelled::Service => cluster
            .api::<Service>()
            .patch(name, &params, &patch)
            .await
            .map(drop)
            .map_err(|err| explain(err, &ApiCall::new::<Service>("patch", ns, name))),
        Labelled::Deployment => cluster
            .api::<Deployment>()
            .patch(name, &params, &patch)
            .await
            .map(drop)
            .map_err(|err| explain(err, &ApiCall::new::<Deployment>("patch", ns, name))),
        Labelled::HttpRoute => cluster
            .api::<HttpRoute>()
            .patch(name, &params, &patch)
            .await
            .map(drop)
            .map_err(|err| explain(err, &ApiCall::new::<HttpRoute>("patch", ns, name))),
    }
}

/// Creates a generated Service or Deployment.
async fn create(cluster: &Cluster, object: &Value) -> Result<()> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let ns = Some(cluster.namespace.as_str());
    if object["kind"] == "Service" {
        let service: Service = serde_json::from_value(object.clone())?;
        cluster
            .api::<Service>()
            .create(&params, &service)
            .await
            .map_err(|err| explain(err, &ApiCall::new::<Service>("create", ns, name)))?;
    } else {
        let deployment: Deployment = serde_json::from_value(object.clone())?;
        cluster
            .api::<Deployment>()
            .create(&params, &deployment)
            .await
            .map_err(|err| explain(err, &ApiCall::new::<Deployment>("create", ns, name)))?;
    }
    Ok(())
}

/// `init APP [--image IMG] [--dry-run]`.
pub async fn run(cluster: Option<&Cluster>, namespace: &str, args: &InitArgs) -> Result<Outcome> {
    let router = &args.app;
    let writes = match (&args.image, cluster) {
        (Some(image), _) => {
            if router.kind != RouterKind::Service {
                bail!(
                    "init --image generates a Service app (svc/NAME); an HTTPRoute also needs your Gateway, so write the route and adopt it with `kubectl bluegreen init httproute/NAME`"
                );
            }
            generate(&router.name, namespace, image, args.port, args.replicas)
                .into_iter()
                .map(Write::Create)
                .collect()
        }
        (None, Some(cluster)) => {
            let (writes, owners) = adoption(cluster, router).await?;
            if !owners.is_empty() && !writes.is_empty() && !args.owner.force_conflicts {
                print(&owned_snippet(&writes, &router.name, &owners))?;
                let (object, owner) = &owners[0];
                return Err(Owned(format!(
                    "{object} is owned by {owner}: labels written here are not in its source, and what init creates would be no one's; nothing was changed. Add the lines printed above to the chart or to Git, or pass --force-conflicts to write them here anyway"
                ))
                .into());
            }
            writes
        }
        (None, None) => unreachable!("adoption reads the cluster"),
    };
    if writes.is_empty() {
        print_line(&format!(
            "{router} is already a labelled blue-green app; nothing to do"
        ))?;
        return Ok(Outcome::Success);
    }
    if args.dry_run {
        let mut text = String::new();
        for write in &writes {
            match write {
                Write::Create(object) => {
                    text.push_str("---\n");
                    text.push_str(&policy::yaml::to_string(object)?);
                }
                Write::Label { kind, name } => text.push_str(&format!(
                    "# would label {}/{name} with {APP_LABEL}={}\n",
                    kind.short(),
                    router.name
                )),
            }
        }
        return print(&text).map(|()| Outcome::Success);
    }
    let cluster = cluster.context("writing needs the cluster")?;
    for write in &writes {
        match write {
            Write::Create(object) => {
                create(cluster, object).await?;
                print_line(&format!(
                    "{}/{} created",
                    object["kind"].as_str().unwrap_or_default().to_lowercase(),
                    object["metadata"]["name"].as_str().unwrap_or_default()
                ))?;
            }
            Write::Label { kind, name } => {
                label(cluster, *kind, name, &router.name).await?;
                print_line(&format!(
                    "{}/{name} labelled {APP_LABEL}={}",
                    kind.short(),
                    router.name
                ))?;
            }
        }
    }
    print_line(&format!("next: kubectl bluegreen status {router}"))?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_apps_pass_discovery() {
        let objects = generate("api", "shop", "registry.example.com/api:1.0", 8080, 2);
        let text = objects
            .iter()
            .map(|o| policy::yaml::to_string(o).unwrap())
            .collect::<Vec<_>>()
            .join("---\n");
        let parsed = policy::manifest::parse(&text, "generated").unwrap().objects;
        let snapshot = crate::fixtures::snapshot(&parsed, "shop");
        let app = crate::fixtures::app(&snapshot, "svc/api");
        assert_eq!((app.live.color, app.idle.color), ("blue", "green"));
        assert_eq!(app.idle.deployment_name(), "api-green");
    }

    #[test]
    fn the_second_color_is_a_relabelled_copy() {
        let objects = crate::fixtures::objects();
        let snapshot = crate::fixtures::snapshot(&objects, "shop");
        let live = snapshot.deployment("api-blue").unwrap();
        let copy = second_color(live, "color", "blue", "green", "api").unwrap();
        assert_eq!(copy["metadata"]["name"], json!("api-green"));
        assert_eq!(
            copy["spec"]["selector"]["matchLabels"]["color"],
            json!("green")
        );
        assert_eq!(
            copy["spec"]["template"]["metadata"]["labels"]["color"],
            json!("green")
        );
        assert_eq!(copy["metadata"]["labels"][APP_LABEL], json!("api"));
        assert!(copy.get("status").is_none());
        assert!(copy["metadata"].get("resourceVersion").is_none());
    }
}
