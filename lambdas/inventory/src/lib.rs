//! Reserves stock for placed orders.
//!
//! Every item of an order is reserved atomically or none is: the DynamoDB adapter runs one
//! transaction with an `available >= quantity` condition per SKU plus the reservation record.
//! Stock that is too low (or a SKU that does not exist) is a business outcome, recorded as a
//! REJECTED reservation and logged, not retried. A reservation is recorded once per order, so a
//! redelivered event finds it and does nothing.

mod dynamodb;
mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use orderflow_consumer::{
    BatchProcessor, ConfigError, ConsumerConfig, DynamoDbIdempotencyStore, EventHandler, HandlerError, required_env,
};
use orderflow_events::{OrderEvent, OrderPlacedEvent};
use tracing::{info, warn};
use uuid::Uuid;

pub use dynamodb::DynamoDbInventoryStore;
pub use memory::{InMemoryInventoryStore, StoredReservation};

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "inventory";

/// DynamoDB allows 100 actions per transaction: one Update per SKU plus the reservation Put.
pub const MAX_ITEMS_PER_ORDER: usize = 99;

/// `status` of a reservation record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Reserved,
    Rejected,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Reserved => "RESERVED",
            ReservationStatus::Rejected => "REJECTED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RESERVED" => Some(ReservationStatus::Reserved),
            "REJECTED" => Some(ReservationStatus::Rejected),
            _ => None,
        }
    }
}

/// What to reserve for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub order_id: Uuid,
    pub event_id: Uuid,
    /// `(sku, quantity)`; SKUs are unique (the event contract guarantees it).
    pub items: Vec<(String, u32)>,
}

impl ReservationRequest {
    pub fn from_event(event: &OrderPlacedEvent) -> Self {
        ReservationRequest {
            order_id: event.data().order_id(),
            event_id: event.id(),
            items: event.data().items().iter().map(|item| (item.sku.clone(), item.quantity)).collect(),
        }
    }
}

/// Why an order cannot be reserved: the reason recorded on its REJECTED reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    UnknownSku { sku: String },
    InsufficientStock { sku: String, requested: u32, available: i64 },
}

impl Unavailable {
    /// The `reason` attribute.
    pub fn reason(&self) -> &'static str {
        match self {
            Unavailable::UnknownSku { .. } => "UNKNOWN_SKU",
            Unavailable::InsufficientStock { .. } => "INSUFFICIENT_STOCK",
        }
    }

    pub fn sku(&self) -> &str {
        match self {
            Unavailable::UnknownSku { sku } | Unavailable::InsufficientStock { sku, .. } => sku,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Every item was reserved and the RESERVED record written, in one transaction.
    Reserved,
    /// The order already has a reservation record (an earlier delivery): nothing changed.
    AlreadyRecorded(ReservationStatus),
    /// Nothing changed: this item cannot be reserved.
    Unavailable(Unavailable),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectOutcome {
    Recorded,
    /// Someone recorded a reservation for the order first (RESERVED or REJECTED): that one stands.
    AlreadyRecorded(ReservationStatus),
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("inventory store request failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The transaction was cancelled but a re-read found nothing to explain it: a concurrent
    /// writer (or a transaction conflict). A retry settles it.
    #[error("reservation contended, retry: {0}")]
    Contention(String),
    #[error("an order of {0} items cannot be reserved in one transaction (at most {MAX_ITEMS_PER_ORDER})")]
    TooManyItems(usize),
    #[error("stored item is malformed: {0}")]
    Malformed(String),
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

/// The consumer: reserve, or record why not.
pub struct InventoryHandler {
    store: Arc<dyn InventoryStore>,
}

impl InventoryHandler {
    pub fn new(store: Arc<dyn InventoryStore>) -> Self {
        InventoryHandler { store }
    }

    async fn reserve(&self, event: &OrderPlacedEvent) -> Result<(), InventoryError> {
        let request = ReservationRequest::from_event(event);
        if request.items.len() > MAX_ITEMS_PER_ORDER {
            return Err(InventoryError::TooManyItems(request.items.len()));
        }
        let unavailable = match self.store.reserve(&request).await? {
            ReserveOutcome::Reserved => {
                info!(items = request.items.len(), "stock reserved");
                return Ok(());
            }
            ReserveOutcome::AlreadyRecorded(status) => {
                info!(status = status.as_str(), "reservation already recorded; nothing to do");
                return Ok(());
            }
            ReserveOutcome::Unavailable(unavailable) => unavailable,
        };
        match self.store.record_rejection(&request, &unavailable).await? {
            RejectOutcome::Recorded => {
                warn!(reason = unavailable.reason(), sku = unavailable.sku(), ?unavailable, "reservation rejected")
            }
            RejectOutcome::AlreadyRecorded(status) => {
                info!(status = status.as_str(), "reservation recorded concurrently; that one stands")
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for InventoryHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderPlacedV1(placed) => self.reserve(placed).await.map_err(|error| match error {
                InventoryError::Store(_) | InventoryError::Contention(_) => HandlerError::transient(error),
                InventoryError::TooManyItems(_) | InventoryError::Malformed(_) => HandlerError::permanent(error),
            }),
            // Events added to the contract later are not this consumer's business.
            other => {
                info!(event_type = other.event_type(), "event type ignored by inventory");
                Ok(())
            }
        }
    }
}

/// The production processor: DynamoDB adapters, tables and settings from the environment.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, ConfigError> {
    let config = ConsumerConfig::from_env(CONSUMER)?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let store = DynamoDbInventoryStore::new(
        client.clone(),
        required_env("INVENTORY_TABLE_NAME")?,
        required_env("RESERVATIONS_TABLE_NAME")?,
    );
    let idempotency = DynamoDbIdempotencyStore::new(client, required_env("IDEMPOTENCY_TABLE_NAME")?);
    Ok(BatchProcessor::new(config, Arc::new(InventoryHandler::new(Arc::new(store))), Arc::new(idempotency)))
}
