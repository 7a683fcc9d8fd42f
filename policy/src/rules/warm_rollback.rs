//! BG008 warm-rollback: the live color is never removed, and the previous color stays
//! warm (not deleted, not scaled to zero) for the warm window after a switch, so a
//! rollback is one router write away.

use jiff::Timestamp;

use crate::app::{App, ColorSide};
use crate::finding::{Findings, RuleId};
use crate::rules::Context;

/// Until when the idle color must stay warm: `live-since` plus the warm window, when
/// the router records when its live color took traffic.
pub fn warm_until(app: &App<'_>, ctx: &Context<'_>) -> Option<Timestamp> {
    let since = app.live_since()?;
    since.checked_add(ctx.policy.warm_window).ok()
}

/// Judges removing `side`'s capacity: `replicas` is the new replica count, or `None`
/// for a deletion. Only a deletion or a scale to zero is judged.
pub fn evaluate(
    app: &App<'_>,
    side: &ColorSide<'_>,
    replicas: Option<i32>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let action = match replicas {
        None => "deleting it",
        Some(0) => "scaling it to 0 replicas",
        Some(_) => return,
    };
    let router = app.router.reference();
    let deployment = side.deployment_name();
    if side.color == app.live.color {
        ctx.report(
            out,
            RuleId::BG008,
            side.object_ref(),
            format!("Deployment {deployment} runs the live color {} of {router}; {action} drops all its traffic", side.color),
            format!("switch traffic to {} first (kubectl bluegreen promote {router})", app.idle.color),
        );
        return;
    }
    let Some(until) = warm_until(app, ctx).filter(|until| ctx.now < *until) else {
        return;
    };
    let since = app.live_since().map(|t| t.to_string()).unwrap_or_default();
    ctx.report(
        out,
        RuleId::BG008,
        side.object_ref(),
        format!(
            "Deployment {deployment} runs the previous color {} of {router}, kept warm for rollback until {until} (warm window {:#} after the switch at {since}); {action} now would make a rollback slow",
            side.color, ctx.policy.warm_window
        ),
        format!("wait until {until}, then retire it (kubectl bluegreen retire {router})"),
    );
}
