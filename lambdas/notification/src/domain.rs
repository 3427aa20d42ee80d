//! Notification's values and its handler: render, send, record; one email per order.

pub mod render;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{OrderEvent, OrderPlacedEvent};
use orderflow_kit::{Clock, SystemClock};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::ports::{EmailSender, NotificationsError, NotificationsStore, SendError};
use render::render;

/// The `status` of every NotificationsTable record: the confirmation went out.
pub const SENT: &str = "SENT";

/// A NotificationsTable record: the order's confirmation went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub order_id: Uuid,
    pub message_id: String,
    pub recipient: String,
    pub event_id: Uuid,
    /// When the email service accepted the email, from the handler's clock (`sentAt`).
    pub sent_at: DateTime<Utc>,
}

/// Everything that can stop an order's confirmation before it is sent.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error(transparent)]
    Notifications(#[from] NotificationsError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: NotificationError) -> HandlerError {
    match error {
        // The table or the email service may answer next time; nothing was sent yet, or the
        // record of what was sent is checked again first.
        NotificationError::Notifications(NotificationsError::Store(_))
        | NotificationError::Notifications(NotificationsError::Vanished { .. })
        | NotificationError::Send(SendError::Unavailable(_)) => HandlerError::transient(error),
        // The same email or the same stored record will be refused on every delivery: the
        // message belongs in the DLQ, where someone looks at it.
        NotificationError::Notifications(NotificationsError::Malformed(_))
        | NotificationError::Send(SendError::Rejected(_)) => HandlerError::permanent(error),
    }
}

/// The consumer: render, send, record.
pub struct NotificationHandler {
    sender: Arc<dyn EmailSender>,
    notifications: Arc<dyn NotificationsStore>,
    clock: Arc<dyn Clock>,
}

impl NotificationHandler {
    /// A handler on the wall clock.
    pub fn new(sender: Arc<dyn EmailSender>, notifications: Arc<dyn NotificationsStore>) -> Self {
        NotificationHandler { sender, notifications, clock: Arc::new(SystemClock) }
    }

    /// The time source of the records' `sentAt`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn notify(&self, event: &OrderPlacedEvent) -> Result<(), NotificationError> {
        let order_id = event.data().order_id();
        if self.notifications.exists(order_id).await? {
            info!("confirmation already sent for this order; nothing to do");
            return Ok(());
        }
        let email = render(event);
        let message_id = self.sender.send(&email).await?;
        let record = NotificationRecord {
            order_id,
            message_id: message_id.clone(),
            recipient: email.to,
            event_id: event.id(),
            sent_at: self.clock.now(),
        };
        // From here on the email is out: a failure is logged, never retried (a retry would send
        // it a second time for certain).
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
            OrderEvent::OrderPlacedV1(placed) => self.notify(placed).await.map_err(classify),
            other => {
                info!(event_type = other.event_type(), "event type ignored by notification");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use orderflow_consumer::testing::order_placed;
    use orderflow_kit::clock::ManualClock;
    use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

    use super::*;
    use crate::adapters::{InMemoryEmailSender, InMemoryNotificationsStore};
    use crate::domain::render::Email;

    fn request_failed() -> RequestFailed {
        RequestFailed::new("GetItem", std::io::Error::other("connection reset"))
    }

    #[test]
    fn every_error_has_its_kind() {
        let cases: Vec<(NotificationError, bool)> = vec![
            (NotificationsError::Store(request_failed()).into(), false),
            (NotificationsError::Vanished { order_id: Uuid::nil() }.into(), false),
            (NotificationsError::Malformed(MalformedItem::new("status", "is missing")).into(), true),
            (SendError::Unavailable("throttled".into()).into(), false),
            (SendError::Rejected("Email address is not verified.".into()).into(), true),
        ];
        for (error, permanent) in cases {
            let text = error.to_string();
            let classified = classify(error);
            assert_eq!(classified.is_permanent(), permanent, "{text}");
            assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
        }
    }

    /// A store whose reads fail, or that finds nothing and whose writes fail.
    struct FailingStore {
        reads_fail: bool,
    }

    #[async_trait]
    impl NotificationsStore for FailingStore {
        async fn exists(&self, _: Uuid) -> Result<bool, NotificationsError> {
            if self.reads_fail { Err(request_failed().into()) } else { Ok(false) }
        }

        async fn record_sent(&self, _: &NotificationRecord) -> Result<bool, NotificationsError> {
            Err(RequestFailed::new("PutItem", std::io::Error::other("throttled")).into())
        }
    }

    struct UnavailableSender;

    #[async_trait]
    impl EmailSender for UnavailableSender {
        async fn send(&self, _: &Email) -> Result<String, SendError> {
            Err(SendError::Unavailable("503 Service Unavailable".into()))
        }
    }

    fn placed() -> OrderEvent {
        OrderEvent::OrderPlacedV1(order_placed(&[("BOOK-0001", 2, 1999)], "EUR"))
    }

    #[tokio::test]
    async fn an_unreadable_store_is_retried_before_any_email() {
        let sender = Arc::new(InMemoryEmailSender::new());
        let handler = NotificationHandler::new(sender.clone(), Arc::new(FailingStore { reads_fail: true }));
        let error = handler.handle(&placed()).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
        assert!(sender.sent().is_empty());
    }

    #[tokio::test]
    async fn an_unavailable_email_service_is_retried_and_nothing_is_recorded() {
        let store = Arc::new(InMemoryNotificationsStore::new());
        let handler = NotificationHandler::new(Arc::new(UnavailableSender), store.clone());
        let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
        let error = handler.handle(&OrderEvent::OrderPlacedV1(event.clone())).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
        assert!(store.get(event.data().order_id()).is_none());
    }

    #[tokio::test]
    async fn a_sent_email_whose_record_fails_is_not_retried() {
        let sender = Arc::new(InMemoryEmailSender::new());
        let handler = NotificationHandler::new(sender.clone(), Arc::new(FailingStore { reads_fail: false }));
        handler.handle(&placed()).await.unwrap();
        assert_eq!(sender.sent().len(), 1);
    }

    #[tokio::test]
    async fn the_record_is_stamped_by_the_handler_clock() {
        let clock = Arc::new(ManualClock::at_contract_time());
        let store = Arc::new(InMemoryNotificationsStore::new());
        let handler =
            NotificationHandler::new(Arc::new(InMemoryEmailSender::new()), store.clone()).with_clock(clock.clone());
        let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
        handler.handle(&OrderEvent::OrderPlacedV1(event.clone())).await.unwrap();
        let record = store.get(event.data().order_id()).unwrap();
        assert_eq!(record.sent_at, clock.now());
        assert_eq!(record.event_id, event.id());
    }
}
