//! What notification needs from the outside world: an email service and the notifications table.

use async_trait::async_trait;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use uuid::Uuid;

use crate::domain::NotificationRecord;
use crate::domain::render::Email;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the email service did not accept the email. The cause (the SDK's error, for SES) is the
/// source.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The service refuses this email (bad address, unverified sender): retrying will not help.
    #[error("email rejected: {0}")]
    Rejected(#[source] BoxError),
    /// Throttling, network, service unavailable: retry.
    #[error("email service unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

/// The email port.
#[async_trait]
pub trait EmailSender: Send + Sync {
    /// Sends the email; returns the provider's message id.
    async fn send(&self, email: &Email) -> Result<String, SendError>;
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    #[error("notifications store request failed: {0}")]
    Store(#[from] RequestFailed),
    /// A stored record without the expected shape, where its content matters.
    #[error("stored notification is malformed: {0}")]
    Malformed(#[from] MalformedItem),
    /// The conditional write found a record that the read right after did not. Notifications
    /// are never deleted, so this deserves a look in the logs.
    #[error(
        "the notification of order {order_id} existed for the conditional write but not for the read that followed"
    )]
    Vanished { order_id: Uuid },
}

/// The notifications port: NotificationsTable, one record per order.
#[async_trait]
pub trait NotificationsStore: Send + Sync {
    /// Whether the order has a record, i.e. its email (confirmation or cancellation) went out.
    /// Any record counts, even one the adapter cannot read: the email is never sent twice on
    /// that account.
    async fn exists(&self, order_id: Uuid) -> Result<bool, NotificationsError>;
    /// Writes the record unless the order has one; `false` if it had.
    async fn record_sent(&self, record: &NotificationRecord) -> Result<bool, NotificationsError>;
}
