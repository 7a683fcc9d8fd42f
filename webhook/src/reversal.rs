//! Two writers fighting over a router: a switch that undoes another writer's switch
//! within the warm window ([`policy::record::reversal`]). The validating webhook allows
//! it (it may be a rollback) with a warning naming both writers; the server counts it
//! (`bluegreen_guard_switch_reversals_total`) and records a `SwitchReversed` Event on the
//! router, off the admission path.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use policy::record::Reversal;

use crate::admission::RouterObject;

/// The reason of the Event recorded on the router.
pub const REASON: &str = "SwitchReversed";

/// A reversal the guard allowed, with what its metric and its Event need.
#[derive(Clone, Debug)]
pub struct Reversed {
    /// The router's namespace.
    pub namespace: String,
    /// The router, as `svc/api`.
    pub router: String,
    /// The router, as the Event's `regarding`.
    pub regarding: ObjectReference,
    /// The warning, also the Event's note.
    pub message: String,
}

impl Reversed {
    /// The reversal `reversal` of `router` in `namespace`.
    pub fn new(namespace: &str, router: &RouterObject, reversal: &Reversal) -> Self {
        let reference = router.as_router().reference();
        Reversed {
            namespace: namespace.to_string(),
            router: reference.to_string(),
            regarding: router.object_ref(),
            message: reversal.message(&reference),
        }
    }
}

/// Records the `SwitchReversed` Event. A failure is only logged: the write was answered
/// already, and the warning and the metric carry the same news.
pub async fn publish(events: Recorder, reversed: Reversed) {
    let event = Event {
        type_: EventType::Warning,
        reason: REASON.to_string(),
        note: Some(reversed.message),
        action: "Switch".to_string(),
        secondary: None,
    };
    if let Err(err) = events.publish(&event, &reversed.regarding).await {
        tracing::warn!(
            error = %err,
            namespace = reversed.namespace,
            router = reversed.router,
            "the SwitchReversed event was not recorded"
        );
    }
}
