//! What the event store needs from the outside world: EventStoreTable.

use async_trait::async_trait;
use orderflow_kit::dynamodb::RequestFailed;

use crate::domain::{PutOutcome, StoredEvent};

#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    #[error("event store request failed: {0}")]
    Store(#[from] RequestFailed),
}

/// The store port: one record per event id.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Writes the event unless its id is stored already; then the stored one stands (a
    /// redelivery or a duplicate publish of the same event, which is the same event).
    async fn put(&self, event: &StoredEvent) -> Result<PutOutcome, EventStoreError>;
}
