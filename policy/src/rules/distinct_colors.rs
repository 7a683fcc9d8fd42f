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
    let (message, fix) = message_and_fix(router, error);
    ctx.report(
        out,
        RuleId::BG010,
        router.object_ref(),
        message,
        fix.unwrap_or_else(|| "give each color its own Deployment".to_string()),
    );
    true
}

/// Reports a router write that would leave a working app undiscoverable (traffic to
/// both colors, to none, or to pods of the wrong app): afterwards its colors no
/// longer resolve to two distinct Deployments.
pub fn evaluate_breaking_write(
    router: &Router<'_>,
    error: &DiscoveryError,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let (message, fix) = message_and_fix(router, error);
    ctx.report(
        out,
        RuleId::BG010,
        router.object_ref(),
        format!("this change would break the app: {message}"),
        fix.unwrap_or_else(|| {
            "keep the router pointing at exactly one of the two colors".to_string()
        }),
    );
}

/// A discovery error's text as a finding's message (without the router prefix the
/// finding's object already names) and its fix, when it has one.
fn message_and_fix(router: &Router<'_>, error: &DiscoveryError) -> (String, Option<String>) {
    let text = error.to_string();
    let (message, fix) = match text.split_once("; ") {
        Some((message, fix)) => (message, Some(fix.to_string())),
        None => (text.as_str(), None),
    };
    let message = message
        .strip_prefix(&format!("{}: ", router.reference()))
        .unwrap_or(message);
    (message.to_string(), fix)
}
