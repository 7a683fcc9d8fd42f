//! WATCH: newline-delimited `{"type","object"}` events over a chunked response, resumable from a
//! resourceVersion, with bookmarks, streaming lists (`sendInitialEvents`) and `timeoutSeconds`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::read::filter;
use super::resources::ResourceType;
use super::response::{Reply, ReplyBody};
use super::route::Target;
use super::selector::ObjectFilter;
use super::status::{ApiError, ApiResult};
use super::store::{EventType, Store, StoredEvent};
use super::table::{Representation, partial_metadata};

/// How a watch request wants to start and end.
struct WatchRequest {
    since: Option<u64>,
    initial_events: bool,
    initial_events_end_bookmark: bool,
    bookmarks: bool,
    timeout: Option<Duration>,
}

impl WatchRequest {
    fn from_query(query: &HashMap<String, String>) -> ApiResult<Self> {
        let flag = |name: &str| matches!(query.get(name).map(String::as_str), Some("true" | "1"));
        let send_initial_events = flag("sendInitialEvents");
        let bookmarks = flag("allowWatchBookmarks");
        let resource_version = query.get("resourceVersion").filter(|rv| !rv.is_empty());
        let since =
            match resource_version.map(String::as_str) {
                None | Some("0") => None,
                Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?),
            };
        Ok(WatchRequest {
            // Without a resourceVersion (or with "0") the watch starts with the current state;
            // kube-apiserver 1.36 also ends it with the initial-events-end bookmark when no
            // resourceVersion was given.
            since: if send_initial_events { None } else { since },
            initial_events: send_initial_events || since.is_none(),
            initial_events_end_bookmark: bookmarks
                && (send_initial_events || resource_version.is_none()),
            bookmarks,
            timeout: query
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs),
        })
    }
}

pub fn watch(
    store: &Store,
    target: &Target,
    query: &HashMap<String, String>,
    representation: Representation,
) -> ApiResult<Reply> {
    let request = WatchRequest::from_query(query)?;
    let mut filter = filter(query)?;
    if let Some(name) = &target.name {
        filter.fields = super::selector::FieldSelector::parse(&format!("metadata.name={name}"))?;
    }
    let view = EventView {
        resource: target.resource,
        namespace: target.namespace.clone(),
        filter,
        representation,
    };
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    match store.start_watch(target.resource, target.namespace.as_deref(), request.since) {
        Err(oldest) => {
            let status = ApiError::expired(format!(
                "too old resource version: {} ({oldest})",
                request.since.unwrap_or_default()
            ))
            .status;
            let line = event_line("ERROR", &status);
            // The channel has room for one line; the stream then ends.
            let _ = sender.try_send(line);
        }
        Ok(start) => {
            tokio::spawn(stream_events(start, request, view, sender));
        }
    }
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|line| (Ok::<_, Infallible>(line), receiver))
    });
    Ok(Reply {
        code: StatusCode::OK,
        body: ReplyBody::Stream(Body::from_stream(body)),
        warnings: Vec::new(),
        headers: Vec::new(),
    })
}

/// Which events a watch sees, and how objects are shown.
struct EventView {
    resource: &'static ResourceType,
    namespace: Option<String>,
    filter: ObjectFilter,
    representation: Representation,
}

impl EventView {
    fn show(&self, object: &Value) -> Value {
        match self.representation {
            Representation::PartialObjectMetadata => partial_metadata(object),
            _ => object.clone(),
        }
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": resource_version.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, api_version) = match self.representation {
            Representation::PartialObjectMetadata => (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            ),
            _ => (self.resource.kind.to_string(), self.resource.api_version()),
        };
        event_line(
            "BOOKMARK",
            &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}),
        )
    }

    /// The line a stored event becomes for this watch, if any: an object entering or leaving
    /// the selection appears as ADDED or DELETED, like kube-apiserver's watch cache does it.
    fn line_for(&self, event: &StoredEvent) -> Option<Bytes> {
        if event.key.group != self.resource.group || event.key.plural != self.resource.plural {
            return None;
        }
        if self
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != event.key.namespace)
        {
            return None;
        }
        let matches = |o: &Option<Value>| o.as_ref().is_some_and(|o| self.filter.matches(o));
        let (was_in, is_in) = (matches(&event.old), matches(&event.new));
        let event_type = match event.event_type {
            EventType::Added if is_in => "ADDED",
            EventType::Modified if was_in && is_in => "MODIFIED",
            EventType::Modified if is_in => "ADDED",
            EventType::Modified if was_in => "DELETED",
            EventType::Deleted if was_in => "DELETED",
            _ => return None,
        };
        Some(event_line(event_type, &self.show(event.new.as_ref()?)))
    }
}

fn event_line(event_type: &str, object: &impl serde::Serialize) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":\"{event_type}\",\"object\":{}}}\n",
        serde_json::to_string(object).unwrap_or_default()
    ))
}

async fn stream_events(
    start: super::store::WatchStart,
    request: WatchRequest,
    view: EventView,
    sender: mpsc::Sender<Bytes>,
) {
    let deadline = request.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut lines = Vec::new();
    if request.initial_events {
        lines.extend(
            start
                .current
                .iter()
                .filter(|o| view.filter.matches(o))
                .map(|o| event_line("ADDED", &view.show(o))),
        );
        if request.initial_events_end_bookmark {
            lines.push(view.bookmark(start.resource_version, true));
        }
    }
    let mut last_seen = start.resource_version;
    for event in &start.replay {
        lines.extend(view.line_for(event));
        last_seen = last_seen.max(event.resource_version);
    }
    for line in lines {
        if sender.send(line).await.is_err() {
            return;
        }
    }

    let mut live = start.live;
    loop {
        let next = async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, live.recv()).await.ok(),
                None => Some(live.recv().await),
            }
        };
        match next.await {
            // Timed out: a last bookmark, then the server closes the stream.
            None => {
                if request.bookmarks {
                    let bookmark = view.bookmark(last_seen, false);
                    let _ = sender.send(bookmark).await;
                }
                return;
            }
            Some(Ok(event)) => {
                if event.resource_version <= last_seen {
                    continue;
                }
                last_seen = event.resource_version;
                if let Some(line) = view.line_for(&event)
                    && sender.send(line).await.is_err()
                {
                    return;
                }
            }
            // A watcher too slow for the event rate is closed; clients re-watch.
            Some(Err(
                broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed,
            )) => {
                return;
            }
        }
    }
}
