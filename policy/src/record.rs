//! The record of switches a router carries: `bluegreen.dev/live-since`,
//! `bluegreen.dev/previous-color`, and in `bluegreen.dev/history` a JSON array of the last
//! [`MAX_SWITCHES`] switches, oldest first, bounded so the annotation stays small. BG008
//! reads it, so every switch must write it, whoever makes it: the plugin writes it with its
//! switch, and the guard's mutating webhook ([`after_write`]) for every other writer.
//! The guard also reads it to see two writers fighting over a router ([`reversal`]).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::app::{App, ColorSide, Router, RouterRef};
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
    /// The tool that switched: the write's field manager (`kubectl-bluegreen`, `helm`,
    /// `argocd-controller`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Why the switch was made, when its writer says: an automatic rollback names the gate
    /// or the degradation that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Switch {
    /// Whether `other` was made by the same writer: the same user, through the same tool
    /// when both name theirs. An entry naming no user was made by an unknown writer.
    fn same_writer(&self, other: &Switch) -> bool {
        self.by.is_some()
            && self.by == other.by
            && (self.manager.is_none() || other.manager.is_none() || self.manager == other.manager)
    }

    /// The writer as messages name it.
    fn writer(&self) -> String {
        let user = self.by.as_deref().unwrap_or("an unrecorded writer");
        match &self.manager {
            Some(manager) => format!("{user} (field manager {manager})"),
            None => user.to_string(),
        }
    }
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

/// The record annotations of a switch of `app` (as it stood) to `to` at `now` by `by`
/// through field manager `manager` (for `reason`, when given), appended to `history`.
pub fn of_switch(
    app: &App<'_>,
    to: &str,
    history: Vec<Switch>,
    now: Timestamp,
    by: Option<&str>,
    manager: Option<&str>,
    reason: Option<&str>,
) -> BTreeMap<String, String> {
    let history = append(
        history,
        Switch {
            time: now,
            from: app.live.color.to_string(),
            to: to.to_string(),
            images: app_images(app),
            by: by.map(str::to_string),
            manager: manager.map(str::to_string),
            reason: reason.map(str::to_string),
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
///   warm window (BG008) and a history entry naming them and their field manager
///   (`manager`, when the request has one). A writer that records its own switch (the
///   plugin) is left alone, so a switch is recorded once, unless its `live-since` is not
///   about now: then the guard's record replaces it.
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
    manager: Option<&str>,
    now: Timestamp,
) -> BTreeMap<String, String> {
    // An HTTPRoute's color Service carries no record: its route does.
    if !discovery::is_router(snapshot, &old.unwrap_or(new)) {
        return BTreeMap::new();
    }
    let stored = old.map(|router| router.annotations());
    let written = new.annotations();
    let Some((from, to)) = switch_made(old, new, snapshot) else {
        return kept(stored, written);
    };
    // A writer's own record counts only if it says when the switch happens: a `live-since`
    // far from now would move the warm window (one in the past would open it at once).
    let writer_since = written
        .get(LIVE_SINCE_ANNOTATION)
        .and_then(|since| since.parse::<Timestamp>().ok());
    let recorded_by_writer = written.get(PREVIOUS_COLOR_ANNOTATION).map(String::as_str)
        == Some(from.live.color)
        && written.get(LIVE_SINCE_ANNOTATION) != stored.and_then(|s| s.get(LIVE_SINCE_ANNOTATION))
        && writer_since.is_some_and(|since| now.duration_since(since).abs() <= WRITER_CLOCK_SKEW);
    if recorded_by_writer {
        return BTreeMap::new();
    }
    let history = read(stored.unwrap_or(written)).unwrap_or_default();
    of_switch(&from, to, history, now, Some(by), manager, None)
}

/// The switch a router write makes: the app as it stood before and the color taking
/// traffic, or `None` when the live color stays. A router created over a color that
/// already serves switches from that color.
fn switch_made<'a>(
    old: Option<Router<'a>>,
    new: Router<'a>,
    snapshot: &Snapshot<'a>,
) -> Option<(App<'a>, &'a str)> {
    let after = discovery::resolve(snapshot, new).ok()?;
    match old {
        Some(old) => {
            let before = discovery::resolve(snapshot, old).ok()?;
            (before.live.color != after.live.color).then_some((before, after.live.color))
        }
        None if after.idle.has_available_pods() => {
            let to = after.live.color;
            let from = App {
                live: after.idle,
                idle: after.live,
                ..after
            };
            Some((from, to))
        }
        None => None,
    }
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

/// A switch that undoes the last recorded one, made by another writer while that one's
/// warm window is open: two owners of the router (the plugin and Helm, a person and Argo
/// CD's self-heal) switching traffic back and forth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    /// The last recorded switch, which this one undoes.
    pub undone: Switch,
    /// The switch undoing it.
    pub undoing: Switch,
}

impl Reversal {
    /// The time between the two switches, in whole seconds (none if the clocks disagree).
    pub fn after(&self) -> SignedDuration {
        let after = self.undoing.time.duration_since(self.undone.time);
        SignedDuration::from_secs(after.as_secs().max(0))
    }

    /// The warning the writer gets, one line.
    pub fn message(&self, router: &RouterRef) -> String {
        format!(
            "{router}: this switch to {} by {} undoes the switch to {} by {} {:#} ago; two writers are switching traffic back and forth: switch through one owner (kubectl bluegreen history {router} lists who switched)",
            self.undoing.to,
            self.undoing.writer(),
            self.undone.to,
            self.undone.writer(),
            self.after(),
        )
    }
}

/// Whether `next` undoes the last switch of `history` (from X to Y, then from Y back to
/// X) by another writer within `window` of it. The same writer switching back is a
/// rollback, and a switch after the window a new decision: neither is reported.
pub fn reversal(history: &[Switch], next: &Switch, window: SignedDuration) -> Option<Reversal> {
    let last = history.last()?;
    let undoes = last.from == next.to && last.to == next.from;
    let within = last
        .time
        .checked_add(window)
        .is_ok_and(|until| next.time < until);
    (undoes && within && !last.same_writer(next)).then(|| Reversal {
        undone: last.clone(),
        undoing: next.clone(),
    })
}

/// The [`reversal`] an update of a router from `old` to `new` makes, by `by` through
/// `manager`, with BG008's warm `window`. The switch happens at the `live-since` the
/// write records for it (the mutating webhook's, or its writer's own if about now), else
/// at `now`, so that the time reported is the one the history shows.
pub fn reversal_of_write(
    old: Router<'_>,
    new: Router<'_>,
    snapshot: &Snapshot<'_>,
    by: &str,
    manager: Option<&str>,
    now: Timestamp,
    window: SignedDuration,
) -> Option<Reversal> {
    // A router without a history has nothing to undo: no need to resolve its app.
    let history = read(old.annotations()).ok().filter(|h| !h.is_empty())?;
    let (from, to) = switch_made(Some(old), new, snapshot)?;
    let since = |router: Router<'_>| {
        router
            .annotations()
            .get(LIVE_SINCE_ANNOTATION)
            .and_then(|since| since.parse::<Timestamp>().ok())
    };
    let time = since(new)
        .filter(|recorded| {
            since(old) != Some(*recorded)
                && now.duration_since(*recorded).abs() <= WRITER_CLOCK_SKEW
        })
        .unwrap_or(now);
    let next = Switch {
        time,
        from: from.live.color.to_string(),
        to: to.to_string(),
        images: BTreeMap::new(),
        by: Some(by.to_string()),
        manager: manager.map(str::to_string),
        reason: None,
    };
    reversal(&history, &next, window)
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
            manager: None,
            reason: None,
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
            manager: Some("kubectl-bluegreen".into()),
            ..switch(0)
        };
        let text = serde_json::to_string(std::slice::from_ref(&entry)).unwrap();
        assert_eq!(
            text,
            r#"[{"time":"2023-11-14T22:13:20Z","from":"blue","to":"green","images":{"green":{"api":"reg/api:2"}},"by":"system:serviceaccount:ci:deployer","manager":"kubectl-bluegreen"}]"#
        );
        let annotations = BTreeMap::from([(HISTORY_ANNOTATION.to_string(), text.clone())]);
        assert_eq!(read(&annotations).unwrap(), std::slice::from_ref(&entry));
        // Written before switches named their field manager.
        let older = text.replace(r#","manager":"kubectl-bluegreen""#, "");
        let annotations = BTreeMap::from([(HISTORY_ANNOTATION.to_string(), older)]);
        let without_manager = Switch {
            manager: None,
            ..entry
        };
        assert_eq!(read(&annotations).unwrap(), [without_manager]);
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
                Some("argocd-controller"),
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
                    history[0].by.as_deref(),
                    history[0].manager.as_deref()
                ),
                ("blue", "green", Some("argocd"), Some("argocd-controller"))
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
                None,
                now(),
            );
            assert!(record.is_empty(), "{record:?}");
        }
    }

    mod reversal {
        use jiff::SignedDuration;
        use serde_json::json;

        use super::super::*;
        use crate::rules::fixtures::{Fixture, service};

        const CI: &str = "system:serviceaccount:ci:deployer";
        const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";
        const WINDOW: SignedDuration = SignedDuration::from_mins(30);

        fn at(time: &str) -> Timestamp {
            format!("2026-11-22T{time}Z").parse().unwrap()
        }

        /// A switch at `time` from `from` to `to` by `by` through `manager`.
        fn switch(time: &str, (from, to): (&str, &str), by: &str, manager: &str) -> Switch {
            Switch {
                time: at(time),
                from: from.into(),
                to: to.into(),
                images: BTreeMap::new(),
                by: Some(by.into()),
                manager: Some(manager.into()),
                reason: None,
            }
        }

        /// The plugin's promote to green at 12:00.
        fn promoted() -> Vec<Switch> {
            vec![
                switch("11:00:00", ("green", "blue"), CI, "kubectl-bluegreen"),
                switch("12:00:00", ("blue", "green"), CI, "kubectl-bluegreen"),
            ]
        }

        #[test]
        fn a_switch_back_by_another_writer_within_the_window_is_a_reversal() {
            let back = switch("12:02:10", ("green", "blue"), ARGOCD, "argocd-controller");
            let found = reversal(&promoted(), &back, WINDOW).expect("a reversal");
            assert_eq!(found.undone, promoted()[1]);
            assert_eq!(found.undoing, back);
            assert_eq!(found.after(), SignedDuration::from_secs(130));
            assert_eq!(
                found.message(&"svc/api".parse().unwrap()),
                "svc/api: this switch to blue by system:serviceaccount:argocd:argocd-application-controller (field manager argocd-controller) undoes the switch to green by system:serviceaccount:ci:deployer (field manager kubectl-bluegreen) 2m 10s ago; two writers are switching traffic back and forth: switch through one owner (kubectl bluegreen history svc/api lists who switched)"
            );
        }

        #[test]
        fn the_same_user_through_another_tool_is_another_writer() {
            // The plugin's promote, then Helm's next upgrade from the same CI account.
            let helm = switch("12:00:30", ("green", "blue"), CI, "helm");
            assert!(reversal(&promoted(), &helm, WINDOW).is_some());
            // A write that names no field manager may be the same tool.
            let unnamed = Switch {
                manager: None,
                ..helm
            };
            assert_eq!(reversal(&promoted(), &unnamed, WINDOW), None);
        }

        #[test]
        fn a_switch_by_an_unrecorded_writer_is_undone_by_anyone_else() {
            let mut history = promoted();
            history[1].by = None;
            history[1].manager = None;
            let back = switch("12:00:05", ("green", "blue"), CI, "kubectl-bluegreen");
            let found = reversal(&history, &back, WINDOW).expect("a reversal");
            assert_eq!(
                found.message(&"svc/api".parse().unwrap()),
                "svc/api: this switch to blue by system:serviceaccount:ci:deployer (field manager kubectl-bluegreen) undoes the switch to green by an unrecorded writer 5s ago; two writers are switching traffic back and forth: switch through one owner (kubectl bluegreen history svc/api lists who switched)"
            );
        }

        #[test]
        fn the_same_writer_switching_back_is_a_rollback() {
            let rollback = switch("12:01:00", ("green", "blue"), CI, "kubectl-bluegreen");
            assert_eq!(reversal(&promoted(), &rollback, WINDOW), None);
        }

        #[test]
        fn a_switch_back_after_the_window_is_a_new_decision() {
            let late = switch("12:30:00", ("green", "blue"), ARGOCD, "argocd-controller");
            assert_eq!(reversal(&promoted(), &late, WINDOW), None);
            let just_in = switch("12:29:59", ("green", "blue"), ARGOCD, "argocd-controller");
            assert!(reversal(&promoted(), &just_in, WINDOW).is_some());
        }

        #[test]
        fn a_switch_to_a_third_color_undoes_nothing() {
            let forward = switch("12:01:00", ("green", "canary"), ARGOCD, "argocd-controller");
            assert_eq!(reversal(&promoted(), &forward, WINDOW), None);
            // Nor does a switch from a color the record does not show live.
            let stale = switch("12:01:00", ("canary", "blue"), ARGOCD, "argocd-controller");
            assert_eq!(reversal(&promoted(), &stale, WINDOW), None);
        }

        #[test]
        fn without_history_there_is_nothing_to_undo() {
            let back = switch("12:01:00", ("green", "blue"), ARGOCD, "argocd-controller");
            assert_eq!(reversal(&[], &back, WINDOW), None);
        }

        /// The Service app with blue live, switched there from green at 12:00 by the
        /// plugin, and the same Service switched back to green, recording `live-since`.
        fn written(live_since: Option<&str>) -> (Fixture, k8s_openapi::api::core::v1::Service) {
            let history = serde_json::to_string(&[switch(
                "12:00:00",
                ("green", "blue"),
                CI,
                "kubectl-bluegreen",
            )])
            .unwrap();
            let fixture = Fixture::service_app()
                .with_router_annotation(LIVE_SINCE_ANNOTATION, "2026-11-22T12:00:00Z")
                .with_router_annotation(HISTORY_ANNOTATION, &history);
            let mut switched = service("api", json!({"app": "api", "color": "green"}));
            if let Some(since) = live_since {
                switched.metadata.annotations = Some(BTreeMap::from([(
                    LIVE_SINCE_ANNOTATION.into(),
                    since.into(),
                )]));
            }
            (fixture, switched)
        }

        #[test]
        fn a_router_write_switching_back_is_judged_at_the_time_it_records() {
            for (recorded, expected) in [
                (None, "12:05:00"),
                (Some("2026-11-22T12:04:59Z"), "12:04:59"),
                // A writer's own record far from now does not count.
                (Some("2000-01-01T00:00:00Z"), "12:05:00"),
            ] {
                let (fixture, switched) = written(recorded);
                let snapshot = fixture.snapshot();
                let old = Router::Service(snapshot.services[0]);
                let found = reversal_of_write(
                    old,
                    Router::Service(&switched),
                    &snapshot,
                    ARGOCD,
                    Some("argocd-controller"),
                    at("12:05:00"),
                    WINDOW,
                )
                .expect("a reversal");
                assert_eq!(found.undoing.time, at(expected), "{recorded:?}");
                assert_eq!(
                    (found.undoing.from.as_str(), found.undoing.to.as_str()),
                    ("blue", "green")
                );
                // Not a switch: nothing undone.
                let unchanged =
                    reversal_of_write(old, old, &snapshot, ARGOCD, None, at("12:05:00"), WINDOW);
                assert_eq!(unchanged, None);
            }
        }
    }
}
