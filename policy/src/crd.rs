//! `BlueGreenPolicy` (`bluegreen.dev/v1alpha1`, cluster-scoped): the guardrails a
//! platform team sets, read by both the guard and the plugin.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use kube::core::{Selector, SelectorExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::parse_duration;
use crate::gate::{self, Gate, GateError, GateSpec};
pub use crate::rule::{Action, RuleId};

/// The guardrails for the namespaces this policy selects.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "bluegreen.dev",
    version = "v1alpha1",
    kind = "BlueGreenPolicy",
    plural = "bluegreenpolicies",
    shortname = "bgp",
    doc = "Guardrails for blue-green releases in the namespaces a policy selects",
    printcolumn = r#"{"name":"Warm window","type":"string","jsonPath":".spec.warmWindow"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreenPolicySpec {
    /// Namespaces this policy applies to; absent selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// The action of each rule; a rule not named keeps its default.
    #[serde(default)]
    pub rules: RuleActions,
    /// Who may switch traffic (BG003).
    #[serde(default)]
    pub switch_identities: SwitchIdentities,
    /// How long the previous color must stay warm after a switch, e.g. `30m`, `2h` (BG008).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_window: Option<String>,
    /// The target color needs at least this many times the live color's replicas (BG002).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_ratio: Option<f64>,
    /// Cosign public keys; an image signed by any one of them is trusted (BG006).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<TrustedKey>,
    /// Keyless signers: an image signed with a Fulcio certificate for any one of these
    /// identities, recorded in Rekor, is trusted (BG006). Needs the guard's and the
    /// plugin's trust root (`--trusted-root`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_identities: Vec<TrustedIdentity>,
    /// Metric gates every app of the selected namespaces is judged by around a switch; an
    /// app may add its own (annotation `bluegreen.dev/gates`), never replace these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateSpec>,
    /// Where the plugin queries the gates (its `--prometheus` flag overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
}

/// The Prometheus that metric gates query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSpec {
    /// A URL (`https://prometheus.example.com`), or `svc/NAMESPACE/NAME:PORT` reached
    /// through the API server's service proxy.
    pub address: String,
}

/// The action of each rule, by the rule's name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)] // one field per rule, named after it
pub struct RuleActions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_target: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_identity: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_parity: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netpol_parity: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_images: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probes: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_rollback: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_live: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_colors: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governed: Option<Action>,
}

impl RuleActions {
    /// The action set for one rule, if any.
    pub fn get(&self, rule: RuleId) -> Option<Action> {
        match rule {
            RuleId::BG001 => self.ready_target,
            RuleId::BG002 => self.capacity,
            RuleId::BG003 => self.switch_identity,
            RuleId::BG004 => self.config_parity,
            RuleId::BG005 => self.netpol_parity,
            RuleId::BG006 => self.signed_images,
            RuleId::BG007 => self.readiness_probes,
            RuleId::BG008 => self.warm_rollback,
            RuleId::BG009 => self.immutable_live,
            RuleId::BG010 => self.distinct_colors,
            RuleId::BG011 => self.governed,
        }
    }
}

/// The identities allowed to switch traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchIdentities {
    /// User names, exactly as the API server authenticates them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Groups; a member of any of them may switch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Service accounts as `namespace:name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Members of this group may always switch, and every such switch is audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_group: Option<String>,
}

impl SwitchIdentities {
    /// Whether anything names who may switch (BG003 is off by default until it does).
    pub fn is_configured(&self) -> bool {
        !(self.users.is_empty() && self.groups.is_empty() && self.service_accounts.is_empty())
    }

    /// The allowed identities as a person reads them, for refusal messages.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.users.iter().map(|u| format!("user {u}")));
        parts.extend(self.groups.iter().map(|g| format!("group {g}")));
        parts.extend(
            self.service_accounts
                .iter()
                .map(|sa| format!("serviceaccount {sa}")),
        );
        if let Some(group) = &self.break_glass_group {
            parts.push(format!("break-glass group {group}"));
        }
        if parts.is_empty() {
            "nobody".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// A trusted cosign public key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedKey {
    /// A name for messages and metrics.
    pub name: String,
    /// The PEM-encoded public key (ECDSA P-256, as `cosign generate-key-pair` writes).
    pub public_key: String,
}

/// A keyless signer: the workload identity a Fulcio certificate was issued to, as
/// `cosign verify --certificate-identity[-regexp] --certificate-oidc-issuer` names it.
// Ordered and hashable so the verdict cache fingerprints a set of identities without
// formatting them.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedIdentity {
    /// A name for messages and metrics.
    pub name: String,
    /// The OIDC issuer exactly as Fulcio records it, e.g.
    /// `https://token.actions.githubusercontent.com` for GitHub Actions.
    pub issuer: String,
    /// The certificate's subject exactly: an email, or a URI such as
    /// `https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main`.
    /// Give this or `subjectRegExp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A regular expression the whole subject must match, e.g.
    /// `https://github.com/org/.+/.github/workflows/release.yml@refs/tags/v.*`.
    #[serde(
        default,
        rename = "subjectRegExp",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_regexp: Option<String>,
    /// GitHub Actions details Fulcio writes into the certificate; each one given must
    /// match exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubWorkflow>,
}

/// The GitHub Actions workflow a keyless signature must come from (cosign's
/// `--certificate-github-workflow-*` flags).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubWorkflow {
    /// The repository, `owner/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_repository: Option<String>,
    /// The git ref the workflow ran on, e.g. `refs/heads/main` or `refs/tags/v1.2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_ref: Option<String>,
    /// The event that started the workflow, e.g. `push`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_trigger: Option<String>,
    /// The commit the workflow ran on (40 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_sha: Option<String>,
    /// The workflow's `name:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_name: Option<String>,
}

impl GithubWorkflow {
    /// The fields given, as (what it is, expected value), in a fixed order.
    pub fn expected(&self) -> Vec<(&'static str, &str)> {
        [
            ("repository", &self.workflow_repository),
            ("ref", &self.workflow_ref),
            ("trigger", &self.workflow_trigger),
            ("sha", &self.workflow_sha),
            ("name", &self.workflow_name),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some((field, value.as_deref()?)))
        .collect()
    }
}

impl TrustedIdentity {
    /// The identity as a person reads it in a refusal: name, subject, issuer and any
    /// workflow detail.
    pub fn describe(&self) -> String {
        let subject = match (&self.subject, &self.subject_regexp) {
            (Some(exact), _) => format!("subject {exact}"),
            (None, Some(pattern)) => format!("subject matching {pattern}"),
            (None, None) => "any subject".to_string(),
        };
        let workflow: String = self
            .github
            .iter()
            .flat_map(GithubWorkflow::expected)
            .map(|(field, value)| format!(", workflow {field} {value}"))
            .collect();
        format!(
            "{} ({subject}, issuer {}{workflow})",
            self.name, self.issuer
        )
    }

    /// The subject pattern as it must match: the whole subject, so that
    /// `https://github.com/org/` cannot be satisfied by `https://github.com/org-evil/`.
    pub fn subject_pattern(&self) -> Option<String> {
        self.subject_regexp
            .as_ref()
            .map(|pattern| format!("^(?:{pattern})$"))
    }

    /// Why this identity cannot be used, if it cannot.
    fn problem(&self) -> Option<String> {
        if self.name.trim().is_empty() {
            return Some("has no name; name it for messages".to_string());
        }
        if self.issuer.trim().is_empty() {
            return Some("names no issuer; give the OIDC issuer Fulcio records, e.g. https://token.actions.githubusercontent.com".to_string());
        }
        match (&self.subject, self.subject_pattern()) {
            (Some(_), Some(_)) => Some("gives both subject and subjectRegExp; give one".to_string()),
            (None, None) => Some("gives neither subject nor subjectRegExp; give the certificate subject (email or workflow URI) the signer must have".to_string()),
            (None, Some(pattern)) => regex::Regex::new(&pattern).err().map(|err| {
                // regex's message draws a caret under the pattern over several lines;
                // a refusal is one line, so keep its last line, the reason.
                let err = err.to_string();
                let reason = err.lines().last().unwrap_or_default();
                let reason = reason.strip_prefix("error: ").unwrap_or(reason);
                format!("subjectRegExp is not a regular expression ({reason}); give the exact subject or a valid pattern")
            }),
            (Some(_), None) => None,
        }
    }
}

/// Why a BlueGreenPolicy cannot be used.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PolicyError {
    /// `warmWindow` does not parse.
    #[error(
        "BlueGreenPolicy {policy}: warmWindow {value:?} is not a duration ({reason}); write it like 30m, 2h or 1h30m"
    )]
    WarmWindow {
        /// Policy name.
        policy: String,
        /// The value found.
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// `capacityRatio` is out of range.
    #[error(
        "BlueGreenPolicy {policy}: capacityRatio {value} must be a number above 0 (1.0 means equal capacity)"
    )]
    CapacityRatio {
        /// Policy name.
        policy: String,
        /// The value found.
        value: f64,
    },
    /// A rule is turned on with nothing to check it against: BG006 without
    /// `trustedKeys` or `trustedIdentities` could verify no image, BG003 without identities would let nobody
    /// switch. Refused so the policy's author hears it, not the next release.
    #[error(
        "BlueGreenPolicy {policy}: rules.{rule_field} is {action}, but {missing}; {fix}, or set rules.{rule_field} to off"
    )]
    NothingToCheck {
        /// Policy name.
        policy: String,
        /// The rule's field under `rules`.
        rule_field: &'static str,
        /// The action set.
        action: Action,
        /// What the rule lacks.
        missing: &'static str,
        /// What to add.
        fix: &'static str,
    },
    /// A trusted identity cannot be matched against a certificate.
    #[error("BlueGreenPolicy {policy}: trustedIdentities[{index}] {problem}")]
    TrustedIdentity {
        /// Policy name.
        policy: String,
        /// Its position in `trustedIdentities`.
        index: usize,
        /// What is wrong and the fix.
        problem: String,
    },
    /// A gate is unusable (the message names it and the fix).
    #[error(transparent)]
    Gate(#[from] GateError),
    /// `namespaceSelector` is malformed.
    #[error(
        "BlueGreenPolicy {policy}: namespaceSelector is invalid ({reason}); write a label selector: matchLabels, or matchExpressions with operator In, NotIn, Exists or DoesNotExist"
    )]
    NamespaceSelector {
        /// Policy name.
        policy: String,
        /// The parser's reason.
        reason: String,
    },
}

/// The policy in force for one namespace, with every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The BlueGreenPolicy it came from, or `None` for the built-in defaults.
    pub source: Option<String>,
    actions: BTreeMap<RuleId, Action>,
    /// Who may switch.
    pub switch_identities: SwitchIdentities,
    /// The warm window of BG008.
    pub warm_window: SignedDuration,
    /// The capacity ratio of BG002.
    pub capacity_ratio: f64,
    /// The trusted keys of BG006.
    pub trusted_keys: Vec<TrustedKey>,
    /// The trusted keyless identities of BG006.
    pub trusted_identities: Vec<TrustedIdentity>,
    /// The policy's metric gates.
    pub gates: Vec<Gate>,
    /// The Prometheus address the policy names, if any.
    pub prometheus: Option<String>,
}

/// The warm window when no policy sets one.
pub const DEFAULT_WARM_WINDOW: SignedDuration = SignedDuration::from_mins(30);

impl Default for Policy {
    fn default() -> Self {
        Policy::from_spec(None, &BlueGreenPolicySpec::default()).expect("the empty spec is valid")
    }
}

impl Policy {
    /// Resolves a spec: parses durations and fills defaults.
    pub fn from_spec(
        source: Option<&str>,
        spec: &BlueGreenPolicySpec,
    ) -> Result<Self, PolicyError> {
        let name = source.unwrap_or("(defaults)").to_string();
        let warm_window = match &spec.warm_window {
            None => DEFAULT_WARM_WINDOW,
            Some(value) => parse_duration(value).map_err(|err| PolicyError::WarmWindow {
                policy: name.clone(),
                value: value.clone(),
                reason: err.to_string(),
            })?,
        };
        let capacity_ratio = spec.capacity_ratio.unwrap_or(1.0);
        if !(capacity_ratio.is_finite() && capacity_ratio > 0.0) {
            return Err(PolicyError::CapacityRatio {
                policy: name,
                value: capacity_ratio,
            });
        }
        nothing_to_check(&name, spec)?;
        if let Some((index, problem)) = spec
            .trusted_identities
            .iter()
            .enumerate()
            .find_map(|(index, identity)| Some((index, identity.problem()?)))
        {
            return Err(PolicyError::TrustedIdentity {
                policy: name,
                index,
                problem,
            });
        }
        let gates = gate::from_specs(&spec.gates, &format!("BlueGreenPolicy {name}"))?;
        let actions = RuleId::ALL
            .into_iter()
            .map(|rule| {
                let default = match rule {
                    RuleId::BG003 if spec.switch_identities.is_configured() => Action::Deny,
                    RuleId::BG006 if spec.names_signers() => Action::Deny,
                    _ => rule.default_action(),
                };
                (rule, spec.rules.get(rule).unwrap_or(default))
            })
            .collect();
        Ok(Policy {
            source: source.map(str::to_string),
            actions,
            switch_identities: spec.switch_identities.clone(),
            warm_window,
            capacity_ratio,
            trusted_keys: spec.trusted_keys.clone(),
            trusted_identities: spec.trusted_identities.clone(),
            gates,
            prometheus: spec.prometheus.as_ref().map(|p| p.address.clone()),
        })
    }

    /// The action in force for a rule.
    pub fn action(&self, rule: RuleId) -> Action {
        self.actions.get(&rule).copied().unwrap_or(Action::Off)
    }

    /// Whether BG006 needs image verdicts: it is on and there are keys or keyless
    /// identities to verify against. The guard and the plugin both ask this before
    /// going to registries.
    pub fn verifies_images(&self) -> bool {
        self.action(RuleId::BG006) != Action::Off
            && !(self.trusted_keys.is_empty() && self.trusted_identities.is_empty())
    }

    /// Whom BG006 trusts to sign images: the trusted keys and keyless identities.
    pub fn signers(&self) -> Signers<'_> {
        Signers {
            keys: &self.trusted_keys,
            identities: &self.trusted_identities,
        }
    }

    /// Returns a copy with one rule's action replaced (for tests and `--rule` overrides).
    pub fn with_action(mut self, rule: RuleId, action: Action) -> Self {
        self.actions.insert(rule, action);
        self
    }

    /// The name shown in refusals: the policy's name or `built-in defaults`.
    pub fn display_name(&self) -> String {
        match &self.source {
            Some(name) => format!("BlueGreenPolicy {name}"),
            None => "the built-in defaults (no BlueGreenPolicy)".to_string(),
        }
    }
}

/// Whom BG006 trusts to sign images, as one value for the verifier: an image signed by
/// any one key, or keylessly by any one identity, is trusted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Signers<'a> {
    /// Cosign public keys.
    pub keys: &'a [TrustedKey],
    /// Keyless identities (Fulcio certificate subject and issuer).
    pub identities: &'a [TrustedIdentity],
}

impl<'a, Keys: AsRef<[TrustedKey]> + ?Sized> From<&'a Keys> for Signers<'a> {
    /// Keys only (a slice, an array or a `Vec`), no keyless identity.
    fn from(keys: &'a Keys) -> Self {
        Signers {
            keys: keys.as_ref(),
            identities: &[],
        }
    }
}

impl BlueGreenPolicySpec {
    /// Whether BG006 has anyone to trust: a key or a keyless identity.
    fn names_signers(&self) -> bool {
        !(self.trusted_keys.is_empty() && self.trusted_identities.is_empty())
    }
}

/// Refuses a rule set on (deny, warn or audit) with nothing to check it against.
fn nothing_to_check(policy: &str, spec: &BlueGreenPolicySpec) -> Result<(), PolicyError> {
    let unusable = [
        (
            "signedImages",
            spec.rules.signed_images,
            !spec.names_signers(),
            "neither trustedKeys nor trustedIdentities names a signer to verify images with",
            "add the cosign public keys images are signed with to trustedKeys, or the keyless signers (subject and issuer) to trustedIdentities",
        ),
        (
            "switchIdentity",
            spec.rules.switch_identity,
            !spec.switch_identities.is_configured(),
            "switchIdentities names no user, group or service account to allow",
            "name who may switch in switchIdentities (serviceAccounts: [\"ci:deployer\"])",
        ),
    ];
    for (rule_field, action, lacking, missing, fix) in unusable {
        if let Some(action) = action.filter(|action| *action != Action::Off && lacking) {
            return Err(PolicyError::NothingToCheck {
                policy: policy.to_string(),
                rule_field,
                action,
                missing,
                fix,
            });
        }
    }
    Ok(())
}

impl BlueGreenPolicy {
    /// Checks what [`PolicySet`] will build from this policy (its namespaceSelector,
    /// then its spec), so that a policy the guard cannot use is refused when it is
    /// written rather than found on the next switch.
    pub fn check(&self) -> Result<(), PolicyError> {
        let candidate = Candidate::of(self);
        candidate.selector?;
        candidate.policy.map(drop)
    }
}

/// BlueGreenPolicies made ready to pick from many times: each spec resolved and each
/// namespaceSelector built once, in the order [`PolicySet::for_namespace`] tries them.
/// The guard keeps one beside its cache, so that finding a review's policy is a label
/// match per policy, not a parse.
#[derive(Debug, Default)]
pub struct PolicySet {
    /// In precedence order: policies with a namespaceSelector first, then by name.
    candidates: Vec<Candidate>,
    defaults: Arc<Policy>,
}

#[derive(Debug)]
struct Candidate {
    /// `None`: the policy selects every namespace.
    selector: Result<Option<Selector>, PolicyError>,
    policy: Result<Arc<Policy>, PolicyError>,
}

impl Candidate {
    /// One policy resolved: its namespaceSelector built and its spec parsed.
    fn of(policy: &BlueGreenPolicy) -> Self {
        let name = policy.metadata.name.as_deref().unwrap_or_default();
        Candidate {
            selector: selector(name, policy.spec.namespace_selector.as_ref()),
            policy: Policy::from_spec(Some(name), &policy.spec).map(Arc::new),
        }
    }
}

impl PolicySet {
    /// Resolves every policy once.
    pub fn new<'a>(policies: impl IntoIterator<Item = &'a BlueGreenPolicy>) -> Self {
        let mut sorted: Vec<&BlueGreenPolicy> = policies.into_iter().collect();
        sorted.sort_by(|a, b| {
            let catch_all = |p: &BlueGreenPolicy| p.spec.namespace_selector.is_none();
            (catch_all(a), &a.metadata.name).cmp(&(catch_all(b), &b.metadata.name))
        });
        let candidates = sorted.into_iter().map(Candidate::of).collect();
        PolicySet {
            candidates,
            defaults: Arc::default(),
        }
    }

    /// Picks the policy for a namespace: a policy whose namespaceSelector matches the
    /// namespace's labels wins over a catch-all one without selector (a team's policy
    /// refines the cluster default); ties go to the first by name; with none, the
    /// built-in defaults. A policy that does not parse and could be the one in force
    /// is an error: falling back to another would drop the guardrails it sets.
    pub fn for_namespace(
        &self,
        namespace_labels: &BTreeMap<String, String>,
    ) -> Result<&Arc<Policy>, &PolicyError> {
        for candidate in &self.candidates {
            match &candidate.selector {
                Err(err) => return Err(err),
                Ok(Some(selector)) if !selector.matches(namespace_labels) => continue,
                Ok(_) => return candidate.policy.as_ref(),
            }
        }
        Ok(&self.defaults)
    }
}

/// A policy's namespaceSelector, built.
fn selector(
    policy: &str,
    selector: Option<&LabelSelector>,
) -> Result<Option<Selector>, PolicyError> {
    selector
        .map(|selector| {
            Selector::try_from(selector.clone()).map_err(|err| PolicyError::NamespaceSelector {
                policy: policy.to_string(),
                reason: err.0,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let policy = Policy::default();
        for rule in [
            RuleId::BG001,
            RuleId::BG002,
            RuleId::BG004,
            RuleId::BG005,
            RuleId::BG008,
            RuleId::BG009,
            RuleId::BG010,
            RuleId::BG011,
        ] {
            assert_eq!(policy.action(rule), Action::Deny, "{rule}");
        }
        assert_eq!(policy.action(RuleId::BG007), Action::Warn);
        assert_eq!(policy.action(RuleId::BG003), Action::Off);
        assert_eq!(policy.action(RuleId::BG006), Action::Off);
        assert_eq!(policy.warm_window, SignedDuration::from_mins(30));
    }

    #[test]
    fn naming_identities_and_keys_turns_their_rules_on() {
        let spec = BlueGreenPolicySpec {
            switch_identities: SwitchIdentities {
                service_accounts: vec!["ci:deployer".into()],
                ..Default::default()
            },
            trusted_keys: vec![TrustedKey {
                name: "release".into(),
                public_key: "PEM".into(),
            }],
            ..Default::default()
        };
        let policy = Policy::from_spec(Some("default"), &spec).unwrap();
        assert_eq!(policy.action(RuleId::BG003), Action::Deny);
        assert_eq!(policy.action(RuleId::BG006), Action::Deny);
    }

    #[test]
    fn warm_window_is_refused_when_it_is_not_a_duration() {
        let spec = BlueGreenPolicySpec {
            warm_window: Some("soon".into()),
            ..Default::default()
        };
        let err = Policy::from_spec(Some("strict"), &spec)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("BlueGreenPolicy strict: warmWindow \"soon\" is not a duration"),
            "{err}"
        );
    }

    #[test]
    fn namespace_selector_picks_the_policy() {
        let mut prod = BlueGreenPolicy::new(
            "prod",
            BlueGreenPolicySpec {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some([("env".to_string(), "prod".to_string())].into()),
                    ..Default::default()
                }),
                warm_window: Some("2h".into()),
                ..Default::default()
            },
        );
        prod.metadata.name = Some("prod".into());
        let labels_prod = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let only_prod = PolicySet::new([&prod]);
        let policy = only_prod.for_namespace(&labels_prod).unwrap();
        assert_eq!(policy.source.as_deref(), Some("prod"));
        assert_eq!(policy.warm_window, SignedDuration::from_hours(2));
        let policy = only_prod.for_namespace(&BTreeMap::new()).unwrap();
        assert_eq!(policy.source, None);
        let mut cluster_default = BlueGreenPolicy::new("default", BlueGreenPolicySpec::default());
        cluster_default.metadata.name = Some("default".into());
        let both = PolicySet::new([&cluster_default, &prod]);
        let policy = both.for_namespace(&labels_prod).unwrap();
        assert_eq!(
            policy.source.as_deref(),
            Some("prod"),
            "a matching selector beats the catch-all"
        );
        let policy = both.for_namespace(&BTreeMap::new()).unwrap();
        assert_eq!(policy.source.as_deref(), Some("default"));
    }

    fn named(name: &str, spec: serde_json::Value) -> BlueGreenPolicy {
        let mut policy = BlueGreenPolicy::new(name, serde_json::from_value(spec).unwrap());
        policy.metadata.name = Some(name.into());
        policy
    }

    #[test]
    fn a_broken_policy_that_could_be_in_force_is_an_error_and_one_outranked_is_not() {
        let prod_labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let prod = named(
            "prod",
            serde_json::json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}),
        );
        let broken_default = named("default", serde_json::json!({"warmWindow": "soon"}));
        let set = PolicySet::new([&broken_default, &prod]);
        assert_eq!(
            set.for_namespace(&prod_labels).unwrap().source.as_deref(),
            Some("prod"),
            "prod outranks the broken catch-all"
        );
        assert_eq!(
            set.for_namespace(&BTreeMap::new()).unwrap_err().to_string(),
            "BlueGreenPolicy default: warmWindow \"soon\" is not a duration (failed to parse input in the \"friendly\" duration format: expected duration to start with a unit value (a decimal integer) after an optional sign, but no integer was found); write it like 30m, 2h or 1h30m"
        );
        // A selector that cannot be evaluated might select any namespace.
        let bad_selector = named(
            "a-bad-selector",
            serde_json::json!({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "Like", "values": ["x"]}]}}),
        );
        let with_bad_selector = PolicySet::new([&prod, &bad_selector]);
        let err = with_bad_selector.for_namespace(&prod_labels).unwrap_err();
        assert!(
            matches!(err, PolicyError::NamespaceSelector { policy, .. } if policy == "a-bad-selector"),
            "{err}"
        );
    }

    #[test]
    fn check_refuses_what_the_policy_set_could_not_use() {
        let good = named(
            "prod",
            serde_json::json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}, "warmWindow": "1h"}),
        );
        assert!(good.check().is_ok());
        let both_broken = named(
            "team-a",
            serde_json::json!({"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "Like", "values": ["x"]}]}, "capacityRatio": 0}),
        );
        let err = both_broken.check().unwrap_err();
        assert_eq!(
            err.to_string(),
            PolicySet::new([&both_broken])
                .for_namespace(&BTreeMap::new())
                .unwrap_err()
                .to_string(),
            "the selector is reported first, as the policy set meets it"
        );
        assert_eq!(
            err.to_string(),
            "BlueGreenPolicy team-a: namespaceSelector is invalid (Invalid expression operator); write a label selector: matchLabels, or matchExpressions with operator In, NotIn, Exists or DoesNotExist"
        );
        let ratio = named("team-b", serde_json::json!({"capacityRatio": -1.5}));
        assert_eq!(
            ratio.check().unwrap_err().to_string(),
            "BlueGreenPolicy team-b: capacityRatio -1.5 must be a number above 0 (1.0 means equal capacity)"
        );
    }

    #[test]
    fn a_rule_turned_on_with_nothing_to_check_is_refused() {
        let no_keys = named(
            "strict",
            serde_json::json!({"rules": {"signedImages": "deny"}}),
        );
        assert_eq!(
            no_keys.check().unwrap_err().to_string(),
            "BlueGreenPolicy strict: rules.signedImages is deny, but neither trustedKeys nor trustedIdentities names a signer to verify images with; add the cosign public keys images are signed with to trustedKeys, or the keyless signers (subject and issuer) to trustedIdentities, or set rules.signedImages to off"
        );
        let no_identities = named(
            "ci-only",
            serde_json::json!({"rules": {"switchIdentity": "warn"}, "switchIdentities": {"breakGlassGroup": "sre"}}),
        );
        assert_eq!(
            no_identities.check().unwrap_err().to_string(),
            "BlueGreenPolicy ci-only: rules.switchIdentity is warn, but switchIdentities names no user, group or service account to allow; name who may switch in switchIdentities (serviceAccounts: [\"ci:deployer\"]), or set rules.switchIdentity to off"
        );
        let off = named(
            "relaxed",
            serde_json::json!({"rules": {"signedImages": "off", "switchIdentity": "off"}}),
        );
        assert!(off.check().is_ok());
    }

    #[test]
    fn a_policy_with_a_bad_gate_is_refused_naming_the_gate() {
        let policy = named(
            "default",
            serde_json::json!({"gates": [{"name": "error-rate", "query": "x", "threshold": "1%"}]}),
        );
        assert_eq!(
            policy.check().unwrap_err().to_string(),
            r#"gate "error-rate" of BlueGreenPolicy default: threshold "1%" is not a comparison; write it like < 0.01, <= 0.5, > 0.99 or >= 1"#
        );
        let good = named(
            "default",
            serde_json::json!({"gates": [{"name": "error-rate", "query": "x", "threshold": "< 0.01"}], "prometheus": {"address": "svc/monitoring/prometheus:9090"}}),
        );
        let resolved = Policy::from_spec(Some("default"), &good.spec).unwrap();
        assert_eq!(resolved.gates[0].origin, "BlueGreenPolicy default");
        assert_eq!(
            resolved.prometheus.as_deref(),
            Some("svc/monitoring/prometheus:9090")
        );
    }

    #[test]
    fn keyless_identities_alone_turn_signed_images_on() {
        let spec: BlueGreenPolicySpec = serde_json::from_value(serde_json::json!({
            "trustedIdentities": [{
                "name": "release-workflow",
                "issuer": "https://token.actions.githubusercontent.com",
                "subjectRegExp": "https://github.com/shop/.+/.github/workflows/release.yml@refs/tags/v.*",
                "github": {"workflowRepository": "shop/api", "workflowTrigger": "push"}
            }]
        }))
        .unwrap();
        let policy = Policy::from_spec(Some("keyless"), &spec).unwrap();
        assert_eq!(policy.action(RuleId::BG006), Action::Deny);
        assert!(policy.verifies_images());
        assert_eq!(
            policy.trusted_identities[0].describe(),
            "release-workflow (subject matching https://github.com/shop/.+/.github/workflows/release.yml@refs/tags/v.*, issuer https://token.actions.githubusercontent.com, workflow repository shop/api, workflow trigger push)"
        );
    }

    #[rstest::rstest]
    #[case::no_subject(
        serde_json::json!({"name": "ci", "issuer": "https://issuer.example"}),
        "BlueGreenPolicy keyless: trustedIdentities[0] gives neither subject nor subjectRegExp; give the certificate subject (email or workflow URI) the signer must have"
    )]
    #[case::both_subjects(
        serde_json::json!({"name": "ci", "issuer": "https://issuer.example", "subject": "a@example.com", "subjectRegExp": ".*"}),
        "BlueGreenPolicy keyless: trustedIdentities[0] gives both subject and subjectRegExp; give one"
    )]
    #[case::no_issuer(
        serde_json::json!({"name": "ci", "issuer": " ", "subject": "a@example.com"}),
        "BlueGreenPolicy keyless: trustedIdentities[0] names no issuer; give the OIDC issuer Fulcio records, e.g. https://token.actions.githubusercontent.com"
    )]
    #[case::bad_regexp(
        serde_json::json!({"name": "ci", "issuer": "https://issuer.example", "subjectRegExp": "https://(github.com/"}),
        "BlueGreenPolicy keyless: trustedIdentities[0] subjectRegExp is not a regular expression (unclosed group); give the exact subject or a valid pattern"
    )]
    fn an_unusable_identity_is_refused_when_written(
        #[case] identity: serde_json::Value,
        #[case] expected: &str,
    ) {
        let policy = named(
            "keyless",
            serde_json::json!({"trustedIdentities": [identity]}),
        );
        assert_eq!(policy.check().unwrap_err().to_string(), expected);
    }

    #[test]
    fn a_subject_pattern_must_match_the_whole_subject() {
        let identity = TrustedIdentity {
            subject_regexp: Some("https://github.com/shop/.*".into()),
            ..Default::default()
        };
        let pattern = regex::Regex::new(&identity.subject_pattern().unwrap()).unwrap();
        assert!(
            pattern.is_match("https://github.com/shop/api/.github/workflows/r.yml@refs/heads/main")
        );
        assert!(!pattern.is_match("https://evil.example/?https://github.com/shop/x"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err =
            serde_json::from_value::<BlueGreenPolicySpec>(serde_json::json!({"warmwindow": "1h"}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("unknown field `warmwindow`"), "{err}");
    }
}

/// The CRD manifest the chart installs, generated from the type.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = BlueGreenPolicy::crd();
    let body = crate::yaml::to_string(&crd).expect("a CRD always serializes");
    format!(
        "# Generated from policy::crd::BlueGreenPolicy; do not edit.\n# Regenerate: UPDATE_CRD=1 cargo test -p policy crd_yaml\n{body}"
    )
}

#[cfg(test)]
mod generated {
    /// The committed CRD must be what the type generates, or the chart installs a
    /// schema the guard does not read. `UPDATE_CRD=1` rewrites it.
    #[test]
    fn crd_yaml_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../charts/bluegreen-guard/crds/bluegreenpolicies.yaml"
        );
        let generated = super::crd_yaml();
        if std::env::var_os("UPDATE_CRD").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is stale: run UPDATE_CRD=1 cargo test -p policy crd_yaml"
        );
    }
}
