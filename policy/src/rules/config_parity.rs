//! BG004 config-parity: both colors read the same ConfigMaps and Secrets, so the switch
//! changes the code, never the configuration behind it.

use std::collections::BTreeSet;

use crate::app::ColorSide;
use crate::config_refs::{ConfigRef, config_refs};
use crate::finding::{Findings, RuleId};
use crate::rules::Context;

fn refs(side: &ColorSide<'_>) -> BTreeSet<ConfigRef> {
    side.pod_spec().map(config_refs).unwrap_or_default()
}

fn list(refs: &[&ConfigRef]) -> String {
    refs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares the references of `side` (the color being changed or switched to) with
/// `other`'s, and reports the difference on `side`.
pub fn evaluate(
    side: &ColorSide<'_>,
    other: &ColorSide<'_>,
    ctx: &Context<'_>,
    out: &mut Findings,
) {
    let ours = refs(side);
    let theirs = refs(other);
    if ours == theirs {
        return;
    }
    let only_ours: Vec<&ConfigRef> = ours.difference(&theirs).collect();
    let only_theirs: Vec<&ConfigRef> = theirs.difference(&ours).collect();
    let message = match (only_ours.is_empty(), only_theirs.is_empty()) {
        (false, false) => format!(
            "{} references {}, {} references {}",
            side.color,
            list(&only_ours),
            other.color,
            list(&only_theirs)
        ),
        (false, true) => format!(
            "{} references {}, {} does not",
            side.color,
            list(&only_ours),
            other.color
        ),
        _ => format!(
            "{} references {}, {} does not",
            other.color,
            list(&only_theirs),
            side.color
        ),
    };
    let kinds: BTreeSet<String> = only_ours
        .iter()
        .chain(&only_theirs)
        .map(|r| r.kind.to_string())
        .collect();
    let kinds = kinds.into_iter().collect::<Vec<_>>().join(" and ");
    ctx.report(
        out,
        RuleId::BG004,
        side.object_ref(),
        message,
        format!("both colors must read the same {kinds} (change it in place, then restart both colors) so a rollback restores the same configuration"),
    );
}

#[cfg(test)]
mod tests {
    use crate::finding::RuleId;
    use crate::rules::fixtures::{Fixture, pod_mut};

    fn bg004(fixture: &Fixture) -> Vec<String> {
        fixture.switch_lines(RuleId::BG004)
    }

    #[test]
    fn identical_references_pass() {
        assert!(bg004(&Fixture::service_app()).is_empty());
    }

    #[test]
    fn a_renamed_secret_is_refused_with_the_diff() {
        let fixture = Fixture::service_app().with_green(|d| {
            let pod = pod_mut(d);
            let env = pod.containers[0].env_from.as_mut().unwrap();
            env[1].secret_ref.as_mut().unwrap().name = "db-credentials-v2".into();
        });
        assert_eq!(
            bg004(&fixture),
            [
                "BG004 config-parity: green references Secret db-credentials-v2, blue references Secret db-credentials; both colors must read the same Secret (change it in place, then restart both colors) so a rollback restores the same configuration"
            ]
        );
    }

    #[test]
    fn an_extra_configmap_is_refused() {
        let fixture = Fixture::service_app().with_green(|d| {
            let pod = pod_mut(d);
            pod.volumes = Some(vec![
                serde_json::from_value(
                    serde_json::json!({"name": "flags", "configMap": {"name": "feature-flags"}}),
                )
                .unwrap(),
            ]);
        });
        let findings = bg004(&fixture);
        assert!(findings[0].starts_with("BG004 config-parity: green references ConfigMap feature-flags, blue does not; both colors must read the same ConfigMap"), "{}", findings[0]);
    }
}
