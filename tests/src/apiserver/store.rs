//! Object storage: JSON objects keyed by resource, namespace and name, one global
//! resourceVersion counter (like etcd's revision), and the event history watches replay.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

use super::object;
use super::resources::ResourceType;

/// How many past events a watch can resume from before it gets `410 Expired`.
const HISTORY_LIMIT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: &'static str,
    pub plural: &'static str,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(resource: &'static ResourceType, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            group: resource.group,
            plural: resource.plural,
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }

    fn is_of(&self, resource: &ResourceType) -> bool {
        self.group == resource.group && self.plural == resource.plural
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One committed change, with the object before and after it (selector-filtered watches need both).
#[derive(Debug)]
pub struct StoredEvent {
    pub resource_version: u64,
    pub event_type: EventType,
    pub key: ObjectKey,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

#[derive(Debug)]
pub enum CommitError {
    AlreadyExists,
    NotFound,
    /// The object changed since the caller read it: recompute and try again, or report a conflict.
    Changed,
}

pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<StoredEvent>>,
}

struct Inner {
    objects: BTreeMap<ObjectKey, Value>,
    resource_version: u64,
    history: VecDeque<Arc<StoredEvent>>,
    /// Watches from an older resourceVersion than this get `410 Expired`.
    oldest_watchable: u64,
}

/// What a new watch starts from: the current objects and the history after a resourceVersion,
/// taken atomically with its subscription so no event is lost or seen twice.
pub struct WatchStart {
    pub current: Vec<Value>,
    pub resource_version: u64,
    pub replay: Vec<Arc<StoredEvent>>,
    pub live: broadcast::Receiver<Arc<StoredEvent>>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                resource_version: 1,
                history: VecDeque::new(),
                oldest_watchable: 1,
            }),
            events: broadcast::channel(4096).0,
        }
    }
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-written (every mutation is a
        // single insert/remove), so a poisoned lock is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn current_resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Value> {
        self.lock().objects.get(key).cloned()
    }

    /// Objects of a resource (in one namespace, or all), sorted by namespace and name like etcd keys.
    pub fn list(&self, resource: &ResourceType, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        (
            Self::matching(&inner, resource, namespace),
            inner.resource_version,
        )
    }

    fn matching(inner: &Inner, resource: &ResourceType, namespace: Option<&str>) -> Vec<Value> {
        inner
            .objects
            .iter()
            .filter(|(key, _)| key.is_of(resource))
            .filter(|(key, _)| namespace.is_none_or(|ns| key.namespace == ns))
            .map(|(_, object)| object.clone())
            .collect()
    }

    pub fn create(&self, key: ObjectKey, mut object: Value) -> Result<Value, CommitError> {
        let mut inner = self.lock();
        if inner.objects.contains_key(&key) {
            return Err(CommitError::AlreadyExists);
        }
        let rv = Self::next_resource_version(&mut inner);
        object::set_resource_version(&mut object, rv);
        inner.objects.insert(key.clone(), object.clone());
        self.record(
            &mut inner,
            rv,
            EventType::Added,
            key,
            None,
            Some(object.clone()),
        );
        Ok(object)
    }

    /// Replaces the object if it is still at `based_on` (its resourceVersion when read).
    /// An update that changes nothing is not written and keeps its resourceVersion.
    pub fn update(
        &self,
        key: &ObjectKey,
        based_on: u64,
        mut object: Value,
    ) -> Result<Value, CommitError> {
        let mut inner = self.lock();
        let current = inner.objects.get(key).ok_or(CommitError::NotFound)?;
        if object::resource_version(current) != Some(based_on) {
            return Err(CommitError::Changed);
        }
        object::set_resource_version(&mut object, based_on);
        if *current == object {
            return Ok(object);
        }
        let old = current.clone();
        let rv = Self::next_resource_version(&mut inner);
        object::set_resource_version(&mut object, rv);
        inner.objects.insert(key.clone(), object.clone());
        self.record(
            &mut inner,
            rv,
            EventType::Modified,
            key.clone(),
            Some(old),
            Some(object.clone()),
        );
        Ok(object)
    }

    /// Removes the object if it is still at `based_on`; returns it as last seen by watches.
    pub fn delete(&self, key: &ObjectKey, based_on: u64) -> Result<Value, CommitError> {
        let mut inner = self.lock();
        let current = inner.objects.get(key).ok_or(CommitError::NotFound)?;
        if object::resource_version(current) != Some(based_on) {
            return Err(CommitError::Changed);
        }
        let mut removed = inner.objects.remove(key).ok_or(CommitError::NotFound)?;
        let old = removed.clone();
        let rv = Self::next_resource_version(&mut inner);
        object::set_resource_version(&mut removed, rv);
        self.record(
            &mut inner,
            rv,
            EventType::Deleted,
            key.clone(),
            Some(old),
            Some(removed.clone()),
        );
        Ok(removed)
    }

    /// Deletes every object in a namespace (what the namespace controller would do eventually).
    pub fn delete_namespace_contents(&self, namespace: &str) {
        let keys: Vec<(ObjectKey, u64)> = {
            let inner = self.lock();
            inner
                .objects
                .iter()
                .filter(|(key, _)| key.namespace == namespace)
                .filter_map(|(key, obj)| Some((key.clone(), object::resource_version(obj)?)))
                .collect()
        };
        for (key, rv) in keys {
            // An object changed concurrently is deleted by the next namespace deletion; tests
            // do not race namespace deletion against writes.
            let _ = self.delete(&key, rv);
        }
    }

    /// Forgets the event history, like an etcd compaction: older watches get `410 Expired`.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.oldest_watchable = inner.resource_version;
    }

    /// Starts a watch: the current objects (for initial events) and the events after `since`
    /// (`None` when the watch starts from now). `Err` carries the oldest resumable version.
    pub fn start_watch(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        since: Option<u64>,
    ) -> Result<WatchStart, u64> {
        let inner = self.lock();
        let replay = match since {
            Some(rv) if rv < inner.oldest_watchable => return Err(inner.oldest_watchable),
            Some(rv) => inner
                .history
                .iter()
                .filter(|event| event.resource_version > rv && event.key.is_of(resource))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        Ok(WatchStart {
            current: Self::matching(&inner, resource, namespace),
            resource_version: inner.resource_version,
            replay,
            live: self.events.subscribe(),
        })
    }

    fn next_resource_version(inner: &mut Inner) -> u64 {
        inner.resource_version += 1;
        inner.resource_version
    }

    fn record(
        &self,
        inner: &mut Inner,
        resource_version: u64,
        event_type: EventType,
        key: ObjectKey,
        old: Option<Value>,
        new: Option<Value>,
    ) {
        let event = Arc::new(StoredEvent {
            resource_version,
            event_type,
            key,
            old,
            new,
        });
        if inner.history.len() == HISTORY_LIMIT
            && let Some(dropped) = inner.history.pop_front()
        {
            inner.oldest_watchable = dropped.resource_version;
        }
        inner.history.push_back(event.clone());
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(event);
    }
}
