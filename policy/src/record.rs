//! The record of switches a router carries: `bluegreen.dev/live-since`,
//! `bluegreen.dev/previous-color`, and in `bluegreen.dev/history` a JSON array of the last
//! [`MAX_SWITCHES`] switches, oldest first, bounded so the annotation stays small. BG008
//! reads it, so every switch must write it, whoever makes it: the plugin writes it with its
//! switch, and the guard's mutating webhook ([`after_write`]) for every other writer.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::app::{App, ColorSide, Router};
use crate::contract::{HISTORY_ANNOTATION, LIVE_SINCE_ANNOTATION, PREVIOUS_COLOR_ANNOTATION};
use crate::discovery;
use crate::snapshot::Snapshot;

/// How many switches the annotation keeps.
pub const MAX_SWITCHES: usize = 10;

/// Container name → image, for one color.
pub type Images = BTreeMap<String, String>;

/// One recorded switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switch {
    /// When traffic moved.
    pub time: Timestamp,
    /// The color that was live.
    pub from: String,
    /// The color that took traffic.
    pub to: String,
    /// Each color's images at the time, by color.
    #[serde(default)]
    pub images: BTreeMap<String, Images>,
    /// Who switched, as the API server authenticated them, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The recorded switches, oldest first. A malformed annotation (edited by hand) is
/// an error naming it, so that nobody silently loses the history.
pub fn read(annotations: &BTreeMap<String, String>) -> Result<Vec<Switch>, serde_json::Error> {
    match annotations.get(HISTORY_ANNOTATION) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text),
    }
}

/// The history with `switch` appended, keeping only the last [`MAX_SWITCHES`].
pub fn append(mut history: Vec<Switch>, switch: Switch) -> Vec<Switch> {
    history.push(switch);
    let excess = history.len().saturating_sub(MAX_SWITCHES);
    history.drain(..excess);
    history
}

/// How far a writer's `live-since` may be from the guard's clock for its own record of a
/// switch to stand: machines' clocks differ by seconds, not minutes.
const WRITER_CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(2);

/// The router annotations that make up the record.
const RECORD_ANNOTATIONS: [&str; 3] = [
    LIVE_SINCE_ANNOTATION,
    PREVIOUS_COLOR_ANNOTATION,
    HISTORY_ANNOTATION,
];

/// Each color's images, by color: what a history entry keeps of an app.
fn app_images(app: &App<'_>) -> BTreeMap<String, Images> {
    [&app.live, &app.idle]
        .into_iter()
        .map(side_images)
        .collect()
}

fn side_images(side: &ColorSide<'_>) -> (String, Images) {
    let images = side
        .images()
        .into_iter()
        .map(|(container, image)| (container.to_string(), image.to_string()))
        .collect();
    (side.color.to_string(), images)
}

/// The record annotations of a switch of `app` (as it stood) to `to` at `now` by `by`,
/// appended to `history`.
pub fn of_switch(
    app: &App<'_>,
    to: &str,
    history: Vec<Switch>,
    now: Timestamp,
    by: Option<&str>,
) -> BTreeMap<String, String> {
    let history = append(
        history,
        Switch {
            time: now,
            from: app.live.color.to_string(),
            to: to.to_string(),
            images: app_images(app),
            by: by.map(str::to_string),
        },
    );
    BTreeMap::from([
        (LIVE_SINCE_ANNOTATION.to_string(), now.to_string()),
        (
            PREVIOUS_COLOR_ANNOTATION.to_string(),
            app.live.color.to_string(),
        ),
        (
            HISTORY_ANNOTATION.to_string(),
            serde_json::to_string(&history).expect("a history always serializes"),
        ),
    ])
}

/// The record annotations a router write must carry, as the guard's mutating webhook
/// sets them: empty when the write needs none.
///
/// - A switch (the live color changes) not recorded by its writer is recorded: whoever
///   makes it (`helm upgrade --set liveColor=green`, `kubectl patch`, Argo CD) gets the
///   warm window (BG008) and a history entry naming them. A writer that records its own
///   switch (the plugin) is left alone, so a switch is recorded once, unless its
///   `live-since` is not about now: then the guard's record replaces it.
/// - A router created over a color that already serves is a switch from that color.
/// - Any other write keeps the stored record: a tool that does not know it (`kubectl
///   replace`, an Argo CD sync with Replace) cannot drop or rewrite it, which would
///   reopen the warm window.
///
/// An unreadable stored history (edited by hand) is started afresh with this switch.
pub fn after_write(
    old: Option<Router<'_>>,
    new: Router<'_>,
    snapshot: &Snapshot<'_>,
    by: &str,
    now: Timestamp,
) -> BTreeMap<String, String> {
    // An HTTPRoute's color Service carries no record: its route does.
    if !discovery::is_router(snapshot, &old.unwrap_or(new)) {
        return BTreeMap::new();
    }
    let stored = old.map(|router| router.annotations());
    let written = new.annotations();
    let before = old.and_then(|router| discovery::resolve(snapshot, router).ok());
    let after = discovery::resolve(snapshot, new).ok();
    let switched = match (&before, &after) {
        (Some(before), Some(after)) if before.live.color != after.live.color => {
            Some((before, after.live.color))
        }
        (None, Some(after)) if old.is_none() && after.idle.has_available_pods() => {
            Some((after, after.live.color))
        }
        _ => None,
    };
    let Some((app, to)) = switched else {
        return kept(stored, written);
    };
    // A writer's own record counts only if it says when the switch happens: a `live-since`
    // far from now would move the warm window (one in the past would open it at once).
    let writer_since = written
        .get(LIVE_SINCE_ANNOTATION)
        .and_then(|since| since.parse::<Timestamp>().ok());
    let recorded_by_writer = written.get(PREVIOUS_COLOR_ANNOTATION).map(String::as_str)
        == Some(app.live.color)
        && written.get(LIVE_SINCE_ANNOTATION) != stored.and_then(|s| s.get(LIVE_SINCE_ANNOTATION))
        && writer_since.is_some_and(|since| now.duration_since(since).abs() <= WRITER_CLOCK_SKEW);
    if recorded_by_writer {
        return BTreeMap::new();
    }
    let history = read(stored.unwrap_or(written)).unwrap_or_default();
    // A router created over a serving color switches from that color.
    let from = match old {
        Some(_) => app.clone(),
        None => App {
            live: app.idle,
            idle: app.live,
            ..app.clone()
        },
    };
    of_switch(&from, to, history, now, Some(by))
}

/// The stored record where the write drops or changes it.
fn kept(
    stored: Option<&BTreeMap<String, String>>,
    written: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let Some(stored) = stored else {
        return BTreeMap::new();
    };
    RECORD_ANNOTATIONS
        .iter()
        .filter_map(|key| {
            let value = stored.get(*key)?;
            (written.get(*key) != Some(value)).then(|| (key.to_string(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch(n: i64) -> Switch {
        Switch {
            time: Timestamp::from_second(1_700_000_000 + n).unwrap(),
            from: "blue".into(),
            to: "green".into(),
            images: BTreeMap::new(),
            by: None,
        }
    }

    #[test]
    fn history_keeps_the_last_ten_switches() {
        let mut history = Vec::new();
        for n in 0..13 {
            history = append(history, switch(n));
        }
        assert_eq!(history.len(), MAX_SWITCHES);
        assert_eq!(history.first(), Some(&switch(3)));
        assert_eq!(history.last(), Some(&switch(12)));
    }

    #[test]
    fn the_annotation_round_trips_and_bad_json_is_reported() {
        let entry = Switch {
            images: BTreeMap::from([(
                "green".to_string(),
                Images::from([("api".to_string(), "reg/api:2".to_string())]),
            )]),
            by: Some("system:serviceaccount:ci:deployer".into()),
            ..switch(0)
        };
        let text = serde_json::to_string(std::slice::from_ref(&entry)).unwrap();
        assert_eq!(
            text,
            r#"[{"time":"2023-11-14T22:13:20Z","from":"blue","to":"green","images":{"green":{"api":"reg/api:2"}},"by":"system:serviceaccount:ci:deployer"}]"#
        );
        let annotations = BTreeMap::from([(HISTORY_ANNOTATION.to_string(), text)]);
        assert_eq!(read(&annotations).unwrap(), [entry]);
        let broken = BTreeMap::from([(HISTORY_ANNOTATION.to_string(), "[{".to_string())]);
        assert!(read(&broken).is_err());
        assert!(read(&BTreeMap::new()).unwrap().is_empty());
    }

    mod after_write {
        use serde_json::json;

        use super::super::*;
        use crate::rules::fixtures::{Fixture, route};

        fn now() -> Timestamp {
            "2026-11-22T12:00:00Z".parse().unwrap()
        }

        #[test]
        fn a_route_switch_by_anyone_is_recorded() {
            let fixture = Fixture::route_app();
            let snapshot = fixture.snapshot();
            let old = snapshot.routes[0];
            let switched = route("myapp", json!([{"name": "app-green", "port": 80}]));
            let record = after_write(
                Some(Router::HttpRoute(old)),
                Router::HttpRoute(&switched),
                &snapshot,
                "argocd",
                now(),
            );
            assert_eq!(record[LIVE_SINCE_ANNOTATION], "2026-11-22T12:00:00Z");
            assert_eq!(record[PREVIOUS_COLOR_ANNOTATION], "blue");
            let history = read(&record).unwrap();
            assert_eq!(history.len(), 1);
            assert_eq!(
                (
                    history[0].from.as_str(),
                    history[0].to.as_str(),
                    history[0].by.as_deref()
                ),
                ("blue", "green", Some("argocd"))
            );
        }

        #[test]
        fn a_write_that_changes_nothing_of_the_record_needs_none() {
            let fixture = Fixture::route_app();
            let snapshot = fixture.snapshot();
            let old = snapshot.routes[0];
            let record = after_write(
                Some(Router::HttpRoute(old)),
                Router::HttpRoute(old),
                &snapshot,
                "argocd",
                now(),
            );
            assert!(record.is_empty(), "{record:?}");
        }
    }
}
