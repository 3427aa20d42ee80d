//! Billing's business rules through the batch core, with in-memory adapters.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use billing::{
    BillingHandler, CONSUMER, ChargeRequest, ChargeResult, GatewayError, InMemoryPaymentsStore, PaymentGateway,
    PaymentStatus, SimulatedGateway,
};
use lambda_runtime::{Context, LambdaEvent};
use orderflow_consumer::testing::{order_placed, sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, IdempotencyStore, InMemoryIdempotencyStore};
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;

/// The simulated gateway, slowed down so concurrent attempts overlap, counting calls.
struct SlowGateway {
    inner: SimulatedGateway,
    calls: AtomicUsize,
}

#[async_trait]
impl PaymentGateway for SlowGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeResult, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        self.inner.charge(request).await
    }
}

struct Setup {
    gateway: Arc<SlowGateway>,
    payments: Arc<InMemoryPaymentsStore>,
    clock: Arc<ManualClock>,
}

impl Setup {
    fn new(decline_above: u64) -> Self {
        Setup {
            gateway: Arc::new(SlowGateway { inner: SimulatedGateway::new(decline_above), calls: AtomicUsize::new(0) }),
            payments: Arc::new(InMemoryPaymentsStore::new()),
            clock: Arc::new(ManualClock::at_contract_time()),
        }
    }

    fn processor(&self, idempotency: Arc<dyn IdempotencyStore>) -> BatchProcessor {
        let handler = BillingHandler::new(self.gateway.clone(), self.payments.clone()).with_clock(self.clock.clone());
        BatchProcessor::new(ConsumerConfig::new(CONSUMER), Arc::new(handler), idempotency)
    }
}

#[tokio::test]
async fn captures_an_order_within_the_limit() {
    let setup = Setup::new(100_000);
    let event = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
    let batch = sqs_event(vec![sqs_message("m1", event.to_json())]);
    let processor = setup.processor(Arc::new(InMemoryIdempotencyStore::new()));
    let response = processor.handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let payments = setup.payments.all();
    assert_eq!(payments.len(), 1);
    let payment = &payments[0];
    assert_eq!(payment.order_id, event.data().order_id());
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!(payment.amount, event.data().total());
    assert_eq!(payment.event_id, event.id());
    assert_eq!(payment.gateway_reference, format!("sim_ch_{}", event.id().simple()));
    assert_eq!(payment.created_at, setup.clock.now());
}

#[tokio::test]
async fn declines_an_order_above_the_limit_as_a_recorded_outcome() {
    let setup = Setup::new(100_000);
    let event = order_placed(&[("TV-0001", 1, 100_001)], "EUR");
    let outcome = setup
        .processor(Arc::new(InMemoryIdempotencyStore::new()))
        .process(sqs_event(vec![sqs_message("m1", event.to_json())]))
        .await;
    assert!(outcome.failed_message_ids().is_empty(), "a decline is not a retry");
    let payments = setup.payments.all();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Declined);
    assert_eq!(payments[0].amount.amount, 100_001);
    assert_eq!(payments[0].decline_reason.as_deref(), Some("AMOUNT_OVER_LIMIT"));
}

#[tokio::test]
async fn duplicates_in_and_across_batches_charge_and_record_once() {
    let setup = Setup::new(100_000);
    let processor = setup.processor(Arc::new(InMemoryIdempotencyStore::new()));
    let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    let batch = sqs_event(vec![sqs_message("m1", event.to_json()), sqs_message("m2", event.to_json())]);
    let outcome = processor.process(batch).await;
    assert!(outcome.failed_message_ids().is_empty());
    processor.process(sqs_event(vec![sqs_message("m3", event.to_json())])).await;
    assert_eq!(setup.gateway.calls.load(Ordering::SeqCst), 1);
    assert_eq!(setup.payments.all().len(), 1);
}

#[tokio::test]
async fn concurrent_attempts_without_a_shared_claim_still_record_one_payment() {
    // Two invocations that both got past idempotency (say the claim expired mid-flight): they
    // charge with the same key, get the same result, and only one record is written.
    let setup = Setup::new(100_000);
    let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    let first = setup.processor(Arc::new(InMemoryIdempotencyStore::new()));
    let second = setup.processor(Arc::new(InMemoryIdempotencyStore::new()));
    let (a, b) = tokio::join!(
        first.process(sqs_event(vec![sqs_message("m1", event.to_json())])),
        second.process(sqs_event(vec![sqs_message("m2", event.to_json())])),
    );
    assert!(a.failed_message_ids().is_empty() && b.failed_message_ids().is_empty());
    assert_eq!(setup.gateway.calls.load(Ordering::SeqCst), 2, "both reached the gateway, with one key");
    let payments = setup.payments.all();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].event_id, event.id());
}

#[tokio::test]
async fn concurrent_attempts_sharing_the_claim_charge_once() {
    let setup = Setup::new(100_000);
    let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    let idempotency: Arc<dyn IdempotencyStore> = Arc::new(InMemoryIdempotencyStore::new());
    let first = setup.processor(idempotency.clone());
    let second = setup.processor(idempotency);
    let (a, b) = tokio::join!(
        first.process(sqs_event(vec![sqs_message("m1", event.to_json())])),
        second.process(sqs_event(vec![sqs_message("m2", event.to_json())])),
    );
    // One applied it; the other found it in progress and is retried later (then a duplicate).
    let failed: Vec<_> = a.failed_message_ids().into_iter().chain(b.failed_message_ids()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(setup.gateway.calls.load(Ordering::SeqCst), 1);
    assert_eq!(setup.payments.all().len(), 1);
    let retry = first.process(sqs_event(vec![sqs_message(failed[0], event.to_json())])).await;
    assert_eq!(retry.metrics.duplicates_skipped, 1);
}

#[tokio::test]
async fn an_order_with_a_payment_is_not_charged_again() {
    let setup = Setup::new(100_000);
    let event = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
    for _ in 0..2 {
        // A fresh idempotency store each time: the record expired, the payment did not.
        setup
            .processor(Arc::new(InMemoryIdempotencyStore::new()))
            .process(sqs_event(vec![sqs_message("m1", event.to_json())]))
            .await;
    }
    assert_eq!(setup.gateway.calls.load(Ordering::SeqCst), 1);
    assert_eq!(setup.payments.all().len(), 1);
}
