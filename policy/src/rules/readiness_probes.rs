//! BG007 readiness-probes: every container has a readinessProbe, so "available" means
//! "can serve" when BG001 judges the target.

use crate::app::ColorSide;
use crate::finding::{Findings, RuleId};
use crate::rules::{Context, describe_side};

/// Reports each container of `side` without a readinessProbe.
pub fn evaluate(side: &ColorSide<'_>, ctx: &Context<'_>, out: &mut Findings) {
    let Some(pod) = side.pod_spec() else {
        return;
    };
    for container in pod
        .containers
        .iter()
        .filter(|c| c.readiness_probe.is_none())
    {
        ctx.report(
            out,
            RuleId::BG007,
            side.object_ref(),
            format!("container {} of {} has no readinessProbe", container.name, describe_side(side)),
            "add a readinessProbe, or pods count as available before they can serve and BG001 cannot tell".to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::crd::Action;
    use crate::finding::RuleId;
    use crate::rules::fixtures::{Fixture, pod_mut};

    #[test]
    fn probes_present_pass() {
        assert!(
            Fixture::service_app()
                .app_findings()
                .iter()
                .all(|f| f.rule != RuleId::BG007)
        );
    }

    #[test]
    fn a_missing_probe_warns_by_default() {
        let fixture = Fixture::service_app().with_green(|d| {
            pod_mut(d).containers[0].readiness_probe = None;
        });
        let findings: Vec<_> = fixture
            .app_findings()
            .into_iter()
            .filter(|f| f.rule == RuleId::BG007)
            .collect();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].action, Action::Warn);
        assert_eq!(
            findings[0].to_string(),
            "BG007 readiness-probes: container api of green (Deployment api-green) has no readinessProbe; add a readinessProbe, or pods count as available before they can serve and BG001 cannot tell"
        );
    }
}
