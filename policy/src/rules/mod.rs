//! The rule catalogue, one module per rule. Each rule is a small function that reads
//! typed objects and pushes [`Finding`]s; [`check_app`] and [`check_switch`] run the
//! rules that apply to an app as it stands and to a switch.

pub mod capacity;
pub mod config_parity;
pub mod distinct_colors;
pub mod governed;
pub mod immutable_live;
pub mod netpol_parity;
pub mod readiness_probes;
pub mod ready_target;
pub mod signed_images;
pub mod switch_identity;
pub mod warm_rollback;

use jiff::Timestamp;

use crate::app::{App, ColorSide};
use crate::crd::{Action, Policy};
use crate::finding::{Finding, Findings, ObjectRef, RuleId};
use crate::images::ImageVerdicts;
use crate::snapshot::Snapshot;

/// Who asks for a change, as the API server authenticated them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requester {
    /// `userInfo.username`, e.g. `alice` or `system:serviceaccount:ci:deployer`.
    pub username: String,
    /// `userInfo.groups`.
    pub groups: Vec<String>,
}

/// Everything a rule needs besides the objects: the policy, the time, who asks, and
/// the image verification results.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The policy in force for the namespace.
    pub policy: &'a Policy,
    /// The current time (rules never read a clock).
    pub now: Timestamp,
    /// Who asks; `None` when nobody does (offline `check`), which skips BG003.
    pub requester: Option<&'a Requester>,
    /// Image verification results for BG006.
    pub images: &'a ImageVerdicts,
}

impl Context<'_> {
    /// The action in force for a rule.
    pub fn action(&self, rule: RuleId) -> Action {
        self.policy.action(rule)
    }

    /// Records a finding with the policy's action for the rule.
    pub(crate) fn report(
        &self,
        out: &mut Findings,
        rule: RuleId,
        object: ObjectRef,
        message: String,
        fix: String,
    ) {
        out.push(self.action(rule), rule, object, message, fix);
    }
}

/// `green (Deployment api-green)`: how findings name a color.
pub(crate) fn describe_side(side: &ColorSide<'_>) -> String {
    format!("{} (Deployment {})", side.color, side.deployment_name())
}

/// The rules that judge an app as it stands, without a switch: labelled colors under a
/// labelled router (BG011), config parity (BG004), NetworkPolicy parity (BG005), signed
/// images (BG006) and readiness probes (BG007).
/// This is what the offline `check` and `status` report.
pub fn check_app(app: &App<'_>, snapshot: &Snapshot<'_>, ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Findings::default();
    governed::evaluate_colors(app, ctx, &mut out);
    config_parity::evaluate(&app.idle, &app.live, ctx, &mut out);
    netpol_parity::evaluate(app, snapshot, ctx, &mut out);
    for side in [&app.live, &app.idle] {
        signed_images::evaluate(side, ctx, &mut out);
        readiness_probes::evaluate(side, ctx, &mut out);
    }
    out.into_vec()
}

/// Everything a switch of `app` to its `target` color must pass: the target is ready
/// (BG001) and big enough (BG002), the requester may switch (BG003), and the app's
/// standing rules hold (BG011, BG004–BG007). BG010 holds by construction: `app` resolved.
pub fn check_switch(
    app: &App<'_>,
    target: &ColorSide<'_>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
) -> Vec<Finding> {
    let mut out = Findings::default();
    let current = app.other(target.color);
    ready_target::evaluate(target, ctx, &mut out);
    capacity::evaluate(target, current, snapshot, ctx, &mut out);
    switch_identity::evaluate(&app.router, ctx, &mut out);
    governed::evaluate_colors(app, ctx, &mut out);
    config_parity::evaluate(target, current, ctx, &mut out);
    netpol_parity::evaluate(app, snapshot, ctx, &mut out);
    for side in [target, current] {
        signed_images::evaluate(side, ctx, &mut out);
        readiness_probes::evaluate(side, ctx, &mut out);
    }
    out.into_vec()
}

#[cfg(test)]
pub(crate) mod fixtures;
