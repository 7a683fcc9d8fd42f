//! The admission decision: an AdmissionRequest in, an AdmissionResponse out, judged
//! by the `policy` rules against the cached state of the request's namespace. The
//! server and the offline `review` command share this code.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::core::admission::AdmissionResponse;
use kube::core::response::StatusSummary;
use policy::app::deployment_images;
use policy::contract::APP_LABEL;
use policy::{Action, BlueGreenPolicy, Context, Finding, Policy, Requester, Snapshot};

use crate::admission::{OTHER_KIND, Review, Subject, Unreadable};
use crate::cache::{Cache, Cached};
use crate::config::Unsynced;
use crate::images::{ImageOutcome, ImageVerifier, NoImageVerification, WantedImages};
use crate::reversal::Reversed;

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
    /// Refused because of a BlueGreenPolicy the guard cannot use: the one written, or
    /// one that could be in force for the write judged.
    InvalidPolicy,
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
            Verdict::InvalidPolicy => "invalid_policy",
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
    /// The BG006 verdicts used, and how they were obtained.
    pub images: ImageOutcome,
    /// The switch this write undoes, by another writer within the warm window; none
    /// for a dry run (it switches nothing) or a refused write.
    pub reversal: Option<Reversed>,
}

/// A request read and ready to judge.
struct Pending {
    response: AdmissionResponse,
    subject: Subject,
    kind: &'static str,
    namespace: String,
    requester: Requester,
    /// The request's field manager.
    manager: Option<String>,
    dry_run: bool,
    policy: Arc<Policy>,
    /// The images BG006 needs verdicts for, when the policy enforces it.
    images: Option<WantedImages>,
}

#[allow(clippy::large_enum_variant)] // one per request, moved once
enum Prepared {
    /// Answered without the rules (other kinds, unreadable, unsynced).
    Done(Decision),
    /// To be judged by the rules.
    Judge(Pending),
}

/// The images BG006 will judge for this write: the written Deployment's (those its
/// write introduces apart), or for a router, those of its app's Deployments (by the
/// `bluegreen.dev/app` label every object of an app carries). Scales and
/// NetworkPolicies are not judged by BG006.
fn wanted_images(subject: &Subject, snapshot: &Snapshot<'_>) -> WantedImages {
    let mut wanted = WantedImages::default();
    match subject {
        Subject::Deployment {
            old,
            new: Some(new),
        } => {
            let before: BTreeSet<&str> = old.as_deref().into_iter().flat_map(pod_images).collect();
            for image in pod_images(new) {
                let set = if before.contains(image) {
                    &mut wanted.standing
                } else {
                    &mut wanted.introduced
                };
                set.insert(image.to_string());
            }
        }
        Subject::Router { old, new } => {
            let app = new
                .iter()
                .chain(old)
                .find_map(|router| router.as_router().labels().get(APP_LABEL));
            if let Some(app) = app {
                let of_app = snapshot
                    .deployments
                    .iter()
                    .filter(|d| d.labels().get(APP_LABEL) == Some(app));
                wanted.standing = of_app
                    .flat_map(|d| pod_images(d))
                    .map(str::to_string)
                    .collect();
            }
        }
        _ => {}
    }
    wanted
}

/// Every image of a Deployment's pod template, init containers included; a container
/// without one has nothing to verify.
fn pod_images(deployment: &Deployment) -> impl Iterator<Item = &str> {
    deployment_images(deployment)
        .into_iter()
        .map(|(_, image)| image)
        .filter(|image| !image.is_empty())
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
            images: Arc::new(NoImageVerification),
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

    /// The time decisions are made at.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Judges one request from what is known now, without I/O: image verdicts only
    /// from the verifier's cache (offline reviews, benchmarks). Never fails: an
    /// unreadable request is refused with a reason.
    pub fn decide(&self, review: Review) -> Decision {
        match self.prepare(review) {
            Prepared::Done(decision) => decision,
            Prepared::Judge(pending) => {
                let images = match &pending.images {
                    Some(wanted) => self.images.cached(wanted, pending.policy.signers()),
                    None => ImageOutcome::default(),
                };
                self.judge(pending, images)
            }
        }
    }

    /// Judges one request as the server does: images the write introduces (and pinned
    /// images whose verdict is not cached) are verified first, within the verifier's
    /// budget, when the policy in force enforces BG006. Never fails.
    pub async fn review(&self, review: Review) -> Decision {
        match self.prepare(review) {
            Prepared::Done(decision) => decision,
            Prepared::Judge(pending) => {
                let images = match &pending.images {
                    Some(wanted) => self.images.verify(wanted, pending.policy.signers()).await,
                    None => ImageOutcome::default(),
                };
                self.judge(pending, images)
            }
        }
    }

    /// Reads the request and picks the policy in force, or answers at once.
    fn prepare(&self, review: Review) -> Prepared {
        let Review {
            response,
            namespace,
            user_info,
            field_manager,
            dry_run,
            subject,
            ..
        } = review;
        let subject = match subject {
            Ok(Some(subject)) => subject,
            Ok(None) => {
                return Prepared::Done(Decision::without_rules(
                    response,
                    Verdict::Allow,
                    OTHER_KIND,
                ));
            }
            Err(Unreadable(message)) => {
                return Prepared::Done(Decision::without_rules(
                    refuse(response, 400, message),
                    Verdict::Unreadable,
                    OTHER_KIND,
                ));
            }
        };
        let kind = subject.kind();
        if let Subject::Policy { new } = &subject {
            // Needs no cluster state, so it is answered even before the caches sync.
            return Prepared::Done(check_policy(response, new.as_deref(), kind));
        }
        if !self.cache.is_synced() {
            return Prepared::Done(self.answer_unsynced(response, kind));
        }
        let namespace = namespace.unwrap_or_else(|| "default".to_string());
        let requester = Requester {
            username: user_info.username.unwrap_or_default(),
            groups: user_info.groups.unwrap_or_default(),
        };
        let (policy, images) = {
            let index = self.cache.read();
            let policy = match index.policy_for(&namespace) {
                Ok(policy) => policy,
                Err(err) => {
                    let message = format!(
                        "{err}. Until it is fixed or deleted, bluegreen-guard refuses the writes it judges in namespace {namespace} rather than judge them without the guardrails it sets"
                    );
                    return Prepared::Done(Decision::without_rules(
                        refuse(response, 403, message),
                        Verdict::InvalidPolicy,
                        kind,
                    ));
                }
            };
            let images = policy
                .verifies_images()
                .then(|| wanted_images(&subject, &index.snapshot(&namespace)))
                .filter(|wanted| !wanted.is_empty());
            (policy, images)
        };
        Prepared::Judge(Pending {
            response,
            subject,
            kind,
            namespace,
            requester,
            manager: field_manager,
            dry_run,
            policy,
            images,
        })
    }

    /// Runs the rules on a prepared request with the image verdicts obtained for it.
    fn judge(&self, pending: Pending, images: ImageOutcome) -> Decision {
        let Pending {
            response,
            subject,
            kind,
            namespace,
            requester,
            manager,
            dry_run,
            policy,
            ..
        } = pending;
        let now = self.now();
        let (findings, reversal) = {
            let index = self.cache.read();
            let snapshot = index.snapshot(&namespace);
            let findings = match subject.change(&snapshot) {
                Some(change) => {
                    let context = Context {
                        policy: &policy,
                        now,
                        requester: Some(&requester),
                        images: &images.verdicts,
                    };
                    policy::review(&change, &snapshot, &context)
                }
                None => Vec::new(),
            };
            let reversal = match &subject {
                Subject::Router {
                    old: Some(old),
                    new: Some(new),
                } => policy::record::reversal_of_write(
                    old.as_router(),
                    new.as_router(),
                    &snapshot,
                    &requester.username,
                    manager.as_deref(),
                    now,
                    policy.warm_window,
                )
                .map(|reversal| Reversed::new(&namespace, new, &reversal)),
                _ => None,
            };
            (findings, reversal)
        };
        let mut decision = Decision::from_findings(response, kind, findings);
        decision.images = images;
        if let Some(reversal) = reversal {
            decision.warn_of_reversal(reversal, dry_run);
        }
        decision
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
        Decision::without_rules(response, Verdict::Unsynced, kind)
    }
}

impl Decision {
    /// A decision answered before the rules run: no findings, no image verdicts.
    fn without_rules(response: AdmissionResponse, verdict: Verdict, kind: &'static str) -> Self {
        Decision {
            response,
            verdict,
            kind,
            findings: Vec::new(),
            images: ImageOutcome::default(),
            reversal: None,
        }
    }

    /// Warns the writer of a switch that undoes another writer's. Allowed, since it may be
    /// a rollback; a refused write undoes nothing.
    fn warn_of_reversal(&mut self, reversal: Reversed, dry_run: bool) {
        if !self.response.allowed {
            return;
        }
        self.response
            .warnings
            .get_or_insert_default()
            .push(reversal.message.clone());
        if matches!(self.verdict, Verdict::Allow | Verdict::Audit) {
            self.verdict = Verdict::Warn;
        }
        // A dry run is warned, but switches nothing to count or record.
        if !dry_run {
            self.reversal = Some(reversal);
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
            images: ImageOutcome::default(),
            reversal: None,
        }
    }
}

/// A BlueGreenPolicy write: refused (422, as kube-apiserver answers an invalid object)
/// when the guard could not use the policy, so that its author hears it from
/// `kubectl apply` instead of from the next switch it would refuse.
fn check_policy(
    response: AdmissionResponse,
    policy: Option<&BlueGreenPolicy>,
    kind: &'static str,
) -> Decision {
    match policy.and_then(Cached::problem) {
        None => Decision::without_rules(response, Verdict::Allow, kind),
        Some(problem) => {
            Decision::without_rules(refuse(response, 422, problem), Verdict::InvalidPolicy, kind)
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
