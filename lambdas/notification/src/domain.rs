//! Notification's values and its handler: render, send, record; one email per order, the
//! confirmation or the cancellation.

pub mod render;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{OrderCancelledEvent, OrderConfirmedEvent, OrderEvent};
use orderflow_kit::{Clock, SystemClock};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::ports::{EmailSender, NotificationsError, NotificationsStore, SendError};
use render::{Email, render_cancellation, render_confirmation};

/// The `status` of every NotificationsTable record: the order's email went out.
pub const SENT: &str = "SENT";

/// Which email the order got (`kind`). An order settles once, as confirmed or as cancelled, so
/// it gets one of them, and the record under its key keeps it from getting another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    Confirmation,
    Cancellation,
}

impl NotificationKind {
    /// The stored value, read by the end-to-end tests: never change it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Confirmation => "CONFIRMATION",
            NotificationKind::Cancellation => "CANCELLATION",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "CONFIRMATION" => Some(NotificationKind::Confirmation),
            "CANCELLATION" => Some(NotificationKind::Cancellation),
            _ => None,
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A NotificationsTable record: the order's email went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub order_id: Uuid,
    pub kind: NotificationKind,
    pub message_id: String,
    pub recipient: String,
    /// The event whose email this was (OrderConfirmed or OrderCancelled).
    pub event_id: Uuid,
    /// When the email service accepted the email, from the handler's clock (`sentAt`).
    pub sent_at: DateTime<Utc>,
}

/// Everything that can stop an order's email before it is sent.
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

    async fn confirm(&self, event: &OrderConfirmedEvent) -> Result<(), NotificationError> {
        let order_id = event.data().order_id();
        self.notify(order_id, NotificationKind::Confirmation, event.id(), || render_confirmation(event)).await
    }

    async fn cancel(&self, event: &OrderCancelledEvent) -> Result<(), NotificationError> {
        let order_id = event.data().order_id();
        info!(reason = %event.data().reason(), "order cancelled");
        self.notify(order_id, NotificationKind::Cancellation, event.id(), || render_cancellation(event)).await
    }

    /// Sends the order's one email unless it went out already, then records it.
    async fn notify(
        &self,
        order_id: Uuid,
        kind: NotificationKind,
        event_id: Uuid,
        render: impl FnOnce() -> Email,
    ) -> Result<(), NotificationError> {
        if self.notifications.exists(order_id).await? {
            info!(%kind, "the order's email already went out; nothing to do");
            return Ok(());
        }
        let email = render();
        let message_id = self.sender.send(&email).await?;
        let record = NotificationRecord {
            order_id,
            kind,
            message_id: message_id.clone(),
            recipient: email.to,
            event_id,
            sent_at: self.clock.now(),
        };
        // From here on the email is out: a failure is logged, never retried (a retry would send
        // it a second time for certain).
        match self.notifications.record_sent(&record).await {
            Ok(true) => info!(%message_id, %kind, "order email sent"),
            Ok(false) => {
                warn!(%message_id, %kind, "an email for this order was recorded concurrently; this one was a duplicate")
            }
            Err(failure) => {
                error!(%message_id, %kind, error = %failure, "order email sent but not recorded; not retrying, which would send it twice")
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for NotificationHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        match event {
            OrderEvent::OrderConfirmedV1(confirmed) => self.confirm(confirmed).await.map_err(classify),
            OrderEvent::OrderCancelledV1(cancelled) => self.cancel(cancelled).await.map_err(classify),
            // OrderPlaced among them: an order is not settled when it is placed, so it gets no
            // email yet (no longer subscribed, but harmless if one arrives). `_` as well: the
            // event enum is non-exhaustive.
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
    use orderflow_events::{
        CancellationReason, ORDER_SERVICE_SOURCE, OrderCancelledV1, OrderConfirmedV1, OrderPlacedEvent,
    };
    use orderflow_kit::clock::ManualClock;
    use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

    use super::*;
    use crate::adapters::{InMemoryEmailSender, InMemoryNotificationsStore};

    fn request_failed() -> RequestFailed {
        RequestFailed::new("GetItem", std::io::Error::other("connection reset"))
    }

    fn placed() -> OrderPlacedEvent {
        order_placed(&[("BOOK-0001", 2, 1999)], "EUR")
    }

    fn confirmed(placed: &OrderPlacedEvent) -> OrderConfirmedEvent {
        OrderConfirmedEvent::new(
            Uuid::now_v7(),
            ORDER_SERVICE_SOURCE,
            Utc::now(),
            OrderConfirmedV1::for_order(placed.data()),
        )
    }

    fn cancelled(placed: &OrderPlacedEvent, reason: CancellationReason) -> OrderCancelledEvent {
        let order = placed.data();
        let data = OrderCancelledV1::new(order.order_id(), reason, order.customer().clone(), order.total()).unwrap();
        OrderCancelledEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), data)
    }

    fn confirmation() -> OrderEvent {
        OrderEvent::OrderConfirmedV1(confirmed(&placed()))
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

    #[test]
    fn the_kind_round_trips() {
        for kind in [NotificationKind::Confirmation, NotificationKind::Cancellation] {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NotificationKind::parse("RECEIPT"), None);
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

    #[tokio::test]
    async fn an_unreadable_store_is_retried_before_any_email() {
        let sender = Arc::new(InMemoryEmailSender::new());
        let handler = NotificationHandler::new(sender.clone(), Arc::new(FailingStore { reads_fail: true }));
        let error = handler.handle(&confirmation()).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
        assert!(sender.sent().is_empty());
    }

    #[tokio::test]
    async fn an_unavailable_email_service_is_retried_and_nothing_is_recorded() {
        let store = Arc::new(InMemoryNotificationsStore::new());
        let handler = NotificationHandler::new(Arc::new(UnavailableSender), store.clone());
        let placed = placed();
        let event = OrderEvent::OrderCancelledV1(cancelled(&placed, CancellationReason::Timeout));
        let error = handler.handle(&event).await.unwrap_err();
        assert!(!error.is_permanent(), "{error}");
        assert!(store.get(placed.data().order_id()).is_none());
    }

    #[tokio::test]
    async fn a_sent_email_whose_record_fails_is_not_retried() {
        let sender = Arc::new(InMemoryEmailSender::new());
        let handler = NotificationHandler::new(sender.clone(), Arc::new(FailingStore { reads_fail: false }));
        handler.handle(&confirmation()).await.unwrap();
        assert_eq!(sender.sent().len(), 1);
    }

    #[tokio::test]
    async fn the_record_is_stamped_by_the_handler_clock_with_its_kind() {
        let clock = Arc::new(ManualClock::at_contract_time());
        let store = Arc::new(InMemoryNotificationsStore::new());
        let handler =
            NotificationHandler::new(Arc::new(InMemoryEmailSender::new()), store.clone()).with_clock(clock.clone());
        let event = confirmed(&placed());
        handler.handle(&OrderEvent::OrderConfirmedV1(event.clone())).await.unwrap();
        let record = store.get(event.data().order_id()).unwrap();
        assert_eq!(record.sent_at, clock.now());
        assert_eq!(record.event_id, event.id());
        assert_eq!(record.kind, NotificationKind::Confirmation);
    }

    #[tokio::test]
    async fn a_cancelled_order_gets_one_cancellation_email() {
        let sender = Arc::new(InMemoryEmailSender::new());
        let store = Arc::new(InMemoryNotificationsStore::new());
        let handler = NotificationHandler::new(sender.clone(), store.clone());
        let placed = placed();
        let event = cancelled(&placed, CancellationReason::PaymentDeclined);
        for _ in 0..2 {
            handler.handle(&OrderEvent::OrderCancelledV1(event.clone())).await.unwrap();
        }
        let sent = sender.sent();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].text.contains("the payment was declined"), "{}", sent[0].text);
        let record = store.get(placed.data().order_id()).unwrap();
        assert_eq!((record.kind, record.event_id), (NotificationKind::Cancellation, event.id()));
    }

    #[tokio::test]
    async fn a_placed_order_gets_no_email() {
        let sender = Arc::new(InMemoryEmailSender::new());
        let store = Arc::new(InMemoryNotificationsStore::new());
        let handler = NotificationHandler::new(sender.clone(), store.clone());
        let placed = placed();
        handler.handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
        assert!(sender.sent().is_empty());
        assert!(store.get(placed.data().order_id()).is_none());
    }

    #[tokio::test]
    async fn an_order_that_has_its_email_gets_no_other() {
        let sender = Arc::new(InMemoryEmailSender::new());
        let store = Arc::new(InMemoryNotificationsStore::new());
        let handler = NotificationHandler::new(sender.clone(), store.clone());
        let placed = placed();
        handler.handle(&OrderEvent::OrderConfirmedV1(confirmed(&placed))).await.unwrap();
        // Cannot happen (an order settles once), but if it did the customer still gets one email.
        handler.handle(&OrderEvent::OrderCancelledV1(cancelled(&placed, CancellationReason::Timeout))).await.unwrap();
        assert_eq!(sender.sent().len(), 1);
        assert_eq!(store.get(placed.data().order_id()).unwrap().kind, NotificationKind::Confirmation);
    }
}
