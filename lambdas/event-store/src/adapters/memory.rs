//! An in-memory event store (tests only: feature `testing`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use orderflow_kit::dynamodb::RequestFailed;

use crate::domain::{PutOutcome, StoredEvent};
use crate::ports::{EventStore, EventStoreError};

/// An in-memory [`EventStore`] with the conditional-put semantics of the DynamoDB one, which
/// can be told to fail (an unavailable table).
#[derive(Debug, Default)]
pub struct InMemoryEventStore {
    events: Mutex<HashMap<String, StoredEvent>>,
    failing: AtomicBool,
}

impl InMemoryEventStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, event_id: &str) -> Option<StoredEvent> {
        self.lock().get(event_id).cloned()
    }

    /// Every stored event, in `timeId` order (as the indexes return them).
    pub fn all(&self) -> Vec<StoredEvent> {
        let mut events: Vec<_> = self.lock().values().cloned().collect();
        events.sort_by_key(StoredEvent::time_id);
        events
    }

    /// From now on every put fails (true) or works again (false).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, StoredEvent>> {
        // A panicking test thread poisons the lock; the map itself is still consistent.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl EventStore for InMemoryEventStore {
    async fn put(&self, event: &StoredEvent) -> Result<PutOutcome, EventStoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(RequestFailed::new("PutItem", std::io::Error::other("table unavailable")).into());
        }
        let mut events = self.lock();
        if events.contains_key(&event.event_id) {
            return Ok(PutOutcome::AlreadyStored);
        }
        events.insert(event.event_id.clone(), event.clone());
        Ok(PutOutcome::Stored)
    }
}
