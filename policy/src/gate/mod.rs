//! Metric gates: named PromQL queries with a threshold, evaluated every `interval`, that
//! judge a release by its real traffic. Post-promotion gates judge the new live color
//! during `promote --watch` (failing ones roll it back); pre-promotion gates judge the
//! idle color before the switch (failing ones refuse it).
//!
//! Gates come from the BlueGreenPolicy (`spec.gates`), so a platform team sets them for
//! every app, and from the app's router (annotation `bluegreen.dev/gates`, a JSON list of
//! the same fields). An app adds gates; it cannot replace or weaken a platform one: an app
//! gate with the name of a policy gate is refused. This module is the pure part: the
//! specs, their validation, templating and counting; the plugin queries Prometheus.

pub mod streak;
pub mod template;
pub mod threshold;

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contract::GATES_ANNOTATION;
use crate::duration::parse_std_duration;
pub use streak::{Measurement, Streak, Verdict};
pub use template::{Template, TemplateError, Vars};
pub use threshold::Threshold;

/// How often a gate is evaluated when it does not say.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The `{{window}}` of a gate that does not say.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// A metric gate as written in a BlueGreenPolicy or an app's `bluegreen.dev/gates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateSpec {
    /// The gate's name, unique among the gates of an app (e.g. `error-rate`).
    pub name: String,
    /// The PromQL query; its result must be one value (a scalar, or a vector of at most one
    /// series). Placeholders: `{{namespace}}`, `{{app}}`, `{{color}}`, `{{router}}`, `{{window}}`.
    pub query: String,
    /// What the value must satisfy: `< 0.01`, `<= 0.5`, `> 0.99` or `>= 1`.
    pub threshold: String,
    /// `post` (default): judges the new live color while `promote --watch` runs; `pre`:
    /// judges the idle color before the switch.
    #[serde(default)]
    pub phase: Phase,
    /// How often the gate is evaluated, e.g. `30s` (default 30s); a query must answer
    /// within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Failing evaluations in a row that fail the release (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<u32>,
    /// The `{{window}}` of the query, e.g. `5m` (default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// What a query that returns no data counts as: `fail` (default) or `pass`.
    #[serde(default)]
    pub no_data: NoData,
}

/// When a gate judges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before the switch, on the idle color.
    Pre,
    /// After the switch, on the new live color.
    #[default]
    Post,
}

/// What an evaluation without data counts as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoData {
    /// A failing evaluation.
    #[default]
    Fail,
    /// A passing evaluation.
    Pass,
}

/// Why gates cannot be used. Each message names the gate, where it was written, and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// A field is wrong.
    #[error("gate {gate:?} of {origin}: {problem}")]
    Invalid {
        /// The gate's name.
        gate: String,
        /// Where it is written: `BlueGreenPolicy default`, `svc/api annotation bluegreen.dev/gates`.
        origin: String,
        /// What is wrong and how to write it.
        problem: String,
    },
    /// Two gates share a name.
    #[error("gate {gate:?} of {origin} is defined twice; give each gate its own name")]
    Duplicate {
        /// The name.
        gate: String,
        /// Where.
        origin: String,
    },
    /// An app gate has the name of a policy gate: an app may add gates, not replace the
    /// platform's.
    #[error(
        "gate {gate:?} of {origin} has the name of a gate of {policy}, which an app cannot replace or weaken; give the app's gate another name"
    )]
    ShadowsPolicy {
        /// The name.
        gate: String,
        /// Where the app's gate is written.
        origin: String,
        /// The policy.
        policy: String,
    },
    /// The annotation is not a JSON list of gates.
    #[error(
        "{router} annotation {GATES_ANNOTATION} is not a JSON list of gates ({reason}); write it like [{{\"name\": \"error-rate\", \"query\": \"...\", \"threshold\": \"< 0.01\"}}]"
    )]
    Annotation {
        /// The router.
        router: String,
        /// The parser's reason.
        reason: String,
    },
}

/// A gate ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    /// Its name.
    pub name: String,
    /// Where it is written (`BlueGreenPolicy default`, `svc/api annotation bluegreen.dev/gates`).
    pub origin: String,
    /// The query as written.
    pub query_text: String,
    /// The query, parsed.
    pub query: Template,
    /// Its threshold.
    pub threshold: Threshold,
    /// When it judges.
    pub phase: Phase,
    /// How often.
    pub interval: Duration,
    /// Failing evaluations in a row that fail the release.
    pub failure_limit: u32,
    /// `{{window}}`.
    pub window: Duration,
    /// What no data counts as.
    pub no_data: NoData,
}

impl Gate {
    /// Validates a spec written in `source`.
    pub fn from_spec(spec: &GateSpec, source: &str) -> Result<Gate, GateError> {
        let invalid = |problem: String| GateError::Invalid {
            gate: spec.name.clone(),
            origin: source.to_string(),
            problem,
        };
        if spec.name.trim().is_empty() {
            return Err(invalid("the name is empty; name every gate".into()));
        }
        if spec.query.trim().is_empty() {
            return Err(invalid(
                "the query is empty; write the PromQL to evaluate".into(),
            ));
        }
        let query = Template::parse(&spec.query).map_err(|err| invalid(match err {
            TemplateError::Unknown(name) => format!(
                "the query uses {{{{{name}}}}}, which is not a placeholder; use {{{{namespace}}}}, {{{{app}}}}, {{{{color}}}}, {{{{router}}}} or {{{{window}}}}"
            ),
            TemplateError::Unclosed => "the query has a {{ without its }}; close the placeholder".into(),
        }))?;
        let threshold = Threshold::parse(&spec.threshold).ok_or_else(|| {
            invalid(format!(
                "threshold {:?} is not a comparison; write it like < 0.01, <= 0.5, > 0.99 or >= 1",
                spec.threshold
            ))
        })?;
        let duration = |field: &str, value: &Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(text) => match parse_std_duration(text) {
                Ok(duration) if !duration.is_zero() => Ok(duration),
                Ok(_) => Err(invalid(format!("{field} {text:?} must be above zero"))),
                Err(err) => Err(invalid(format!(
                    "{field} {text:?} is not a duration ({err}); write it like 30s, 1m or 5m"
                ))),
            },
        };
        let interval = duration("interval", &spec.interval, DEFAULT_INTERVAL)?;
        let window = duration("window", &spec.window, DEFAULT_WINDOW)?;
        let failure_limit = match spec.failure_limit {
            None => 1,
            Some(0) => {
                return Err(invalid(
                    "failureLimit 0 would fail every release; write 1 or more (failing evaluations in a row)".into(),
                ));
            }
            Some(limit) => limit,
        };
        Ok(Gate {
            name: spec.name.clone(),
            origin: source.to_string(),
            query_text: spec.query.clone(),
            query,
            threshold,
            phase: spec.phase,
            interval,
            failure_limit,
            window,
            no_data: spec.no_data,
        })
    }

    /// The query to send for `vars`.
    pub fn render(&self, vars: &Vars) -> String {
        self.query.render(vars, self.window)
    }

    /// Whether one measurement passes: a value against the threshold, no data as the gate
    /// says, an error never.
    pub fn passes(&self, measurement: &Measurement) -> bool {
        match measurement {
            Measurement::Value(value) => self.threshold.passes(*value),
            Measurement::NoData => self.no_data == NoData::Pass,
            Measurement::Error(_) => false,
        }
    }
}

/// Validates a list of gate specs from one source; names must be unique.
pub fn from_specs(specs: &[GateSpec], source: &str) -> Result<Vec<Gate>, GateError> {
    let mut gates: Vec<Gate> = Vec::with_capacity(specs.len());
    for spec in specs {
        let gate = Gate::from_spec(spec, source)?;
        if gates.iter().any(|known| known.name == gate.name) {
            return Err(GateError::Duplicate {
                gate: gate.name,
                origin: source.to_string(),
            });
        }
        gates.push(gate);
    }
    Ok(gates)
}

/// The gates in force for an app: the policy's (`policy_gates`, from `policy`), then the
/// ones its router `router` adds in its annotations. An app gate named like a policy gate
/// is refused.
pub fn in_force(
    policy_gates: &[Gate],
    policy: &str,
    router: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<Gate>, GateError> {
    let Some(text) = annotations.get(GATES_ANNOTATION) else {
        return Ok(policy_gates.to_vec());
    };
    let specs: Vec<GateSpec> = serde_json::from_str(text).map_err(|err| GateError::Annotation {
        router: router.to_string(),
        reason: err.to_string(),
    })?;
    let source = format!("{router} annotation {GATES_ANNOTATION}");
    let app_gates = from_specs(&specs, &source)?;
    if let Some(shadowing) = app_gates
        .iter()
        .find(|gate| policy_gates.iter().any(|p| p.name == gate.name))
    {
        return Err(GateError::ShadowsPolicy {
            gate: shadowing.name.clone(),
            origin: source,
            policy: policy.to_string(),
        });
    }
    Ok(policy_gates.iter().cloned().chain(app_gates).collect())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn spec(fields: serde_json::Value) -> GateSpec {
        let mut base = json!({"name": "error-rate", "query": "vector(0)", "threshold": "< 0.01"});
        base.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn defaults_fill_what_a_gate_leaves_out() {
        let gate = Gate::from_spec(&spec(json!({})), "BlueGreenPolicy default").unwrap();
        assert_eq!(gate.phase, Phase::Post);
        assert_eq!(gate.interval, Duration::from_secs(30));
        assert_eq!(gate.window, Duration::from_secs(60));
        assert_eq!(gate.failure_limit, 1);
        assert_eq!(gate.no_data, NoData::Fail);
        let gate = Gate::from_spec(
            &spec(json!({"phase": "pre", "interval": "2s", "window": "5m", "failureLimit": 3, "noData": "pass"})),
            "BlueGreenPolicy default",
        )
        .unwrap();
        assert_eq!(
            (
                gate.phase,
                gate.interval,
                gate.window,
                gate.failure_limit,
                gate.no_data
            ),
            (
                Phase::Pre,
                Duration::from_secs(2),
                Duration::from_secs(300),
                3,
                NoData::Pass
            )
        );
    }

    #[rstest]
    #[case::threshold(
        json!({"threshold": "below 1%"}),
        r#"gate "error-rate" of BlueGreenPolicy default: threshold "below 1%" is not a comparison; write it like < 0.01, <= 0.5, > 0.99 or >= 1"#
    )]
    #[case::placeholder(
        json!({"query": "rate(x{pod=\"{{pod}}\"}[1m])"}),
        r#"gate "error-rate" of BlueGreenPolicy default: the query uses {{pod}}, which is not a placeholder; use {{namespace}}, {{app}}, {{color}}, {{router}} or {{window}}"#
    )]
    #[case::unclosed(
        json!({"query": "x{color=\"{{color\"}"}),
        r#"gate "error-rate" of BlueGreenPolicy default: the query has a {{ without its }}; close the placeholder"#
    )]
    #[case::interval(
        json!({"interval": "often"}),
        r#"gate "error-rate" of BlueGreenPolicy default: interval "often" is not a duration (failed to parse input in the "friendly" duration format: expected duration to start with a unit value (a decimal integer) after an optional sign, but no integer was found); write it like 30s, 1m or 5m"#
    )]
    #[case::zero_window(
        json!({"window": "0s"}),
        r#"gate "error-rate" of BlueGreenPolicy default: window "0s" must be above zero"#
    )]
    #[case::failure_limit(
        json!({"failureLimit": 0}),
        r#"gate "error-rate" of BlueGreenPolicy default: failureLimit 0 would fail every release; write 1 or more (failing evaluations in a row)"#
    )]
    #[case::empty_query(
        json!({"query": " "}),
        r#"gate "error-rate" of BlueGreenPolicy default: the query is empty; write the PromQL to evaluate"#
    )]
    fn a_bad_gate_is_refused_naming_it_and_the_fix(
        #[case] fields: serde_json::Value,
        #[case] message: &str,
    ) {
        let err = Gate::from_spec(&spec(fields), "BlueGreenPolicy default").unwrap_err();
        assert_eq!(err.to_string(), message);
    }

    #[rstest]
    #[case::value_passes(Measurement::Value(0.001), NoData::Fail, true)]
    #[case::value_fails(Measurement::Value(0.2), NoData::Fail, false)]
    #[case::no_data_fails_by_default(Measurement::NoData, NoData::Fail, false)]
    #[case::no_data_passes_when_the_gate_says(Measurement::NoData, NoData::Pass, true)]
    #[case::an_error_never_passes(Measurement::Error("down".into()), NoData::Pass, false)]
    fn measurements_are_judged(
        #[case] measurement: Measurement,
        #[case] no_data: NoData,
        #[case] passes: bool,
    ) {
        let mut gate = Gate::from_spec(&spec(json!({})), "test").unwrap();
        gate.no_data = no_data;
        assert_eq!(gate.passes(&measurement), passes);
    }

    fn policy_gates() -> Vec<Gate> {
        from_specs(&[spec(json!({}))], "BlueGreenPolicy default").unwrap()
    }

    fn annotated(gates: serde_json::Value) -> BTreeMap<String, String> {
        BTreeMap::from([(GATES_ANNOTATION.to_string(), gates.to_string())])
    }

    #[test]
    fn an_app_adds_gates_after_the_policys() {
        let annotations = annotated(
            json!([{"name": "latency-p99", "query": "vector(0.1)", "threshold": "< 0.25"}]),
        );
        let gates = in_force(
            &policy_gates(),
            "BlueGreenPolicy default",
            "svc/api",
            &annotations,
        )
        .unwrap();
        let names: Vec<(&str, &str)> = gates
            .iter()
            .map(|g| (g.name.as_str(), g.origin.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("error-rate", "BlueGreenPolicy default"),
                ("latency-p99", "svc/api annotation bluegreen.dev/gates")
            ]
        );
        let none = in_force(
            &policy_gates(),
            "BlueGreenPolicy default",
            "svc/api",
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(none, policy_gates());
    }

    #[test]
    fn an_app_cannot_replace_a_platform_gate() {
        // The same name with a looser threshold: refused, not merged.
        let annotations =
            annotated(json!([{"name": "error-rate", "query": "vector(0)", "threshold": "< 1"}]));
        let err = in_force(
            &policy_gates(),
            "BlueGreenPolicy default",
            "svc/api",
            &annotations,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"gate "error-rate" of svc/api annotation bluegreen.dev/gates has the name of a gate of BlueGreenPolicy default, which an app cannot replace or weaken; give the app's gate another name"#
        );
    }

    #[test]
    fn app_gates_are_validated_like_the_policys() {
        let twice = json!([
            {"name": "p99", "query": "vector(0)", "threshold": "< 1"},
            {"name": "p99", "query": "vector(0)", "threshold": "< 2"}
        ]);
        assert_eq!(
            in_force(&[], "BlueGreenPolicy default", "svc/api", &annotated(twice))
                .unwrap_err()
                .to_string(),
            r#"gate "p99" of svc/api annotation bluegreen.dev/gates is defined twice; give each gate its own name"#
        );
        let not_a_list = BTreeMap::from([(
            GATES_ANNOTATION.to_string(),
            "error-rate < 0.01".to_string(),
        )]);
        let err = in_force(&[], "BlueGreenPolicy default", "svc/api", &not_a_list)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("svc/api annotation bluegreen.dev/gates is not a JSON list of gates ("),
            "{err}"
        );
        let unknown_field = annotated(
            json!([{"name": "p99", "query": "vector(0)", "threshold": "< 1", "failurelimit": 3}]),
        );
        let err = in_force(&[], "BlueGreenPolicy default", "svc/api", &unknown_field)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `failurelimit`"), "{err}");
    }
}
