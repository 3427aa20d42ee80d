//! Notification's business rules through the batch core, with in-memory adapters.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use notification::{
    CONSUMER, Email, EmailSender, InMemoryEmailSender, InMemoryNotificationsStore, NotificationHandler,
    NotificationKind, SendError, reason_in_words, render_cancellation, render_confirmation,
};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, InMemoryIdempotencyStore};
use orderflow_events::{
    CancellationReason, ORDER_SERVICE_SOURCE, OrderCancelledEvent, OrderCancelledV1, OrderConfirmedEvent,
    OrderConfirmedV1, OrderEvent, OrderPlacedEvent,
};
use uuid::Uuid;

fn processor(sender: Arc<dyn EmailSender>, store: Arc<InMemoryNotificationsStore>) -> BatchProcessor {
    BatchProcessor::new(
        ConsumerConfig::new(CONSUMER),
        Arc::new(NotificationHandler::new(sender, store)),
        Arc::new(InMemoryIdempotencyStore::new()),
    )
}

fn placed() -> OrderPlacedEvent {
    order_placed(&[("BOOK-0001", 1, 1999)], "EUR")
}

fn confirmed(placed: &OrderPlacedEvent) -> OrderConfirmedEvent {
    OrderConfirmedEvent::new(
        Uuid::now_v7(),
        ORDER_SERVICE_SOURCE,
        Utc::now(),
        OrderConfirmedV1::for_order(placed.data()),
    )
    .with_correlation_id("req-test")
}

fn cancelled(placed: &OrderPlacedEvent, reason: CancellationReason) -> OrderCancelledEvent {
    let order = placed.data();
    let data = OrderCancelledV1::new(order.order_id(), reason, order.customer().clone(), order.total()).unwrap();
    OrderCancelledEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), data).with_correlation_id("req-test")
}

/// Events with customer-controlled text that must not reach the HTML unescaped.
fn hostile(json: String) -> OrderEvent {
    let json = json.replace("Ada Lovelace", "Ada <script>alert(1)</script>");
    match orderflow_events::decode_message(&json) {
        Ok((event, _)) => event,
        Err(error) => panic!("fixture did not decode: {error:?}"),
    }
}

#[test]
fn renders_the_confirmation_as_text_and_html_with_the_total_in_its_currency() {
    let placed = order_placed(&[("BOOK-<0001>", 2, 1999), ("MUG&CO", 1, 500)], "EUR");
    let OrderEvent::OrderConfirmedV1(event) = hostile(confirmed(&placed).to_json()) else { panic!("a confirmation") };
    let email = render_confirmation(&event);
    let order_id = event.data().order_id().to_string();
    assert_eq!(email.to, "ada@example.com");
    assert!(email.subject.contains(&order_id) && email.subject.contains("confirmed"));
    for part in [&email.text, &email.html] {
        assert!(part.contains(&order_id));
        assert!(part.contains("EUR 44.98"), "total: {part}");
        assert!(part.contains("EUR 19.99"), "unit price: {part}");
    }
    assert!(email.text.contains("Ada <script>alert(1)</script>"), "plain text stays as written");
    assert!(email.text.contains("2 x BOOK-<0001>"));
    assert!(!email.html.contains("<script>"));
    assert!(email.html.contains("Ada &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(email.html.contains("BOOK-&lt;0001&gt;") && email.html.contains("MUG&amp;CO"));
}

#[test]
fn renders_yen_without_decimals() {
    let email = render_confirmation(&confirmed(&order_placed(&[("BOOK-0001", 3, 1500)], "JPY")));
    assert!(email.text.contains("Total: JPY 4500"), "{}", email.text);
}

#[test]
fn renders_the_cancellation_with_its_reason_in_words_and_escaped_html() {
    let placed = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    let OrderEvent::OrderCancelledV1(event) = hostile(cancelled(&placed, CancellationReason::OutOfStock).to_json())
    else {
        panic!("a cancellation")
    };
    let email = render_cancellation(&event);
    assert!(email.subject.contains("cancelled"), "{}", email.subject);
    for part in [&email.text, &email.html] {
        assert!(part.contains("one of the items is out of stock"), "{part}");
        assert!(!part.contains("OUT_OF_STOCK"), "{part}");
        assert!(part.contains("EUR 39.98"), "{part}");
    }
    assert!(email.text.contains("Ada <script>alert(1)</script>"));
    assert!(!email.html.contains("<script>"));
}

#[tokio::test]
async fn sends_one_confirmation_per_order_and_records_it() {
    let sender = Arc::new(InMemoryEmailSender::new());
    let store = Arc::new(InMemoryNotificationsStore::new());
    let processor = processor(sender.clone(), store.clone());
    let event = confirmed(&placed());
    let batch = sqs_event(vec![sqs_message("m1", event.to_json()), sqs_message("m2", event.to_json())]);
    let response = processor.handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    processor.process(sqs_event(vec![sqs_message("m3", event.to_json())])).await;
    assert_eq!(sender.sent().len(), 1);
    let record = store.get(event.data().order_id()).unwrap();
    assert_eq!(record.kind, NotificationKind::Confirmation);
    assert_eq!(record.message_id, "in-memory-1");
    assert_eq!(record.recipient, "ada@example.com");
    assert_eq!(record.event_id, event.id());
}

#[tokio::test]
async fn sends_one_cancellation_per_order_for_every_reason() {
    for reason in CancellationReason::ALL {
        let sender = Arc::new(InMemoryEmailSender::new());
        let store = Arc::new(InMemoryNotificationsStore::new());
        let placed = placed();
        let event = cancelled(&placed, reason);
        let outcome = processor(sender.clone(), store.clone())
            .process(sqs_event(vec![sqs_message("m1", event.to_json()), sqs_message("m2", event.to_json())]))
            .await;
        assert!(outcome.failed_message_ids().is_empty());
        let sent = sender.sent();
        assert_eq!(sent.len(), 1, "{reason}");
        assert!(sent[0].text.contains(reason_in_words(reason)), "{}", sent[0].text);
        assert!(!sent[0].text.contains(reason.as_str()) && !sent[0].html.contains(reason.as_str()));
        let record = store.get(placed.data().order_id()).unwrap();
        assert_eq!((record.kind, record.event_id), (NotificationKind::Cancellation, event.id()));
    }
}

#[tokio::test]
async fn a_placed_order_is_processed_without_an_email() {
    let sender = Arc::new(InMemoryEmailSender::new());
    let store = Arc::new(InMemoryNotificationsStore::new());
    let placed = placed();
    let outcome =
        processor(sender.clone(), store.clone()).process(sqs_event(vec![sqs_message("m1", placed.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert!(sender.sent().is_empty());
    assert!(store.get(placed.data().order_id()).is_none());
}

#[tokio::test]
async fn a_recorded_order_is_not_emailed_again_after_its_idempotency_record_is_gone() {
    let sender = Arc::new(InMemoryEmailSender::new());
    let store = Arc::new(InMemoryNotificationsStore::new());
    let placed = placed();
    // A re-published settlement keeps its id; a second event with a new id is the harder case.
    for event in [confirmed(&placed).to_json(), confirmed(&placed).to_json()] {
        processor(sender.clone(), store.clone()).process(sqs_event(vec![sqs_message("m1", event)])).await;
    }
    assert_eq!(sender.sent().len(), 1);
}

struct RejectingSender;

#[async_trait]
impl EmailSender for RejectingSender {
    async fn send(&self, _email: &Email) -> Result<String, SendError> {
        Err(SendError::Rejected("Email address is not verified.".into()))
    }
}

#[tokio::test]
async fn a_rejected_email_is_reported_failed_and_not_recorded() {
    let store = Arc::new(InMemoryNotificationsStore::new());
    let event = cancelled(&placed(), CancellationReason::UnknownSku);
    let outcome = processor(Arc::new(RejectingSender), store.clone())
        .process(sqs_event(vec![sqs_message("m1", event.to_json())]))
        .await;
    assert_eq!(outcome.failed_message_ids(), ["m1"]);
    assert!(store.get(event.data().order_id()).is_none());
}
