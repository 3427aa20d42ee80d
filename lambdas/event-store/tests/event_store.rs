//! The event store's batch handler with the in-memory store, through the Lambda entry point.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
use event_store::{CONSUMER, EventStoreProcessor, InMemoryEventStore, Retention};
use lambda_runtime::{Context, LambdaEvent};
use orderflow_consumer::ManualClock;
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use serde_json::{Value, json};

fn processor(store: Arc<InMemoryEventStore>) -> EventStoreProcessor {
    EventStoreProcessor::new(store, CONSUMER, Retention { days: 400 })
        .with_clock(Arc::new(ManualClock::at_contract_time()))
}

fn with_attributes(mut message: SqsMessage, event_type: &str, version: &str) -> SqsMessage {
    let attribute = |value: &str| {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = Some(value.to_owned());
        attribute.data_type = Some("String".to_owned());
        attribute
    };
    message.message_attributes = HashMap::from([
        ("event_type".to_owned(), attribute(event_type)),
        ("event_version".to_owned(), attribute(version)),
    ]);
    message
}

async fn run(processor: &EventStoreProcessor, records: Vec<SqsMessage>) -> Vec<String> {
    let response = processor.handle(LambdaEvent::new(sqs_event(records), Context::default())).await.unwrap();
    response.batch_item_failures.into_iter().map(|failure| failure.item_identifier).collect()
}

#[tokio::test]
async fn every_event_is_stored_once_with_its_body_and_attributes() {
    let store = Arc::new(InMemoryEventStore::new());
    let processor = processor(store.clone());
    let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    let body = placed.to_json();
    let records = vec![
        with_attributes(sqs_message("m1", body.clone()), "OrderPlaced", "1"),
        with_attributes(sqs_message("m2", body.clone()), "OrderPlaced", "1"),
    ];
    assert!(run(&processor, records).await.is_empty());
    // A later redelivery is a success too, and changes nothing.
    let redelivered = vec![with_attributes(sqs_message("m3", body.clone()), "OrderPlaced", "1")];
    assert!(run(&processor, redelivered).await.is_empty());

    assert_eq!(store.all().len(), 1);
    let stored = store.get(&placed.id().to_string()).unwrap();
    assert_eq!(stored.body, body);
    assert_eq!(stored.order_id, Some(placed.data().order_id().to_string()));
    assert_eq!(stored.correlation_id.as_deref(), Some("req-test"));
    assert_eq!(stored.event_type.as_deref(), Some("OrderPlaced"));
    let attributes: Value = serde_json::from_str(&stored.attributes).unwrap();
    assert_eq!(attributes["event_type"], json!({"DataType": "String", "StringValue": "OrderPlaced"}));
    assert!(stored.expires_at.is_some());
}

#[tokio::test]
async fn unknown_types_are_stored_and_garbage_goes_to_the_dlq() {
    let store = Arc::new(InMemoryEventStore::new());
    let processor = processor(store.clone());
    let future = json!({
        "specversion": "1.0", "id": "evt-future", "type": "orders.OrderGiftWrapped.v3",
        "source": "orderflow.gifts", "time": "2026-11-23T18:30:00Z", "subject": "order-9",
        "data": {"orderId": "order-9", "paper": "gold"}
    })
    .to_string();
    let records = vec![
        with_attributes(sqs_message("ok", future), "OrderGiftWrapped", "3"),
        sqs_message("garbage", "not a cloud event"),
        sqs_message("no-id", r#"{"type":"orders.OrderPlaced.v1"}"#),
    ];
    assert_eq!(run(&processor, records).await, ["garbage", "no-id"]);
    let stored = store.get("evt-future").unwrap();
    assert_eq!((stored.event_type.as_deref(), stored.event_version.as_deref()), (Some("OrderGiftWrapped"), Some("3")));
    assert_eq!(stored.order_id.as_deref(), Some("order-9"));
}

#[tokio::test]
async fn an_unavailable_table_fails_the_message_for_a_retry() {
    let store = Arc::new(InMemoryEventStore::new());
    let processor = processor(store.clone());
    let body = order_placed(&[("BOOK-0001", 1, 1999)], "EUR").to_json();
    store.set_failing(true);
    assert_eq!(run(&processor, vec![sqs_message("m1", body.clone())]).await, ["m1"]);
    store.set_failing(false);
    assert!(run(&processor, vec![sqs_message("m1", body)]).await.is_empty());
    assert_eq!(store.all().len(), 1);
}

#[tokio::test]
async fn the_metrics_count_stored_duplicate_and_failed() {
    let store = Arc::new(InMemoryEventStore::new());
    let processor = processor(store.clone());
    let body = order_placed(&[("BOOK-0001", 1, 1999)], "EUR").to_json();
    let outcome = processor
        .process(sqs_event(vec![sqs_message("a", body.clone()), sqs_message("b", body), sqs_message("c", "{}")]))
        .await;
    let metrics = &outcome.metrics;
    assert_eq!((metrics.processed, metrics.duplicates_skipped, metrics.failed), (1, 1, 1));
    assert_eq!(outcome.failed_message_ids(), ["c"]);
}
