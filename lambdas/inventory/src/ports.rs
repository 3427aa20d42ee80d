//! What inventory needs from the outside world: the stock and the reservations tables, and the
//! outbox table the outcome events are written to with the change they announce.

use async_trait::async_trait;
use orderflow_events::InvalidEvent;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use uuid::Uuid;

use crate::domain::{Applied, Reservation, ReservationStatus, Step};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("inventory store request failed: {0}")]
    Store(#[from] RequestFailed),
    /// A write was cancelled but a re-read found nothing to explain it: a concurrent writer (or
    /// a transaction conflict). A retry settles it.
    #[error("reservation contended, retry: {0}")]
    Contention(String),
    /// A settlement arrived before the reservation it settles was written.
    #[error("not yet: {why} (reservation {})", status.map_or("none", ReservationStatus::as_str))]
    NotYet { status: Option<ReservationStatus>, why: &'static str },
    /// The event contradicts the recorded reservation (e.g. a confirmation of rejected stock).
    #[error("{event} contradicts the reservation ({})", status.map_or("none", ReservationStatus::as_str))]
    Contradiction { event: &'static str, status: Option<ReservationStatus> },
    #[error("stored reservation is malformed: {0}")]
    Malformed(#[from] MalformedItem),
    /// The outcome event could not be built from the record (a broken invariant).
    #[error("outcome event invalid: {0}")]
    Outcome(#[source] InvalidEvent),
}

/// The inventory port: stock in InventoryTable, reservations in ReservationsTable, outcome
/// events in OutboxTable. The domain decides every step; an adapter only applies it atomically.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// The order's reservation record, read strongly consistent.
    async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>, InventoryError>;

    /// Applies `step` atomically: its stock effect, the record (if the record is as the step
    /// expects) and its outbox entry; or nothing, saying why.
    async fn apply(&self, step: &Step) -> Result<Applied, InventoryError>;
}
