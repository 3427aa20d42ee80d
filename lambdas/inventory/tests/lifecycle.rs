//! The reservation state machine through the handler, on the in-memory store: every order of
//! arrival of OrderPlaced / OrderConfirmed / OrderCancelled and duplicates of each, crashes
//! between any two steps of a large order, and what gets announced.
// Test code: a failed expectation should stop the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use inventory::{
    Applied, CHUNK_LINES, InMemoryInventoryStore, InventoryError, InventoryHandler, InventoryStore, Reservation,
    ReservationStatus, SINGLE_WRITE_RESERVE_LINES, Step, classify,
};
use orderflow_consumer::EventHandler;
use orderflow_consumer::testing::order_placed;
use orderflow_events::{
    CancellationReason, CloudEvent, INVENTORY_SOURCE, ORDER_SERVICE_SOURCE, OrderCancelledEvent, OrderCancelledV1,
    OrderConfirmedEvent, OrderConfirmedV1, OrderEvent, OrderPlacedEvent,
};
use orderflow_kit::Clock;
use orderflow_kit::clock::ManualClock;
use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};
use orderflow_outbox::Announcer;
use orderflow_outbox::adapters::memory::RecordingPublisher;
use uuid::Uuid;

const INITIAL: i64 = 50;

/// A store that fails the `fail_at`-th step (0-based): before writing it, or after (a lost
/// response: the write happened, the caller sees an error).
struct Flaky {
    inner: Arc<InMemoryInventoryStore>,
    calls: AtomicUsize,
    fail_at: Option<usize>,
    after_write: bool,
}

#[async_trait]
impl InventoryStore for Flaky {
    async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>, InventoryError> {
        self.inner.reservation(order_id).await
    }

    async fn apply(&self, step: &Step) -> Result<Applied, InventoryError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let failure = || RequestFailed::new("TransactWriteItems", std::io::Error::other("injected crash")).into();
        if self.fail_at == Some(call) && !self.after_write {
            return Err(failure());
        }
        let applied = self.inner.apply(step).await?;
        if self.fail_at == Some(call) {
            return Err(failure());
        }
        Ok(applied)
    }
}

struct World {
    store: Arc<InMemoryInventoryStore>,
    publisher: Arc<RecordingPublisher>,
    clock: Arc<ManualClock>,
    skus: Vec<String>,
}

impl World {
    fn new(lines: usize) -> Self {
        let skus: Vec<String> = (0..lines).map(|index| format!("SKU-{index:04}")).collect();
        let mut store = InMemoryInventoryStore::new();
        for sku in &skus {
            store = store.with_stock(sku, INITIAL);
        }
        World {
            store: Arc::new(store),
            publisher: Arc::new(RecordingPublisher::new()),
            clock: Arc::new(ManualClock::at_contract_time()),
            skus,
        }
    }

    fn handler_on(&self, store: Arc<dyn InventoryStore>) -> InventoryHandler {
        let announcer = Announcer::new(self.store.outbox(), self.publisher.clone(), self.clock.clone());
        InventoryHandler::new(store, announcer).with_clock(self.clock.clone())
    }

    fn handler(&self) -> InventoryHandler {
        self.handler_on(self.store.clone())
    }

    fn flaky(&self, fail_at: usize, after_write: bool) -> InventoryHandler {
        let store =
            Flaky { inner: self.store.clone(), calls: AtomicUsize::new(0), fail_at: Some(fail_at), after_write };
        self.handler_on(Arc::new(store))
    }

    /// An order of 2 units of every SKU; `short` SKU (if any) asks for more than there is.
    fn order(&self, short: Option<usize>) -> OrderPlacedEvent {
        let lines: Vec<(&str, u32, u64)> = self
            .skus
            .iter()
            .enumerate()
            .map(|(index, sku)| (sku.as_str(), if Some(index) == short { 1000 } else { 2 }, 100))
            .collect();
        order_placed(&lines, "EUR")
    }

    fn outbox_types(&self) -> Vec<String> {
        self.store.outbox().entries().into_iter().map(|stored| stored.entry.event_type).collect()
    }

    /// Stock conserved: every unit is available, or committed by a confirmed order; none stays
    /// reserved.
    fn assert_stock(&self, committed_per_sku: i64) {
        for sku in &self.skus {
            assert_eq!(self.store.stock(sku), Some((INITIAL - committed_per_sku, 0)), "{sku}");
        }
    }

    fn status(&self, order_id: Uuid) -> Option<ReservationStatus> {
        self.store.reservation_record(order_id).map(|record| record.status)
    }
}

fn confirmed(placed: &OrderPlacedEvent) -> OrderEvent {
    let data = OrderConfirmedV1::for_order(placed.data());
    let event: OrderConfirmedEvent = CloudEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, placed.time(), data);
    OrderEvent::OrderConfirmedV1(event.with_correlation_id("req-test"))
}

fn cancelled(placed: &OrderPlacedEvent, reason: CancellationReason) -> OrderEvent {
    let order = placed.data();
    let data = OrderCancelledV1::new(order.order_id(), reason, order.customer().clone(), order.total()).unwrap();
    let event: OrderCancelledEvent = CloudEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, placed.time(), data);
    OrderEvent::OrderCancelledV1(event)
}

/// Every distinct ordering of the multiset of events.
fn orderings(events: &[OrderEvent]) -> Vec<Vec<OrderEvent>> {
    fn go(rest: &mut Vec<OrderEvent>, current: &mut Vec<OrderEvent>, out: &mut Vec<Vec<OrderEvent>>) {
        if rest.is_empty() {
            out.push(current.clone());
            return;
        }
        let mut seen: Vec<OrderEvent> = Vec::new();
        for index in 0..rest.len() {
            if seen.contains(&rest[index]) {
                continue;
            }
            seen.push(rest[index].clone());
            let event = rest.remove(index);
            current.push(event.clone());
            go(rest, current, out);
            current.pop();
            rest.insert(index, event);
        }
    }
    let mut out = Vec::new();
    go(&mut events.to_vec(), &mut Vec::new(), &mut out);
    out
}

/// Delivers the events in this order like SQS would: a transient failure comes back later
/// (after the others), a permanent one fails the test.
async fn deliver(handler: &InventoryHandler, events: Vec<OrderEvent>) {
    let mut queue: VecDeque<OrderEvent> = events.into();
    let mut deliveries = 0;
    while let Some(event) = queue.pop_front() {
        deliveries += 1;
        assert!(deliveries < 50, "no end state reached");
        match handler.handle(&event).await {
            Ok(()) => {}
            Err(error) if !error.is_permanent() => queue.push_back(event),
            Err(error) => panic!("{} failed permanently: {error}", event.event_type()),
        }
    }
}

/// The event multisets: each event once or twice (a duplicate delivery).
fn with_duplicates(placed: &OrderPlacedEvent, settlement: &OrderEvent) -> Vec<Vec<OrderEvent>> {
    let placed = OrderEvent::OrderPlacedV1(placed.clone());
    let mut sets = Vec::new();
    for placed_copies in 1..=2 {
        for settlement_copies in 1..=2 {
            let mut set = vec![placed.clone(); placed_copies];
            set.extend(std::iter::repeat_n(settlement.clone(), settlement_copies));
            sets.push(set);
        }
    }
    sets
}

#[tokio::test]
async fn a_confirmed_order_commits_its_stock_in_any_order_of_arrival() {
    for lines in [2, SINGLE_WRITE_RESERVE_LINES, SINGLE_WRITE_RESERVE_LINES + 1, 100] {
        let template = World::new(lines);
        let placed = template.order(None);
        for set in with_duplicates(&placed, &confirmed(&placed)) {
            for ordering in orderings(&set) {
                let world = World::new(lines);
                deliver(&world.handler(), ordering.clone()).await;
                let order_id = placed.data().order_id();
                assert_eq!(world.status(order_id), Some(ReservationStatus::Committed), "{lines} lines");
                world.assert_stock(2);
                assert_eq!(world.outbox_types(), ["StockReserved"], "one outcome, announced once");
                assert_eq!(world.publisher.published().len(), 1);
            }
        }
    }
}

#[tokio::test]
async fn a_cancelled_order_leaves_the_stock_as_it_was_in_any_order_of_arrival() {
    for lines in [2, 100] {
        let template = World::new(lines);
        let placed = template.order(None);
        let cancel = cancelled(&placed, CancellationReason::PaymentDeclined);
        for set in with_duplicates(&placed, &cancel) {
            for ordering in orderings(&set) {
                let world = World::new(lines);
                let cancel_first = matches!(ordering[0], OrderEvent::OrderCancelledV1(_));
                deliver(&world.handler(), ordering).await;
                let order_id = placed.data().order_id();
                world.assert_stock(0);
                if cancel_first {
                    assert_eq!(world.status(order_id), Some(ReservationStatus::Cancelled));
                    assert!(world.outbox_types().is_empty(), "a late OrderPlaced publishes nothing");
                    assert!(world.store.reservation_record(order_id).unwrap().items.is_empty());
                } else {
                    assert_eq!(world.status(order_id), Some(ReservationStatus::Released));
                    assert_eq!(world.outbox_types(), ["StockReserved"]);
                }
            }
        }
    }
}

#[tokio::test]
async fn a_rejected_order_stays_rejected_and_reserves_nothing_in_any_order_of_arrival() {
    // The short SKU is the last line: with 100 lines the first chunk is held, then rolled back.
    for lines in [2, 100] {
        let template = World::new(lines);
        let placed = template.order(Some(lines - 1));
        let cancel = cancelled(&placed, CancellationReason::OutOfStock);
        for set in with_duplicates(&placed, &cancel) {
            for ordering in orderings(&set) {
                let world = World::new(lines);
                let cancel_first = matches!(ordering[0], OrderEvent::OrderCancelledV1(_));
                deliver(&world.handler(), ordering).await;
                let record = world.store.reservation_record(placed.data().order_id()).unwrap();
                world.assert_stock(0);
                if cancel_first {
                    assert_eq!(record.status, ReservationStatus::Cancelled);
                    assert!(world.outbox_types().is_empty());
                } else {
                    assert_eq!(record.status, ReservationStatus::Rejected);
                    let rejection = record.rejection.unwrap();
                    assert_eq!(
                        (rejection.reason.as_str(), rejection.sku),
                        ("OUT_OF_STOCK", format!("SKU-{:04}", lines - 1))
                    );
                    assert_eq!(world.outbox_types(), ["StockRejected"]);
                }
            }
        }
    }
}

#[tokio::test]
async fn an_unknown_sku_is_rejected_as_unknown() {
    let world = World::new(1);
    let placed = order_placed(&[("SKU-0000", 1, 100), ("NOPE-0001", 1, 100)], "EUR");
    world.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    let rejection = world.store.reservation_record(placed.data().order_id()).unwrap().rejection.unwrap();
    assert_eq!((rejection.reason.as_str(), rejection.sku.as_str()), ("UNKNOWN_SKU", "NOPE-0001"));
    let published = world.publisher.published();
    assert_eq!(published.len(), 1);
    assert!(published[0].body.contains(r#""reason":"UNKNOWN_SKU""#), "{}", published[0].body);
    world.assert_stock(0);
}

/// The settlement event for an order.
type Settle = fn(&OrderPlacedEvent) -> OrderEvent;

/// How many store calls a clean run of these events makes, to crash at each of them.
async fn calls_of(lines: usize, short: Option<usize>, settle: Settle) -> usize {
    let world = World::new(lines);
    let placed = world.order(short);
    let store =
        Arc::new(Flaky { inner: world.store.clone(), calls: AtomicUsize::new(0), fail_at: None, after_write: false });
    let handler = world.handler_on(store.clone());
    deliver(&handler, vec![OrderEvent::OrderPlacedV1(placed.clone()), settle(&placed)]).await;
    store.calls.load(Ordering::SeqCst)
}

/// Runs OrderPlaced then the settlement, the store failing its `crash`-th call of the whole run
/// (before or after its write); a failed delivery is redelivered until it succeeds.
async fn run_with_crash(
    world: &World,
    placed: &OrderPlacedEvent,
    settlement: &OrderEvent,
    crash: usize,
    after_write: bool,
) -> bool {
    let flaky = world.flaky(crash, after_write);
    let mut crashed = false;
    for event in [OrderEvent::OrderPlacedV1(placed.clone()), settlement.clone()] {
        if let Err(error) = flaky.handle(&event).await {
            assert!(!error.is_permanent(), "{error}");
            crashed = true;
            world.handler().handle(&event).await.unwrap();
        }
    }
    crashed
}

#[tokio::test]
async fn a_crash_between_any_two_steps_of_a_large_order_is_recovered_by_the_redelivery() {
    let commit = |placed: &OrderPlacedEvent| confirmed(placed);
    let release = |placed: &OrderPlacedEvent| cancelled(placed, CancellationReason::Timeout);
    let cases: [(Option<usize>, Settle, ReservationStatus, i64, &str); 3] = [
        (None, commit, ReservationStatus::Committed, 2, "StockReserved"),
        (None, release, ReservationStatus::Released, 0, "StockReserved"),
        (Some(99), release, ReservationStatus::Rejected, 0, "StockRejected"),
    ];
    for (short, settle, end, committed, outcome) in cases {
        let calls = calls_of(100, short, settle).await;
        assert!(calls >= 5, "a 100-line order takes several steps ({calls})");
        for crash in 0..calls {
            for after_write in [false, true] {
                let world = World::new(100);
                let placed = world.order(short);
                assert!(run_with_crash(&world, &placed, &settle(&placed), crash, after_write).await);
                let context = format!("{end} crash at {crash} after_write={after_write}");
                assert_eq!(world.status(placed.data().order_id()), Some(end), "{context}");
                world.assert_stock(committed);
                assert_eq!(world.outbox_types(), [outcome], "{context}: one outcome, never two");
            }
        }
    }
}

#[tokio::test]
async fn a_cancellation_during_a_large_reservation_waits_for_it() {
    let world = World::new(100);
    let placed = world.order(None);
    // The first chunk is held, then the Lambda dies.
    let error = world.flaky(2, false).handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap_err();
    assert!(!error.is_permanent());
    let order_id = placed.data().order_id();
    let record = world.store.reservation_record(order_id).unwrap();
    assert_eq!((record.status, record.held_chunks), (ReservationStatus::Reserving, 1));
    assert_eq!(world.store.stock("SKU-0000"), Some((INITIAL - 2, 2)));

    let cancel = cancelled(&placed, CancellationReason::Timeout);
    let error = world.handler().handle(&cancel).await.unwrap_err();
    assert!(!error.is_permanent(), "retried once the reservation is written: {error}");
    let error = world.handler().handle(&confirmed(&placed)).await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");

    world.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    world.handler().handle(&cancel).await.unwrap();
    assert_eq!(world.status(order_id), Some(ReservationStatus::Released));
    world.assert_stock(0);
}

#[tokio::test]
async fn large_orders_hold_in_chunks_that_fit_a_transaction() {
    let world = World::new(100);
    let placed = world.order(None);
    world.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    // RESERVING, chunk of CHUNK_LINES, chunk of the rest, RESERVED.
    assert_eq!(world.store.applied_steps(), 2 + 100usize.div_ceil(CHUNK_LINES));
    let record = world.store.reservation_record(placed.data().order_id()).unwrap();
    assert_eq!((record.status, record.held_chunks, record.items.len()), (ReservationStatus::Reserved, 0, 100));
    assert_eq!(world.store.stock("SKU-0099"), Some((INITIAL - 2, 2)));
}

#[tokio::test]
async fn contradicting_settlements_are_permanent_and_change_nothing() {
    // Cancelled first, then confirmed: the lifecycle never does this, so someone must look.
    let world = World::new(2);
    let placed = world.order(None);
    let handler = world.handler();
    handler.handle(&cancelled(&placed, CancellationReason::Timeout)).await.unwrap();
    handler.handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    assert!(handler.handle(&confirmed(&placed)).await.unwrap_err().is_permanent());
    assert_eq!(world.status(placed.data().order_id()), Some(ReservationStatus::Cancelled));

    let world = World::new(2);
    let placed = world.order(None);
    let handler = world.handler();
    deliver(&handler, vec![OrderEvent::OrderPlacedV1(placed.clone()), confirmed(&placed)]).await;
    assert!(handler.handle(&cancelled(&placed, CancellationReason::Timeout)).await.unwrap_err().is_permanent());
    assert_eq!(world.status(placed.data().order_id()), Some(ReservationStatus::Committed));
    world.assert_stock(2);

    let world = World::new(2);
    let placed = world.order(Some(0));
    let handler = world.handler();
    handler.handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    assert!(handler.handle(&confirmed(&placed)).await.unwrap_err().is_permanent());
    world.assert_stock(0);
}

#[tokio::test]
async fn the_outcome_event_carries_the_order_and_the_incoming_correlation() {
    let world = World::new(2);
    let placed = world.order(None);
    world.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    let entries = world.store.outbox().entries();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0].entry;
    assert!(entries[0].published_at.is_some(), "announced and marked published");
    let published = world.publisher.published();
    assert_eq!(published[0].event_id, entry.event_id, "the published event is the outbox entry");
    assert_ne!(entry.event_id, placed.id(), "a new event id");
    let (event, _) = orderflow_events::decode_message(&published[0].body).unwrap();
    let OrderEvent::StockReservedV1(reserved) = event else { panic!("not StockReserved: {event:?}") };
    assert_eq!(reserved.source(), INVENTORY_SOURCE);
    assert_eq!(reserved.subject(), placed.data().order_id().to_string());
    assert_eq!(reserved.correlation_id(), Some("req-test"));
    assert_eq!(reserved.time(), world.clock.now());
    let lines: Vec<(&str, u32)> =
        reserved.data().items().iter().map(|line| (line.sku.as_str(), line.quantity)).collect();
    assert_eq!(lines, [("SKU-0000", 2), ("SKU-0001", 2)]);
    assert!(published[0].attributes.contains(&("event_type".to_owned(), "StockReserved".to_owned())));
}

#[tokio::test]
async fn a_failed_publish_leaves_the_entry_for_the_relay_and_a_redelivery_publishes_nothing_new() {
    let world = World::new(2);
    let placed = world.order(None);
    world.publisher.set_failing(true);
    world.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    world.publisher.set_failing(false);
    world.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
    let entries = world.store.outbox().entries();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].published_at.is_none(), "still pending: the relay publishes it, with its id");
    assert!(world.publisher.published().is_empty());
    world.assert_stock_reserved(2);
}

impl World {
    fn assert_stock_reserved(&self, per_sku: i64) {
        for sku in &self.skus {
            assert_eq!(self.store.stock(sku), Some((INITIAL - per_sku, per_sku)), "{sku}");
        }
    }
}

#[test]
fn every_error_has_its_kind() {
    let failed = RequestFailed::new("TransactWriteItems", std::io::Error::other("connection reset"));
    let invalid = orderflow_events::StockReservedV1::new(Uuid::now_v7(), Vec::new()).unwrap_err();
    let cases: Vec<(InventoryError, bool)> = vec![
        (failed.into(), false),
        (InventoryError::Contention("transaction conflict".into()), false),
        (InventoryError::NotYet { status: Some(ReservationStatus::Reserving), why: "in progress" }, false),
        (InventoryError::NotYet { status: None, why: "no reservation recorded yet" }, false),
        (InventoryError::Contradiction { event: "OrderConfirmed", status: Some(ReservationStatus::Rejected) }, true),
        (InventoryError::Contradiction { event: "OrderConfirmed", status: None }, true),
        (MalformedItem::new("status", "is missing").into(), true),
        (InventoryError::Outcome(invalid), true),
    ];
    for (error, permanent) in cases {
        let text = error.to_string();
        let classified = classify(error);
        assert_eq!(classified.is_permanent(), permanent, "{text}");
        assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
    }
}

#[test]
fn store_errors_keep_their_cause() {
    let error: InventoryError = RequestFailed::new("GetItem", std::io::Error::other("throttled")).into();
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert!(source.is_some_and(|text| text.contains("GetItem")), "{error}");
}

#[test]
fn statuses_round_trip_through_their_text() {
    let mut texts = HashMap::new();
    for status in ReservationStatus::ALL {
        assert_eq!(status.to_string().parse(), Ok(status));
        texts.insert(status.as_str(), status);
    }
    assert_eq!(texts.len(), ReservationStatus::ALL.len());
    assert!("reserved".parse::<ReservationStatus>().is_err());
}
