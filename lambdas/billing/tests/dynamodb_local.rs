//! The DynamoDB payments adapter against a local DynamoDB (LocalStack).
//! `localstack/start && cargo test -p billing --test dynamodb_local -- --ignored`
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use billing::{
    DynamoDbPaymentsStore, Payment, PaymentState, PaymentStatus, PaymentsError, PaymentsStore, RecordOutcome,
    SettleOutcome, Settlement,
};
use chrono::TimeDelta;
use orderflow_consumer::testing::dynamodb::{create_table, delete_table, local_client};
use orderflow_consumer::testing::order_placed;
use orderflow_events::{BILLING_SOURCE, CloudEvent, DeclineReason, Money, PaymentAuthorizedV1};
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;
use orderflow_kit::dynamodb::s;
use orderflow_outbox::OutboxEntry;
use uuid::Uuid;

fn eur(amount: u64) -> Money {
    Money::new(amount, "EUR".parse().unwrap())
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn an_outcome_and_its_announcement_are_written_together_once_against_dynamodb() {
    let client = local_client();
    let table = create_table(&client, "payments", "orderId").await;
    let outbox_table = create_table(&client, "outbox", "eventId").await;
    let store = DynamoDbPaymentsStore::new(client.clone(), &table, &outbox_table);
    // Milliseconds, as stored: the record read back must equal the one written.
    let now = ManualClock::at_contract_time().now();
    let placed = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    let order_id = placed.data().order_id();
    let authorization_id = format!("sim_auth_{}", order_id.simple());
    let data = PaymentAuthorizedV1::new(order_id, eur(3998), authorization_id.clone()).unwrap();
    let entry = OutboxEntry::for_event(&CloudEvent::new(Uuid::now_v7(), BILLING_SOURCE, now, data), now);
    let payment = Payment {
        order_id,
        state: PaymentState::Authorized { authorization_id: authorization_id.clone() },
        amount: eur(3998),
        event_id: placed.id(),
        outcome_event_id: Some(entry.event_id),
        created_at: now,
        updated_at: now,
    };
    assert_eq!(store.find(order_id).await.unwrap(), None);
    assert_eq!(store.record_outcome(&payment, &entry).await.unwrap(), RecordOutcome::Recorded);
    let stored_entry = client
        .get_item()
        .table_name(&outbox_table)
        .key("eventId", s(entry.event_id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(stored_entry.item().unwrap()["body"], s(&entry.body), "the entry went in with the record");

    // A second outcome for the order writes neither its record nor its entry.
    let declined = Payment {
        state: PaymentState::Declined { reason: DeclineReason::limit_exceeded() },
        outcome_event_id: Some(Uuid::now_v7()),
        ..payment.clone()
    };
    let second_entry = OutboxEntry { event_id: declined.outcome_event_id.unwrap(), ..entry.clone() };
    assert_eq!(
        store.record_outcome(&declined, &second_entry).await.unwrap(),
        RecordOutcome::AlreadyRecorded(payment.clone())
    );
    let absent = client
        .get_item()
        .table_name(&outbox_table)
        .key("eventId", s(second_entry.event_id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(absent.item().is_none(), "the losing outcome's entry was not written");
    assert_eq!(store.find(order_id).await.unwrap(), Some(payment.clone()));

    // Capture once; a second settlement finds it settled.
    let later = now + TimeDelta::seconds(7);
    let SettleOutcome::Settled(captured) = store.settle(order_id, Settlement::Capture, later).await.unwrap() else {
        panic!("an authorized payment was not captured")
    };
    assert_eq!(captured, payment.settled(Settlement::Capture, later).unwrap());
    assert_eq!(store.settle(order_id, Settlement::Void, later).await.unwrap(), SettleOutcome::NotAuthorized(captured));

    // Settling an order without a record writes nothing.
    let unknown = Uuid::now_v7();
    let vanished = store.settle(unknown, Settlement::Void, later).await.unwrap_err();
    assert!(matches!(vanished, PaymentsError::Vanished { order_id } if order_id == unknown), "{vanished}");
    assert_eq!(store.find(unknown).await.unwrap(), None);

    delete_table(&client, &table).await;
    delete_table(&client, &outbox_table).await;
}

#[tokio::test]
#[ignore = "needs DynamoDB at AWS_ENDPOINT_URL (localstack/start)"]
async fn a_cancellation_seen_first_is_kept_against_dynamodb() {
    let client = local_client();
    let table = create_table(&client, "payments", "orderId").await;
    let outbox_table = create_table(&client, "outbox", "eventId").await;
    let store = DynamoDbPaymentsStore::new(client.clone(), &table, &outbox_table);
    let now = ManualClock::at_contract_time().now();
    let voided = Payment {
        order_id: Uuid::now_v7(),
        state: PaymentState::Voided { authorization_id: None },
        amount: eur(3998),
        event_id: Uuid::now_v7(),
        outcome_event_id: None,
        created_at: now,
        updated_at: now,
    };
    assert_eq!(store.record(&voided).await.unwrap(), RecordOutcome::Recorded);
    let again = Payment { event_id: Uuid::now_v7(), ..voided.clone() };
    assert_eq!(store.record(&again).await.unwrap(), RecordOutcome::AlreadyRecorded(voided.clone()));
    let found = store.find(voided.order_id).await.unwrap().unwrap();
    assert_eq!((found.status(), found), (PaymentStatus::Voided, voided.clone()));
    assert_eq!(
        store.settle(voided.order_id, Settlement::Capture, now).await.unwrap(),
        SettleOutcome::NotAuthorized(voided),
        "a VOIDED payment is never captured"
    );
    delete_table(&client, &table).await;
    delete_table(&client, &outbox_table).await;
}
