//! Prometheus metrics: reviews by kind, operation and decision, findings by rule and
//! action, decision latency, cache sizes, the serving certificate's expiry, BG006
//! image verifications by verdict and verification cache hits, and switches that undid
//! another writer's by router.

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::cache::{Cache, CacheKind};
use crate::decision::Decision;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    kind: &'static str,
    operation: &'static str,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    kind: &'static str,
    operation: &'static str,
    rule: String,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerificationLabels {
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouterLabels {
    namespace: String,
    router: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    resource: &'static str,
}

/// The decision histogram's bucket bounds: 5 µs to ~80 ms in steps of √2. Decisions
/// take tens of microseconds; the steps are fine enough to tell a p99 under 1 ms
/// (≤ 905 µs) from one over it, which doubling steps put in one bucket (640–1280 µs).
pub fn decision_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(5e-6, std::f64::consts::SQRT_2, 29)
}

/// The guard's metrics, registered once and shared by every request.
pub struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    findings: Family<FindingLabels, Counter>,
    decision_seconds: Histogram,
    cache_objects: Family<CacheLabels, Gauge>,
    cache_synced: Family<CacheLabels, Gauge>,
    certificate_expiry: Gauge,
    image_verifications: Family<VerificationLabels, Counter>,
    image_cache_hits: Counter,
    switch_reversals: Family<RouterLabels, Counter>,
    panics: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("bluegreen_guard");
        let reviews = Family::default();
        registry.register(
            "reviews",
            "AdmissionReviews answered, by kind, operation and decision",
            reviews.clone(),
        );
        let findings = Family::default();
        registry.register(
            "findings",
            "Rule findings in answered reviews, by kind, operation, rule and action",
            findings.clone(),
        );
        let decision_seconds = Histogram::new(decision_buckets());
        registry.register(
            "decision_duration_seconds",
            "Time to answer one review: reading its request body and deciding",
            decision_seconds.clone(),
        );
        let cache_objects = Family::default();
        registry.register(
            "cache_objects",
            "Objects held in the guard's cache, by resource",
            cache_objects.clone(),
        );
        let cache_synced = Family::default();
        registry.register(
            "cache_synced",
            "1 once the resource's initial list is in the cache",
            cache_synced.clone(),
        );
        let certificate_expiry = Gauge::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate, in Unix seconds",
            certificate_expiry.clone(),
        );
        let image_verifications = Family::default();
        registry.register(
            "image_verifications",
            "BG006 image verifications against a registry, by verdict",
            image_verifications.clone(),
        );
        let image_cache_hits = Counter::default();
        registry.register(
            "image_cache_hits",
            "BG006 image verdicts answered from the verification cache",
            image_cache_hits.clone(),
        );
        let switch_reversals = Family::default();
        registry.register(
            "switch_reversals",
            "Switches that undid another writer's switch within the warm window (two writers fighting over the router), by namespace and router",
            switch_reversals.clone(),
        );
        registry.register_collector(Box::new(DroppedLogLines));
        let panics = Counter::default();
        registry.register(
            "panics",
            "Admission requests whose handler panicked (answered 500); each one is a bug",
            panics.clone(),
        );
        Metrics {
            registry,
            reviews,
            findings,
            decision_seconds,
            cache_objects,
            cache_synced,
            certificate_expiry,
            image_verifications,
            image_cache_hits,
            switch_reversals,
            panics,
        }
    }
}

impl Metrics {
    /// Counts a request whose handler panicked.
    pub fn record_panic(&self) {
        self.panics.inc();
    }

    /// Counts one decision and its duration.
    pub fn record(&self, operation: &'static str, decision: &Decision, took: Duration) {
        self.reviews
            .get_or_create(&ReviewLabels {
                kind: decision.kind,
                operation,
                decision: decision.verdict.label(),
            })
            .inc();
        for finding in &decision.findings {
            self.findings
                .get_or_create(&FindingLabels {
                    kind: decision.kind,
                    operation,
                    rule: finding.rule.to_string(),
                    action: action_label(finding.action),
                })
                .inc();
        }
        for &verdict in &decision.images.verified {
            self.image_verifications
                .get_or_create(&VerificationLabels { verdict })
                .inc();
        }
        self.image_cache_hits
            .inc_by(decision.images.cache_hits as u64);
        if let Some(reversal) = &decision.reversal {
            self.switch_reversals
                .get_or_create(&RouterLabels {
                    namespace: reversal.namespace.clone(),
                    router: reversal.router.clone(),
                })
                .inc();
        }
        self.decision_seconds.observe(took.as_secs_f64());
    }

    /// Records the serving certificate's expiry.
    pub fn set_certificate_expiry(&self, not_after_unix: i64) {
        self.certificate_expiry.set(not_after_unix);
    }

    /// The Prometheus text exposition, with cache gauges read from `cache` now.
    pub fn render(&self, cache: &Cache) -> String {
        let syncing = cache.syncing_kinds();
        {
            let index = cache.read();
            for kind in CacheKind::ALL {
                let labels = CacheLabels {
                    resource: kind.plural(),
                };
                let count = i64::try_from(index.count(kind)).unwrap_or(i64::MAX);
                self.cache_objects.get_or_create(&labels).set(count);
                self.cache_synced
                    .get_or_create(&labels)
                    .set(i64::from(!syncing.contains(&kind)));
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// `bluegreen_guard_log_lines_dropped_total`, read from the log writer at each scrape.
#[derive(Debug)]
struct DroppedLogLines;

impl Collector for DroppedLogLines {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(crate::logging::dropped_lines());
        let metric = encoder.encode_descriptor(
            "log_lines_dropped",
            "Log lines dropped, not waited for, because the log's reader was behind",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)
    }
}

fn action_label(action: policy::Action) -> &'static str {
    match action {
        policy::Action::Deny => "deny",
        policy::Action::Warn => "warn",
        policy::Action::Audit => "audit",
        policy::Action::Off => "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_buckets_tell_a_p99_under_a_millisecond_from_one_over() {
        let bounds: Vec<f64> = decision_buckets().collect();
        let under = bounds.iter().rev().find(|&&b| b < 1e-3).unwrap();
        let over = bounds.iter().find(|&&b| b > 1e-3).unwrap();
        assert!(*under > 0.9e-3 && *over < 1.3e-3, "{under} {over}");
        assert!(bounds[0] <= 5e-6 && *bounds.last().unwrap() >= 80e-3);
    }
}
