//! The DynamoDB idempotency adapter against a local DynamoDB (LocalStack).
//! `localstack/start && cargo test -p orderflow-consumer --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "dynamodb")]

use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_consumer::{BeginOutcome, DynamoDbIdempotencyStore, IdempotencyStore};

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn conditional_claims_against_dynamodb() {
    let client = local_client();
    let table = create_table(&client, "idempotency", "pk").await;
    let store = DynamoDbIdempotencyStore::new(client.clone(), &table);

    assert_eq!(store.begin("t#1", 100, 160, 10_000).await.unwrap(), BeginOutcome::Acquired);
    assert_eq!(store.begin("t#1", 160, 220, 10_000).await.unwrap(), BeginOutcome::InProgressElsewhere);
    assert_eq!(store.begin("t#1", 161, 221, 10_000).await.unwrap(), BeginOutcome::Acquired, "expired claim");
    store.complete("t#1", 170_123, 20_000).await.unwrap();
    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("t#1".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["completedAtMs"].as_n().unwrap(), "170123", "hop times are read from it");
    assert_eq!(item["completedAt"].as_n().unwrap(), "170");
    assert_eq!(store.begin("t#1", 10_000, 10_060, 20_000).await.unwrap(), BeginOutcome::AlreadyCompleted);
    store.release("t#1").await.unwrap();
    assert_eq!(store.begin("t#1", 10_000, 10_060, 20_000).await.unwrap(), BeginOutcome::AlreadyCompleted);

    assert_eq!(store.begin("t#2", 100, 160, 10_000).await.unwrap(), BeginOutcome::Acquired);
    store.release("t#2").await.unwrap();
    assert_eq!(store.begin("t#2", 101, 161, 10_000).await.unwrap(), BeginOutcome::Acquired, "released");

    delete_table(&client, &table).await;
}
