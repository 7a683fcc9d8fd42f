//! `retire APP`: scale the idle color to zero once the warm window after the last
//! switch has passed (BG008), so that rollbacks stay one write away until then.

use anyhow::Result;
use jiff::Timestamp;
use policy::finding::Findings;
use policy::rules::warm_rollback;
use policy::{App, Context, Finding};

use crate::app_read::AppRead;
use crate::cli::RetireArgs;
use crate::cluster::Cluster;
use crate::exit::{Outcome, Refused};
use crate::output::print_line;
use crate::owner::owned::check_scale;
use crate::rollout;

/// Judges scaling the idle color to zero by BG008 under the policy in force: a deny
/// refuses (naming `--force`); what is allowed is printed and returned.
pub fn check(app: &App<'_>, ctx: &Context<'_>) -> Result<Vec<Finding>, Refused> {
    let mut findings = Findings::default();
    warm_rollback::evaluate(app, &app.idle, Some(0), ctx, &mut findings);
    let findings = findings.into_vec();
    let what = format!("retiring {} of {}", app.idle.color, app.router.reference());
    Refused::unless_allowed(&what, ctx.policy, &findings).map_err(|refused| {
        Refused(format!(
            "{refused}\n--force retires it anyway, unless the guard refuses"
        ))
    })?;
    Ok(findings)
}

/// `retire APP [--force]`.
pub async fn run(cluster: &Cluster, args: &RetireArgs) -> Result<Outcome> {
    let router = &args.app.app;
    let read = AppRead::load(cluster, router, false).await?;
    let snapshot = read.snapshot();
    let app = read.app(&snapshot)?;
    let deployment = app.idle.deployment_name();
    if app.idle.desired_replicas() == 0 {
        print_line(&format!(
            "{} (deployment/{deployment}) of {router} is already retired",
            app.idle.color
        ))?;
        return Ok(Outcome::Success);
    }
    if !args.force {
        let checks = read.checks(&cluster.namespace, None).await?;
        check(&app, &checks.context(Timestamp::now()))?;
    }
    check_scale(cluster, app.idle.deployment, 0, args.owner.force_conflicts).await?;
    rollout::scale(cluster, &deployment, 0).await?;
    print_line(&format!(
        "{} (deployment/{deployment}) of {router} scaled to 0; `kubectl bluegreen rollback {router}` scales it up again if needed",
        app.idle.color
    ))?;
    Ok(Outcome::Success)
}
