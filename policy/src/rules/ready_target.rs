//! BG001 ready-target: the color about to take traffic is fully rolled out and available.

use crate::app::ColorSide;
use crate::finding::{Findings, RuleId};
use crate::rules::{Context, describe_side};

/// Checks `target` the way `kubectl rollout status` would, plus "at least one replica":
/// observedGeneration current, updated = available = desired ≥ 1, no surplus old pods,
/// not paused, no ProgressDeadlineExceeded.
pub fn evaluate(target: &ColorSide<'_>, ctx: &Context<'_>, out: &mut Findings) {
    let problems = problems(target);
    if problems.is_empty() {
        return;
    }
    let name = target.deployment_name();
    ctx.report(
        out,
        RuleId::BG001,
        target.object_ref(),
        format!("{} is not ready to take traffic: {}", describe_side(target), problems.join(", ")),
        format!("wait for the rollout (kubectl rollout status deployment/{name}) or fix its pods, then switch"),
    );
}

fn problems(target: &ColorSide<'_>) -> Vec<String> {
    let deployment = target.deployment;
    let desired = target.desired_replicas();
    let spec = deployment.spec.as_ref();
    let status = deployment.status.as_ref();
    let mut problems = Vec::new();
    if spec.and_then(|s| s.paused).unwrap_or(false) {
        problems.push("its rollout is paused".to_string());
    }
    if desired < 1 {
        problems.push("it is scaled to 0 replicas".to_string());
    }
    let generation = deployment.metadata.generation.unwrap_or(0);
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    if observed < generation {
        problems.push(format!(
            "the controller has not observed its latest spec (generation {generation}, observed {observed})"
        ));
    }
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    let total = status.and_then(|s| s.replicas).unwrap_or(0);
    if desired >= 1 && updated < desired {
        problems.push(format!("{updated}/{desired} replicas updated"));
    }
    if desired >= 1 && available < desired {
        problems.push(format!("{available}/{desired} replicas available"));
    }
    if total > desired && updated >= desired {
        problems.push(format!(
            "{} old replicas still terminating",
            total - desired
        ));
    }
    let deadline_exceeded = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
    if deadline_exceeded {
        problems.push(
            "its rollout exceeded its progress deadline (ProgressDeadlineExceeded)".to_string(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::finding::RuleId;
    use crate::rules::fixtures::{Fixture, ReplicaStatus};

    fn bg001(fixture: &Fixture) -> Vec<String> {
        fixture.switch_lines(RuleId::BG001)
    }

    #[test]
    fn a_rolled_out_target_passes() {
        assert!(bg001(&Fixture::service_app()).is_empty());
    }

    #[rstest]
    #[case::unavailable(ReplicaStatus { available: 1, ..ReplicaStatus::ready(3) }, "1/3 replicas available")]
    #[case::not_updated(ReplicaStatus { updated: 2, ..ReplicaStatus::ready(3) }, "2/3 replicas updated")]
    #[case::stale_generation(ReplicaStatus { observed_generation: 1, ..ReplicaStatus::ready(3) }, "the controller has not observed its latest spec (generation 2, observed 1)")]
    #[case::surplus(ReplicaStatus { total: 4, ..ReplicaStatus::ready(3) }, "1 old replicas still terminating")]
    #[case::deadline(ReplicaStatus { deadline_exceeded: true, ..ReplicaStatus::ready(3) }, "ProgressDeadlineExceeded")]
    fn an_unready_target_is_refused(#[case] status: ReplicaStatus, #[case] expected: &str) {
        let fixture = Fixture::service_app().with_green_status(status);
        let findings = bg001(&fixture);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].starts_with(
                "BG001 ready-target: green (Deployment api-green) is not ready to take traffic: "
            ),
            "{}",
            findings[0]
        );
        assert!(findings[0].contains(expected), "{}", findings[0]);
        assert!(findings[0].ends_with("; wait for the rollout (kubectl rollout status deployment/api-green) or fix its pods, then switch"));
    }

    #[test]
    fn paused_and_zero_replicas_are_refused() {
        let fixture = Fixture::service_app().with_green(|d| {
            let spec = d.spec.as_mut().unwrap();
            spec.paused = Some(true);
            spec.replicas = Some(0);
        });
        let findings = bg001(&fixture);
        assert!(
            findings[0].contains("its rollout is paused, it is scaled to 0 replicas"),
            "{}",
            findings[0]
        );
    }

    #[test]
    fn a_missing_status_is_refused() {
        let fixture = Fixture::service_app().with_green(|d| d.status = None);
        let findings = bg001(&fixture);
        assert!(
            findings[0].contains("0/3 replicas updated, 0/3 replicas available"),
            "{}",
            findings[0]
        );
    }
}
