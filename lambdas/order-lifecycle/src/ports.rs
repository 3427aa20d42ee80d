//! What the lifecycle needs from the outside world: the order rows, written conditionally, each
//! settling write together with its announcement (the outbox entry).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use order_api::ports::StoreError;
use order_api::record::OrderRecord;
use orderflow_outbox::OutboxEntry;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Reading or writing the order row (or building the request) failed.
    #[error("order store: {0}")]
    Store(#[from] StoreError),
    /// The transaction was cancelled for reasons other than a lost race.
    #[error("settlement transaction cancelled: {0:?}")]
    Cancelled(Vec<String>),
    /// Other deliveries for the same order kept winning the race; a redelivery settles it.
    #[error("the order row kept changing under {attempts} attempts")]
    KeptConflicting { attempts: u32 },
    /// The settle timer fired before the deadline (an early delivery): retry later.
    #[error("the settle deadline {due_at} has not come yet")]
    NotYetDue { due_at: DateTime<Utc> },
    /// The stored order cannot make a valid OrderConfirmed / OrderCancelled.
    #[error("the settlement event cannot be built")]
    Event(#[source] orderflow_events::InvalidEvent),
}

/// One conditional write of an order row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The version the decision was made on; the write happens only if the row still has it
    /// (and is still PLACED).
    pub expected_version: u64,
    /// The row after the write (version `expected_version + 1`).
    pub next: OrderRecord,
    /// The OrderConfirmed / OrderCancelled entry of a settling write, in the same transaction.
    pub announcement: Option<OutboxEntry>,
}

impl Transition {
    pub fn order_id(&self) -> Uuid {
        self.next.order.order_id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// The row moved on (another outcome was recorded, or the order settled) or vanished;
    /// nothing was written. Reload and decide again.
    Conflict,
}

/// OrdersTable (and, for a settlement, OutboxTable).
#[async_trait]
pub trait OrderLifecycleStore: Send + Sync {
    /// The order row, read strongly consistent; `None` for an order the service does not know.
    async fn load(&self, order_id: Uuid) -> Result<Option<OrderRecord>, LifecycleError>;

    /// Writes the transition atomically (row and announcement), or nothing.
    async fn save(&self, transition: &Transition) -> Result<SaveOutcome, LifecycleError>;
}
