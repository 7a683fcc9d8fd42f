//! The bluegreen rule book.
//!
//! This crate is pure: it takes typed Kubernetes objects (from files, from the API, or
//! from an AdmissionReview), finds the blue-green [`App`]s among them, and evaluates the
//! rules BG001–BG010 into [`Finding`]s. It does no I/O, spawns nothing and reads no
//! clock: the caller hands in `now`, the requester and the image verification results,
//! so the plugin's pre-flight and the guard's admission decision are the same code.
//!
//! Data flows one way: objects → [`Snapshot`] → [`discover`] → [`App`] → rules →
//! [`Finding`]s.

pub mod app;
pub mod config_refs;
pub mod contract;
pub mod crd;
pub mod discovery;
pub mod duration;
pub mod finding;
pub mod gate;
pub mod images;
pub mod manifest;
pub mod record;
pub mod review;
pub mod rule;
pub mod rules;
pub mod snapshot;
pub mod yaml;

pub use app::{App, ColorSide, Router};
pub use crd::{BlueGreenPolicy, BlueGreenPolicySpec, Policy, PolicySet, Signers};
pub use discovery::{DiscoveryError, discover, discover_router, find_router};
pub use finding::{Finding, ObjectRef};
pub use images::{ImageVerdict, ImageVerdicts, RejectedSignature, Rejection, SignatureLayout};
pub use review::{Change, review};
pub use rule::{Action, RuleId};
pub use rules::{Context, Requester, check_app, check_switch};
pub use snapshot::{Object, PodLabelIndex, Snapshot};
