//! The DynamoDB inventory adapter against a local DynamoDB (LocalStack's moto).
//! `localstack/start && cargo test -p inventory --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::AttributeValue;
use inventory::{
    DynamoDbInventoryStore, InventoryStore, RejectOutcome, ReservationRequest, ReservationStatus, ReserveOutcome,
    Unavailable,
};
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;
use uuid::Uuid;

fn request(items: &[(&str, u32)]) -> ReservationRequest {
    ReservationRequest {
        order_id: Uuid::now_v7(),
        event_id: Uuid::now_v7(),
        items: items.iter().map(|(sku, quantity)| ((*sku).to_owned(), *quantity)).collect(),
        created_at: ManualClock::at_contract_time().now(),
    }
}

async fn stock(client: &aws_sdk_dynamodb::Client, table: &str, sku: &str) -> (String, Option<String>) {
    let output = client.get_item().table_name(table).key("sku", AttributeValue::S(sku.into())).send().await.unwrap();
    let item = output.item().unwrap();
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
    (number("available").unwrap(), number("reserved"))
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn reserves_atomically_against_dynamodb() {
    let client = local_client();
    let inventory = create_table(&client, "inventory", "sku").await;
    let reservations = create_table(&client, "reservations", "orderId").await;
    for (sku, available) in [("A", "10"), ("B", "1")] {
        client
            .put_item()
            .table_name(&inventory)
            .item("sku", AttributeValue::S(sku.into()))
            .item("available", AttributeValue::N(available.into()))
            .send()
            .await
            .unwrap();
    }
    let store = DynamoDbInventoryStore::new(client.clone(), &inventory, &reservations);

    let ok = request(&[("A", 2), ("B", 1)]);
    assert_eq!(store.reserve(&ok).await.unwrap(), ReserveOutcome::Reserved);
    assert_eq!(stock(&client, &inventory, "A").await, ("8".into(), Some("2".into())));
    assert_eq!(store.reserve(&ok).await.unwrap(), ReserveOutcome::AlreadyRecorded(ReservationStatus::Reserved));
    assert_eq!(stock(&client, &inventory, "A").await, ("8".into(), Some("2".into())), "reserved once");

    let short = request(&[("A", 1), ("B", 1)]);
    let outcome = store.reserve(&short).await.unwrap();
    assert_eq!(
        outcome,
        ReserveOutcome::Unavailable(Unavailable::InsufficientStock { sku: "B".into(), requested: 1, available: 0 })
    );
    assert_eq!(stock(&client, &inventory, "A").await, ("8".into(), Some("2".into())), "all or nothing");
    let ReserveOutcome::Unavailable(unavailable) = outcome else { unreachable!() };
    assert_eq!(store.record_rejection(&short, &unavailable).await.unwrap(), RejectOutcome::Recorded);
    assert_eq!(
        store.record_rejection(&short, &unavailable).await.unwrap(),
        RejectOutcome::AlreadyRecorded(ReservationStatus::Rejected)
    );
    assert_eq!(store.reserve(&short).await.unwrap(), ReserveOutcome::AlreadyRecorded(ReservationStatus::Rejected));

    let unknown = request(&[("A", 1), ("NOPE", 1)]);
    assert_eq!(
        store.reserve(&unknown).await.unwrap(),
        ReserveOutcome::Unavailable(Unavailable::UnknownSku { sku: "NOPE".into() })
    );

    delete_table(&client, &inventory).await;
    delete_table(&client, &reservations).await;
}
