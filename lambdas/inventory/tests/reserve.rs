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
use orderflow_outbox::Announcer;
use orderflow_outbox::adapters::memory::RecordingPublisher;

fn processor(store: Arc<InMemoryInventoryStore>) -> BatchProcessor {
    processor_at(store, Arc::new(ManualClock::at_contract_time()))
}

fn processor_at(store: Arc<InMemoryInventoryStore>, clock: Arc<ManualClock>) -> BatchProcessor {
    BatchProcessor::new(
        ConsumerConfig::new(CONSUMER),
        Arc::new(InventoryHandler::new(store.clone(), announcer(&store, &clock)).with_clock(clock)),
        Arc::new(InMemoryIdempotencyStore::new()),
    )
}

fn announcer(store: &InMemoryInventoryStore, clock: &Arc<ManualClock>) -> Announcer {
    Announcer::new(store.outbox(), Arc::new(RecordingPublisher::new()), clock.clone())
}

/// The event types in the store's outbox, oldest first.
fn announced(store: &InMemoryInventoryStore) -> Vec<String> {
    store.outbox().entries().into_iter().map(|stored| stored.entry.event_type).collect()
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
    let reservation = store.reservation_record(event.data().order_id()).unwrap();
    assert_eq!(reservation.status, ReservationStatus::Reserved);
    assert_eq!(reservation.event_id, event.id());
    assert_eq!(reservation.items, [("BOOK-0001".to_owned(), 2), ("MUG-0001".to_owned(), 1)]);
    assert_eq!(reservation.created_at, clock.now());
    assert_eq!(announced(&store), ["StockReserved"]);
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
    let reservation = store.reservation_record(event.data().order_id()).unwrap();
    assert_eq!(reservation.status, ReservationStatus::Rejected);
    let rejection = reservation.rejection.unwrap();
    assert_eq!((rejection.reason.as_str(), rejection.sku.as_str()), ("OUT_OF_STOCK", "MUG-0001"));
    assert_eq!(announced(&store), ["StockRejected"]);
}

#[tokio::test]
async fn an_unknown_sku_is_a_recorded_rejection() {
    let store = stock();
    let event = order_placed(&[("BOOK-0001", 1, 1999), ("NOPE-0001", 1, 100)], "EUR");
    let outcome = processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(store.stock("BOOK-0001"), Some((10, 0)));
    let reservation = store.reservation_record(event.data().order_id()).unwrap();
    assert_eq!(reservation.status, ReservationStatus::Rejected);
    let rejection = reservation.rejection.unwrap();
    assert_eq!((rejection.reason.as_str(), rejection.sku.as_str()), ("UNKNOWN_SKU", "NOPE-0001"));
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
    assert_eq!(announced(&store), ["StockReserved"], "a duplicate publishes nothing new");
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
    assert_eq!(announced(&store), ["StockReserved"]);
}

#[tokio::test]
async fn a_rejected_order_stays_rejected_when_stock_arrives_later() {
    let store = Arc::new(InMemoryInventoryStore::new().with_stock("BOOK-0001", 1));
    let event = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    store.set_available("BOOK-0001", 100);
    processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(store.reservation_record(event.data().order_id()).map(|r| r.status), Some(ReservationStatus::Rejected));
    assert_eq!(store.stock("BOOK-0001"), Some((100, 0)));
}

fn settlement_json(placed: &orderflow_events::OrderPlacedEvent, confirm: bool) -> String {
    use orderflow_events::{CancellationReason, CloudEvent, ORDER_SERVICE_SOURCE, OrderCancelledV1, OrderConfirmedV1};
    let order = placed.data();
    if confirm {
        CloudEvent::new(uuid::Uuid::now_v7(), ORDER_SERVICE_SOURCE, placed.time(), OrderConfirmedV1::for_order(order))
            .to_json()
    } else {
        let data = OrderCancelledV1::new(
            order.order_id(),
            CancellationReason::Timeout,
            order.customer().clone(),
            order.total(),
        )
        .unwrap();
        CloudEvent::new(uuid::Uuid::now_v7(), ORDER_SERVICE_SOURCE, placed.time(), data).to_json()
    }
}

#[tokio::test]
async fn a_confirmation_commits_and_a_cancellation_releases_through_the_batch_core() {
    let store = stock();
    let processor = processor(store.clone());
    let kept = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    let dropped = order_placed(&[("MUG-0001", 3, 899)], "EUR");
    let placed = sqs_event(vec![sqs_message("m1", kept.to_json()), sqs_message("m2", dropped.to_json())]);
    assert!(processor.process(placed).await.failed_message_ids().is_empty());
    let settled = sqs_event(vec![
        sqs_message("m3", settlement_json(&kept, true)),
        sqs_message("m4", settlement_json(&dropped, false)),
    ]);
    assert!(processor.process(settled).await.failed_message_ids().is_empty());
    assert_eq!(store.stock("BOOK-0001"), Some((8, 0)), "committed: gone from available, nothing reserved");
    assert_eq!(store.stock("MUG-0001"), Some((5, 0)), "released: as before the order");
    assert_eq!(store.reservation_record(kept.data().order_id()).unwrap().status, ReservationStatus::Committed);
    assert_eq!(store.reservation_record(dropped.data().order_id()).unwrap().status, ReservationStatus::Released);
}

#[tokio::test]
async fn a_confirmation_before_its_reservation_is_retried_not_dropped() {
    let store = stock();
    let processor = processor(store.clone());
    let placed = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    let early = processor.process(sqs_event(vec![sqs_message("m1", settlement_json(&placed, true))])).await;
    assert_eq!(early.failed_message_ids(), ["m1"], "comes back after the visibility timeout");
    assert_eq!(store.reservation_count(), 0);
    processor.process(sqs_event(vec![sqs_message("m2", placed.to_json())])).await;
    let retried = processor.process(sqs_event(vec![sqs_message("m1", settlement_json(&placed, true))])).await;
    assert!(retried.failed_message_ids().is_empty());
    assert_eq!(store.stock("BOOK-0001"), Some((8, 0)));
}

#[tokio::test]
async fn an_order_of_a_hundred_lines_is_reserved_not_sent_to_the_dlq() {
    let skus: Vec<String> = (0..100).map(|index| format!("SKU-{index:04}")).collect();
    let mut store = InMemoryInventoryStore::new();
    for sku in &skus {
        store = store.with_stock(sku, 1);
    }
    let store = Arc::new(store);
    let lines: Vec<(&str, u32, u64)> = skus.iter().map(|sku| (sku.as_str(), 1, 100)).collect();
    let event = order_placed(&lines, "EUR");
    let outcome = processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(store.reservation_record(event.data().order_id()).unwrap().status, ReservationStatus::Reserved);
    assert!(skus.iter().all(|sku| store.stock(sku) == Some((0, 1))));
    assert_eq!(announced(&store), ["StockReserved"]);
}

#[tokio::test]
async fn other_events_are_ignored() {
    let store = stock();
    let placed = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    let data = orderflow_events::StockRejectedV1::new(
        placed.data().order_id(),
        orderflow_events::StockRejectionReason::OutOfStock,
        "BOOK-0001",
    )
    .unwrap();
    let event = orderflow_events::CloudEvent::new(
        uuid::Uuid::now_v7(),
        orderflow_events::INVENTORY_SOURCE,
        placed.time(),
        data,
    );
    let outcome = processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(store.reservation_count(), 0);
}
