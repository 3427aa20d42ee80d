//! In-memory outbox and publisher for unit tests (feature `testing`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::entry::{OutboxEntry, PUBLISHED_OUTBOX_TTL};
use crate::ports::{BeyondLimit, EventPublisher, MalformedEntry, OutboxError, OutboxStore, PendingPage, PublishError};
use crate::shard::PendingPartition;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the state from the other assertions.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutboxEntry {
    pub entry: OutboxEntry,
    /// The partition of the pending index it was written to.
    pub partition: PendingPartition,
    /// `None` while pending (the entry is on the sparse index).
    pub published_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// OutboxTable in memory. A producer's in-memory store calls [`InMemoryOutbox::insert_pending`]
/// under its own lock, standing in for the shared DynamoDB transaction.
#[derive(Default)]
pub struct InMemoryOutbox {
    entries: Mutex<HashMap<Uuid, StoredOutboxEntry>>,
    /// Unreadable items on the pending index: where, created when, what is wrong.
    malformed: Mutex<Vec<(PendingPartition, DateTime<Utc>, MalformedEntry)>>,
    failing: AtomicBool,
    failing_partitions: Mutex<HashSet<PendingPartition>>,
}

impl InMemoryOutbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pending entry; `false` (and nothing written) when its event id exists already.
    pub fn insert_pending(&self, entry: &OutboxEntry) -> bool {
        self.insert_pending_in(entry, PendingPartition::of(entry.event_id))
    }

    /// [`Self::insert_pending`] into a chosen partition (the legacy one, as an older producer
    /// wrote it).
    pub fn insert_pending_in(&self, entry: &OutboxEntry, partition: PendingPartition) -> bool {
        let mut entries = lock(&self.entries);
        if entries.contains_key(&entry.event_id) {
            return false;
        }
        entries.insert(
            entry.event_id,
            StoredOutboxEntry { entry: entry.clone(), partition, published_at: None, expires_at: None },
        );
        true
    }

    /// Puts an unreadable item on the pending index, as a broken writer would.
    pub fn insert_malformed(&self, partition: PendingPartition, created_at: DateTime<Utc>, malformed: MalformedEntry) {
        lock(&self.malformed).push((partition, created_at, malformed));
    }

    /// Makes reads of one partition fail, as a throttled index partition would.
    pub fn fail_partition(&self, partition: PendingPartition) {
        lock(&self.failing_partitions).insert(partition);
    }

    pub fn contains(&self, event_id: Uuid) -> bool {
        lock(&self.entries).contains_key(&event_id)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<StoredOutboxEntry> {
        let mut entries: Vec<_> = lock(&self.entries).values().cloned().collect();
        entries.sort_by_key(|stored| stored.entry.created_at);
        entries
    }

    /// Makes every later call fail, as if DynamoDB were unreachable.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), OutboxError> {
        if self.failing.load(Ordering::SeqCst) { Err(OutboxError::Unavailable("injected failure")) } else { Ok(()) }
    }
}

#[async_trait]
impl OutboxStore for InMemoryOutbox {
    async fn pending_in(
        &self,
        partition: PendingPartition,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<PendingPage, OutboxError> {
        self.check()?;
        if lock(&self.failing_partitions).contains(&partition) {
            return Err(OutboxError::Unavailable("injected partition failure"));
        }
        // The index's order: by createdAt (then by key, as DynamoDB breaks ties), malformed
        // items among the entries.
        let mut due: Vec<(DateTime<Utc>, String, Result<OutboxEntry, MalformedEntry>)> = lock(&self.entries)
            .values()
            .filter(|stored| {
                stored.partition == partition && stored.published_at.is_none() && stored.entry.created_at <= cutoff
            })
            .map(|stored| (stored.entry.created_at, stored.entry.event_id.to_string(), Ok(stored.entry.clone())))
            .collect();
        due.extend(
            lock(&self.malformed)
                .iter()
                .filter(|(at, created_at, _)| *at == partition && *created_at <= cutoff)
                .map(|(_, created_at, malformed)| (*created_at, malformed.key.clone(), Err(malformed.clone()))),
        );
        due.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let beyond = due.split_off(limit.min(due.len()));
        let mut page = PendingPage {
            beyond_limit: beyond
                .first()
                .map(|(oldest, _, _)| BeyondLimit { count: beyond.len() as u64, oldest_created_at: Some(*oldest) }),
            ..PendingPage::default()
        };
        for (_, _, item) in due {
            match item {
                Ok(entry) => page.entries.push(entry),
                Err(malformed) => page.malformed.push(malformed),
            }
        }
        Ok(page)
    }

    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), OutboxError> {
        self.check()?;
        let mut entries = lock(&self.entries);
        let stored = entries.get_mut(&event_id).ok_or(OutboxError::NoSuchEntry(event_id))?;
        stored.published_at = Some(published_at);
        stored.expires_at = Some(published_at + PUBLISHED_OUTBOX_TTL);
        Ok(())
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
        lock(&self.failing_events).push(event_id);
    }

    pub fn published(&self) -> Vec<PublishedMessage> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, entry: &OutboxEntry) -> Result<String, PublishError> {
        let failing_event = lock(&self.failing_events).contains(&entry.event_id);
        if self.failing.load(Ordering::SeqCst) || failing_event {
            return Err(PublishError::new(entry.event_id, "injected SNS outage", None));
        }
        let mut published = lock(&self.published);
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
