//! What the outbox needs from the outside world.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use uuid::Uuid;

use crate::entry::OutboxEntry;
use crate::shard::PendingPartition;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Request(#[from] RequestFailed),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    #[error("outbox entry {0} does not exist")]
    NoSuchEntry(Uuid),
    /// The in-memory store's injected outage.
    #[error("outbox store unavailable: {0}")]
    Unavailable(&'static str),
}

/// A failure to publish an event; the entry stays pending. The detail is for logs only.
#[derive(Debug, thiserror::Error)]
#[error("publishing event {event_id} failed: {detail}")]
pub struct PublishError {
    pub event_id: Uuid,
    detail: String,
    #[source]
    source: Option<BoxError>,
}

impl PublishError {
    pub fn new(event_id: Uuid, detail: impl Into<String>, source: Option<BoxError>) -> Self {
        PublishError { event_id, detail: detail.into(), source }
    }
}

/// An item on the pending index that cannot be read as an [`OutboxEntry`] (written by hand, by
/// a broken producer, or damaged). The relay skips and reports it; it stays on the index until
/// someone repairs or deletes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MalformedEntry {
    /// Its `eventId` as stored (the table's key), to find it by.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Due entries of one partition that a read did not return because of its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeyondLimit {
    /// How many. The DynamoDB adapter counts them with `Select=COUNT` pages, at most a few, so
    /// past a few thousand per partition this is a floor.
    pub count: u64,
    /// When the oldest of them was created (`None` if it has no readable `createdAt`).
    pub oldest_created_at: Option<DateTime<Utc>>,
}

/// What one partition of the pending index holds that is due (created at or before a cutoff).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingPage {
    /// The oldest due entries, oldest first; with `malformed`, at most the limit asked for.
    pub entries: Vec<OutboxEntry>,
    /// Items among those read that are not valid entries.
    pub malformed: Vec<MalformedEntry>,
    /// `None` when the read reached the partition's last due entry.
    pub beyond_limit: Option<BeyondLimit>,
}

/// OutboxTable, as the relay and a producer completing its own publish see it. Adding an entry
/// is not here: it happens inside the producer's own transaction.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// The entries of `partition` not yet published whose `createdAt` is at or before `cutoff`,
    /// oldest first, at most `limit` items read (malformed ones included).
    async fn pending_in(
        &self,
        partition: PendingPartition,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<PendingPage, OutboxError>;

    /// Takes the entry off the pending index and lets TTL delete it after a week.
    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), OutboxError>;
}

/// The topic.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes the entry's body with its message attributes; returns the broker's message id.
    async fn publish(&self, entry: &OutboxEntry) -> Result<String, PublishError>;
}
