//! `promote APP [--dry-run] [--watch DURATION]`: the pre-flight (the same rules the
//! guard applies, under the BlueGreenPolicy in force, with both colors' images verified
//! when BG006 is on), the switch as one guarded write, and optionally a watch of the new
//! live color that rolls back if it degrades.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, bail};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::runtime::{WatchStreamExt, watcher};
use policy::app::RouterRef;
use policy::{App, ColorSide, Context, Finding, Snapshot, check_switch};
use serde::Serialize;

use crate::cli::{ImageCheckArgs, OutputFormat, OwnerArgs, PromoteArgs};
use crate::cluster::{Cluster, match_labels};
use crate::exit::{Outcome, Owned, Refused};
use crate::live::{Checks, LiveApp};
use crate::output::{print_data, print_line};
use crate::owner::owned::OwnedRouter;
use crate::rollout::{check_watch_error, not_ready};
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

/// The state a switch is judged on: the app's namespace, who asks, the policy in force
/// and the verdicts on both colors' images.
pub struct Release {
    /// The app's namespace as read, and the requester.
    pub live: LiveApp,
    /// The policy, requester and image verdicts.
    pub checks: Checks,
}

impl Release {
    /// Reads the app's namespace and the requester's identity concurrently, then
    /// verifies both colors' images when BG006 is on (reaching registries as `images`
    /// says).
    pub async fn load(
        cluster: &Cluster,
        router: &RouterRef,
        images: &ImageCheckArgs,
    ) -> Result<Self> {
        let live = LiveApp::load(cluster, router, true).await?;
        let checks = live.checks(&cluster.namespace, Some(images)).await?;
        Ok(Release { live, checks })
    }

    /// Runs the pre-flight on switching the app to its idle color and, when every rule
    /// passes and no tool owns the switch (or `owner` says to take it over), sends the
    /// switch. A deny prints every finding and changes nothing.
    pub async fn switch(
        &self,
        cluster: &Cluster,
        dry_run: bool,
        owner: OwnerArgs,
    ) -> Result<SwitchPlan> {
        let snapshot = self.live.snapshot();
        let app = self.live.app(&snapshot)?;
        self.switch_app(cluster, &app, &snapshot, dry_run, owner)
            .await
    }

    async fn switch_app(
        &self,
        cluster: &Cluster,
        app: &App<'_>,
        snapshot: &Snapshot<'_>,
        dry_run: bool,
        owner: OwnerArgs,
    ) -> Result<SwitchPlan> {
        let now = Timestamp::now();
        preflight(app, snapshot, &self.checks.context(now))?;
        let owned = OwnedRouter::read(cluster, app).await;
        let to = app.idle.color;
        let take_over = match &owned {
            None => false,
            Some(_) if owner.force_conflicts => true,
            // CI asks "may we switch?" before switching through the owner.
            Some(owned) if dry_run => {
                anstream::eprintln!(
                    "{} is owned by {}: {}",
                    owned.owned.object,
                    owned.owned.owner,
                    owned.switch_through(to)
                );
                false
            }
            Some(owned) => return Err(Owned(owned.refusal(to)).into()),
        };
        let by = self.checks.requester.as_ref().map(|r| r.username.as_str());
        let plan = SwitchPlan::new(app, now, by)?;
        plan.apply(cluster, dry_run, take_over).await?;
        if let Some(next) = owned
            .filter(|_| take_over && !dry_run)
            .and_then(|owned| owned.after_forced_switch(to))
        {
            anstream::eprintln!("{next}");
        }
        Ok(plan)
    }
}

/// The rules on switching `app` to its idle color: a deny refuses; what is allowed is
/// printed and returned.
pub fn preflight(
    app: &App<'_>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
) -> Result<Vec<Finding>, Refused> {
    let findings = check_switch(app, &app.idle, snapshot, ctx);
    let what = format!("switching {} to {}", app.router.reference(), app.idle.color);
    Refused::unless_allowed(&what, ctx.policy, &findings)?;
    Ok(findings)
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
    let release = Release::load(cluster, router, &args.images).await?;
    let watch = args.watch.filter(|_| !args.dry_run);
    let (plan, watched) = {
        let snapshot = release.live.snapshot();
        let app = release.live.app(&snapshot)?;
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

/// The color taking traffic, watched after the switch: its Deployment must stay fully
/// available and its pods must not restart.
struct Watched {
    deployment: String,
    color: String,
    selector: String,
    /// Restarts by pod before the switch; `None` when pods cannot be read (then only
    /// readiness is watched).
    restarts: Option<HashMap<String, i32>>,
}

impl Watched {
    /// Notes `side`'s pods' restart counts before the switch.
    async fn before_switch(cluster: &Cluster, side: &ColorSide<'_>) -> Self {
        let restarts = match cluster.pods_of(side.deployment).await {
            Ok(pods) => Some(
                pods.iter()
                    .map(|pod| (pod.name_any(), restart_count(pod)))
                    .collect(),
            ),
            Err(err) => {
                anstream::eprintln!("warning: container restarts are not watched: {err:#}");
                None
            }
        };
        Watched {
            deployment: side.deployment_name(),
            color: side.color.to_string(),
            selector: match_labels(side.deployment),
            restarts,
        }
    }

    /// Watches the Deployment and its pods (kube-runtime watches, so a change is seen
    /// when it happens) for `duration`; returns why the color degraded, if it did.
    async fn degradation(&self, cluster: &Cluster, duration: Duration) -> Result<Option<String>> {
        let name = &self.deployment;
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut deployments = watcher(cluster.api::<Deployment>(), config)
            .default_backoff()
            .applied_objects()
            .boxed();
        let mut pods = match &self.restarts {
            Some(_) => watcher(
                cluster.api::<Pod>(),
                watcher::Config::default().labels(&self.selector),
            )
            .default_backoff()
            .applied_objects()
            .boxed(),
            None => futures::stream::pending().boxed(),
        };
        let watching = async {
            loop {
                tokio::select! {
                    Some(event) = deployments.next() => match event {
                        Ok(deployment) => {
                            if let Some(finding) = not_ready(&deployment, &self.color) {
                                return Ok(Some(finding.message));
                            }
                        }
                        Err(err) => check_watch_error::<Deployment>(cluster, err)?,
                    },
                    Some(event) = pods.next() => match event {
                        Ok(pod) => {
                            if let Some(reason) = self.restarted(&pod) {
                                return Ok(Some(reason));
                            }
                        }
                        Err(err) => {
                            if let Err(err) = check_watch_error::<Pod>(cluster, err) {
                                anstream::eprintln!("warning: container restarts are not watched: {err:#}");
                                pods = futures::stream::pending().boxed();
                            }
                        }
                    },
                    else => bail!("the watch of deployment/{name} ended"),
                }
            }
        };
        match tokio::time::timeout(duration, watching).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Ok(None),
        }
    }

    /// Why `pod` counts as degraded: restarts since the switch.
    fn restarted(&self, pod: &Pod) -> Option<String> {
        let name = pod.name_any();
        let before = self.restarts.as_ref()?.get(&name).copied().unwrap_or(0);
        let since = restart_count(pod) - before;
        (since > 0).then(|| {
            format!(
                "its pod {name} restarted {since} time{} since the switch",
                if since == 1 { "" } else { "s" }
            )
        })
    }
}

/// The restarts of all of a pod's containers.
fn restart_count(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn a_refusal_lists_every_finding_and_says_nothing_changed() {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, "web");
        let app = fixtures::app(&snapshot, "httproute/myapp");
        let checks = fixtures::checks();
        let ctx = checks.context(fixtures::now());
        let refusal = preflight(&app, &snapshot, &ctx).unwrap_err().0;
        insta::assert_snapshot!(refusal, @r"
        switching httproute/myapp to green is refused by the built-in defaults (no BlueGreenPolicy); nothing was changed:
          deny: BG001 ready-target: green (Deployment app-green) is not ready to take traffic: 1/2 replicas available; wait for the rollout (kubectl rollout status deployment/app-green) or fix its pods, then switch
        ");
    }
}
