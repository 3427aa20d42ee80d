//! The ports: what the service needs from the outside world, as small traits. DynamoDB and SNS
//! adapters implement them in production, in-memory ones in tests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_events::{EVENT_TYPE_ATTRIBUTE, EVENT_VERSION_ATTRIBUTE, OrderPlacedEvent};
use uuid::Uuid;

use crate::domain::{IdempotencyKey, Order};

/// A failure of a backing store. The message is for logs only, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store request failed: {0}")]
    Backend(String),
    #[error("stored item is malformed: {0}")]
    Malformed(String),
}

/// A failure to publish an event. The message is for logs only.
#[derive(Debug, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

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

/// An event waiting in OutboxTable to be published: the exact body and attributes, so a
/// re-publish by the relay is byte-for-byte the same message, same event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The CloudEvent JSON, published unchanged.
    pub body: String,
    /// `event_type` SNS message attribute value (`OrderPlaced`).
    pub event_type: String,
    /// `event_version` SNS message attribute value (`1`).
    pub event_version: String,
    pub correlation_id: Option<String>,
}

impl OutboxEntry {
    pub fn for_event(event: &OrderPlacedEvent, created_at: DateTime<Utc>) -> Self {
        let attribute = |name: &str| {
            event
                .message_attributes()
                .iter()
                .find(|(attribute, _)| *attribute == name)
                .map(|(_, value)| (*value).to_owned())
                .unwrap_or_default()
        };
        OutboxEntry {
            event_id: event.id(),
            order_id: event.data().order_id(),
            created_at,
            body: event.to_json(),
            event_type: attribute(EVENT_TYPE_ATTRIBUTE),
            event_version: attribute(EVENT_VERSION_ATTRIBUTE),
            correlation_id: event.correlation_id().map(str::to_owned),
        }
    }

    /// The SNS message attributes (all of data type String) subscription filters match on.
    pub fn message_attributes(&self) -> [(&'static str, &str); 2] {
        [(EVENT_TYPE_ATTRIBUTE, self.event_type.as_str()), (EVENT_VERSION_ATTRIBUTE, self.event_version.as_str())]
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

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Entries not yet published whose `createdAt` is at or before `cutoff`, oldest first.
    async fn pending_created_before(&self, cutoff: DateTime<Utc>, limit: usize)
    -> Result<Vec<OutboxEntry>, StoreError>;

    /// Takes the entry off the pending index and lets TTL delete it after a week.
    async fn mark_published(&self, event_id: Uuid, published_at: DateTime<Utc>) -> Result<(), StoreError>;
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes the entry's body with its message attributes; returns the broker's message id.
    async fn publish(&self, entry: &OutboxEntry) -> Result<String, PublishError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub trait IdSource: Send + Sync {
    /// A new UUID v7 (time-ordered, so ids sort roughly by creation).
    fn new_id(&self) -> Uuid;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub struct UuidV7Ids;

impl IdSource for UuidV7Ids {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}
