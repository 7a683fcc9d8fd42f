//! A release: the state a switch is judged on, the pre-flight (the same rules the guard
//! applies, under the BlueGreenPolicy in force) and the switch, as `promote` and
//! `rollback` both make it, and the report of what it did.

use anyhow::Result;
use jiff::Timestamp;
use policy::app::RouterRef;
use policy::{App, Context, Finding, Snapshot, check_switch};
use serde::Serialize;

use crate::app_read::{AppRead, Checks};
use crate::cli::{ImageCheckArgs, OutputFormat, OwnerArgs};
use crate::cluster::Cluster;
use crate::exit::{Owned, Refused};
use crate::output::{print_data, print_line};
use crate::owner::owned::OwnedRouter;
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
    pub read: AppRead,
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
        let read = AppRead::load(cluster, router, true).await?;
        let checks = read.checks(&cluster.namespace, Some(images)).await?;
        Ok(Release { read, checks })
    }

    /// Runs the pre-flight on switching the app to its idle color and, when every rule
    /// passes and no tool owns the switch (or `owner` says to take it over), sends the
    /// switch, recording `reason` when given. A deny prints every finding and changes
    /// nothing.
    pub async fn switch(
        &self,
        cluster: &Cluster,
        dry_run: bool,
        owner: OwnerArgs,
        reason: Option<&str>,
    ) -> Result<SwitchPlan> {
        let snapshot = self.read.snapshot();
        let app = self.read.app(&snapshot)?;
        self.switch_app(cluster, &app, &snapshot, dry_run, owner, reason)
            .await
    }

    /// [`Release::switch`] of an app already read from the release's snapshot.
    pub async fn switch_app(
        &self,
        cluster: &Cluster,
        app: &App<'_>,
        snapshot: &Snapshot<'_>,
        dry_run: bool,
        owner: OwnerArgs,
        reason: Option<&str>,
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
        let plan = SwitchPlan::new(app, now, by, reason)?;
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
