//! BG005 netpol-parity: the same NetworkPolicies select both colors' pods, so the
//! switch never changes who may talk to the app.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;

use crate::app::App;
use crate::app::template_labels;
use crate::discovery::label_selector_matches;
use crate::finding::{Findings, ObjectRef, RuleId};
use crate::rules::Context;
use crate::snapshot::Snapshot;

/// Whether the policy's podSelector selects pods with these labels. An empty selector
/// selects every pod of the namespace, exactly as Kubernetes defines it.
pub fn selects(policy: &NetworkPolicy, labels: &BTreeMap<String, String>) -> bool {
    let Some(spec) = &policy.spec else {
        return false;
    };
    match &spec.pod_selector {
        Some(selector) => label_selector_matches(selector, labels) == Some(true),
        None => true,
    }
}

/// Reports every NetworkPolicy of the namespace that selects one color's pods and not
/// the other's.
pub fn evaluate(app: &App<'_>, snapshot: &Snapshot<'_>, ctx: &Context<'_>, out: &mut Findings) {
    let empty = BTreeMap::new();
    let live = template_labels(app.live.deployment).unwrap_or(&empty);
    let idle = template_labels(app.idle.deployment).unwrap_or(&empty);
    for policy in &snapshot.network_policies {
        let (selected, missed) = match (selects(policy, live), selects(policy, idle)) {
            (true, false) => (&app.live, &app.idle),
            (false, true) => (&app.idle, &app.live),
            _ => continue,
        };
        let name = policy.name_any();
        ctx.report(
            out,
            RuleId::BG005,
            ObjectRef::new("NetworkPolicy", &snapshot.namespace, &name),
            format!(
                "NetworkPolicy {name} selects {} pods (Deployment {}) but not {} pods (Deployment {})",
                selected.color,
                selected.deployment_name(),
                missed.color,
                missed.deployment_name()
            ),
            format!(
                "select both colors (match the app's labels, not {}) so a switch never changes who may reach the app",
                app.color_label
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::finding::RuleId;
    use crate::rules::fixtures::Fixture;

    fn bg005(fixture: &Fixture) -> Vec<String> {
        fixture.switch_lines(RuleId::BG005)
    }

    #[test]
    fn a_policy_on_the_app_label_passes() {
        assert!(bg005(&Fixture::service_app()).is_empty());
    }

    #[test]
    fn a_policy_on_one_color_is_refused() {
        let fixture = Fixture::service_app().with_netpol(
            "blue-only",
            serde_json::json!({"matchLabels": {"app": "api", "color": "blue"}}),
        );
        assert_eq!(
            bg005(&fixture),
            [
                "BG005 netpol-parity: NetworkPolicy blue-only selects blue pods (Deployment api-blue) but not green pods (Deployment api-green); select both colors (match the app's labels, not color) so a switch never changes who may reach the app"
            ]
        );
    }

    #[test]
    fn match_expressions_follow_kubernetes_semantics() {
        let not_green = serde_json::json!({"matchExpressions": [{"key": "color", "operator": "NotIn", "values": ["green"]}]});
        assert_eq!(
            bg005(&Fixture::service_app().with_netpol("not-green", not_green)).len(),
            1
        );
        let exists =
            serde_json::json!({"matchExpressions": [{"key": "color", "operator": "Exists"}]});
        assert!(bg005(&Fixture::service_app().with_netpol("any-color", exists)).is_empty());
        let absent = serde_json::json!({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]});
        assert!(bg005(&Fixture::service_app().with_netpol("no-canary", absent)).is_empty());
        let within = serde_json::json!({"matchExpressions": [{"key": "color", "operator": "In", "values": ["green"]}]});
        assert!(
            bg005(&Fixture::service_app().with_netpol("green-in", within))[0]
                .contains("selects green pods")
        );
        assert!(
            bg005(&Fixture::service_app().with_netpol("everything", serde_json::json!({})))
                .is_empty()
        );
    }
}
