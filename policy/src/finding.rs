//! Findings: what a rule says about an object, in one line a person can act on.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::rule::{Action, RuleId};

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
