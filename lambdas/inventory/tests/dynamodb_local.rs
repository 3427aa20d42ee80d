//! The DynamoDB inventory adapter against a local DynamoDB (LocalStack's moto), through the
//! handler: every step is a real `TransactWriteItems` with its outbox put.
//! `localstack/start && cargo test -p inventory --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use inventory::{DynamoDbInventoryStore, InventoryHandler, InventoryStore, ReservationStatus};
use orderflow_consumer::EventHandler;
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_consumer::testing::order_placed;
use orderflow_events::{
    CancellationReason, CloudEvent, ORDER_SERVICE_SOURCE, OrderCancelledV1, OrderConfirmedV1, OrderEvent,
    OrderPlacedEvent,
};
use orderflow_kit::clock::ManualClock;
use orderflow_outbox::adapters::memory::RecordingPublisher;
use orderflow_outbox::{Announcer, DynamoDbOutbox};
use uuid::Uuid;

async fn stock(client: &aws_sdk_dynamodb::Client, table: &str, sku: &str) -> (String, Option<String>) {
    let output = client.get_item().table_name(table).key("sku", AttributeValue::S(sku.into())).send().await.unwrap();
    let item = output.item().unwrap();
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
    (number("available").unwrap(), number("reserved"))
}

async fn outbox_count(client: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    client.scan().table_name(table).send().await.unwrap().items().len()
}

fn placed_event(placed: &OrderPlacedEvent) -> OrderEvent {
    OrderEvent::OrderPlacedV1(placed.clone())
}

fn confirmed(placed: &OrderPlacedEvent) -> OrderEvent {
    let data = OrderConfirmedV1::for_order(placed.data());
    OrderEvent::OrderConfirmedV1(CloudEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, placed.time(), data))
}

fn cancelled(placed: &OrderPlacedEvent) -> OrderEvent {
    let order = placed.data();
    let data =
        OrderCancelledV1::new(order.order_id(), CancellationReason::Timeout, order.customer().clone(), order.total())
            .unwrap();
    OrderEvent::OrderCancelledV1(CloudEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, placed.time(), data))
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn reserves_commits_releases_and_rejects_against_dynamodb() {
    let client = local_client();
    let inventory = create_table(&client, "inventory", "sku").await;
    let reservations = create_table(&client, "reservations", "orderId").await;
    let outbox = create_table(&client, "outbox", "eventId").await;
    let mut skus: Vec<(String, String)> = vec![("A".into(), "10".into()), ("B".into(), "1".into())];
    skus.extend((0..100).map(|index| (format!("BULK-{index:04}"), "1".to_owned())));
    for (sku, available) in &skus {
        client
            .put_item()
            .table_name(&inventory)
            .item("sku", AttributeValue::S(sku.clone()))
            .item("available", AttributeValue::N(available.clone()))
            .send()
            .await
            .unwrap();
    }
    let store = Arc::new(DynamoDbInventoryStore::new(client.clone(), &inventory, &reservations, &outbox));
    let publisher = Arc::new(RecordingPublisher::new());
    let clock = Arc::new(ManualClock::at_contract_time());
    let announcer =
        Announcer::new(Arc::new(DynamoDbOutbox::new(client.clone(), &outbox)), publisher.clone(), clock.clone());
    let handler = InventoryHandler::new(store.clone(), announcer).with_clock(clock);
    let status = async |placed: &OrderPlacedEvent| {
        store.reservation(placed.data().order_id()).await.unwrap().map(|record| record.status)
    };

    // Reserve, a duplicate, then commit.
    let ok = order_placed(&[("A", 2, 100), ("B", 1, 100)], "EUR");
    handler.handle(&placed_event(&ok)).await.unwrap();
    handler.handle(&placed_event(&ok)).await.unwrap();
    assert_eq!(stock(&client, &inventory, "A").await, ("8".into(), Some("2".into())), "reserved once");
    assert_eq!(outbox_count(&client, &outbox).await, 1, "one StockReserved");
    assert_eq!(publisher.published().len(), 1);
    handler.handle(&confirmed(&ok)).await.unwrap();
    handler.handle(&confirmed(&ok)).await.unwrap();
    assert_eq!(status(&ok).await, Some(ReservationStatus::Committed));
    assert_eq!(stock(&client, &inventory, "A").await, ("8".into(), Some("0".into())));

    // Out of stock on the second line: all or nothing, REJECTED with its outcome.
    let short = order_placed(&[("A", 1, 100), ("B", 1, 100)], "EUR");
    handler.handle(&placed_event(&short)).await.unwrap();
    assert_eq!(status(&short).await, Some(ReservationStatus::Rejected));
    assert_eq!(stock(&client, &inventory, "A").await, ("8".into(), Some("0".into())), "all or nothing");
    assert_eq!(outbox_count(&client, &outbox).await, 2);
    handler.handle(&cancelled(&short)).await.unwrap();
    assert_eq!(status(&short).await, Some(ReservationStatus::Rejected), "a rejection stays");

    // Cancelled first: the late order reserves nothing and announces nothing.
    let late = order_placed(&[("A", 1, 100)], "EUR");
    handler.handle(&cancelled(&late)).await.unwrap();
    handler.handle(&placed_event(&late)).await.unwrap();
    assert_eq!(status(&late).await, Some(ReservationStatus::Cancelled));
    assert_eq!(stock(&client, &inventory, "A").await, ("8".into(), Some("0".into())));
    assert_eq!(outbox_count(&client, &outbox).await, 2);

    // 100 lines: in chunks, then released in chunks.
    let lines: Vec<(&str, u32, u64)> = skus[2..].iter().map(|(sku, _)| (sku.as_str(), 1, 100)).collect();
    let bulk = order_placed(&lines, "EUR");
    handler.handle(&placed_event(&bulk)).await.unwrap();
    assert_eq!(status(&bulk).await, Some(ReservationStatus::Reserved));
    assert_eq!(stock(&client, &inventory, "BULK-0099").await, ("0".into(), Some("1".into())));
    handler.handle(&cancelled(&bulk)).await.unwrap();
    assert_eq!(status(&bulk).await, Some(ReservationStatus::Released));
    assert_eq!(stock(&client, &inventory, "BULK-0000").await, ("1".into(), Some("0".into())));
    assert_eq!(stock(&client, &inventory, "BULK-0099").await, ("1".into(), Some("0".into())));
    assert_eq!(outbox_count(&client, &outbox).await, 3);

    for table in [&inventory, &reservations, &outbox] {
        delete_table(&client, table).await;
    }
}
