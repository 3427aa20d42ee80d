//! What billing needs from the outside world: a payment gateway and the payments table.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::BuildError;
use chrono::{DateTime, Utc};
use orderflow_events::Money;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use orderflow_outbox::OutboxEntry;
use uuid::Uuid;

use crate::domain::{Authorization, Payment, RecordOutcome, SettleOutcome, Settlement};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the gateway gave no decision. A declined card is not an error: it is an
/// [`Authorization::Declined`].
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Timeouts, 5xx, throttling: retry; every call of the port is idempotent.
    #[error("payment gateway unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The gateway refuses the request itself (not the card): retrying will not help. The
    /// gateway's own explanation.
    #[error("payment gateway rejected the request: {0}")]
    InvalidRequest(String),
}

/// The payment-gateway port. Every call is idempotent: authorizing an order twice gives the same
/// authorization (its id is derived from the order), and capturing or voiding an authorization
/// that is already captured or voided succeeds without a second effect. That is what makes a
/// retry after a crash between the gateway call and the table write safe.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Holds `amount` for the order, or declines it.
    async fn authorize(&self, order_id: Uuid, amount: Money) -> Result<Authorization, GatewayError>;
    /// Takes the held amount.
    async fn capture(&self, authorization_id: &str) -> Result<(), GatewayError>;
    /// Releases the held amount.
    async fn void(&self, authorization_id: &str) -> Result<(), GatewayError>;
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error("payments store request failed: {0}")]
    Store(#[from] RequestFailed),
    #[error("stored payment is malformed: {0}")]
    Malformed(#[from] MalformedItem),
    /// A concurrent transaction touched the same items: DynamoDB cancelled ours.
    #[error("the payment of order {order_id} was written concurrently; the transaction was cancelled")]
    Contended { order_id: Uuid },
    /// A conditional write found a record that the read right after did not. Payments are
    /// never deleted, so a retry settles it (and the logs deserve a look).
    #[error("the payment of order {order_id} existed for the conditional write but not for the read that followed")]
    Vanished { order_id: Uuid },
    /// A request could not even be built (a required field missing): a bug, not a condition.
    #[error("payments store request could not be built: {0}")]
    Request(#[from] BuildError),
}

/// The payments port: PaymentsTable, one record per order, and the outbox entries written with
/// the records that announce something.
#[async_trait]
pub trait PaymentsStore: Send + Sync {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError>;

    /// Writes the authorization's outcome (AUTHORIZED or DECLINED) and the outbox entry that
    /// announces it, in one transaction, unless the order has a record already: then nothing is
    /// written and the existing record is returned.
    async fn record_outcome(
        &self,
        payment: &Payment,
        announcement: &OutboxEntry,
    ) -> Result<RecordOutcome, PaymentsError>;

    /// Writes a record that announces nothing (VOIDED, a cancellation seen before its order)
    /// unless the order has one already; then the existing one is returned.
    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError>;

    /// Moves an AUTHORIZED payment to CAPTURED or VOIDED (a conditional update). A payment no
    /// longer AUTHORIZED is left alone and returned as it is.
    async fn settle(
        &self,
        order_id: Uuid,
        settlement: Settlement,
        at: DateTime<Utc>,
    ) -> Result<SettleOutcome, PaymentsError>;
}
