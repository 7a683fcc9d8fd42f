//! `rollback APP`: switch back to the previous color, first scaling it up and waiting
//! for it if it was retired. The switch is the same guarded write as `promote`'s.

use anyhow::{Result, anyhow};
use policy::contract::PREVIOUS_COLOR_ANNOTATION;
use policy::rules::capacity::current_replicas;

use crate::cli::{OutputFormat, RollbackArgs};
use crate::cluster::Cluster;
use crate::exit::{Outcome, Owned};
use crate::owner::owned::{OwnedRouter, check_scale};
use crate::release::{Release, report};
use crate::rollout;

/// `rollback APP`.
pub async fn run(cluster: &Cluster, args: &RollbackArgs, format: OutputFormat) -> Result<Outcome> {
    let router = &args.app.app;
    let mut release = Release::load(cluster, router, &args.images).await?;
    let retired = {
        let snapshot = release.read.snapshot();
        let app = release.read.app(&snapshot)?;
        app.previous_color().ok_or_else(|| {
            anyhow!(
                "{router}: no switch is recorded (annotation {PREVIOUS_COLOR_ANNOTATION} does not name {}), so there is no previous color to return to; `kubectl bluegreen promote {router}` switches to {} after the checks",
                app.idle.color,
                app.idle.color
            )
        })?;
        // An owned switch is refused before anything is scaled.
        if !args.owner.force_conflicts
            && let Some(owned) = OwnedRouter::read(cluster, &app).await
        {
            return Err(Owned(owned.refusal(app.idle.color)).into());
        }
        if app.idle.desired_replicas() == 0 {
            check_scale(
                cluster,
                app.idle.deployment,
                current_replicas(&app.live, &snapshot),
                args.owner.force_conflicts,
            )
            .await?;
        }
        (app.idle.desired_replicas() == 0).then(|| {
            (
                app.idle.deployment_name(),
                app.idle.color.to_string(),
                current_replicas(&app.live, &snapshot),
            )
        })
    };
    if let Some((deployment, color, replicas)) = retired {
        anstream::eprintln!(
            "{color} was retired; scaling deployment/{deployment} to {replicas} replicas first"
        );
        rollout::scale(cluster, &deployment, replicas).await?;
        rollout::wait(cluster, &deployment, &color, args.timeout).await?;
        release = Release::load(cluster, router, &args.images).await?;
    }
    let plan = release.switch(cluster, false, args.owner, None).await?;
    report(&plan, false, false, format)?;
    Ok(Outcome::Success)
}
