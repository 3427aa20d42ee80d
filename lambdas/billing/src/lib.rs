//! Charges the customer for placed orders.
//!
//! The charge goes through a [`PaymentGateway`] with the event id as its idempotency key, so a
//! retried or duplicated event can never charge twice, and its outcome (CAPTURED or DECLINED) is
//! written as exactly one `payments` record per order by a conditional put: whichever of two
//! concurrent attempts writes second finds the record and stands down.

mod dynamodb;
mod gateway;
mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use orderflow_consumer::{
    BatchProcessor, ConfigError, ConsumerConfig, DynamoDbIdempotencyStore, EventHandler, HandlerError, required_env,
};
use orderflow_events::{Money, OrderEvent, OrderPlacedEvent};
use tracing::{info, warn};
use uuid::Uuid;

pub use dynamodb::DynamoDbPaymentsStore;
pub use gateway::{DEFAULT_DECLINE_ABOVE, SimulatedGateway};
pub use memory::InMemoryPaymentsStore;

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "billing";

/// `status` of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Captured,
    Declined,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Captured => "CAPTURED",
            PaymentStatus::Declined => "DECLINED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "CAPTURED" => Some(PaymentStatus::Captured),
            "DECLINED" => Some(PaymentStatus::Declined),
            _ => None,
        }
    }
}

/// A charge as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The same key always gets the same result and charges at most once: the event id.
    pub idempotency_key: String,
    pub order_id: Uuid,
    pub amount: Money,
}

/// What the gateway decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeResult {
    pub status: PaymentStatus,
    /// The gateway's reference for the charge (or the declined attempt).
    pub reference: String,
    pub decline_reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Timeouts, 5xx, throttling: retry with the same key.
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
    /// The gateway refuses the request itself (not the card): retrying will not help.
    #[error("payment gateway rejected the request: {0}")]
    InvalidRequest(String),
}

/// The payment-gateway port.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeResult, GatewayError>;
}

/// One `payments` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub order_id: Uuid,
    pub status: PaymentStatus,
    pub amount: Money,
    pub event_id: Uuid,
    pub gateway_reference: String,
    pub decline_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The order already had a payment record: it stands, this one was not written.
    AlreadyRecorded(Payment),
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error("payments store request failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored payment is malformed: {0}")]
    Malformed(String),
}

/// The payments port: PaymentsTable, one record per order.
#[async_trait]
pub trait PaymentsStore: Send + Sync {
    async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError>;
    /// Writes the record unless the order has one already.
    async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError>;
}

#[derive(Debug, thiserror::Error)]
enum BillingError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Payments(#[from] PaymentsError),
}

/// The consumer: charge once, record once.
pub struct BillingHandler {
    gateway: Arc<dyn PaymentGateway>,
    payments: Arc<dyn PaymentsStore>,
}

impl BillingHandler {
    pub fn new(gateway: Arc<dyn PaymentGateway>, payments: Arc<dyn PaymentsStore>) -> Self {
        BillingHandler { gateway, payments }
    }

    async fn bill(&self, event: &OrderPlacedEvent) -> Result<(), BillingError> {
        let order_id = event.data().order_id();
        // A record means the order is settled, whichever event settled it; this also keeps a
        // second event for the same order (a new id) from charging again.
        if let Some(existing) = self.payments.find(order_id).await? {
            info!(status = existing.status.as_str(), "payment already recorded; nothing to do");
            return Ok(());
        }
        let request = ChargeRequest { idempotency_key: event.id().to_string(), order_id, amount: event.data().total() };
        let result = self.gateway.charge(&request).await?;
        let payment = Payment {
            order_id,
            status: result.status,
            amount: request.amount,
            event_id: event.id(),
            gateway_reference: result.reference,
            decline_reason: result.decline_reason,
        };
        match self.payments.record(&payment).await? {
            RecordOutcome::Recorded => info!(
                status = payment.status.as_str(),
                amount = payment.amount.amount,
                currency = %payment.amount.currency,
                gateway_reference = %payment.gateway_reference,
                decline_reason = payment.decline_reason.as_deref(),
                "payment recorded"
            ),
            RecordOutcome::AlreadyRecorded(existing) if existing.event_id == payment.event_id => {
                info!(status = existing.status.as_str(), "payment recorded concurrently by another attempt")
            }
            RecordOutcome::AlreadyRecorded(existing) => warn!(
                existing_event_id = %existing.event_id,
                existing_status = existing.status.as_str(),
                "order already has a payment from another event; this charge is not recorded"
            ),
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for BillingHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderPlacedV1(placed) => self.bill(placed).await.map_err(|error| match error {
                BillingError::Gateway(GatewayError::InvalidRequest(_))
                | BillingError::Payments(PaymentsError::Malformed(_)) => HandlerError::permanent(error),
                _ => HandlerError::transient(error),
            }),
            other => {
                info!(event_type = other.event_type(), "event type ignored by billing");
                Ok(())
            }
        }
    }
}

/// The production processor: simulated gateway, DynamoDB adapters, settings from the environment.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, ConfigError> {
    let config = ConsumerConfig::from_env(CONSUMER)?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let payments = DynamoDbPaymentsStore::new(client.clone(), required_env("PAYMENTS_TABLE_NAME")?);
    let idempotency = DynamoDbIdempotencyStore::new(client, required_env("IDEMPOTENCY_TABLE_NAME")?);
    let handler = BillingHandler::new(Arc::new(SimulatedGateway::from_env()?), Arc::new(payments));
    Ok(BatchProcessor::new(config, Arc::new(handler), Arc::new(idempotency)))
}
