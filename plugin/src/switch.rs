//! The switch: one merge patch of the router, guarded by its resourceVersion, that
//! moves traffic to the idle color and records live-since, previous-color and the
//! history in the same write. Interrupting the plugin can never leave half a switch,
//! and a lost race is a 409 that is reported, never retried into a second switch.

use anyhow::{Context as _, Result, bail};
use gateway_api::apis::standard::httproutes::HttpRoute;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource as _, ResourceExt};
use policy::app::{RouterKind, RouterRef};
use policy::contract::HISTORY_ANNOTATION;
use policy::record;
use policy::{App, ColorSide, Router};
use serde_json::{Value, json};

use crate::api_error::{ApiCall, explain, is_conflict};
use crate::cluster::Cluster;

/// The field manager of every write the plugin makes.
pub const FIELD_MANAGER: &str = "kubectl-bluegreen";

/// The parameters of every patch the plugin sends: its field manager, and a
/// server-side dry run (the guard judges it without effect) when `dry_run`.
pub fn write_params(dry_run: bool) -> PatchParams {
    PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// A switch of an app's router to its idle color, ready to send.
#[derive(Debug, Clone)]
pub struct SwitchPlan {
    /// The router.
    pub router: RouterRef,
    /// The router's namespace.
    pub namespace: String,
    /// The color losing traffic.
    pub from: String,
    /// The color taking traffic.
    pub to: String,
    /// The router's resourceVersion as read: the switch's precondition.
    pub resource_version: String,
    /// The record annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The new routing: the whole selector, or the whole rules.
    pub spec: Value,
    /// Why the switch is made, when the plugin decided it (an automatic rollback): recorded
    /// in the history and the Event.
    pub reason: Option<String>,
}

impl SwitchPlan {
    /// The switch of `app` to its idle color at `now`, by `by`, for `reason` if given.
    pub fn new(
        app: &App<'_>,
        now: Timestamp,
        by: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Self> {
        let router = app.router.reference();
        let resource_version = match app.router {
            Router::Service(s) => s.resource_version(),
            Router::HttpRoute(r) => r.resource_version(),
        }
        .with_context(|| format!("{router} has no resourceVersion; read it from the API server"))?;
        let previous = record::read(app.router.annotations()).with_context(|| {
            format!(
                "{router}: annotation {HISTORY_ANNOTATION} is not the JSON the plugin writes; fix it or remove it (kubectl annotate {router} {HISTORY_ANNOTATION}-)"
            )
        })?;
        let annotations = record::of_switch(
            app,
            app.idle.color,
            previous,
            now,
            by,
            Some(FIELD_MANAGER),
            reason,
        );
        // The whole selector: a server-side apply owns it as one atomic map.
        let spec = match app.router {
            Router::Service(service) => {
                let mut selector = service
                    .spec
                    .as_ref()
                    .and_then(|spec| spec.selector.clone())
                    .unwrap_or_default();
                selector.insert(app.color_label.clone(), app.idle.color.to_string());
                json!({ "selector": selector })
            }
            Router::HttpRoute(route) => json!({"rules": switched_rules(route, app)?}),
        };
        Ok(SwitchPlan {
            router,
            namespace: app.namespace.clone(),
            from: app.live.color.to_string(),
            to: app.idle.color.to_string(),
            resource_version: resource_version.to_string(),
            annotations,
            spec,
            reason: reason.map(str::to_string),
        })
    }

    /// The merge patch: precondition, new routing, annotations.
    pub fn merge_patch(&self) -> Value {
        json!({
            "metadata": {
                "resourceVersion": self.resource_version,
                "annotations": self.annotations,
            },
            "spec": self.spec,
        })
    }

    /// The server-side apply configuration of the switch: the routing and the record,
    /// guarded by the resourceVersion as the merge patch is.
    pub fn apply_configuration(&self) -> Value {
        let (api_version, kind) = match self.router.kind {
            RouterKind::Service => ("v1", "Service"),
            RouterKind::HttpRoute => ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        };
        json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {
                "name": self.router.name,
                "namespace": self.namespace,
                "resourceVersion": self.resource_version,
                "annotations": self.annotations,
            },
            "spec": self.spec,
        })
    }

    /// Sends the switch (as a server-side dry run when `dry_run`, so the guard judges it
    /// without effect), then records a `Switched` Event on the router. `take_over`
    /// sends it as a forced server-side apply: the plugin becomes the owner of the
    /// switch field, taking it from the tool that owned it.
    pub async fn apply(&self, cluster: &Cluster, dry_run: bool, take_over: bool) -> Result<()> {
        let body = match take_over {
            true => self.apply_configuration(),
            false => self.merge_patch(),
        };
        let (params, patch) = match take_over {
            true => (
                PatchParams {
                    dry_run,
                    ..PatchParams::apply(FIELD_MANAGER).force()
                },
                Patch::Apply(&body),
            ),
            false => (write_params(dry_run), Patch::Merge(&body)),
        };
        let name = &self.router.name;
        let ns = Some(self.namespace.as_str());
        let (result, call) = match self.router.kind {
            RouterKind::Service => (
                cluster
                    .api::<Service>()
                    .patch(name, &params, &patch)
                    .await
                    .map(|s| s.object_ref(&())),
                ApiCall::new::<Service>("patch", ns, name),
            ),
            RouterKind::HttpRoute => (
                cluster
                    .api::<HttpRoute>()
                    .patch(name, &params, &patch)
                    .await
                    .map(|r| r.object_ref(&())),
                ApiCall::new::<HttpRoute>("patch", ns, name),
            ),
        };
        let regarding = match result {
            Ok(regarding) => regarding,
            Err(err) if is_conflict(&err) => bail!(
                "someone else changed {} since it was read; nothing was switched: re-run `kubectl bluegreen promote {} -n {}` to check the new state",
                self.router,
                self.router,
                self.namespace
            ),
            Err(err) => return Err(explain(err, &call)),
        };
        if !dry_run && let Err(err) = self.record_event(cluster, regarding).await {
            anstream::eprintln!(
                "warning: switched, but the Switched event was not recorded: {err:#}"
            );
        }
        Ok(())
    }

    async fn record_event(&self, cluster: &Cluster, regarding: ObjectReference) -> Result<()> {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_string(),
            // reportingInstance is then the tool's name, not the user's hostname.
            instance: None,
        };
        let (reason, note) = match &self.reason {
            None => (
                "Switched",
                format!(
                    "traffic switched from {} to {} by kubectl bluegreen",
                    self.from, self.to
                ),
            ),
            Some(why) => (
                "RolledBack",
                format!(
                    "traffic switched back from {} to {} by kubectl bluegreen: {why}",
                    self.from, self.to
                ),
            ),
        };
        let event = Event {
            type_: EventType::Normal,
            reason: reason.to_string(),
            // events.k8s.io keeps notes up to 1 kB.
            note: Some(truncated(note, 1024)),
            action: "Switch".to_string(),
            secondary: None,
        };
        Recorder::new(cluster.client.clone(), reporter)
            .publish(&event, &regarding)
            .await
            .map_err(|err| {
                explain(
                    err,
                    &ApiCall::new::<k8s_openapi::api::events::v1::Event>(
                        "create",
                        Some(&self.namespace),
                        &self.router.name,
                    ),
                )
            })?;
        Ok(())
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncated(mut text: String, max: usize) -> String {
    if text.len() > max {
        let end = (0..=max)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(end);
    }
    text
}

/// The route's rules with traffic moved from the live color's Service to the idle
/// one's: a rule naming only the live Service now names the idle one; a rule naming
/// both swaps their weights. The whole array is rewritten from the object just read
/// (a merge patch replaces arrays), which the resourceVersion precondition makes safe.
fn switched_rules(route: &HttpRoute, app: &App<'_>) -> Result<Value> {
    let service_name = |side: &ColorSide<'_>| side.service.map(|s| s.name_any());
    let (Some(from), Some(to)) = (service_name(&app.live), service_name(&app.idle)) else {
        bail!(
            "{}: a color has no Service of its own, so the route cannot be switched",
            app.router.reference()
        );
    };
    let namespace = route.namespace().unwrap_or_default();
    let mut rules = serde_json::to_value(&route.spec.rules)?;
    for rule in rules.as_array_mut().into_iter().flatten() {
        let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else {
            continue;
        };
        let names = |refs: &[Value], name: &str| -> Vec<usize> {
            refs.iter()
                .enumerate()
                .filter(|(_, r)| names_service(r, name, &namespace))
                .map(|(i, _)| i)
                .collect()
        };
        let (live_refs, idle_refs) = (names(refs, &from), names(refs, &to));
        if idle_refs.is_empty() {
            for i in live_refs {
                refs[i]["name"] = json!(to);
            }
            continue;
        }
        // An absent weight means 1 (Gateway API default).
        let weight = |i: Option<&usize>| {
            i.and_then(|&i| refs[i].get("weight"))
                .and_then(Value::as_i64)
                .unwrap_or(1)
        };
        let (live_weight, idle_weight) = (weight(live_refs.first()), weight(idle_refs.first()));
        for i in live_refs {
            refs[i]["weight"] = json!(idle_weight);
        }
        for i in idle_refs {
            refs[i]["weight"] = json!(live_weight);
        }
    }
    Ok(rules)
}

/// Whether a backendRef names the core Service `name` in the route's namespace.
fn names_service(backend_ref: &Value, name: &str, route_namespace: &str) -> bool {
    let field = |key: &str| backend_ref.get(key).and_then(Value::as_str);
    field("name") == Some(name)
        && field("group").is_none_or(str::is_empty)
        && field("kind").is_none_or(|k| k == "Service")
        && field("namespace").is_none_or(|ns| ns == route_namespace)
}

#[cfg(test)]
#[path = "switch_tests.rs"]
mod tests;
