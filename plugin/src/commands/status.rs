//! `status APP [--watch]`: both colors, their replicas and images, the rules' findings
//! and the last switches. The exit code reports health so scripts can wait on it.
//! `--watch` redraws whenever a watch sees the app's objects change.

use std::io::{IsTerminal as _, Read as _};
use std::time::Duration;

use anyhow::{Result, bail};
use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt};
use gateway_api::apis::standard::httproutes::HttpRoute;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use policy::app::{RouterKind, RouterRef};
use policy::rules::warm_rollback;
use policy::{Action, App, ColorSide, Context, Snapshot, check_app};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cli::{OutputFormat, StatusArgs};
use crate::cluster::Cluster;
use crate::exit::Outcome;
use crate::live::LiveApp;
use crate::output::{FindingView, Table, Tone, print, styled, styled_action};
use crate::owner::Owner;
use crate::owner::owned::OwnedRouter;
use crate::rollout::not_ready;
use policy::record::{self, Images, Switch};

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
        }
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
    if let Some(owner) = &status.owner {
        out.push_str(&format!("Owner:   {owner}\n"));
    }
    if let Some(unknown) = &status.owner_unknown {
        out.push_str(&format!("         {unknown}\n"));
    }
    if let Some(drift) = &status.drift {
        out.push_str(&format!("Drift:   {}\n", styled(drift, Tone::Bad)));
    }
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

/// Reads the app and builds its status, with both colors' images verified when BG006
/// is on.
async fn read_status(cluster: &Cluster, args: &StatusArgs) -> Result<(AppStatus, Timestamp)> {
    let live = LiveApp::load(cluster, &args.app.app, false).await?;
    let snapshot = live.snapshot();
    let app = live.app(&snapshot)?;
    let checks = live.checks(&cluster.namespace, Some(&args.images)).await?;
    let owned = OwnedRouter::read(cluster, &app).await;
    let now = Timestamp::now();
    let status = AppStatus::new(&app, &snapshot, &checks.context(now)).with_owner(owned.as_ref());
    Ok((status, now))
}

fn text(status: &AppStatus, now: Timestamp, format: OutputFormat) -> Result<String> {
    Ok(match format {
        OutputFormat::Table => render(status, now),
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(status)?),
        OutputFormat::Yaml => serde_yaml::to_string(status)?,
    })
}

/// `status APP [--watch [--timeout DURATION]]`.
pub async fn run(cluster: &Cluster, args: &StatusArgs, format: OutputFormat) -> Result<Outcome> {
    let (status, now) = read_status(cluster, args).await?;
    if !args.watch {
        print(&text(&status, now, format)?)?;
        return Ok(status.outcome());
    }
    let screen = Screen::new();
    screen.show(&text(&status, now, format)?)?;
    let mut shown = serde_json::to_string(&status)?;
    let mut outcome = status.outcome();
    let mut changes = app_changes(cluster, &args.app.app);
    let stop = stopped(args.timeout);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(outcome),
            change = changes.next() => {
                if change.is_none() {
                    bail!("the watch of {} ended", args.app.app);
                }
                // A burst of events (a rollout) is one re-read.
                while let Some(Some(())) = changes.next().now_or_never() {}
            }
        }
        let (status, now) = read_status(cluster, args).await?;
        // Ages change every second; redraw only when something else did.
        let comparable = serde_json::to_string(&status)?;
        if comparable != shown {
            screen.show(&text(&status, now, format)?)?;
            shown = comparable;
            outcome = status.outcome();
        }
    }
}

/// Where `status --watch` draws: a terminal is cleared and redrawn; anything else gets
/// each new status appended, followed by a blank line.
struct Screen {
    terminal: bool,
}

impl Screen {
    fn new() -> Self {
        Screen {
            terminal: std::io::stdout().is_terminal(),
        }
    }

    fn show(&self, text: &str) -> Result<()> {
        if self.terminal {
            // Home the cursor and clear the screen, then draw.
            print(&format!("\x1b[H\x1b[2J{text}"))
        } else {
            print(&format!("{text}\n"))
        }
    }
}

/// One item per change of the app's Deployments, Services and (for an HTTPRoute app)
/// HTTPRoutes in the namespace, seen through kube-runtime watches; the first item
/// comes once the watches have listed. Watch errors are retried with a backoff.
fn app_changes(cluster: &Cluster, router: &RouterRef) -> BoxStream<'static, ()> {
    fn changes<K>(api: Api<K>) -> BoxStream<'static, ()>
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        watcher(api, watcher::Config::default())
            .default_backoff()
            .filter_map(|event| async move {
                match event {
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                    Ok(_) => Some(()),
                    Err(err) => {
                        tracing::debug!("status --watch: {err}; retrying");
                        None
                    }
                }
            })
            .boxed()
    }
    let mut streams = vec![
        changes(cluster.api::<Deployment>()),
        changes(cluster.api::<Service>()),
    ];
    if router.kind == RouterKind::HttpRoute {
        streams.push(changes(cluster.api::<HttpRoute>()));
    }
    futures::stream::select_all(streams).boxed()
}

/// Completes when the watch should end: Ctrl-C, stdin closed when it is a pipe (the
/// process feeding it is gone), or `timeout` elapsed.
async fn stopped(timeout: Option<Duration>) {
    let timeout = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    let stdin_closed = async {
        if stdin_is_pipe() {
            // A plain thread, not the runtime's blocking pool: a read cannot be
            // cancelled, and the process must not wait for it on exit.
            let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 256];
                let mut stdin = std::io::stdin().lock();
                while !matches!(stdin.read(&mut buffer), Ok(0) | Err(_)) {}
                let _ = closed.send(());
            });
            let _ = on_close.await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = stdin_closed => {}
        () = timeout => {}
    }
}

/// Whether stdin is a pipe (not a terminal, a file or /dev/null).
#[cfg(unix)]
fn stdin_is_pipe() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::FileTypeExt as _;
    std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|file| file.metadata())
        .is_ok_and(|meta| meta.file_type().is_fifo())
}

/// Elsewhere a closed stdin does not end the watch; Ctrl-C and `--timeout` still do.
#[cfg(not(unix))]
fn stdin_is_pipe() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn status_of(namespace: &str, router: &str) -> AppStatus {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, namespace);
        let app = fixtures::app(&snapshot, router);
        let checks = fixtures::checks();
        let ctx = checks.context(fixtures::now());
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
