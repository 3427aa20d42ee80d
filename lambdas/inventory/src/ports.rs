//! What inventory needs from the outside world: the stock and the reservations tables.

use async_trait::async_trait;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

use crate::domain::{MAX_ITEMS_PER_ORDER, RejectOutcome, ReservationRequest, ReserveOutcome, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("inventory store request failed: {0}")]
    Store(#[from] RequestFailed),
    /// The transaction was cancelled but a re-read found nothing to explain it: a concurrent
    /// writer (or a transaction conflict). A retry settles it.
    #[error("reservation contended, retry: {0}")]
    Contention(String),
    #[error("an order of {0} items cannot be reserved in one transaction (at most {MAX_ITEMS_PER_ORDER})")]
    TooManyItems(usize),
    #[error("stored reservation is malformed: {0}")]
    Malformed(#[from] MalformedItem),
}

/// The inventory port: stock in InventoryTable, reservations in ReservationsTable.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Reserves every item and records the reservation, atomically; or changes nothing.
    async fn reserve(&self, request: &ReservationRequest) -> Result<ReserveOutcome, InventoryError>;

    /// Records a REJECTED reservation for the order unless it already has one.
    async fn record_rejection(
        &self,
        request: &ReservationRequest,
        unavailable: &Unavailable,
    ) -> Result<RejectOutcome, InventoryError>;
}
