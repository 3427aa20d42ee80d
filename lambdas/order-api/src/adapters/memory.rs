//! In-memory adapters for unit tests: one lock around all tables makes a placement atomic,
//! like the DynamoDB transaction it stands in for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::domain::{IdempotencyKey, Order};
use crate::ports::{
    Clock, CommitOutcome, EventPublisher, IdSource, IdempotencyRecord, OrderStore, Outbox, OutboxEntry, Placement,
    PublishError, StoreError,
};
use crate::service::PUBLISHED_OUTBOX_TTL;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutboxEntry {
    pub entry: OutboxEntry,
    /// `None` while pending (the entry is on the sparse index).
    pub published_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Tables {
    orders: HashMap<Uuid, Order>,
    idempotency: HashMap<String, IdempotencyRecord>,
    outbox: HashMap<Uuid, StoredOutboxEntry>,
}

/// OrdersTable, IdempotencyTable and OutboxTable in memory.
#[derive(Default)]
pub struct InMemoryStore {
    tables: Mutex<Tables>,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later store call fail, as if DynamoDB were unreachable.
    pub fn fail_everything(&self, fail: bool) {
        self.fail_reads.store(fail, Ordering::SeqCst);
        self.fail_writes.store(fail, Ordering::SeqCst);
    }

    pub fn order_count(&self) -> usize {
        self.lock().orders.len()
    }

    pub fn idempotency_record_count(&self) -> usize {
        self.lock().idempotency.len()
    }

    pub fn outbox_entries(&self) -> Vec<StoredOutboxEntry> {
        let mut entries: Vec<_> = self.lock().outbox.values().cloned().collect();
        entries.sort_by_key(|stored| stored.entry.created_at);
        entries
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panicking test thread must not hide the state from the other assertions.
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check(&self, flag: &AtomicBool) -> Result<(), StoreError> {
        if flag.load(Ordering::SeqCst) { Err(StoreError::Backend("injected failure".into())) } else { Ok(()) }
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
        if tables.orders.contains_key(&placement.order.order_id)
            || tables.outbox.contains_key(&placement.outbox.event_id)
        {
            return Ok(CommitOutcome::Contended);
        }
        tables.orders.insert(placement.order.order_id, placement.order.clone());
        if let Some(record) = &placement.idempotency {
            tables.idempotency.insert(IdempotencyRecord::partition_key(&record.key), record.clone());
        }
        tables.outbox.insert(
            placement.outbox.event_id,
            StoredOutboxEntry { entry: placement.outbox.clone(), published_at: None, expires_at: None },
        );
        Ok(CommitOutcome::Committed)
    }

    async fn find_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError> {
        self.check(&self.fail_reads)?;
        Ok(self.lock().orders.get(&order_id).cloned())
    }

    async fn find_idempotency_record(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        Ok(self.lock().idempotency.get(&IdempotencyRecord::partition_key(key)).cloned())
    }
}

#[async_trait]
impl Outbox for InMemoryStore {
    async fn pending_created_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.check(&self.fail_reads)?;
        let mut pending: Vec<OutboxEntry> = self
            .lock()
            .outbox
            .values()
            .filter(|stored| stored.published_at.is_none() && stored.entry.created_at <= cutoff)
            .map(|stored| stored.entry.clone())
            .collect();
        pending.sort_by_key(|entry| entry.created_at);
        pending.truncate(limit);
        Ok(pending)
    }

    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        match self.lock().outbox.get_mut(&event_id) {
            Some(stored) => {
                stored.published_at = Some(published_at);
                stored.expires_at = Some(published_at + PUBLISHED_OUTBOX_TTL);
                Ok(())
            }
            None => Err(StoreError::Backend(format!("no outbox entry {event_id}"))),
        }
    }
}

/// A message as the publisher saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedMessage {
    pub event_id: Uuid,
    pub body: String,
    pub attributes: Vec<(String, String)>,
}

/// Records what it publishes; can be switched to fail, like an SNS outage.
#[derive(Default)]
pub struct RecordingPublisher {
    published: Mutex<Vec<PublishedMessage>>,
    failing: AtomicBool,
    /// Fail only the entries of these events (a partial outage), when not failing everything.
    failing_events: Mutex<Vec<Uuid>>,
}

impl RecordingPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn fail_event(&self, event_id: Uuid) {
        self.failing_events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(event_id);
    }

    pub fn published(&self) -> Vec<PublishedMessage> {
        self.published.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, entry: &OutboxEntry) -> Result<String, PublishError> {
        let failing_event =
            self.failing_events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&entry.event_id);
        if self.failing.load(Ordering::SeqCst) || failing_event {
            return Err(PublishError("injected SNS outage".into()));
        }
        let mut published = self.published.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        published.push(PublishedMessage {
            event_id: entry.event_id,
            body: entry.body.clone(),
            attributes: entry
                .message_attributes()
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        });
        Ok(format!("message-{}", published.len()))
    }
}

/// A clock that moves only when told to.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn at(time: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(time))
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
