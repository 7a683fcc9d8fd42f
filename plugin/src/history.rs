//! The switch history a router carries in `bluegreen.dev/history`: a JSON array of the
//! last [`MAX_SWITCHES`] switches, oldest first, bounded so the annotation stays small.

use std::collections::BTreeMap;

use jiff::Timestamp;
use policy::contract::HISTORY_ANNOTATION;
use serde::{Deserialize, Serialize};

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
}
