//! `promote APP [--dry-run] [--watch DURATION]`: the pre-flight (the same rules the
//! guard applies, under the BlueGreenPolicy in force), the switch as one guarded write,
//! and optionally a watch of the new live color that rolls back if it degrades.

use std::time::Duration;

use anyhow::{Result, bail};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use policy::app::RouterRef;
use policy::{App, Context, Requester, Snapshot, check_switch, discover_router};
use serde::Serialize;

use crate::cli::{OutputFormat, PromoteArgs};
use crate::cluster::{ApiCall, Cluster, ClusterState, Routes, Scope, explain};
use crate::exit::{Outcome, Refused};
use crate::output::{print_data, print_line};
use crate::rollout::not_ready;
use crate::switch::SwitchPlan;

/// What a switch did, for `-o json|yaml`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchReport {
    /// The router.
    pub router: String,
    /// Namespace.
    pub namespace: String,
    /// The color that lost traffic.
    pub from: String,
    /// The color that took it.
    pub to: String,
    /// Whether it was only a dry run.
    pub dry_run: bool,
    /// Whether `--watch` saw the new color degrade and rolled back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rolled_back: bool,
}

/// The state a switch is judged on: the namespace and who asks.
pub struct Release {
    /// The namespace as read.
    pub state: ClusterState,
    /// Who asks, when the API server says.
    pub requester: Option<Requester>,
}

impl Release {
    /// Reads the app's namespace and the requester's identity concurrently.
    pub async fn load(cluster: &Cluster, router: &RouterRef) -> Result<Self> {
        let (state, requester) = tokio::join!(
            cluster.read(Scope::Namespace, Routes::for_app(router)),
            cluster.requester()
        );
        let state = state?;
        state.print_warnings();
        Ok(Release { state, requester })
    }

    /// Runs the pre-flight on switching `router` to its idle color and, when every rule
    /// passes, sends the switch. A deny prints every finding and changes nothing.
    pub async fn switch(
        &self,
        cluster: &Cluster,
        router: &RouterRef,
        dry_run: bool,
    ) -> Result<SwitchPlan> {
        let snapshot = self.state.snapshot();
        let app = discover_router(&snapshot, router)?;
        self.switch_app(cluster, &app, &snapshot, dry_run).await
    }

    async fn switch_app(
        &self,
        cluster: &Cluster,
        app: &App<'_>,
        snapshot: &Snapshot<'_>,
        dry_run: bool,
    ) -> Result<SwitchPlan> {
        let policy = self.state.policy(&cluster.namespace)?;
        let images = crate::check::offline_verdicts(&self.state.objects);
        let now = Timestamp::now();
        let ctx = Context {
            policy: &policy,
            now,
            requester: self.requester.as_ref(),
            images: &images,
        };
        preflight(app, snapshot, &ctx)?;
        let plan = SwitchPlan::new(
            app,
            now,
            self.requester.as_ref().map(|r| r.username.as_str()),
        )?;
        plan.apply(cluster, dry_run).await?;
        Ok(plan)
    }
}

/// The rules on switching `app` to its idle color.
pub fn preflight(app: &App<'_>, snapshot: &Snapshot<'_>, ctx: &Context<'_>) -> Result<(), Refused> {
    let findings = check_switch(app, &app.idle, snapshot, ctx);
    let what = format!("switching {} to {}", app.router.reference(), app.idle.color);
    Refused::unless_allowed(&what, ctx.policy, &findings)
}

/// Prints what a switch did.
pub fn report(
    plan: &SwitchPlan,
    dry_run: bool,
    rolled_back: bool,
    format: OutputFormat,
) -> Result<()> {
    match format {
        OutputFormat::Table if dry_run => print_line(&format!(
            "{} would switch from {} to {}: the checks pass and the API server accepted a dry run",
            plan.router, plan.from, plan.to
        )),
        OutputFormat::Table => print_line(&format!(
            "{} switched from {} to {} in namespace {}",
            plan.router, plan.from, plan.to, plan.namespace
        )),
        format => print_data(
            &SwitchReport {
                router: plan.router.to_string(),
                namespace: plan.namespace.clone(),
                from: plan.from.clone(),
                to: plan.to.clone(),
                dry_run,
                rolled_back,
            },
            format,
        ),
    }
}

/// `promote APP`.
pub async fn run(cluster: &Cluster, args: &PromoteArgs, format: OutputFormat) -> Result<Outcome> {
    let router = &args.app.app;
    let release = Release::load(cluster, router).await?;
    let plan = {
        let snapshot = release.state.snapshot();
        let app = discover_router(&snapshot, router)?;
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
        release
            .switch_app(cluster, &app, &snapshot, args.dry_run)
            .await?
    };
    let Some(duration) = args.watch.filter(|_| !args.dry_run) else {
        report(&plan, args.dry_run, false, format)?;
        return Ok(Outcome::Success);
    };
    if format == OutputFormat::Table {
        report(&plan, false, false, format)?;
    }
    let new_live = {
        let snapshot = release.state.snapshot();
        discover_router(&snapshot, router)?.idle.deployment_name()
    };
    match watch_live(cluster, &new_live, &plan.to, duration).await? {
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
            let release = Release::load(cluster, router).await?;
            let back = release.switch(cluster, router, false).await?;
            report(&back, false, true, format)?;
            Ok(Outcome::Unhealthy)
        }
    }
}

/// Checks the new live color every two seconds for `duration`: its Deployment must stay
/// fully available and its pods must not restart. Returns why it degraded, if it did.
async fn watch_live(
    cluster: &Cluster,
    deployment: &str,
    color: &str,
    duration: Duration,
) -> Result<Option<String>> {
    let deadline = tokio::time::Instant::now() + duration;
    let mut baseline_restarts: Option<i32> = None;
    let mut restarts_watched = true;
    loop {
        let current = cluster
            .api::<Deployment>()
            .get(deployment)
            .await
            .map_err(|err| {
                explain(
                    err,
                    &ApiCall::get::<Deployment>(Some(&cluster.namespace), deployment),
                )
            })?;
        if let Some(finding) = not_ready(&current, color) {
            return Ok(Some(finding.message));
        }
        if restarts_watched {
            match restarts(cluster, &current).await {
                Ok(now) => match baseline_restarts {
                    Some(before) if now > before => {
                        return Ok(Some(format!(
                            "its containers restarted {} times during the watch",
                            now - before
                        )));
                    }
                    Some(_) => {}
                    None => baseline_restarts = Some(now),
                },
                Err(err) => {
                    anstream::eprintln!("warning: container restarts are not watched: {err:#}");
                    restarts_watched = false;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep_until(
            deadline.min(tokio::time::Instant::now() + Duration::from_secs(2)),
        )
        .await;
    }
}

/// The containers' total restart count over the Deployment's pods.
async fn restarts(cluster: &Cluster, deployment: &Deployment) -> Result<i32> {
    let selector = deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let pods = cluster
        .api::<Pod>()
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|err| explain(err, &ApiCall::list::<Pod>(Some(&cluster.namespace))))?;
    Ok(pods
        .items
        .iter()
        .filter_map(|pod| pod.status.as_ref()?.container_statuses.as_ref())
        .flatten()
        .map(|c| c.restart_count)
        .sum())
}

#[cfg(test)]
mod tests {
    use policy::{ImageVerdicts, Policy};

    use super::*;
    use crate::fixtures;

    #[test]
    fn a_refusal_lists_every_finding_and_says_nothing_changed() {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, "web");
        let app = fixtures::app(&snapshot, "httproute/myapp");
        let policy = Policy::default();
        let images = ImageVerdicts::new();
        let ctx = Context {
            policy: &policy,
            now: fixtures::now(),
            requester: None,
            images: &images,
        };
        let refusal = preflight(&app, &snapshot, &ctx).unwrap_err().0;
        insta::assert_snapshot!(refusal, @r"
        switching httproute/myapp to green is refused by the built-in defaults (no BlueGreenPolicy); nothing was changed:
          deny: BG001 ready-target: green (Deployment app-green) is not ready to take traffic: 1/2 replicas available; wait for the rollout (kubectl rollout status deployment/app-green) or fix its pods, then switch
        ");
    }
}
