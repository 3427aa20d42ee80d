//! The DynamoDB notifications adapter against a local DynamoDB (LocalStack).
//! `localstack/start && cargo test -p notification --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use notification::{DynamoDbNotificationsStore, NotificationKind, NotificationRecord, NotificationsStore};
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use uuid::Uuid;

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn one_record_per_order_against_dynamodb() {
    let client = local_client();
    let table = create_table(&client, "notifications", "orderId").await;
    let store = DynamoDbNotificationsStore::new(client.clone(), &table);
    let record = NotificationRecord {
        order_id: Uuid::now_v7(),
        kind: NotificationKind::Cancellation,
        message_id: "m-1".into(),
        recipient: "ada@example.com".into(),
        event_id: Uuid::now_v7(),
        sent_at: Utc::now(),
    };
    assert!(!store.exists(record.order_id).await.unwrap());
    assert!(store.record_sent(&record).await.unwrap());
    assert!(!store.record_sent(&record).await.unwrap());
    assert!(store.exists(record.order_id).await.unwrap());
    delete_table(&client, &table).await;
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn any_item_under_the_order_key_counts_as_sent() {
    let client = local_client();
    let table = create_table(&client, "notifications", "orderId").await;
    let store = DynamoDbNotificationsStore::new(client.clone(), &table);
    let order_id = Uuid::now_v7();
    client
        .put_item()
        .table_name(&table)
        .item("orderId", aws_sdk_dynamodb::types::AttributeValue::S(order_id.to_string()))
        .send()
        .await
        .unwrap();
    assert!(store.exists(order_id).await.unwrap());
    delete_table(&client, &table).await;
}
