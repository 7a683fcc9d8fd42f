//! `promote APP [--dry-run] [--watch DURATION]`: the pre-flight (the same rules the
//! guard applies, under the BlueGreenPolicy in force, with both colors' images verified
//! when BG006 is on), the switch as one guarded write, and optionally a watch of the new
//! live color that rolls back if it degrades.

use anyhow::{Result, bail};

use crate::cli::{OutputFormat, PromoteArgs};
use crate::cluster::Cluster;
use crate::exit::Outcome;
use crate::output::print_line;
use crate::release::{Release, report};
use crate::watched::Watched;

/// `promote APP`.
pub async fn run(cluster: &Cluster, args: &PromoteArgs, format: OutputFormat) -> Result<Outcome> {
    let router = &args.app.app;
    let release = Release::load(cluster, router, &args.images).await?;
    let watch = args.watch.filter(|_| !args.dry_run);
    let (plan, watched) = {
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
        // Restarts are counted from before the switch, so none around it goes unseen.
        let watched = match watch {
            Some(_) => Some(Watched::before_switch(cluster, &app.idle).await),
            None => None,
        };
        let plan = release
            .switch_app(cluster, &app, &snapshot, args.dry_run, args.owner)
            .await?;
        (plan, watched)
    };
    let (Some(duration), Some(watched)) = (watch, watched) else {
        report(&plan, args.dry_run, false, format)?;
        return Ok(Outcome::Success);
    };
    if format == OutputFormat::Table {
        report(&plan, false, false, format)?;
    }
    match watched.degradation(cluster, duration).await? {
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
            anstream::eprintln!(
                "{} degraded after the switch: {reason}; rolling back to {}",
                plan.to,
                plan.from
            );
            let release = Release::load(cluster, router, &args.images).await?;
            let back = release.switch(cluster, false, args.owner).await?;
            report(&back, false, true, format)?;
            Ok(Outcome::Unhealthy)
        }
    }
}
