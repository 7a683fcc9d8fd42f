//! `promote APP [--dry-run] [--watch DURATION]`: the pre-flight (the same rules the
//! guard applies, under the BlueGreenPolicy in force, with both colors' images verified
//! when BG006 is on, and the pre-promotion metric gates on the idle color), the switch as
//! one guarded write, and optionally a watch of the new live color (readiness, restarts,
//! post-promotion metric gates) that rolls back by itself if it fails.

use std::time::Duration;

use anyhow::{Result, bail};
use policy::app::RouterRef;

use crate::app_read::AppRead;
use crate::cli::{OutputFormat, PromoteArgs};
use crate::cluster::Cluster;
use crate::exit::Outcome;
use crate::gates::Analysis;
use crate::output::print_line;
use crate::release::{Release, report};
use crate::switch::SwitchPlan;
use crate::watched::Watched;

/// `promote APP`.
pub async fn run(cluster: &Cluster, args: &PromoteArgs, format: OutputFormat) -> Result<Outcome> {
    let router = &args.app.app;
    let release = Release::load(cluster, router, &args.images).await?;
    let watch = args.watch.filter(|_| !args.dry_run);
    let (plan, watched, analysis) = {
        let snapshot = release.read.snapshot();
        let app = release.read.app(&snapshot)?;
        if let Some(target) = &args.to {
            if target == app.live.color {
                print_line(&format!(
                    "{router}: {target} is already live; nothing to do"
                ))?;
                return Ok(Outcome::Success);
            }
            if target != app.idle.color {
                bail!(
                    "{router} has colors {} (live) and {} (idle), not {target}; pass --to {}",
                    app.live.color,
                    app.idle.color,
                    app.idle.color
                );
            }
        }
        let analysis = Analysis::new(&app, &release.checks.policy, &args.prometheus, cluster)?;
        // A dry run checks the watch it was given, and says nothing of one it was not.
        if !args.dry_run || args.watch.is_some() {
            analysis.check_watch(args.watch)?;
        }
        let what = format!("switching {router} to {}", app.idle.color);
        analysis.before_switch(&what, app.idle.color).await?;
        // Restarts are counted from before the switch, so none around it goes unseen.
        let watched = match watch {
            Some(_) => Some(Watched::before_switch(cluster, &app.idle).await),
            None => None,
        };
        let plan = release
            .switch_app(cluster, &app, &snapshot, args.dry_run, args.owner, None)
            .await?;
        (plan, watched, analysis)
    };
    let (Some(duration), Some(watched)) = (watch, watched) else {
        report(&plan, args.dry_run, false, format)?;
        return Ok(Outcome::Success);
    };
    if format == OutputFormat::Table {
        report(&plan, false, false, format)?;
    }
    match first_failure(cluster, &watched, &analysis, &plan.to, duration).await? {
        None => {
            if format != OutputFormat::Table {
                report(&plan, false, false, format)?;
            }
            print_line(&format!(
                "{} stayed healthy on {} for the watch; the release is done",
                plan.router, plan.to
            ))?;
            Ok(Outcome::Success)
        }
        Some(reason) => {
            let why = format!("{} degraded after the switch: {reason}", plan.to);
            anstream::eprintln!("{why}; rolling back to {}", plan.from);
            let back = roll_back(cluster, args, &plan, &why).await?;
            report(&back, false, true, format)?;
            Ok(Outcome::RolledBack)
        }
    }
}

/// Watches readiness and restarts, and the post-promotion gates, for `duration`: the
/// first failure of either, or `None` once both have watched the whole time.
async fn first_failure(
    cluster: &Cluster,
    watched: &Watched,
    analysis: &Analysis,
    color: &str,
    duration: Duration,
) -> Result<Option<String>> {
    let readiness = watched.degradation(cluster, duration);
    let gates = analysis.first_failure(color, duration);
    tokio::pin!(readiness, gates);
    Ok(tokio::select! {
        degraded = &mut readiness => match degraded? {
            Some(reason) => Some(reason),
            None => gates.await,
        },
        failed = &mut gates => match failed {
            Some(reason) => Some(reason),
            None => readiness.await?,
        },
    })
}

/// The automatic rollback: the same guarded switch, recording `reason`. When it fails,
/// the error says which color serves now and how to roll back by hand.
async fn roll_back(
    cluster: &Cluster,
    args: &PromoteArgs,
    plan: &SwitchPlan,
    reason: &str,
) -> Result<SwitchPlan> {
    let router = &args.app.app;
    let rolled_back = async {
        let release = Release::load(cluster, router, &args.images).await?;
        release
            .switch(cluster, false, args.owner, Some(reason))
            .await
    }
    .await;
    match rolled_back {
        Ok(back) => Ok(back),
        Err(err) => {
            let state = serving_now(cluster, router, &plan.to, reason).await;
            // The cause's chain is flattened into the message: whatever refused the
            // rollback (a rule, exit 2), the promote failed (exit 1).
            bail!(
                "the automatic rollback of {router} to {from} failed, so {router} {state}; roll back by hand once that is fixed: kubectl bluegreen rollback {router} -n {namespace}: {err:#}",
                from = plan.from,
                namespace = plan.namespace,
            )
        }
    }
}

/// Which color `router` sends traffic to, as far as can be read now.
async fn serving_now(cluster: &Cluster, router: &RouterRef, failed: &str, reason: &str) -> String {
    let read = AppRead::load(cluster, router, false).await;
    let live = read.ok().and_then(|read| {
        let snapshot = read.snapshot();
        read.app(&snapshot)
            .ok()
            .map(|app| app.live.color.to_string())
    });
    match live {
        Some(live) if live == failed => format!("still sends traffic to {failed} ({reason})"),
        Some(live) => format!("sends traffic to {live} (changed by someone else)"),
        None => format!(
            "may still send traffic to {failed} ({reason}); the plugin could not read it back"
        ),
    }
}
