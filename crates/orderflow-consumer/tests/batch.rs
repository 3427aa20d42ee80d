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
    BatchProcessor, Clock, ConsumerConfig, EventHandler, HandlerError, InMemoryIdempotencyStore, ManualClock,
    RecordStatus, StoredRecord,
};
use orderflow_events::{OrderEvent, OrderPlacedEvent};
use uuid::Uuid;

/// Records the events it applies, in order; fails the orders it is told to, a number of times.
#[derive(Default)]
struct RecordingHandler {
    applied: Mutex<Vec<Uuid>>,
    failures: Mutex<HashMap<Uuid, u32>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl RecordingHandler {
    fn fail_order(&self, order_id: Uuid, times: u32) {
        self.failures.lock().unwrap().insert(order_id, times);
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
    let processor =
        BatchProcessor::new(ConsumerConfig::new("test"), handler.clone(), store.clone()).with_clock(clock.clone());
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
    let now = h.clock.now().timestamp();
    h.store.insert(
        &key,
        StoredRecord { status: RecordStatus::InProgress, in_progress_until: now + 60, expires_at: now + 3600 },
    );

    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(outcome.failed_message_ids(), ["m1"], "held elsewhere: retry later");
    assert!(h.handler.applied().is_empty());

    h.clock.advance(TimeDelta::seconds(60));
    let outcome = h.processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    assert_eq!(outcome.failed_message_ids(), ["m1"], "not yet expired at exactly inProgressUntil");

    h.clock.advance(TimeDelta::seconds(1));
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
    let config = ConsumerConfig::new("test").with_in_progress_for(Duration::from_secs(5));
    let processor = BatchProcessor::new(config, handler.clone(), store.clone()).with_clock(clock.clone());
    let event = order();
    handler.fail_order(event.data().order_id(), 1);
    processor.process(sqs_event(vec![sqs_message("m1", event.to_json())])).await;
    // Staged as if the release had been lost: the window is 5 s.
    let now = clock.now().timestamp();
    let key = format!("test#{}", event.id());
    store.insert(
        &key,
        StoredRecord { status: RecordStatus::InProgress, in_progress_until: now + 5, expires_at: now + 99 },
    );
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
