//! `status APP [--watch]`: both colors, their replicas and images, the rules' findings
//! and the last switches. The exit code reports health so scripts can wait on it.
//! `--watch` redraws whenever a watch sees the app's objects change.

use std::io::{IsTerminal as _, Read as _};
use std::time::Duration;

use anyhow::{Result, bail};
use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt};
use gateway_api::apis::standard::httproutes::HttpRoute;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use policy::app::{RouterKind, RouterRef};
use policy::gate::Phase;
use serde::de::DeserializeOwned;

use crate::app_read::AppRead;
use crate::app_status::{AppStatus, age};
use crate::cli::{OutputFormat, StatusArgs};
use crate::cluster::Cluster;
use crate::exit::Outcome;
use crate::gates::{Analysis, GateStatus, show_value};
use crate::output::{Table, Tone, print, styled, styled_action};
use crate::owner::owned::OwnedRouter;
use crate::record_table;

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
    if !status.gates.is_empty() {
        out.push_str(&render_gates(&status.gates));
    }
    out.push_str("\nLast switches:");
    if status.history.is_empty() {
        out.push_str(" none recorded\n");
    } else {
        out.push('\n');
        out.push_str(&record_table::render(&status.history));
    }
    out
}

/// The metric gates: one row each, then why a gate has no value.
fn render_gates(gates: &[GateStatus]) -> String {
    let mut table = Table::new(&[
        "GATE",
        "PHASE",
        "COLOR",
        "VALUE",
        "THRESHOLD",
        "RESULT",
        "DEFINED IN",
    ]);
    for gate in gates {
        let result = match gate.passes {
            Some(true) => styled("pass", Tone::Good),
            Some(false) => styled("fail", Tone::Bad),
            None => "-".to_string(),
        };
        table.row(vec![
            gate.name.clone(),
            match gate.phase {
                Phase::Pre => "pre",
                Phase::Post => "post",
            }
            .to_string(),
            gate.color.clone(),
            gate.value.map_or_else(|| "-".to_string(), show_value),
            gate.threshold.clone(),
            result,
            gate.origin.clone(),
        ]);
    }
    let mut out = format!("\nGates:\n{}", table.render());
    for gate in gates.iter().filter(|g| g.value.is_none()) {
        out.push_str(&format!("{}: {}\n", gate.name, gate.detail));
    }
    out
}

/// Reads the app and builds its status, with both colors' images verified when BG006
/// is on.
async fn read_status(cluster: &Cluster, args: &StatusArgs) -> Result<(AppStatus, Timestamp)> {
    let read = AppRead::load(cluster, &args.app.app, false).await?;
    let snapshot = read.snapshot();
    let app = read.app(&snapshot)?;
    let checks = read.checks(&cluster.namespace, Some(&args.images)).await?;
    let owned = OwnedRouter::read(cluster, &app).await;
    let analysis = Analysis::new(&app, &checks.policy, &args.prometheus, cluster)?;
    let gates = analysis.statuses(app.live.color, app.idle.color).await;
    let now = Timestamp::now();
    let status = AppStatus::new(&app, &snapshot, &checks.context(now))
        .with_owner(owned.as_ref())
        .with_gates(gates);
    Ok((status, now))
}

fn text(status: &AppStatus, now: Timestamp, format: OutputFormat) -> Result<String> {
    Ok(match format {
        OutputFormat::Table => render(status, now),
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(status)?),
        OutputFormat::Yaml => policy::yaml::to_string(status)?,
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
}
