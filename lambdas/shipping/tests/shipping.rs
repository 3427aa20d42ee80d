//! Shipping's business rules through the batch core, with the in-memory store.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, InMemoryIdempotencyStore};
use orderflow_events::{
    CancellationReason, ORDER_SERVICE_SOURCE, OrderCancelledEvent, OrderCancelledV1, OrderConfirmedEvent,
    OrderConfirmedV1, OrderPlacedEvent, ShippingAddress,
};
use shipping::{CONSUMER, InMemoryShipmentsStore, ShipmentLine, ShipmentStatus, ShippingHandler};
use uuid::Uuid;

fn processor(store: Arc<InMemoryShipmentsStore>) -> BatchProcessor {
    BatchProcessor::new(
        ConsumerConfig::new(CONSUMER),
        Arc::new(ShippingHandler::new(store)),
        Arc::new(InMemoryIdempotencyStore::new()),
    )
}

fn address() -> ShippingAddress {
    ShippingAddress::new("10 Downing St", None, "London", "SW1A 2AA", "GB").unwrap()
}

fn placed(address: Option<ShippingAddress>) -> OrderPlacedEvent {
    let event = order_placed(&[("BOOK-0001", 2, 1999), ("MUG-0002", 3, 500)], "EUR");
    match address {
        Some(address) => OrderPlacedEvent::new(
            event.id(),
            ORDER_SERVICE_SOURCE,
            event.time(),
            event.data().clone().with_shipping_address(address),
        )
        .with_correlation_id("req-test"),
        None => event,
    }
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

fn cancelled(placed: &OrderPlacedEvent) -> OrderCancelledEvent {
    let order = placed.data();
    let data = OrderCancelledV1::new(
        order.order_id(),
        CancellationReason::PaymentDeclined,
        order.customer().clone(),
        order.total(),
    )
    .unwrap();
    OrderCancelledEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), data).with_correlation_id("req-test")
}

#[tokio::test]
async fn a_confirmed_order_gets_one_ready_shipment_with_its_items_and_address() {
    let store = Arc::new(InMemoryShipmentsStore::new());
    let processor = processor(store.clone());
    let placed = placed(Some(address()));
    let event = confirmed(&placed);
    let batch = sqs_event(vec![sqs_message("m1", event.to_json()), sqs_message("m2", event.to_json())]);
    let response = processor.handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(store.all().len(), 1);
    let shipment = store.get(placed.data().order_id()).unwrap();
    assert_eq!(shipment.status, ShipmentStatus::Ready);
    assert_eq!(
        shipment.items,
        [ShipmentLine { sku: "BOOK-0001".into(), quantity: 2 }, ShipmentLine { sku: "MUG-0002".into(), quantity: 3 }]
    );
    assert_eq!(shipment.shipping_address, Some(address()));
    assert_eq!(shipment.event_id, event.id());
    assert_eq!(shipment.correlation_id.as_deref(), Some("req-test"));
}

#[tokio::test]
async fn an_order_without_an_address_still_ships_once() {
    let store = Arc::new(InMemoryShipmentsStore::new());
    let placed = placed(None);
    let event = confirmed(&placed);
    processor(store.clone()).process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    let shipment = store.get(placed.data().order_id()).unwrap();
    assert_eq!(shipment.shipping_address, None);
}

#[tokio::test]
async fn a_second_confirmation_after_its_idempotency_record_is_gone_is_a_no_op() {
    let store = Arc::new(InMemoryShipmentsStore::new());
    let placed = placed(Some(address()));
    let first = confirmed(&placed);
    let second = confirmed(&placed); // a re-published settlement would keep its id; a new id is the harder case
    processor(store.clone()).process(sqs_event(vec![sqs_message("m1", first.to_json())])).await;
    let outcome = processor(store.clone()).process(sqs_event(vec![sqs_message("m2", second.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(store.all().len(), 1);
    assert_eq!(store.get(placed.data().order_id()).unwrap().event_id, first.id());
}

#[tokio::test]
async fn placed_and_cancelled_orders_are_processed_and_not_shipped() {
    let store = Arc::new(InMemoryShipmentsStore::new());
    let placed = placed(Some(address()));
    let outcome = processor(store.clone())
        .process(sqs_event(vec![sqs_message("m1", placed.to_json()), sqs_message("m2", cancelled(&placed).to_json())]))
        .await;
    assert!(outcome.failed_message_ids().is_empty());
    assert!(store.all().is_empty());
}
