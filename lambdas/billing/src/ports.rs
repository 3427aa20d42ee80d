//! What billing needs from the outside world: a payment gateway and the payments table.

use async_trait::async_trait;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use uuid::Uuid;

use crate::domain::{ChargeRequest, ChargeResult, Payment, RecordOutcome};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the gateway gave no decision. A declined card is not an error: it is a [`ChargeResult`].
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Timeouts, 5xx, throttling: retry with the same key.
    #[error("payment gateway unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The gateway refuses the request itself (not the card): retrying will not help. The
    /// gateway's own explanation.
    #[error("payment gateway rejected the request: {0}")]
    InvalidRequest(String),
}

/// The payment-gateway port. The same idempotency key always gets the same result and charges
/// at most once.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeResult, GatewayError>;
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error("payments store request failed: {0}")]
    Store(#[from] RequestFailed),
    #[error("stored payment is malformed: {0}")]
    Malformed(#[from] MalformedItem),
    /// The conditional write found a record that the read right after did not. Payments are
    /// never deleted, so a retry settles it (and the logs deserve a look).
    #[error("the payment of order {order_id} existed for the conditional write but not for the read that followed")]
    Vanished { order_id: Uuid },
}

/// The payments port: PaymentsTable, one record per order.
#[async_trait]
pub trait PaymentsStore: Send + Sync {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError>;
    /// Writes the record unless the order has one already; then the existing one is returned.
    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError>;
}
