//! Inventory's business rules through the batch core, with in-memory adapters.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use inventory::{CONSUMER, InMemoryInventoryStore, InventoryHandler, ReservationStatus};
use lambda_runtime::{Context, LambdaEvent};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, InMemoryIdempotencyStore};
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;

fn processor(store: Arc<InMemoryInventoryStore>) -> BatchProcessor {
    processor_at(store, Arc::new(ManualClock::at_contract_time()))
}

fn processor_at(store: Arc<InMemoryInventoryStore>, clock: Arc<ManualClock>) -> BatchProcessor {
    BatchProcessor::new(
        ConsumerConfig::new(CONSUMER),
        Arc::new(InventoryHandler::new(store).with_clock(clock)),
        Arc::new(InMemoryIdempotencyStore::new()),
    )
}

fn stock() -> Arc<InMemoryInventoryStore> {
    Arc::new(InMemoryInventoryStore::new().with_stock("BOOK-0001", 10).with_stock("MUG-0001", 5))
}

#[tokio::test]
async fn reserves_every_item() {
    let store = stock();
    let event = order_placed(&[("BOOK-0001", 2, 1999), ("MUG-0001", 1, 899)], "EUR");
    let batch = sqs_event(vec![sqs_message("m1", event.to_json())]);
    let clock = Arc::new(ManualClock::at_contract_time());
    let response =
        processor_at(store.clone(), clock.clone()).handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(store.stock("BOOK-0001"), Some((8, 2)));
    assert_eq!(store.stock("MUG-0001"), Some((4, 1)));
    let reservation = store.reservation(event.data().order_id()).unwrap();
    assert_eq!(reservation.status, ReservationStatus::Reserved);
    assert_eq!(reservation.event_id, event.id());
    assert_eq!(reservation.items, [("BOOK-0001".to_owned(), 2), ("MUG-0001".to_owned(), 1)]);
    assert_eq!(reservation.created_at, clock.now());
}

#[tokio::test]
async fn insufficient_stock_is_a_recorded_rejection_and_changes_no_stock() {
    let store = stock();
    // The first item fits, the second does not: neither may be reserved.
    let event = order_placed(&[("BOOK-0001", 2, 1999), ("MUG-0001", 6, 899)], "EUR");
    let outcome = processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty(), "a business outcome, not a retry");
    assert_eq!(store.stock("BOOK-0001"), Some((10, 0)));
    assert_eq!(store.stock("MUG-0001"), Some((5, 0)));
    let reservation = store.reservation(event.data().order_id()).unwrap();
    assert_eq!(reservation.status, ReservationStatus::Rejected);
    assert_eq!(reservation.reason.as_deref(), Some("INSUFFICIENT_STOCK"));
    assert_eq!(reservation.sku.as_deref(), Some("MUG-0001"));
}

#[tokio::test]
async fn an_unknown_sku_is_a_recorded_rejection() {
    let store = stock();
    let event = order_placed(&[("BOOK-0001", 1, 1999), ("NOPE-0001", 1, 100)], "EUR");
    let outcome = processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(store.stock("BOOK-0001"), Some((10, 0)));
    let reservation = store.reservation(event.data().order_id()).unwrap();
    assert_eq!(reservation.status, ReservationStatus::Rejected);
    assert_eq!(reservation.reason.as_deref(), Some("UNKNOWN_SKU"));
    assert_eq!(reservation.sku.as_deref(), Some("NOPE-0001"));
}

#[tokio::test]
async fn duplicates_reserve_once() {
    let store = stock();
    let processor = processor(store.clone());
    let event = order_placed(&[("BOOK-0001", 3, 1999)], "EUR");
    let batch = sqs_event(vec![sqs_message("m1", event.to_json()), sqs_message("m2", event.to_json())]);
    let outcome = processor.process(batch).await;
    assert!(outcome.failed_message_ids().is_empty());
    processor.process(sqs_event(vec![sqs_message("m3", event.to_json())])).await;
    assert_eq!(store.stock("BOOK-0001"), Some((7, 3)));
    assert_eq!(store.reservation_count(), 1);
}

#[tokio::test]
async fn a_reservation_already_recorded_is_left_alone_even_without_the_idempotency_record() {
    // E.g. the idempotency record expired, or was never completed after a crash.
    let store = stock();
    let event = order_placed(&[("BOOK-0001", 4, 1999)], "EUR");
    for _ in 0..2 {
        let outcome = processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
        assert!(outcome.failed_message_ids().is_empty());
    }
    assert_eq!(store.stock("BOOK-0001"), Some((6, 4)));
}

#[tokio::test]
async fn a_rejected_order_stays_rejected_when_stock_arrives_later() {
    let store = Arc::new(InMemoryInventoryStore::new().with_stock("BOOK-0001", 1));
    let event = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    store.set_available("BOOK-0001", 100);
    processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(store.reservation(event.data().order_id()).map(|r| r.status), Some(ReservationStatus::Rejected));
    assert_eq!(store.stock("BOOK-0001"), Some((100, 0)));
}
