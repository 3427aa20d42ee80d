//! Inventory's values, its state machine and its handler.
//!
//! One reservation record per order drives everything. [`decide`] is the pure state machine:
//! given the event being handled and the record as it is now, it names the one next atomic write
//! ([`Step`]: a stock effect on some lines, the record's new state, maybe an outbox entry), or
//! says that nothing is left to do. The handler applies steps until it is told to stop; after a
//! lost race or a crash, it (or the redelivery) reads the record again and carries on from
//! there, so every step is idempotent through the record's condition.
//!
//! Why steps and not one transaction: DynamoDB allows 100 actions per transaction and the API
//! accepts orders of 100 lines. A reservation that fits (at most [`SINGLE_WRITE_RESERVE_LINES`]
//! lines: one update per SKU, the record, the outbox entry) is one transaction, as before. A
//! larger one goes through RESERVING: the record first, then chunks of at most [`CHUNK_LINES`]
//! SKUs, each together with the record's `heldChunks` counter, then RESERVED with its outbox
//! entry. Rejection part-way rolls the held chunks back (REJECTING) before REJECTED and its
//! outbox entry are written: nothing is announced before the stock is as the outcome says.
//! Commit and release of more than [`CHUNK_LINES`] lines go through COMMITTING / RELEASING the
//! same way. The intermediate statuses only exist while an event is being handled (or until its
//! redelivery after a crash finishes the work).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{
    CloudEvent, EventData, INVENTORY_SOURCE, OrderCancelledEvent, OrderConfirmedEvent, OrderEvent, OrderPlacedEvent,
    StockLine, StockRejectedV1, StockRejectionReason, StockReservedV1,
};
use orderflow_kit::dynamodb::MalformedItem;
use orderflow_kit::{Clock, SystemClock};
use orderflow_outbox::{Announcer, OutboxEntry};
use serde::Serialize;
use tracing::{info, warn};
use uuid::Uuid;

use crate::ports::{InventoryError, InventoryStore};

/// DynamoDB's limit of actions in one `TransactWriteItems`.
pub const MAX_ACTIONS_PER_TRANSACTION: usize = 100;
/// An order of at most this many lines is reserved in one transaction: one update per SKU, the
/// reservation record and the outbox entry.
pub const SINGLE_WRITE_RESERVE_LINES: usize = MAX_ACTIONS_PER_TRANSACTION - 2;
/// The SKUs of one chunk of a multi-step reservation, commit or release: one update per SKU
/// plus the reservation record. Commit and release of at most this many lines are one step.
pub const CHUNK_LINES: usize = MAX_ACTIONS_PER_TRANSACTION - 1;

/// `status` of a reservation record. The contract's statuses are RESERVED, REJECTED, COMMITTED,
/// RELEASED and CANCELLED; RESERVING, REJECTING, COMMITTING and RELEASING are the in-progress
/// states of orders too large for one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    Reserving,
    Rejecting,
    Reserved,
    Rejected,
    Committing,
    Committed,
    Releasing,
    Released,
    /// The cancellation arrived before the order: a late OrderPlaced reserves nothing.
    Cancelled,
}

impl ReservationStatus {
    pub const ALL: [ReservationStatus; 9] = [
        ReservationStatus::Reserving,
        ReservationStatus::Rejecting,
        ReservationStatus::Reserved,
        ReservationStatus::Rejected,
        ReservationStatus::Committing,
        ReservationStatus::Committed,
        ReservationStatus::Releasing,
        ReservationStatus::Released,
        ReservationStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Reserving => "RESERVING",
            ReservationStatus::Rejecting => "REJECTING",
            ReservationStatus::Reserved => "RESERVED",
            ReservationStatus::Rejected => "REJECTED",
            ReservationStatus::Committing => "COMMITTING",
            ReservationStatus::Committed => "COMMITTED",
            ReservationStatus::Releasing => "RELEASING",
            ReservationStatus::Released => "RELEASED",
            ReservationStatus::Cancelled => "CANCELLED",
        }
    }

    /// A multi-step transition is under way: `heldChunks` counts the chunks whose units are held.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            ReservationStatus::Reserving
                | ReservationStatus::Rejecting
                | ReservationStatus::Committing
                | ReservationStatus::Releasing
        )
    }

    /// REJECTING and REJECTED carry the reason and the SKU.
    pub fn has_rejection(self) -> bool {
        matches!(self, ReservationStatus::Rejecting | ReservationStatus::Rejected)
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `status` this crate does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reservation status {0:?}")]
pub struct UnknownReservationStatus(pub String);

impl FromStr for ReservationStatus {
    type Err = UnknownReservationStatus;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        ReservationStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| UnknownReservationStatus(value.to_owned()))
    }
}

/// Why an order cannot be reserved, as the failed attempt saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    UnknownSku { sku: String },
    OutOfStock { sku: String, requested: u32, available: i64 },
}

impl Unavailable {
    pub fn reason(&self) -> StockRejectionReason {
        match self {
            Unavailable::UnknownSku { .. } => StockRejectionReason::UnknownSku,
            Unavailable::OutOfStock { .. } => StockRejectionReason::OutOfStock,
        }
    }

    pub fn sku(&self) -> &str {
        match self {
            Unavailable::UnknownSku { sku } | Unavailable::OutOfStock { sku, .. } => sku,
        }
    }

    pub fn rejection(&self) -> Rejection {
        Rejection { reason: self.reason(), sku: self.sku().to_owned() }
    }
}

/// What a REJECTED (or REJECTING) record keeps: `reason` and `sku`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: StockRejectionReason,
    pub sku: String,
}

/// A reservation record (ReservationsTable, key `orderId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub order_id: Uuid,
    pub status: ReservationStatus,
    /// `(sku, quantity)` in the order's line order (the chunks are cut from it); empty on a
    /// CANCELLED record written before the order was seen.
    pub items: Vec<(String, u32)>,
    /// On REJECTING and REJECTED.
    pub rejection: Option<Rejection>,
    /// In-progress statuses only: how many chunks (from the first) hold their units. 0 otherwise.
    pub held_chunks: usize,
    /// The event that created the record.
    pub event_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Reservation {
    fn new(
        order_id: Uuid,
        status: ReservationStatus,
        items: Vec<(String, u32)>,
        event_id: Uuid,
        now: DateTime<Utc>,
    ) -> Self {
        Reservation {
            order_id,
            status,
            items,
            rejection: None,
            held_chunks: 0,
            event_id,
            created_at: now,
            updated_at: now,
        }
    }

    /// This record moved to `status` with `held_chunks` at `now`.
    fn moved(&self, status: ReservationStatus, held_chunks: usize, now: DateTime<Utc>) -> Self {
        Reservation {
            status,
            held_chunks: if status.in_progress() { held_chunks } else { 0 },
            updated_at: now,
            ..self.clone()
        }
    }

    fn rejected(mut self, rejection: Rejection) -> Self {
        self.rejection = Some(rejection);
        self
    }

    /// How many chunks the items are cut into.
    pub fn chunk_count(&self) -> usize {
        chunk_count(self.items.len())
    }

    /// The lines of chunk `index`.
    pub fn chunk(&self, index: usize) -> Vec<(String, u32)> {
        self.items.iter().skip(index * CHUNK_LINES).take(CHUNK_LINES).cloned().collect()
    }
}

pub fn chunk_count(lines: usize) -> usize {
    lines.div_ceil(CHUNK_LINES)
}

/// What a step requires of the record before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Absent,
    /// This status, and for an in-progress status this `heldChunks`.
    At(ReservationStatus, usize),
}

impl Expect {
    pub fn matches(self, record: Option<&Reservation>) -> bool {
        match (self, record) {
            (Expect::Absent, None) => true,
            (Expect::At(status, held), Some(record)) => {
                record.status == status && (!status.in_progress() || record.held_chunks == held)
            }
            _ => false,
        }
    }
}

/// What a step does to the stock of its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockEffect {
    /// `available -= q`, `reserved += q`, on condition that the SKU exists and `available >= q`.
    Hold,
    /// `reserved -= q`: the units leave the warehouse.
    Commit,
    /// `available += q`, `reserved -= q`.
    Release,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChange {
    pub effect: StockEffect,
    pub lines: Vec<(String, u32)>,
}

/// One atomic write: all of it or none of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub expect: Expect,
    pub stock: Option<StockChange>,
    /// The whole record after the step.
    pub record: Reservation,
    /// The outcome event announcing the step, written in the same transaction.
    pub outbox: Option<OutboxEntry>,
}

/// How a store applied a [`Step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// The record is not what the step expected (another delivery moved it): nothing written;
    /// here is the record as it is now.
    Conflict(Option<Reservation>),
    /// The record was as expected but this line cannot be held: nothing written.
    Unavailable(Unavailable),
}

/// The event being handled.
#[derive(Debug, Clone, Copy)]
pub enum Trigger<'a> {
    Placed(&'a OrderPlacedEvent),
    Confirmed(&'a OrderConfirmedEvent),
    Cancelled(&'a OrderCancelledEvent),
}

impl Trigger<'_> {
    pub fn order_id(&self) -> Uuid {
        match self {
            Trigger::Placed(event) => event.data().order_id(),
            Trigger::Confirmed(event) => event.data().order_id(),
            Trigger::Cancelled(event) => event.data().order_id(),
        }
    }
}

/// What [`decide`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Write(Box<Step>),
    /// Nothing (more) to do for this event: the record is in this status.
    Settled(ReservationStatus),
    /// This event cannot be applied yet (the reservation is not recorded, or is being written by
    /// the OrderPlaced handler): a retry later will find it done.
    NotYet(Option<ReservationStatus>, &'static str),
    /// The event contradicts the record (a confirmation of rejected stock...): no retry helps.
    Contradiction(Option<ReservationStatus>),
}

/// The values a step may need that are not in the record: when, and a fresh event id.
#[derive(Debug, Clone, Copy)]
pub struct StepContext {
    pub now: DateTime<Utc>,
    pub new_event_id: Uuid,
}

/// The state machine: the next step for `trigger` given the record now, or why there is none.
/// `short` is what the last Hold step against exactly this record found missing.
pub fn decide(
    trigger: Trigger<'_>,
    record: Option<&Reservation>,
    short: Option<&Unavailable>,
    context: StepContext,
) -> Result<Decision, InventoryError> {
    use ReservationStatus as S;
    let now = context.now;
    let write = |expect, stock, record, outbox| Ok(Decision::Write(Box::new(Step { expect, stock, record, outbox })));
    match trigger {
        Trigger::Placed(placed) => {
            let Some(record) = record else {
                let items: Vec<(String, u32)> =
                    placed.data().items().iter().map(|item| (item.sku.clone(), item.quantity)).collect();
                let order_id = placed.data().order_id();
                if items.len() > SINGLE_WRITE_RESERVE_LINES {
                    let reserving = Reservation::new(order_id, S::Reserving, items, placed.id(), now);
                    return write(Expect::Absent, None, reserving, None);
                }
                let fresh = Reservation::new(order_id, S::Reserved, items.clone(), placed.id(), now);
                return match short {
                    None => {
                        let outbox = stock_reserved(placed, &fresh, context)?;
                        write(
                            Expect::Absent,
                            Some(StockChange { effect: StockEffect::Hold, lines: items }),
                            fresh,
                            Some(outbox),
                        )
                    }
                    Some(unavailable) => {
                        let rejected = fresh.moved(S::Rejected, 0, now).rejected(unavailable.rejection());
                        let outbox = stock_rejected(placed, &rejected, context)?;
                        write(Expect::Absent, None, rejected, Some(outbox))
                    }
                };
            };
            let held = record.held_chunks;
            let expect = Expect::At(record.status, held);
            match record.status {
                S::Reserving => match short {
                    Some(unavailable) if held == 0 => {
                        let rejected = record.moved(S::Rejected, 0, now).rejected(unavailable.rejection());
                        let outbox = stock_rejected(placed, &rejected, context)?;
                        write(expect, None, rejected, Some(outbox))
                    }
                    Some(unavailable) => write(
                        expect,
                        None,
                        record.moved(S::Rejecting, held, now).rejected(unavailable.rejection()),
                        None,
                    ),
                    None if held < record.chunk_count() => {
                        let hold = StockChange { effect: StockEffect::Hold, lines: record.chunk(held) };
                        write(expect, Some(hold), record.moved(S::Reserving, held + 1, now), None)
                    }
                    None => {
                        let reserved = record.moved(S::Reserved, 0, now);
                        let outbox = stock_reserved(placed, &reserved, context)?;
                        write(expect, None, reserved, Some(outbox))
                    }
                },
                S::Rejecting if held > 0 => {
                    let release = StockChange { effect: StockEffect::Release, lines: record.chunk(held - 1) };
                    write(expect, Some(release), record.moved(S::Rejecting, held - 1, now), None)
                }
                S::Rejecting => {
                    let rejected = record.moved(S::Rejected, 0, now);
                    let outbox = stock_rejected(placed, &rejected, context)?;
                    write(expect, None, rejected, Some(outbox))
                }
                // Handled before (a redelivery), or settled since, or cancelled first: the
                // outcome announced then (if any) stands; nothing new is published.
                status @ (S::Reserved
                | S::Rejected
                | S::Committing
                | S::Committed
                | S::Releasing
                | S::Released
                | S::Cancelled) => Ok(Decision::Settled(status)),
            }
        }
        Trigger::Confirmed(_) => {
            let Some(record) = record else {
                // The confirmation needs our StockReserved, so our record exists somewhere
                // ahead of us (e.g. an eventually consistent read elsewhere): wait for it.
                return Ok(Decision::NotYet(None, "no reservation recorded yet"));
            };
            match record.status {
                S::Reserving | S::Rejecting => {
                    Ok(Decision::NotYet(Some(record.status), "the reservation is being written"))
                }
                S::Reserved | S::Committing => Ok(drain(record, StockEffect::Commit, S::Committing, S::Committed, now)),
                S::Committed => Ok(Decision::Settled(S::Committed)),
                status @ (S::Rejected | S::Releasing | S::Released | S::Cancelled) => {
                    Ok(Decision::Contradiction(Some(status)))
                }
            }
        }
        Trigger::Cancelled(cancelled) => {
            let Some(record) = record else {
                // Cancel seen first: the record makes the late OrderPlaced a no-op.
                let order_id = cancelled.data().order_id();
                let record = Reservation::new(order_id, S::Cancelled, Vec::new(), cancelled.id(), now);
                return write(Expect::Absent, None, record, None);
            };
            match record.status {
                // The OrderPlaced handler is still at work (or will be, on its redelivery);
                // releasing half a reservation under it would race it.
                S::Reserving | S::Rejecting => {
                    Ok(Decision::NotYet(Some(record.status), "the reservation is being written"))
                }
                S::Reserved | S::Releasing => Ok(drain(record, StockEffect::Release, S::Releasing, S::Released, now)),
                // Nothing held: a rejected order reserved nothing, and duplicates change nothing.
                status @ (S::Released | S::Cancelled | S::Rejected) => Ok(Decision::Settled(status)),
                status @ (S::Committing | S::Committed) => Ok(Decision::Contradiction(Some(status))),
            }
        }
    }
}

/// The next step of handing a held reservation on (`effect`: commit on confirmation, release on
/// cancellation), from RESERVED or part-way (`draining`) to `done`. A reservation that fits one
/// transaction goes in one step; a larger one is marked `draining` with every chunk still held,
/// then gives one chunk per step, then is marked `done`. Each step is one conditional write, so a
/// crash anywhere resumes from the record.
fn drain(
    record: &Reservation,
    effect: StockEffect,
    draining: ReservationStatus,
    done: ReservationStatus,
    now: DateTime<Utc>,
) -> Decision {
    let held = record.held_chunks;
    let expect = Expect::At(record.status, held);
    let write = |stock, next| Decision::Write(Box::new(Step { expect, stock, record: next, outbox: None }));
    if record.status != draining {
        // RESERVED.
        if record.chunk_count() <= 1 {
            let change = StockChange { effect, lines: record.items.clone() };
            return write(Some(change), record.moved(done, 0, now));
        }
        return write(None, record.moved(draining, record.chunk_count(), now));
    }
    if held > 0 {
        let change = StockChange { effect, lines: record.chunk(held - 1) };
        return write(Some(change), record.moved(draining, held - 1, now));
    }
    write(None, record.moved(done, 0, now))
}

/// The outcome's envelope: a new id, inventory's source, the incoming correlation and trace.
fn envelope<D: EventData>(placed: &OrderPlacedEvent, context: StepContext, data: D) -> CloudEvent<D> {
    let mut event = CloudEvent::new(context.new_event_id, INVENTORY_SOURCE, context.now, data);
    if let Some(correlation_id) = placed.correlation_id() {
        event = event.with_correlation_id(correlation_id);
    }
    if let Some(traceparent) = placed.traceparent() {
        event = event.with_traceparent(traceparent);
    }
    event
}

fn entry<D: EventData + Serialize>(placed: &OrderPlacedEvent, context: StepContext, data: D) -> OutboxEntry {
    OutboxEntry::for_event(&envelope(placed, context, data), context.now)
}

fn stock_reserved(
    placed: &OrderPlacedEvent,
    record: &Reservation,
    context: StepContext,
) -> Result<OutboxEntry, InventoryError> {
    let lines =
        record.items.iter().map(|(sku, quantity)| StockLine { sku: sku.clone(), quantity: *quantity }).collect();
    let data = StockReservedV1::new(record.order_id, lines).map_err(InventoryError::Outcome)?;
    Ok(entry(placed, context, data))
}

fn stock_rejected(
    placed: &OrderPlacedEvent,
    record: &Reservation,
    context: StepContext,
) -> Result<OutboxEntry, InventoryError> {
    let Some(rejection) = &record.rejection else {
        return Err(MalformedItem::new("reason", "is missing on a rejection").into());
    };
    let data = StockRejectedV1::new(record.order_id, rejection.reason, rejection.sku.clone())
        .map_err(InventoryError::Outcome)?;
    Ok(entry(placed, context, data))
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: InventoryError) -> HandlerError {
    match error {
        // The table may answer next time; a concurrent writer will have finished by then; the
        // reservation an early settlement waits for will have been written.
        InventoryError::Store(_) | InventoryError::Contention(_) | InventoryError::NotYet { .. } => {
            HandlerError::transient(error)
        }
        // The same event or the same stored record will be refused on every delivery: the
        // message belongs in the DLQ, where someone looks at it.
        InventoryError::Malformed(_) | InventoryError::Outcome(_) | InventoryError::Contradiction { .. } => {
            HandlerError::permanent(error)
        }
    }
}

/// Steps one event may take beyond its chunks before the handler suspects a livelock: each lost
/// race costs one re-read, and a busy order sees few of them.
const SPARE_STEPS: usize = 16;

/// The consumer: applies OrderPlaced, OrderConfirmed and OrderCancelled to the order's
/// reservation, announcing outcomes through the outbox.
pub struct InventoryHandler {
    store: Arc<dyn InventoryStore>,
    announcer: Announcer,
    clock: Arc<dyn Clock>,
}

impl InventoryHandler {
    /// A handler on the wall clock.
    pub fn new(store: Arc<dyn InventoryStore>, announcer: Announcer) -> Self {
        InventoryHandler { store, announcer, clock: Arc::new(SystemClock) }
    }

    /// The time source of the records' timestamps and the outcome events.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Applies steps until the state machine has nothing left for `trigger`.
    pub async fn apply(&self, trigger: Trigger<'_>) -> Result<ReservationStatus, InventoryError> {
        let mut record = self.store.reservation(trigger.order_id()).await?;
        let mut short: Option<Unavailable> = None;
        let lines = record.as_ref().map_or(0, |record| record.items.len());
        let budget = 4 * chunk_count(lines.max(trigger_lines(trigger))) + SPARE_STEPS;
        for _ in 0..budget {
            let context = StepContext { now: self.clock.now(), new_event_id: Uuid::now_v7() };
            let step = match decide(trigger, record.as_ref(), short.as_ref(), context)? {
                Decision::Write(step) => step,
                Decision::Settled(status) => return Ok(status),
                Decision::NotYet(status, why) => return Err(InventoryError::NotYet { status, why }),
                Decision::Contradiction(status) => {
                    return Err(InventoryError::Contradiction { event: trigger_name(trigger), status });
                }
            };
            match self.store.apply(&step).await? {
                Applied::Done => {
                    info!(
                        status = step.record.status.as_str(),
                        held_chunks = step.record.held_chunks,
                        "reservation moved"
                    );
                    if let Some(entry) = &step.outbox {
                        if let Some(rejection) = &step.record.rejection {
                            warn!(
                                reason = rejection.reason.as_str(),
                                sku = rejection.sku,
                                ?short,
                                "reservation rejected"
                            );
                        }
                        self.announcer.announce(entry).await;
                    }
                    record = Some(step.record);
                    short = None;
                }
                Applied::Conflict(current) => {
                    info!(
                        status = current.as_ref().map(|r| r.status.as_str()),
                        "reservation moved concurrently; re-deciding"
                    );
                    record = current;
                    short = None;
                }
                Applied::Unavailable(unavailable) => short = Some(unavailable),
            }
        }
        Err(InventoryError::Contention(format!("no settled state after {budget} steps")))
    }
}

fn trigger_lines(trigger: Trigger<'_>) -> usize {
    match trigger {
        Trigger::Placed(placed) => placed.data().items().len(),
        Trigger::Confirmed(_) | Trigger::Cancelled(_) => 0,
    }
}

fn trigger_name(trigger: Trigger<'_>) -> &'static str {
    match trigger {
        Trigger::Placed(_) => "OrderPlaced",
        Trigger::Confirmed(_) => "OrderConfirmed",
        Trigger::Cancelled(_) => "OrderCancelled",
    }
}

#[async_trait]
impl EventHandler for InventoryHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        let trigger = match event {
            OrderEvent::OrderPlacedV1(placed) => Trigger::Placed(placed),
            OrderEvent::OrderConfirmedV1(confirmed) => Trigger::Confirmed(confirmed),
            OrderEvent::OrderCancelledV1(cancelled) => Trigger::Cancelled(cancelled),
            // Other events (the outcomes, and types added to the contract later) are not this
            // consumer's business.
            other => {
                info!(event_type = other.event_type(), "event type ignored by inventory");
                return Ok(());
            }
        };
        let status = self.apply(trigger).await.map_err(classify)?;
        info!(event = trigger_name(trigger), status = status.as_str(), "reservation settled for this event");
        Ok(())
    }
}
