//! The lifecycle's rules through the batch core, on the order API's in-memory tables: orders are
//! placed through the API handler, settled by outcome events, and read back through GET.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use lambda_runtime::{Context, LambdaEvent};
use order_api::domain::OrderStatus;
use order_api::lifecycle::LifecycleState;
use order_api::record::{OrderRecord, PaymentOutcome, StockOutcome};
use order_api::testing::{Harness, body_json, contract_body, post_orders, proxy_event};
use order_lifecycle::{
    CONSUMER, InMemoryLifecycleStore, LifecycleError, LifecycleHandler, MAX_ATTEMPTS, OrderLifecycleStore, SaveOutcome,
    Transition,
};
use orderflow_consumer::testing::{sqs_event, sqs_message};
use orderflow_consumer::{BatchProcessor, ConsumerConfig, EventHandler, InMemoryIdempotencyStore};
use orderflow_events::{
    BILLING_SOURCE, CancellationReason, CloudEvent, DeclineReason, EventData, INVENTORY_SOURCE, Money, OrderEvent,
    PaymentAuthorizedV1, PaymentDeclinedV1, StockLine, StockRejectedV1, StockRejectionReason, StockReservedV1,
    decode_message,
};
use orderflow_kit::Clock;
use orderflow_outbox::Announcer;
use orderflow_outbox::adapters::memory::RecordingPublisher;
use serde_json::{Value, json};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(900);

/// The order service in memory: the API (placing orders) and the lifecycle on the same tables.
struct World {
    api: Harness,
    store: InMemoryLifecycleStore,
    publisher: Arc<RecordingPublisher>,
    processor: BatchProcessor,
}

impl World {
    fn new() -> Self {
        let api = Harness::new();
        let store = InMemoryLifecycleStore::on(api.store.clone());
        let publisher = Arc::new(RecordingPublisher::new());
        let processor = processor_on(&api, Arc::new(store.clone()), publisher.clone());
        World { api, store, publisher, processor }
    }

    /// Places an order through the API; returns its id and the OrderPlaced message body.
    async fn place(&self, body: Value) -> (Uuid, String) {
        let response = self.api.call(post_orders(&body.to_string(), &[("X-Correlation-Id", "req-life-1")])).await;
        assert_eq!(response.status(), 201);
        let order_id = Uuid::parse_str(body_json(&response)["orderId"].as_str().unwrap()).unwrap();
        let placed = self.api.publisher.published().last().unwrap().body.clone();
        (order_id, placed)
    }

    async fn place_contract_order(&self) -> (Uuid, String) {
        let mut body = contract_body();
        body["shippingAddress"] =
            json!({ "line1": "1 Main St", "city": "Lyon", "postalCode": "69001", "country": "FR" });
        self.place(body).await
    }

    /// Runs one batch; returns the ids of the failed messages.
    async fn deliver(&self, bodies: &[String]) -> Vec<String> {
        let records = bodies.iter().enumerate().map(|(i, body)| sqs_message(&format!("m{i}"), body.clone())).collect();
        let response = self.processor.handle(LambdaEvent::new(sqs_event(records), Context::default())).await.unwrap();
        response.batch_item_failures.into_iter().map(|failure| failure.item_identifier).collect()
    }

    fn record(&self, order_id: Uuid) -> OrderRecord {
        self.store.record(order_id).expect("the order row")
    }

    /// The lifecycle's outbox entries (the placements' OrderPlaced excluded).
    fn settlements(&self, order_id: Uuid) -> Vec<OrderEvent> {
        self.store
            .outbox()
            .entries()
            .into_iter()
            .filter(|stored| stored.entry.subject == order_id.to_string() && stored.entry.event_type != "OrderPlaced")
            .map(|stored| decode_message(&stored.entry.body).unwrap().0)
            .collect()
    }

    async fn get(&self, order_id: Uuid) -> Value {
        body_json(&self.api.call(proxy_event("GET", &format!("/orders/{order_id}"), &[], None)).await)
    }
}

fn processor_on(
    api: &Harness,
    store: Arc<dyn OrderLifecycleStore>,
    publisher: Arc<RecordingPublisher>,
) -> BatchProcessor {
    BatchProcessor::new(
        ConsumerConfig::new(CONSUMER),
        Arc::new(handler_on(api, store, publisher)),
        Arc::new(InMemoryIdempotencyStore::new()),
    )
    .with_clock(api.clock.clone())
}

fn handler_on(
    api: &Harness,
    store: Arc<dyn OrderLifecycleStore>,
    publisher: Arc<RecordingPublisher>,
) -> LifecycleHandler {
    let announcer = Announcer::new(api.store.outbox(), publisher, api.clock.clone());
    LifecycleHandler::new(store, announcer, TIMEOUT).with_clock(api.clock.clone())
}

fn envelope<D: EventData + serde::Serialize>(source: &str, data: D) -> String {
    CloudEvent::new(Uuid::now_v7(), source, chrono::Utc::now(), data)
        .with_correlation_id("req-life-1")
        .with_traceparent("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        .to_json()
}

fn stock_reserved(order_id: Uuid) -> String {
    let line = StockLine { sku: "BOOK-0001".into(), quantity: 2 };
    envelope(INVENTORY_SOURCE, StockReservedV1::new(order_id, vec![line]).unwrap())
}

fn stock_rejected(order_id: Uuid, reason: StockRejectionReason) -> String {
    envelope(INVENTORY_SOURCE, StockRejectedV1::new(order_id, reason, "BOOK-0001").unwrap())
}

fn eur(amount: u64) -> Money {
    Money::new(amount, "EUR".parse().unwrap())
}

fn payment_authorized(order_id: Uuid) -> String {
    envelope(BILLING_SOURCE, PaymentAuthorizedV1::new(order_id, eur(3998), format!("auth-{order_id}")).unwrap())
}

fn payment_declined(order_id: Uuid) -> String {
    envelope(BILLING_SOURCE, PaymentDeclinedV1::new(order_id, eur(3998), DeclineReason::limit_exceeded()))
}

#[tokio::test]
async fn both_positive_outcomes_confirm_the_order_once_with_its_whole_content() {
    let world = World::new();
    let (order_id, _) = world.place_contract_order().await;
    assert!(world.deliver(&[stock_reserved(order_id)]).await.is_empty());
    let waiting = world.record(order_id);
    assert_eq!(waiting.order.status, OrderStatus::Placed);
    assert_eq!(waiting.bookkeeping.stock_outcome, Some(StockOutcome::Reserved));
    assert_eq!(waiting.bookkeeping.version, 2);
    assert!(world.settlements(order_id).is_empty(), "nothing announced before settling");

    assert!(world.deliver(&[payment_authorized(order_id)]).await.is_empty());
    let settled = world.record(order_id);
    assert_eq!(settled.order.status, OrderStatus::Confirmed);
    assert_eq!(settled.order.status_reason, None);
    assert_eq!(settled.bookkeeping.payment_outcome, Some(PaymentOutcome::Authorized));
    assert_eq!((settled.bookkeeping.version, settled.bookkeeping.settled_at), (3, Some(world.api.clock.now())));

    let settlements = world.settlements(order_id);
    assert_eq!(settlements.len(), 1);
    let OrderEvent::OrderConfirmedV1(confirmed) = &settlements[0] else { panic!("{settlements:?}") };
    assert_eq!(confirmed.source(), "order-api");
    assert_eq!(confirmed.subject(), order_id.to_string());
    assert_eq!(confirmed.correlation_id(), Some("req-life-1"), "carried from the outcome");
    assert!(confirmed.traceparent().is_some());
    assert_eq!(confirmed.data().customer().email, "ada@example.com");
    assert_eq!(confirmed.data().items()[0].sku, "BOOK-0001");
    assert_eq!(confirmed.data().total(), eur(3998));
    assert_eq!(confirmed.data().shipping_address().map(|address| address.city()), Some("Lyon"));

    let published = world.publisher.published();
    assert_eq!(published.len(), 1, "announced right after the commit");
    assert_eq!(
        published[0].attributes,
        [("event_type".to_owned(), "OrderConfirmed".to_owned()), ("event_version".to_owned(), "1".to_owned())]
    );
    assert!(world.store.outbox().entries().iter().all(|stored| stored.published_at.is_some()));

    let body = world.get(order_id).await;
    assert_eq!(body["status"], "CONFIRMED");
    assert!(body.get("statusReason").is_none());
}

#[tokio::test]
async fn the_first_negative_outcome_cancels_with_its_reason_and_later_outcomes_change_nothing() {
    type Negative = fn(Uuid) -> String;
    let cases: [(Negative, CancellationReason); 3] = [
        (|id| stock_rejected(id, StockRejectionReason::OutOfStock), CancellationReason::OutOfStock),
        (|id| stock_rejected(id, StockRejectionReason::UnknownSku), CancellationReason::UnknownSku),
        (payment_declined, CancellationReason::PaymentDeclined),
    ];
    for (negative, reason) in cases {
        let world = World::new();
        let (order_id, _) = world.place_contract_order().await;
        assert!(world.deliver(&[negative(order_id)]).await.is_empty());
        let cancelled = world.record(order_id);
        assert_eq!((cancelled.order.status, cancelled.order.status_reason), (OrderStatus::Cancelled, Some(reason)));

        let settlements = world.settlements(order_id);
        assert_eq!(settlements.len(), 1);
        let OrderEvent::OrderCancelledV1(event) = &settlements[0] else { panic!("{settlements:?}") };
        assert_eq!(event.data().reason(), reason);
        assert_eq!(event.data().customer().id, "cus_1001");
        assert_eq!(event.data().total(), eur(3998));

        let body = world.get(order_id).await;
        assert_eq!(
            (body["status"].as_str(), body["statusReason"].as_str()),
            (Some("CANCELLED"), Some(reason.as_str()))
        );

        // Every later outcome (the other negative ones too) is processed and changes nothing.
        let late = [
            stock_reserved(order_id),
            payment_authorized(order_id),
            payment_declined(order_id),
            stock_rejected(order_id, StockRejectionReason::OutOfStock),
        ];
        assert!(world.deliver(&late).await.is_empty());
        assert_eq!(world.record(order_id), cancelled);
        assert_eq!(world.settlements(order_id).len(), 1, "settled exactly once");
        assert_eq!(world.publisher.published().len(), 1);
    }
}

#[tokio::test]
async fn duplicates_and_redeliveries_settle_once() {
    let world = World::new();
    let (order_id, _) = world.place_contract_order().await;
    let reserved = stock_reserved(order_id);
    let authorized = payment_authorized(order_id);
    // The same events twice in one batch, then again in later batches.
    let failed = world.deliver(&[reserved.clone(), reserved.clone(), authorized.clone(), authorized.clone()]).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(world.deliver(&[authorized.clone(), reserved.clone()]).await.is_empty());
    // A redelivery whose idempotency record is gone (expired, or never completed after a crash)
    // still finds the order settled.
    let forgetful = processor_on(&world.api, Arc::new(world.store.clone()), world.publisher.clone());
    let outcome = forgetful.process(sqs_event(vec![sqs_message("m9", authorized), sqs_message("m10", reserved)])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(world.record(order_id).order.status, OrderStatus::Confirmed);
    assert_eq!(world.record(order_id).bookkeeping.version, 3);
    assert_eq!(world.settlements(order_id).len(), 1);
    assert_eq!(world.publisher.published().len(), 1);
}

#[tokio::test]
async fn an_outcome_for_an_unknown_order_is_processed_and_changes_nothing() {
    let world = World::new();
    let unknown = Uuid::now_v7();
    let bodies =
        [stock_reserved(unknown), payment_declined(unknown), stock_rejected(unknown, StockRejectionReason::UnknownSku)];
    assert!(world.deliver(&bodies).await.is_empty(), "not retried, not sent to the DLQ");
    assert_eq!(world.store.record(unknown), None);
    assert_eq!(world.api.store.order_count(), 0);
    assert!(world.store.outbox().entries().is_empty());
    assert!(world.publisher.published().is_empty());
}

#[tokio::test]
async fn the_timer_cancels_an_order_still_placed_once_the_deadline_has_come() {
    let world = World::new();
    let (order_id, placed) = world.place_contract_order().await;
    assert!(world.deliver(&[stock_reserved(order_id)]).await.is_empty());

    // Early (the queue delay is the timeout, but clocks and SQS are not exact): retried later.
    world.api.clock.advance(TimeDelta::seconds(899));
    assert_eq!(world.deliver(std::slice::from_ref(&placed)).await, ["m0"]);
    assert_eq!(world.record(order_id).order.status, OrderStatus::Placed);
    assert!(world.settlements(order_id).is_empty());

    world.api.clock.advance(TimeDelta::seconds(1));
    assert!(world.deliver(std::slice::from_ref(&placed)).await.is_empty());
    let record = world.record(order_id);
    assert_eq!(
        (record.order.status, record.order.status_reason),
        (OrderStatus::Cancelled, Some(CancellationReason::Timeout))
    );
    let settlements = world.settlements(order_id);
    let [OrderEvent::OrderCancelledV1(event)] = settlements.as_slice() else { panic!("{settlements:?}") };
    assert_eq!(event.data().reason(), CancellationReason::Timeout);
    assert_eq!(event.correlation_id(), Some("req-life-1"), "the OrderPlaced's correlation id");

    // The payment arriving after the timeout changes nothing.
    assert!(world.deliver(&[payment_authorized(order_id)]).await.is_empty());
    assert_eq!(world.record(order_id), record);
    assert_eq!(world.get(order_id).await["statusReason"], "TIMEOUT");
}

#[tokio::test]
async fn the_timer_of_a_settled_order_is_a_no_op_even_when_early() {
    let world = World::new();
    let (order_id, placed) = world.place_contract_order().await;
    assert!(world.deliver(&[payment_authorized(order_id), stock_reserved(order_id)]).await.is_empty());
    let confirmed = world.record(order_id);
    assert_eq!(confirmed.order.status, OrderStatus::Confirmed);
    assert!(world.deliver(std::slice::from_ref(&placed)).await.is_empty(), "early, but nothing left to time out");
    world.api.clock.advance(TimeDelta::hours(1));
    assert!(world.deliver(&[placed]).await.is_empty());
    assert_eq!(world.record(order_id), confirmed);
    assert_eq!(world.settlements(order_id).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_outcomes_of_one_order_neither_get_lost_nor_settle_twice() {
    let world = Arc::new(World::new());
    let mut orders = Vec::new();
    for index in 0..40 {
        let (order_id, _) = world.place_contract_order().await;
        orders.push((order_id, index % 2 == 0));
    }
    // Two Lambda invocations (each its own processor and idempotency store) per order, at once.
    let mut tasks = Vec::new();
    for (order_id, approve) in orders.clone() {
        let second = if approve { payment_authorized(order_id) } else { payment_declined(order_id) };
        for body in [stock_reserved(order_id), second] {
            let world = Arc::clone(&world);
            tasks.push(tokio::spawn(async move {
                let processor = processor_on(&world.api, Arc::new(world.store.clone()), world.publisher.clone());
                processor.process(sqs_event(vec![sqs_message("m", body)])).await.failed_message_ids().len()
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 0, "every outcome applied, none left to a retry");
    }
    for (order_id, approve) in orders {
        let record = world.record(order_id);
        if approve {
            // Neither positive outcome may be lost, whichever write won the race.
            assert_eq!(record.order.status, OrderStatus::Confirmed);
            assert_eq!(record.bookkeeping.stock_outcome, Some(StockOutcome::Reserved));
            assert_eq!(record.bookkeeping.version, 3, "two writes: one outcome, then the settlement");
        } else {
            // The decline cancels whether or not the reservation was recorded first.
            assert_eq!(record.order.status_reason, Some(CancellationReason::PaymentDeclined));
        }
        assert_eq!(world.settlements(order_id).len(), 1, "settled exactly once");
    }
}

/// The order store with a competitor: on the first save, another invocation records the
/// payment authorization first, so this one's write conflicts.
struct Raced {
    inner: InMemoryLifecycleStore,
    raced: AtomicBool,
    saves: AtomicUsize,
}

#[async_trait]
impl OrderLifecycleStore for Raced {
    async fn load(&self, order_id: Uuid) -> Result<Option<OrderRecord>, LifecycleError> {
        self.inner.load(order_id).await
    }

    async fn save(&self, transition: &Transition) -> Result<SaveOutcome, LifecycleError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        if !self.raced.swap(true, Ordering::SeqCst) {
            let current = self.inner.record(transition.order_id()).unwrap();
            let state = LifecycleState { payment: Some(PaymentOutcome::Authorized), ..current.state() };
            let competitor = Transition {
                expected_version: current.bookkeeping.version,
                next: current.with_state(state, chrono::Utc::now()),
                announcement: None,
            };
            assert_eq!(self.inner.save(&competitor).await.unwrap(), SaveOutcome::Saved);
        }
        self.inner.save(transition).await
    }
}

#[tokio::test]
async fn a_lost_race_reloads_and_decides_again() {
    let world = World::new();
    let (order_id, _) = world.place_contract_order().await;
    let raced =
        Arc::new(Raced { inner: world.store.clone(), raced: AtomicBool::new(false), saves: AtomicUsize::new(0) });
    let processor = processor_on(&world.api, raced.clone(), world.publisher.clone());
    let outcome = processor.process(sqs_event(vec![sqs_message("m1", stock_reserved(order_id))])).await;
    assert!(outcome.failed_message_ids().is_empty());
    assert_eq!(raced.saves.load(Ordering::SeqCst), 2, "the first write lost, the second settled");
    let record = world.record(order_id);
    assert_eq!(record.order.status, OrderStatus::Confirmed, "the competitor's authorization plus this reservation");
    assert_eq!(record.bookkeeping.version, 3);
    assert_eq!(world.settlements(order_id).len(), 1);
}

/// A store whose row always moves on before the write.
struct AlwaysContended(InMemoryLifecycleStore);

#[async_trait]
impl OrderLifecycleStore for AlwaysContended {
    async fn load(&self, order_id: Uuid) -> Result<Option<OrderRecord>, LifecycleError> {
        self.0.load(order_id).await
    }

    async fn save(&self, _: &Transition) -> Result<SaveOutcome, LifecycleError> {
        Ok(SaveOutcome::Conflict)
    }
}

#[tokio::test]
async fn endless_contention_is_a_transient_failure_after_a_few_attempts() {
    let world = World::new();
    let (order_id, _) = world.place_contract_order().await;
    let handler = handler_on(&world.api, Arc::new(AlwaysContended(world.store.clone())), world.publisher.clone());
    let event = decode_message(&stock_reserved(order_id)).unwrap().0;
    let error = handler.handle(&event).await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");
    assert!(error.to_string().contains(&format!("{MAX_ATTEMPTS} attempts")), "{error}");
    assert_eq!(world.record(order_id).bookkeeping.version, 1, "nothing written");
}

#[tokio::test]
async fn store_failures_are_retried_and_a_failed_publish_is_left_to_the_relay() {
    let world = World::new();
    let (order_id, _) = world.place_contract_order().await;
    world.api.store.fail_everything(true);
    assert_eq!(world.deliver(&[payment_declined(order_id)]).await, ["m0"], "transient: retried");
    world.api.store.fail_everything(false);
    assert_eq!(world.record(order_id).order.status, OrderStatus::Placed);

    world.publisher.set_failing(true);
    assert!(world.deliver(&[payment_declined(order_id)]).await.is_empty(), "committed: processed");
    assert_eq!(world.record(order_id).order.status, OrderStatus::Cancelled);
    let entries = world.store.outbox().entries();
    let cancelled = entries.iter().find(|stored| stored.entry.event_type == "OrderCancelled").unwrap();
    assert_eq!(cancelled.published_at, None, "pending: the relay publishes it");
}

#[tokio::test]
async fn a_malformed_order_row_is_a_permanent_failure() {
    let world = World::new();
    let (order_id, _) = world.place_contract_order().await;
    let mut broken = world.record(order_id);
    // A row without an email (written by hand, say) cannot make a valid settlement event, on
    // this delivery or any other.
    broken.order.customer.email = String::new();
    world.api.store.insert_record(broken);
    let handler = handler_on(&world.api, Arc::new(world.store.clone()), world.publisher.clone());
    let error = handler.handle(&decode_message(&payment_declined(order_id)).unwrap().0).await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert_eq!(world.record(order_id).order.status, OrderStatus::Placed, "nothing written");
}

#[tokio::test]
async fn events_that_are_not_the_lifecycles_business_are_ignored() {
    let world = World::new();
    let (order_id, _) = world.place_contract_order().await;
    assert!(world.deliver(&[stock_reserved(order_id), payment_authorized(order_id)]).await.is_empty());
    let entries = world.store.outbox().entries();
    let confirmation =
        entries.iter().find(|stored| stored.entry.event_type == "OrderConfirmed").unwrap().entry.body.clone();
    // Its own OrderConfirmed coming back (say, a misconfigured subscription) changes nothing.
    assert!(world.deliver(&[confirmation]).await.is_empty());
    assert_eq!(world.settlements(order_id).len(), 1);
}
