//! `promote --watch`: the new live color watched after the switch, so that a color that
//! degrades is rolled back.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::runtime::{WatchStreamExt, watcher};
use policy::ColorSide;

use crate::cluster::{Cluster, match_labels};
use crate::rollout::{check_watch_error, not_ready};

/// The color taking traffic, watched after the switch: its Deployment must stay fully
/// available and its pods must not restart.
pub struct Watched {
    deployment: String,
    color: String,
    selector: String,
    /// Restarts by pod before the switch; `None` when pods cannot be read (then only
    /// readiness is watched).
    restarts: Option<HashMap<String, i32>>,
}

impl Watched {
    /// Notes `side`'s pods' restart counts before the switch.
    pub async fn before_switch(cluster: &Cluster, side: &ColorSide<'_>) -> Self {
        let restarts = match cluster.pods_of(side.deployment).await {
            Ok(pods) => Some(
                pods.iter()
                    .map(|pod| (pod.name_any(), restart_count(pod)))
                    .collect(),
            ),
            Err(err) => {
                anstream::eprintln!("warning: container restarts are not watched: {err:#}");
                None
            }
        };
        Watched {
            deployment: side.deployment_name(),
            color: side.color.to_string(),
            selector: match_labels(side.deployment),
            restarts,
        }
    }

    /// Watches the Deployment and its pods (kube-runtime watches, so a change is seen
    /// when it happens) for `duration`; returns why the color degraded, if it did.
    pub async fn degradation(
        &self,
        cluster: &Cluster,
        duration: Duration,
    ) -> Result<Option<String>> {
        let name = &self.deployment;
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut deployments = watcher(cluster.api::<Deployment>(), config)
            .default_backoff()
            .applied_objects()
            .boxed();
        let mut pods = match &self.restarts {
            Some(_) => watcher(
                cluster.api::<Pod>(),
                watcher::Config::default().labels(&self.selector),
            )
            .default_backoff()
            .applied_objects()
            .boxed(),
            None => futures::stream::pending().boxed(),
        };
        let watching = async {
            loop {
                tokio::select! {
                    Some(event) = deployments.next() => match event {
                        Ok(deployment) => {
                            if let Some(finding) = not_ready(&deployment, &self.color) {
                                return Ok(Some(finding.message));
                            }
                        }
                        Err(err) => check_watch_error::<Deployment>(cluster, err)?,
                    },
                    Some(event) = pods.next() => match event {
                        Ok(pod) => {
                            if let Some(reason) = self.restarted(&pod) {
                                return Ok(Some(reason));
                            }
                        }
                        Err(err) => {
                            if let Err(err) = check_watch_error::<Pod>(cluster, err) {
                                anstream::eprintln!("warning: container restarts are not watched: {err:#}");
                                pods = futures::stream::pending().boxed();
                            }
                        }
                    },
                    else => bail!("the watch of deployment/{name} ended"),
                }
            }
        };
        match tokio::time::timeout(duration, watching).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Ok(None),
        }
    }

    /// Why `pod` counts as degraded: restarts since the switch.
    fn restarted(&self, pod: &Pod) -> Option<String> {
        let name = pod.name_any();
        let before = self.restarts.as_ref()?.get(&name).copied().unwrap_or(0);
        let since = restart_count(pod) - before;
        (since > 0).then(|| {
            format!(
                "its pod {name} restarted {since} time{} since the switch",
                if since == 1 { "" } else { "s" }
            )
        })
    }
}

/// The restarts of all of a pod's containers.
fn restart_count(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .sum()
}
