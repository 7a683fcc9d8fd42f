//! An app's status: both colors, their replicas and images, the rules' findings, the
//! last switches and the router's owner. `status` shows one, `list` a row of each.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::Deployment;
use policy::gate::Phase;
use policy::record::{self, Images, Switch};
use policy::rules::warm_rollback;
use policy::{Action, App, ColorSide, Context, Snapshot, check_app};
use serde::Serialize;

use crate::exit::Outcome;
use crate::gates::GateStatus;
use crate::output::{FindingView, Tone, styled};
use crate::owner::Owner;
use crate::owner::owned::OwnedRouter;
use crate::rollout::not_ready;

/// How many switches `status` shows.
const RECENT_SWITCHES: usize = 5;

/// One color as `status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColorStatus {
    /// The color label's value.
    pub color: String,
    /// Its Deployment.
    pub deployment: String,
    /// Container → image.
    pub images: Images,
    /// `spec.replicas`.
    pub desired: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.updatedReplicas`.
    pub updated: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// When the Deployment was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// Why it could not take traffic now (BG001), if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_ready: Option<String>,
}

impl ColorStatus {
    fn new(side: &ColorSide<'_>) -> Self {
        let status = side.deployment.status.clone().unwrap_or_default();
        ColorStatus {
            color: side.color.to_string(),
            deployment: side.deployment_name(),
            images: side
                .images()
                .into_iter()
                .map(|(c, i)| (c.to_string(), i.to_string()))
                .collect(),
            desired: side.desired_replicas(),
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            created: created(side.deployment),
            not_ready: not_ready(side.deployment, side.color).map(|f| f.message),
        }
    }

    /// `api=registry/api:1.4, sidecar=...`.
    pub fn images_text(&self) -> String {
        self.images
            .iter()
            .map(|(container, image)| format!("{container}={image}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn created(deployment: &Deployment) -> Option<Timestamp> {
    deployment.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Everything `status` knows about an app.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// Namespace.
    pub namespace: String,
    /// The app's name.
    pub name: String,
    /// The router, `svc/api`.
    pub router: String,
    /// The color taking traffic.
    pub live: ColorStatus,
    /// The other color.
    pub idle: ColorStatus,
    /// When the live color took traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_since: Option<Timestamp>,
    /// The color a rollback returns to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_color: Option<String>,
    /// Until when the idle color must stay warm (BG008).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_until: Option<Timestamp>,
    /// The policy in force.
    pub policy: String,
    /// Healthy: the live color is fully available and no rule denies.
    pub healthy: bool,
    /// The standing rules' findings (BG004-BG007).
    pub findings: Vec<FindingView>,
    /// The last switches, oldest first.
    pub history: Vec<Switch>,
    /// The tool that owns the router (Helm, Argo CD, Flux), and how it writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// What the owner's next write does to the live color, when it does not keep it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    /// What cannot be told about the owner's next write, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_unknown: Option<String>,
    /// The metric gates in force, each evaluated now when a Prometheus is named.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateStatus>,
}

impl AppStatus {
    /// The status of `app` in `snapshot` under `ctx`.
    pub fn new(app: &App<'_>, snapshot: &Snapshot<'_>, ctx: &Context<'_>) -> Self {
        let findings: Vec<FindingView> = check_app(app, snapshot, ctx)
            .iter()
            .map(FindingView::from)
            .collect();
        let live = ColorStatus::new(&app.live);
        let healthy =
            live.not_ready.is_none() && !findings.iter().any(|f| f.action == Action::Deny);
        let mut recorded = record::read(app.router.annotations()).unwrap_or_default();
        let excess = recorded.len().saturating_sub(RECENT_SWITCHES);
        recorded.drain(..excess);
        AppStatus {
            namespace: app.namespace.clone(),
            name: app.name.clone(),
            router: app.router.reference().to_string(),
            live,
            idle: ColorStatus::new(&app.idle),
            live_since: app.live_since(),
            previous_color: app.previous_color().map(str::to_string),
            warm_until: warm_rollback::warm_until(app, ctx).filter(|until| ctx.now < *until),
            policy: ctx.policy.display_name(),
            healthy,
            findings,
            history: recorded,
            owner: Owner::of(app.router.meta()).map(|owner| owner.to_string()),
            drift: None,
            owner_unknown: None,
            gates: Vec::new(),
        }
    }

    /// Adds the metric gates as evaluated now: a post-promotion gate failing on the live
    /// color is a degradation.
    pub fn with_gates(mut self, gates: Vec<GateStatus>) -> Self {
        self.healthy &= !gates
            .iter()
            .any(|gate| gate.phase == Phase::Post && gate.passes == Some(false));
        self.gates = gates;
        self
    }

    /// Adds what the router's owner renders: a next write that does not keep the live
    /// color is a degradation of its own.
    pub fn with_owner(mut self, owned: Option<&OwnedRouter>) -> Self {
        if let Some(owned) = owned {
            self.owner = Some(owned.owned.owner.to_string());
            self.drift = owned.drift(&self.live.color);
            self.owner_unknown = owned.unknown();
            self.healthy &= self.drift.is_none();
        }
        self
    }

    /// 0 when healthy, 1 when degraded.
    pub fn outcome(&self) -> Outcome {
        if self.healthy {
            Outcome::Success
        } else {
            Outcome::Unhealthy
        }
    }

    /// `healthy` or `degraded`, colored.
    pub fn health_text(&self) -> String {
        if self.healthy {
            styled("healthy", Tone::Good)
        } else {
            styled("degraded", Tone::Bad)
        }
    }
}

/// `2d`, `5h`, `3m`, `12s`: kubectl's AGE column.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = SignedDuration::from_secs(now.as_second() - since.as_second()).as_secs();
    match seconds {
        s if s < 0 => "0s".to_string(),
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn ages_read_like_kubectl() {
        let now = fixtures::now();
        let ago = |s: i64| Timestamp::from_second(now.as_second() - s).unwrap();
        assert_eq!(age(ago(30), now), "30s");
        assert_eq!(age(ago(600), now), "10m");
        assert_eq!(age(ago(5 * 3600), now), "5h");
        assert_eq!(age(ago(3 * 86400), now), "3d");
    }
}
