//! `history APP`: the switches recorded on the router.

use anyhow::{Context as _, Result};

use crate::cli::{AppArgs, OutputFormat};
use crate::cluster::Cluster;
use crate::exit::Outcome;
use crate::output::{print, print_data};
use crate::record_table::render;
use policy::record;

/// `history APP`.
pub async fn run(cluster: &Cluster, args: &AppArgs, format: OutputFormat) -> Result<Outcome> {
    let annotations = cluster.router_annotations(&args.app).await?;
    let switches = record::read(&annotations)
        .with_context(|| format!("{}: the history annotation is not valid JSON", args.app))?;
    match format {
        OutputFormat::Table if switches.is_empty() => print(&format!(
            "No switches recorded on {} yet; `kubectl bluegreen promote {}` records one.\n",
            args.app, args.app
        ))?,
        OutputFormat::Table => print(&render(&switches))?,
        format => print_data(&switches, format)?,
    }
    Ok(Outcome::Success)
}
