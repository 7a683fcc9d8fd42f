//! The mutating webhook (`POST /mutate`): the record of every switch on its router
//! (`live-since`, `previous-color`, `history`), whoever makes it, so that BG008 keeps the
//! previous color warm after a `helm upgrade --set liveColor=green` as after the plugin's
//! promote, and a tool that does not know the record cannot drop it. What to record is
//! [`policy::record::after_write`]; this module turns it into the JSONPatch the API server
//! applies before the validating webhooks judge the object.

use std::collections::BTreeMap;

use base64::Engine as _;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use kube::core::admission::AdmissionResponse;
use serde_json::{Value, json};

use crate::admission::{Review, RouterObject, Subject};
use crate::decision::Guard;

/// The mutating webhook's answer: always allowed, with the record's patch when the
/// write needs one.
#[derive(Debug)]
pub struct Recorded {
    /// The response, echoing the request's uid.
    pub response: AdmissionResponse,
    /// The JSONPatch setting the record, if any.
    pub patch: Option<Patch>,
}

impl Recorded {
    /// The AdmissionReview to send back. The patch goes as base64 text, as
    /// kube-apiserver documents it and every webhook sends it (kube's own
    /// `AdmissionResponse` would serialize it as an array of numbers).
    pub fn into_json(self) -> Vec<u8> {
        let mut review = serde_json::to_value(self.response.into_review())
            .expect("an AdmissionReview always serializes");
        if let (Some(patch), Some(response)) = (self.patch, review.get_mut("response")) {
            let text = serde_json::to_vec(&patch).expect("a JSONPatch always serializes");
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
        serde_json::to_vec(&review).expect("an AdmissionReview always serializes")
    }
}

impl Guard {
    /// The mutating webhook's answer: the record the write must carry, as a JSONPatch,
    /// or no patch. Never refuses: judging is the validating webhook's job, which sees
    /// the patched object. A write it cannot read, or a guard whose caches have not
    /// synced, gets no patch (and the validating webhook's answer).
    pub fn record(&self, review: Review) -> Recorded {
        let Review {
            response,
            namespace,
            user_info,
            field_manager,
            subject,
            ..
        } = review;
        let patch = match subject {
            Ok(Some(Subject::Router {
                old,
                new: Some(new),
            })) if self.cache().is_synced() => self.record_patch(
                old.as_ref(),
                &new,
                namespace.as_deref().unwrap_or("default"),
                user_info.username.as_deref().unwrap_or_default(),
                field_manager.as_deref(),
            ),
            _ => None,
        };
        Recorded { response, patch }
    }

    /// The JSONPatch setting the record a router write must carry, if any.
    fn record_patch(
        &self,
        old: Option<&RouterObject>,
        new: &RouterObject,
        namespace: &str,
        user: &str,
        manager: Option<&str>,
    ) -> Option<Patch> {
        let annotations = {
            let index = self.cache().read();
            let snapshot = index.snapshot(namespace);
            policy::record::after_write(
                old.map(RouterObject::as_router),
                new.as_router(),
                &snapshot,
                user,
                manager,
                self.now(),
            )
        };
        if annotations.is_empty() {
            return None;
        }
        tracing::info!(
            namespace,
            router = %new.as_router().reference(),
            user,
            record = ?annotations.keys().collect::<Vec<_>>(),
            "switch record written"
        );
        let has_annotations = match new {
            RouterObject::Service(service) => service.metadata.annotations.is_some(),
            RouterObject::HttpRoute(route) => route.metadata.annotations.is_some(),
        };
        Some(annotations_patch(has_annotations, annotations))
    }
}

/// `add` operations setting `annotations` on an object, which may have none yet (an
/// `add` below a missing map would fail the whole write).
fn annotations_patch(has_annotations: bool, annotations: BTreeMap<String, String>) -> Patch {
    let parent = PointerBuf::from_tokens(["metadata", "annotations"]);
    let add = |path: PointerBuf, value: Value| PatchOperation::Add(AddOperation { path, value });
    if !has_annotations {
        let all = annotations
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect();
        return Patch(vec![add(parent, Value::Object(all))]);
    }
    Patch(
        annotations
            .into_iter()
            .map(|(key, value)| {
                let mut path = parent.clone();
                path.push_back(key.as_str());
                add(path, Value::String(value))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped_and_a_missing_map_is_added_whole() {
        let annotations = BTreeMap::from([(
            "bluegreen.dev/previous-color".to_string(),
            "blue".to_string(),
        )]);
        assert_eq!(
            serde_json::to_value(annotations_patch(true, annotations.clone())).unwrap(),
            serde_json::json!([{"op": "add", "path": "/metadata/annotations/bluegreen.dev~1previous-color", "value": "blue"}])
        );
        assert_eq!(
            serde_json::to_value(annotations_patch(false, annotations)).unwrap(),
            serde_json::json!([{"op": "add", "path": "/metadata/annotations", "value": {"bluegreen.dev/previous-color": "blue"}}])
        );
    }
}
