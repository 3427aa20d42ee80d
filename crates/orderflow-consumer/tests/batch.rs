//! The batch core's rules, with the in-memory idempotency store and a recording handler.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use lambda_runtime::{Context, LambdaEvent};
use orderflow_consumer::testing::{fifo_message, order_placed, order_placed_at, sns_wrapped, sqs_event, sqs_message};
use orderflow_consumer::{
    BatchProcessor, CLAIM_MARGIN, Clock, ConsumerConfig, EventHandler, FAILURE_CONSUMER_ATTRIBUTE, HandlerError,
    InMemoryDeadLetters, InMemoryIdempotencyStore, Invocation, ManualClock, RecordStatus, RetryPolicy, StoredRecord,
};
use orderflow_events::{OrderEvent, OrderPlacedEvent};
use uuid::Uuid;

/// Records the events it applies, in order; fails the orders it is told to, a number of times.
#[derive(Default)]
struct RecordingHandler {
    applied: Mutex<Vec<Uuid>>,
    failures: Mutex<HashMap<Uuid, u32>>,
    permanent: Mutex<Vec<Uuid>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl RecordingHandler {
    fn fail_order(&self, order_id: Uuid, times: u32) {
        self.failures.lock().unwrap().insert(order_id, times);
    }

    fn fail_order_permanently(&self, order_id: Uuid) {
        self.permanent.lock().unwrap().push(order_id);
    }

    fn applied(&self) -> Vec<Uuid> {
        self.applied.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventHandler for RecordingHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now_in_flight, Ordering::SeqCst);
        // Yield a few times so concurrent lanes really interleave.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.permanent.lock().unwrap().contains(&event.order_id()) {
            return Err(HandlerError::permanent("the card was removed from the wallet"));
        }
        if let Some(left) = self.failures.lock().unwrap().get_mut(&event.order_id())
            && *left > 0
        {
            *left -= 1;
            return Err(HandlerError::transient("simulated outage"));
        }
        self.applied.lock().unwrap().push(event.id());
        Ok(())
    }
}

struct Harness {
    handler: Arc<RecordingHandler>,
    store: Arc<InMemoryIdempotencyStore>,
    clock: Arc<ManualClock>,
    processor: BatchProcessor,
}

fn harness() -> Harness {
    let handler = Arc::new(RecordingHandler::default());
    let store = Arc::new(InMemoryIdempotencyStore::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    // One attempt per receive: these tests are about what SQS sees; the in-invocation retry has
    // its own below.
    let config = ConsumerConfig::new("test").with_retry(RetryPolicy::none());
    let processor = BatchProcessor::new(config, handler.clone(), store.clone()).with_clock(clock.clone());
    Harness { handler, store, clock, processor }
}

fn order() -> OrderPlacedEvent {
    order_placed(&[("BOOK-0001", 2, 1999)], "EUR")
}

#[tokio::test]
async fn one_bad_message_among_good_ones_fails_alone() {
    let h = harness();
    let (a, b, c) = (order(), order(), order());
    let batch = sqs_event(vec![
        sqs_message("m1", a.to_json()),
        sqs_message("m2", "{ not json"),
        sqs_message("m3", b.to_json()),
        sqs_message("m4", c.to_json().replace("orders.OrderPlaced.v1", "orders.OrderPlaced.v9")),
    ]);
    let outcome = h.processor.process(batch).await;
    assert_eq!(outcome.failed_message_ids(), ["m2", "m4"]);
    assert_eq!(h.handler.applied().len(), 2);
    assert_eq!((outcome.metrics.processed, outcome.metrics.failed, outcome.metrics.duplicates_skipped), (2, 2, 0));
}

#[tokio::test]
async fn the_lambda_handler_returns_partial_batch_failures() {
    let h = harness();
    let batch = sqs_event(vec![sqs_message("good", order().to_json()), sqs_message("bad", "")]);
    let response = h.processor.handle(LambdaEvent::new(batch, Context::default())).await.unwrap();
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["bad"]);
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "bad");
}

#[tokio::test]
async fn accepts_sns_wrapped_bodies() {
    let h = harness();
    let event = order();
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", sns_wrapped(&event))])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(h.handler.applied(), [event.id()]);
}

#[tokio::test]
async fn a_duplicate_within_a_batch_has_its_effect_once() {
    let h = harness();
    let event = order();
    let batch = sqs_event(vec![
        sqs_message("m1", event.to_json()),
        sqs_message("m2", order().to_json()),
        // The same event redelivered raw and SNS-wrapped: same id, so one effect.
        sqs_message("m3", event.to_json()),
        sqs_message("m4", sns_wrapped(&event)),
    ]);
    let outcome = h.processor.process(batch).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(h.handler.applied().iter().filter(|id| **id == event.id()).count(), 1);
    assert_eq!((outcome.metrics.processed, outcome.metrics.duplicates_skipped), (2, 2));
}

#[tokio::test]
async fn a_duplicate_across_batches_is_skipped() {
    let h = harness();
    let event = order();
    let first = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(first.metrics.processed, 1);
    let mut redelivered = sqs_message("m1", event.to_json());
    redelivered.attributes.insert("ApproximateReceiveCount".into(), "2".into());
    let second = h.processor.process(sqs_event(vec![redelivered])).await;
    assert!(second.failed_message_ids().is_empty());
    assert_eq!((second.metrics.processed, second.metrics.duplicates_skipped), (0, 1));
    assert_eq!(h.handler.applied(), [event.id()]);

    let record = h.store.get(&format!("test#{}", event.id())).unwrap();
    assert_eq!(record.status, RecordStatus::Completed);
    let ttl = record.expires_at - h.clock.now().timestamp();
    assert_eq!(ttl, 7 * 24 * 3600, "COMPLETED records expire after 7 days");
}

#[tokio::test]
async fn fifo_groups_keep_order_and_a_failure_fails_the_rest_of_its_group() {
    let h = harness();
    let a: Vec<_> = (0..3).map(|_| order()).collect();
    let b: Vec<_> = (0..3).map(|_| order()).collect();
    h.handler.fail_order(a[1].data().order_id(), 1);
    let batch = sqs_event(vec![
        fifo_message("a0", "A", a[0].to_json()),
        fifo_message("b0", "B", b[0].to_json()),
        fifo_message("a1", "A", a[1].to_json()),
        fifo_message("b1", "B", b[1].to_json()),
        fifo_message("a2", "A", a[2].to_json()),
        fifo_message("b2", "B", b[2].to_json()),
    ]);
    let outcome = h.processor.process(batch).await;
    assert_eq!(outcome.failed_message_ids(), ["a1", "a2"]);
    let applied = h.handler.applied();
    let order_of = |id: Uuid| applied.iter().position(|x| *x == id);
    assert_eq!(order_of(a[2].id()), None, "a2 must not overtake the failed a1");
    assert!(order_of(a[0].id()).is_some());
    assert!(order_of(b[0].id()) < order_of(b[1].id()) && order_of(b[1].id()) < order_of(b[2].id()));
    assert_eq!((outcome.metrics.processed, outcome.metrics.failed), (4, 2));

    // The redelivery of a1 and a2 (a1 released its claim) now goes through, in order.
    let retry = sqs_event(vec![fifo_message("a1", "A", a[1].to_json()), fifo_message("a2", "A", a[2].to_json())]);
    let outcome = h.processor.process(retry).await;
    assert!(outcome.failed_message_ids().is_empty());
    let applied = h.handler.applied();
    assert_eq!(&applied[applied.len() - 2..], [a[1].id(), a[2].id()]);
}

#[tokio::test]
async fn an_undecodable_fifo_message_blocks_the_rest_of_its_group() {
    let h = harness();
    let batch = sqs_event(vec![
        fifo_message("a0", "A", "garbage"),
        fifo_message("a1", "A", order().to_json()),
        fifo_message("b0", "B", order().to_json()),
    ]);
    let outcome = h.processor.process(batch).await;
    assert_eq!(outcome.failed_message_ids(), ["a0", "a1"]);
    assert_eq!(h.handler.applied().len(), 1);
}

#[tokio::test]
async fn a_claim_held_elsewhere_is_retried_and_taken_over_after_expiry() {
    let h = harness();
    let event = order();
    let key = format!("test#{}", event.id());
    // A worker claimed the event and crashed: its record is IN_PROGRESS for 60 more seconds.
    let now = h.clock.now().timestamp_millis();
    h.store.insert(&key, StoredRecord::in_progress("crashed/m0", now + 60_000, now / 1000 + 3600));

    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(outcome.failed_message_ids(), ["m1"], "held elsewhere: retry later");
    assert!(h.handler.applied().is_empty());

    h.clock.advance(TimeDelta::milliseconds(59_999));
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(outcome.failed_message_ids(), ["m1"], "not yet expired a millisecond before its end");

    h.clock.advance(TimeDelta::milliseconds(1));
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(h.handler.applied(), [event.id()]);
    assert_eq!(h.store.get(&key).map(|r| r.status), Some(RecordStatus::Completed));
}

#[tokio::test]
async fn a_failed_attempt_releases_its_claim_so_the_retry_proceeds_at_once() {
    let h = harness();
    let event = order();
    h.handler.fail_order(event.data().order_id(), 1);
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(outcome.failed_message_ids(), ["m1"]);
    assert!(h.store.is_empty(), "the claim is released");
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(h.handler.applied(), [event.id()]);
}

#[tokio::test]
async fn the_in_progress_window_comes_from_the_config() {
    let handler = Arc::new(RecordingHandler::default());
    let store = Arc::new(InMemoryIdempotencyStore::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let config =
        ConsumerConfig::new("test").with_in_progress_for(Duration::from_secs(5)).with_retry(RetryPolicy::none());
    let processor = BatchProcessor::new(config, handler.clone(), store.clone()).with_clock(clock.clone());
    let event = order();
    handler.fail_order(event.data().order_id(), 1);
    processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    // Staged as if the release had been lost: the window is 5 s.
    let now = clock.now().timestamp_millis();
    let key = format!("test#{}", event.id());
    store.insert(&key, StoredRecord::in_progress("lost/m1", now + 5000, now / 1000 + 99));
    clock.advance(TimeDelta::seconds(6));
    let outcome = processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
}

#[tokio::test]
async fn reports_event_age_at_processing() {
    let h = harness();
    let placed = h.clock.now() - TimeDelta::milliseconds(1500);
    let event = order_placed_at(&[("SKU", 1, 100)], "EUR", placed);
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(outcome.metrics.event_age_ms, [1500]);
}

#[tokio::test]
async fn many_messages_run_concurrently_within_the_bound() {
    let handler = Arc::new(RecordingHandler::default());
    let store = Arc::new(InMemoryIdempotencyStore::new());
    let config = ConsumerConfig::new("test").with_concurrency(3);
    let processor = BatchProcessor::new(config, handler.clone(), store);
    let events: Vec<_> = (0..25).map(|_| order()).collect();
    let batch = sqs_event(events.iter().enumerate().map(|(i, e)| sqs_message(&format!("m{i}"), e.to_json())).collect());
    let outcome = processor.process(batch).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(outcome.metrics.processed, 25);
    assert_eq!(handler.max_in_flight.load(Ordering::SeqCst), 3, "bounded, and the bound is used");
    let mut applied = handler.applied();
    applied.sort();
    let mut expected: Vec<_> = events.iter().map(|e| e.id()).collect();
    expected.sort();
    assert_eq!(applied, expected);
}

/// A harness whose processor parks in an in-memory DLQ and retries transient failures quickly.
fn parking_harness(retry: RetryPolicy) -> (Harness, Arc<InMemoryDeadLetters>) {
    let h = harness();
    let dead_letters = Arc::new(InMemoryDeadLetters::new());
    let config = ConsumerConfig::new("test").with_retry(retry);
    let processor = BatchProcessor::new(config, h.handler.clone(), h.store.clone())
        .with_clock(h.clock.clone())
        .with_dead_letters(dead_letters.clone());
    (Harness { processor, ..h }, dead_letters)
}

fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy { attempts, base: Duration::from_millis(2), cap: Duration::from_millis(5), ..RetryPolicy::default() }
}

#[tokio::test]
async fn undecodable_and_unknown_messages_are_parked_with_their_reason_at_the_first_receive() {
    let (h, dlq) = parking_harness(RetryPolicy::none());
    let good = order();
    let mut garbage = sqs_message("m2", "{ not json");
    garbage.message_attributes.insert("event_type".into(), Default::default());
    let batch = sqs_event(vec![
        sqs_message("m1", good.to_json()),
        garbage,
        sqs_message("m3", order().to_json().replace("orders.OrderPlaced.v1", "orders.OrderPlaced.v9")),
    ]);
    let outcome = h.processor.process(batch).await;
    assert!(outcome.failed_message_ids().is_empty(), "parked messages are handled: no redelivery");
    assert_eq!((outcome.metrics.processed, outcome.metrics.parked, outcome.metrics.failed), (1, 2, 0));
    let parked = dlq.parked();
    let ids: Vec<_> = parked.iter().map(|(m, _)| m.message_id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["m2", "m3"]);
    assert_eq!(parked[0].0.body.as_deref(), Some("{ not json"), "the body as received");
    assert!(parked[0].0.message_attributes.contains_key("event_type"), "attributes as received");
    assert!(parked[0].1.reason.starts_with("undecodable message: "), "{}", parked[0].1.reason);
    assert!(parked[1].1.reason.contains("v9"), "{}", parked[1].1.reason);
    assert_eq!(parked[0].1.consumer, "test");
    assert_eq!(parked[0].1.failed_at, h.clock.now());
    assert_eq!(h.handler.applied(), [good.id()]);
    assert!(!FAILURE_CONSUMER_ATTRIBUTE.is_empty());
}

#[tokio::test]
async fn a_parked_fifo_message_no_longer_blocks_its_group() {
    let (h, dlq) = parking_harness(RetryPolicy::none());
    let next = order();
    let batch = sqs_event(vec![fifo_message("a0", "A", "garbage"), fifo_message("a1", "A", next.to_json())]);
    let outcome = h.processor.process(batch).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(dlq.parked().len(), 1);
    assert_eq!(h.handler.applied(), [next.id()]);
}

#[tokio::test]
async fn a_permanent_failure_is_parked_once_and_its_claim_released_for_a_redrive() {
    let (h, dlq) = parking_harness(quick_retries(4));
    let event = order();
    h.handler.fail_order_permanently(event.data().order_id());
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!((outcome.metrics.parked, outcome.metrics.retried), (1, 0), "a permanent failure is not retried");
    let parked = dlq.parked();
    assert_eq!(parked.len(), 1);
    assert!(parked[0].1.reason.contains("the card was removed from the wallet"), "{}", parked[0].1.reason);
    assert!(h.store.is_empty(), "released: a redriven copy is applied, not skipped");
}

#[tokio::test]
async fn when_parking_fails_the_message_goes_back_to_sqs() {
    let (h, dlq) = parking_harness(RetryPolicy::none());
    dlq.fail(true);
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", "garbage")])).await;
    assert_eq!(outcome.failed_message_ids(), ["m1"]);
    assert_eq!((outcome.metrics.parked, outcome.metrics.failed), (0, 1));
}

#[tokio::test]
async fn a_transient_failure_is_retried_within_the_invocation() {
    let (h, dlq) = parking_harness(quick_retries(4));
    let event = order();
    h.handler.fail_order(event.data().order_id(), 3);
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!((outcome.metrics.processed, outcome.metrics.retried), (1, 3));
    assert_eq!(h.handler.applied(), [event.id()], "applied once");
    assert!(dlq.parked().is_empty());

    // One failure more than the attempts: back to SQS, the claim released.
    let other = order();
    h.handler.fail_order(other.data().order_id(), 4);
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m2", other.to_json())])).await;
    assert_eq!(outcome.failed_message_ids(), ["m2"]);
    assert_eq!(outcome.metrics.retried, 3);
    assert!(h.store.get(&format!("test#{}", other.id())).is_none());
}

#[tokio::test]
async fn no_retry_starts_that_would_not_leave_the_reserve_before_the_deadline() {
    let (h, _dlq) = parking_harness(quick_retries(4));
    let event = order();
    h.handler.fail_order(event.data().order_id(), 1);
    // 1.5 s left: less than the 2 s reserve.
    let invocation = Invocation { request_id: "r1".into(), deadline_ms: Some(h.clock.now().timestamp_millis() + 1500) };
    let outcome = h.processor.process_in(sqs_event(vec![sqs_message("m1", event.to_json())]), &invocation).await;
    assert_eq!(outcome.failed_message_ids(), ["m1"]);
    assert_eq!(outcome.metrics.retried, 0);
}

/// Reads the claim while the event is being applied.
struct PeekingHandler {
    store: Arc<InMemoryIdempotencyStore>,
    seen: Mutex<Option<StoredRecord>>,
}

#[async_trait]
impl EventHandler for PeekingHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        *self.seen.lock().unwrap() = self.store.get(&format!("test#{}", event.id()));
        Ok(())
    }
}

#[tokio::test]
async fn in_lambda_a_claim_lasts_until_the_deadline_plus_the_margin_and_names_its_receive() {
    let store = Arc::new(InMemoryIdempotencyStore::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let handler = Arc::new(PeekingHandler { store: store.clone(), seen: Mutex::new(None) });
    let processor =
        BatchProcessor::new(ConsumerConfig::new("test"), handler.clone(), store.clone()).with_clock(clock.clone());
    let deadline_ms = clock.now().timestamp_millis() + 10_000;
    let mut context = Context::default();
    context.request_id = "req-7".into();
    context.deadline = u64::try_from(deadline_ms).unwrap();
    let event = order();
    let response =
        processor.handle(LambdaEvent::new(sqs_event(vec![sqs_message("m1", event.to_json())]), context)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let claim = handler.seen.lock().unwrap().clone().expect("claimed while applied");
    assert_eq!(claim.status, RecordStatus::InProgress);
    let margin_ms = i64::try_from(CLAIM_MARGIN.as_millis()).unwrap();
    assert_eq!(claim.in_progress_until_ms, deadline_ms + margin_ms, "not the 60 s visibility timeout");
    assert_eq!(claim.owner.as_deref(), Some("req-7/m1"));
    assert_eq!(store.get(&format!("test#{}", event.id())).unwrap().status, RecordStatus::Completed);
}
