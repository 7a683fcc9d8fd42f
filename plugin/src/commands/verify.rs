//! `verify APP`: smoke checks and warm-up traffic against the idle color through the
//! API server's proxy, before it takes real traffic. An HTTPRoute app's idle color has
//! its own Service (service proxy); a Service-router app's idle pods have none, so each
//! ready pod is asked through the pod proxy. On success the idle Deployment records
//! `bluegreen.dev/verified`: the verified pod template's hash and the time.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, bail};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::Patch;
use policy::contract::VERIFIED_ANNOTATION;
use policy::gate::Phase;
use policy::{App, ColorSide};
use serde::Serialize;
use serde_json::json;

use crate::api_error::{ApiCall, explain};
use crate::app_read::AppRead;
use crate::cli::{OutputFormat, VerifyArgs};
use crate::cluster::{Cluster, proxy_path};
use crate::exit::Outcome;
use crate::gates::Analysis;
use crate::output::{print_data, print_line};
use crate::switch::write_params;

/// The label the deployment controller gives each pod: its pod template's hash.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// One proxied request's result.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// What was asked: `service/app-green:http` or `pod/api-green-x:8080`.
    pub target: String,
    /// The HTTP status received, if any.
    pub status: Option<u16>,
    /// The start of the body or the error, when the status was not the expected one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `--analysis`: the pre-promotion gates on the idle color, now that it has had the
/// warm-up traffic; a failure refuses marking it verified.
async fn judge_gates(
    cluster: &Cluster,
    read: &AppRead,
    app: &App<'_>,
    args: &VerifyArgs,
) -> Result<()> {
    let policy = read.state.policy(&cluster.namespace)?;
    let analysis = Analysis::new(app, &policy, &args.prometheus, cluster)?;
    if !analysis.has(Phase::Pre) {
        anstream::eprintln!(
            "note: {} has no pre-promotion metric gates (phase: pre), so --analysis judged nothing",
            args.app.app
        );
        return Ok(());
    }
    let color = app.idle.color;
    analysis
        .before_switch(&format!("marking {color} verified"), color)
        .await
}

/// The idle color's targets: (description, proxy path). Its own Service when it has
/// one, else each of its `ready` pods.
fn targets(
    namespace: &str,
    side: &ColorSide<'_>,
    ready: &[Pod],
    args: &VerifyArgs,
) -> Result<Vec<(String, String)>> {
    if let Some(service) = side.service {
        let port = match &args.port {
            Some(port) => port.clone(),
            None => first_service_port(service).with_context(|| {
                format!("Service {} has no ports; pass --port", service.name_any())
            })?,
        };
        let name = service.name_any();
        return Ok(vec![(
            format!("service/{name}:{port}"),
            proxy_path(namespace, "services", &name, &port, &args.path),
        )]);
    }
    let port = match &args.port {
        Some(port) => port.clone(),
        None => first_container_port(side.deployment).with_context(|| {
            format!(
                "deployment/{} declares no container port; pass --port",
                side.deployment_name()
            )
        })?,
    };
    Ok(ready
        .iter()
        .map(|pod| {
            let name = pod.name_any();
            (
                format!("pod/{name}:{port}"),
                proxy_path(namespace, "pods", &name, &port, &args.path),
            )
        })
        .collect())
}

/// The pod template the ready pods run (their `pod-template-hash`), which is what gets
/// marked verified; an error while they run several (mid-rollout).
fn verified_template(deployment: &str, ready: &[Pod]) -> Result<Option<String>> {
    let hashes: BTreeSet<&str> = ready
        .iter()
        .filter_map(|pod| pod.labels().get(POD_TEMPLATE_HASH).map(String::as_str))
        .collect();
    if hashes.len() > 1 {
        bail!(
            "deployment/{deployment} is mid-rollout: its ready pods run {} pod templates; wait for the rollout (kubectl rollout status deployment/{deployment}), then verify",
            hashes.len()
        );
    }
    Ok(hashes.into_iter().next().map(str::to_string))
}

fn first_service_port(service: &Service) -> Option<String> {
    let port = service.spec.as_ref()?.ports.as_ref()?.first()?;
    Some(port.name.clone().unwrap_or_else(|| port.port.to_string()))
}

fn first_container_port(deployment: &Deployment) -> Option<String> {
    let pod = deployment.spec.as_ref()?.template.spec.as_ref()?;
    let port = pod
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .next()?;
    Some(port.container_port.to_string())
}

fn is_ready(pod: &Pod) -> bool {
    // A terminating pod is on its way out (the endpoints leave it out too), whatever it reports.
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
}

/// One GET through the proxy; the status and, when unexpected, the start of the body.
async fn probe(cluster: &Cluster, target: &str, path: &str, expect: u16) -> Result<Probe> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .context("building the proxy request")?;
    let (status, detail) = match cluster.client.send(request.map(Into::into)).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let detail = if status == expect {
                None
            } else {
                let body = response
                    .into_body()
                    .collect_bytes()
                    .await
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&body);
                Some(
                    text.chars()
                        .take(200)
                        .collect::<String>()
                        .trim()
                        .to_string(),
                )
            };
            (Some(status), detail)
        }
        Err(err) => (None, Some(err.to_string())),
    };
    Ok(Probe {
        target: target.to_string(),
        status,
        detail,
    })
}

/// `verify APP`.
pub async fn run(cluster: &Cluster, args: &VerifyArgs, format: OutputFormat) -> Result<Outcome> {
    let router = &args.app.app;
    let read = AppRead::load(cluster, router, false).await?;
    let snapshot = read.snapshot();
    let app = read.app(&snapshot)?;
    let side = app.idle;
    let name = side.deployment_name();
    let ready: Vec<Pod> = cluster
        .pods_of(side.deployment)
        .await?
        .into_iter()
        .filter(is_ready)
        .collect();
    if ready.is_empty() {
        bail!(
            "no ready pod of deployment/{name} ({}, idle) to verify; wait for it (kubectl bluegreen status {router}) or deploy again",
            side.color
        );
    }
    let template = verified_template(&name, &ready)?;
    let mut probes = Vec::new();
    for (target, path) in targets(&cluster.namespace, &side, &ready, args)? {
        for _ in 0..args.requests {
            probes.push(probe(cluster, &target, &path, args.expect).await?);
        }
    }
    let failed: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.status != Some(args.expect))
        .collect();
    if format != OutputFormat::Table {
        print_data(&probes, format)?;
    }
    if let Some(first) = failed.first() {
        anstream::eprintln!(
            "error: {} of {} requests to {} {} failed (expected HTTP {}): {} answered {}{}; {} was not marked verified: fix it and re-run verify, or deploy again",
            failed.len(),
            probes.len(),
            side.color,
            args.path,
            args.expect,
            first.target,
            first
                .status
                .map(|s| format!("HTTP {s}"))
                .unwrap_or_else(|| "nothing".into()),
            first
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            side.color,
        );
        return Ok(Outcome::Unhealthy);
    }
    if args.analysis {
        judge_gates(cluster, &read, &app, args).await?;
    }
    // The pod template's hash, not the generation: changing an annotation of a
    // Deployment bumps its generation, so this very write would outdate it.
    let verified = json!({
        "podTemplateHash": template,
        "time": Timestamp::now().to_string(),
    });
    let patch = json!({"metadata": {"annotations": {VERIFIED_ANNOTATION: verified.to_string()}}});
    cluster
        .api::<Deployment>()
        .patch(&name, &write_params(false), &Patch::Merge(&patch))
        .await
        .map_err(|err| {
            explain(
                err,
                &ApiCall::new::<Deployment>("patch", Some(&cluster.namespace), &name),
            )
        })?;
    if format == OutputFormat::Table {
        print_line(&format!(
            "{} passed {} requests to {} (HTTP {}); deployment/{name} is marked verified; next: kubectl bluegreen promote {router}",
            side.color,
            probes.len(),
            args.path,
            args.expect
        ))?;
    }
    Ok(Outcome::Success)
}
