//! Billing's values, its state machine and its handler: authorize once, capture or void once.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderflow_consumer::{EventHandler, HandlerError};
use orderflow_events::{
    BILLING_SOURCE, CloudEvent, DeclineReason, EventData, InvalidEvent, Money, OrderCancelledEvent,
    OrderConfirmedEvent, OrderEvent, OrderPlacedEvent, PaymentAuthorizedV1, PaymentDeclinedV1,
};
use orderflow_kit::{Clock, SystemClock};
use orderflow_outbox::{Announcer, OutboxEntry};
use tracing::{info, warn};
use uuid::Uuid;

use crate::ports::{GatewayError, PaymentGateway, PaymentsError, PaymentsStore};

/// `status` of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Authorized,
    Captured,
    Declined,
    Voided,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 4] =
        [PaymentStatus::Authorized, PaymentStatus::Captured, PaymentStatus::Declined, PaymentStatus::Voided];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Authorized => "AUTHORIZED",
            PaymentStatus::Captured => "CAPTURED",
            PaymentStatus::Declined => "DECLINED",
            PaymentStatus::Voided => "VOIDED",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `status` that is none of AUTHORIZED, CAPTURED, DECLINED, VOIDED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment status {0:?}")]
pub struct UnknownPaymentStatus(pub String);

impl FromStr for PaymentStatus {
    type Err = UnknownPaymentStatus;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        PaymentStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| UnknownPaymentStatus(value.to_owned()))
    }
}

/// Where a payment stands, with what each status needs, so that an AUTHORIZED payment without
/// an authorization (say) cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    Authorized {
        authorization_id: String,
    },
    Captured {
        authorization_id: String,
    },
    Declined {
        reason: DeclineReason,
    },
    /// `authorization_id` is `None` when the cancellation came before the order: nothing was
    /// ever held, and the record only keeps the late OrderPlaced from authorizing.
    Voided {
        authorization_id: Option<String>,
    },
}

impl PaymentState {
    pub fn status(&self) -> PaymentStatus {
        match self {
            PaymentState::Authorized { .. } => PaymentStatus::Authorized,
            PaymentState::Captured { .. } => PaymentStatus::Captured,
            PaymentState::Declined { .. } => PaymentStatus::Declined,
            PaymentState::Voided { .. } => PaymentStatus::Voided,
        }
    }

    /// The gateway's authorization, if one was ever made.
    pub fn authorization_id(&self) -> Option<&str> {
        match self {
            PaymentState::Authorized { authorization_id } | PaymentState::Captured { authorization_id } => {
                Some(authorization_id)
            }
            PaymentState::Voided { authorization_id } => authorization_id.as_deref(),
            PaymentState::Declined { .. } => None,
        }
    }
}

/// What the gateway answered to an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The amount is held; capture or void it with this id.
    Authorized { authorization_id: String },
    /// A business outcome, not an error: it is recorded and announced.
    Declined { reason: DeclineReason },
}

/// One `payments` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub order_id: Uuid,
    pub state: PaymentState,
    pub amount: Money,
    /// The event that created the record: the OrderPlaced, or the OrderCancelled seen first.
    pub event_id: Uuid,
    /// The event announcing the record (PaymentAuthorized or PaymentDeclined), written with it.
    /// `None` for the VOIDED record of a cancellation seen first, which announces nothing.
    pub outcome_event_id: Option<Uuid>,
    /// When billing created the record, from the handler's clock (`createdAt`).
    pub created_at: DateTime<Utc>,
    /// When it last changed status (`updatedAt`).
    pub updated_at: DateTime<Utc>,
}

impl Payment {
    pub fn status(&self) -> PaymentStatus {
        self.state.status()
    }

    /// The payment after `settlement` at `at`; `None` unless it is AUTHORIZED, the only status
    /// a settlement leaves.
    pub fn settled(&self, settlement: Settlement, at: DateTime<Utc>) -> Option<Payment> {
        let PaymentState::Authorized { authorization_id } = &self.state else {
            return None;
        };
        let authorization_id = authorization_id.clone();
        let state = match settlement {
            Settlement::Capture => PaymentState::Captured { authorization_id },
            Settlement::Void => PaymentState::Voided { authorization_id: Some(authorization_id) },
        };
        Some(Payment { state, updated_at: at, ..self.clone() })
    }
}

/// What the settlement of an order does to its AUTHORIZED payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// OrderConfirmed: AUTHORIZED -> CAPTURED.
    Capture,
    /// OrderCancelled: AUTHORIZED -> VOIDED.
    Void,
}

impl Settlement {
    /// The status the payment ends in.
    pub fn status(self) -> PaymentStatus {
        match self {
            Settlement::Capture => PaymentStatus::Captured,
            Settlement::Void => PaymentStatus::Voided,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The order already had a payment record: it stands, this one was not written (and
    /// neither was its outbox entry).
    AlreadyRecorded(Payment),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleOutcome {
    /// The payment, now CAPTURED or VOIDED.
    Settled(Payment),
    /// The payment was no longer AUTHORIZED (another delivery settled it): left as it is.
    NotAuthorized(Payment),
}

// The state machine: what each event does to the order's payment, as pure functions of the
// record, so that every order of arrival can be checked without a table.

/// What OrderPlaced does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnPlaced {
    /// No record: authorize, record and announce the outcome.
    Authorize,
    /// Any record (a redelivery, or VOIDED by a cancellation seen first): nothing, and nothing
    /// is announced again (the entry written with the record is the announcement).
    Nothing,
}

pub fn on_placed(current: Option<&Payment>) -> OnPlaced {
    match current {
        None => OnPlaced::Authorize,
        Some(_) => OnPlaced::Nothing,
    }
}

/// What OrderConfirmed does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnConfirmed {
    Capture {
        authorization_id: String,
    },
    /// A duplicate.
    Nothing,
    /// No record yet. The order service confirms only after our PaymentAuthorized, which is
    /// written with the record, so this is a confirmation overtaking its own order: wait for
    /// it (retry) rather than drop a capture.
    NotYetAuthorized,
    /// DECLINED or VOIDED: a confirmed order whose payment was refused or released. The order
    /// service never does that; a person has to look.
    Conflict(PaymentStatus),
}

pub fn on_confirmed(current: Option<&Payment>) -> OnConfirmed {
    let Some(payment) = current else {
        return OnConfirmed::NotYetAuthorized;
    };
    match &payment.state {
        PaymentState::Authorized { authorization_id } => {
            OnConfirmed::Capture { authorization_id: authorization_id.clone() }
        }
        PaymentState::Captured { .. } => OnConfirmed::Nothing,
        PaymentState::Declined { .. } | PaymentState::Voided { .. } => OnConfirmed::Conflict(payment.status()),
    }
}

/// What OrderCancelled does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnCancelled {
    Void {
        authorization_id: String,
    },
    /// No record: the cancellation came first. A VOIDED record makes the late OrderPlaced a
    /// no-op, so a cancelled order is never authorized.
    RecordVoided,
    /// DECLINED (nothing held) or VOIDED (a duplicate).
    Nothing,
    /// CAPTURED: a cancelled order that was charged. The order service never does that; a
    /// person has to look (a refund is not billing's to decide).
    Conflict(PaymentStatus),
}

pub fn on_cancelled(current: Option<&Payment>) -> OnCancelled {
    let Some(payment) = current else {
        return OnCancelled::RecordVoided;
    };
    match &payment.state {
        PaymentState::Authorized { authorization_id } => {
            OnCancelled::Void { authorization_id: authorization_id.clone() }
        }
        PaymentState::Declined { .. } | PaymentState::Voided { .. } => OnCancelled::Nothing,
        PaymentState::Captured { .. } => OnCancelled::Conflict(payment.status()),
    }
}

/// Everything that can stop billing from applying an event.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    #[error("the payment outcome event could not be built: {0}")]
    Event(#[from] InvalidEvent),
    #[error("order {order_id} is confirmed but has no payment yet; its OrderPlaced has not been billed")]
    NotYetAuthorized { order_id: Uuid },
    #[error("order {order_id} is {settled} but its payment is {status}")]
    Conflict { order_id: Uuid, settled: &'static str, status: PaymentStatus },
    #[error("the payment of order {order_id} kept changing while it was being settled")]
    Unsettled { order_id: Uuid },
}

/// The one place that decides whether a failure is worth a retry. No `_` arm: a new variant
/// must be classified here before the crate compiles.
pub fn classify(error: BillingError) -> HandlerError {
    match error {
        // The gateway or the table may answer next time; every gateway call is idempotent and
        // every write conditional, so the retry is safe. A confirmation that overtook its order
        // and a payment changing under us settle on a later delivery.
        BillingError::Gateway(GatewayError::Unavailable(_))
        | BillingError::Payments(PaymentsError::Store(_))
        | BillingError::Payments(PaymentsError::Contended { .. })
        | BillingError::Payments(PaymentsError::Vanished { .. })
        | BillingError::NotYetAuthorized { .. }
        | BillingError::Unsettled { .. } => HandlerError::transient(error),
        // The same request, record or event will be refused on every delivery: the message
        // belongs in the DLQ, where someone looks at it.
        BillingError::Gateway(GatewayError::InvalidRequest(_))
        | BillingError::Payments(PaymentsError::Malformed(_))
        | BillingError::Payments(PaymentsError::Request(_))
        | BillingError::Event(_)
        | BillingError::Conflict { .. } => HandlerError::permanent(error),
    }
}

/// How many decisions one event may take: a lost race re-decides on the record that won, and
/// records only move forward (none -> AUTHORIZED -> CAPTURED/VOIDED), so three always suffice.
const MAX_STEPS: usize = 3;

/// The consumer: authorize once per order, capture once per confirmed order, never capture a
/// cancelled one.
pub struct BillingHandler {
    gateway: Arc<dyn PaymentGateway>,
    payments: Arc<dyn PaymentsStore>,
    announcer: Announcer,
    clock: Arc<dyn Clock>,
}

impl BillingHandler {
    /// A handler on the wall clock. `announcer` publishes each committed outcome straight away.
    pub fn new(gateway: Arc<dyn PaymentGateway>, payments: Arc<dyn PaymentsStore>, announcer: Announcer) -> Self {
        BillingHandler { gateway, payments, announcer, clock: Arc::new(SystemClock) }
    }

    /// The time source of the records' timestamps and of the outcome events' `time`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A billing event answering `cause`: a new id, the cause's correlation id and trace.
    fn outcome<D: EventData>(&self, cause: &OrderPlacedEvent, data: D, at: DateTime<Utc>) -> CloudEvent<D> {
        let mut event = CloudEvent::new(Uuid::now_v7(), BILLING_SOURCE, at, data);
        if let Some(correlation_id) = cause.correlation_id() {
            event = event.with_correlation_id(correlation_id);
        }
        if let Some(traceparent) = cause.traceparent() {
            event = event.with_traceparent(traceparent);
        }
        event
    }

    async fn placed(&self, event: &OrderPlacedEvent) -> Result<(), BillingError> {
        let order_id = event.data().order_id();
        let current = self.payments.find(order_id).await?;
        if on_placed(current.as_ref()) == OnPlaced::Nothing {
            // Including VOIDED by a cancellation seen first. Known gap: had an earlier attempt of
            // this OrderPlaced authorized and crashed before its write, that hold is not voided
            // here; an uncaptured authorization lapses at the gateway (and the simulation holds
            // nothing).
            let status = current.as_ref().map(|payment| payment.status().as_str());
            info!(status, "the order already has a payment; nothing to do");
            return Ok(());
        }
        let amount = event.data().total();
        let authorization = self.gateway.authorize(order_id, amount).await?;
        let now = self.clock.now();
        let (state, entry) = match &authorization {
            Authorization::Authorized { authorization_id } => (
                PaymentState::Authorized { authorization_id: authorization_id.clone() },
                OutboxEntry::for_event(
                    &self.outcome(event, PaymentAuthorizedV1::new(order_id, amount, authorization_id.clone())?, now),
                    now,
                ),
            ),
            Authorization::Declined { reason } => (
                PaymentState::Declined { reason: reason.clone() },
                OutboxEntry::for_event(
                    &self.outcome(event, PaymentDeclinedV1::new(order_id, amount, reason.clone()), now),
                    now,
                ),
            ),
        };
        let payment = Payment {
            order_id,
            state,
            amount,
            event_id: event.id(),
            outcome_event_id: Some(entry.event_id),
            created_at: now,
            updated_at: now,
        };
        match self.payments.record_outcome(&payment, &entry).await? {
            RecordOutcome::Recorded => {
                info!(
                    status = payment.status().as_str(),
                    amount = payment.amount.amount,
                    currency = %payment.amount.currency,
                    authorization_id = payment.state.authorization_id(),
                    outcome_event_id = %entry.event_id,
                    "payment recorded"
                );
                self.announcer.announce(&entry).await;
            }
            RecordOutcome::AlreadyRecorded(existing) => {
                // A cancellation recorded between our read and our write: the hold we just made
                // would never be voided by anyone else. (Voiding an already voided
                // authorization is a no-op, so a cancelled redelivery is fine too.)
                if let (Authorization::Authorized { authorization_id }, PaymentStatus::Voided) =
                    (&authorization, existing.status())
                {
                    self.gateway.void(authorization_id).await?;
                    warn!(authorization_id, "the order was cancelled while it was being authorized; hold voided");
                } else {
                    info!(status = existing.status().as_str(), "payment recorded concurrently by another delivery");
                }
            }
        }
        Ok(())
    }

    async fn confirmed(&self, event: &OrderConfirmedEvent) -> Result<(), BillingError> {
        let order_id = event.data().order_id();
        let mut current = self.payments.find(order_id).await?;
        for _ in 0..MAX_STEPS {
            match on_confirmed(current.as_ref()) {
                OnConfirmed::Capture { authorization_id } => {
                    // Gateway first: a crash before the update leaves AUTHORIZED, and the retry
                    // captures again, which the gateway treats as the same capture.
                    self.gateway.capture(&authorization_id).await?;
                    match self.payments.settle(order_id, Settlement::Capture, self.clock.now()).await? {
                        SettleOutcome::Settled(_) => {
                            info!(authorization_id, "payment captured");
                            return Ok(());
                        }
                        SettleOutcome::NotAuthorized(payment) => current = Some(payment),
                    }
                }
                OnConfirmed::Nothing => {
                    info!("payment already captured; nothing to do");
                    return Ok(());
                }
                OnConfirmed::NotYetAuthorized => return Err(BillingError::NotYetAuthorized { order_id }),
                OnConfirmed::Conflict(status) => {
                    return Err(BillingError::Conflict { order_id, settled: "confirmed", status });
                }
            }
        }
        Err(BillingError::Unsettled { order_id })
    }

    async fn cancelled(&self, event: &OrderCancelledEvent) -> Result<(), BillingError> {
        let order_id = event.data().order_id();
        let mut current = self.payments.find(order_id).await?;
        for _ in 0..MAX_STEPS {
            match on_cancelled(current.as_ref()) {
                OnCancelled::Void { authorization_id } => {
                    self.gateway.void(&authorization_id).await?;
                    match self.payments.settle(order_id, Settlement::Void, self.clock.now()).await? {
                        SettleOutcome::Settled(_) => {
                            info!(authorization_id, "payment voided");
                            return Ok(());
                        }
                        SettleOutcome::NotAuthorized(payment) => current = Some(payment),
                    }
                }
                OnCancelled::RecordVoided => {
                    let now = self.clock.now();
                    let payment = Payment {
                        order_id,
                        state: PaymentState::Voided { authorization_id: None },
                        amount: event.data().total(),
                        event_id: event.id(),
                        outcome_event_id: None,
                        created_at: now,
                        updated_at: now,
                    };
                    match self.payments.record(&payment).await? {
                        RecordOutcome::Recorded => {
                            info!(
                                "cancellation seen before its order: recorded VOIDED, the order will not be authorized"
                            );
                            return Ok(());
                        }
                        // The OrderPlaced got there first after all: settle what it recorded.
                        RecordOutcome::AlreadyRecorded(payment) => current = Some(payment),
                    }
                }
                OnCancelled::Nothing => {
                    let status = current.as_ref().map(|payment| payment.status().as_str());
                    info!(status, "nothing held for the cancelled order; nothing to do");
                    return Ok(());
                }
                OnCancelled::Conflict(status) => {
                    return Err(BillingError::Conflict { order_id, settled: "cancelled", status });
                }
            }
        }
        Err(BillingError::Unsettled { order_id })
    }
}

#[async_trait]
impl EventHandler for BillingHandler {
    async fn handle(&self, event: &OrderEvent) -> Result<(), HandlerError> {
        let applied = match event {
            OrderEvent::OrderPlacedV1(placed) => self.placed(placed).await,
            OrderEvent::OrderConfirmedV1(confirmed) => self.confirmed(confirmed).await,
            OrderEvent::OrderCancelledV1(cancelled) => self.cancelled(cancelled).await,
            other => {
                info!(event_type = other.event_type(), "event type ignored by billing");
                Ok(())
            }
        };
        applied.map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use orderflow_consumer::testing::order_placed;
    use orderflow_events::{CancellationReason, PAYMENT_AUTHORIZED_EVENT_TYPE, PAYMENT_DECLINED_EVENT_TYPE};
    use orderflow_kit::clock::ManualClock;
    use orderflow_kit::dynamodb::{MalformedItem, RequestFailed};

    use super::*;
    use crate::adapters::InMemoryPaymentsStore;
    use crate::testing::{Billing, CountingGateway, cancelled_for, confirmed_for};

    const LIMIT: u64 = 100_000;

    fn payment(state: PaymentState) -> Payment {
        let at = ManualClock::at_contract_time().now();
        Payment {
            order_id: Uuid::now_v7(),
            state,
            amount: Money::new(3998, "EUR".parse().unwrap()),
            event_id: Uuid::now_v7(),
            outcome_event_id: Some(Uuid::now_v7()),
            created_at: at,
            updated_at: at,
        }
    }

    /// The simulated gateway's authorization id for `order_id`.
    fn authorization_id(order_id: Uuid) -> String {
        crate::SimulatedGateway::authorization_id(order_id)
    }

    fn authorized() -> PaymentState {
        PaymentState::Authorized { authorization_id: "sim_auth_a".into() }
    }

    fn every_state() -> [PaymentState; 4] {
        [
            authorized(),
            PaymentState::Captured { authorization_id: "sim_auth_a".into() },
            PaymentState::Declined { reason: DeclineReason::limit_exceeded() },
            PaymentState::Voided { authorization_id: None },
        ]
    }

    #[test]
    fn statuses_round_trip_through_their_text() {
        for status in PaymentStatus::ALL {
            assert_eq!(status.to_string().parse(), Ok(status));
        }
        assert_eq!("captured".parse::<PaymentStatus>(), Err(UnknownPaymentStatus("captured".into())));
    }

    #[test]
    fn an_order_is_authorized_only_when_it_has_no_record() {
        assert_eq!(on_placed(None), OnPlaced::Authorize);
        for state in every_state() {
            assert_eq!(on_placed(Some(&payment(state))), OnPlaced::Nothing);
        }
    }

    #[test]
    fn a_confirmation_captures_only_an_authorization() {
        let expected = [
            OnConfirmed::Capture { authorization_id: "sim_auth_a".into() },
            OnConfirmed::Nothing,
            OnConfirmed::Conflict(PaymentStatus::Declined),
            OnConfirmed::Conflict(PaymentStatus::Voided),
        ];
        for (state, expected) in every_state().into_iter().zip(expected) {
            assert_eq!(on_confirmed(Some(&payment(state))), expected);
        }
        assert_eq!(on_confirmed(None), OnConfirmed::NotYetAuthorized);
    }

    #[test]
    fn a_cancellation_voids_an_authorization_and_marks_an_order_not_seen_yet() {
        let expected = [
            OnCancelled::Void { authorization_id: "sim_auth_a".into() },
            OnCancelled::Conflict(PaymentStatus::Captured),
            OnCancelled::Nothing,
            OnCancelled::Nothing,
        ];
        for (state, expected) in every_state().into_iter().zip(expected) {
            assert_eq!(on_cancelled(Some(&payment(state))), expected);
        }
        assert_eq!(on_cancelled(None), OnCancelled::RecordVoided);
    }

    #[test]
    fn a_settlement_leaves_only_authorized() {
        let at = ManualClock::at_contract_time().now() + chrono::TimeDelta::seconds(5);
        let held = payment(authorized());
        let captured = held.settled(Settlement::Capture, at).unwrap();
        assert_eq!(captured.state, PaymentState::Captured { authorization_id: "sim_auth_a".into() });
        assert_eq!((captured.updated_at, captured.created_at), (at, held.created_at));
        let voided = held.settled(Settlement::Void, at).unwrap();
        assert_eq!(voided.state, PaymentState::Voided { authorization_id: Some("sim_auth_a".into()) });
        for state in every_state().into_iter().skip(1) {
            assert_eq!(payment(state).settled(Settlement::Capture, at), None);
        }
    }

    fn request_failed() -> RequestFailed {
        RequestFailed::new("GetItem", std::io::Error::other("connection reset"))
    }

    #[test]
    fn every_error_has_its_kind() {
        let build_error = aws_sdk_dynamodb::types::Put::builder().build().unwrap_err();
        let order_id = Uuid::nil();
        let cases: Vec<(BillingError, bool)> = vec![
            (GatewayError::Unavailable("timeout".into()).into(), false),
            (GatewayError::InvalidRequest("amount must be positive".into()).into(), true),
            (PaymentsError::Store(request_failed()).into(), false),
            (PaymentsError::Contended { order_id }.into(), false),
            (PaymentsError::Vanished { order_id }.into(), false),
            (PaymentsError::Malformed(MalformedItem::new("status", "is missing")).into(), true),
            (PaymentsError::Request(build_error).into(), true),
            (InvalidEvent::InvalidText { field: "authorizationId", problem: "must not be empty" }.into(), true),
            (BillingError::NotYetAuthorized { order_id }, false),
            (BillingError::Unsettled { order_id }, false),
            (BillingError::Conflict { order_id, settled: "cancelled", status: PaymentStatus::Captured }, true),
        ];
        for (error, permanent) in cases {
            let text = error.to_string();
            let classified = classify(error);
            assert_eq!(classified.is_permanent(), permanent, "{text}");
            assert!(classified.to_string().contains(&text), "{classified} keeps {text}");
        }
    }

    // Every order of arrival, with and without duplicates, straight through the handler (a
    // duplicate reaching it means the idempotency claim expired or two invocations raced).

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Arrival {
        Placed,
        Confirmed,
        Cancelled,
    }
    use Arrival::{Cancelled, Confirmed, Placed};

    /// Every distinct ordering of `events`.
    fn arrangements(events: &[Arrival]) -> Vec<Vec<Arrival>> {
        if events.is_empty() {
            return vec![vec![]];
        }
        let mut distinct = events.to_vec();
        distinct.sort();
        distinct.dedup();
        let mut all = Vec::new();
        for first in distinct {
            let position = events.iter().position(|event| *event == first).unwrap();
            let mut rest = events.to_vec();
            rest.remove(position);
            for mut tail in arrangements(&rest) {
                tail.insert(0, first);
                all.push(tail);
            }
        }
        all
    }

    #[test]
    fn arrangements_are_distinct_and_complete() {
        assert_eq!(arrangements(&[Placed, Confirmed]).len(), 2);
        assert_eq!(arrangements(&[Placed, Placed, Cancelled, Cancelled]).len(), 6);
        assert_eq!(arrangements(&[Placed, Confirmed, Cancelled]).len(), 6);
    }

    struct Run {
        billing: Billing,
        placed: OrderPlacedEvent,
    }

    impl Run {
        fn payment(&self) -> Payment {
            self.billing.payments.get(self.placed.data().order_id()).expect("a payment record")
        }

        fn announced(&self) -> Vec<OutboxEntry> {
            self.billing.payments.outbox().entries().into_iter().map(|stored| stored.entry).collect()
        }
    }

    /// Delivers `arrivals` for one order of `unit_price`; a transiently failed event comes back
    /// at the end of the queue, as SQS redelivers it after the visibility timeout.
    async fn deliver(arrivals: &[Arrival], unit_price: u64) -> Run {
        let billing = Billing::new(CountingGateway::new(LIMIT), Arc::new(ManualClock::at_contract_time()));
        let handler = billing.handler();
        let placed = order_placed(&[("BOOK-0001", 1, unit_price)], "EUR");
        let confirmed = OrderEvent::OrderConfirmedV1(confirmed_for(&placed));
        let cancelled = OrderEvent::OrderCancelledV1(cancelled_for(&placed, CancellationReason::OutOfStock));
        let placed_event = OrderEvent::OrderPlacedV1(placed.clone());
        let mut queue: VecDeque<Arrival> = arrivals.iter().copied().collect();
        let mut deliveries = 0;
        while let Some(arrival) = queue.pop_front() {
            deliveries += 1;
            assert!(deliveries < 50, "{arrivals:?} never settles");
            let event = match arrival {
                Placed => &placed_event,
                Confirmed => &confirmed,
                Cancelled => &cancelled,
            };
            match handler.handle(event).await {
                Ok(()) => {}
                Err(error) if !error.is_permanent() => queue.push_back(arrival),
                Err(error) => panic!("{arrivals:?}: {arrival:?} failed permanently: {error}"),
            }
        }
        Run { billing, placed }
    }

    #[tokio::test]
    async fn a_confirmed_order_is_authorized_announced_and_captured_exactly_once() {
        for events in [&[Placed, Confirmed][..], &[Placed, Placed, Confirmed, Confirmed]] {
            for arrivals in arrangements(events) {
                let run = deliver(&arrivals, 1999).await;
                let payment = run.payment();
                let authorization_id = authorization_id(run.placed.data().order_id());
                assert_eq!(payment.state, PaymentState::Captured { authorization_id }, "{arrivals:?}");
                assert_eq!(payment.amount, run.placed.data().total());
                let gateway = &run.billing.gateway;
                assert_eq!((gateway.authorizations(), gateway.captures(), gateway.voids()), (1, 1, 0), "{arrivals:?}");
                let announced = run.announced();
                assert_eq!(announced.len(), 1, "{arrivals:?}");
                assert_eq!(announced[0].event_type, PAYMENT_AUTHORIZED_EVENT_TYPE);
                assert_eq!(payment.outcome_event_id, Some(announced[0].event_id));
                let published = run.billing.publisher.published();
                assert_eq!(published.len(), 1, "{arrivals:?}");
                assert_eq!(published[0].event_id, announced[0].event_id);
            }
        }
    }

    #[tokio::test]
    async fn a_cancelled_order_is_never_captured_and_its_hold_is_voided() {
        for events in [&[Placed, Cancelled][..], &[Placed, Placed, Cancelled, Cancelled]] {
            for arrivals in arrangements(events) {
                let run = deliver(&arrivals, 1999).await;
                let payment = run.payment();
                let gateway = &run.billing.gateway;
                assert_eq!(gateway.captures(), 0, "{arrivals:?}");
                assert_eq!(payment.status(), PaymentStatus::Voided, "{arrivals:?}");
                assert_eq!(payment.amount, run.placed.data().total(), "{arrivals:?}");
                if arrivals[0] == Cancelled {
                    // Seen first: nothing authorized, nothing announced, ever.
                    assert_eq!((gateway.authorizations(), gateway.voids()), (0, 0), "{arrivals:?}");
                    assert_eq!(payment.state, PaymentState::Voided { authorization_id: None });
                    assert!(run.announced().is_empty(), "{arrivals:?}");
                    assert!(run.billing.publisher.published().is_empty());
                } else {
                    assert_eq!((gateway.authorizations(), gateway.voids()), (1, 1), "{arrivals:?}");
                    let authorization_id = Some(authorization_id(run.placed.data().order_id()));
                    assert_eq!(payment.state, PaymentState::Voided { authorization_id });
                    let announced = run.announced();
                    assert_eq!(announced.len(), 1, "{arrivals:?}");
                    assert_eq!(announced[0].event_type, PAYMENT_AUTHORIZED_EVENT_TYPE);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_declined_order_is_announced_once_and_never_captured_or_voided() {
        for events in [&[Placed, Cancelled][..], &[Placed, Placed, Cancelled, Cancelled]] {
            for arrivals in arrangements(events) {
                let run = deliver(&arrivals, LIMIT + 1).await;
                let payment = run.payment();
                let gateway = &run.billing.gateway;
                assert_eq!((gateway.captures(), gateway.voids()), (0, 0), "{arrivals:?}");
                assert_eq!(payment.amount.amount, LIMIT + 1);
                let announced = run.announced();
                if arrivals[0] == Cancelled {
                    assert_eq!(payment.state, PaymentState::Voided { authorization_id: None }, "{arrivals:?}");
                    assert_eq!(gateway.authorizations(), 0);
                    assert!(announced.is_empty(), "{arrivals:?}");
                } else {
                    let reason = DeclineReason::limit_exceeded();
                    assert_eq!(payment.state, PaymentState::Declined { reason }, "{arrivals:?}");
                    assert_eq!(gateway.authorizations(), 1, "{arrivals:?}");
                    assert_eq!(announced.len(), 1, "{arrivals:?}");
                    assert_eq!(announced[0].event_type, PAYMENT_DECLINED_EVENT_TYPE);
                    assert!(announced[0].body.contains(r#""reason":"LIMIT_EXCEEDED""#), "{}", announced[0].body);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_confirmation_and_a_cancellation_of_one_order_are_a_conflict_not_a_charge_change() {
        // The order service settles once; if it ever did both, the first settlement stands and
        // the second goes to the DLQ (permanent) instead of refunding or charging.
        for (first, second, status) in
            [(Confirmed, Cancelled, PaymentStatus::Captured), (Cancelled, Confirmed, PaymentStatus::Voided)]
        {
            let billing = Billing::new(CountingGateway::new(LIMIT), Arc::new(ManualClock::at_contract_time()));
            let handler = billing.handler();
            let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
            let event = |arrival| match arrival {
                Confirmed => OrderEvent::OrderConfirmedV1(confirmed_for(&placed)),
                _ => OrderEvent::OrderCancelledV1(cancelled_for(&placed, CancellationReason::Timeout)),
            };
            handler.handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
            handler.handle(&event(first)).await.unwrap();
            let error = handler.handle(&event(second)).await.unwrap_err();
            assert!(error.is_permanent(), "{error}");
            assert_eq!(billing.payments.get(placed.data().order_id()).unwrap().status(), status);
        }
    }

    /// The in-memory store behind a read that is one step behind: the first `find` returns
    /// `stale`, as if another delivery wrote between our read and our write.
    struct LaggingStore {
        inner: Arc<InMemoryPaymentsStore>,
        stale: Mutex<Option<Option<Payment>>>,
    }

    impl LaggingStore {
        fn new(inner: Arc<InMemoryPaymentsStore>, stale: Option<Payment>) -> Self {
            LaggingStore { inner, stale: Mutex::new(Some(stale)) }
        }
    }

    #[async_trait]
    impl PaymentsStore for LaggingStore {
        async fn find(&self, order_id: Uuid) -> Result<Option<Payment>, PaymentsError> {
            let stale = self.stale.lock().unwrap().take();
            match stale {
                Some(stale) => Ok(stale),
                None => self.inner.find(order_id).await,
            }
        }

        async fn record_outcome(
            &self,
            payment: &Payment,
            announcement: &OutboxEntry,
        ) -> Result<RecordOutcome, PaymentsError> {
            self.inner.record_outcome(payment, announcement).await
        }

        async fn record(&self, payment: &Payment) -> Result<RecordOutcome, PaymentsError> {
            self.inner.record(payment).await
        }

        async fn settle(
            &self,
            order_id: Uuid,
            settlement: Settlement,
            at: DateTime<Utc>,
        ) -> Result<SettleOutcome, PaymentsError> {
            self.inner.settle(order_id, settlement, at).await
        }
    }

    fn lagging_handler(billing: &Billing, stale: Option<Payment>) -> BillingHandler {
        let announcer = Announcer::new(billing.payments.outbox(), billing.publisher.clone(), billing.clock.clone());
        let store = LaggingStore::new(billing.payments.clone(), stale);
        BillingHandler::new(billing.gateway.clone(), Arc::new(store), announcer).with_clock(billing.clock.clone())
    }

    #[tokio::test]
    async fn a_cancellation_recorded_during_the_authorization_voids_the_new_hold() {
        let billing = Billing::new(CountingGateway::new(LIMIT), Arc::new(ManualClock::at_contract_time()));
        let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
        let cancellation = OrderEvent::OrderCancelledV1(cancelled_for(&placed, CancellationReason::Timeout));
        billing.handler().handle(&cancellation).await.unwrap();
        // The OrderPlaced read before that write: it authorizes, then loses the write.
        lagging_handler(&billing, None).handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
        let gateway = &billing.gateway;
        assert_eq!((gateway.authorizations(), gateway.voids(), gateway.captures()), (1, 1, 0));
        let payment = billing.payments.get(placed.data().order_id()).unwrap();
        assert_eq!(payment.state, PaymentState::Voided { authorization_id: None });
        assert!(billing.payments.outbox().entries().is_empty(), "nothing announced");
    }

    #[tokio::test]
    async fn a_cancellation_losing_its_write_to_the_authorization_voids_it() {
        let billing = Billing::new(CountingGateway::new(LIMIT), Arc::new(ManualClock::at_contract_time()));
        let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
        billing.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
        let cancellation = OrderEvent::OrderCancelledV1(cancelled_for(&placed, CancellationReason::OutOfStock));
        lagging_handler(&billing, None).handle(&cancellation).await.unwrap();
        assert_eq!((billing.gateway.voids(), billing.gateway.captures()), (1, 0));
        assert_eq!(billing.payments.get(placed.data().order_id()).unwrap().status(), PaymentStatus::Voided);
    }

    #[tokio::test]
    async fn a_capture_racing_another_capture_settles_once() {
        let billing = Billing::new(CountingGateway::new(LIMIT), Arc::new(ManualClock::at_contract_time()));
        let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
        let handler = billing.handler();
        handler.handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
        let order_id = placed.data().order_id();
        let held = billing.payments.get(order_id).unwrap();
        let confirmation = OrderEvent::OrderConfirmedV1(confirmed_for(&placed));
        handler.handle(&confirmation).await.unwrap();
        let captured = billing.payments.get(order_id).unwrap();
        // A second delivery that read AUTHORIZED before the first one's update.
        lagging_handler(&billing, Some(held)).handle(&confirmation).await.unwrap();
        assert_eq!(billing.payments.get(order_id).unwrap(), captured, "the first capture stands");
        assert_eq!(billing.gateway.captures(), 2, "the gateway saw the same capture twice (idempotent)");
    }

    #[tokio::test]
    async fn outcome_events_carry_the_orders_correlation_and_trace() {
        let billing = Billing::new(CountingGateway::new(LIMIT), Arc::new(ManualClock::at_contract_time()));
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR").with_traceparent(traceparent);
        billing.handler().handle(&OrderEvent::OrderPlacedV1(placed.clone())).await.unwrap();
        let entry = &billing.payments.outbox().entries()[0].entry;
        let body: serde_json::Value = serde_json::from_str(&entry.body).unwrap();
        assert_eq!(body["type"], "billing.PaymentAuthorized.v1");
        assert_eq!(body["source"], BILLING_SOURCE);
        assert_eq!(body["subject"], placed.data().order_id().to_string());
        assert_eq!(body["correlationid"], "req-test");
        assert_eq!(body["traceparent"], traceparent);
        assert_eq!(body["time"], "2026-11-23T18:30:00Z");
        assert_eq!(body["data"]["authorizationId"], authorization_id(placed.data().order_id()));
        assert_eq!(entry.correlation_id.as_deref(), Some("req-test"));
        assert_ne!(entry.event_id, placed.id(), "a new event, not the order's");
    }

    #[tokio::test]
    async fn an_unreadable_store_is_retried_before_any_gateway_call() {
        let billing = Billing::new(CountingGateway::new(LIMIT), Arc::new(ManualClock::at_contract_time()));
        billing.payments.set_failing(true);
        let placed = order_placed(&[("BOOK-0001", 1, 1999)], "EUR");
        for event in [
            OrderEvent::OrderPlacedV1(placed.clone()),
            OrderEvent::OrderConfirmedV1(confirmed_for(&placed)),
            OrderEvent::OrderCancelledV1(cancelled_for(&placed, CancellationReason::Timeout)),
        ] {
            let error = billing.handler().handle(&event).await.unwrap_err();
            assert!(!error.is_permanent(), "{error}");
        }
        let gateway = &billing.gateway;
        assert_eq!((gateway.authorizations(), gateway.captures(), gateway.voids()), (0, 0, 0));
        assert!(billing.publisher.published().is_empty());
    }
}
