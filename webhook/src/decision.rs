//! The admission decision: an AdmissionRequest in, an AdmissionResponse out, judged
//! by the `policy` rules against the cached state of the request's namespace. The
//! server and the offline `review` command share this code.

use std::sync::Arc;

use jiff::Timestamp;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};
use kube::core::response::StatusSummary;
use policy::{Action, Context, Finding, Requester};

use crate::admission::{OTHER_KIND, Subject, Unreadable};
use crate::cache::Cache;
use crate::config::Unsynced;
use crate::images::{ImageVerifier, NoImageVerification};

/// Where decisions get `now` from.
#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed instant (tests, offline reviews of past requests).
    Fixed(Timestamp),
}

impl Clock {
    fn now(self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => at,
        }
    }
}

/// The outcome of one review, as metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, nothing to say.
    Allow,
    /// Allowed with audit findings (logged, annotated, counted).
    Audit,
    /// Allowed with warnings for the requester.
    Warn,
    /// Refused by a rule.
    Deny,
    /// Answered before the caches synced (per `--unsynced`).
    Unsynced,
    /// Refused because the request could not be read.
    Unreadable,
}

impl Verdict {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Audit => "audit",
            Verdict::Warn => "warn",
            Verdict::Deny => "deny",
            Verdict::Unsynced => "unsynced",
            Verdict::Unreadable => "unreadable",
        }
    }
}

/// One decision: the response to send and what led to it.
#[derive(Debug)]
pub struct Decision {
    /// The response for the API server.
    pub response: AdmissionResponse,
    /// The overall outcome.
    pub verdict: Verdict,
    /// The kind judged (`Deployment`, `Scale`...), or `other`.
    pub kind: &'static str,
    /// Every finding with its action.
    pub findings: Vec<Finding>,
}

/// Decides admission reviews from a [`Cache`].
pub struct Guard {
    cache: Cache,
    unsynced: Unsynced,
    images: Arc<dyn ImageVerifier>,
    clock: Clock,
}

impl Guard {
    /// A guard reading `cache`, answering `unsynced` until it has synced, without
    /// image verification and on the system clock.
    pub fn new(cache: Cache, unsynced: Unsynced) -> Self {
        Guard {
            cache,
            unsynced,
            images: Arc::new(NoImageVerification::default()),
            clock: Clock::System,
        }
    }

    /// The same guard reading time from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same guard taking BG006 verdicts from `images`.
    pub fn with_image_verifier(mut self, images: Arc<dyn ImageVerifier>) -> Self {
        self.images = images;
        self
    }

    /// The cache decisions read.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Judges one request. Never fails: an unreadable request is refused with a reason.
    pub fn decide(&self, mut request: AdmissionRequest<DynamicObject>) -> Decision {
        let response = AdmissionResponse::from(&request);
        let subject = match Subject::take_from(&mut request) {
            Ok(Some(subject)) => subject,
            Ok(None) => return Decision::new(response, OTHER_KIND),
            Err(Unreadable(message)) => {
                return Decision {
                    response: refuse(response, 400, message),
                    verdict: Verdict::Unreadable,
                    kind: OTHER_KIND,
                    findings: Vec::new(),
                };
            }
        };
        let kind = subject.kind();
        if !self.cache.is_synced() {
            return self.answer_unsynced(response, kind);
        }
        let namespace = request.namespace.as_deref().unwrap_or("default");
        let requester = Requester {
            username: request.user_info.username.clone().unwrap_or_default(),
            groups: request.user_info.groups.clone().unwrap_or_default(),
        };
        let images = self.images.verdicts();
        let findings = {
            let index = self.cache.read();
            let snapshot = index.snapshot(namespace);
            match subject.change(&snapshot) {
                Some(change) => {
                    let policy = index.policy_for(namespace);
                    let context = Context {
                        policy: &policy,
                        now: self.clock.now(),
                        requester: Some(&requester),
                        images: &images,
                    };
                    policy::review(&change, &snapshot, &context)
                }
                None => Vec::new(),
            }
        };
        Decision::from_findings(response, kind, findings)
    }

    fn answer_unsynced(&self, response: AdmissionResponse, kind: &'static str) -> Decision {
        let response = match self.unsynced {
            Unsynced::Allow => response,
            Unsynced::Deny => {
                let kinds: Vec<&str> = self
                    .cache
                    .syncing_kinds()
                    .into_iter()
                    .map(|kind| kind.plural())
                    .collect();
                refuse(
                    response,
                    503,
                    format!(
                        "bluegreen-guard is starting and its caches are still syncing ({}), so it cannot judge this write yet; retry in a few seconds",
                        kinds.join(", ")
                    ),
                )
            }
        };
        Decision {
            response,
            verdict: Verdict::Unsynced,
            kind,
            findings: Vec::new(),
        }
    }
}

impl Decision {
    fn new(response: AdmissionResponse, kind: &'static str) -> Self {
        Decision {
            response,
            verdict: Verdict::Allow,
            kind,
            findings: Vec::new(),
        }
    }

    /// Deny findings refuse the write with all their lines; warn findings become
    /// warnings (sent even with a refusal); audit findings become audit annotations.
    fn from_findings(
        mut response: AdmissionResponse,
        kind: &'static str,
        findings: Vec<Finding>,
    ) -> Self {
        let lines = |action: Action| -> Vec<String> {
            findings
                .iter()
                .filter(|f| f.action == action)
                .map(ToString::to_string)
                .collect()
        };
        let (denials, warnings) = (lines(Action::Deny), lines(Action::Warn));
        let audited = findings.iter().filter(|f| f.action == Action::Audit);
        for finding in audited.clone() {
            let key = format!("{}-{}", finding.rule, finding.rule.name()).to_lowercase();
            let line = finding.to_string();
            response
                .audit_annotations
                .entry(key)
                .and_modify(|text| {
                    text.push('\n');
                    text.push_str(&line);
                })
                .or_insert(line);
        }
        let verdict = if !denials.is_empty() {
            Verdict::Deny
        } else if !warnings.is_empty() {
            Verdict::Warn
        } else if audited.count() > 0 {
            Verdict::Audit
        } else {
            Verdict::Allow
        };
        if !warnings.is_empty() {
            response.warnings = Some(warnings);
        }
        if !denials.is_empty() {
            response = refuse(response, 403, denials.join("\n"));
        }
        Decision {
            response,
            verdict,
            kind,
            findings,
        }
    }
}

/// A refusal with the HTTP status code the API server passes on to the requester.
fn refuse(response: AdmissionResponse, code: u16, message: String) -> AdmissionResponse {
    let mut response = response.deny(message);
    response.result.status = Some(StatusSummary::Failure);
    response.result.code = code;
    response
}
