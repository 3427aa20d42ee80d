//! Loyalty's rules through the batch core, with the in-memory ledger and idempotency store.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use loyalty::{CONSUMER, InMemoryPointsLedger, LoyaltyHandler};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, InMemoryIdempotencyStore};
use orderflow_events::{ORDER_SERVICE_SOURCE, OrderConfirmedEvent, OrderConfirmedV1, OrderPlacedEvent};
use uuid::Uuid;

fn processor(ledger: Arc<InMemoryPointsLedger>, idempotency: Arc<InMemoryIdempotencyStore>) -> BatchProcessor {
    BatchProcessor::new(ConsumerConfig::new(CONSUMER), Arc::new(LoyaltyHandler::new(ledger)), idempotency)
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

#[tokio::test]
async fn a_confirmed_order_earns_one_point_per_whole_unit_of_its_total() {
    let ledger = Arc::new(InMemoryPointsLedger::new());
    let processor = processor(ledger.clone(), Arc::new(InMemoryIdempotencyStore::new()));
    let placed = order_placed(&[("BOOK-0001", 2, 1999), ("MUG-0002", 3, 500)], "EUR"); // EUR 54.98
    let batch = sqs_event(vec![sqs_message("m1", confirmed(&placed).to_json())]);
    let response = processor.handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let account = ledger.get(&placed.data().customer().id).unwrap();
    assert_eq!((account.points, account.orders), (54, 1));
}

/// What a backfill relies on: replaying events the consumer has seen changes nothing, even
/// interleaved with other events of the same customer (which defeat the ledger's last-event
/// guard: only the idempotency claim stands between a replay and a second add).
#[tokio::test]
async fn a_replay_of_handled_events_is_a_no_op() {
    let ledger = Arc::new(InMemoryPointsLedger::new());
    let idempotency = Arc::new(InMemoryIdempotencyStore::new());
    let first = confirmed(&order_placed(&[("BOOK-0001", 1, 1999)], "EUR"));
    let second = confirmed(&order_placed(&[("MUG-0002", 1, 500)], "EUR"));
    let customer = first.data().customer().id.clone();
    let messages = || vec![sqs_message("m1", first.to_json()), sqs_message("m2", second.to_json())];
    processor(ledger.clone(), idempotency.clone()).process(sqs_event(messages())).await;
    let before = ledger.get(&customer).unwrap();
    assert_eq!((before.points, before.orders), (19 + 5, 2));
    for _ in 0..2 {
        let outcome = processor(ledger.clone(), idempotency.clone()).process(sqs_event(messages())).await;
        assert!(outcome.failed_message_ids().is_empty());
        processor(ledger.clone(), idempotency.clone())
            .process(sqs_event(vec![sqs_message("m3", first.to_json())]))
            .await;
    }
    assert_eq!(ledger.get(&customer).unwrap(), before);
}

#[tokio::test]
async fn only_confirmations_earn_points() {
    let ledger = Arc::new(InMemoryPointsLedger::new());
    let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    let outcome = processor(ledger.clone(), Arc::new(InMemoryIdempotencyStore::new()))
        .process(sqs_event(vec![sqs_message("m1", placed.to_json())]))
        .await;
    assert!(outcome.failed_message_ids().is_empty());
    assert!(ledger.all().is_empty());
}
