//! The DynamoDB shipments adapter against a local DynamoDB (LocalStack).
//! `localstack/start && cargo test -p shipping --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_events::ShippingAddress;
use shipping::{CreateOutcome, DynamoDbShipmentsStore, Shipment, ShipmentLine, ShipmentStatus, ShipmentsStore};
use uuid::Uuid;

fn shipment() -> Shipment {
    Shipment {
        order_id: Uuid::now_v7(),
        status: ShipmentStatus::Ready,
        items: vec![ShipmentLine { sku: "BOOK-0001".into(), quantity: 2 }],
        shipping_address: Some(ShippingAddress::new("1 Main St", None, "Leeds", "LS1 4AP", "GB").unwrap()),
        // Millisecond precision: what the table keeps.
        created_at: DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap(),
        event_id: Uuid::now_v7(),
        correlation_id: Some("req-local".into()),
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn one_shipment_per_order_against_dynamodb() {
    let client = local_client();
    let table = create_table(&client, "shipments", "orderId").await;
    let store = DynamoDbShipmentsStore::new(client.clone(), &table);
    let shipment = shipment();
    assert_eq!(store.find(shipment.order_id).await.unwrap(), None);
    assert_eq!(store.create(&shipment).await.unwrap(), CreateOutcome::Created);
    let mut duplicate = shipment.clone();
    duplicate.event_id = Uuid::now_v7();
    assert_eq!(store.create(&duplicate).await.unwrap(), CreateOutcome::AlreadyExists);
    assert_eq!(store.find(shipment.order_id).await.unwrap(), Some(shipment));
    delete_table(&client, &table).await;
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn any_item_under_the_order_key_stops_a_second_shipment() {
    let client = local_client();
    let table = create_table(&client, "shipments", "orderId").await;
    let store = DynamoDbShipmentsStore::new(client.clone(), &table);
    let shipment = shipment();
    client
        .put_item()
        .table_name(&table)
        .item("orderId", aws_sdk_dynamodb::types::AttributeValue::S(shipment.order_id.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(store.create(&shipment).await.unwrap(), CreateOutcome::AlreadyExists);
    delete_table(&client, &table).await;
}
