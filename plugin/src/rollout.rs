//! Waiting for a color to be rolled out: a watch on its Deployment until it passes
//! BG001 (the same test the switch's pre-flight makes), with progress on stderr, an
//! updating line on a terminal and one line per change otherwise. Dropping the wait
//! (Ctrl-C, timeout) changes nothing in the cluster.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Patch;
use kube::runtime::{WatchStreamExt, watcher};
use policy::finding::{Findings, RuleId};
use policy::rules::ready_target;
use policy::{Action, ColorSide, Context, Finding, ImageVerdicts, Policy};

use crate::api_error::{ApiCall, explain};
use crate::cluster::Cluster;
use crate::exit::TimedOut;
use crate::switch::write_params;

/// Why `deployment` (running `color`) cannot take traffic yet, as BG001 says it;
/// `None` once it is fully rolled out and available.
pub fn not_ready(deployment: &Deployment, color: &str) -> Option<Finding> {
    // Waiting is about readiness whatever the policy enforces, so BG001 is always on here.
    let policy = Policy::default().with_action(RuleId::BG001, Action::Deny);
    let images = ImageVerdicts::new();
    let ctx = Context {
        policy: &policy,
        now: jiff::Timestamp::now(),
        requester: None,
        images: &images,
    };
    let side = ColorSide {
        color,
        deployment,
        service: None,
    };
    let mut findings = Findings::default();
    ready_target::evaluate(&side, &ctx, &mut findings);
    findings.into_vec().into_iter().next()
}

/// Sets a Deployment's replicas through its `scale` subresource. Idempotent, so it
/// needs no precondition; the guard judges it (BG008) like `kubectl scale`.
pub async fn scale(cluster: &Cluster, name: &str, replicas: i32) -> Result<()> {
    let patch = serde_json::json!({"spec": {"replicas": replicas}});
    cluster
        .api::<Deployment>()
        .patch_scale(name, &write_params(false), &Patch::Merge(&patch))
        .await
        .map_err(|err| {
            explain(
                err,
                &ApiCall::new::<Deployment>("patch", Some(&cluster.namespace), name)
                    .subresource("scale"),
            )
        })?;
    Ok(())
}

/// Waits until Deployment `name` of `color` is rolled out, at most `timeout`.
pub async fn wait(
    cluster: &Cluster,
    name: &str,
    color: &str,
    timeout: Duration,
) -> Result<Deployment> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut deployments = watcher(cluster.api::<Deployment>(), config)
        .default_backoff()
        .applied_objects()
        .boxed();
    let mut progress = Progress::new(name);
    let mut last_problem: Option<Finding> = None;
    let watching = async {
        while let Some(event) = deployments.next().await {
            match event {
                Ok(deployment) => {
                    progress.show(&deployment);
                    match not_ready(&deployment, color) {
                        None => return Ok(deployment),
                        Some(problem) => last_problem = Some(problem),
                    }
                }
                Err(err) => check_watch_error::<Deployment>(cluster, err)?,
            }
        }
        bail!("the watch of deployment/{name} ended")
    };
    let result = tokio::time::timeout(timeout, watching).await;
    progress.finish();
    match result {
        Ok(outcome) => outcome,
        Err(_) => {
            let seen = match &last_problem {
                Some(finding) => format!("{}; {}", finding.message, finding.fix),
                None => "no state of it was received from the API server".to_string(),
            };
            Err(TimedOut(format!(
                "deployment/{name} was not rolled out within {}: {seen}",
                jiff::SignedDuration::try_from(timeout)
                    .map(|d| format!("{d:#}"))
                    .unwrap_or_else(|_| format!("{timeout:?}"))
            ))
            .into())
        }
    }
}

/// Judges an error of a watch of `K` in the command's namespace: RBAC and a missing
/// resource do not heal by retrying and are returned, explained; anything else is
/// logged and the watch (with its backoff) carries on.
pub fn check_watch_error<K>(cluster: &Cluster, err: watcher::Error) -> Result<()>
where
    K: kube::Resource<DynamicType = ()>,
{
    match err {
        watcher::Error::InitialListFailed(err) | watcher::Error::WatchStartFailed(err) if matches!(&err, kube::Error::Api(s) if matches!(s.code, 401 | 403 | 404)) => {
            Err(explain(err, &ApiCall::list::<K>(Some(&cluster.namespace))))
        }
        err => {
            tracing::debug!("watching {}: {err}; retrying", K::plural(&()));
            Ok(())
        }
    }
}

/// Progress of a rollout on stderr.
struct Progress {
    name: String,
    terminal: bool,
    last: Option<String>,
}

impl Progress {
    fn new(name: &str) -> Self {
        Progress {
            name: name.to_string(),
            terminal: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn show(&mut self, deployment: &Deployment) {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let line = format!(
            "waiting for deployment/{}: {}/{desired} ready, {}/{desired} updated, {}/{desired} available",
            self.name,
            status.ready_replicas.unwrap_or(0),
            status.updated_replicas.unwrap_or(0),
            status.available_replicas.unwrap_or(0),
        );
        if self.last.as_ref() == Some(&line) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            // Rewrite one line in place: carriage return, then clear to the end.
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.last = Some(line);
    }

    fn finish(&self) {
        if self.terminal && self.last.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}
