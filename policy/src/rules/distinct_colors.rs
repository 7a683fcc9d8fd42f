//! BG010 distinct-colors: a router's two colors resolve to two distinct Deployments.
//! Discovery finds the violations (it cannot build an app without two colors); this
//! rule turns them into findings with the policy's action.

use crate::app::Router;
use crate::discovery::DiscoveryError;
use crate::finding::{Findings, RuleId};
use crate::rules::Context;

/// Reports `error` as a BG010 finding on `router`. Returns whether it was one: a
/// discovery error of another kind is not a rule violation.
pub fn evaluate(
    router: &Router<'_>,
    error: &DiscoveryError,
    ctx: &Context<'_>,
    out: &mut Findings,
) -> bool {
    if error.rule() != Some(RuleId::BG010) {
        return false;
    }
    let text = error.to_string();
    let (message, fix) = text
        .split_once("; ")
        .unwrap_or((text.as_str(), "give each color its own Deployment"));
    let message = message
        .strip_prefix(&format!("{}: ", router.reference()))
        .unwrap_or(message);
    ctx.report(
        out,
        RuleId::BG010,
        router.object_ref(),
        message.to_string(),
        fix.to_string(),
    );
    true
}
