//! In-memory adapters for unit tests (feature `testing`): one lock around the order tables
//! makes a placement (and a lifecycle write) atomic, like the DynamoDB transaction it stands in
//! for. The order lifecycle's tests run on this same store, so a test can place an order through
//! the API, settle it through the lifecycle and read it back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_outbox::OutboxEntry;
use orderflow_outbox::adapters::memory::{InMemoryOutbox, StoredOutboxEntry};
use uuid::Uuid;

use crate::domain::{IdempotencyKey, Order};
use crate::ports::{
    CommitOutcome, EventHistory, EventHistoryError, EventSummary, IdSource, IdempotencyRecord, OrderStore, Placement,
    StoreError,
};
use crate::record::OrderRecord;

#[derive(Default)]
struct Tables {
    orders: HashMap<Uuid, OrderRecord>,
    idempotency: HashMap<String, IdempotencyRecord>,
}

/// OrdersTable and IdempotencyTable in memory, writing each placement's entry into `outbox`.
#[derive(Default)]
pub struct InMemoryStore {
    tables: Mutex<Tables>,
    outbox: Arc<InMemoryOutbox>,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The outbox the placements write to, for the service's and the relay's side of it.
    pub fn outbox(&self) -> Arc<InMemoryOutbox> {
        Arc::clone(&self.outbox)
    }

    /// Makes every later store call fail, as if DynamoDB were unreachable.
    pub fn fail_everything(&self, fail: bool) {
        self.fail_reads.store(fail, Ordering::SeqCst);
        self.fail_writes.store(fail, Ordering::SeqCst);
        self.outbox.set_failing(fail);
    }

    pub fn order_count(&self) -> usize {
        self.lock().orders.len()
    }

    pub fn idempotency_record_count(&self) -> usize {
        self.lock().idempotency.len()
    }

    pub fn outbox_entries(&self) -> Vec<StoredOutboxEntry> {
        self.outbox.entries()
    }

    /// The whole row of an order, bookkeeping included.
    pub fn record(&self, order_id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        Ok(self.lock().orders.get(&order_id).cloned())
    }

    /// Puts a row as it is (a test's starting point).
    pub fn insert_record(&self, record: OrderRecord) {
        self.lock().orders.insert(record.order.order_id, record);
    }

    /// The lifecycle's conditional write: replaces the row with `next` and adds `outbox` (if
    /// any), atomically, only if the row is still `PLACED` at `expected_version`. `Ok(false)`
    /// and nothing written otherwise (or when the row does not exist).
    pub fn replace_if_version(
        &self,
        expected_version: u64,
        next: &OrderRecord,
        outbox: Option<&OutboxEntry>,
    ) -> Result<bool, StoreError> {
        self.check(&self.fail_writes)?;
        let mut tables = self.lock();
        let current = tables.orders.get(&next.order.order_id);
        let matches = current.is_some_and(|current| {
            current.bookkeeping.version == expected_version && !current.order.status.is_settled()
        });
        if !matches {
            return Ok(false);
        }
        // Under the tables' lock, so the row and the entry are written together or not at all.
        if let Some(entry) = outbox
            && !self.outbox.insert_pending(entry)
        {
            return Ok(false);
        }
        tables.orders.insert(next.order.order_id, next.clone());
        Ok(true)
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panicking test thread must not hide the state from the other assertions.
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check(&self, flag: &AtomicBool) -> Result<(), StoreError> {
        if flag.load(Ordering::SeqCst) { Err(StoreError::Unavailable("injected failure")) } else { Ok(()) }
    }
}

#[async_trait]
impl OrderStore for InMemoryStore {
    async fn commit_placement(&self, placement: &Placement, now: DateTime<Utc>) -> Result<CommitOutcome, StoreError> {
        self.check(&self.fail_writes)?;
        let mut tables = self.lock();
        if let Some(record) = &placement.idempotency {
            let pk = IdempotencyRecord::partition_key(&record.key);
            if tables.idempotency.get(&pk).is_some_and(|existing| existing.is_live(now)) {
                return Ok(CommitOutcome::IdempotencyKeyTaken);
            }
        }
        if tables.orders.contains_key(&placement.order.order_id) || self.outbox.contains(placement.outbox.event_id) {
            return Ok(CommitOutcome::Contended);
        }
        // Under the tables' lock, so no other placement interleaves: all three writes or none.
        if !self.outbox.insert_pending(&placement.outbox) {
            return Ok(CommitOutcome::Contended);
        }
        tables.orders.insert(placement.order.order_id, OrderRecord::placed(placement.order.clone()));
        if let Some(record) = &placement.idempotency {
            tables.idempotency.insert(IdempotencyRecord::partition_key(&record.key), record.clone());
        }
        Ok(CommitOutcome::Committed)
    }

    async fn find_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError> {
        self.check(&self.fail_reads)?;
        Ok(self.lock().orders.get(&order_id).map(|record| record.order.clone()))
    }

    async fn find_idempotency_record(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        Ok(self.lock().idempotency.get(&IdempotencyRecord::partition_key(key)).cloned())
    }
}

/// Deterministic, distinct UUID v7s: the counter fills the random bits.
#[derive(Default)]
pub struct SequentialIds(AtomicU64);

impl IdSource for SequentialIds {
    fn new_id(&self) -> Uuid {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        let mut random = [0u8; 10];
        random[2..].copy_from_slice(&n.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(1_795_000_000_000, &random).into_uuid()
    }
}

/// The event store in memory: what the event-store consumer would have written, per order.
#[derive(Default)]
pub struct InMemoryEventHistory {
    events: Mutex<HashMap<Uuid, Vec<EventSummary>>>,
    failing: AtomicBool,
}

impl InMemoryEventHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an event of the order (in any order: reads sort them as the index does).
    pub fn record(&self, order_id: Uuid, event: EventSummary) {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(order_id).or_default().push(event);
    }

    /// From now on every read fails (true) or works again (false).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl EventHistory for InMemoryEventHistory {
    async fn events_of(&self, order_id: Uuid) -> Result<Vec<EventSummary>, EventHistoryError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(EventHistoryError::Unavailable);
        }
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&order_id)
            .cloned()
            .unwrap_or_default();
        // As the byOrder index sorts (`<time in UTC>#<eventId>`): by instant, then id, whatever
        // precision each producer stamped.
        let instant = |event: &EventSummary| chrono::DateTime::parse_from_rfc3339(&event.time).ok();
        events.sort_by(|a, b| (instant(a), a.id.as_str()).cmp(&(instant(b), b.id.as_str())));
        Ok(events)
    }
}
