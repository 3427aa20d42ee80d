//! Billing's business rules through the batch core, with in-memory adapters.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use billing::testing::{Billing, CountingGateway, cancelled_for, confirmed_for};
use billing::{CONSUMER, PaymentState, PaymentStatus, SimulatedGateway};
use chrono::TimeDelta;
use lambda_runtime::{Context, LambdaEvent};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchOutcome, BatchProcessor, ConsumerConfig, IdempotencyStore, InMemoryIdempotencyStore};
use orderflow_events::{CancellationReason, DeclineReason, OrderPlacedEvent};
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;
use orderflow_outbox::Relay;
use serde_json::Value;

const LIMIT: u64 = 100_000;

struct Setup {
    billing: Billing,
    clock: Arc<ManualClock>,
}

impl Setup {
    fn new(gateway: CountingGateway) -> Self {
        let clock = Arc::new(ManualClock::at_contract_time());
        Setup { billing: Billing::new(gateway, clock.clone()), clock }
    }

    fn processor(&self, idempotency: Arc<dyn IdempotencyStore>) -> BatchProcessor {
        BatchProcessor::new(ConsumerConfig::new(CONSUMER), Arc::new(self.billing.handler()), idempotency)
    }

    /// A processor with its own idempotency store: every delivery reaches the handler, as after
    /// the idempotency record expired.
    fn fresh_processor(&self) -> BatchProcessor {
        self.processor(Arc::new(InMemoryIdempotencyStore::new()))
    }

    fn published_bodies(&self) -> Vec<Value> {
        let published = self.billing.publisher.published();
        published.iter().map(|message| serde_json::from_str(&message.body).unwrap()).collect()
    }
}

async fn deliver(processor: &BatchProcessor, message_id: &str, body: String) -> BatchOutcome {
    processor.process(sqs_event(vec![sqs_message(message_id, body)])).await
}

fn order(unit_price: u64) -> OrderPlacedEvent {
    order_placed(&[("BOOK-0001", 2, unit_price)], "EUR")
}

#[tokio::test]
async fn authorizes_an_order_within_the_limit_and_announces_it() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    let event = order(1999);
    let batch = sqs_event(vec![sqs_message("m1", event.to_json())]);
    let response = setup.fresh_processor().handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());

    let payments = setup.billing.payments.all();
    assert_eq!(payments.len(), 1);
    let payment = &payments[0];
    let order_id = event.data().order_id();
    let authorization_id = SimulatedGateway::authorization_id(order_id);
    assert_eq!(payment.state, PaymentState::Authorized { authorization_id: authorization_id.clone() });
    assert_eq!(payment.amount, event.data().total());
    assert_eq!(payment.event_id, event.id());
    assert_eq!(payment.created_at, setup.clock.now());

    let published = setup.billing.publisher.published();
    assert_eq!(published.len(), 1);
    assert!(published[0].attributes.contains(&("event_type".into(), "PaymentAuthorized".into())));
    assert!(published[0].attributes.contains(&("event_version".into(), "1".into())));
    let body = &setup.published_bodies()[0];
    assert_eq!(body["type"], "billing.PaymentAuthorized.v1");
    assert_eq!(body["source"], "billing");
    assert_eq!(body["subject"], order_id.to_string());
    assert_eq!(body["correlationid"], "req-test");
    assert_eq!(body["data"]["orderId"], order_id.to_string());
    assert_eq!(body["data"]["amount"]["amount"], 3998);
    assert_eq!(body["data"]["amount"]["currency"], "EUR");
    assert_eq!(body["data"]["authorizationId"], authorization_id);

    let outbox = setup.billing.payments.outbox().entries();
    assert_eq!(outbox.len(), 1);
    assert_eq!(Some(outbox[0].entry.event_id), payment.outcome_event_id);
    assert_eq!(outbox[0].published_at, Some(setup.clock.now()), "announced and marked published");
}

#[tokio::test]
async fn declines_an_order_above_the_limit_as_a_recorded_and_announced_outcome() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    let event = order_placed(&[("TV-0001", 1, LIMIT + 1)], "EUR");
    let outcome = deliver(&setup.fresh_processor(), "m1", event.to_json()).await;
    assert!(outcome.failed_message_ids().is_empty(), "a decline is not a retry");
    let payment = setup.billing.payments.get(event.data().order_id()).unwrap();
    assert_eq!(payment.state, PaymentState::Declined { reason: DeclineReason::limit_exceeded() });
    assert_eq!(payment.amount.amount, LIMIT + 1);
    let bodies = setup.published_bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["type"], "billing.PaymentDeclined.v1");
    assert_eq!(bodies[0]["data"]["reason"], "LIMIT_EXCEEDED");
    assert_eq!(bodies[0]["data"]["amount"]["amount"], LIMIT + 1);
}

#[tokio::test]
async fn a_confirmed_order_is_captured_once_whatever_the_redeliveries() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    let placed = order(1999);
    let confirmed = confirmed_for(&placed);
    let processor = setup.processor(Arc::new(InMemoryIdempotencyStore::new()));
    deliver(&processor, "m1", placed.to_json()).await;
    let outcome = processor
        .process(sqs_event(vec![sqs_message("m2", confirmed.to_json()), sqs_message("m3", confirmed.to_json())]))
        .await;
    assert!(outcome.failed_message_ids().is_empty());
    // Past the idempotency store too: the record says it is done.
    deliver(&setup.fresh_processor(), "m4", confirmed.to_json()).await;
    deliver(&setup.fresh_processor(), "m5", placed.to_json()).await;

    let payment = setup.billing.payments.get(placed.data().order_id()).unwrap();
    assert_eq!(payment.status(), PaymentStatus::Captured);
    let gateway = &setup.billing.gateway;
    assert_eq!((gateway.authorizations(), gateway.captures(), gateway.voids()), (1, 1, 0));
    assert_eq!(setup.billing.publisher.published().len(), 1, "only the authorization is announced");
}

#[tokio::test]
async fn a_confirmation_overtaking_its_order_is_retried_until_the_order_is_billed() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    let placed = order(1999);
    let confirmed = confirmed_for(&placed);
    let processor = setup.processor(Arc::new(InMemoryIdempotencyStore::new()));
    let early = deliver(&processor, "m1", confirmed.to_json()).await;
    assert_eq!(early.failed_message_ids(), vec!["m1"], "retried, not dropped");
    assert_eq!(setup.billing.gateway.captures(), 0);
    deliver(&processor, "m2", placed.to_json()).await;
    let retry = deliver(&processor, "m1", confirmed.to_json()).await;
    assert!(retry.failed_message_ids().is_empty());
    assert_eq!(setup.billing.payments.get(placed.data().order_id()).unwrap().status(), PaymentStatus::Captured);
    assert_eq!(setup.billing.gateway.captures(), 1);
}

#[tokio::test]
async fn a_cancellation_voids_the_authorization() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    let placed = order(1999);
    let processor = setup.fresh_processor();
    deliver(&processor, "m1", placed.to_json()).await;
    setup.clock.advance(TimeDelta::seconds(3));
    let cancelled = cancelled_for(&placed, CancellationReason::OutOfStock);
    let outcome = deliver(&processor, "m2", cancelled.to_json()).await;
    assert!(outcome.failed_message_ids().is_empty());
    let payment = setup.billing.payments.get(placed.data().order_id()).unwrap();
    let authorization_id = Some(SimulatedGateway::authorization_id(placed.data().order_id()));
    assert_eq!(payment.state, PaymentState::Voided { authorization_id });
    assert_eq!(payment.updated_at, setup.clock.now());
    assert_eq!(payment.updated_at - payment.created_at, TimeDelta::seconds(3));
    let gateway = &setup.billing.gateway;
    assert_eq!((gateway.authorizations(), gateway.captures(), gateway.voids()), (1, 0, 1));
}

#[tokio::test]
async fn a_cancellation_seen_first_makes_the_late_order_a_no_op() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    let placed = order(1999);
    let cancelled = cancelled_for(&placed, CancellationReason::Timeout);
    let processor = setup.fresh_processor();
    assert!(deliver(&processor, "m1", cancelled.to_json()).await.failed_message_ids().is_empty());
    assert!(deliver(&processor, "m2", placed.to_json()).await.failed_message_ids().is_empty());
    let payment = setup.billing.payments.get(placed.data().order_id()).unwrap();
    assert_eq!(payment.state, PaymentState::Voided { authorization_id: None });
    assert_eq!(payment.amount, cancelled.data().total());
    assert_eq!(payment.event_id, cancelled.id());
    assert_eq!(payment.outcome_event_id, None);
    assert_eq!(setup.billing.gateway.authorizations(), 0, "never authorized");
    assert!(setup.billing.publisher.published().is_empty(), "nothing announced");
    assert!(setup.billing.payments.outbox().entries().is_empty());
}

#[tokio::test]
async fn a_failed_publish_leaves_the_entry_for_the_relay_and_a_redelivery_adds_none() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    setup.billing.publisher.set_failing(true);
    let placed = order(1999);
    let outcome = deliver(&setup.fresh_processor(), "m1", placed.to_json()).await;
    assert!(outcome.failed_message_ids().is_empty(), "the outcome is committed; publishing is the relay's job now");
    let outbox = setup.billing.payments.outbox();
    let pending = outbox.entries();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].published_at, None);

    // The same OrderPlaced again, past the idempotency store: the record is there, so no new
    // outcome and no new entry.
    setup.billing.publisher.set_failing(false);
    deliver(&setup.fresh_processor(), "m2", placed.to_json()).await;
    assert_eq!(outbox.entries().len(), 1);
    assert!(setup.billing.publisher.published().is_empty());
    assert_eq!(setup.billing.gateway.authorizations(), 1);

    // The relay publishes the committed entry with its original event id.
    setup.clock.advance(TimeDelta::minutes(5));
    let relay = Relay::new(outbox.clone(), setup.billing.publisher.clone(), setup.clock.clone());
    relay.run(TimeDelta::seconds(30)).await.unwrap();
    let published = setup.billing.publisher.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event_id, pending[0].entry.event_id);
    assert_eq!(published[0].body, pending[0].entry.body, "byte for byte");
}

#[tokio::test]
async fn an_unavailable_store_is_retried_and_announces_nothing() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    setup.billing.payments.set_failing(true);
    let placed = order(1999);
    let processor = setup.processor(Arc::new(InMemoryIdempotencyStore::new()));
    assert_eq!(deliver(&processor, "m1", placed.to_json()).await.failed_message_ids(), vec!["m1"]);
    assert!(setup.billing.publisher.published().is_empty());
    assert!(setup.billing.payments.outbox().entries().is_empty());
    setup.billing.payments.set_failing(false);
    assert!(deliver(&processor, "m1", placed.to_json()).await.failed_message_ids().is_empty());
    assert_eq!(setup.billing.publisher.published().len(), 1);
}

#[tokio::test]
async fn concurrent_attempts_without_a_shared_claim_still_record_and_announce_once() {
    // Two invocations that both got past idempotency (say the claim expired mid-flight): both
    // authorize (the same authorization, the gateway is idempotent), one writes.
    let setup = Setup::new(CountingGateway::new(LIMIT).slowed(Duration::from_millis(20)));
    let placed = order(1999);
    let (first, second) = (setup.fresh_processor(), setup.fresh_processor());
    let (a, b) = tokio::join!(deliver(&first, "m1", placed.to_json()), deliver(&second, "m2", placed.to_json()));
    assert!(a.failed_message_ids().is_empty() && b.failed_message_ids().is_empty());
    assert_eq!(setup.billing.gateway.authorizations(), 2, "both reached the gateway");
    assert_eq!(setup.billing.payments.all().len(), 1);
    assert_eq!(setup.billing.payments.outbox().entries().len(), 1);
    assert_eq!(setup.billing.publisher.published().len(), 1);
    assert_eq!(setup.billing.gateway.voids(), 0, "the winner's hold is the same one: not voided");
}

#[tokio::test]
async fn concurrent_attempts_sharing_the_claim_authorize_once() {
    let setup = Setup::new(CountingGateway::new(LIMIT).slowed(Duration::from_millis(20)));
    let placed = order(1999);
    let idempotency: Arc<dyn IdempotencyStore> = Arc::new(InMemoryIdempotencyStore::new());
    let first = setup.processor(idempotency.clone());
    let second = setup.processor(idempotency);
    let (a, b) = tokio::join!(deliver(&first, "m1", placed.to_json()), deliver(&second, "m2", placed.to_json()));
    // One applied it; the other found it in progress and is retried later (then a duplicate).
    let failed: Vec<_> = a.failed_message_ids().into_iter().chain(b.failed_message_ids()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(setup.billing.gateway.authorizations(), 1);
    let retry = deliver(&first, failed[0], placed.to_json()).await;
    assert_eq!(retry.metrics.duplicates_skipped, 1);
    assert_eq!(setup.billing.payments.all().len(), 1);
}

#[tokio::test]
async fn other_events_are_ignored() {
    let setup = Setup::new(CountingGateway::new(LIMIT));
    let placed = order(1999);
    let processor = setup.fresh_processor();
    deliver(&processor, "m1", placed.to_json()).await;
    // Billing's own announcement comes back on no queue of billing's, but a stray one is harmless.
    let body = setup.billing.publisher.published()[0].body.clone();
    let outcome = deliver(&processor, "m2", body).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(setup.billing.payments.all().len(), 1);
    assert_eq!(setup.billing.publisher.published().len(), 1);
}
