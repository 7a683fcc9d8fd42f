//! `list [-A]`: every app of the namespace (or cluster), its router, live color,
//! images and health.

use anyhow::Result;
use jiff::Timestamp;
use policy::{Context, discover};
use serde::Serialize;

use crate::app_status::AppStatus;
use crate::cli::{ListArgs, OutputFormat};
use crate::cluster::{Cluster, ClusterState, Routes, Scope};
use crate::exit::Outcome;
use crate::output::{Table, Tone, print, print_data, styled};

/// One row of `list`: an app's status, or why it could not be understood.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Listed {
    /// An app.
    App(Box<AppStatus>),
    /// A router whose app could not be resolved.
    Broken {
        /// Namespace.
        namespace: String,
        /// The router, when known.
        router: String,
        /// Why.
        error: String,
    },
}

/// Every app in what was read.
pub fn list_apps(state: &ClusterState, now: Timestamp) -> Result<Vec<Listed>> {
    let images = crate::check::offline_verdicts(&state.objects);
    let mut listed = Vec::new();
    for snapshot in state.snapshots() {
        let policy = state.policy(&snapshot.namespace)?;
        let ctx = Context {
            policy: &policy,
            now,
            requester: None,
            images: &images,
        };
        for result in discover(&snapshot) {
            listed.push(match result {
                Ok(app) => Listed::App(Box::new(AppStatus::new(&app, &snapshot, &ctx))),
                Err(err) => Listed::Broken {
                    namespace: snapshot.namespace.clone(),
                    router: err.router().map(ToString::to_string).unwrap_or_default(),
                    error: err.to_string(),
                },
            });
        }
    }
    Ok(listed)
}

/// The table people read.
pub fn render(listed: &[Listed]) -> String {
    let mut table = Table::new(&[
        "NAMESPACE",
        "APP",
        "LIVE",
        "LIVE IMAGES",
        "IDLE",
        "IDLE IMAGES",
        "IDLE READY",
        "OWNER",
        "HEALTH",
    ]);
    for entry in listed {
        table.row(match entry {
            Listed::App(status) => vec![
                status.namespace.clone(),
                status.router.clone(),
                status.live.color.clone(),
                status.live.images_text(),
                status.idle.color.clone(),
                status.idle.images_text(),
                format!("{}/{}", status.idle.ready, status.idle.desired),
                status.owner.clone().unwrap_or_else(|| "-".into()),
                status.health_text(),
            ],
            Listed::Broken {
                namespace,
                router,
                error,
            } => vec![
                namespace.clone(),
                router.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("{}: {error}", styled("error", Tone::Bad)),
            ],
        });
    }
    table.render()
}

/// `list [-A]`.
pub async fn run(cluster: &Cluster, args: &ListArgs, format: OutputFormat) -> Result<Outcome> {
    let scope = if args.all_namespaces {
        Scope::AllNamespaces
    } else {
        Scope::Namespace
    };
    let state = cluster.read(scope, Routes::IfInstalled).await?;
    state.print_warnings();
    let listed = list_apps(&state, Timestamp::now())?;
    match format {
        OutputFormat::Table if listed.is_empty() => {
            let place = match scope {
                Scope::Namespace => format!("namespace {}", cluster.namespace),
                Scope::AllNamespaces => "any namespace".to_string(),
            };
            print(&format!(
                "No blue-green apps in {place}; `kubectl bluegreen init svc/NAME` adopts one.\n"
            ))?
        }
        OutputFormat::Table => print(&render(&listed))?,
        format => print_data(&listed, format)?,
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn list_table_across_namespaces() {
        let state = ClusterState {
            objects: fixtures::objects(),
            ..ClusterState::default()
        };
        let listed = list_apps(&state, fixtures::now()).unwrap();
        insta::assert_snapshot!(fixtures::plain(&render(&listed)));
    }
}
