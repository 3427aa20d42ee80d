//! The DynamoDB lifecycle adapter against a local DynamoDB (LocalStack).
//! `localstack/start && cargo test -p order-lifecycle --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::AttributeValue;
use order_api::domain::{Order, OrderLine, OrderStatus};
use order_api::lifecycle::LifecycleState;
use order_api::record::{OrderRecord, PaymentOutcome, StockOutcome};
use order_lifecycle::{DynamoDbLifecycleStore, OrderLifecycleStore, SaveOutcome, Transition};
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_events::{CancellationReason, Customer, ORDER_SERVICE_SOURCE, OrderCancelledEvent, OrderCancelledV1};
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;
use orderflow_outbox::OutboxEntry;
use uuid::Uuid;

fn placed() -> OrderRecord {
    let now = ManualClock::at_contract_time().now();
    OrderRecord::placed(Order {
        order_id: Uuid::now_v7(),
        status: OrderStatus::Placed,
        status_reason: None,
        customer: Customer { id: "cus_1001".into(), email: "ada@example.com".into(), name: None },
        items: vec![OrderLine { sku: "BOOK-0001".into(), quantity: 2, unit_price: 1999 }],
        currency: "EUR".parse().unwrap(),
        total: 3998,
        placed_at: now,
        shipping_address: None,
    })
}

fn cancellation(record: &OrderRecord) -> OutboxEntry {
    let order = &record.order;
    let data = OrderCancelledV1::new(
        order.order_id,
        CancellationReason::PaymentDeclined,
        order.customer.clone(),
        order.total_money(),
    )
    .unwrap();
    let event = OrderCancelledEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, order.placed_at, data);
    OutboxEntry::for_event(&event, order.placed_at)
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn conditional_writes_and_the_settlement_transaction_against_dynamodb() {
    let client = local_client();
    let orders = create_table(&client, "orders", "orderId").await;
    let outbox = create_table(&client, "outbox", "eventId").await;
    let store = DynamoDbLifecycleStore::new(client.clone(), &orders, &outbox);
    let now = ManualClock::at_contract_time().now();

    let record = placed();
    let order_id = record.order.order_id;
    client.put_item().table_name(&orders).set_item(Some(record.to_item().unwrap())).send().await.unwrap();
    assert_eq!(store.load(order_id).await.unwrap(), Some(record.clone()));
    assert_eq!(store.load(Uuid::now_v7()).await.unwrap(), None, "an unknown order");

    // Record the reservation at version 1.
    let reserved = record.with_state(LifecycleState { stock: Some(StockOutcome::Reserved), ..record.state() }, now);
    let write = Transition { expected_version: 1, next: reserved.clone(), announcement: None };
    assert_eq!(store.save(&write).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(store.load(order_id).await.unwrap(), Some(reserved.clone()));
    // The same write again was decided on a version that is gone.
    assert_eq!(store.save(&write).await.unwrap(), SaveOutcome::Conflict);

    // Settle (cancel on a decline) together with the outbox entry.
    let state = LifecycleState {
        status: OrderStatus::Cancelled,
        reason: Some(CancellationReason::PaymentDeclined),
        payment: Some(PaymentOutcome::Declined),
        ..reserved.state()
    };
    let cancelled = reserved.with_state(state, now);
    let entry = cancellation(&cancelled);
    let settle = Transition { expected_version: 2, next: cancelled.clone(), announcement: Some(entry.clone()) };
    // A stale version writes neither the row nor the entry.
    let stale = Transition { expected_version: 1, ..settle.clone() };
    assert_eq!(store.save(&stale).await.unwrap(), SaveOutcome::Conflict);
    let key = AttributeValue::S(entry.event_id.to_string());
    let outbox_item = client.get_item().table_name(&outbox).key("eventId", key.clone()).send().await.unwrap();
    assert!(outbox_item.item().is_none(), "no entry without the row");

    assert_eq!(store.save(&settle).await.unwrap(), SaveOutcome::Saved);
    let stored = store.load(order_id).await.unwrap().unwrap();
    assert_eq!(stored, cancelled);
    let item = client
        .get_item()
        .table_name(&orders)
        .key("orderId", AttributeValue::S(order_id.to_string()))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item["status"], AttributeValue::S("CANCELLED".into()));
    assert_eq!(item["statusReason"], AttributeValue::S("PAYMENT_DECLINED".into()));
    assert_eq!(item["version"], AttributeValue::N("3".into()));
    let outbox_item = client.get_item().table_name(&outbox).key("eventId", key).send().await.unwrap();
    assert_eq!(outbox_item.item().unwrap()["status"], AttributeValue::S("PENDING".into()));

    // A settled row takes no more writes, whatever the version.
    let again =
        Transition { expected_version: 3, next: cancelled.with_state(cancelled.state(), now), announcement: None };
    assert_eq!(store.save(&again).await.unwrap(), SaveOutcome::Conflict);
    // Nor does a row that does not exist.
    let mut ghost = placed();
    ghost.order.order_id = Uuid::now_v7();
    let ghost_write =
        Transition { expected_version: 1, next: ghost.with_state(ghost.state(), now), announcement: None };
    assert_eq!(store.save(&ghost_write).await.unwrap(), SaveOutcome::Conflict);
    assert_eq!(store.load(ghost.order.order_id).await.unwrap(), None, "the update created nothing");

    delete_table(&client, &orders).await;
    delete_table(&client, &outbox).await;
}
