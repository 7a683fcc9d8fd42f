//! `retire APP`: scale the idle color to zero once the warm window after the last
//! switch has passed (BG008), so that rollbacks stay one write away until then.

use anyhow::Result;
use jiff::Timestamp;
use policy::finding::Findings;
use policy::rules::warm_rollback;
use policy::{Context, discover_router};

use crate::cli::RetireArgs;
use crate::cluster::{Cluster, Routes, Scope};
use crate::exit::{Outcome, Refused};
use crate::output::print_line;
use crate::rollout;

/// `retire APP [--force]`.
pub async fn run(cluster: &Cluster, args: &RetireArgs) -> Result<Outcome> {
    let router = &args.app.app;
    let state = cluster
        .read(Scope::Namespace, Routes::for_app(router))
        .await?;
    state.print_warnings();
    let snapshot = state.snapshot();
    let app = discover_router(&snapshot, router)?;
    let deployment = app.idle.deployment_name();
    if app.idle.desired_replicas() == 0 {
        print_line(&format!(
            "{} (deployment/{deployment}) of {router} is already retired",
            app.idle.color
        ))?;
        return Ok(Outcome::Success);
    }
    if !args.force {
        let policy = state.policy(&cluster.namespace)?;
        let images = policy::ImageVerdicts::new();
        let ctx = Context {
            policy: &policy,
            now: Timestamp::now(),
            requester: None,
            images: &images,
        };
        let mut findings = Findings::default();
        warm_rollback::evaluate(&app, &app.idle, Some(0), &ctx, &mut findings);
        let what = format!("retiring {} of {router}", app.idle.color);
        Refused::unless_allowed(&what, &policy, &findings.into_vec()).map_err(|refused| {
            Refused(format!(
                "{refused}\n--force retires it anyway, unless the guard refuses"
            ))
        })?;
    }
    rollout::scale(cluster, &deployment, 0).await?;
    print_line(&format!(
        "{} (deployment/{deployment}) of {router} scaled to 0; `kubectl bluegreen rollback {router}` scales it up again if needed",
        app.idle.color
    ))?;
    Ok(Outcome::Success)
}
