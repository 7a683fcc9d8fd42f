//! BG002 capacity: the color about to take traffic can carry the live color's load.

use crate::app::ColorSide;
use crate::finding::{Findings, RuleId};
use crate::rules::{Context, describe_side};
use crate::snapshot::Snapshot;

/// The live color's current replicas: its HPA's `currentReplicas` when an HPA scales
/// it (the HPA may have scaled far above `spec.replicas`), else `spec.replicas`.
pub fn current_replicas(side: &ColorSide<'_>, snapshot: &Snapshot<'_>) -> i32 {
    let name = side.deployment_name();
    let from_hpa = snapshot
        .hpas
        .iter()
        .filter(|hpa| {
            let target = &hpa.spec.scale_target_ref;
            target.kind == "Deployment" && target.name == name
        })
        .filter_map(|hpa| hpa.status.as_ref().and_then(|s| s.current_replicas))
        .max();
    from_hpa.unwrap_or(0).max(side.desired_replicas())
}

/// Checks that `target` wants at least `ratio × current` replicas of `current`.
pub fn evaluate(
    target: &ColorSide<'_>,
    current: &ColorSide<'_>,
    snapshot: &Snapshot<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let live = current_replicas(current, snapshot);
    let required = (f64::from(live) * ctx.policy.capacity_ratio).ceil() as i32;
    let desired = target.desired_replicas();
    if desired >= required {
        return;
    }
    let ratio = if (ctx.policy.capacity_ratio - 1.0).abs() < f64::EPSILON {
        String::new()
    } else {
        format!(" × capacity ratio {}", ctx.policy.capacity_ratio)
    };
    ctx.report(
        out,
        RuleId::BG002,
        target.object_ref(),
        format!(
            "{} wants {desired} replicas but live {} runs {live}{ratio}, so it needs at least {required}",
            describe_side(target),
            current.color
        ),
        format!(
            "scale it first (kubectl scale deployment/{} --replicas={required}; `kubectl bluegreen deploy` pre-scales the idle color)",
            target.deployment_name()
        ),
    );
}

#[cfg(test)]
mod tests {
    use crate::crd::{BlueGreenPolicySpec, Policy};
    use crate::finding::RuleId;
    use crate::rules::fixtures::{Fixture, ReplicaStatus};

    fn bg002(fixture: &Fixture) -> Vec<String> {
        fixture.switch_lines(RuleId::BG002)
    }

    #[test]
    fn equal_capacity_passes() {
        assert!(bg002(&Fixture::service_app()).is_empty());
    }

    #[test]
    fn an_under_scaled_target_is_refused() {
        let fixture = Fixture::service_app()
            .with_green(|d| d.spec.as_mut().unwrap().replicas = Some(1))
            .with_green_status(ReplicaStatus::ready(1));
        assert_eq!(
            bg002(&fixture),
            [
                "BG002 capacity: green (Deployment api-green) wants 1 replicas but live blue runs 3, so it needs at least 3; scale it first (kubectl scale deployment/api-green --replicas=3; `kubectl bluegreen deploy` pre-scales the idle color)"
            ]
        );
    }

    #[test]
    fn the_live_colors_hpa_sets_the_bar() {
        let fixture = Fixture::service_app().with_hpa("api-blue", 5);
        let findings = bg002(&fixture);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].contains("wants 3 replicas but live blue runs 5, so it needs at least 5"),
            "{}",
            findings[0]
        );
    }

    #[test]
    fn the_policy_ratio_scales_the_bar() {
        let spec = BlueGreenPolicySpec {
            capacity_ratio: Some(0.5),
            ..Default::default()
        };
        let fixture = Fixture::service_app()
            .with_policy(Policy::from_spec(Some("half"), &spec).unwrap())
            .with_green(|d| d.spec.as_mut().unwrap().replicas = Some(2))
            .with_green_status(ReplicaStatus::ready(2));
        assert!(bg002(&fixture).is_empty());
        let spec = BlueGreenPolicySpec {
            capacity_ratio: Some(1.5),
            ..Default::default()
        };
        let fixture =
            Fixture::service_app().with_policy(Policy::from_spec(Some("more"), &spec).unwrap());
        assert!(bg002(&fixture)[0].contains("runs 3 × capacity ratio 1.5, so it needs at least 5"));
    }
}
