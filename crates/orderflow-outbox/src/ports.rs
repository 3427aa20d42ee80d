//! What the outbox needs from the outside world.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use uuid::Uuid;

use crate::entry::OutboxEntry;

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

/// OutboxTable, as the relay and a producer completing its own publish see it. Adding an entry
/// is not here: it happens inside the producer's own transaction.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Entries not yet published whose `createdAt` is at or before `cutoff`, oldest first.
    async fn pending_created_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, OutboxError>;

    /// Takes the entry off the pending index and lets TTL delete it after a week.
    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), OutboxError>;
}

/// The topic.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes the entry's body with its message attributes; returns the broker's message id.
    async fn publish(&self, entry: &OutboxEntry) -> Result<String, PublishError>;
}
