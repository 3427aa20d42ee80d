//! The DynamoDB payments adapter against a local DynamoDB (LocalStack).
//! `localstack/start && cargo test -p billing --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use billing::{DynamoDbPaymentsStore, Payment, PaymentStatus, PaymentsStore, RecordOutcome};
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_events::Money;
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;
use uuid::Uuid;

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn one_payment_per_order_against_dynamodb() {
    let client = local_client();
    let table = create_table(&client, "payments", "orderId").await;
    let store = DynamoDbPaymentsStore::new(client.clone(), &table);
    let payment = Payment {
        order_id: Uuid::now_v7(),
        status: PaymentStatus::Captured,
        amount: Money::new(3998, "EUR".parse().unwrap()),
        event_id: Uuid::now_v7(),
        gateway_reference: "sim_ch_x".into(),
        decline_reason: None,
        // Milliseconds, as stored: the record read back must equal the one written.
        created_at: ManualClock::at_contract_time().now(),
    };
    assert_eq!(store.find(payment.order_id).await.unwrap(), None);
    assert_eq!(store.record(&payment).await.unwrap(), RecordOutcome::Recorded);
    let second = Payment { event_id: Uuid::now_v7(), status: PaymentStatus::Declined, ..payment.clone() };
    assert_eq!(store.record(&second).await.unwrap(), RecordOutcome::AlreadyRecorded(payment.clone()));
    assert_eq!(store.find(payment.order_id).await.unwrap(), Some(payment));
    delete_table(&client, &table).await;
}
