//! The DynamoDB idempotency adapter against a local DynamoDB (LocalStack).
//! `localstack/start && cargo test -p orderflow-consumer --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "dynamodb")]

use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_consumer::{BeginOutcome, Claim, CompleteOutcome, DynamoDbIdempotencyStore, IdempotencyStore};

fn claim<'a>(key: &'a str, owner: &'a str, now_ms: i64, until_ms: i64) -> Claim<'a> {
    Claim { key, owner, now_ms, until_ms, expires_at: 10_000 }
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn conditional_claims_against_dynamodb() {
    let client = local_client();
    let table = create_table(&client, "idempotency", "pk").await;
    let store = DynamoDbIdempotencyStore::new(client.clone(), &table);

    assert_eq!(store.begin(&claim("t#1", "a", 100_000, 160_500)).await.unwrap(), BeginOutcome::Acquired);
    assert_eq!(
        store.begin(&claim("t#1", "b", 160_499, 220_000)).await.unwrap(),
        BeginOutcome::InProgressElsewhere,
        "a claim holds until its millisecond"
    );
    assert_eq!(store.begin(&claim("t#1", "b", 160_500, 220_000)).await.unwrap(), BeginOutcome::Acquired, "expired");
    // a's claim was taken over: a can neither release nor complete b's.
    assert!(!store.release("t#1", "a").await.unwrap());
    assert_eq!(store.complete("t#1", "a", 170_000, 20_000).await.unwrap(), CompleteOutcome::HeldByOther);
    assert_eq!(store.complete("t#1", "b", 170_123, 20_000).await.unwrap(), CompleteOutcome::Completed);
    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("t#1".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["completedAtMs"].as_n().unwrap(), "170123", "hop times are read from it");
    assert_eq!(item["completedAt"].as_n().unwrap(), "170");
    assert_eq!(store.complete("t#1", "a", 180_000, 20_000).await.unwrap(), CompleteOutcome::AlreadyCompleted);
    assert_eq!(store.begin(&claim("t#1", "c", 10_000_000, 10_060_000)).await.unwrap(), BeginOutcome::AlreadyCompleted);
    assert!(!store.release("t#1", "c").await.unwrap(), "a COMPLETED record is never released");
    assert_eq!(store.begin(&claim("t#1", "c", 10_000_000, 10_060_000)).await.unwrap(), BeginOutcome::AlreadyCompleted);

    assert_eq!(store.begin(&claim("t#2", "a", 100_000, 160_000)).await.unwrap(), BeginOutcome::Acquired);
    assert!(store.release("t#2", "a").await.unwrap());
    assert_eq!(store.begin(&claim("t#2", "b", 101_000, 161_000)).await.unwrap(), BeginOutcome::Acquired, "released");

    // A claim written before milliseconds and owners: `inProgressUntil` in seconds, held through
    // that second, then taken over.
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("t#3".into()))
        .item("status", AttributeValue::S("IN_PROGRESS".into()))
        .item("inProgressUntil", AttributeValue::N("160".into()))
        .item("expiresAt", AttributeValue::N("10000".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(store.begin(&claim("t#3", "a", 160_999, 200_000)).await.unwrap(), BeginOutcome::InProgressElsewhere);
    assert_eq!(store.begin(&claim("t#3", "a", 161_000, 200_000)).await.unwrap(), BeginOutcome::Acquired);

    delete_table(&client, &table).await;
}
