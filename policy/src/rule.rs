//! A rule's identity and what happens when it finds something: what policies set
//! (`crd`) and findings carry (`finding`), kept apart from both so neither imports the
//! other.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happens when a rule finds something.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse the change.
    Deny,
    /// Allow it, and tell the requester (AdmissionResponse warnings).
    Warn,
    /// Allow it silently, but log and count it.
    Audit,
    /// Do not evaluate the rule.
    Off,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Deny => "deny",
            Action::Warn => "warn",
            Action::Audit => "audit",
            Action::Off => "off",
        })
    }
}

/// The stable identifier of a rule. The IDs never change meaning; new rules get new IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RuleId {
    /// The switch target is fully rolled out and available.
    BG001,
    /// The switch target has at least the live color's capacity.
    BG002,
    /// Only allowed identities may switch traffic.
    BG003,
    /// Both colors read the same ConfigMaps and Secrets.
    BG004,
    /// The same NetworkPolicies select both colors.
    BG005,
    /// Every image is pinned by digest and signed by a trusted key.
    BG006,
    /// Every container has a readiness probe.
    BG007,
    /// The previous color stays warm for rollback; the live color is never removed.
    BG008,
    /// The live color's pod template is never changed in place.
    BG009,
    /// The router's colors resolve to two distinct Deployments.
    BG010,
    /// An app that serves traffic stays in the guard's sight.
    BG011,
}

impl RuleId {
    /// Every rule, in catalogue order.
    pub const ALL: [RuleId; 11] = [
        RuleId::BG001,
        RuleId::BG002,
        RuleId::BG003,
        RuleId::BG004,
        RuleId::BG005,
        RuleId::BG006,
        RuleId::BG007,
        RuleId::BG008,
        RuleId::BG009,
        RuleId::BG010,
        RuleId::BG011,
    ];

    /// The short kebab-case name shown next to the ID.
    pub fn name(self) -> &'static str {
        match self {
            RuleId::BG001 => "ready-target",
            RuleId::BG002 => "capacity",
            RuleId::BG003 => "switch-identity",
            RuleId::BG004 => "config-parity",
            RuleId::BG005 => "netpol-parity",
            RuleId::BG006 => "signed-images",
            RuleId::BG007 => "readiness-probes",
            RuleId::BG008 => "warm-rollback",
            RuleId::BG009 => "immutable-live",
            RuleId::BG010 => "distinct-colors",
            RuleId::BG011 => "governed",
        }
    }

    /// One sentence on what the rule guarantees.
    pub fn summary(self) -> &'static str {
        match self {
            RuleId::BG001 => {
                "the target color is fully rolled out and available before it takes traffic"
            }
            RuleId::BG002 => {
                "the target color has at least the live color's replicas (times the capacity ratio)"
            }
            RuleId::BG003 => {
                "only the allowed CI identities may switch traffic; break-glass switches are audited"
            }
            RuleId::BG004 => "both colors reference the same ConfigMaps and Secrets",
            RuleId::BG005 => "the same NetworkPolicies select both colors' pods",
            RuleId::BG006 => "every image is pinned by digest and signed by a trusted cosign key",
            RuleId::BG007 => "every container of both colors has a readinessProbe",
            RuleId::BG008 => {
                "the previous color stays warm for the rollback window; the live color is never removed"
            }
            RuleId::BG009 => "the live color's pod template is never changed in place",
            RuleId::BG010 => "the router's colors resolve to two distinct Deployments",
            RuleId::BG011 => {
                "an app that serves traffic stays in the guard's sight: its router, colors and color Services keep the bluegreen.dev/app label, and its router stays a router"
            }
        }
    }

    /// The action when no BlueGreenPolicy says otherwise. BG003 and BG006 depend on
    /// what the policy names (identities, keys) and are resolved in [`crate::Policy`].
    pub fn default_action(self) -> Action {
        match self {
            RuleId::BG007 => Action::Warn,
            RuleId::BG003 | RuleId::BG006 => Action::Off,
            _ => Action::Deny,
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
