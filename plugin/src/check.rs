//! `check`: the rules on apps as they stand. Offline (`-f`) it reads manifests and
//! evaluates what needs no live state: config parity, NetworkPolicy parity, readiness
//! probes, distinct colors, and digest pinning when BG006 is on (signatures need the
//! registries: `check APP` verifies them live).

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use jiff::Timestamp;
use policy::app::RouterRef;
use policy::app::deployment_images;
use policy::discovery::find_router;
use policy::images::is_pinned;
use policy::manifest::parse;
use policy::rules::distinct_colors;
use policy::{
    Action, BlueGreenPolicy, Context, ImageVerdict, ImageVerdicts, Object, PolicySet, Snapshot,
    check_app, discover,
};
use serde::Serialize;

use crate::app_read::AppRead;
use crate::cli::{CheckArgs, OutputFormat};
use crate::cluster::Cluster;
use crate::exit::Outcome;
use crate::files::read_sources;
use crate::output::{FindingView, Table, print, print_data, styled_action};
use crate::owner::Owner;

/// One app's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppReport {
    /// Namespace.
    pub namespace: String,
    /// The router, `svc/api`.
    pub router: String,
    /// The live color, when the app could be resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// The idle color, when the app could be resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<String>,
    /// The policy applied.
    pub policy: String,
    /// The tool that owns the router (live checks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Rule findings.
    pub findings: Vec<FindingView>,
    /// Why the app could not be understood, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything `check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// One entry per router found.
    pub apps: Vec<AppReport>,
}

impl CheckReport {
    /// Exit 2 when any finding denies, 1 when an app could not be understood, else 0.
    pub fn outcome(&self) -> Outcome {
        let findings = self.apps.iter().flat_map(|a| &a.findings);
        if findings.clone().any(|f| f.action == Action::Deny) {
            Outcome::Denied
        } else if self.apps.iter().any(|a| a.error.is_some()) {
            Outcome::Unhealthy
        } else {
            Outcome::Success
        }
    }
}

/// Offline there is no registry to ask: a pinned image counts as verified and BG006
/// reports only tags (`check -f` says so on stderr). The live commands verify
/// signatures for real ([`crate::app_read`]), as the guard does.
pub fn offline_verdicts(objects: &[Object]) -> ImageVerdicts {
    objects
        .iter()
        .filter_map(|o| match o {
            Object::Deployment(d) => Some(deployment_images(d)),
            _ => None,
        })
        .flatten()
        .filter(|(_, image)| is_pinned(image))
        .map(|(_, image)| {
            (
                image.to_string(),
                ImageVerdict::Verified {
                    signer: "not checked offline".to_string(),
                },
            )
        })
        .collect()
}

/// What `check -f` says when BG006 is on.
pub const OFFLINE_SIGNATURES: &str = "note: BG006 signed-images: signatures are not verified offline, so a pinned image counts as signed here; `kubectl bluegreen check APP` verifies them against the registries";

/// Evaluates every app of one namespace's snapshot.
pub fn check_snapshot(snapshot: &Snapshot<'_>, ctx: &Context<'_>) -> Vec<AppReport> {
    let policy_name = ctx.policy.display_name();
    discover(snapshot)
        .into_iter()
        .map(|result| match result {
            Ok(app) => AppReport {
                namespace: snapshot.namespace.clone(),
                router: app.router.reference().to_string(),
                live: Some(app.live.color.to_string()),
                idle: Some(app.idle.color.to_string()),
                policy: policy_name.clone(),
                owner: Owner::of(app.router.meta()).map(|owner| owner.to_string()),
                findings: check_app(&app, snapshot, ctx)
                    .iter()
                    .map(FindingView::from)
                    .collect(),
                error: None,
            },
            Err(err) => {
                let router = err.router().map(ToString::to_string).unwrap_or_default();
                let mut findings = policy::finding::Findings::default();
                let as_rule = err
                    .router()
                    .and_then(|r| find_router(snapshot, r))
                    .is_some_and(|router| {
                        distinct_colors::evaluate(&router, &err, ctx, &mut findings)
                    });
                AppReport {
                    namespace: snapshot.namespace.clone(),
                    router,
                    live: None,
                    idle: None,
                    policy: policy_name.clone(),
                    owner: None,
                    findings: findings.into_vec().iter().map(FindingView::from).collect(),
                    error: (!as_rule).then(|| err.to_string()),
                }
            }
        })
        .collect()
}

/// Reads the manifests and checks every app in them.
pub fn check_manifests(args: &CheckArgs, now: Timestamp) -> Result<CheckReport> {
    let mut objects = Vec::new();
    for source in read_sources(&args.files)? {
        objects.extend(parse(&source.text, &source.name)?.objects);
    }
    let mut policies: Vec<BlueGreenPolicy> = Vec::new();
    if let Some(path) = &args.policy {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the policy", path.display()))?;
        policies.extend(
            parse(&text, &path.display().to_string())?
                .objects
                .into_iter()
                .filter_map(|o| match o {
                    Object::Policy(p) => Some(p),
                    _ => None,
                }),
        );
        anyhow::ensure!(
            !policies.is_empty(),
            "{}: no BlueGreenPolicy in this file",
            path.display()
        );
    } else {
        policies.extend(objects.iter().filter_map(|o| match o {
            Object::Policy(p) => Some(p.clone()),
            _ => None,
        }));
    }
    // Offline there are no Namespace objects to read labels from.
    let policies = PolicySet::new(&policies);
    let policy = policies
        .for_namespace(&BTreeMap::new())
        .map_err(Clone::clone)?;
    if policy.verifies_images() {
        anstream::eprintln!("{OFFLINE_SIGNATURES}");
    }
    let images = offline_verdicts(&objects);
    let ctx = Context {
        policy,
        now,
        requester: None,
        images: &images,
    };
    let mut report = CheckReport::default();
    for snapshot in Snapshot::by_namespace(&objects) {
        report.apps.extend(check_snapshot(&snapshot, &ctx));
    }
    Ok(report)
}

/// `check -f PATH...`.
pub fn run(args: &CheckArgs, format: OutputFormat) -> Result<Outcome> {
    let report = check_manifests(args, Timestamp::now())?;
    print_report(&report, format)
}

/// `check APP`: the same rules on the live app, under the BlueGreenPolicy in force,
/// with both colors' images verified against the registries when BG006 is on.
pub async fn run_on_cluster(
    cluster: &Cluster,
    router: &RouterRef,
    args: &CheckArgs,
    format: OutputFormat,
) -> Result<Outcome> {
    let read = AppRead::load(cluster, router, false).await?;
    let snapshot = read.snapshot();
    read.app(&snapshot)?;
    let checks = read.checks(&cluster.namespace, Some(&args.images)).await?;
    let ctx = checks.context(Timestamp::now());
    let name = router.to_string();
    let report = CheckReport {
        apps: check_snapshot(&snapshot, &ctx)
            .into_iter()
            .filter(|app| app.router == name)
            .collect(),
    };
    print_report(&report, format)
}

fn print_report(report: &CheckReport, format: OutputFormat) -> Result<Outcome> {
    match format {
        OutputFormat::Table => print(&render(report))?,
        format => print_data(report, format)?,
    }
    Ok(report.outcome())
}

/// The table people read: one row per finding, one `ok` row per clean app.
pub fn render(report: &CheckReport) -> String {
    if report.apps.is_empty() {
        return "No blue-green apps found: a router is a Service whose selector has a color label, or an HTTPRoute whose backendRef names one of two color Services.\n".to_string();
    }
    let mut table = Table::new(&[
        "NAMESPACE",
        "APP",
        "LIVE",
        "RULE",
        "ACTION",
        "OBJECT",
        "MESSAGE",
    ]);
    let (mut deny, mut warn, mut errors) = (0, 0, 0);
    for app in &report.apps {
        let live = app.live.clone().unwrap_or_else(|| "-".to_string());
        let row = |rule: String, action: &str, object: String, message: String| {
            vec![
                app.namespace.clone(),
                app.router.clone(),
                live.clone(),
                rule,
                styled_action(action),
                object,
                message,
            ]
        };
        if let Some(error) = &app.error {
            errors += 1;
            table.row(row("-".into(), "error", app.router.clone(), error.clone()));
        }
        for f in &app.findings {
            match f.action {
                Action::Deny => deny += 1,
                Action::Warn => warn += 1,
                _ => {}
            }
            let object = format!("{}/{}", f.kind.to_lowercase(), f.name);
            table.row(row(
                format!("{} {}", f.rule, f.rule_name),
                &f.action.to_string(),
                object,
                format!("{}; {}", f.message, f.fix),
            ));
        }
        if app.error.is_none() && app.findings.is_empty() {
            table.row(row(
                "-".into(),
                "ok",
                app.router.clone(),
                "all rules pass".into(),
            ));
        }
    }
    let apps = report.apps.len();
    let owners: String = report
        .apps
        .iter()
        .filter_map(|app| {
            Some(format!(
                "{} is owned by {}\n",
                app.router,
                app.owner.as_ref()?
            ))
        })
        .collect();
    format!(
        "{}\n{owners}{apps} app{} checked: {deny} deny, {warn} warn, {errors} error{}\n",
        table.render(),
        if apps == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" }
    )
}
