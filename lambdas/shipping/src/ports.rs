//! What shipping needs from the outside world: the shipments table.

use async_trait::async_trait;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use uuid::Uuid;

use crate::domain::{CreateOutcome, Shipment};

#[derive(Debug, thiserror::Error)]
pub enum ShipmentsError {
    #[error("shipments store request failed: {0}")]
    Store(#[from] RequestFailed),
    /// A stored record without the expected shape, where its content matters.
    #[error("stored shipment is malformed: {0}")]
    Malformed(#[from] MalformedItem),
    /// The conditional write found a record that the read right after did not. Shipments are
    /// never deleted, so a retry settles it (and the logs deserve a look).
    #[error("the shipment of order {order_id} existed for the conditional write but not for the read that followed")]
    Vanished { order_id: Uuid },
}

/// The shipments port: ShipmentsTable, one record per order.
#[async_trait]
pub trait ShipmentsStore: Send + Sync {
    /// The order's shipment, if it has one.
    async fn find(&self, order_id: Uuid) -> Result<Option<Shipment>, ShipmentsError>;
    /// Writes the shipment unless the order has one already; then the existing one stands,
    /// whatever it looks like (a second shipment is the one thing never to create).
    async fn create(&self, shipment: &Shipment) -> Result<CreateOutcome, ShipmentsError>;
}
