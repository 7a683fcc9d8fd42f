//! The record of switches a router carries ([`policy::record`]) as a table: what
//! `history` prints and `status` ends with.

use policy::record::Switch;

use crate::output::Table;

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
}
