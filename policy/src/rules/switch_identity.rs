//! BG003 switch-identity: only the allowed identities may change where traffic goes.

use crate::app::Router;
use crate::crd::{Action, SwitchIdentities};
use crate::finding::{Findings, RuleId};
use crate::rules::{Context, Requester};

/// Whether the requester is one of the allowed identities (break-glass excluded).
pub fn is_allowed(identities: &SwitchIdentities, requester: &Requester) -> bool {
    identities.users.contains(&requester.username)
        || identities
            .groups
            .iter()
            .any(|g| requester.groups.contains(g))
        || identities.service_accounts.iter().any(|sa| {
            let full = if sa.starts_with("system:serviceaccount:") {
                sa.clone()
            } else {
                format!("system:serviceaccount:{sa}")
            };
            full == requester.username
        })
}

/// The requester and the policy's break-glass group, when the requester is a member:
/// such a change is allowed, and always audited.
pub fn break_glass<'c>(ctx: &Context<'c>) -> Option<(&'c str, &'c str)> {
    let requester = ctx.requester?;
    let group = ctx.policy.switch_identities.break_glass_group.as_deref()?;
    requester
        .groups
        .iter()
        .any(|g| g == group)
        .then_some((requester.username.as_str(), group))
}

/// Checks who asks for a privileged change of `router` (a switch, a router created or
/// deleted, the app label removed). Members of the break-glass group pass but are
/// always audited. Without a requester (offline check) there is nothing to judge.
pub fn evaluate(router: &Router<'_>, ctx: &Context<'_>, out: &mut Findings) {
    let Some(requester) = ctx.requester else {
        return;
    };
    let identities = &ctx.policy.switch_identities;
    if is_allowed(identities, requester) {
        return;
    }
    let reference = router.reference();
    if let Some((user, group)) = break_glass(ctx) {
        if ctx.action(RuleId::BG003) != Action::Off {
            out.push(
                Action::Audit,
                RuleId::BG003,
                router.object_ref(),
                format!("user {user} changed the traffic of {reference} as a member of break-glass group {group}"),
                "review this break-glass switch; routine switches belong to CI".to_string(),
            );
        }
        return;
    }
    ctx.report(
        out,
        RuleId::BG003,
        router.object_ref(),
        format!(
            "user {} may not change the traffic of {reference}: {} allows only {}",
            requester.username,
            ctx.policy.display_name(),
            identities.describe()
        ),
        format!("run the switch from CI (kubectl bluegreen promote {reference}) or, in an emergency, as a member of the break-glass group"),
    );
}

#[cfg(test)]
mod tests {
    use crate::crd::Action;
    use crate::finding::RuleId;
    use crate::rules::fixtures::{Fixture, ci_with_break_glass};

    fn bg003(fixture: &Fixture) -> Vec<(Action, String)> {
        fixture
            .switch_findings()
            .into_iter()
            .filter(|f| f.rule == RuleId::BG003)
            .map(|f| (f.action, f.to_string()))
            .collect()
    }

    #[test]
    fn the_ci_service_account_may_switch() {
        let fixture = Fixture::service_app()
            .with_policy(ci_with_break_glass())
            .with_requester(
                "system:serviceaccount:ci:deployer",
                &["system:serviceaccounts"],
            );
        assert!(bg003(&fixture).is_empty());
    }

    #[test]
    fn anyone_else_is_refused_with_policy_and_allowed_identities() {
        let fixture = Fixture::service_app()
            .with_policy(ci_with_break_glass())
            .with_requester("alice", &["system:authenticated"]);
        assert_eq!(
            bg003(&fixture),
            [(Action::Deny, "BG003 switch-identity: user alice may not change the traffic of svc/api: BlueGreenPolicy default allows only serviceaccount ci:deployer, break-glass group sre-oncall; run the switch from CI (kubectl bluegreen promote svc/api) or, in an emergency, as a member of the break-glass group".to_string())]
        );
    }

    #[test]
    fn break_glass_is_allowed_but_audited() {
        let fixture = Fixture::service_app()
            .with_policy(ci_with_break_glass())
            .with_requester("bob", &["sre-oncall"]);
        let findings = bg003(&fixture);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].0, Action::Audit);
        assert!(findings[0].1.contains(
            "user bob changed the traffic of svc/api as a member of break-glass group sre-oncall"
        ));
    }

    #[test]
    fn off_until_identities_are_named() {
        let fixture = Fixture::service_app().with_requester("alice", &[]);
        assert!(bg003(&fixture).is_empty());
    }
}
