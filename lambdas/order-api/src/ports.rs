//! The ports: what the service needs from the outside world, as small traits. DynamoDB adapters
//! implement them in production, in-memory ones in tests. The outbox's ports (pending entries,
//! the publisher) and the clock come from `orderflow-outbox` and `orderflow-kit`.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::BuildError;
use chrono::{DateTime, Utc};
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use orderflow_outbox::OutboxEntry;
use uuid::Uuid;

use crate::domain::{IdempotencyKey, Order};

/// A failure of the order store. Details are for logs only, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Request(#[from] RequestFailed),
    #[error("building a DynamoDB request failed")]
    Build(#[from] BuildError),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    /// The in-memory store's injected outage.
    #[error("order store unavailable: {0}")]
    Unavailable(&'static str),
}

/// The response given to the first request with an idempotency key, replayed to later ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: String,
}

/// `order-api#<Idempotency-Key>` in IdempotencyTable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    /// SHA-256 of the canonical request body: a different body under the same key is a 422.
    pub request_hash: String,
    pub response: StoredResponse,
    /// TTL: after this the key may be reused for a new order.
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    /// The IdempotencyTable partition key; the prefix keeps API keys apart from the consumers'.
    pub fn partition_key(key: &IdempotencyKey) -> String {
        format!("order-api#{}", key.as_str())
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }
}

/// Everything one POST /orders writes, committed atomically or not at all.
#[derive(Debug, Clone)]
pub struct Placement {
    pub order: Order,
    pub idempotency: Option<IdempotencyRecord>,
    pub outbox: OutboxEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// A live record already holds this idempotency key; nothing was written.
    IdempotencyKeyTaken,
    /// A concurrent transaction touched the same items (DynamoDB `TransactionConflict`);
    /// nothing was written and a retry may succeed.
    Contended,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Writes the order, the idempotency record (if any) and the outbox entry in one transaction.
    /// `now` decides whether an existing idempotency record has expired and may be replaced.
    async fn commit_placement(&self, placement: &Placement, now: DateTime<Utc>) -> Result<CommitOutcome, StoreError>;

    async fn find_order(&self, order_id: Uuid) -> Result<Option<Order>, StoreError>;

    /// A strongly consistent read: it must see a record committed by a concurrent request.
    async fn find_idempotency_record(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError>;
}

pub trait IdSource: Send + Sync {
    /// A new UUID v7 (time-ordered, so ids sort roughly by creation).
    fn new_id(&self) -> Uuid;
}

pub struct UuidV7Ids;

impl IdSource for UuidV7Ids {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// One stored event of an order, as GET /orders/{orderId}/events lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// The CloudEvent `type`, e.g. `orders.OrderPlaced.v1`.
    pub event_type: String,
    pub id: String,
    pub source: String,
    /// The CloudEvent `time` as published (RFC 3339).
    pub time: String,
    pub correlation_id: Option<String>,
}

/// A failure of the event store. Details are for logs only, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum EventHistoryError {
    #[error(transparent)]
    Request(#[from] RequestFailed),
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
    /// The in-memory store's injected outage.
    #[error("event store unavailable")]
    Unavailable,
}

/// The event store (EventStoreTable, written by the event-store consumer), read only.
#[async_trait]
pub trait EventHistory: Send + Sync {
    /// Every stored event of the order, in time order (ties by event id); empty when none.
    async fn events_of(&self, order_id: Uuid) -> Result<Vec<EventSummary>, EventHistoryError>;
}
