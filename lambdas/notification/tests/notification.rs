//! Notification's business rules through the batch core, with in-memory adapters.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use lambda_runtime::{Context, LambdaEvent};
use notification::{
    CONSUMER, Email, EmailSender, InMemoryEmailSender, InMemoryNotificationsStore, NotificationHandler, SendError,
    render,
};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, InMemoryIdempotencyStore};
use orderflow_events::OrderPlacedEvent;

fn processor(sender: Arc<dyn EmailSender>, store: Arc<InMemoryNotificationsStore>) -> BatchProcessor {
    BatchProcessor::new(
        ConsumerConfig::new(CONSUMER),
        Arc::new(NotificationHandler::new(sender, store)),
        Arc::new(InMemoryIdempotencyStore::new()),
    )
}

/// An event with customer-controlled text that must not reach the HTML unescaped.
fn hostile_order() -> OrderPlacedEvent {
    let event = order_placed(&[("BOOK-<0001>", 2, 1999), ("MUG&CO", 1, 500)], "EUR");
    let json = event.to_json().replace("Ada Lovelace", "Ada <script>alert(1)</script>");
    match orderflow_events::decode_message(&json) {
        Ok((orderflow_events::OrderEvent::OrderPlacedV1(event), _)) => event,
        other => panic!("fixture did not decode: {other:?}"),
    }
}

#[test]
fn renders_text_and_html_with_the_total_in_its_currency() {
    let event = hostile_order();
    let email = render(&event);
    let order_id = event.data().order_id().to_string();
    assert_eq!(email.to, "ada@example.com");
    assert!(email.subject.contains(&order_id));
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
    let email = render(&order_placed(&[("BOOK-0001", 3, 1500)], "JPY"));
    assert!(email.text.contains("Total: JPY 4500"), "{}", email.text);
}

#[tokio::test]
async fn sends_one_email_per_order_and_records_it() {
    let sender = Arc::new(InMemoryEmailSender::new());
    let store = Arc::new(InMemoryNotificationsStore::new());
    let processor = processor(sender.clone(), store.clone());
    let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    let batch = sqs_event(vec![sqs_message("m1", event.to_json()), sqs_message("m2", event.to_json())]);
    let response = processor.handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    processor.process(sqs_event(vec![sqs_message("m3", event.to_json())])).await;
    assert_eq!(sender.sent().len(), 1);
    let record = store.get(event.data().order_id()).unwrap();
    assert_eq!(record.message_id, "in-memory-1");
    assert_eq!(record.recipient, "ada@example.com");
    assert_eq!(record.event_id, event.id());
}

#[tokio::test]
async fn a_recorded_order_is_not_emailed_again_after_its_idempotency_record_is_gone() {
    let sender = Arc::new(InMemoryEmailSender::new());
    let store = Arc::new(InMemoryNotificationsStore::new());
    let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    for _ in 0..2 {
        processor(sender.clone(), store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
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
    let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    let outcome = processor(Arc::new(RejectingSender), store.clone())
        .process(sqs_event(vec![sqs_message("m1", event.to_json())]))
        .await;
    assert_eq!(outcome.failed_message_ids(), ["m1"]);
    assert!(store.get(event.data().order_id()).is_none());
}
