//! Findings: what a rule says about an object, in one line a person can act on.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crd::Action;

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

/// A reference to the object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectRef {
    /// kubectl's `kind/name` form, lowercased kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.to_lowercase(), self.name)
    }
}

/// One rule's verdict on one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Which rule.
    pub rule: RuleId,
    /// The action in force for that rule (never [`Action::Off`]).
    pub action: Action,
    /// The object that is wrong.
    pub object: ObjectRef,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    /// `BG004 config-parity`.
    pub fn title(&self) -> String {
        format!("{} {}", self.rule, self.rule.name())
    }
}

impl fmt::Display for Finding {
    /// The one-line form used in admission denials and plain output:
    /// `BG004 config-parity: <what is wrong>; <how to fix it>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.title(), self.message, self.fix)
    }
}

/// Collects findings, applying the policy's action for each rule and dropping the
/// rules that are off.
#[derive(Debug, Default)]
pub struct Findings {
    items: Vec<Finding>,
}

impl Findings {
    /// Records a finding unless the rule's action is off.
    pub fn push(
        &mut self,
        action: Action,
        rule: RuleId,
        object: ObjectRef,
        message: String,
        fix: String,
    ) {
        if action != Action::Off {
            self.items.push(Finding {
                rule,
                action,
                object,
                message,
                fix,
            });
        }
    }

    /// The findings, ordered by rule then object, without duplicates.
    pub fn into_vec(mut self) -> Vec<Finding> {
        self.items
            .sort_by(|a, b| (a.rule, &a.object, &a.message).cmp(&(b.rule, &b.object, &b.message)));
        self.items.dedup();
        self.items
    }
}
