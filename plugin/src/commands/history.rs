//! `history APP`: the switches recorded on the router.

use anyhow::{Context as _, Result};

use crate::cli::{AppArgs, OutputFormat};
use crate::cluster::Cluster;
use crate::exit::Outcome;
use crate::output::{Table, print, print_data};
use policy::record::{self, Switch};

/// The table of switches, oldest first.
pub fn render(switches: &[Switch]) -> String {
    let mut table = Table::new(&["TIME", "FROM", "TO", "BY", "IMAGES OF THE NEW LIVE COLOR"]);
    for switch in switches {
        let images = switch
            .images
            .get(&switch.to)
            .map(|images| {
                images
                    .iter()
                    .map(|(container, image)| format!("{container}={image}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let by = switch.by.as_deref().unwrap_or("-");
        let by = match &switch.manager {
            Some(manager) => format!("{by} ({manager})"),
            None => by.to_string(),
        };
        table.row(vec![
            switch.time.to_string(),
            switch.from.clone(),
            switch.to.clone(),
            by,
            images,
        ]);
    }
    table.render()
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn history_table() {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, "shop");
        let app = fixtures::app(&snapshot, "svc/api");
        let switches = record::read(app.router.annotations()).unwrap();
        insta::assert_snapshot!(render(&switches));
    }
}
