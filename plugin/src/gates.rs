//! Metric gates in the release workflow: the gates in force for an app (its policy's and
//! its own), the Prometheus they query, and their evaluation: once per pre-promotion gate
//! before the switch (a failure refuses it), every `interval` per post-promotion gate
//! during `promote --watch` (`failureLimit` failures in a row roll back), and once each
//! for `status`. The rules of judging and counting are `policy::gate`'s.

use std::time::Duration;

use anyhow::{Result, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use policy::gate::{self, Gate, Measurement, NoData, Phase, Streak, Vars, Verdict};
use policy::{App, Policy};
use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cli::PrometheusArgs;
use crate::cluster::Cluster;
use crate::exit::Refused;
use crate::prometheus::Prometheus;

/// The longest one query may take, whatever a gate's interval.
const MAX_QUERY_TIME: Duration = Duration::from_secs(30);

/// An app's gates and the Prometheus they query.
pub struct Analysis {
    /// The gates in force: the policy's, then the app's.
    pub gates: Vec<Gate>,
    prometheus: Option<Prometheus>,
    namespace: String,
    app: String,
    /// The router's name, `{{router}}`.
    router: String,
    /// `svc/api`, for messages.
    reference: String,
}

/// One evaluation of one gate on one color.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// `gate error-rate (BlueGreenPolicy default) on green`.
    pub subject: String,
    /// What was measured.
    pub measurement: Measurement,
    /// Whether it passes the gate.
    pub passed: bool,
    /// What it is judged against: the threshold, and what no data counts as.
    judged_by: (String, NoData),
}

impl Evaluation {
    /// `value 0.31 fails its threshold < 0.05`, `no data, which the gate counts as
    /// failing`, or the error naming the Prometheus.
    pub fn outcome(&self) -> String {
        let (threshold, no_data) = &self.judged_by;
        let verb = if self.passed { "passes" } else { "fails" };
        match &self.measurement {
            Measurement::Value(value) => {
                format!(
                    "value {} {verb} its threshold {threshold}",
                    show_value(*value)
                )
            }
            Measurement::NoData => format!(
                "no data, which the gate counts as {} (noData: {})",
                if self.passed { "passing" } else { "failing" },
                match no_data {
                    NoData::Fail => "fail",
                    NoData::Pass => "pass",
                }
            ),
            Measurement::Error(reason) => format!("no value ({reason})"),
        }
    }

    /// The whole line: subject and outcome.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.subject, self.outcome())
    }
}

/// A value short enough to read, exact enough to compare with a threshold.
pub fn show_value(value: f64) -> String {
    if value != 0.0 && value.abs() < 1e-3 {
        return format!("{value:.3e}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One gate as `status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    /// The gate's name.
    pub name: String,
    /// Where it is written.
    pub origin: String,
    /// `pre` or `post`.
    pub phase: Phase,
    /// The color it judges now: the live color for `post`, the idle one for `pre`.
    pub color: String,
    /// `< 0.05`.
    pub threshold: String,
    /// Its value now, when Prometheus gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Whether it passes now; absent when no Prometheus was named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passes: Option<bool>,
    /// The evaluation as a sentence, or why it was not evaluated.
    pub detail: String,
}

impl Analysis {
    /// The gates in force for `app` under `policy` (an app gate that would replace a policy
    /// gate is refused), and the Prometheus `args` or the policy names.
    pub fn new(
        app: &App<'_>,
        policy: &Policy,
        args: &PrometheusArgs,
        cluster: &Cluster,
    ) -> Result<Self> {
        let router = app.router.reference();
        let gates = gate::in_force(
            &policy.gates,
            &policy.display_name(),
            &router.to_string(),
            app.router.annotations(),
        )?;
        let prometheus = match gates.is_empty() {
            true => None,
            false => Prometheus::connect(args, policy.prometheus.as_deref(), &cluster.client)?,
        };
        Ok(Analysis {
            gates,
            prometheus,
            namespace: app.namespace.clone(),
            app: app.name.clone(),
            reference: router.to_string(),
            router: router.name,
        })
    }

    /// Whether any gate of `phase` is in force.
    pub fn has(&self, phase: Phase) -> bool {
        !self.of_phase(phase).is_empty()
    }

    fn of_phase(&self, phase: Phase) -> Vec<&Gate> {
        self.gates.iter().filter(|g| g.phase == phase).collect()
    }

    /// The Prometheus, which gates of `phase` need; an error when they exist and no
    /// Prometheus is named. `None`: no such gate.
    fn prometheus_for(&self, phase: Phase) -> Result<Option<(&Prometheus, Vec<&Gate>)>> {
        let gates = self.of_phase(phase);
        if gates.is_empty() {
            return Ok(None);
        }
        let Some(prometheus) = &self.prometheus else {
            let names: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
            let when = match phase {
                Phase::Pre => "pre-promotion",
                Phase::Post => "post-promotion",
            };
            bail!(
                "{router} has {when} metric gates ({}) but no Prometheus is named to evaluate them; nothing was changed: pass --prometheus URL or --prometheus svc/NAMESPACE/NAME:PORT, or set prometheus.address in the BlueGreenPolicy",
                names.join(", "),
                router = self.reference,
            );
        };
        Ok(Some((prometheus, gates)))
    }

    fn vars(&self, color: &str) -> Vars {
        Vars {
            namespace: self.namespace.clone(),
            app: self.app.clone(),
            color: color.to_string(),
            router: self.router.clone(),
        }
    }

    /// Evaluates `gate` on `color` once, the query bounded by `timeout`.
    async fn evaluate(
        &self,
        prometheus: &Prometheus,
        gate: &Gate,
        color: &str,
        timeout: Duration,
    ) -> Evaluation {
        let query = gate.render(&self.vars(color));
        tracing::info!(gate = gate.name, %query, "evaluating a metric gate");
        let measurement = prometheus.query(&query, timeout).await;
        Evaluation {
            subject: format!("gate {} ({}) on {color}", gate.name, gate.origin),
            passed: gate.passes(&measurement),
            measurement,
            judged_by: (gate.threshold.to_string(), gate.no_data),
        }
    }

    /// The pre-promotion gates, each evaluated once on `color` (the idle color): a failure
    /// refuses `what` (`switching svc/api to green`), listing the values.
    pub async fn before_switch(&self, what: &str, color: &str) -> Result<()> {
        let Some((prometheus, gates)) = self.prometheus_for(Phase::Pre)? else {
            return Ok(());
        };
        let evaluations: Vec<Evaluation> = futures::future::join_all(
            gates
                .iter()
                .map(|gate| self.evaluate(prometheus, gate, color, query_time(gate))),
        )
        .await;
        let failed: Vec<String> = evaluations
            .iter()
            .filter(|e| !e.passed)
            .map(|e| format!("  {}", e.describe()))
            .collect();
        if failed.is_empty() {
            for evaluation in &evaluations {
                anstream::eprintln!("{}", evaluation.describe());
            }
            return Ok(());
        }
        Err(Refused(format!(
            "{what} is refused by its pre-promotion metric gates; nothing was changed:\n{}",
            failed.join("\n")
        ))
        .into())
    }

    /// Checks, before the switch, that the post-promotion gates can judge a watch of
    /// `duration`: a Prometheus is named and each gate fits at least one evaluation. With
    /// no watch, says that they will not be evaluated.
    pub fn check_watch(&self, watch: Option<Duration>) -> Result<()> {
        let Some(duration) = watch else {
            let names: Vec<&str> = self
                .of_phase(Phase::Post)
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            if !names.is_empty() {
                anstream::eprintln!(
                    "warning: the post-promotion metric gates ({}) are evaluated only with --watch DURATION",
                    names.join(", ")
                );
            }
            return Ok(());
        };
        let Some((_, gates)) = self.prometheus_for(Phase::Post)? else {
            return Ok(());
        };
        if let Some(gate) = gates.iter().find(|g| g.interval > duration) {
            bail!(
                "--watch {:#} is shorter than the interval of gate {} ({interval:#}), which could not be evaluated once; nothing was changed: watch at least {interval:#}",
                jiff::SignedDuration::try_from(duration).unwrap_or_default(),
                gate.name,
                interval = jiff::SignedDuration::try_from(gate.interval).unwrap_or_default(),
            );
        }
        Ok(())
    }

    /// Evaluates every post-promotion gate on `color` (the new live color) each interval,
    /// the first evaluation one interval after the switch, until `duration` has passed;
    /// returns why the first gate to fail failed, if one did.
    pub async fn first_failure(&self, color: &str, duration: Duration) -> Option<String> {
        let Ok(Some((prometheus, gates))) = self.prometheus_for(Phase::Post) else {
            // No gates (or none that can be evaluated, refused by check_watch): only the
            // readiness watch judges.
            tokio::time::sleep(duration).await;
            return None;
        };
        let start = Instant::now();
        let deadline = start + duration;
        let mut watches: FuturesUnordered<_> = gates
            .iter()
            .map(|gate| self.watch_gate(prometheus, gate, color, start, deadline))
            .collect();
        while let Some(outcome) = watches.next().await {
            if outcome.is_some() {
                return outcome;
            }
        }
        None
    }

    async fn watch_gate(
        &self,
        prometheus: &Prometheus,
        gate: &Gate,
        color: &str,
        start: Instant,
        deadline: Instant,
    ) -> Option<String> {
        let mut streak = Streak::new(gate.failure_limit);
        let mut ticks = tokio::time::interval_at(start + gate.interval, gate.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last: Option<Evaluation> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let evaluation = self
                .evaluate(prometheus, gate, color, query_time(gate).min(remaining))
                .await;
            // A query the watch's end cut short is no evidence either way.
            if !evaluation.passed && Instant::now() >= deadline {
                break;
            }
            let verdict = streak.record(evaluation.passed);
            let count = match verdict {
                Verdict::Passing => String::new(),
                Verdict::Failing { in_a_row, limit } => {
                    format!(" ({in_a_row} of {limit} in a row)")
                }
                Verdict::Failed { in_a_row } => format!(" ({in_a_row} in a row)"),
            };
            anstream::eprintln!("{}{count}", evaluation.describe());
            if let Verdict::Failed { in_a_row } = verdict {
                return Some(format!(
                    "{} failed: {}, {in_a_row} evaluation{} in a row",
                    evaluation.subject,
                    evaluation.outcome(),
                    if in_a_row == 1 { "" } else { "s" }
                ));
            }
            last = Some(evaluation);
        }
        match streak.at_end() {
            Verdict::Failed { .. } => Some(match last {
                Some(evaluation) => format!(
                    "{} never passed during the watch: last {}",
                    evaluation.subject,
                    evaluation.outcome()
                ),
                None => format!(
                    "gate {} ({}) on {color} was never evaluated during the watch",
                    gate.name, gate.origin
                ),
            }),
            _ => None,
        }
    }

    /// Every gate evaluated once now (pre-promotion gates on `idle`, post-promotion ones
    /// on `live`), for `status`; not evaluated when no Prometheus is named.
    pub async fn statuses(&self, live: &str, idle: &str) -> Vec<GateStatus> {
        let one = async |gate: &Gate| {
            let color = match gate.phase {
                Phase::Pre => idle,
                Phase::Post => live,
            };
            let (value, passes, detail) = match &self.prometheus {
                None => (
                    None,
                    None,
                    "not evaluated: no Prometheus named (--prometheus)".to_string(),
                ),
                Some(prometheus) => {
                    let evaluation = self
                        .evaluate(prometheus, gate, color, query_time(gate))
                        .await;
                    let value = match evaluation.measurement {
                        Measurement::Value(value) => Some(value),
                        _ => None,
                    };
                    (value, Some(evaluation.passed), evaluation.outcome())
                }
            };
            GateStatus {
                name: gate.name.clone(),
                origin: gate.origin.clone(),
                phase: gate.phase,
                color: color.to_string(),
                threshold: gate.threshold.to_string(),
                value,
                passes,
                detail,
            }
        };
        futures::future::join_all(self.gates.iter().map(one)).await
    }
}

/// How long one query of `gate` may take: its interval (evaluations never pile up), at
/// most [`MAX_QUERY_TIME`].
fn query_time(gate: &Gate) -> Duration {
    gate.interval.min(MAX_QUERY_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_short() {
        assert_eq!(show_value(0.25), "0.25");
        assert_eq!(show_value(1.0 / 3.0), "0.3333");
        assert_eq!(show_value(0.0), "0");
        assert_eq!(show_value(12.0), "12");
        assert_eq!(show_value(0.000_123_4), "1.234e-4");
    }
}
