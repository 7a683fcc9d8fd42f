//! An owned object as the commands judge it: its owner, what the owner renders for the
//! fields the plugin writes (read from the Helm release where there is one), what the
//! owner's next write does to a change made here, and how to make the change through it.

use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use policy::app::RouterKind;
use policy::{App, discovery};
use serde_json::Value;

use super::helm::{self, Release};
use super::{Field, Owner, Tool, Writes};
use crate::api_error::{ApiCall, explain};
use crate::cluster::Cluster;
use crate::output::{Tone, styled};

/// An object with an owner, and the owner's release when it is Helm: read, or why not.
#[derive(Debug)]
pub struct Owned {
    /// The owner.
    pub owner: Owner,
    /// `svc/api`, `deployment/api-green`.
    pub object: String,
    /// The object's metadata (its managedFields tell who holds each field now).
    pub meta: ObjectMeta,
    /// The Helm release's latest deployed revision (Helm only): read, or why not.
    pub release: Option<Result<Release, String>>,
}

impl Owned {
    /// The owner of the object `meta` describes, with its Helm release read; `None`
    /// when no tool owns it.
    pub async fn read(cluster: &Cluster, object: String, meta: &ObjectMeta) -> Option<Self> {
        let owner = Owner::of(meta)?;
        let release = match &owner.tool {
            Tool::Helm { release, namespace } => {
                Some(read_release(cluster, release, namespace).await)
            }
            _ => None,
        };
        Some(Owned {
            owner,
            object,
            meta: meta.clone(),
            release,
        })
    }

    /// The owner of an app's router.
    pub async fn router(cluster: &Cluster, app: &App<'_>) -> Option<Self> {
        Owned::read(
            cluster,
            app.router.reference().to_string(),
            app.router.meta(),
        )
        .await
    }

    /// The owner of a color's Deployment.
    pub async fn deployment(cluster: &Cluster, deployment: &Deployment) -> Option<Self> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        Owned::read(cluster, format!("deployment/{name}"), &deployment.metadata).await
    }

    fn release(&self) -> Option<&Release> {
        self.release.as_ref().and_then(|read| read.as_ref().ok())
    }

    /// What the owner renders for this object, when its release says.
    fn rendered(&self, kind: &str) -> Option<Value> {
        let name = self.object.split_once('/').map(|(_, name)| name)?;
        self.release()?.rendered(kind, name)
    }

    /// Whether the owner sets `field`: the release's manifest says where it was read,
    /// else managedFields; an owner with nothing to tell by is taken to set it.
    pub fn sets(&self, kind: &str, field: &Field) -> bool {
        match self.rendered(kind) {
            Some(object) => field.is_set_in(&object),
            None => self.owner.sets(&self.meta, field).unwrap_or(true),
        }
    }

    /// Another manager that holds `field` now, if one does: its next write by the
    /// owner conflicts with it (server-side apply) or overwrites it.
    fn held_by(&self, field: &Field) -> Option<String> {
        self.meta
            .managed_fields
            .iter()
            .flatten()
            .filter(|entry| super::owns(entry, &field.path))
            .filter_map(|entry| entry.manager.clone())
            .find(|manager| manager != self.owner.tool.manager())
    }

    /// `the next helm upgrade of shop/api`, `Argo CD application shop-api at its next sync`.
    fn next_write(&self) -> String {
        match &self.owner.tool {
            Tool::Helm { release, namespace } => {
                format!("the next helm upgrade of {namespace}/{release}")
            }
            Tool::ArgoCd { .. } => format!("{}'s next sync", self.owner.tool),
            Tool::FluxKustomization { .. } | Tool::FluxHelmRelease { .. } => {
                format!("{}'s next reconcile", self.owner.tool)
            }
        }
    }

    /// What the owner's next write does to `field` after a change here from `keeps` to
    /// another value: "fails with a conflict on .spec.selector", "puts blue back".
    fn after_change(&self, field: &Field, back: &str) -> String {
        let next = self.next_write();
        match (&self.owner.tool, self.owner.writes) {
            (Tool::Helm { .. }, Writes::ServerSideApply) => format!(
                "{next} fails with a conflict on {} (unless the release is changed to match)",
                field.shown
            ),
            (Tool::Helm { .. }, Writes::ClientSide) => {
                format!("{next} puts {back} back without a word")
            }
            (Tool::ArgoCd { .. }, _) => {
                format!("{next} puts {back} back (at once with self-heal)")
            }
            _ => format!("{next} puts {back} back"),
        }
    }
}

impl Owned {
    /// Why `change` ("a switch to green") here is refused: `field` is the owner's, and
    /// its next write would undo the change (`back` is what it puts back). `through` says
    /// how to make the change through the owner, `forced` what --force-conflicts does.
    pub fn refusal(
        &self,
        change: &str,
        field: &Field,
        back: &str,
        through: &str,
        forced: &str,
    ) -> String {
        format!(
            "{} is owned by {}, which sets {}: after {change} here, {}; nothing was changed.\n{through}\n--force-conflicts {forced}, taking {} from {}",
            self.object,
            self.owner,
            field.shown,
            self.after_change(field, back),
            field.shown,
            self.owner.tool,
        )
    }

    /// The warning after a change was forced here: what the owner's next write does.
    /// Loud where that write undoes the change (Helm 3's merge, a GitOps reconcile).
    pub fn after_forced(&self, field: &Field, back: &str, through: &str) -> String {
        let conflicts = matches!(self.owner.tool, Tool::Helm { .. })
            && self.owner.writes == Writes::ServerSideApply;
        let head = match conflicts {
            true => styled("warning:", Tone::Bad),
            false => styled("warning: this change will not last:", Tone::Bad),
        };
        format!(
            "{head} {} no longer decides {} of {}: {}; {through}",
            self.owner.tool,
            field.shown,
            self.object,
            self.after_change(field, back)
        )
    }

    /// `helm upgrade … --set SET` for the owner's release (its chart named when the
    /// release was read); empty for other owners.
    fn upgrade_command(&self, set: &str) -> String {
        match (self.release(), &self.owner.tool) {
            (Some(release), _) => release.upgrade_command(set),
            (None, Tool::Helm { release, namespace }) => {
                format!("helm upgrade {release} CHART -n {namespace} --reuse-values --set {set}")
            }
            (None, _) => String::new(),
        }
    }

    /// How to make a change to `field` through the owner, when no chart value is known
    /// for it: `what` is the change ("0 replicas").
    pub fn change_through(&self, field: &Field, what: &str) -> String {
        match &self.owner.tool {
            Tool::Helm { .. } => format!(
                "change it through Helm: give the chart a value that renders {} of {} and set it to {what} ({})",
                field.shown,
                self.object,
                self.upgrade_command(&format!("VALUE={what}")),
            ),
            tool => format!(
                "change it through Git: set {} of {} to {what} there, and let {tool} apply it",
                field.shown, self.object
            ),
        }
    }
}

/// Refuses setting `images` (container, image) on `color`'s Deployment when a tool owns
/// them, unless `force`; says how to roll the color out through the owner instead.
pub async fn check_deploy(
    cluster: &Cluster,
    deployment: &Deployment,
    color: &str,
    images: &[(String, String)],
    force: bool,
) -> anyhow::Result<()> {
    let Some(owned) = Owned::deployment(cluster, deployment).await else {
        return Ok(());
    };
    let owned_images: Vec<&(String, String)> = images
        .iter()
        .filter(|(container, _)| owned.sets("Deployment", &Field::image(container)))
        .collect();
    let Some((container, image)) = owned_images.first() else {
        return Ok(());
    };
    let images_now = policy::app::deployment_images(deployment);
    let current = |name: &str| {
        images_now
            .iter()
            .find(|(container, _)| *container == name)
            .map(|(_, image)| image.to_string())
            .unwrap_or_default()
    };
    let field = Field::image(container);
    let sets: Option<Vec<String>> = owned.release().and_then(|release| {
        owned_images
            .iter()
            .map(|(container, image)| {
                let now = current(container);
                let (value, tag_only) = release.image_value(color, &now)?;
                let repository = |image: &str| image.rsplit_once(':').map(|(r, _)| r.to_string());
                match tag_only {
                    false => Some(format!("{value}={image}")),
                    true if repository(image) == repository(&now) => {
                        Some(format!("{value}={}", image.rsplit_once(':')?.1))
                    }
                    true => None,
                }
            })
            .collect()
    });
    let through = match (owned.release(), sets) {
        (Some(release), Some(sets)) => format!(
            "roll {color} out through Helm: {}",
            release.upgrade_command(&sets.join(" --set "))
        ),
        _ => owned.change_through(&field, image),
    };
    let back = current(container);
    if !force {
        return Err(crate::exit::Owned(owned.refusal(
            &format!("a deploy of {image}"),
            &field,
            &back,
            &through,
            "deploys here anyway",
        ))
        .into());
    }
    anstream::eprintln!("{}", owned.after_forced(&field, &back, &through));
    Ok(())
}

/// Refuses writing `replicas` to `deployment` when a tool owns them, unless `force`;
/// when forced, says what the owner's next write does.
pub async fn check_scale(
    cluster: &Cluster,
    deployment: &Deployment,
    replicas: i32,
    force: bool,
) -> anyhow::Result<()> {
    let Some(owned) = Owned::deployment(cluster, deployment).await else {
        return Ok(());
    };
    let field = Field::replicas();
    if !owned.sets("Deployment", &field) {
        return Ok(());
    }
    let current = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    let back = format!("{current} replicas");
    let through = owned.change_through(&field, &replicas.to_string());
    if !force {
        return Err(crate::exit::Owned(owned.refusal(
            &format!("scaling it to {replicas} replicas"),
            &field,
            &back,
            &through,
            "scales it here anyway",
        ))
        .into());
    }
    anstream::eprintln!("{}", owned.after_forced(&field, &back, &through));
    Ok(())
}

/// The switch field of an app's router.
pub fn switch_field(app: &App<'_>) -> Field {
    match app.router.reference().kind {
        RouterKind::Service => Field::service_selector(),
        RouterKind::HttpRoute => Field::route_rules(),
    }
}

/// The color a rendered router sends traffic to.
fn rendered_color(app: &App<'_>, router: &Value) -> Option<String> {
    match app.router.reference().kind {
        RouterKind::Service => router["spec"]["selector"][&app.color_label]
            .as_str()
            .map(str::to_string),
        RouterKind::HttpRoute => {
            let route: HttpRoute = serde_json::from_value(router.clone()).ok()?;
            let backends = discovery::backend_refs(&route, &app.namespace);
            let serving = |name: &str| backends.iter().any(|(n, weight)| n == name && *weight > 0);
            let colors: Vec<&str> = [&app.live, &app.idle]
                .into_iter()
                .filter(|side| {
                    side.service
                        .and_then(|s| s.metadata.name.as_deref())
                        .is_some_and(serving)
                })
                .map(|side| side.color)
                .collect();
            match colors.as_slice() {
                [one] => Some(one.to_string()),
                _ => None,
            }
        }
    }
}

/// An app's router with an owner that sets its switch field.
#[derive(Debug)]
pub struct OwnedRouter {
    /// The owner, and what was read of it.
    pub owned: Owned,
    /// The switch field.
    pub field: Field,
    /// The color the owner's next write renders, when its release says.
    pub renders: Option<String>,
    /// The chart value that renders the color, when the release says which.
    pub value: Option<String>,
}

impl OwnedRouter {
    /// The owner of `app`'s switch, when a tool owns the router and sets that field.
    pub async fn read(cluster: &Cluster, app: &App<'_>) -> Option<Self> {
        let owned = Owned::router(cluster, app).await?;
        Self::of(owned, app)
    }

    /// `owned` as the owner of `app`'s switch, when it sets the switch field.
    pub fn of(owned: Owned, app: &App<'_>) -> Option<Self> {
        let field = switch_field(app);
        let kind = app.router.kind().kind();
        if !owned.sets(kind, &field) {
            return None;
        }
        let renders = owned
            .rendered(kind)
            .and_then(|router| rendered_color(app, &router));
        let value = owned.release().and_then(|release| {
            let current = renders.as_deref().unwrap_or(app.live.color);
            let key = match app.router.reference().kind {
                RouterKind::Service => Some(app.color_label.as_str()),
                RouterKind::HttpRoute => None,
            };
            release.value_rendering(key, current)
        });
        Some(OwnedRouter {
            owned,
            field,
            renders,
            value,
        })
    }

    /// How to move traffic to `to` through the owner.
    pub fn switch_through(&self, to: &str) -> String {
        match (&self.owned.owner.tool, &self.value) {
            (Tool::Helm { .. }, Some(value)) => format!(
                "switch through Helm: {}",
                self.owned.upgrade_command(&format!("{value}={to}"))
            ),
            (Tool::Helm { .. }, None) => format!(
                "switch through Helm: {} (VALUE: the chart value that renders {} of {})",
                self.owned.upgrade_command(&format!("VALUE={to}")),
                self.field.shown,
                self.owned.object
            ),
            (tool, _) => format!(
                "switch through Git: change what renders {} of {} to {to} in Git, and let {tool} apply it",
                self.field.shown, self.owned.object
            ),
        }
    }

    /// The color the owner's next write puts back: what its release renders, when known.
    fn back(&self) -> String {
        self.renders
            .clone()
            .unwrap_or_else(|| "the old color".into())
    }

    /// Why a switch to `to` here is refused: what the owner's next write does then.
    pub fn refusal(&self, to: &str) -> String {
        let through = format!(
            "{}\n(`kubectl bluegreen promote {} --dry-run` runs every check and the API server's dry run without writing)",
            self.switch_through(to),
            self.owned.object
        );
        self.owned.refusal(
            &format!("a switch to {to}"),
            &self.field,
            &self.back(),
            &through,
            "switches here anyway",
        )
    }

    /// What the owner's next write does after a forced switch to `to`, or `None` when it
    /// keeps `to`.
    pub fn after_forced_switch(&self, to: &str) -> Option<String> {
        if self.renders.as_deref() == Some(to) {
            return None;
        }
        Some(
            self.owned
                .after_forced(&self.field, &self.back(), &self.switch_through(to)),
        )
    }

    /// Whether the owner's next write keeps the live color: `None` when it does,
    /// else what it does instead.
    pub fn drift(&self, live: &str) -> Option<String> {
        let next = self.owned.next_write();
        match (&self.owned.owner.tool, &self.renders) {
            (Tool::Helm { .. }, Some(renders)) if renders != live => {
                let renders_line = format!("chart renders {renders}");
                Some(
                    match (self.owned.owner.writes, self.owned.held_by(&self.field)) {
                        (Writes::ServerSideApply, Some(holder)) => format!(
                            "{next} fails: its {renders_line} and {holder} holds {} (a server-side apply conflict); {}",
                            self.field.shown,
                            self.switch_through(live)
                        ),
                        _ => format!(
                            "{next} switches traffic back to {renders} ({renders_line}); {}",
                            self.switch_through(live)
                        ),
                    },
                )
            }
            (Tool::Helm { .. }, _) => None,
            // A GitOps owner's desired state is in Git: only a field someone else took
            // from it tells that its next reconcile changes it back.
            (tool, _) => self.owned.held_by(&self.field).map(|holder| {
                format!(
                    "{next} puts {} back ({holder} changed it; {tool} decides it); {}",
                    self.field.shown,
                    self.switch_through(live)
                )
            }),
        }
    }

    /// What cannot be told about the owner's next write, and why.
    pub fn unknown(&self) -> Option<String> {
        match &self.owned.release {
            Some(Err(reason)) => Some(format!(
                "what the next helm upgrade renders is unknown: {reason}"
            )),
            _ => None,
        }
    }
}

/// The latest deployed revision of a Helm release, or why it cannot be read.
async fn read_release(
    cluster: &Cluster,
    release: &str,
    namespace: &str,
) -> Result<Release, String> {
    let selector = helm::release_selector(release);
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let secrets = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|err| {
            format!(
                "its release (Secrets labelled {selector} in {namespace}) cannot be read: {}",
                explain(err, &ApiCall::list::<Secret>(Some(namespace)))
            )
        })?;
    let latest = helm::latest_deployed(&secrets.items).ok_or_else(|| {
        helm::ReleaseError::NoDeployedRevision {
            selector: selector.clone(),
        }
        .to_string()
    })?;
    Release::from_secret(latest).map_err(|err| err.to_string())
}
