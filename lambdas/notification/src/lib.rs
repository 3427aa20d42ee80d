//! Sends the order confirmation email.
//!
//! # One email per order: the guarantee
//!
//! Before sending, the handler looks for the order's record in NotificationsTable; after SES
//! accepts the email it writes that record with a conditional put (`attribute_not_exists(orderId)`).
//! With the idempotency claim on the event around it, this sends **one email per order, at least
//! once**: the only way to get a second email is a crash (or a failed write) in the window between
//! SES accepting the email and the record being written, and then the retry sends it again. We
//! chose at-least-once over at-most-once (claim a record first, then send) because a customer
//! missing their confirmation is worse than a rare duplicate, and an at-most-once claim that
//! crashed could never tell whether its email went out.
//!
//! If SES accepted the email but the record cannot be written, the handler logs an error and
//! still reports success: a retry would send the email a second time for certain.

mod dynamodb;
mod memory;
mod render;
mod ses;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{
    BatchProcessor, ConfigError, ConsumerConfig, DynamoDbIdempotencyStore, EventHandler, HandlerError, required_env,
};
use orderflow_events::{OrderEvent, OrderPlacedEvent};
use tracing::{error, info, warn};
use uuid::Uuid;

pub use dynamodb::DynamoDbNotificationsStore;
pub use memory::{InMemoryEmailSender, InMemoryNotificationsStore};
pub use render::{Email, format_money, html_escape, minor_unit_exponent, render};
pub use ses::SesEmailSender;

/// The consumer's name: the prefix of its idempotency keys. Never change it.
pub const CONSUMER: &str = "notification";

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// SES refuses this email (bad address, unverified sender): retrying will not help.
    #[error("email rejected: {0}")]
    Rejected(String),
    /// Throttling, network, SES unavailable: retry.
    #[error("email service unavailable: {0}")]
    Unavailable(String),
}

/// The email port.
#[async_trait]
pub trait EmailSender: Send + Sync {
    /// Sends the email; returns the provider's message id.
    async fn send(&self, email: &Email) -> Result<String, SendError>;
}

/// A NotificationsTable record: the order's confirmation went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub order_id: Uuid,
    pub message_id: String,
    pub recipient: String,
    pub event_id: Uuid,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    #[error("notifications store request failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The notifications port: NotificationsTable, one record per order.
#[async_trait]
pub trait NotificationsStore: Send + Sync {
    async fn exists(&self, order_id: Uuid) -> Result<bool, NotificationsError>;
    /// Writes the record unless the order has one; `false` if it had.
    async fn record_sent(&self, record: &NotificationRecord) -> Result<bool, NotificationsError>;
}

/// The consumer: render, send, record.
pub struct NotificationHandler {
    sender: Arc<dyn EmailSender>,
    notifications: Arc<dyn NotificationsStore>,
}

impl NotificationHandler {
    pub fn new(sender: Arc<dyn EmailSender>, notifications: Arc<dyn NotificationsStore>) -> Self {
        NotificationHandler { sender, notifications }
    }

    async fn notify(&self, event: &OrderPlacedEvent) -> Result<(), HandlerError> {
        let order_id = event.data().order_id();
        if self.notifications.exists(order_id).await.map_err(HandlerError::transient)? {
            info!("confirmation already sent for this order; nothing to do");
            return Ok(());
        }
        let email = render(event);
        let message_id = self.sender.send(&email).await.map_err(|error| match error {
            SendError::Rejected(_) => HandlerError::permanent(error),
            SendError::Unavailable(_) => HandlerError::transient(error),
        })?;
        let record = NotificationRecord {
            order_id,
            message_id: message_id.clone(),
            recipient: email.to.clone(),
            event_id: event.id(),
            sent_at: Utc::now(),
        };
        match self.notifications.record_sent(&record).await {
            Ok(true) => info!(%message_id, "order confirmation sent"),
            Ok(false) => {
                warn!(%message_id, "a confirmation for this order was recorded concurrently; this one was a duplicate")
            }
            Err(failure) => {
                error!(%message_id, error = %failure, "order confirmation sent but not recorded; not retrying, which would send it twice")
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for NotificationHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderPlacedV1(placed) => self.notify(placed).await,
            other => {
                info!(event_type = other.event_type(), "event type ignored by notification");
                Ok(())
            }
        }
    }
}

/// The production processor: SES (API v1) from `SENDER_EMAIL`, DynamoDB adapters.
pub fn processor_from_env(aws: &aws_config::SdkConfig) -> Result<BatchProcessor, ConfigError> {
    let config = ConsumerConfig::from_env(CONSUMER)?;
    let client = aws_sdk_dynamodb::Client::new(aws);
    let notifications = DynamoDbNotificationsStore::new(client.clone(), required_env("NOTIFICATIONS_TABLE_NAME")?);
    let idempotency = DynamoDbIdempotencyStore::new(client, required_env("IDEMPOTENCY_TABLE_NAME")?);
    let sender = SesEmailSender::new(aws_sdk_ses::Client::new(aws), required_env("SENDER_EMAIL")?);
    let handler = NotificationHandler::new(Arc::new(sender), Arc::new(notifications));
    Ok(BatchProcessor::new(config, Arc::new(handler), Arc::new(idempotency)))
}
