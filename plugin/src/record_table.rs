//! The record of switches a router carries ([`policy::record`]) as a table: what
//! `history` prints and `status` ends with.

use policy::record::Switch;

use crate::output::Table;

/// The table of switches, oldest first; a REASON column when a switch says why it was
/// made (an automatic rollback).
pub fn render(switches: &[Switch]) -> String {
    let with_reasons = switches.iter().any(|switch| switch.reason.is_some());
    let mut headers = vec!["TIME", "FROM", "TO", "BY", "IMAGES OF THE NEW LIVE COLOR"];
    if with_reasons {
        headers.push("REASON");
    }
    let mut table = Table::new(&headers);
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
        let mut row = vec![
            switch.time.to_string(),
            switch.from.clone(),
            switch.to.clone(),
            by,
            images,
        ];
        if with_reasons {
            row.push(switch.reason.clone().unwrap_or_else(|| "-".to_string()));
        }
        table.row(row);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use policy::record;

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

    #[test]
    fn an_automatic_rollback_says_why() {
        let objects = fixtures::objects();
        let snapshot = fixtures::snapshot(&objects, "shop");
        let app = fixtures::app(&snapshot, "svc/api");
        let mut switches = record::read(app.router.annotations()).unwrap();
        let last = switches.last().unwrap().clone();
        switches.push(Switch {
            from: last.to.clone(),
            to: last.from.clone(),
            reason: Some("gate error-rate (BlueGreenPolicy default) on green failed: value 0.2 fails its threshold < 0.05, 1 evaluation in a row".into()),
            ..last
        });
        let table = render(&switches);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].ends_with("  REASON"), "{table}");
        assert!(lines[1].ends_with("  -"), "{table}");
        assert!(
            lines.last().unwrap().ends_with("  gate error-rate (BlueGreenPolicy default) on green failed: value 0.2 fails its threshold < 0.05, 1 evaluation in a row"),
            "{table}"
        );
    }
}
