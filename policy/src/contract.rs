//! The object contract: the labels and annotations bluegreen reads and writes.
//!
//! Every key lives under the `bluegreen.dev/` prefix so that it never collides with
//! the application's own metadata.

/// Label carried by every object of an app; the guard's webhook selects on it.
pub const APP_LABEL: &str = "bluegreen.dev/app";
/// Router annotation naming the pod label that tells the colors apart.
pub const COLOR_LABEL_ANNOTATION: &str = "bluegreen.dev/color-label";
/// The color label key when a router does not name one.
pub const DEFAULT_COLOR_LABEL: &str = "color";
/// Router annotation: when the current live color took traffic (RFC 3339).
pub const LIVE_SINCE_ANNOTATION: &str = "bluegreen.dev/live-since";
/// Router annotation: the color that was live before the last switch.
pub const PREVIOUS_COLOR_ANNOTATION: &str = "bluegreen.dev/previous-color";
/// Router annotation: bounded JSON history of the last switches.
pub const HISTORY_ANNOTATION: &str = "bluegreen.dev/history";
/// Deployment annotation written by `verify`: the verified pod-template hash and time.
pub const VERIFIED_ANNOTATION: &str = "bluegreen.dev/verified";
/// Router annotation: the app's own metric gates, a JSON list added to the policy's.
pub const GATES_ANNOTATION: &str = "bluegreen.dev/gates";
