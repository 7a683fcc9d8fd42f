//! `status APP [--watch]`: both colors, their replicas and images, the rules' findings
//! and the last switches. The exit code reports health so scripts can wait on it.

use std::time::Duration;

use anyhow::Result;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::Deployment;
use policy::rules::warm_rollback;
use policy::{Action, App, ColorSide, Context, Snapshot, check_app, discover_router};
use serde::Serialize;

use crate::cli::{OutputFormat, StatusArgs};
use crate::cluster::{Cluster, Routes, Scope};
use crate::exit::Outcome;
use crate::history::{self, Images, Switch};
use crate::output::{FindingView, Table, Tone, print, styled, styled_action};
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
        let mut recorded = history::read(app.router.annotations()).unwrap_or_default();
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
        }
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

/// The status as people read it.
pub fn render(status: &AppStatus, now: Timestamp) -> String {
    let mut out = String::new();
    let since = status
        .live_since
        .map(|t| format!(" since {t} ({} ago)", age(t, now)))
        .unwrap_or_default();
    out.push_str(&format!(
        "App:     {} in namespace {} ({})\nLive:    {}{since}\nHealth:  {}\nPolicy:  {}\n",
        status.router,
        status.namespace,
        status.name,
        status.live.color,
        status.health_text(),
        status.policy,
    ));
    if let Some(until) = status.warm_until {
        out.push_str(&format!(
            "Warm:    {} stays warm for rollback until {until}\n",
            status.idle.color
        ));
    }
    out.push('\n');
    let mut colors = Table::new(&[
        "COLOR",
        "ROLE",
        "DEPLOYMENT",
        "DESIRED",
        "READY",
        "UPDATED",
        "AVAILABLE",
        "AGE",
        "IMAGES",
    ]);
    for (role, color) in [("live", &status.live), ("idle", &status.idle)] {
        colors.row(vec![
            color.color.clone(),
            role.to_string(),
            color.deployment.clone(),
            color.desired.to_string(),
            color.ready.to_string(),
            color.updated.to_string(),
            color.available.to_string(),
            color
                .created
                .map(|t| age(t, now))
                .unwrap_or_else(|| "-".into()),
            color.images_text(),
        ]);
    }
    out.push_str(&colors.render());
    for color in [&status.live, &status.idle] {
        if let Some(reason) = &color.not_ready {
            out.push_str(&format!("\n{reason}"));
        }
    }
    if status.live.not_ready.is_some() || status.idle.not_ready.is_some() {
        out.push('\n');
    }
    out.push_str("\nFindings:");
    if status.findings.is_empty() {
        out.push_str(" none, all rules pass\n");
    } else {
        out.push('\n');
        for f in &status.findings {
            out.push_str(&format!(
                "  {} {} {}: {}; {}\n",
                styled_action(&f.action.to_string()),
                f.rule,
                f.rule_name,
                f.message,
                f.fix
            ));
        }
    }
    out.push_str("\nLast switches:");
    if status.history.is_empty() {
        out.push_str(" none recorded\n");
    } else {
        out.push('\n');
        out.push_str(&super::history::render(&status.history));
    }
    out
}

/// Reads the app and builds its status.
async fn read_status(cluster: &Cluster, args: &StatusArgs) -> Result<(AppStatus, Timestamp)> {
    let router = &args.app.app;
    let state = cluster
        .read(Scope::Namespace, Routes::for_app(router))
        .await?;
    state.print_warnings();
    let snapshot = state.snapshot();
    let app = discover_router(&snapshot, router)?;
    let policy = state.policy(&cluster.namespace)?;
    let images = crate::check::offline_verdicts(&state.objects);
    let now = Timestamp::now();
    let ctx = Context {
        policy: &policy,
        now,
        requester: None,
        images: &images,
    };
    Ok((AppStatus::new(&app, &snapshot, &ctx), now))
}

/// `status APP [--watch]`.
pub async fn run(cluster: &Cluster, args: &StatusArgs, format: OutputFormat) -> Result<Outcome> {
    let mut last_printed = String::new();
    loop {
        let (status, now) = read_status(cluster, args).await?;
        let text = match format {
            OutputFormat::Table => render(&status, now),
            OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&status)?),
            OutputFormat::Yaml => serde_yaml::to_string(&status)?,
        };
        if !args.watch {
            print(&text)?;
            return Ok(status.outcome());
        }
        // Ages change every second; reprint only when something else did.
        let comparable = serde_json::to_string(&status)?;
        if comparable != last_printed {
            print(&format!("{text}\n"))?;
            last_printed = comparable;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use policy::{ImageVerdicts, Policy};

    use super::*;
    use crate::fixtures;

    fn status_of(namespace: &str, router: &str) -> AppStatus {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, namespace);
        let app = fixtures::app(&snapshot, router);
        let policy = Policy::default();
        let images = ImageVerdicts::new();
        let ctx = Context {
            policy: &policy,
            now: fixtures::now(),
            requester: None,
            images: &images,
        };
        AppStatus::new(&app, &snapshot, &ctx)
    }

    #[test]
    fn status_table_of_a_healthy_service_app() {
        let status = status_of("shop", "svc/api");
        assert_eq!(status.outcome(), Outcome::Success);
        insta::assert_snapshot!(fixtures::plain(&render(&status, fixtures::now())));
    }

    #[test]
    fn status_json_of_an_httproute_app_with_an_unready_idle_color() {
        let status = status_of("web", "httproute/myapp");
        assert!(status.idle.not_ready.is_some());
        insta::assert_json_snapshot!(status);
    }

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
